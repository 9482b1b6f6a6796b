package semaphore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/shmkit/shmkit/semaphore"
	"github.com/shmkit/shmkit/shm"
)

// FuzzLockState writes arbitrary words into a lock's payload, as a bug or
// another program might, and checks that every call returns, with an error
// or with the lock, and never panics.
func FuzzLockState(f *testing.F) {
	f.Add(uint32(0), uint32(0), uint64(0))
	f.Add(uint32(1<<31), uint32(0), uint64(0))      // free, waiter bit
	f.Add(uint32(1<<10|0), uint32(1), uint64(1))    // slot 0 gen 1: this process
	f.Add(uint32(2<<10|5), uint32(3), uint64(9))    // a slot nobody holds
	f.Add(uint32(1<<10|1000), uint32(1), uint64(1)) // a slot beyond the table
	f.Add(uint32(0xffffffff), uint32(0xffffffff), uint64(0xffffffffffffffff))
	seg, err := shm.New(1<<16, &shm.Options{Slots: 8})
	if err != nil {
		f.Fatal(err)
	}
	defer seg.Close()
	opts := &semaphore.Options{Poll: time.Millisecond}
	l, err := semaphore.NewLock(seg, "", opts)
	if err != nil {
		f.Fatal(err)
	}
	defer l.Close()
	r, err := semaphore.NewRLock(seg, "", opts)
	if err != nil {
		f.Fatal(err)
	}
	defer r.Close()
	f.Fuzz(func(t *testing.T, state, count uint32, holder uint64) {
		expect := func(kind string, errs ...error) {
			for _, err := range errs {
				if err != nil && !errors.Is(err, semaphore.ErrOwnerDead) && !errors.Is(err, semaphore.ErrCorrupt) &&
					!errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, semaphore.ErrNotLocked) &&
					!errors.Is(err, semaphore.ErrNotOwner) {
					t.Errorf("%s with state %#x count %d holder %d: unexpected error %v", kind, state, count, holder, err)
				}
			}
		}
		setWords(t, l.ShmObjects()[0], state, count, holder)
		ok, tryErr := l.TryLock()
		var lockErr error
		if !ok {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
			lockErr = l.Lock(ctx)
			cancel()
		}
		expect("lock", tryErr, lockErr, l.Unlock())
		// Whatever the words held, the lock works afterwards.
		if ok, err := l.TryLock(); !ok || err != nil {
			t.Fatalf("lock after state %#x: TryLock = %v, %v", state, ok, err)
		}
		if err := l.Unlock(); err != nil {
			t.Fatalf("lock after state %#x: Unlock = %v", state, err)
		}

		setWords(t, r.ShmObjects()[0], state, count, holder)
		h := semaphore.Holder(holder | 1)
		ok, tryErr = r.TryLock(h)
		lockErr = nil
		if !ok {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
			lockErr = r.Lock(ctx, h)
			cancel()
		}
		unlockErr := r.Unlock(h)
		expect("rlock", tryErr, lockErr, unlockErr)
		// An rlock that another holder owns (a live one: this process,
		// another Holder) or whose owner cannot exist stays so: only its
		// owner may unlock it. Any other works afterwards.
		if errors.Is(errors.Join(tryErr, lockErr, unlockErr), semaphore.ErrCorrupt) || errors.Is(unlockErr, semaphore.ErrNotOwner) {
			return
		}
		if ok, err := r.TryLock(h); !ok || err != nil {
			t.Fatalf("rlock after state %#x count %d: TryLock = %v, %v", state, count, ok, err)
		}
		for r.Depth(h) > 0 {
			if err := r.Unlock(h); err != nil {
				t.Fatalf("rlock after state %#x count %d: Unlock = %v", state, count, err)
			}
		}
	})
}

func setWords(t *testing.T, o *shm.Object, state, count uint32, holder uint64) {
	p := o.Payload()
	w, err := p.Uint32(0)
	if err != nil {
		t.Fatal(err)
	}
	w.Store(state)
	c, _ := p.Uint32(8)
	c.Store(count)
	h, _ := p.Uint64(16)
	h.Store(holder)
}

// FuzzSemaphoreModel runs random operations on a Bounded and a Counting
// semaphore and compares them with a plain integer.
func FuzzSemaphoreModel(f *testing.F) {
	f.Add(uint8(2), []byte{0, 0, 0, 1, 1, 1, 2})
	f.Add(uint8(0), []byte{1, 0, 2, 2, 0})
	f.Fuzz(func(t *testing.T, initial uint8, ops []byte) {
		seg, err := shm.New(16<<10, &shm.Options{Lazy: true})
		if err != nil {
			t.Fatal(err)
		}
		defer seg.Close()
		b, err := semaphore.NewBounded(seg, "", int(initial), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		c, err := semaphore.NewCounting(seg, "", int(initial), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		bv, cv := int(initial), int(initial)
		for i, op := range ops {
			switch op % 3 {
			case 0: // TryAcquire
				if got, want := b.TryAcquire(), bv > 0; got != want {
					t.Fatalf("op %d: Bounded TryAcquire = %v at %d", i, got, bv)
				} else if got {
					bv--
				}
				if got, want := c.TryAcquire(), cv > 0; got != want {
					t.Fatalf("op %d: Counting TryAcquire = %v at %d", i, got, cv)
				} else if got {
					cv--
				}
			case 1: // Release
				err := b.Release()
				if bv < int(initial) {
					if err != nil {
						t.Fatalf("op %d: Bounded Release at %d of %d = %v", i, bv, initial, err)
					}
					bv++
				} else if !errors.Is(err, semaphore.ErrReleased) {
					t.Fatalf("op %d: Bounded Release at the bound = %v", i, err)
				}
				if err := c.Release(); err != nil {
					t.Fatalf("op %d: Counting Release = %v", i, err)
				}
				cv++
			case 2: // Acquire that must not wait
				if bv > 0 {
					if err := b.Acquire(t.Context()); err != nil {
						t.Fatal(err)
					}
					bv--
				}
				if cv > 0 {
					if err := c.Acquire(t.Context()); err != nil {
						t.Fatal(err)
					}
					cv--
				}
			}
			if b.Value() != bv || c.Value() != cv {
				t.Fatalf("op %d: values %d, %d; model %d, %d", i, b.Value(), c.Value(), bv, cv)
			}
		}
	})
}
