package ringbuf

// The claim locks: a private copy of semaphore's robust mutex (see
// semaphore/mutex.go for the full essay), which ringbuf cannot import
// because it is unexported. When semaphore exports it, this file goes.
//
// State word (the producer claim lock at offProdLock, the consumer claim
// lock at offConsLock):
//
//	bit 31     waiters: someone sleeps, or is about to sleep, on the word
//	bits 0-30  owner: the shm.Token of the holder's attachment; 0 = free
//
// Transitions, all by compare-and-swap, as in semaphore:
//
//	free      → self          fast path and spin
//	free|W    → self|W        a waiter takes it, keeping W
//	owner|*   → owner|W       a waiter about to sleep
//	owner|W?  → self|W?       takeover: the owner was found dead
//	any       → free          unlock (a swap); wake one if W was set
//
// A takeover is silent here: what the claim locks protect is written so that
// a holder that dies at any point leaves a state the next holder accepts
// (see ring.go), so there is nothing to repair and no ErrOwnerDead.

import (
	"context"
	"sync/atomic"

	"github.com/shmkit/shmkit/internal/wait"
	"github.com/shmkit/shmkit/shm"
)

const waiterBit = 1 << 31

// mutex is the algorithm on one state word.
type mutex struct {
	r     *Ring
	state *atomic.Uint32
}

// tryLock takes the lock if it is free or its owner is dead. It never
// sleeps, but asks the kernel whether a holder is alive.
func (m *mutex) tryLock(self shm.Token) (bool, error) {
	st := m.state
	v := st.Load()
	if v&^waiterBit == 0 {
		if st.CompareAndSwap(v, uint32(self)|v&waiterBit) {
			m.r.race.Acquire()
			return true, nil
		}
		v = st.Load()
	}
	owner := shm.Token(v &^ waiterBit)
	if owner == 0 {
		return false, nil
	}
	alive, err := m.r.alive(owner)
	if err != nil || alive {
		return false, err
	}
	if st.CompareAndSwap(v, uint32(self)|v&waiterBit) {
		m.r.race.Acquire()
		return true, nil
	}
	return false, nil
}

// lock takes the lock, waiting as long as ctx allows.
func (m *mutex) lock(ctx context.Context, self shm.Token) error {
	if m.state.CompareAndSwap(0, uint32(self)) {
		m.r.race.Acquire()
		return nil
	}
	if err := m.lockSlow(ctx, self); err != nil {
		return err
	}
	m.r.race.Acquire()
	return nil
}

func (m *mutex) lockSlow(ctx context.Context, self shm.Token) error {
	st := m.state
	if wait.Spin(m.r.spin, func() bool { return st.Load() == 0 && st.CompareAndSwap(0, uint32(self)) }) {
		return nil
	}
	slept := false
	for {
		v := st.Load()
		owner := shm.Token(v &^ waiterBit)
		if owner == 0 {
			if st.CompareAndSwap(v, uint32(self)|waiterBit) {
				return nil
			}
			continue
		}
		if err := wait.CtxErr(ctx); err != nil {
			if slept {
				wait.Wake(st, 1) // we may have swallowed another sleeper's wake-up
			}
			return err
		}
		if v&waiterBit == 0 && !st.CompareAndSwap(v, v|waiterBit) {
			continue
		}
		polled, err := m.r.sleep(ctx, st, v|waiterBit)
		slept = true
		if err != nil {
			return err
		}
		if !polled || st.Load() != v|waiterBit {
			continue
		}
		alive, err := m.r.alive(owner)
		if err != nil {
			return err
		}
		if !alive && st.CompareAndSwap(v|waiterBit, uint32(self)|waiterBit) {
			return nil
		}
	}
}

// unlock frees the lock, which the caller holds.
func (m *mutex) unlock() {
	m.r.race.ReleaseMerge()
	if m.state.Swap(0)&waiterBit != 0 {
		wait.Wake(m.state, 1)
	}
}
