package shm

// The allocation lock serializes Alloc across processes. Walkers (Lookup,
// Objects, handles) never take it: they read only below the cursor, which
// Alloc stores last.
//
// Lock word (allocLock, offset 72 of the header):
//
//	bit 31     someone sleeps, or may sleep, on the word: wake on unlock
//	bits 0-30  token of the owner's attachment (liveness.Token); 0 = free
//
// The owner is always a live attachment or a dead one: a locker that finds
// the owner dead takes the lock over. Nothing needs repair then, because an
// Alloc changes nothing visible before its last step, the store of the
// cursor: a dead allocator leaves at most junk above the cursor, which the
// next Alloc overwrites.

import (
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"github.com/shmkit/shmkit/internal/futex"
)

const (
	waiterBit = 1 << 31
	// allocWaitMax bounds how long Alloc waits for a live owner.
	allocWaitMax = 30 * time.Second
	// allocPoll is how long a waiter sleeps before it looks at the owner's
	// liveness again.
	allocPoll = 10 * time.Millisecond
)

// lockAlloc takes the allocation lock: first this process's mutex, so that
// at most one goroutine of this attachment competes for the shared word,
// then the word. Holding the mutex, a word that names this attachment can
// only be stale (garbage, or a bug), and is taken over like a dead owner's.
func (m *mapping) lockAlloc() error {
	if m.self == 0 {
		return ErrObserver
	}
	m.allocMu.Lock()
	if err := m.lockAllocWord(); err != nil {
		m.allocMu.Unlock()
		return err
	}
	return nil
}

func (m *mapping) lockAllocWord() error {
	w := m.allocLock
	self := uint32(m.self)
	for range 100 {
		if w.CompareAndSwap(0, self) {
			return nil
		}
	}
	deadline := time.Now().Add(allocWaitMax)
	for {
		v := w.Load()
		owner := Token(v &^ waiterBit)
		if owner == 0 {
			// Keep the waiter bit: others may sleep.
			if w.CompareAndSwap(v, self|v&waiterBit) {
				return nil
			}
			continue
		}
		alive := false
		if owner != m.self {
			var err error
			if alive, err = m.table.Alive(owner); err != nil {
				return fmt.Errorf("%w: allocation lock word %#x: %w", ErrCorrupt, v, err)
			}
		}
		if !alive {
			if w.CompareAndSwap(v, self|v&waiterBit) {
				return nil
			}
			continue
		}
		if !time.Now().Before(deadline) {
			return fmt.Errorf("allocation lock held by %v: %w", owner, os.ErrDeadlineExceeded)
		}
		if v&waiterBit == 0 && !w.CompareAndSwap(v, v|waiterBit) {
			continue
		}
		wait(w, v|waiterBit, time.Now().Add(allocPoll))
	}
}

func (m *mapping) unlockAlloc() {
	if m.allocLock.Swap(0)&waiterBit != 0 {
		wake(m.allocLock)
	}
	m.allocMu.Unlock()
}

// wait sleeps on w while it holds v, until deadline; where the system has
// no futex it sleeps a little. Either way the caller looks again.
func wait(w *atomic.Uint32, v uint32, deadline time.Time) {
	if !futex.Supported {
		time.Sleep(time.Millisecond)
		return
	}
	futex.Wait(w, v, deadline) // any error: the caller looks again
}

func wake(w *atomic.Uint32) {
	if futex.Supported {
		futex.Wake(w, 0)
	}
}
