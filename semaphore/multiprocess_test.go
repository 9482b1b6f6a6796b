package semaphore_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/process"
	"github.com/shmkit/shmkit/semaphore"
	"github.com/shmkit/shmkit/shm"
)

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

// plain returns the i-th word for plain, unsynchronized access: the lock
// under test is what orders it.
func (w words) plain(i int) *uint64 {
	b := w.UnsafeBytes()[8*i : 8*i+8]
	return (*uint64)(ptr(b))
}

// waitWord waits until word i holds want.
func waitWord(t *testing.T, ctx context.Context, w words, i int, want uint64) {
	t.Helper()
	for w.at(i).Load() != want {
		if ctx.Err() != nil {
			t.Fatalf("word %d = %d, waited for %d", i, w.at(i).Load(), want)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

type counterArgs struct {
	Lock *semaphore.Lock
	W    *shm.Object
	N    int
}

// increment adds 1 to a plain counter in shared memory N times under the
// lock: only mutual exclusion keeps the count exact.
var increment = process.MustRegister("sem-increment", func(ctx context.Context, a counterArgs) error {
	w := words{a.W}
	for range a.N {
		if err := a.Lock.Lock(ctx); err != nil {
			return err
		}
		p := w.plain(0)
		*p = *p + 1
		if err := a.Lock.Unlock(); err != nil {
			return err
		}
	}
	return nil
})

func TestLockFourProcesses(t *testing.T) {
	ctx := shmtest.Deadline(t, 120*time.Second)
	shmtest.NeedProcesses(t)
	const procs, each = 4, 100_000
	seg := anon(t)
	lock, err := semaphore.NewLock(seg, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	w := newWords(t, seg, 1)
	start := time.Now()
	var ps []*process.Process
	for range procs {
		p, err := process.Start(ctx, increment, counterArgs{Lock: lock, W: w.Object, N: each}, nil)
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	for _, p := range ps {
		if err := p.Join(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if got := *w.plain(0); got != procs*each {
		t.Errorf("counter = %d, want %d", got, procs*each)
	}
	t.Logf("%d processes × %d locked increments in %v", procs, each, time.Since(start))
}

type semArgs struct {
	Sem *semaphore.Counting
	W   *shm.Object
	N   int
}

// gauge counts the holders of the semaphore in word 0 and keeps the most
// it ever saw in word 1.
var gauge = process.MustRegister("sem-gauge", func(ctx context.Context, a semArgs) error {
	w := words{a.W}
	for range a.N {
		if err := a.Sem.Acquire(ctx); err != nil {
			return err
		}
		n := w.at(0).Add(1)
		for m := w.at(1).Load(); n > m && !w.at(1).CompareAndSwap(m, n); m = w.at(1).Load() {
		}
		time.Sleep(20 * time.Microsecond) // hold it while others come in
		if n := w.at(0).Load(); n > 3 {
			return fmt.Errorf("%d holders", n)
		}
		w.at(0).Add(^uint64(0))
		if err := a.Sem.Release(); err != nil {
			return err
		}
	}
	return nil
})

func TestSemaphoreAdmitsThree(t *testing.T) {
	ctx := shmtest.Deadline(t, 120*time.Second)
	shmtest.NeedProcesses(t)
	seg := anon(t)
	sem, err := semaphore.NewCounting(seg, "", 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sem.Close()
	w := newWords(t, seg, 2)
	var ps []*process.Process
	for range 6 {
		p, err := process.Start(ctx, gauge, semArgs{Sem: sem, W: w.Object, N: 1000}, nil)
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	for _, p := range ps {
		if err := p.Join(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if most := w.at(1).Load(); most != 3 {
		t.Errorf("most holders at once = %d, want 3", most)
	} else {
		t.Logf("most holders at once: %d", most)
	}
	if v := sem.Value(); v != 3 {
		t.Errorf("Value after = %d, want 3", v)
	}
}

type rlockArgs struct {
	R     *semaphore.RLock
	W     *shm.Object
	Depth int
}

// nested takes the RLock at every level of a recursion, signals the parent
// (word 0 = depth reached), waits for word 1, then unwinds. It also checks
// that it cannot unlock for a holder that does not hold it.
var nested = process.MustRegister("sem-nested", func(ctx context.Context, a rlockArgs) error {
	w := words{a.W}
	h := semaphore.NewHolder()
	var rec func(level int) error
	rec = func(level int) error {
		if err := a.R.Lock(ctx, h); err != nil {
			return err
		}
		defer a.R.Unlock(h)
		if got := a.R.Depth(h); got != level {
			return fmt.Errorf("depth %d at level %d", got, level)
		}
		if level < a.Depth {
			return rec(level + 1)
		}
		if err := a.R.Unlock(semaphore.NewHolder()); !errors.Is(err, semaphore.ErrNotOwner) {
			return fmt.Errorf("unlock by a non-owner holder = %v", err)
		}
		w.at(0).Store(uint64(level))
		for w.at(1).Load() == 0 {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			time.Sleep(100 * time.Microsecond)
		}
		return nil
	}
	return rec(1)
})

func TestRLockAcrossProcesses(t *testing.T) {
	ctx := shmtest.Deadline(t, 30*time.Second)
	shmtest.NeedProcesses(t)
	seg := anon(t)
	r, err := semaphore.NewRLock(seg, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	w := newWords(t, seg, 2)
	p, err := process.Start(ctx, nested, rlockArgs{R: r, W: w.Object, Depth: 5}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// P.1: the child is five levels deep.
	waitWord(t, ctx, w, 0, 5)
	// P.2: here, another process, the lock is taken, and ours to neither
	// take nor give.
	h := semaphore.NewHolder()
	if ok, err := r.TryLock(h); ok || err != nil {
		t.Errorf("TryLock while the child holds it = %v, %v", ok, err)
	}
	if err := r.Unlock(h); !errors.Is(err, semaphore.ErrNotOwner) {
		t.Errorf("Unlock of the child's lock = %v, want ErrNotOwner", err)
	}
	// P.3: the child unwinds; then the lock is ours.
	w.at(1).Store(1)
	if err := p.Join(ctx); err != nil {
		t.Fatal(err)
	}
	if err := r.Lock(ctx, h); err != nil {
		t.Errorf("Lock after the child unwound = %v", err)
	}
	r.Unlock(h)
}

type holdArgs struct {
	Lock *semaphore.Lock
	R    *semaphore.RLock
	B    *semaphore.Bounded
	W    *shm.Object
	N    int
}

// holdAndHang takes what it is given, says so in word 0, and waits to be
// killed.
var holdAndHang = process.MustRegister("sem-hold-and-hang", func(ctx context.Context, a holdArgs) error {
	switch {
	case a.Lock != nil:
		if err := a.Lock.Lock(ctx); err != nil {
			return err
		}
	case a.R != nil:
		h := semaphore.NewHolder()
		for range 3 {
			if err := a.R.Lock(ctx, h); err != nil {
				return err
			}
		}
	case a.B != nil:
		for range a.N {
			if err := a.B.Acquire(ctx); err != nil {
				return err
			}
		}
	}
	words{a.W}.at(0).Store(1)
	<-ctx.Done() // never: killed
	return nil
})

// startHolder starts holdAndHang and returns once it holds.
func startHolder(t *testing.T, ctx context.Context, a holdArgs) *process.Process {
	t.Helper()
	p := shmtest.Start(t, ctx, holdAndHang, a)
	waitWord(t, ctx, words{a.W}, 0, 1)
	return p
}

func kill(t *testing.T, ctx context.Context, p *process.Process) {
	t.Helper()
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := p.Join(ctx); err == nil {
		t.Fatal("killed holder exited 0")
	}
}

func TestLockOwnerDiesThenTryLock(t *testing.T) {
	ctx := shmtest.Deadline(t, 30*time.Second)
	shmtest.NeedProcesses(t)
	seg := anon(t)
	l, err := semaphore.NewLock(seg, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	w := newWords(t, seg, 1)
	p := startHolder(t, ctx, holdArgs{Lock: l, W: w.Object})
	if ok, err := l.TryLock(); ok || err != nil {
		t.Fatalf("TryLock while the holder lives = %v, %v", ok, err)
	}
	kill(t, ctx, p)
	ok, err := l.TryLock()
	if !ok || !errors.Is(err, semaphore.ErrOwnerDead) {
		t.Fatalf("TryLock after the holder died = %v, %v; want true, ErrOwnerDead", ok, err)
	}
	// The lock is ours, and works as before.
	if err := l.Unlock(); err != nil {
		t.Fatal(err)
	}
	if err := l.Lock(ctx); err != nil {
		t.Fatalf("Lock after repair = %v", err)
	}
	if err := l.Unlock(); err != nil {
		t.Fatal(err)
	}
}

func TestRLockOwnerDies(t *testing.T) {
	ctx := shmtest.Deadline(t, 30*time.Second)
	shmtest.NeedProcesses(t)
	seg := anon(t)
	r, err := semaphore.NewRLock(seg, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	w := newWords(t, seg, 1)
	p := startHolder(t, ctx, holdArgs{R: r, W: w.Object})
	kill(t, ctx, p)
	h := semaphore.NewHolder()
	if err := r.Lock(ctx, h); !errors.Is(err, semaphore.ErrOwnerDead) {
		t.Fatalf("Lock after the holder died = %v, want ErrOwnerDead", err)
	}
	if d := r.Depth(h); d != 1 {
		t.Errorf("Depth after takeover = %d, want 1 (the dead holder had 3)", d)
	}
	if err := r.Unlock(h); err != nil {
		t.Fatal(err)
	}
	if r.Locked() {
		t.Errorf("still locked after one Unlock")
	}
}

type waiterArgs struct {
	Lock *semaphore.Lock
	W    *shm.Object
	Slot int
}

// waiter locks (sleeping until the holder dies), records in word Slot what
// Lock returned (1 nil, 2 owner dead, 3 other) and when (word Slot+1), and
// unlocks.
var waiter = process.MustRegister("sem-waiter", func(ctx context.Context, a waiterArgs) error {
	w := words{a.W}
	w.at(a.Slot + 2).Store(1) // about to wait
	err := a.Lock.Lock(ctx)
	w.at(a.Slot + 1).Store(uint64(time.Now().UnixNano()))
	switch {
	case err == nil:
		w.at(a.Slot).Store(1)
	case errors.Is(err, semaphore.ErrOwnerDead):
		w.at(a.Slot).Store(2)
	default:
		w.at(a.Slot).Store(3)
		return err
	}
	return a.Lock.Unlock()
})

// TestLockOwnerDiesWhileOthersSleep kills the holder while two processes
// sleep in the futex: exactly one takes over with ErrOwnerDead, the other
// then gets the lock as usual.
func TestLockOwnerDiesWhileOthersSleep(t *testing.T) {
	ctx := shmtest.Deadline(t, 30*time.Second)
	shmtest.NeedProcesses(t)
	seg := anon(t)
	l, err := semaphore.NewLock(seg, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	w := newWords(t, seg, 1+2*3)
	holder := startHolder(t, ctx, holdArgs{Lock: l, W: w.Object})
	var ps []*process.Process
	for i := range 2 {
		p, err := process.Start(ctx, waiter, waiterArgs{Lock: l, W: w.Object, Slot: 1 + 3*i}, nil)
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
		waitWord(t, ctx, w, 1+3*i+2, 1)
	}
	time.Sleep(50 * time.Millisecond) // let them fall asleep; the test holds either way
	killed := time.Now()
	kill(t, ctx, holder)
	for _, p := range ps {
		if err := p.Join(ctx); err != nil {
			t.Fatal(err)
		}
	}
	r1, r2 := w.at(1).Load(), w.at(4).Load()
	if r1+r2 != 3 { // one 1 (nil), one 2 (owner dead)
		t.Fatalf("waiters got %d and %d; want one 1 (nil) and one 2 (ErrOwnerDead)", r1, r2)
	}
	first := time.Duration(min(int64(w.at(2).Load()), int64(w.at(5).Load())) - killed.UnixNano())
	t.Logf("death noticed %v after the kill", first)
	// The issue asks for 100 ms; sleepers poll every 10 ms. A bound ten
	// times the ask keeps a noisy machine from failing the test while
	// still catching a sleeper that never polls.
	if first > time.Second {
		t.Errorf("death noticed %v after the kill", first)
	}
	if l.Locked() {
		t.Errorf("lock held after both waiters unlocked")
	}
}

// TestBoundedRecoversDeadHolder: a process that dies holding two units of
// a Bounded(3) gives them back to the next waiter that finds none.
func TestBoundedRecoversDeadHolder(t *testing.T) {
	ctx := shmtest.Deadline(t, 30*time.Second)
	shmtest.NeedProcesses(t)
	seg := anon(t)
	b, err := semaphore.NewBounded(seg, "", 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	w := newWords(t, seg, 1)
	p := startHolder(t, ctx, holdArgs{B: b, W: w.Object, N: 2})
	if v := b.Value(); v != 1 {
		t.Fatalf("Value while the child holds 2 = %d, want 1", v)
	}
	kill(t, ctx, p)
	for i := range 3 {
		if err := b.Acquire(ctx); err != nil {
			t.Fatalf("Acquire %d after the holder died = %v", i, err)
		}
	}
	if b.TryAcquire() {
		t.Errorf("a fourth unit of a Bounded(3)")
	}
	for range 3 {
		if err := b.Release(); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Release(); !errors.Is(err, semaphore.ErrReleased) {
		t.Errorf("Release above the bound = %v, want ErrReleased", err)
	}
	if v := b.Value(); v != 3 {
		t.Errorf("Value = %d, want 3", v)
	}
}

// TestCountingLosesDeadUnits documents the difference: a Counting
// semaphore does not know who took a unit.
func TestCountingLosesDeadUnits(t *testing.T) {
	ctx := shmtest.Deadline(t, 30*time.Second)
	shmtest.NeedProcesses(t)
	seg := anon(t)
	c, err := semaphore.NewCounting(seg, "", 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	w := newWords(t, seg, 1)
	p, err := process.Start(ctx, takeOne, takeArgs{C: c, W: w.Object}, nil)
	if err != nil {
		t.Fatal(err)
	}
	waitWord(t, ctx, w, 0, 1)
	kill(t, ctx, p)
	short, cancel := context.WithTimeout(ctx, 3*semaphore.DefaultPoll)
	defer cancel()
	if err := c.Acquire(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Acquire after the taker died = %v, want DeadlineExceeded (units are lost)", err)
	}
}

type takeArgs struct {
	C *semaphore.Counting
	W *shm.Object
}

var takeOne = process.MustRegister("sem-take-one", func(ctx context.Context, a takeArgs) error {
	if err := a.C.Acquire(ctx); err != nil {
		return err
	}
	words{a.W}.at(0).Store(1)
	<-ctx.Done()
	return nil
})
