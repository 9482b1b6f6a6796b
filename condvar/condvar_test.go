package condvar_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmkit/shmkit/condvar"
	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/semaphore"
	"github.com/shmkit/shmkit/shm"
)

func TestMain(m *testing.M) { shmtest.Main(m) }

// anon returns an anonymous segment closed at the end of the test.
func anon(t testing.TB) *shm.Segment {
	t.Helper()
	s, err := shm.New(1<<20, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// words is a row of 64-bit words in shared memory, for tests to count and
// signal with across processes.
type words struct{ *shm.Object }

func newWords(t testing.TB, seg *shm.Segment, n int) words {
	t.Helper()
	o, err := seg.AllocBytes("", 8*n)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	return words{o}
}

func (w words) at(i int) *atomic.Uint64 {
	p, err := w.Payload().Uint64(uint64(8 * i))
	if err != nil {
		panic(err)
	}
	return p
}

// waitFor polls cond until it holds, failing the test when ctx ends. It
// orders nothing: it waits for a state another process reaches.
func waitUntil(t testing.TB, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		if ctx.Err() != nil {
			t.Fatalf("waited in vain for %s", what)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// honoured checks that a call given timeout d took at least d and not
// absurdly longer: not a speed check, only that the timeout was neither
// cut short nor ignored.
func honoured(t *testing.T, what string, d, took time.Duration) {
	t.Helper()
	if took < d || took > d+5*time.Second {
		t.Errorf("%s with timeout %v took %v", what, d, took)
	}
}

func timeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

func done() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

// TestPythonEventLocal is the single-process half of _TestEvent.test_event.
func TestPythonEventLocal(t *testing.T) {
	e, err := condvar.NewEvent(nil, "", nil)
	must(t, err)
	defer e.Close()
	if e.IsSet() {
		t.Fatal("a new event is set")
	}
	if err := e.Wait(done()); !errors.Is(err, context.Canceled) { // wait(0.0) == False
		t.Errorf("Wait(done) on a clear event = %v, want Canceled", err)
	}
	start := time.Now()
	if err := e.Wait(timeout(t, 100*time.Millisecond)); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait(100ms) = %v, want DeadlineExceeded", err)
	}
	honoured(t, "Event.Wait", 100*time.Millisecond, time.Since(start))
	must(t, e.Set())
	if !e.IsSet() {
		t.Fatal("IsSet after Set = false")
	}
	if err := e.Wait(t.Context()); err != nil {
		t.Errorf("Wait on a set event = %v", err)
	}
	if err := e.Wait(done()); err != nil { // a set event: even with no time left
		t.Errorf("Wait(done) on a set event = %v", err)
	}
	must(t, e.Set()) // again: nothing changes
	must(t, e.Clear())
	if e.IsSet() {
		t.Fatal("IsSet after Clear = true")
	}
	must(t, e.Clear())
}

// TestEventSetThenClear: a Set that a Clear undoes before the waiter looks
// still ends the wait, as threading.Event.wait does.
func TestEventSetThenClear(t *testing.T) {
	e, err := condvar.NewEvent(nil, "", &condvar.Options{Spin: -1})
	must(t, err)
	defer e.Close()
	ctx := shmtest.Deadline(t, 30*time.Second)
	state, err := e.ShmObjects()[0].Payload().Uint32(0)
	must(t, err)
	for range 100 {
		got := make(chan error, 1)
		go func() { got <- e.Wait(ctx) }()
		// The waiter sleeps once it has set the sleeper bit.
		waitUntil(t, ctx, "a sleeping waiter", func() bool { return state.Load()&(1<<31) != 0 })
		must(t, e.Set())
		must(t, e.Clear())
		if err := <-got; err != nil {
			t.Fatalf("Wait across Set+Clear = %v", err)
		}
	}
}

// TestEventGoroutines: many goroutines wait, one Set wakes them all, and
// what was written before Set is seen after Wait (the race detector checks
// the edge).
func TestEventGoroutines(t *testing.T) {
	e, err := condvar.NewEvent(anon(t), "", nil)
	must(t, err)
	defer e.Close()
	ctx := shmtest.Deadline(t, 30*time.Second)
	data := 0
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			if err := e.Wait(ctx); err != nil {
				t.Error(err)
				return
			}
			if data != 42 {
				t.Errorf("data = %d after Wait", data)
			}
		})
	}
	data = 42
	must(t, e.Set())
	wg.Wait()
}

