package array_test

import (
	"context"
	"encoding/binary"
	"errors"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shmkit/shmkit/array"
	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/process"
	"github.com/shmkit/shmkit/shm"
)

func TestMain(m *testing.M) { shmtest.Main(m) }

func anon(t testing.TB) *shm.Segment {
	t.Helper()
	s, err := shm.New(16<<20, nil)
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

// prefixSums is Python's _TestArray.f: seq[i] += seq[i-1], under the lock.
var prefixSums = process.MustRegister("array-prefix-sums", func(ctx context.Context, a *array.Of[int32]) error {
	return a.Do(ctx, func(s []int32) error {
		for i := 1; i < len(s); i++ {
			s[i] += s[i-1]
		}
		return nil
	})
})

func testPythonArray(t *testing.T, raw bool) {
	ctx := shmtest.Deadline(t, 30*time.Second)
	shmtest.NeedProcesses(t)
	seq := []int32{680, 626, 934, 821, 150, 233, 548, 982, 714, 831}
	arr, err := array.From(anon(t), "", seq, &array.Options{Raw: raw})
	must(t, err)
	if arr.Len() != len(seq) {
		t.Fatalf("Len = %d", arr.Len())
	}
	if x, err := arr.Get(ctx, 3); x != seq[3] || err != nil {
		t.Errorf("arr[3] = %d, %v", x, err)
	}
	part := make([]int32, 5)
	must(t, arr.ReadAt(ctx, part, 2))
	if !slices.Equal(part, seq[2:7]) {
		t.Errorf("arr[2:7] = %v", part)
	}
	copy(seq[4:8], []int32{1, 2, 3, 4})
	must(t, arr.WriteAt(ctx, []int32{1, 2, 3, 4}, 4))
	all := make([]int32, len(seq))
	must(t, arr.ReadAt(ctx, all, 0))
	if !slices.Equal(all, seq) {
		t.Errorf("arr[:] = %v, want %v", all, seq)
	}
	for i := 1; i < len(seq); i++ {
		seq[i] += seq[i-1]
	}
	p, err := process.Start(ctx, prefixSums, arr, nil)
	must(t, err)
	must(t, p.Join(ctx))
	must(t, arr.ReadAt(ctx, all, 0))
	if !slices.Equal(all, seq) {
		t.Errorf("after the child: %v, want %v", all, seq)
	}
}

func TestPythonArray(t *testing.T)    { testPythonArray(t, false) }
func TestPythonRawArray(t *testing.T) { testPythonArray(t, true) }

// TestPythonArrayFromSize is test_array_from_size: new arrays are zero.
func TestPythonArrayFromSize(t *testing.T) {
	seg := anon(t)
	for range 3 {
		arr, err := array.New[int32](seg, "", 10, nil)
		must(t, err)
		if arr.Len() != 10 || !slices.Equal(arr.UnsafeSlice(), make([]int32, 10)) {
			t.Errorf("new array = %v", arr.UnsafeSlice())
		}
		must(t, arr.Do(t.Context(), func(s []int32) error {
			for i := range s {
				s[i] = int32(i)
			}
			return nil
		}))
		if !slices.Equal(arr.UnsafeSlice(), []int32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}) {
			t.Errorf("after filling: %v", arr.UnsafeSlice())
		}
		arr.Close()
	}
}

// TestPythonGetObjGetLock is test_getobj_getlock_obj.
func TestPythonGetObjGetLock(t *testing.T) {
	seg := anon(t)
	a1, err := array.New[int32](seg, "", 10, nil)
	must(t, err)
	if a1.Lock() == nil || len(a1.UnsafeSlice()) != 10 {
		t.Errorf("a locked array has no lock, or a wrong slice")
	}
	a4, err := array.New[int32](seg, "", 10, &array.Options{Raw: true})
	must(t, err)
	if a4.Lock() != nil {
		t.Errorf("a raw array has a lock")
	}
}

var fill = process.MustRegister("array-fill", func(ctx context.Context, a *array.Of[float64]) error {
	s := a.UnsafeSlice()
	for i := range s {
		s[i] = float64(i) * 0.5
	}
	return nil
})

func TestChildFillsMillion(t *testing.T) {
	ctx := shmtest.Deadline(t, 60*time.Second)
	shmtest.NeedProcesses(t)
	const n = 1_000_000
	arr, err := array.New[float64](anon(t), "", n, &array.Options{Raw: true})
	must(t, err)
	p, err := process.Start(ctx, fill, arr, nil)
	must(t, err)
	must(t, p.Join(ctx))
	var sum float64
	for _, x := range arr.UnsafeSlice() {
		sum += x
	}
	if want := 0.5 * float64(n-1) * float64(n) / 2; sum != want {
		t.Errorf("sum = %v, want %v", sum, want)
	}
}

