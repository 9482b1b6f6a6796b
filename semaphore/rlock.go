package semaphore

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"github.com/shmkit/shmkit/internal/robust"
	"math"
	"sync"
	"sync/atomic"

	"github.com/shmkit/shmkit/shm"
)

// Holder names who holds an RLock within a process. Python's RLock is owned
// by a thread; Go has no thread identity to borrow, so the owner is explicit:
// a goroutine (or a chain of calls) gets a Holder from NewHolder and passes
// it to every Lock and Unlock. The zero Holder names nobody.
type Holder uint64

// holders hands out Holders from a random start, so that a Holder of this
// process never equals one of another: after a takeover from a dead owner,
// the holder word still names the dead owner's Holder until the new owner
// stores its own, and a goroutine here must not mistake it for its own.
// The start is drawn at the first NewHolder rather than at init, which
// every process importing the package would pay for (0.4 ms here: a
// worker process's start).
var (
	holders     atomic.Uint64
	holdersSeed sync.Once
)

// NewHolder returns a Holder unique in this process, and, with
// overwhelming probability, in every process.
func NewHolder() Holder {
	holdersSeed.Do(func() {
		var b [8]byte
		rand.Read(b[:])
		holders.Store(binary.LittleEndian.Uint64(b[:]))
	})
	for {
		if h := Holder(holders.Add(1)); h != 0 {
			return h
		}
	}
}

// RLock is a reentrant lock in shared memory: Python's
// multiprocessing.RLock. Its owner is a holder in a process: the holder that
// has it may lock it again, and must unlock it as many times; any other
// holder, in this process or another, waits.
//
// Make one with NewRLock, or open one with OpenRLock or OpenRLockHandle; it
// travels to child processes as Lock does. It must not be copied. Its
// methods may be called from any goroutine of any process that has it open.
// The last Unlock synchronizes before the Lock it lets through.
//
// If the process of the owner dies, the next Lock or TryLock takes it over
// with a recursion depth of one and returns an error wrapping
// ErrOwnerDead, with the lock held.
type RLock struct {
	_ noCopy
	base
	mu     robust.Mutex
	count  *atomic.Uint32
	holder *atomic.Uint64
	closed atomic.Bool
}

// NewRLock places a new unlocked RLock in seg under name ("" for none), or,
// with a nil seg, in a small anonymous segment of its own.
func NewRLock(seg *shm.Segment, name string, opts *Options) (*RLock, error) {
	b, err := create(seg, name, shm.KindRLock, lockSize, nil, opts)
	if err != nil {
		return nil, err
	}
	return newRLock(b)
}

// OpenRLock opens the RLock named name in seg.
func OpenRLock(seg *shm.Segment, name string, opts *Options) (*RLock, error) {
	b, err := open(seg, name, shm.KindRLock, opts)
	if err != nil {
		return nil, err
	}
	return newRLock(b)
}

// OpenRLockHandle opens the RLock that h names.
func OpenRLockHandle(h shm.Handle, opts *Options) (*RLock, error) {
	b, err := openHandle(h, shm.KindRLock, opts)
	if err != nil {
		return nil, err
	}
	return newRLock(b)
}

func newRLock(b base) (*RLock, error) {
	l := &RLock{base: b}
	if err := l.init(); err != nil {
		b.close()
		return nil, err
	}
	return l, nil
}

func (l *RLock) init() error {
	st, err := l.word(offState)
	if err != nil {
		return err
	}
	if l.count, err = l.word(offCount); err != nil {
		return err
	}
	if l.holder, err = l.obj.Payload().Uint64(offHolder); err != nil {
		return fmt.Errorf("%w: rlock payload: %w", ErrCorrupt, err)
	}
	l.mu = robust.Mutex{State: st, Obj: l.obj, Spin: l.spin, Poll: l.poll, Race: l.race}
	return nil
}

// owns reports whether h, in this process, holds l.
func (l *RLock) owns(self shm.Token, h Holder) bool {
	return l.mu.Owner() == self && l.holder.Load() == uint64(h)
}

// Lock locks l for h, waiting while ctx allows; if h holds it already, it
// counts one more level at once. The results are Lock.Lock's.
func (l *RLock) Lock(ctx context.Context, h Holder) error {
	self, err := l.check(h)
	if err != nil {
		return err
	}
	if l.owns(self, h) {
		return l.deeper()
	}
	dead, err := l.mu.Lock(ctx, self)
	if err != nil && !dead {
		return err
	}
	l.count.Store(1)
	l.holder.Store(uint64(h))
	if dead {
		return fmt.Errorf(ownerDeadFmt, ErrOwnerDead, "rlock")
	}
	return nil
}

// TryLock is Lock without waiting; see Lock.TryLock.
func (l *RLock) TryLock(h Holder) (ok bool, err error) {
	self, err := l.check(h)
	if err != nil {
		return false, err
	}
	if l.owns(self, h) {
		return true, l.deeper()
	}
	ok, dead, err := l.mu.TryLock(self)
	if !ok {
		return false, err
	}
	l.count.Store(1)
	l.holder.Store(uint64(h))
	if dead {
		return true, fmt.Errorf(ownerDeadFmt, ErrOwnerDead, "rlock")
	}
	return true, nil
}

// deeper counts one more level for the owner, refusing to wrap around.
func (l *RLock) deeper() error {
	if c := l.count.Load(); c == math.MaxUint32 {
		return fmt.Errorf("%w: rlock held %d times", ErrValue, c)
	}
	l.count.Add(1)
	return nil
}

// Unlock undoes one level of h's hold on l, and frees l at the last. It
// returns ErrNotOwner if h does not hold l (Python raises AssertionError).
func (l *RLock) Unlock(h Holder) error {
	self, err := l.check(h)
	if err != nil {
		return err
	}
	if !l.owns(self, h) {
		return ErrNotOwner
	}
	c := l.count.Load()
	if c == 0 {
		return fmt.Errorf("%w: rlock held at depth 0", ErrCorrupt)
	}
	if c > 1 {
		l.count.Store(c - 1)
		return nil
	}
	// Clear the holder before the state word lets anyone in: see the
	// payload comment in lock.go.
	l.count.Store(0)
	l.holder.Store(0)
	l.mu.Unlock()
	return nil
}

// Depth is the number of times h holds l now: 0 if it does not hold it.
func (l *RLock) Depth(h Holder) int {
	self, err := l.check(h)
	if err != nil || !l.owns(self, h) {
		return 0
	}
	return int(l.count.Load())
}

func (l *RLock) check(h Holder) (shm.Token, error) {
	if l.closed.Load() {
		return 0, ErrClosed
	}
	if h == 0 {
		return 0, fmt.Errorf("%w: zero Holder", ErrNotOwner)
	}
	return l.self()
}

// Locked reports whether l is held now, by anyone.
func (l *RLock) Locked() bool { return !l.closed.Load() && l.mu.Owner() != 0 }

// Close lets go of this process's reference to the lock.
func (l *RLock) Close() error {
	if !l.closed.CompareAndSwap(false, true) {
		return ErrClosed
	}
	return l.close()
}

// GobDecode opens the lock whose handle GobEncode encoded.
func (l *RLock) GobDecode(b []byte) error {
	bb, err := decodeHandle(b, shm.KindRLock)
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
