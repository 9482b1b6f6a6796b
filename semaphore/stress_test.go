package semaphore_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/shmkit/shmkit/semaphore"
)

// Stress: Counting with Background contexts (untimed sleeps): any lost
// wake-up in the protocol is a hang, caught by the watchdog.
func TestStressCounting(t *testing.T) {
	for round := range 5 {
		c, err := semaphore.NewCounting(anon(t), "", 0, &semaphore.Options{Spin: -1})
		if err != nil {
			t.Fatal(err)
		}
		const prod, cons, each = 4, 6, 2000
		var wg sync.WaitGroup
		shared := 0
		var mu sync.Mutex
		for range cons {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range prod * each / cons {
					if err := c.Acquire(context.Background()); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		for range prod {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range each {
					mu.Lock()
					shared++
					mu.Unlock()
					if err := c.Release(); err != nil {
						t.Error(err)
					}
				}
			}()
		}
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Fatalf("round %d: hang; value %d", round, c.Value())
		}
		c.Close()
	}
}

// Stress: Bounded, many goroutines, holdings balanced at the end.
func TestStressBounded(t *testing.T) {
	b, err := semaphore.NewBounded(anon(t), "", 3, &semaphore.Options{Spin: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var wg sync.WaitGroup
	var cur, most int
	var mu sync.Mutex
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 3000 {
				if err := b.Acquire(context.Background()); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				cur++
				most = max(most, cur)
				mu.Unlock()
				mu.Lock()
				cur--
				mu.Unlock()
				if err := b.Release(); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if most > 3 || b.Value() != 3 {
		t.Errorf("most %d value %d", most, b.Value())
	}
	o := b.ShmObjects()[0]
	var sum uint64
	for i := range o.Slots() {
		v, _ := o.Payload().Uint64(uint64(64 + 8*i))
		sum += v.Load() & 0xffffffff
	}
	if sum != 0 {
		t.Errorf("holdings sum %d with all units back", sum)
	}
}

// Stress: RLock with holders in many goroutines, recursion.
func TestStressRLock(t *testing.T) {
	r, err := semaphore.NewRLock(anon(t), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	counter := 0
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := semaphore.NewHolder()
			for range 2000 {
				for range 3 {
					if err := r.Lock(context.Background(), h); err != nil {
						t.Error(err)
						return
					}
				}
				counter++
				for range 3 {
					if err := r.Unlock(h); err != nil {
						t.Error(err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	if counter != 16000 || r.Locked() {
		t.Errorf("counter %d locked %v", counter, r.Locked())
	}
}