func TestBadInput(t *testing.T) {
	ctx := t.Context()
	seg := anon(t)
	arr, err := array.New[int64](seg, "a", 4, nil)
	must(t, err)
	for _, i := range []int{-1, 4, 1 << 40} {
		if _, err := arr.Get(ctx, i); !errors.Is(err, array.ErrIndex) {
			t.Errorf("Get(%d) = %v, want ErrIndex", i, err)
		}
		if err := arr.Set(ctx, i, 1); !errors.Is(err, array.ErrIndex) {
			t.Errorf("Set(%d) = %v, want ErrIndex", i, err)
		}
	}
	if err := arr.ReadAt(ctx, make([]int64, 5), 0); !errors.Is(err, array.ErrIndex) {
		t.Errorf("ReadAt of 5 from 4 = %v, want ErrIndex", err)
	}
	if err := arr.WriteAt(ctx, make([]int64, 2), 3); !errors.Is(err, array.ErrIndex) {
		t.Errorf("WriteAt past the end = %v, want ErrIndex", err)
	}
	if err := arr.WriteAt(ctx, make([]int64, 2), -1); !errors.Is(err, array.ErrIndex) {
		t.Errorf("WriteAt at -1 = %v, want ErrIndex", err)
	}
	for _, n := range []int{0, -1, 1 << 62} {
		if _, err := array.New[int64](seg, "", n, nil); !errors.Is(err, shm.ErrSize) {
			t.Errorf("New(%d) = %v, want ErrSize", n, err)
		}
	}
	if _, err := array.New[int64](nil, "", 1<<38, nil); !errors.Is(err, shm.ErrSize) {
		t.Errorf("New of 2 TiB = %v, want ErrSize", err)
	}
	if _, err := array.From[int64](seg, "", nil, nil); !errors.Is(err, shm.ErrSize) {
		t.Errorf("From(nil) = %v, want ErrSize", err)
	}
	if _, err := array.Open[uint64](seg, "a", nil); !errors.Is(err, shm.ErrType) {
		t.Errorf("Open[uint64] of an int64 array = %v, want ErrType", err)
	}
	if _, err := array.New[*int](seg, "", 1, nil); !errors.Is(err, shm.ErrType) {
		t.Errorf("New[*int] = %v, want ErrType", err)
	}
	if _, err := array.New[[]byte](seg, "", 1, nil); !errors.Is(err, shm.ErrType) {
		t.Errorf("New[[]byte] = %v, want ErrType", err)
	}
	arr.Close()
	if _, err := arr.Get(ctx, 0); !errors.Is(err, shm.ErrClosed) {
		t.Errorf("Get after Close = %v, want ErrClosed", err)
	}
}

// TestPythonInterop: python3 attaches to a named segment with
// multiprocessing.shared_memory, reads the float64 elements a Go process
// wrote, and writes some back.
func TestPythonInterop(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not on the PATH: the interop test needs it (.ci/run installs it)")
	}
	if runtime.GOOS == "windows" {
		shmtest.SkipUnsupported(t, "Python interop (Python's shared_memory names kernel mappings there, not files)")
	}
	ctx := shmtest.Deadline(t, 60*time.Second)
	name := shmtest.Name(t)
	seg, err := shm.Create(name, 1<<20, nil)
	must(t, err)
	defer func() { seg.Close(); shm.Remove(name) }()
	arr, err := array.New[float64](seg, "data", 1000, &array.Options{Raw: true})
	must(t, err)
	defer arr.Close()
	var want float64
	for i := range arr.UnsafeSlice() {
		arr.UnsafeSlice()[i] = float64(i) * 1.5
		want += float64(i) * 1.5
	}
	out, err := exec.CommandContext(ctx, py, filepath.Join("testdata", "read_array.py"), seg.Name(), "data").CombinedOutput()
	if err != nil {
		t.Fatalf("python3: %v\n%s", err, out)
	}
	got, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	if err != nil || got != want {
		t.Errorf("python3 read a sum of %q, want %v", out, want)
	}
	for i := range 10 {
		if x := arr.UnsafeSlice()[i]; x != -float64(i) {
			t.Errorf("element %d = %v after python3 wrote %v", i, x, -float64(i))
		}
	}
	if x := arr.UnsafeSlice()[10]; x != 15 {
		t.Errorf("element 10 = %v, python3 should not have touched it", x)
	}
}

// TestPayloadLayout pins the typed payload of docs/layout.md ("Payloads"):
// lock offset at 0, length at 8, elements at 64.
func TestPayloadLayout(t *testing.T) {
	seg := anon(t)
	arr, err := array.From(seg, "", []int32{7, -8, 9}, nil)
	must(t, err)
	defer arr.Close()
	objs := arr.ShmObjects() // the lock, then the array
	b := objs[1].UnsafeBytes()
	le := binary.LittleEndian
	if le.Uint64(b[0:]) != arr.Lock().Handle().Offset || le.Uint64(b[8:]) != 3 {
		t.Errorf("lock offset %d (want %d), length %d", le.Uint64(b[0:]), arr.Lock().Handle().Offset, le.Uint64(b[8:]))
	}
	if int32(le.Uint32(b[64:])) != 7 || int32(le.Uint32(b[68:])) != -8 || int32(le.Uint32(b[72:])) != 9 || len(b) != 64+3*4 {
		t.Errorf("elements: % x", b[64:])
	}
	if objs[1].ElemSize() != 4 {
		t.Errorf("elemSize %d", objs[1].ElemSize())
	}
	raw, err := array.New[int64](seg, "", 2, &array.Options{Raw: true})
	must(t, err)
	defer raw.Close()
	if rb := raw.ShmObjects()[0].UnsafeBytes(); le.Uint64(rb[0:]) != 0 || le.Uint64(rb[8:]) != 2 {
		t.Errorf("raw array header % x", rb[:16])
	}
}