// TestPythonConditionTimeout is _TestCondition.test_timeout.
func TestPythonConditionTimeout(t *testing.T) {
	c, err := condvar.NewRCond(nil, "", nil, nil)
	must(t, err)
	defer c.Close()
	h := semaphore.NewHolder()
	must(t, c.Lock(t.Context(), h))
	start := time.Now()
	err = c.Wait(timeout(t, 100*time.Millisecond), h)
	took := time.Since(start)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait(100ms) = %v, want DeadlineExceeded", err)
	}
	honoured(t, "Cond.Wait", 100*time.Millisecond, took)
	if d := c.Locker().Depth(h); d != 1 {
		t.Errorf("depth after Wait = %d, want 1", d)
	}
	must(t, c.Unlock(h))
	if w, f := c.Waiting(); w != 0 || f != 0 {
		t.Errorf("after a timed-out Wait: %d waiting, %d in flight", w, f)
	}
}

// TestCondMisuse: Wait and Notify without the lock, as Python's "must
// acquire() condition before using wait()".
func TestCondMisuse(t *testing.T) {
	ctx := t.Context()
	seg := anon(t)
	c, err := condvar.NewCond(seg, "", nil, nil)
	must(t, err)
	defer c.Close()
	if err := c.Wait(ctx); !errors.Is(err, condvar.ErrNotHeld) {
		t.Errorf("Wait without the lock = %v, want ErrNotHeld", err)
	}
	if err := c.Notify(1); !errors.Is(err, condvar.ErrNotHeld) {
		t.Errorf("Notify without the lock = %v, want ErrNotHeld", err)
	}
	if err := c.NotifyAll(); !errors.Is(err, condvar.ErrNotHeld) {
		t.Errorf("NotifyAll without the lock = %v, want ErrNotHeld", err)
	}
	if err := c.WaitFor(ctx, func() bool { return false }); !errors.Is(err, condvar.ErrNotHeld) {
		t.Errorf("WaitFor without the lock = %v, want ErrNotHeld", err)
	}
	// With the lock, a Notify that nobody waits for is fine.
	must(t, c.Lock(ctx))
	must(t, c.Notify(1))
	must(t, c.NotifyAll())
	must(t, c.Unlock())

	r, err := condvar.NewRCond(seg, "", nil, nil)
	must(t, err)
	defer r.Close()
	a, b := semaphore.NewHolder(), semaphore.NewHolder()
	must(t, r.Lock(ctx, a))
	if err := r.Wait(ctx, b); !errors.Is(err, condvar.ErrNotHeld) {
		t.Errorf("Wait by another holder = %v, want ErrNotHeld", err)
	}
	if err := r.Notify(b, 1); !errors.Is(err, condvar.ErrNotHeld) {
		t.Errorf("Notify by another holder = %v, want ErrNotHeld", err)
	}
	if err := r.Wait(ctx, 0); !errors.Is(err, condvar.ErrNotHeld) {
		t.Errorf("Wait by the zero holder = %v, want ErrNotHeld", err)
	}
	must(t, r.Unlock(a))
}

// TestRCondDepth: Wait lets a recursively held RLock go completely and
// takes it back at the same depth (Python's _release_save).
func TestRCondDepth(t *testing.T) {
	ctx := shmtest.Deadline(t, 30*time.Second)
	c, err := condvar.NewRCond(anon(t), "", nil, nil)
	must(t, err)
	defer c.Close()
	h := semaphore.NewHolder()
	for range 3 {
		must(t, c.Lock(ctx, h))
	}
	woke := make(chan error, 1)
	go func() {
		other := semaphore.NewHolder()
		// This Lock can only succeed while h waits: h's depth was 3.
		if err := c.Lock(ctx, other); err != nil {
			woke <- err
			return
		}
		if err := c.Notify(other, 1); err != nil {
			woke <- err
			return
		}
		woke <- c.Unlock(other)
	}()
	if err := c.Wait(ctx, h); err != nil {
		t.Fatalf("Wait = %v", err)
	}
	must(t, <-woke)
	if d := c.Locker().Depth(h); d != 3 {
		t.Errorf("depth after Wait = %d, want 3", d)
	}
	for range 3 {
		must(t, c.Unlock(h))
	}
	if c.Locker().Locked() {
		t.Error("still locked")
	}
}

