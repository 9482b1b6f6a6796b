package value_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/process"
	"github.com/shmkit/shmkit/semaphore"
	"github.com/shmkit/shmkit/shm"
	"github.com/shmkit/shmkit/value"
)

func TestMain(m *testing.M) { shmtest.Main(m) }

func anon(t testing.TB) *shm.Segment {
	t.Helper()
	s, err := shm.New(1<<20, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// The values of Python's _TestValue: code, initial, set by the child.
type pyValues struct {
	I *value.Of[int32]   // 'i' 4343 → 24234
	D *value.Of[float64] // 'd' 3.625 → -4.25
	H *value.Of[int16]   // 'h' -232 → 234
	Q *value.Of[int64]   // 'q' 2**33 → 2**34
	C *value.Of[byte]    // 'c' 'x' → 'y'
}

var setValues = process.MustRegister("value-set", func(ctx context.Context, v pyValues) error {
	return errors.Join(v.I.Store(ctx, 24234), v.D.Store(ctx, -4.25), v.H.Store(ctx, 234),
		v.Q.Store(ctx, 1<<34), v.C.Store(ctx, 'y'))
})

func testPythonValue(t *testing.T, raw bool) {
	ctx := shmtest.Deadline(t, 30*time.Second)
	shmtest.NeedProcesses(t)
	seg := anon(t)
	opts := &value.Options{Raw: raw}
	var v pyValues
	var err error
	v.I, err = value.New[int32](seg, "", 4343, opts)
	must(t, err)
	v.D, err = value.New(seg, "", 3.625, opts)
	must(t, err)
	v.H, err = value.New[int16](seg, "", -232, opts)
	must(t, err)
	v.Q, err = value.New[int64](seg, "", 1<<33, opts)
	must(t, err)
	v.C, err = value.New(seg, "", byte('x'), opts)
	must(t, err)
	check := func(i int32, d float64, h int16, q int64, c byte) {
		t.Helper()
		gi, _ := v.I.Load(ctx)
		gd, _ := v.D.Load(ctx)
		gh, _ := v.H.Load(ctx)
		gq, _ := v.Q.Load(ctx)
		gc, _ := v.C.Load(ctx)
		if gi != i || gd != d || gh != h || gq != q || gc != c {
			t.Errorf("values %v %v %v %v %q; want %v %v %v %v %q", gi, gd, gh, gq, gc, i, d, h, q, c)
		}
	}
	check(4343, 3.625, -232, 1<<33, 'x')
	p, err := process.Start(ctx, setValues, v, nil)
	must(t, err)
	must(t, p.Join(ctx))
	check(24234, -4.25, 234, 1<<34, 'y')
}

func TestPythonValue(t *testing.T)    { testPythonValue(t, false) }
func TestPythonRawValue(t *testing.T) { testPythonValue(t, true) }

// TestPythonGetObjGetLock is _TestValue.test_getobj_getlock.
func TestPythonGetObjGetLock(t *testing.T) {
	seg := anon(t)
	v1, err := value.New[int32](seg, "", 5, nil)
	must(t, err)
	if v1.Lock() == nil || *v1.UnsafePointer() != 5 {
		t.Errorf("a locked value has lock %v and object %d", v1.Lock(), *v1.UnsafePointer())
	}
	lock, err := semaphore.NewLock(seg, "", nil)
	must(t, err)
	v3, err := value.New[int32](seg, "", 5, &value.Options{Lock: lock})
	must(t, err)
	if v3.Lock() != lock {
		t.Errorf("Lock() is not the lock given")
	}
	// Opened again, it finds the same lock in shared memory.
	v3b, err := value.OpenHandle[int32](v3.Handle(), nil)
	must(t, err)
	if v3b.Lock().Handle() != lock.Handle() {
		t.Errorf("reopened value has lock %v, want %v", v3b.Lock().Handle(), lock.Handle())
	}
	v4, err := value.New[int32](seg, "", 5, &value.Options{Raw: true})
	must(t, err)
	if v4.Lock() != nil {
		t.Errorf("a raw value has a lock")
	}
	other, err := shm.New(1<<16, nil)
	must(t, err)
	defer other.Close()
	if _, err := value.New[int32](other, "", 5, &value.Options{Lock: lock}); !errors.Is(err, shm.ErrHandle) {
		t.Errorf("a lock of another segment = %v, want ErrHandle", err)
	}
}

type counterArgs struct {
	V *value.Of[int64]
	N int
}

var lockedIncrement = process.MustRegister("value-locked-increment", func(ctx context.Context, a counterArgs) error {
	for range a.N {
		if err := a.V.Update(ctx, func(p *int64) { *p++ }); err != nil {
			return err
		}
	}
	return nil
})

var atomicIncrement = process.MustRegister("value-atomic-increment", func(ctx context.Context, a counterArgs) error {
	for range a.N {
		if _, err := value.Add(a.V, 1); err != nil {
			return err
		}
	}
	return nil
})

func runAll(t *testing.T, ctx context.Context, n int, start func() (*process.Process, error)) {
	t.Helper()
	var ps []*process.Process
	for range n {
		p, err := start()
		must(t, err)
		ps = append(ps, p)
	}
	for _, p := range ps {
		must(t, p.Join(ctx))
	}
}

func TestLockedIncrementsFourProcesses(t *testing.T) {
	ctx := shmtest.Deadline(t, 120*time.Second)
	shmtest.NeedProcesses(t)
	v, err := value.New[int64](anon(t), "", 0, nil)
	must(t, err)
	runAll(t, ctx, 4, func() (*process.Process, error) {
		return process.Start(ctx, lockedIncrement, counterArgs{V: v, N: 100_000}, nil)
	})
	if got, err := v.Load(ctx); got != 400_000 || err != nil {
		t.Errorf("value = %d, %v; want 400000", got, err)
	}
}

func TestAtomicAddFourProcesses(t *testing.T) {
	ctx := shmtest.Deadline(t, 120*time.Second)
	shmtest.NeedProcesses(t)
	v, err := value.New[int64](anon(t), "", 0, &value.Options{Raw: true})
	must(t, err)
	runAll(t, ctx, 4, func() (*process.Process, error) {
		return process.Start(ctx, atomicIncrement, counterArgs{V: v, N: 100_000}, nil)
	})
	if got, err := value.AtomicLoad(v); got != 400_000 || err != nil {
		t.Errorf("value = %d, %v; want 400000", got, err)
	}
}

func TestAtomics(t *testing.T) {
	v32, err := value.New[int32](anon(t), "", -5, nil)
	must(t, err)
	if n, _ := value.Add(v32, -3); n != -8 {
		t.Errorf("Add(-5, -3) = %d", n)
	}
	if ok, _ := value.CompareAndSwap(v32, -8, 7); !ok {
		t.Errorf("CompareAndSwap(-8, 7) failed")
	}
	if ok, _ := value.CompareAndSwap(v32, -8, 9); ok {
		t.Errorf("CompareAndSwap of a stale value succeeded")
	}
	if old, _ := value.Swap(v32, 11); old != 7 {
		t.Errorf("Swap returned %d, want 7", old)
	}
	must(t, value.AtomicStore(v32, 12))
	if x, _ := v32.Load(t.Context()); x != 12 {
		t.Errorf("Load after AtomicStore = %d", x)
	}
	type count uint64
	vc, err := value.New[count](anon(t), "", ^count(0), nil)
	must(t, err)
	if n, _ := value.Add(vc, 2); n != 1 {
		t.Errorf("uint64 wraps to %d, want 1", n)
	}
	v32.Close()
	if _, err := value.Add(v32, 1); !errors.Is(err, shm.ErrClosed) {
		t.Errorf("Add after Close = %v", err)
	}
}

type point struct {
	X, Y float64
	N    int32
	Tag  [8]byte
}

var movePoint = process.MustRegister("value-move-point", func(ctx context.Context, v *value.Of[point]) error {
	return v.Update(ctx, func(p *point) {
		p.X, p.Y, p.N = p.Y, p.X, p.N*2
		copy(p.Tag[:], "moved")
	})
})

func TestStructRoundTrip(t *testing.T) {
	ctx := shmtest.Deadline(t, 30*time.Second)
	shmtest.NeedProcesses(t)
	v, err := value.New(anon(t), "", point{X: 1.5, Y: -2, N: 21}, nil)
	must(t, err)
	p, err := process.Start(ctx, movePoint, v, nil)
	must(t, err)
	must(t, p.Join(ctx))
	got, err := v.Load(ctx)
	want := point{X: -2, Y: 1.5, N: 42}
	copy(want.Tag[:], "moved")
	if got != want || err != nil {
		t.Errorf("point = %+v, %v; want %+v", got, err, want)
	}
}

func TestBadInput(t *testing.T) {
	name := shmtest.Name(t)
	seg, err := shm.Create(name, 1<<16, nil)
	must(t, err)
	defer func() { seg.Close(); shm.Remove(name) }()
	v, err := value.New(seg, "pi", 3.14, nil)
	must(t, err)
	defer v.Close()
	if _, err := value.Open[int64](seg, "pi", nil); !errors.Is(err, shm.ErrType) {
		t.Errorf("Open[int64] of a float64 = %v, want ErrType", err)
	}
	if _, err := value.Open[float32](seg, "pi", nil); !errors.Is(err, shm.ErrType) {
		t.Errorf("Open[float32] of a float64 = %v, want ErrType", err)
	}
	if _, err := value.OpenHandle[float64](v.Lock().Handle(), nil); !errors.Is(err, shm.ErrKind) {
		t.Errorf("OpenHandle of its lock = %v, want ErrKind", err)
	}
	type bad struct {
		N    int
		Name string
	}
	if _, err := value.New(seg, "", bad{}, nil); !errors.Is(err, shm.ErrType) || !strings.Contains(err.Error(), "Name") {
		t.Errorf("New of a struct with a string = %v, want ErrType naming the field", err)
	}
	if _, err := value.New(seg, "", struct{}{}, nil); !errors.Is(err, shm.ErrType) {
		t.Errorf("New of an empty struct = %v, want ErrType", err)
	}
	if _, err := value.New(seg, "pi", 1.0, nil); !errors.Is(err, shm.ErrObjectExist) {
		t.Errorf("New with a taken name = %v", err)
	}
	// Opened by name from another attachment, it is the same value.
	other, err := shm.Open(name, nil)
	must(t, err)
	defer other.Close()
	w, err := value.Open[float64](other, "pi", nil)
	must(t, err)
	defer w.Close()
	must(t, w.Store(t.Context(), 2.72))
	if x, _ := v.Load(t.Context()); x != 2.72 {
		t.Errorf("value through the first attachment = %v", x)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// dieHolding takes the value's lock, half-writes the value, and dies.
var dieHolding = process.MustRegister("value-die-holding", func(ctx context.Context, v *value.Of[point]) error {
	if err := v.Lock().Lock(ctx); err != nil {
		return err
	}
	v.UnsafePointer().X = 99 // ...and never gets to Y
	os.Exit(3)
	return nil
})

// TestHolderDies: a process that dies holding a value's lock is reported to
// the next locked call, which still does its work.
func TestHolderDies(t *testing.T) {
	ctx := shmtest.Deadline(t, 30*time.Second)
	shmtest.NeedProcesses(t)
	v, err := value.New(anon(t), "", point{X: 1, Y: 1}, nil)
	must(t, err)
	p, err := process.Start(ctx, dieHolding, v, nil)
	must(t, err)
	if err := p.Join(ctx); err == nil {
		t.Fatal("child exited 0")
	}
	got, err := v.Load(ctx)
	if !errors.Is(err, semaphore.ErrOwnerDead) || got.X != 99 {
		t.Fatalf("Load after the holder died = %+v, %v; want the half-written value and ErrOwnerDead", got, err)
	}
	must(t, v.Store(ctx, point{X: 2, Y: 2})) // repaired; the lock works as before
	if got, err := v.Load(ctx); err != nil || got.X != 2 {
		t.Errorf("Load after repair = %+v, %v", got, err)
	}
}
