package condvar_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/shmkit/shmkit/condvar"
	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/process"
	"github.com/shmkit/shmkit/semaphore"
	"github.com/shmkit/shmkit/shm"
)

// timeout1 is Python's TIMEOUT1.
const timeout1 = 100 * time.Millisecond

func join(t *testing.T, ctx context.Context, ps ...*process.Process) {
	t.Helper()
	for _, p := range ps {
		if err := p.Join(ctx); err != nil {
			t.Errorf("%v: %v", p, err)
		}
	}
}

func kill(t *testing.T, ctx context.Context, p *process.Process) {
	t.Helper()
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := p.Join(ctx); err == nil {
		t.Fatal("killed process exited 0")
	}
}

// --- Condition: Go counterparts of Python's _TestCondition. ---

type condArgs struct {
	C               *condvar.RCond // Python's Condition(): an RLock
	Sleeping, Woken *semaphore.Counting
	Timeout         time.Duration
}

// condF is _TestCondition.f: take the lock, say so, wait (for Timeout if
// not zero), say so, let the lock go.
func condF(ctx context.Context, a condArgs) error {
	h := semaphore.NewHolder()
	if err := a.C.Lock(ctx, h); err != nil {
		return err
	}
	if err := a.Sleeping.Release(); err != nil {
		return err
	}
	wctx := ctx
	if a.Timeout > 0 {
		var cancel context.CancelFunc
		wctx, cancel = context.WithTimeout(ctx, a.Timeout)
		defer cancel()
	}
	err := a.C.Wait(wctx, h)
	if err != nil && (a.Timeout == 0 || !errors.Is(err, context.DeadlineExceeded)) {
		return fmt.Errorf("Wait = %w", err)
	}
	if err := a.Woken.Release(); err != nil {
		return err
	}
	return a.C.Unlock(h)
}

var condWaiter = process.MustRegister("condvar-cond-f", condF)

// condFixture is a Condition with its two semaphores.
func condFixture(t *testing.T, seg *shm.Segment) condArgs {
	t.Helper()
	c, err := condvar.NewRCond(seg, "", nil, nil)
	must(t, err)
	t.Cleanup(func() { c.Close() })
	var a condArgs
	a.C = c
	for _, s := range []**semaphore.Counting{&a.Sleeping, &a.Woken} {
		if *s, err = semaphore.NewCounting(seg, "", 0, nil); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { (*s).Close() })
	}
	return a
}

// startWaiters starts n processes and n goroutines running condF, as
// Python starts processes and threads, and waits until all of them said
// they were about to wait.
func startWaiters(t *testing.T, ctx context.Context, a condArgs, n int) (ps []*process.Process, gs chan error) {
	t.Helper()
	gs = make(chan error, n)
	for range n {
		ps = append(ps, shmtest.Start(t, ctx, condWaiter, a))
		go func() { gs <- condF(ctx, a) }()
	}
	for range 2 * n {
		must(t, a.Sleeping.Acquire(ctx))
	}
	return ps, gs
}

func joinWaiters(t *testing.T, ctx context.Context, ps []*process.Process, gs chan error) {
	t.Helper()
	join(t, ctx, ps...)
	for range len(ps) {
		if err := <-gs; err != nil {
			t.Error(err)
		}
	}
}

// locked runs f with the condition's lock held.
func locked(t *testing.T, ctx context.Context, c *condvar.RCond, f func(h semaphore.Holder)) {
	t.Helper()
	h := semaphore.NewHolder()
	must(t, c.Lock(ctx, h))
	f(h)
	must(t, c.Unlock(h))
}

// checkWaiting checks the waiters counted in shared memory: Python's
// check_invariant, and our way to say "no one has woken up" without a
// sleep: a waiter not notified cannot return (Wait never wakes without a
// notification), and one notified is no longer counted.
func checkWaiting(t *testing.T, c *condvar.RCond, want int) {
	t.Helper()
	if w, _ := c.Waiting(); w != want {
		t.Errorf("%d waiters not notified, want %d", w, want)
	}
}

func wokenReaches(t *testing.T, ctx context.Context, a condArgs, n int) {
	t.Helper()
	waitUntil(t, ctx, fmt.Sprintf("%d woken", n), func() bool { return a.Woken.Value() == n })
}

func TestPythonNotify(t *testing.T) {
	ctx := shmtest.Deadline(t, 30*time.Second)
	shmtest.NeedProcesses(t)
	a := condFixture(t, anon(t))
	ps, gs := startWaiters(t, ctx, a, 1)
	locked(t, ctx, a.C, func(h semaphore.Holder) {
		// Both let the lock go in Wait, since we have it.
		checkWaiting(t, a.C, 2)
		if a.Woken.Value() != 0 {
			t.Errorf("woken before any notify")
		}
		must(t, a.C.Notify(h, 1))
		checkWaiting(t, a.C, 1)
	})
	wokenReaches(t, ctx, a, 1)
	locked(t, ctx, a.C, func(h semaphore.Holder) {
		checkWaiting(t, a.C, 1)
		must(t, a.C.Notify(h, 1))
	})
	wokenReaches(t, ctx, a, 2)
	joinWaiters(t, ctx, ps, gs)
	checkWaiting(t, a.C, 0)
}

