package condvar

import (
	"errors"
	"os"

	"github.com/shmkit/shmkit/semaphore"
	"github.com/shmkit/shmkit/shm"
)

var (
	// ErrNotHeld: Wait, WaitFor or Notify by a caller that does not hold
	// the condition's lock (Python's "must acquire() condition before
	// using wait()" and "cannot notify on un-acquired lock").
	ErrNotHeld = errors.New("condvar: lock not held")
	// ErrBrokenBarrier: the barrier is broken, by a timeout, an Abort, a
	// failed action, a Reset while this party waited, or the death of a
	// waiting party (Python's threading.BrokenBarrierError).
	ErrBrokenBarrier = errors.New("condvar: broken barrier")
	// ErrParties: a barrier of fewer than 1 or more than MaxParties
	// parties.
	ErrParties = errors.New("condvar: parties out of range")
	// ErrOwnerDead: the holder of a condition's lock died holding it (see
	// package semaphore). The call that returns it holds the lock.
	ErrOwnerDead = semaphore.ErrOwnerDead
	// ErrCorrupt: the object's memory holds a state that cannot be.
	ErrCorrupt = shm.ErrCorrupt
	// ErrClosed: the object was closed in this process.
	ErrClosed = os.ErrClosed
)
