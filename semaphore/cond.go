package semaphore

// Hooks for condition variables (package condvar). A condition must refuse
// a caller that does not hold its lock, and must let an RLock go completely
// while it waits and take it back at the same depth afterwards, as
// Python's Condition does with _release_save and _acquire_restore.

import (
	"context"
	"errors"
	"fmt"
	"math"
)

// HeldHere reports whether this process holds l: whether l's owner is this
// process's attachment to l's segment. A Lock has no owner within a
// process, so any goroutine of the owning process counts. It is false
// after Close and for a segment opened to observe.
func (l *Lock) HeldHere() bool {
	if l.closed.Load() {
		return false
	}
	self := l.obj.Self()
	return self != 0 && l.mu.Owner() == self
}

// UnlockAll lets go of h's hold on l whatever its depth, frees l, and
// returns the depth it had, for Relock to restore. It returns ErrNotOwner
// if h does not hold l.
func (l *RLock) UnlockAll(h Holder) (depth int, err error) {
	self, err := l.check(h)
	if err != nil {
		return 0, err
	}
	if !l.owns(self, h) {
		return 0, ErrNotOwner
	}
	c := l.count.Load()
	if c == 0 {
		return 0, fmt.Errorf("%w: rlock held at depth 0", ErrCorrupt)
	}
	// Clear the holder before the state word lets anyone in: see the
	// payload comment in lock.go.
	l.count.Store(0)
	l.holder.Store(0)
	l.mu.Unlock()
	return int(c), nil
}

// Relock takes l for h, waiting while ctx allows, and sets h's depth to
// depth (1 to MaxValue): what Lock does followed by depth-1 more Locks, in
// one step. Its results are Lock's: after a takeover from a dead owner it
// holds l at depth and returns an error wrapping ErrOwnerDead.
func (l *RLock) Relock(ctx context.Context, h Holder, depth int) error {
	if depth < 1 || depth > math.MaxInt32 {
		return fmt.Errorf("%w: depth %d", ErrValue, depth)
	}
	err := l.Lock(ctx, h)
	if err != nil && !errors.Is(err, ErrOwnerDead) {
		return err
	}
	// h holds l now, at one level more than before: only h's goroutine
	// touches the count.
	l.count.Add(uint32(depth - 1))
	return err
}