func TestPythonNotifyAll(t *testing.T) {
	ctx := shmtest.Deadline(t, 30*time.Second)
	shmtest.NeedProcesses(t)
	a := condFixture(t, anon(t))
	// Six waiters that time out.
	a.Timeout = timeout1
	ps, gs := startWaiters(t, ctx, a, 3)
	for range 6 {
		must(t, a.Woken.Acquire(ctx))
	}
	joinWaiters(t, ctx, ps, gs)
	checkWaiting(t, a.C, 0)
	// Six that do not.
	a.Timeout = 0
	ps, gs = startWaiters(t, ctx, a, 3)
	locked(t, ctx, a.C, func(h semaphore.Holder) {
		checkWaiting(t, a.C, 6)
		if a.Woken.Value() != 0 {
			t.Errorf("woken before NotifyAll")
		}
		must(t, a.C.NotifyAll(h))
		checkWaiting(t, a.C, 0)
	})
	wokenReaches(t, ctx, a, 6)
	joinWaiters(t, ctx, ps, gs)
	checkWaiting(t, a.C, 0)
}

func TestPythonNotifyN(t *testing.T) {
	ctx := shmtest.Deadline(t, 30*time.Second)
	shmtest.NeedProcesses(t)
	a := condFixture(t, anon(t))
	ps, gs := startWaiters(t, ctx, a, 3)
	locked(t, ctx, a.C, func(h semaphore.Holder) {
		checkWaiting(t, a.C, 6)
		must(t, a.C.Notify(h, 2))
		checkWaiting(t, a.C, 4)
	})
	wokenReaches(t, ctx, a, 2)
	locked(t, ctx, a.C, func(h semaphore.Holder) {
		checkWaiting(t, a.C, 4)
		must(t, a.C.Notify(h, 4))
		checkWaiting(t, a.C, 0)
	})
	wokenReaches(t, ctx, a, 6)
	locked(t, ctx, a.C, func(h semaphore.Holder) { must(t, a.C.Notify(h, 3)) }) // nobody left
	joinWaiters(t, ctx, ps, gs)
	if v := a.Woken.Value(); v != 6 {
		t.Errorf("woken = %d, want 6", v)
	}
	checkWaiting(t, a.C, 0)
}

type stateArgs struct {
	C       *condvar.RCond
	W       *shm.Object // 0: state, 1: success, 2: started
	Timeout time.Duration
}

// waitForFour is _test_waitfor_f, and with a timeout _test_waitfor_timeout_f.
var waitForFour = process.MustRegister("condvar-waitfor", func(ctx context.Context, a stateArgs) error {
	w := words{a.W}
	h := semaphore.NewHolder()
	w.at(2).Store(1)
	if err := a.C.Lock(ctx, h); err != nil {
		return err
	}
	defer a.C.Unlock(h)
	if a.Timeout == 0 {
		w.at(0).Store(0)
		if err := a.C.Notify(h, 1); err != nil {
			return err
		}
		if err := a.C.WaitFor(ctx, h, func() bool { return w.at(0).Load() == 4 }); err != nil {
			return err
		}
		if w.at(0).Load() != 4 {
			return fmt.Errorf("state %d", w.at(0).Load())
		}
		return nil
	}
	start := time.Now() // before the deadline is set: it may pass a hair after it
	wctx, cancel := context.WithTimeout(ctx, a.Timeout)
	defer cancel()
	err := a.C.WaitFor(wctx, h, func() bool { return w.at(0).Load() == 4 })
	if errors.Is(err, context.DeadlineExceeded) && time.Since(start) >= a.Timeout {
		w.at(1).Store(1)
	}
	return nil
})

func TestPythonWaitFor(t *testing.T) {
	ctx := shmtest.Deadline(t, 30*time.Second)
	shmtest.NeedProcesses(t)
	seg := anon(t)
	c, err := condvar.NewRCond(seg, "", nil, nil)
	must(t, err)
	defer c.Close()
	w := newWords(t, seg, 3)
	w.at(0).Store(^uint64(0)) // -1
	p := shmtest.Start(t, ctx, waitForFour, stateArgs{C: c, W: w.Object})
	locked(t, ctx, c, func(h semaphore.Holder) {
		must(t, c.WaitFor(ctx, h, func() bool { return w.at(0).Load() == 0 }))
		if w.at(0).Load() != 0 {
			t.Errorf("state = %d", w.at(0).Load())
		}
	})
	for range 4 {
		locked(t, ctx, c, func(h semaphore.Holder) {
			w.at(0).Add(1)
			must(t, c.Notify(h, 1))
		})
	}
	join(t, ctx, p)
}

func TestPythonWaitForTimeout(t *testing.T) {
	ctx := shmtest.Deadline(t, 30*time.Second)
	shmtest.NeedProcesses(t)
	seg := anon(t)
	c, err := condvar.NewRCond(seg, "", nil, nil)
	must(t, err)
	defer c.Close()
	w := newWords(t, seg, 3)
	p := shmtest.Start(t, ctx, waitForFour, stateArgs{C: c, W: w.Object, Timeout: timeout1})
	waitUntil(t, ctx, "the child", func() bool { return w.at(2).Load() == 1 })
	// Only three increments: state 4 is never reached.
	for range 3 {
		locked(t, ctx, c, func(h semaphore.Holder) {
			w.at(0).Add(1)
			must(t, c.Notify(h, 1))
		})
	}
	join(t, ctx, p)
	if w.at(1).Load() != 1 {
		t.Error("WaitFor with a timeout did not time out after the timeout")
	}
}