// TestSemaphoreHooks checks what package semaphore gives conditions
// (semaphore/cond.go) beyond what the other tests use.
func TestSemaphoreHooks(t *testing.T) {
	ctx := t.Context()
	seg := anon(t)
	l, err := semaphore.NewLock(seg, "", nil)
	must(t, err)
	defer l.Close()
	if l.HeldHere() {
		t.Error("HeldHere on a free lock")
	}
	must(t, l.Lock(ctx))
	if !l.HeldHere() {
		t.Error("HeldHere on a lock this process holds = false")
	}
	must(t, l.Unlock())

	r, err := semaphore.NewRLock(seg, "", nil)
	must(t, err)
	defer r.Close()
	a, b := semaphore.NewHolder(), semaphore.NewHolder()
	if _, err := r.UnlockAll(a); !errors.Is(err, semaphore.ErrNotOwner) {
		t.Errorf("UnlockAll of a free RLock = %v, want ErrNotOwner", err)
	}
	for range 4 {
		must(t, r.Lock(ctx, a))
	}
	if _, err := r.UnlockAll(b); !errors.Is(err, semaphore.ErrNotOwner) {
		t.Errorf("UnlockAll by another holder = %v, want ErrNotOwner", err)
	}
	depth, err := r.UnlockAll(a)
	if depth != 4 || err != nil || r.Locked() {
		t.Fatalf("UnlockAll = %d, %v (locked %v); want 4, nil, free", depth, err, r.Locked())
	}
	for _, d := range []int{0, -1} {
		if err := r.Relock(ctx, a, d); !errors.Is(err, semaphore.ErrValue) {
			t.Errorf("Relock at depth %d = %v, want ErrValue", d, err)
		}
	}
	must(t, r.Relock(ctx, a, depth))
	if r.Depth(a) != 4 {
		t.Errorf("Depth after Relock = %d, want 4", r.Depth(a))
	}
	for range 4 {
		must(t, r.Unlock(a))
	}
	if r.Locked() {
		t.Error("locked after four Unlocks")
	}
}

// TestPythonWaitResultLocal is the start of _TestCondition.test_wait_result:
// wait(0) and wait(0.1) return False.
func TestPythonWaitResultLocal(t *testing.T) {
	c, err := condvar.NewCond(nil, "", nil, nil)
	must(t, err)
	defer c.Close()
	must(t, c.Lock(t.Context()))
	if err := c.Wait(done()); !errors.Is(err, context.Canceled) {
		t.Errorf("Wait(0) = %v, want Canceled", err)
	}
	if !c.Locker().HeldHere() {
		t.Fatal("lock not held after Wait(0)")
	}
	if err := c.Wait(timeout(t, 100*time.Millisecond)); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait(0.1) = %v, want DeadlineExceeded", err)
	}
	must(t, c.Unlock())
}

