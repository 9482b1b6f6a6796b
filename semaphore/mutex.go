package semaphore

// The robust mutex that Lock and RLock share, on one 32-bit state word.
//
// State word (offset 0 of a Lock's or RLock's payload):
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

import (
	"context"
	"sync/atomic"

	"github.com/shmkit/shmkit/internal/race"
	"github.com/shmkit/shmkit/internal/wait"
	"github.com/shmkit/shmkit/shm"
)

const waiterBit = 1 << 31

// mutex is the algorithm on one state word.
type mutex struct {
	b     *base
	state *atomic.Uint32
}

// tryLock takes the lock if it is free, or if its owner is dead (dead is
// then true). It never waits.
func (m *mutex) tryLock(self shm.Token) (ok, dead bool, err error) {
	st := m.state
	v := st.Load()
	if v&^waiterBit == 0 {
		if st.CompareAndSwap(v, uint32(self)|v&waiterBit) {
			m.b.race.Acquire()
			return true, false, nil
		}
		v = st.Load()
	}
	owner := shm.Token(v &^ waiterBit)
	if owner == 0 {
		return false, false, nil // lost a race with another locker
	}
	alive, err := m.b.alive(owner)
	if err != nil || alive {
		return false, false, err
	}
	if st.CompareAndSwap(v, uint32(self)|v&waiterBit) {
		m.b.race.Acquire()
		return true, true, nil
	}
	return false, false, nil
}

// lock takes the lock, waiting as long as ctx allows. dead reports a
// takeover from a dead owner; the lock is held then even though the caller
// will report an error.
func (m *mutex) lock(ctx context.Context, self shm.Token) (dead bool, err error) {
	if m.state.CompareAndSwap(0, uint32(self)) {
		m.b.race.Acquire()
		return false, nil
	}
	dead, err = m.lockSlow(ctx, self)
	if err == nil {
		m.b.race.Acquire()
	}
	return dead, err
}

func (m *mutex) lockSlow(ctx context.Context, self shm.Token) (dead bool, err error) {
	st := m.state
	if wait.Spin(m.b.spin, func() bool { return st.Load() == 0 && st.CompareAndSwap(0, uint32(self)) }) {
		return false, nil
	}
	slept := false
	for {
		v := st.Load()
		owner := shm.Token(v &^ waiterBit)
		if owner == 0 {
			if st.CompareAndSwap(v, uint32(self)|waiterBit) {
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
		if v&waiterBit == 0 && !st.CompareAndSwap(v, v|waiterBit) {
			continue
		}
		polled, err := m.b.sleep(ctx, st, v|waiterBit)
		slept = true
		if err != nil {
			return false, err
		}
		if !polled || st.Load() != v|waiterBit {
			continue
		}
		// A whole poll interval with the same owner: is it alive?
		alive, err := m.b.alive(owner)
		if err != nil {
			return false, err
		}
		if !alive && st.CompareAndSwap(v|waiterBit, uint32(self)|waiterBit) {
			return true, nil
		}
	}
}

// unlock frees the lock and reports whether it was locked. One swap does
// it: unlocking a free lock writes 0 over 0, or over a lone waiter bit,
// whose sleepers it then wakes as any unlock would.
func (m *mutex) unlock() bool {
	if race.Enabled && m.state.Load()&^waiterBit == 0 {
		// Publish nothing for the race detector from an unlock that
		// unlocks nothing (see internal/race on spurious releases).
		// Without it, the swap below is all there is to do.
		return false
	}
	m.b.race.Release()
	v := m.state.Swap(0)
	if v&waiterBit != 0 {
		wait.Wake(m.state, 1)
	}
	return v&^waiterBit != 0
}

// owner is the token in the state word, 0 when free.
func (m *mutex) owner() shm.Token { return shm.Token(m.state.Load() &^ waiterBit) }