var notifyOnce = process.MustRegister("condvar-notify-once", func(ctx context.Context, c *condvar.RCond) error {
	h := semaphore.NewHolder()
	if err := c.Lock(ctx, h); err != nil {
		return err
	}
	if err := c.Notify(h, 1); err != nil {
		return err
	}
	return c.Unlock(h)
})

func TestPythonWaitResult(t *testing.T) {
	ctx := shmtest.Deadline(t, 30*time.Second)
	shmtest.NeedProcesses(t)
	c, err := condvar.NewRCond(anon(t), "", nil, nil)
	must(t, err)
	defer c.Close()
	locked(t, ctx, c, func(h semaphore.Holder) {
		if err := c.Wait(done(), h); !errors.Is(err, context.Canceled) {
			t.Errorf("wait(0) = %v, want Canceled (False)", err)
		}
		if err := c.Wait(timeout(t, timeout1), h); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("wait(0.1) = %v, want DeadlineExceeded (False)", err)
		}
		// We hold the lock: the child notifies once we wait.
		p := shmtest.Start(t, ctx, notifyOnce, c)
		if err := c.Wait(timeout(t, 60*time.Second), h); err != nil {
			t.Errorf("wait(60) = %v, want nil (True)", err)
		}
		join(t, ctx, p)
	})
}

// --- Condition: no lost wake-ups, and deaths. ---

type pingArgs struct {
	C    *condvar.Cond
	W    *shm.Object // 0: whose turn (0 or 1)
	Me   uint64
	N    int
	Spin time.Duration
}

// pingPong takes N turns with its partner, each handing the turn over
// with Notify(1): one lost wake-up and both wait forever.
func pingPong(ctx context.Context, a pingArgs) error {
	w := words{a.W}
	c := a.C
	if a.Spin != 0 {
		var err error
		if c, err = condvar.OpenCondHandle(a.C.Handle(), &condvar.Options{Spin: a.Spin}); err != nil {
			return err
		}
		defer c.Close()
	}
	for range a.N {
		if err := c.Lock(ctx); err != nil {
			return err
		}
		if err := c.WaitFor(ctx, func() bool { return w.at(0).Load() == a.Me }); err != nil {
			return err
		}
		w.at(0).Store(1 - a.Me)
		if err := c.Notify(1); err != nil {
			return err
		}
		if err := c.Unlock(); err != nil {
			return err
		}
	}
	return nil
}

var pinger = process.MustRegister("condvar-ping-pong", pingPong)

func TestCondPingPong(t *testing.T) {
	ctx := shmtest.Deadline(t, 60*time.Second)
	shmtest.NeedProcesses(t)
	for _, spin := range []time.Duration{0, -1} {
		seg := anon(t)
		c, err := condvar.NewCond(seg, "", nil, &condvar.Options{Spin: spin})
		must(t, err)
		defer c.Close()
		w := newWords(t, seg, 1)
		const n = 3000
		p := shmtest.Start(t, ctx, pinger, pingArgs{C: c, W: w.Object, Me: 1, N: n, Spin: spin})
		began := time.Now()
		if err := pingPong(ctx, pingArgs{C: c, W: w.Object, Me: 0, N: n}); err != nil {
			t.Fatal(err)
		}
		join(t, ctx, p)
		t.Logf("spin %v: %d round trips in %v", spin, n, time.Since(began))
	}
}

type bufArgs struct {
	NotEmpty, NotFull *condvar.Cond
	W                 *shm.Object // 0 head, 1 tail, 2 sum taken, 3 consumers done, 4.. the ring
	Items, Goroutines int
	Producer          bool
	Base              uint64
}

const ringCap = 4

// bufferWorker runs Goroutines producers or consumers on a bounded ring
// in shared memory, guarded by one lock and two Conds over it.
var bufferWorker = process.MustRegister("condvar-buffer", func(ctx context.Context, a bufArgs) error {
	w := words{a.W}
	errs := make(chan error, a.Goroutines)
	for g := range a.Goroutines {
		go func() {
			errs <- func() error {
				for i := range a.Items {
					if a.Producer {
						if err := a.NotFull.Lock(ctx); err != nil {
							return err
						}
						if err := a.NotFull.WaitFor(ctx, func() bool { return w.at(1).Load()-w.at(0).Load() < ringCap }); err != nil {
							return err
						}
						tail := w.at(1).Load()
						w.at(4 + int(tail%ringCap)).Store(a.Base + uint64(g*a.Items+i))
						w.at(1).Store(tail + 1)
						if err := a.NotEmpty.Notify(1); err != nil {
							return err
						}
						if err := a.NotFull.Unlock(); err != nil {
							return err
						}
						continue
					}
					if err := a.NotEmpty.Lock(ctx); err != nil {
						return err
					}
					if err := a.NotEmpty.WaitFor(ctx, func() bool { return w.at(1).Load() != w.at(0).Load() }); err != nil {
						return err
					}
					head := w.at(0).Load()
					w.at(2).Add(w.at(4 + int(head%ringCap)).Load())
					w.at(0).Store(head + 1)
					if err := a.NotFull.Notify(1); err != nil {
						return err
					}
					if err := a.NotEmpty.Unlock(); err != nil {
						return err
					}
				}
				return nil
			}()
		}()
	}
	for range a.Goroutines {
		if err := <-errs; err != nil {
			return err
		}
	}
	return nil
})

