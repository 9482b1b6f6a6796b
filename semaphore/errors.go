package semaphore

import (
	"errors"
	"os"

	"github.com/shmkit/shmkit/shm"
)

var (
	// ErrOwnerDead: the lock's owner died holding it. The call that
	// returns it holds the lock: repair what it protects, then go on.
	ErrOwnerDead = errors.New("semaphore: owner died holding the lock")
	// ErrNotLocked: Unlock of a Lock that is not locked (Python's
	// "semaphore or lock released too many times").
	ErrNotLocked = errors.New("semaphore: unlock of unlocked lock")
	// ErrNotOwner: Unlock of an RLock by a holder that does not own it,
	// or of an RLock nobody holds (Python's "attempt to release recursive
	// lock not owned by thread").
	ErrNotOwner = errors.New("semaphore: rlock not owned by this holder")
	// ErrReleased: Release of a Bounded semaphore above its initial value
	// (Python's "semaphore or lock released too many times").
	ErrReleased = errors.New("semaphore: released too many times")
	// ErrValue: an initial value below zero or above MaxValue, or a
	// Release that would pass MaxValue.
	ErrValue = errors.New("semaphore: value out of range")
	// ErrCorrupt: the object's memory holds a state that cannot be.
	ErrCorrupt = shm.ErrCorrupt
	// ErrClosed: the object was closed in this process.
	ErrClosed = os.ErrClosed
)
