// Package robust is the robust mutex that semaphore.Lock and RLock and
// ringbuf's claim locks share, on one 32-bit state word in shared memory.
//
// State word:
//
//	bit 31     waiters: someone sleeps, or is about to sleep, on the word;
//	           whoever unlocks must wake one
//	bits 0-30  owner: the shm.Token of the holder's attachment; 0 = free
//
// Transitions, all by compare-and-swap:
//
//	free      → self          Lock's fast path and spin
//	free|W    → self|W        a waiter takes it; it keeps W, since it
//	                          cannot know whether others sleep
//	owner|*   → owner|W       a waiter about to sleep
//	owner|W?  → self|W?       takeover: the owner was found dead
//	any       → free          unlock (a swap); wake one if W was set
//
// The word is the only thing a lock needs, and all-zero is unlocked. This
// is Drepper's "mutex 2" from "Futexes Are Tricky" with the owner kept in
// the word, which is what makes takeover possible: a simpler 0/1/2 word
// cannot say who holds the lock.
//
// No lost wake-up: a waiter sleeps only while the word still holds owner|W
// (the futex compares it atomically with going to sleep), and an unlock
// that sees W wakes a sleeper after clearing the word. A waiter that
// returns early (its context ended) after it has slept may have swallowed
// the wake meant for another, even if the lock is taken again by then
// (a fast-path locker does not set W, so its unlock wakes nobody); it
// wakes one in turn. Any other sleeper also looks again after Poll.
//
// Takeover happens only after a sleep that ran out its poll interval with
// the word unchanged and the owner dead; the compare-and-swap from the
// exact word seen makes two waiters that both found the owner dead agree on
// one winner.
package robust

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/shmkit/shmkit/internal/liveness"
	"github.com/shmkit/shmkit/internal/race"
	"github.com/shmkit/shmkit/internal/wait"
	"github.com/shmkit/shmkit/shm"
)

// WaiterBit is bit 31 of the state word: someone sleeps, or is about to.
const WaiterBit = 1 << 31

// Mutex is the algorithm on one state word. Its fields are set once, by
// the object that embeds it; it is then used by many goroutines at once.
type Mutex struct {
	// State is the lock's word in shared memory.
	State *atomic.Uint32
	// Obj is the object the word lives in: its segment says who is alive.
	Obj *shm.Object
	// Spin and Poll are this process's waiting policy (see wait.Spin and
	// wait.Sleep).
	Spin, Poll time.Duration
	// Race is the object's race-detector sentinel. MergeRelease makes an
	// unlock merge its edges into it rather than replace them, for a
	// sentinel that other operations publish through too.
	Race         race.Sentinel
	MergeRelease bool
}

// alive reports whether owner is alive; an owner that cannot exist is an
// error wrapping shm.ErrCorrupt.
func (m *Mutex) alive(owner shm.Token) (bool, error) {
	ok, err := m.Obj.Alive(owner)
	if errors.Is(err, liveness.ErrBadToken) {
		return false, fmt.Errorf("%w: lock owner %v: %w", shm.ErrCorrupt, owner, err)
	}
	return ok, err
}

// TryLock takes the lock if it is free, or if its owner is dead (dead is
// then true). It never waits, but asks the kernel whether a holder lives.
func (m *Mutex) TryLock(self shm.Token) (ok, dead bool, err error) {
	st := m.State
	v := st.Load()
	if v&^WaiterBit == 0 {
		if st.CompareAndSwap(v, uint32(self)|v&WaiterBit) {
			m.Race.Acquire()
			return true, false, nil
		}
		v = st.Load()
	}
	owner := shm.Token(v &^ WaiterBit)
	if owner == 0 {
		return false, false, nil // lost a race with another locker
	}
	alive, err := m.alive(owner)
	if err != nil || alive {
		return false, false, err
	}
	if st.CompareAndSwap(v, uint32(self)|v&WaiterBit) {
		m.Race.Acquire()
		return true, true, nil
	}
	return false, false, nil
}

// Lock takes the lock, waiting as long as ctx allows. dead reports a
// takeover from a dead owner; the lock is held then.
func (m *Mutex) Lock(ctx context.Context, self shm.Token) (dead bool, err error) {
	if m.State.CompareAndSwap(0, uint32(self)) {
		m.Race.Acquire()
		return false, nil
	}
	dead, err = m.lockSlow(ctx, self)
	if err == nil {
		m.Race.Acquire()
	}
	return dead, err
}

func (m *Mutex) lockSlow(ctx context.Context, self shm.Token) (dead bool, err error) {
	st := m.State
	if wait.Spin(m.Spin, func() bool { return st.Load() == 0 && st.CompareAndSwap(0, uint32(self)) }) {
		return false, nil
	}
	slept := false
	for {
		v := st.Load()
		owner := shm.Token(v &^ WaiterBit)
		if owner == 0 {
			if st.CompareAndSwap(v, uint32(self)|WaiterBit) {
				return false, nil
			}
			continue
		}
		if err := wait.CtxErr(ctx); err != nil {
			if slept {
				// We may have swallowed the wake-up an unlock meant
				// for a sleeper that is still there: pass one on.
				wait.Wake(st, 1)
			}
			return false, err
		}
		if v&WaiterBit == 0 && !st.CompareAndSwap(v, v|WaiterBit) {
			continue
		}
		polled, err := wait.Sleep(ctx, st, v|WaiterBit, m.Poll)
		slept = true
		if err != nil {
			return false, err
		}
		if !polled || st.Load() != v|WaiterBit {
			continue
		}
		// A whole poll interval with the same owner: is it alive?
		alive, err := m.alive(owner)
		if err != nil {
			return false, err
		}
		if !alive && st.CompareAndSwap(v|WaiterBit, uint32(self)|WaiterBit) {
			return true, nil
		}
	}
}

// Unlock frees the lock and reports whether it was locked. One swap does
// it: unlocking a free lock writes 0 over 0, or over a lone waiter bit,
// whose sleepers it then wakes as any unlock would.
func (m *Mutex) Unlock() bool {
	if race.Enabled && m.State.Load()&^WaiterBit == 0 {
		// Publish nothing for the race detector from an unlock that
		// unlocks nothing (see internal/race on spurious releases).
		// Without it, the swap below is all there is to do.
		return false
	}
	if m.MergeRelease {
		m.Race.ReleaseMerge()
	} else {
		m.Race.Release()
	}
	v := m.State.Swap(0)
	if v&WaiterBit != 0 {
		wait.Wake(m.State, 1)
	}
	return v&^WaiterBit != 0
}

// Owner is the token in the state word, 0 when free.
func (m *Mutex) Owner() shm.Token { return shm.Token(m.State.Load() &^ WaiterBit) }