// TestCondBoundedBuffer: two producer and two consumer processes, three
// goroutines each, pass 12000 items through a ring of four slots with
// Notify(1) only.
func TestCondBoundedBuffer(t *testing.T) {
	ctx := shmtest.Deadline(t, 60*time.Second)
	shmtest.NeedProcesses(t)
	seg := anon(t)
	notEmpty, err := condvar.NewCond(seg, "", nil, nil)
	must(t, err)
	defer notEmpty.Close()
	notFull, err := condvar.NewCond(seg, "", notEmpty.Locker(), nil)
	must(t, err)
	defer notFull.Close()
	w := newWords(t, seg, 4+ringCap)
	const goroutines, items = 3, 1000
	var ps []*process.Process
	for i := range 2 {
		ps = append(ps,
			shmtest.Start(t, ctx, bufferWorker, bufArgs{NotEmpty: notEmpty, NotFull: notFull, W: w.Object, Items: items, Goroutines: goroutines, Producer: true, Base: uint64(i * goroutines * items)}),
			shmtest.Start(t, ctx, bufferWorker, bufArgs{NotEmpty: notEmpty, NotFull: notFull, W: w.Object, Items: items, Goroutines: goroutines}))
	}
	join(t, ctx, ps...)
	const total = 2 * goroutines * items
	if sum := w.at(2).Load(); sum != total*(total-1)/2 {
		t.Errorf("sum of the items taken = %d, want %d", sum, total*(total-1)/2)
	}
}

type waitOnceArgs struct {
	C    *condvar.Cond
	W    *shm.Object
	Slot int // word Slot: about to wait; word Slot+1: Wait's result (1 nil, 2 error)
}

// waitOnce waits once on the Cond, with no deadline of its own.
var waitOnce = process.MustRegister("condvar-wait-once", func(ctx context.Context, a waitOnceArgs) error {
	w := words{a.W}
	if err := a.C.Lock(ctx); err != nil {
		return err
	}
	w.at(a.Slot).Store(1)
	err := a.C.Wait(context.Background())
	if err != nil {
		w.at(a.Slot + 1).Store(2)
		return err
	}
	w.at(a.Slot + 1).Store(1)
	return a.C.Unlock()
})

// TestCondDeadWaitersSkipped: three processes wait; the first two are
// killed; Notify(1) wakes the third. The dead ones are counted first
// (their slots come first in Notify's walk), so a Notify that trusted the
// counts would give them the notification and wake nobody.
func TestCondDeadWaitersSkipped(t *testing.T) {
	ctx := shmtest.Deadline(t, 30*time.Second)
	shmtest.NeedProcesses(t)
	seg := anon(t)
	c, err := condvar.NewCond(seg, "", nil, nil)
	must(t, err)
	defer c.Close()
	w := newWords(t, seg, 6)
	var ps []*process.Process
	for i := range 3 {
		ps = append(ps, shmtest.Start(t, ctx, waitOnce, waitOnceArgs{C: c, W: w.Object, Slot: 2 * i}))
		waitUntil(t, ctx, "a waiter", func() bool { return w.at(2*i).Load() == 1 })
		// Taking the lock means the waiter let it go in Wait.
		must(t, c.Lock(ctx))
		if n, _ := c.Waiting(); n != i+1 {
			t.Fatalf("%d waiting, want %d", n, i+1)
		}
		must(t, c.Unlock())
	}
	kill(t, ctx, ps[0])
	kill(t, ctx, ps[1])
	must(t, c.Lock(ctx))
	must(t, c.Notify(1))
	// The dead ones' counts are cleared; the live one's notification is
	// in flight, or already taken.
	if n, f := c.Waiting(); n != 0 || f > 1 {
		t.Errorf("after Notify(1): %d waiting, %d in flight; want 0, at most 1", n, f)
	}
	must(t, c.Unlock())
	join(t, ctx, ps[2])
	if got := w.at(5).Load(); got != 1 {
		t.Errorf("the live waiter's Wait: %d, want 1 (nil)", got)
	}
	if n, f := c.Waiting(); n != 0 || f != 0 {
		t.Errorf("at the end: %d waiting, %d in flight", n, f)
	}
}

type holdArgs struct {
	C *condvar.Cond
	R *condvar.RCond
	W *shm.Object
}

