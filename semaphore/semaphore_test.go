package semaphore_test

import (
	"context"
	"errors"
	"testing"
	"time"

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

// Go counterparts of Python's _TestLock and _TestSemaphore
// (test/_test_multiprocessing.py).

func TestPythonLock(t *testing.T) {
	ctx := t.Context()
	lock, err := semaphore.NewLock(nil, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := lock.Lock(ctx); err != nil { // acquire() == True
		t.Fatalf("Lock = %v", err)
	}
	if ok, err := lock.TryLock(); ok || err != nil { // acquire(False) == False
		t.Errorf("TryLock on a held lock = %v, %v", ok, err)
	}
	if err := lock.Unlock(); err != nil { // release() == None
		t.Errorf("Unlock = %v", err)
	}
	if err := lock.Unlock(); !errors.Is(err, semaphore.ErrNotLocked) { // raises ValueError
		t.Errorf("second Unlock = %v, want ErrNotLocked", err)
	}
}

func TestPythonRLock(t *testing.T) {
	ctx := t.Context()
	lock, err := semaphore.NewRLock(nil, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	h := semaphore.NewHolder()
	for i := range 3 {
		if err := lock.Lock(ctx, h); err != nil {
			t.Fatalf("Lock %d = %v", i, err)
		}
	}
	if d := lock.Depth(h); d != 3 {
		t.Errorf("Depth = %d, want 3", d)
	}
	for i := range 3 {
		if err := lock.Unlock(h); err != nil {
			t.Fatalf("Unlock %d = %v", i, err)
		}
	}
	if err := lock.Unlock(h); !errors.Is(err, semaphore.ErrNotOwner) { // raises AssertionError
		t.Errorf("Unlock of a free RLock = %v, want ErrNotOwner", err)
	}
}

func checkSemaphore(t *testing.T, sem interface {
	Acquire(context.Context) error
	TryAcquire() bool
	Release() error
	Value() int
}) {
	t.Helper()
	ctx := t.Context()
	value := func(want int) {
		t.Helper()
		if v := sem.Value(); v != want {
			t.Fatalf("Value = %d, want %d", v, want)
		}
	}
	value(2)
	if err := sem.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	value(1)
	if err := sem.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	value(0)
	if sem.TryAcquire() {
		t.Fatalf("TryAcquire at 0 succeeded")
	}
	value(0)
	if err := sem.Release(); err != nil {
		t.Fatal(err)
	}
	value(1)
	if err := sem.Release(); err != nil {
		t.Fatal(err)
	}
	value(2)
}

func TestPythonSemaphore(t *testing.T) {
	sem, err := semaphore.NewCounting(nil, "", 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sem.Close()
	checkSemaphore(t, sem)
	for want := 3; want <= 4; want++ {
		if err := sem.Release(); err != nil || sem.Value() != want {
			t.Errorf("Release = %v, Value = %d; want %d", err, sem.Value(), want)
		}
	}
}

func TestPythonBoundedSemaphore(t *testing.T) {
	sem, err := semaphore.NewBounded(nil, "", 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sem.Close()
	checkSemaphore(t, sem)
	// Python skips this on macOS; we have it everywhere.
	if err := sem.Release(); !errors.Is(err, semaphore.ErrReleased) || sem.Value() != 2 {
		t.Errorf("Release at the bound = %v, Value %d; want ErrReleased, 2", err, sem.Value())
	}
	if sem.Bound() != 2 {
		t.Errorf("Bound = %d", sem.Bound())
	}
}

// TestPythonTimeout is _TestSemaphore.test_timeout: a blocking acquire with
// a timeout returns when the time is up, a non-blocking one at once.
func TestPythonTimeout(t *testing.T) {
	sem, err := semaphore.NewCounting(nil, "", 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sem.Close()
	start := time.Now()
	if sem.TryAcquire() {
		t.Fatal("TryAcquire at 0 succeeded")
	}
	for _, d := range []time.Duration{100 * time.Millisecond, 300 * time.Millisecond} {
		start = time.Now()
		ctx, cancel := context.WithTimeout(t.Context(), d)
		err := sem.Acquire(ctx)
		took := time.Since(start)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Acquire with timeout %v = %v, want DeadlineExceeded", d, err)
		}
		// Not a speed check: only that the timeout was honoured, neither
		// cut short nor ignored (a generous bound for a noisy machine).
		if took < d || took > d+5*time.Second {
			t.Errorf("Acquire with timeout %v took %v", d, took)
		}
	}
}

func TestBadInput(t *testing.T) {
	seg := anon(t)
	for _, v := range []int{-1, semaphore.MaxValue + 1} {
		if _, err := semaphore.NewCounting(seg, "", v, nil); !errors.Is(err, semaphore.ErrValue) {
			t.Errorf("NewCounting(%d) = %v, want ErrValue", v, err)
		}
		if _, err := semaphore.NewBounded(seg, "", v, nil); !errors.Is(err, semaphore.ErrValue) {
			t.Errorf("NewBounded(%d) = %v, want ErrValue", v, err)
		}
	}
	l, err := semaphore.NewLock(seg, "the-lock", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	// Opening a handle or a name of another kind.
	if _, err := semaphore.OpenRLockHandle(l.Handle(), nil); !errors.Is(err, shm.ErrKind) {
		t.Errorf("OpenRLockHandle(lock) = %v, want ErrKind", err)
	}
	if _, err := semaphore.OpenCounting(seg, "the-lock", nil); !errors.Is(err, shm.ErrKind) {
		t.Errorf("OpenCounting(lock's name) = %v, want ErrKind", err)
	}
	if _, err := semaphore.OpenLock(seg, "nothing", nil); !errors.Is(err, shm.ErrObjectNotExist) {
		t.Errorf("OpenLock(missing) = %v, want ErrObjectNotExist", err)
	}
	if _, err := semaphore.NewLock(nil, "named-without-segment", nil); !errors.Is(err, shm.ErrName) {
		t.Errorf("NewLock(nil, name) = %v, want ErrName", err)
	}
	// Misuse of an RLock.
	r, err := semaphore.NewRLock(seg, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	a, b := semaphore.NewHolder(), semaphore.NewHolder()
	if err := r.Lock(t.Context(), 0); !errors.Is(err, semaphore.ErrNotOwner) {
		t.Errorf("Lock(zero holder) = %v, want ErrNotOwner", err)
	}
	if err := r.Lock(t.Context(), a); err != nil {
		t.Fatal(err)
	}
	if err := r.Unlock(b); !errors.Is(err, semaphore.ErrNotOwner) {
		t.Errorf("Unlock by a non-owner = %v, want ErrNotOwner", err)
	}
	if ok, err := r.TryLock(b); ok || err != nil {
		t.Errorf("TryLock by another holder = %v, %v", ok, err)
	}
	if err := r.Unlock(a); err != nil {
		t.Error(err)
	}
	// After Close.
	l2, _ := semaphore.OpenLock(seg, "the-lock", nil)
	l2.Close()
	if err := l2.Lock(t.Context()); !errors.Is(err, semaphore.ErrClosed) {
		t.Errorf("Lock after Close = %v, want ErrClosed", err)
	}
	if err := l2.Close(); !errors.Is(err, semaphore.ErrClosed) {
		t.Errorf("second Close = %v, want ErrClosed", err)
	}
}

// TestOpenByName shares one lock through two handles of one named segment.
func TestOpenByName(t *testing.T) {
	name := shmtest.Name(t)
	seg, err := shm.Create(name, 1<<16, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { seg.Close(); shm.Remove(name) }()
	a, err := semaphore.NewLock(seg, "mutex", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	other, err := shm.Open(name, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	b, err := semaphore.OpenLock(other, "mutex", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := a.Lock(t.Context()); err != nil {
		t.Fatal(err)
	}
	if ok, err := b.TryLock(); ok || err != nil {
		t.Errorf("TryLock through the other attachment = %v, %v", ok, err)
	}
	if err := b.Unlock(); err != nil { // any holder may unlock, as in Python
		t.Errorf("Unlock through the other attachment = %v", err)
	}
	if a.Locked() {
		t.Errorf("still locked")
	}
}

// TestGoroutines hammers one lock from many goroutines of this process.
func TestGoroutines(t *testing.T) {
	l, err := semaphore.NewLock(anon(t), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx := shmtest.Deadline(t, 30*time.Second)
	const goroutines, each = 8, 2000
	counter := 0 // Go memory: the race detector checks the lock's edges
	done := make(chan error)
	for range goroutines {
		go func() {
			for range each {
				if err := l.Lock(ctx); err != nil {
					done <- err
					return
				}
				counter++
				if err := l.Unlock(); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for range goroutines {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if counter != goroutines*each {
		t.Errorf("counter = %d, want %d", counter, goroutines*each)
	}
}