// TestCondGoroutines: a bounded queue guarded by one lock and two Conds
// over it (not empty, not full), with many producer and consumer
// goroutines and Notify(1) only, the pattern that hangs when a wake-up is
// lost. The race detector checks that the lock orders the plain Go memory
// of the queue.
func TestCondGoroutines(t *testing.T) {
	ctx := shmtest.Deadline(t, 60*time.Second)
	for _, spin := range []time.Duration{0, -1} {
		seg := anon(t)
		opts := &condvar.Options{Spin: spin}
		notEmpty, err := condvar.NewCond(seg, "", nil, opts)
		must(t, err)
		notFull, err := condvar.NewCond(seg, "", notEmpty.Locker(), opts)
		must(t, err)
		const producers, consumers, each, capacity = 4, 6, 3000, 3
		var queue []int // guarded by the lock
		sum := 0        // guarded by the lock
		errs := make(chan error, producers+consumers)
		for p := range producers {
			go func() {
				errs <- func() error {
					for i := range each {
						if err := notFull.Lock(ctx); err != nil {
							return err
						}
						if err := notFull.WaitFor(ctx, func() bool { return len(queue) < capacity }); err != nil {
							return err
						}
						queue = append(queue, p*each+i)
						if err := notEmpty.Notify(1); err != nil {
							return err
						}
						if err := notFull.Unlock(); err != nil {
							return err
						}
					}
					return nil
				}()
			}()
		}
		total := producers * each
		taken := 0 // guarded by the lock
		for range consumers {
			go func() {
				errs <- func() error {
					for {
						if err := notEmpty.Lock(ctx); err != nil {
							return err
						}
						if err := notEmpty.WaitFor(ctx, func() bool { return len(queue) > 0 || taken == total }); err != nil {
							return err
						}
						if taken == total {
							return notEmpty.Unlock()
						}
						sum += queue[0]
						queue = queue[1:]
						taken++
						if taken == total {
							err = notEmpty.NotifyAll() // the other consumers stop
						} else {
							err = notFull.Notify(1)
						}
						if err != nil {
							return err
						}
						if err := notEmpty.Unlock(); err != nil {
							return err
						}
					}
				}()
			}()
		}
		for range producers + consumers {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		if want := total * (total - 1) / 2; sum != want {
			t.Errorf("spin %v: sum = %d, want %d", spin, sum, want)
		}
		for _, c := range []*condvar.Cond{notEmpty, notFull} {
			if w, f := c.Waiting(); w != 0 || f != 0 {
				t.Errorf("spin %v: after the run, %d waiting, %d in flight", spin, w, f)
			}
		}
		must(t, notFull.Close())
		must(t, notEmpty.Close())
	}
}

// TestCondManyWaitersOneThread: a thousand goroutines wait on one Cond,
// which holds one OS thread asleep for them all; NotifyAll wakes them.
func TestCondManyWaiters(t *testing.T) {
	ctx := shmtest.Deadline(t, 60*time.Second)
	c, err := condvar.NewCond(anon(t), "", nil, nil)
	must(t, err)
	const n = 1000
	gen := 0 // guarded by the lock
	errs := make(chan error, n)
	for range n {
		go func() {
			errs <- func() error {
				if err := c.Lock(ctx); err != nil {
					return err
				}
				if err := c.WaitFor(ctx, func() bool { return gen > 0 }); err != nil {
					return err
				}
				return c.Unlock()
			}()
		}()
	}
	waitUntil(t, ctx, "a thousand waiters", func() bool { w, _ := c.Waiting(); return w == n })
	must(t, c.Lock(ctx))
	gen = 1
	must(t, c.Notify(n/2))
	if w, _ := c.Waiting(); w != n/2 {
		t.Errorf("after Notify(%d): %d waiting", n/2, w)
	}
	must(t, c.NotifyAll())
	must(t, c.Unlock())
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	must(t, c.Close())
}

// TestPythonBarrierSingleThread is _TestBarrier.test_single_thread, a
// thousand times.
func TestPythonBarrierSingleThread(t *testing.T) {
	b, err := condvar.NewBarrier(nil, "", 1, nil)
	must(t, err)
	defer b.Close()
	actions := 0
	b.SetAction(func() error { actions++; return nil })
	for i := range 1000 {
		if idx, err := b.Wait(t.Context()); idx != 0 || err != nil {
			t.Fatalf("Wait %d = %d, %v; want 0, nil", i, idx, err)
		}
	}
	if actions != 1000 {
		t.Errorf("action ran %d times, want 1000", actions)
	}
}

// TestBarrierGoroutines: parties in one process, many cycles, with the
// action and data the race detector checks.
func TestBarrierGoroutines(t *testing.T) {
	ctx := shmtest.Deadline(t, 60*time.Second)
	for _, spin := range []time.Duration{0, -1} {
		const parties, cycles = 4, 500
		b, err := condvar.NewBarrier(anon(t), "", parties, &condvar.Options{Spin: spin})
		must(t, err)
		defer b.Close()
		var slots [parties]int // each party writes its own, reads all after the barrier
		ran := 0
		b.SetAction(func() error { ran++; return nil })
		var wg sync.WaitGroup
		for p := range parties {
			wg.Go(func() {
				for c := range cycles {
					slots[p] = c
					idx, err := b.Wait(ctx)
					if err != nil || idx < 0 || idx >= parties {
						t.Errorf("Wait = %d, %v", idx, err)
						return
					}
					for q := range parties {
						if slots[q] != c {
							t.Errorf("cycle %d: party %d at %d", c, q, slots[q])
							return
						}
					}
					if _, err := b.Wait(ctx); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		if ran != 2*cycles {
			t.Errorf("action ran %d times, want %d", ran, 2*cycles)
		}
		if b.NWaiting() != 0 || b.Broken() {
			t.Errorf("after the run: NWaiting %d, Broken %v", b.NWaiting(), b.Broken())
		}
	}
}

// TestBarrierMoreGoroutinesThanParties: six goroutines pass a barrier of
// two; every cycle has two distinct indices.
func TestBarrierMoreGoroutinesThanParties(t *testing.T) {
	ctx := shmtest.Deadline(t, 60*time.Second)
	b, err := condvar.NewBarrier(anon(t), "", 2, nil)
	must(t, err)
	defer b.Close()
	var count [2]atomic.Int64
	var claims atomic.Int64 // 1800 waits in all, by whichever goroutine is free
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			for claims.Add(1) <= 1800 {
				idx, err := b.Wait(ctx)
				if err != nil {
					t.Error(err)
					return
				}
				count[idx].Add(1)
			}
		})
	}
	wg.Wait()
	if count[0].Load() != 900 || count[1].Load() != 900 {
		t.Errorf("indices 0 and 1 returned %d and %d times, want 900 each", count[0].Load(), count[1].Load())
	}
}

// TestBarrierActionFails: an action that returns an error breaks the
// barrier; the party that ran it sees the error, the others the break; a
// panicking action breaks it too; Reset repairs it.
func TestBarrierActionFails(t *testing.T) {
	ctx := shmtest.Deadline(t, 30*time.Second)
	b, err := condvar.NewBarrier(anon(t), "", 2, nil)
	must(t, err)
	defer b.Close()
	boom := errors.New("boom")
	b.SetAction(func() error { return boom })
	errs := make(chan error, 2)
	for range 2 {
		go func() { _, err := b.Wait(ctx); errs <- err }()
	}
	var sawBoom int
	for range 2 {
		err := <-errs
		if !errors.Is(err, condvar.ErrBrokenBarrier) {
			t.Errorf("Wait = %v, want ErrBrokenBarrier", err)
		}
		if errors.Is(err, boom) {
			sawBoom++
		}
	}
	if sawBoom != 1 || !b.Broken() {
		t.Errorf("%d parties saw the action's error, Broken %v; want 1, true", sawBoom, b.Broken())
	}
	if _, err := b.Wait(ctx); !errors.Is(err, condvar.ErrBrokenBarrier) {
		t.Errorf("Wait on a broken barrier = %v", err)
	}
	must(t, b.Reset())
	if b.Broken() {
		t.Fatal("broken after Reset")
	}
	b.SetAction(func() error { panic("action panics") })
	go func() { _, err := b.Wait(ctx); errs <- err }()
	func() {
		defer func() {
			if r := recover(); r != "action panics" {
				t.Errorf("recovered %v", r)
			}
		}()
		waitUntil(t, ctx, "a waiter", func() bool { return b.NWaiting() == 1 })
		b.Wait(ctx)
		t.Error("Wait returned through a panicking action")
	}()
	if err := <-errs; !errors.Is(err, condvar.ErrBrokenBarrier) {
		t.Errorf("the other party's Wait = %v, want ErrBrokenBarrier", err)
	}
	must(t, b.Reset())
	b.SetAction(nil)
	go func() { _, err := b.Wait(ctx); errs <- err }()
	if _, err := b.Wait(ctx); err != nil {
		t.Errorf("Wait after Reset = %v", err)
	}
	must(t, <-errs)
}

// TestBarrierResetDuringAction: a Reset while the action runs leaves the
// cycle alone; an Abort while it runs breaks it when the action returns.
func TestBarrierResetDuringAction(t *testing.T) {
	ctx := shmtest.Deadline(t, 30*time.Second)
	for _, abort := range []bool{false, true} {
		b, err := condvar.NewBarrier(anon(t), "", 2, nil)
		must(t, err)
		defer b.Close()
		in, out := make(chan struct{}), make(chan struct{})
		b.SetAction(func() error { in <- struct{}{}; <-out; return nil })
		errs := make(chan error, 2)
		for range 2 {
			go func() { _, err := b.Wait(ctx); errs <- err }()
		}
		<-in
		if abort {
			must(t, b.Abort())
			if !b.Broken() {
				t.Error("Broken during the action after Abort = false")
			}
		} else {
			must(t, b.Reset())
		}
		close(out)
		for range 2 {
			err := <-errs
			if abort && !errors.Is(err, condvar.ErrBrokenBarrier) || !abort && err != nil {
				t.Errorf("abort %v: Wait = %v", abort, err)
			}
		}
		if b.Broken() != abort {
			t.Errorf("abort %v: Broken = %v", abort, b.Broken())
		}
	}
}

// TestBarrierResetWakesWaiters: Reset breaks the cycle of the parties that
// wait, and the barrier works again at once.
func TestBarrierResetWakesWaiters(t *testing.T) {
	ctx := shmtest.Deadline(t, 30*time.Second)
	b, err := condvar.NewBarrier(anon(t), "", 3, nil)
	must(t, err)
	defer b.Close()
	errs := make(chan error, 2)
	for range 2 {
		go func() { _, err := b.Wait(ctx); errs <- err }()
	}
	waitUntil(t, ctx, "two waiters", func() bool { return b.NWaiting() == 2 })
	must(t, b.Reset())
	for range 2 {
		if err := <-errs; !errors.Is(err, condvar.ErrBrokenBarrier) {
			t.Errorf("Wait across a Reset = %v, want ErrBrokenBarrier", err)
		}
	}
	if b.Broken() || b.NWaiting() != 0 {
		t.Errorf("after Reset: Broken %v NWaiting %d", b.Broken(), b.NWaiting())
	}
	for range 2 {
		go func() { _, err := b.Wait(ctx); errs <- err }()
	}
	if _, err := b.Wait(ctx); err != nil {
		t.Errorf("Wait after Reset = %v", err)
	}
	for range 2 {
		must(t, <-errs)
	}
}

func TestBadInput(t *testing.T) {
	seg := anon(t)
	for _, p := range []int{0, -1, condvar.MaxParties + 1} {
		if _, err := condvar.NewBarrier(seg, "", p, nil); !errors.Is(err, condvar.ErrParties) {
			t.Errorf("NewBarrier(%d parties) = %v, want ErrParties", p, err)
		}
	}
	e, err := condvar.NewEvent(seg, "the-event", nil)
	must(t, err)
	defer e.Close()
	c, err := condvar.NewCond(seg, "the-cond", nil, nil)
	must(t, err)
	defer c.Close()
	r, err := condvar.NewRCond(seg, "the-rcond", nil, nil)
	must(t, err)
	defer r.Close()
	b, err := condvar.NewBarrier(seg, "the-barrier", 2, nil)
	must(t, err)
	defer b.Close()

	// Handles and names of another kind.
	if _, err := condvar.OpenBarrierHandle(e.Handle(), nil); !errors.Is(err, shm.ErrKind) {
		t.Errorf("OpenBarrierHandle(event) = %v, want ErrKind", err)
	}
	if _, err := condvar.OpenEventHandle(c.Handle(), nil); !errors.Is(err, shm.ErrKind) {
		t.Errorf("OpenEventHandle(cond) = %v, want ErrKind", err)
	}
	if _, err := condvar.OpenCondHandle(b.Handle(), nil); !errors.Is(err, shm.ErrKind) {
		t.Errorf("OpenCondHandle(barrier) = %v, want ErrKind", err)
	}
	if _, err := condvar.OpenCond(seg, "the-event", nil); !errors.Is(err, shm.ErrKind) {
		t.Errorf("OpenCond(event's name) = %v, want ErrKind", err)
	}
	if _, err := condvar.OpenCond(seg, "the-rcond", nil); !errors.Is(err, shm.ErrKind) {
		t.Errorf("OpenCond(an RCond) = %v, want ErrKind", err)
	}
	if _, err := condvar.OpenRCondHandle(c.Handle(), nil); !errors.Is(err, shm.ErrKind) {
		t.Errorf("OpenRCondHandle(a Cond) = %v, want ErrKind", err)
	}
	if _, err := condvar.OpenEvent(seg, "nothing", nil); !errors.Is(err, shm.ErrObjectNotExist) {
		t.Errorf("OpenEvent(missing) = %v, want ErrObjectNotExist", err)
	}
	if _, err := condvar.NewEvent(nil, "named-without-segment", nil); !errors.Is(err, shm.ErrName) {
		t.Errorf("NewEvent(nil, name) = %v, want ErrName", err)
	}
	if _, err := condvar.NewCond(nil, "named-without-segment", nil, nil); !errors.Is(err, shm.ErrName) {
		t.Errorf("NewCond(nil, name) = %v, want ErrName", err)
	}
	// A lock of another segment.
	other := anon(t)
	l, err := semaphore.NewLock(other, "", nil)
	must(t, err)
	defer l.Close()
	if _, err := condvar.NewCond(seg, "", l, nil); !errors.Is(err, shm.ErrHandle) {
		t.Errorf("NewCond over a lock of another segment = %v, want ErrHandle", err)
	}
	if _, err := condvar.NewCond(nil, "", l, nil); !errors.Is(err, shm.ErrHandle) {
		t.Errorf("NewCond(nil segment) over a given lock = %v, want ErrHandle", err)
	}
	// After Close.
	e2, err := condvar.OpenEvent(seg, "the-event", nil)
	must(t, err)
	must(t, e2.Close())
	if err := e2.Set(); !errors.Is(err, condvar.ErrClosed) {
		t.Errorf("Set after Close = %v", err)
	}
	if err := e2.Close(); !errors.Is(err, condvar.ErrClosed) {
		t.Errorf("second Close = %v", err)
	}
	c2, err := condvar.OpenCond(seg, "the-cond", nil)
	must(t, err)
	must(t, c2.Close())
	if err := c2.Wait(t.Context()); !errors.Is(err, condvar.ErrClosed) {
		t.Errorf("Wait after Close = %v", err)
	}
	b2, err := condvar.OpenBarrier(seg, "the-barrier", nil)
	must(t, err)
	must(t, b2.Close())
	if _, err := b2.Wait(t.Context()); !errors.Is(err, condvar.ErrClosed) {
		t.Errorf("Barrier.Wait after Close = %v", err)
	}
}

// TestOpenByName shares each kind through two attachments of one named
// segment, as unrelated processes would.
func TestOpenByName(t *testing.T) {
	ctx := shmtest.Deadline(t, 30*time.Second)
	name := shmtest.Name(t)
	seg, err := shm.Create(name, 1<<16, nil)
	must(t, err)
	defer func() { seg.Close(); shm.Remove(name) }()
	e, err := condvar.NewEvent(seg, "event", nil)
	must(t, err)
	defer e.Close()
	c, err := condvar.NewCond(seg, "cond", nil, nil)
	must(t, err)
	defer c.Close()
	b, err := condvar.NewBarrier(seg, "barrier", 2, nil)
	must(t, err)
	defer b.Close()

	other, err := shm.Open(name, nil)
	must(t, err)
	defer other.Close()
	e2, err := condvar.OpenEvent(other, "event", nil)
	must(t, err)
	defer e2.Close()
	c2, err := condvar.OpenCond(other, "cond", nil)
	must(t, err)
	defer c2.Close()
	b2, err := condvar.OpenBarrier(other, "barrier", nil)
	must(t, err)
	defer b2.Close()

	must(t, e.Set())
	if err := e2.Wait(ctx); err != nil {
		t.Errorf("Wait through the other attachment = %v", err)
	}
	if b2.Parties() != 2 {
		t.Errorf("Parties = %d", b2.Parties())
	}
	got := make(chan error, 1)
	go func() { _, err := b2.Wait(ctx); got <- err }()
	if _, err := b.Wait(ctx); err != nil {
		t.Error(err)
	}
	must(t, <-got)

	// A waiter on one attachment, a notifier on the other: two slots.
	must(t, c.Lock(ctx))
	go func() {
		if err := c2.Lock(ctx); err != nil {
			got <- err
			return
		}
		if err := c2.Notify(1); err != nil {
			got <- err
			return
		}
		got <- c2.Unlock()
	}()
	if err := c.Wait(ctx); err != nil {
		t.Errorf("Wait, notified through the other attachment = %v", err)
	}
	must(t, c.Unlock())
	must(t, <-got)
}