// holdAndHang takes the condition's lock (notifying once, if R), says so
// in word 0, and waits to be killed.
var holdAndHang = process.MustRegister("condvar-hold-and-hang", func(ctx context.Context, a holdArgs) error {
	if a.C != nil {
		if err := a.C.Lock(ctx); err != nil {
			return err
		}
	} else {
		h := semaphore.NewHolder()
		if err := a.R.Lock(ctx, h); err != nil {
			return err
		}
		if err := a.R.Notify(h, 1); err != nil {
			return err
		}
	}
	words{a.W}.at(0).Store(1)
	<-ctx.Done() // never: killed
	return nil
})

// TestCondHolderDies: the holder of a Cond's lock dies; the next Lock
// takes it over and says so.
func TestCondHolderDies(t *testing.T) {
	ctx := shmtest.Deadline(t, 30*time.Second)
	shmtest.NeedProcesses(t)
	seg := anon(t)
	c, err := condvar.NewCond(seg, "", nil, nil)
	must(t, err)
	defer c.Close()
	w := newWords(t, seg, 1)
	p := shmtest.Start(t, ctx, holdAndHang, holdArgs{C: c, W: w.Object})
	waitUntil(t, ctx, "the holder", func() bool { return w.at(0).Load() == 1 })
	// Another process holds the lock: this one may neither wait nor notify.
	if err := c.Wait(ctx); !errors.Is(err, condvar.ErrNotHeld) {
		t.Errorf("Wait while another process holds the lock = %v, want ErrNotHeld", err)
	}
	if err := c.Notify(1); !errors.Is(err, condvar.ErrNotHeld) {
		t.Errorf("Notify while another process holds the lock = %v, want ErrNotHeld", err)
	}
	kill(t, ctx, p)
	if err := c.Lock(ctx); !errors.Is(err, condvar.ErrOwnerDead) {
		t.Fatalf("Lock after the holder died = %v, want ErrOwnerDead", err)
	}
	// Held, and working: a Wait with no time lets it go and takes it back.
	if err := c.Wait(done()); !errors.Is(err, context.Canceled) {
		t.Errorf("Wait = %v", err)
	}
	must(t, c.Unlock())
}

// TestRCondHolderDiesWhileWaiting: a goroutine waits at depth 2; another
// process takes the lock, notifies, and dies holding it. Wait takes the
// lock over, at depth 2, and reports ErrOwnerDead.
func TestRCondHolderDiesWhileWaiting(t *testing.T) {
	ctx := shmtest.Deadline(t, 30*time.Second)
	shmtest.NeedProcesses(t)
	seg := anon(t)
	c, err := condvar.NewRCond(seg, "", nil, nil)
	must(t, err)
	defer c.Close()
	w := newWords(t, seg, 1)
	h := semaphore.NewHolder()
	got := make(chan error, 1)
	go func() {
		for range 2 {
			if err := c.Lock(ctx, h); err != nil {
				got <- err
				return
			}
		}
		got <- c.Wait(ctx, h)
	}()
	waitUntil(t, ctx, "the waiter", func() bool { n, _ := c.Waiting(); return n == 1 })
	p := shmtest.Start(t, ctx, holdAndHang, holdArgs{R: c, W: w.Object})
	waitUntil(t, ctx, "the holder", func() bool { return w.at(0).Load() == 1 })
	kill(t, ctx, p)
	if err := <-got; !errors.Is(err, condvar.ErrOwnerDead) {
		t.Fatalf("Wait across the holder's death = %v, want ErrOwnerDead", err)
	}
	if d := c.Locker().Depth(h); d != 2 {
		t.Errorf("depth after the takeover = %d, want 2", d)
	}
	for range 2 {
		must(t, c.Unlock(h))
	}
}

// --- Event: _TestEvent. ---

var setEvent = process.MustRegister("condvar-set-event", func(ctx context.Context, e *condvar.Event) error {
	return e.Set()
})

type eventArgs struct {
	E *condvar.Event
	W *shm.Object // 0: children about to wait; 1: children that saw it set
}

var waitEvent = process.MustRegister("condvar-wait-event", func(ctx context.Context, a eventArgs) error {
	w := words{a.W}
	w.at(0).Add(1)
	if err := a.E.Wait(ctx); err != nil {
		return err
	}
	if !a.E.IsSet() {
		return errors.New("Wait returned, IsSet false")
	}
	w.at(1).Add(1)
	return nil
})

// TestPythonEvent is the rest of _TestEvent.test_event: a child sets, the
// parent's Wait returns.
func TestPythonEvent(t *testing.T) {
	ctx := shmtest.Deadline(t, 30*time.Second)
	shmtest.NeedProcesses(t)
	e, err := condvar.NewEvent(anon(t), "", nil)
	must(t, err)
	defer e.Close()
	p := shmtest.Start(t, ctx, setEvent, e)
	if err := e.Wait(ctx); err != nil {
		t.Errorf("Wait = %v", err)
	}
	join(t, ctx, p)
}

// TestEventWakesProcesses: four processes wait; one Set wakes all.
func TestEventWakesProcesses(t *testing.T) {
	ctx := shmtest.Deadline(t, 30*time.Second)
	shmtest.NeedProcesses(t)
	seg := anon(t)
	e, err := condvar.NewEvent(seg, "", nil)
	must(t, err)
	defer e.Close()
	w := newWords(t, seg, 2)
	var ps []*process.Process
	for range 4 {
		ps = append(ps, shmtest.Start(t, ctx, waitEvent, eventArgs{E: e, W: w.Object}))
	}
	waitUntil(t, ctx, "four waiters", func() bool { return w.at(0).Load() == 4 })
	must(t, e.Set())
	join(t, ctx, ps...)
	if n := w.at(1).Load(); n != 4 {
		t.Errorf("%d waiters saw the event set, want 4", n)
	}
}

