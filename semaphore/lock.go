package semaphore

import (
	"context"
	"fmt"
	"github.com/shmkit/shmkit/internal/robust"
	"sync/atomic"

	"github.com/shmkit/shmkit/shm"
)

// Payload of a Lock or an RLock, 64 bytes:
//
//	off size field
//	0   4    state    owner token | waiter bit, see internal/robust
//	4   4    reserved, zero
//	8   4    count    RLock: recursion depth of the owner; Lock: zero
//	12  4    reserved, zero
//	16  8    holder   RLock: the owner's Holder within its process; Lock: zero
//	24  40   reserved, zero
//
// count and holder are written only by the owner, and holder is cleared
// before the state word frees the lock, so a goroutine that reads the state
// word naming its own process and then the holder word never mistakes
// another holder's lock for its own.
const (
	lockSize     = 64
	offState     = 0
	offCount     = 8
	offHolder    = 16
	ownerDeadFmt = "%w: %v (lock held now)"
)

// Lock is a mutual-exclusion lock in shared memory, for goroutines in any
// number of processes: Python's multiprocessing.Lock.
//
// Make one with NewLock, or open one with OpenLock or OpenLockHandle; a
// *Lock passed to process.Start arrives in the child as the same lock. A
// Lock must not be copied. Its methods may be called from any goroutine of
// any process that has it open. As in Python, any goroutine or process may
// unlock a lock that another locked.
//
// An Unlock synchronizes before the Lock it lets through, in this process
// or another, in the sense of [the Go memory model]; the race detector is
// told about the edges within this process.
//
// If the process that holds the lock dies, the next Lock or TryLock takes
// it over and returns an error wrapping ErrOwnerDead, with the lock held.
// A process that dies while waiting leaves nothing behind.
//
// After Close, methods return ErrClosed; Close while another goroutine is
// inside a method is a misuse, like closing a file being read.
//
// [the Go memory model]: https://go.dev/ref/mem
type Lock struct {
	_ noCopy
	base
	mu     robust.Mutex
	closed atomic.Bool
}

// NewLock places a new unlocked Lock in seg under name ("" for none), or,
// with a nil seg, in a small anonymous segment of its own.
func NewLock(seg *shm.Segment, name string, opts *Options) (*Lock, error) {
	b, err := create(seg, name, shm.KindLock, lockSize, nil, opts)
	if err != nil {
		return nil, err
	}
	return newLock(b)
}

// OpenLock opens the Lock named name in seg.
func OpenLock(seg *shm.Segment, name string, opts *Options) (*Lock, error) {
	b, err := open(seg, name, shm.KindLock, opts)
	if err != nil {
		return nil, err
	}
	return newLock(b)
}

// OpenLockHandle opens the Lock that h names (see shm.OpenHandle).
func OpenLockHandle(h shm.Handle, opts *Options) (*Lock, error) {
	b, err := openHandle(h, shm.KindLock, opts)
	if err != nil {
		return nil, err
	}
	return newLock(b)
}

func newLock(b base) (*Lock, error) {
	l := &Lock{base: b}
	if err := l.init(); err != nil {
		b.close()
		return nil, err
	}
	return l, nil
}

func (l *Lock) init() error {
	st, err := l.word(offState)
	if err != nil {
		return err
	}
	l.mu = robust.Mutex{State: st, Obj: l.obj, Spin: l.spin, Poll: l.poll, Race: l.race}
	return nil
}

// Lock locks l, waiting while ctx allows. It returns nil when it holds the
// lock; an error wrapping ErrOwnerDead when it holds the lock taken over
// from a dead owner; and otherwise (ctx.Err(), ErrClosed, ErrCorrupt) an
// error without the lock. The lock is not reentrant: a goroutine that
// locks it twice waits for itself.
func (l *Lock) Lock(ctx context.Context) error {
	if l.closed.Load() {
		return ErrClosed
	}
	self, err := l.self()
	if err != nil {
		return err
	}
	dead, err := l.mu.Lock(ctx, self)
	if dead {
		return fmt.Errorf(ownerDeadFmt, ErrOwnerDead, "lock")
	}
	return err
}

// TryLock locks l if it is free, or takes it over if its owner is dead, and
// reports whether it did. After a takeover the error wraps ErrOwnerDead
// (and ok is true). It never waits, but when the lock is held it asks
// whether the owner is alive, which costs a system call.
func (l *Lock) TryLock() (ok bool, err error) {
	if l.closed.Load() {
		return false, ErrClosed
	}
	self, err := l.self()
	if err != nil {
		return false, err
	}
	ok, dead, err := l.mu.TryLock(self)
	if dead {
		return true, fmt.Errorf(ownerDeadFmt, ErrOwnerDead, "lock")
	}
	return ok, err
}

// Unlock unlocks l. Unlocking a lock that is not locked returns
// ErrNotLocked (Python raises ValueError).
func (l *Lock) Unlock() error {
	if l.closed.Load() {
		return ErrClosed
	}
	if !l.mu.Unlock() {
		return ErrNotLocked
	}
	return nil
}

// Locked reports whether l is locked now, by anyone.
func (l *Lock) Locked() bool { return !l.closed.Load() && l.mu.Owner() != 0 }

// Close lets go of this process's reference to the lock; it does not
// unlock it.
func (l *Lock) Close() error {
	if !l.closed.CompareAndSwap(false, true) {
		return ErrClosed
	}
	return l.close()
}

// GobDecode opens the lock whose handle GobEncode encoded.
func (l *Lock) GobDecode(b []byte) error {
	bb, err := decodeHandle(b, shm.KindLock)
	if err != nil {
		return err
	}
	l.base = bb
	if err := l.init(); err != nil {
		bb.close()
		return err
	}
	return nil
}