// --- Barrier: _TestBarrier, across processes. ---

const nParties = 5 // _TestBarrier.N

type barrierArgs struct {
	B, B2    *condvar.Barrier
	W        *shm.Object
	Scenario string
	Passes   int
	Lock     *semaphore.Lock
}

// barrierParty runs one party's part of a scenario of _TestBarrier; the
// counters are words of W (Python's DummyLists).
func barrierParty(ctx context.Context, a barrierArgs) error {
	w := words{a.W}
	b := a.B
	isBroken := func(err error) bool { return errors.Is(err, condvar.ErrBrokenBarrier) }
	switch a.Scenario {
	case "multipass": // test_barrier, test_barrier_10
		m := uint64(b.Parties())
		for i := range uint64(a.Passes) {
			w.at(0).Add(1)
			if n := w.at(1).Load(); n != i*m {
				return fmt.Errorf("pass %d: results[1] = %d before the barrier", i, n)
			}
			if _, err := b.Wait(ctx); err != nil {
				return err
			}
			w.at(1).Add(1)
			if n := w.at(0).Load(); n != (i+1)*m {
				return fmt.Errorf("pass %d: results[0] = %d after the barrier", i, n)
			}
			if _, err := b.Wait(ctx); err != nil {
				return err
			}
		}
		if b.NWaiting() != 0 || b.Broken() {
			return fmt.Errorf("after: NWaiting %d, Broken %v", b.NWaiting(), b.Broken())
		}
	case "wait_return":
		i, err := b.Wait(ctx)
		if err != nil {
			return err
		}
		w.at(i).Add(1)
	case "action":
		b.SetAction(func() error { w.at(0).Add(1); return nil })
		if _, err := b.Wait(ctx); err != nil {
			return err
		}
		if n := w.at(0).Load(); n != 1 {
			return fmt.Errorf("action ran %d times before the release", n)
		}
	case "abort":
		i, err := b.Wait(ctx)
		if err == nil && i == nParties/2 {
			return b.Abort()
		}
		if err == nil {
			_, err = b.Wait(ctx)
		}
		switch {
		case err == nil:
			w.at(0).Add(1)
		case isBroken(err):
			w.at(1).Add(1)
		default:
			return err
		}
	case "reset":
		i, err := b.Wait(ctx)
		if err != nil {
			return err
		}
		if i == nParties/2 {
			// Wait until the others are all in the barrier.
			for b.NWaiting() < nParties-1 {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				time.Sleep(100 * time.Microsecond)
			}
			if err := b.Reset(); err != nil {
				return err
			}
		} else {
			switch _, err := b.Wait(ctx); {
			case err == nil:
				w.at(0).Add(1)
			case isBroken(err):
				w.at(1).Add(1)
			default:
				return err
			}
		}
		if _, err := b.Wait(ctx); err != nil {
			return err
		}
		w.at(2).Add(1)
	case "abort_and_reset":
		i, err := b.Wait(ctx)
		if err == nil && i == nParties/2 {
			if err := b.Abort(); err != nil {
				return err
			}
		} else {
			if err == nil {
				_, err = b.Wait(ctx)
			}
			switch {
			case err == nil:
				w.at(0).Add(1)
			case isBroken(err):
				w.at(1).Add(1)
			default:
				return err
			}
		}
		// Everyone has left b when barrier2 lets them through, and no
		// one enters it again before the reset.
		j, err := a.B2.Wait(ctx)
		if err != nil {
			return err
		}
		if j == nParties/2 {
			if err := b.Reset(); err != nil {
				return err
			}
		}
		if _, err := a.B2.Wait(ctx); err != nil {
			return err
		}
		if _, err := b.Wait(ctx); err != nil {
			return err
		}
		w.at(2).Add(1)
	case "timeout":
		i, err := b.Wait(ctx)
		if err != nil {
			return err
		}
		if i == nParties/2 {
			// One party is late: it comes once the others broke the
			// barrier by timing out (Python sleeps a second).
			for !b.Broken() {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				time.Sleep(time.Millisecond)
			}
		}
		wctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		defer cancel()
		if _, err := b.Wait(wctx); isBroken(err) {
			w.at(0).Add(1)
		} else {
			return fmt.Errorf("Wait(0.5) = %v, want ErrBrokenBarrier", err)
		}
	case "thousand":
		for i := range uint64(a.Passes) {
			if _, err := b.Wait(ctx); err != nil {
				return err
			}
			if err := a.Lock.Lock(ctx); err != nil {
				return err
			}
			n := w.at(0).Load()
			w.at(1 + int(n)).Store(i)
			w.at(0).Store(n + 1)
			if err := a.Lock.Unlock(); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("no scenario %q", a.Scenario)
	}
	return nil
}

var party = process.MustRegister("condvar-barrier-party", barrierParty)

// runParties runs a scenario in nParties-1 processes and this goroutine,
// as Python's run_threads does.
func runParties(t *testing.T, ctx context.Context, a barrierArgs) {
	t.Helper()
	var ps []*process.Process
	for range nParties - 1 {
		ps = append(ps, shmtest.Start(t, ctx, party, a))
	}
	if err := barrierParty(ctx, a); err != nil {
		t.Errorf("this process's party: %v", err)
	}
	join(t, ctx, ps...)
}

func barrierFixture(t *testing.T, parties int) (*condvar.Barrier, words) {
	t.Helper()
	seg := anon(t)
	b, err := condvar.NewBarrier(seg, "", parties, nil)
	must(t, err)
	t.Cleanup(func() { b.Close() })
	return b, newWords(t, seg, 16)
}

func TestPythonBarrier(t *testing.T) {
	for _, passes := range []int{1, 10} { // test_barrier, test_barrier_10
		t.Run(fmt.Sprint(passes), func(t *testing.T) {
			ctx := shmtest.Deadline(t, 30*time.Second)
			shmtest.NeedProcesses(t)
			b, w := barrierFixture(t, nParties)
			runParties(t, ctx, barrierArgs{B: b, W: w.Object, Scenario: "multipass", Passes: passes})
		})
	}
}

func TestPythonBarrierWaitReturn(t *testing.T) {
	ctx := shmtest.Deadline(t, 30*time.Second)
	shmtest.NeedProcesses(t)
	b, w := barrierFixture(t, nParties)
	runParties(t, ctx, barrierArgs{B: b, W: w.Object, Scenario: "wait_return"})
	// Python checks that one party got 0; each index is returned once.
	for i := range nParties {
		if n := w.at(i).Load(); n != 1 {
			t.Errorf("index %d returned %d times, want 1", i, n)
		}
	}
}

func TestPythonBarrierAction(t *testing.T) {
	ctx := shmtest.Deadline(t, 30*time.Second)
	shmtest.NeedProcesses(t)
	b, w := barrierFixture(t, nParties)
	runParties(t, ctx, barrierArgs{B: b, W: w.Object, Scenario: "action"})
	if n := w.at(0).Load(); n != 1 {
		t.Errorf("action ran %d times, want 1", n)
	}
}

func TestPythonBarrierAbort(t *testing.T) {
	ctx := shmtest.Deadline(t, 30*time.Second)
	shmtest.NeedProcesses(t)
	b, w := barrierFixture(t, nParties)
	runParties(t, ctx, barrierArgs{B: b, W: w.Object, Scenario: "abort"})
	if r1, r2 := w.at(0).Load(), w.at(1).Load(); r1 != 0 || r2 != nParties-1 {
		t.Errorf("passed %d, broken %d; want 0, %d", r1, r2, nParties-1)
	}
	if !b.Broken() {
		t.Error("not broken after Abort")
	}
}

func TestPythonBarrierReset(t *testing.T) {
	ctx := shmtest.Deadline(t, 30*time.Second)
	shmtest.NeedProcesses(t)
	b, w := barrierFixture(t, nParties)
	runParties(t, ctx, barrierArgs{B: b, W: w.Object, Scenario: "reset"})
	if r1, r2, r3 := w.at(0).Load(), w.at(1).Load(), w.at(2).Load(); r1 != 0 || r2 != nParties-1 || r3 != nParties {
		t.Errorf("results %d, %d, %d; want 0, %d, %d", r1, r2, r3, nParties-1, nParties)
	}
}

func TestPythonBarrierAbortAndReset(t *testing.T) {
	ctx := shmtest.Deadline(t, 30*time.Second)
	shmtest.NeedProcesses(t)
	b, w := barrierFixture(t, nParties)
	b2, err := condvar.NewBarrier(anon(t), "", nParties, nil)
	must(t, err)
	defer b2.Close()
	runParties(t, ctx, barrierArgs{B: b, B2: b2, W: w.Object, Scenario: "abort_and_reset"})
	if r1, r2, r3 := w.at(0).Load(), w.at(1).Load(), w.at(2).Load(); r1 != 0 || r2 != nParties-1 || r3 != nParties {
		t.Errorf("results %d, %d, %d; want 0, %d, %d", r1, r2, r3, nParties-1, nParties)
	}
}

// TestPythonBarrierTimeout is test_timeout. (test_default_timeout is the
// same with the timeout given to the barrier; here a context carries it.)
func TestPythonBarrierTimeout(t *testing.T) {
	ctx := shmtest.Deadline(t, 30*time.Second)
	shmtest.NeedProcesses(t)
	b, w := barrierFixture(t, nParties)
	runParties(t, ctx, barrierArgs{B: b, W: w.Object, Scenario: "timeout"})
	if n := w.at(0).Load(); n != nParties {
		t.Errorf("%d parties saw the barrier broken, want %d", n, nParties)
	}
}

func TestPythonBarrierThousand(t *testing.T) {
	ctx := shmtest.Deadline(t, 60*time.Second)
	shmtest.NeedProcesses(t)
	const passes = 1000
	seg := anon(t)
	b, err := condvar.NewBarrier(seg, "", nParties, nil)
	must(t, err)
	defer b.Close()
	lock, err := semaphore.NewLock(seg, "", nil)
	must(t, err)
	defer lock.Close()
	w := newWords(t, seg, 1+nParties*passes)
	var ps []*process.Process
	for range nParties {
		ps = append(ps, shmtest.Start(t, ctx, party, barrierArgs{B: b, W: w.Object, Scenario: "thousand", Passes: passes, Lock: lock}))
	}
	join(t, ctx, ps...)
	if n := w.at(0).Load(); n != nParties*passes {
		t.Fatalf("%d entries, want %d", n, nParties*passes)
	}
	for i := range passes {
		for j := range nParties {
			if got := w.at(1 + i*nParties + j).Load(); got != uint64(i) {
				t.Fatalf("entry %d = %d, want %d", i*nParties+j, got, i)
			}
		}
	}
}

// --- Barrier: deaths. ---

type deathArgs struct {
	B      *condvar.Barrier
	W      *shm.Object // 0: the action runs; 1: Wait's result (1 broken)
	Action bool
}

// waitAtBarrier waits once; with Action, its action says so and hangs.
var waitAtBarrier = process.MustRegister("condvar-barrier-wait", func(ctx context.Context, a deathArgs) error {
	w := words{a.W}
	if a.Action {
		a.B.SetAction(func() error {
			w.at(0).Store(1)
			<-ctx.Done() // never: killed
			return nil
		})
	}
	if _, err := a.B.Wait(ctx); errors.Is(err, condvar.ErrBrokenBarrier) {
		w.at(1).Store(1)
	} else {
		return fmt.Errorf("Wait = %v, want ErrBrokenBarrier", err)
	}
	return nil
})

// TestBarrierPartyDies: of four parties, three wait (one here, two in
// children) and one of the children is killed: the others get
// ErrBrokenBarrier. Python hangs here (gh-123899).
func TestBarrierPartyDies(t *testing.T) {
	ctx := shmtest.Deadline(t, 30*time.Second)
	shmtest.NeedProcesses(t)
	b, w := barrierFixture(t, 4)
	other := newWords(t, anon(t), 2)
	survivor := shmtest.Start(t, ctx, waitAtBarrier, deathArgs{B: b, W: other.Object})
	victim := shmtest.Start(t, ctx, waitAtBarrier, deathArgs{B: b, W: w.Object})
	var returned time.Time
	got := make(chan error, 1)
	go func() { _, err := b.Wait(ctx); returned = time.Now(); got <- err }()
	waitUntil(t, ctx, "three parties asleep", func() bool { return b.NWaiting() == 3 && b.Asleep() == 3 })
	killed := time.Now()
	kill(t, ctx, victim)
	if err := <-got; !errors.Is(err, condvar.ErrBrokenBarrier) {
		t.Fatalf("Wait across a party's death = %v, want ErrBrokenBarrier", err)
	}
	t.Logf("the barrier broke %v after the kill", returned.Sub(killed))
	// Not a speed check (it is about two Poll intervals): only that the
	// death was noticed by looking, not by the test's deadline.
	if d := returned.Sub(killed); d > 5*time.Second {
		t.Errorf("the barrier broke %v after the kill", d)
	}
	join(t, ctx, survivor)
	if other.at(1).Load() != 1 {
		t.Error("the other child did not see the barrier broken")
	}
	if !b.Broken() || b.Asleep() != 0 {
		t.Errorf("after: Broken %v, %d asleep", b.Broken(), b.Asleep())
	}
	// Reset repairs it, and the dead party breaks it no more.
	must(t, b.Reset())
	done := make(chan error, 3)
	for range 3 {
		go func() { _, err := b.Wait(ctx); done <- err }()
	}
	if _, err := b.Wait(ctx); err != nil {
		t.Errorf("Wait after Reset = %v", err)
	}
	for range 3 {
		must(t, <-done)
	}
}

// TestBarrierActionRunnerDies: the last party's action hangs and its
// process is killed: the party waiting here gets ErrBrokenBarrier.
func TestBarrierActionRunnerDies(t *testing.T) {
	ctx := shmtest.Deadline(t, 30*time.Second)
	shmtest.NeedProcesses(t)
	b, w := barrierFixture(t, 2)
	got := make(chan error, 1)
	var returned time.Time
	go func() { _, err := b.Wait(ctx); returned = time.Now(); got <- err }()
	waitUntil(t, ctx, "a party", func() bool { return b.NWaiting() == 1 })
	p := shmtest.Start(t, ctx, waitAtBarrier, deathArgs{B: b, W: w.Object, Action: true})
	waitUntil(t, ctx, "the action", func() bool { return w.at(0).Load() == 1 })
	killed := time.Now()
	kill(t, ctx, p)
	if err := <-got; !errors.Is(err, condvar.ErrBrokenBarrier) {
		t.Fatalf("Wait across the action runner's death = %v, want ErrBrokenBarrier", err)
	}
	t.Logf("the barrier broke %v after the kill", returned.Sub(killed))
	// Not a speed check (it is about two Poll intervals): only that the
	// death was noticed by looking, not by the test's deadline.
	if d := returned.Sub(killed); d > 5*time.Second {
		t.Errorf("the barrier broke %v after the kill", d)
	}
}
