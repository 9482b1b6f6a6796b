package pool_test

// Go counterparts of CPython 3.11's _TestPool, _TestPoolWorkerErrors and
// _TestPoolWorkerLifetime (Lib/test/_test_multiprocessing.py), one Go test
// per Python test, named after it. Python tests with no Go counterpart are
// listed at the end of this file, with the reason.

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/pool"
)

type sqrArg struct {
	X    int
	Wait time.Duration
}

var (
	sqr = pool.MustRegister("py-sqr", func(ctx context.Context, a sqrArg) (int, error) {
		time.Sleep(a.Wait)
		return a.X * a.X, nil
	})
	mul = pool.MustRegister2("py-mul", func(ctx context.Context, x, y int) (int, error) {
		return x * y, nil
	})
	raising = pool.MustRegister("py-raising", func(ctx context.Context, _ int) (int, error) {
		return 0, errors.New("key")
	})
	// raiseLarge fails with a 1 MiB message after wait; with a mark, it
	// then creates the file mark, so a test can tell it finished.
	raiseLarge = pool.MustRegister("py-raise-large", func(ctx context.Context, a largeArg) (int, error) {
		time.Sleep(a.Wait)
		if a.Mark != "" {
			os.WriteFile(a.Mark, nil, 0o600)
		}
		return 0, errors.New(strings.Repeat("x", 1<<20))
	})
	tracebackTask = pool.MustRegister("py-traceback", func(ctx context.Context, _ int) (int, error) {
		panic("123") // some comment
	})
)

type largeArg struct {
	Wait time.Duration
	Mark string
}

func sqrs(n int) []sqrArg {
	s := make([]sqrArg, n)
	for i := range s {
		s[i] = sqrArg{X: i}
	}
	return s
}

func squares(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i * i
	}
	return s
}

// _TestPool's class pool: 4 workers, shared by its tests, made and
// terminated by TestPython (setUpClass, tearDownClass).
var classPool *pool.Pool

func testPool(t *testing.T) *pool.Pool {
	t.Helper()
	if classPool == nil {
		t.Fatal("no class pool: run the test through TestPython")
	}
	return classPool
}

// TestPython runs _TestPool's tests on one pool, as Python's class does,
// and terminates it at the end (tearDownClass).
func TestPython(t *testing.T) {
	shmtest.NeedProcesses(t)
	p, err := pool.New(shmtest.Deadline(t, 30*time.Second), 4, nil)
	if err != nil {
		t.Fatal(err)
	}
	classPool = p
	defer func() {
		classPool = nil
		if err := p.Terminate(); err != nil {
			t.Error(err)
		}
		if err := p.Join(t.Context()); err != nil {
			t.Error(err)
		}
	}()
	for _, tt := range []struct {
		name string
		fn   func(*testing.T)
	}{
		{"apply", testApply},
		{"map", testMap},
		{"starmap", testStarmap},
		{"starmap_async", testStarmapAsync},
		{"map_async", testMapAsync},
		{"map_async_callbacks", testMapAsyncCallbacks},
		{"map_unpicklable", testMapUnpicklable},
		{"map_chunksize", testMapChunksize},
		{"imap_handle_iterable_exception", testImapHandleIterableException},
		{"async", testAsync},
		{"async_timeout", testAsyncTimeout},
		{"imap", testImap},
		{"imap_unordered", testImapUnordered},
		{"make_pool", testMakePool},
		{"terminate", testTerminate},
		{"empty_iterable", testEmptyIterable},
		{"context", testContext},
		{"traceback", testTraceback},
		{"map_no_failfast", testMapNoFailfast},
	} {
		t.Run(tt.name, tt.fn)
	}
}

func testApply(t *testing.T) {
	ctx := shmtest.Deadline(t, 30*time.Second)
	if v, err := pool.Apply(ctx, testPool(t), sqr, sqrArg{X: 5}); v != 25 || err != nil {
		t.Errorf("Apply(sqr, 5) = %v, %v", v, err)
	}
}

func testMap(t *testing.T) {
	ctx := shmtest.Deadline(t, 30*time.Second)
	p := testPool(t)
	if got, err := pool.Map(ctx, p, sqr, sqrs(10)); err != nil || !slices.Equal(got, squares(10)) {
		t.Errorf("Map(sqr, range(10)) = %v, %v", got, err)
	}
	if got, err := pool.Map(ctx, p, sqr, sqrs(100), pool.ChunkSize(20)); err != nil || !slices.Equal(got, squares(100)) {
		t.Errorf("Map(sqr, range(100), chunksize=20) = %v, %v", got, err)
	}
}

func tuples(n int) ([]pool.Args2[int, int], []int) {
	in := make([]pool.Args2[int, int], n)
	want := make([]int, n)
	for i := range in {
		in[i] = pool.Args2[int, int]{A: i, B: n - 1 - i}
		want[i] = i * (n - 1 - i)
	}
	return in, want
}

func testStarmap(t *testing.T) {
	ctx := shmtest.Deadline(t, 30*time.Second)
	p := testPool(t)
	in, want := tuples(10)
	if got, err := pool.Starmap(ctx, p, mul, in); err != nil || !slices.Equal(got, want) {
		t.Errorf("Starmap(mul, 10 tuples) = %v, %v; want %v", got, err, want)
	}
	in, want = tuples(100)
	if got, err := pool.Starmap(ctx, p, mul, in, pool.ChunkSize(20)); err != nil || !slices.Equal(got, want) {
		t.Errorf("Starmap(mul, 100 tuples, chunksize=20) = %v, %v", got, err)
	}
}

func testStarmapAsync(t *testing.T) {
	ctx := shmtest.Deadline(t, 30*time.Second)
	in, want := tuples(100)
	if got, err := pool.StarmapAsync(ctx, testPool(t), mul, in).Get(ctx); err != nil || !slices.Equal(got, want) {
		t.Errorf("StarmapAsync(mul).Get() = %v, %v", got, err)
	}
}

func testMapAsync(t *testing.T) {
	ctx := shmtest.Deadline(t, 30*time.Second)
	if got, err := pool.MapAsync(ctx, testPool(t), sqr, sqrs(10)).Get(ctx); err != nil || !slices.Equal(got, squares(10)) {
		t.Errorf("MapAsync(sqr).Get() = %v, %v", got, err)
	}
}

// No callbacks in Go: Wait, then the value or the error is there.
func testMapAsyncCallbacks(t *testing.T) {
	ctx := shmtest.Deadline(t, 30*time.Second)
	p := testPool(t)
	r := pool.MapAsync(ctx, p, sqr, []sqrArg{{X: 1}})
	if err := r.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if v, err := r.Get(ctx); err != nil || !slices.Equal(v, []int{1}) {
		t.Errorf("MapAsync(sqr, [1]) = %v, %v", v, err)
	}
	e := pool.MapAsync(ctx, p, raising, []int{0})
	if err := e.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	var te *pool.TaskError
	if _, err := e.Get(ctx); !errors.As(err, &te) || te.Message != "key" {
		t.Errorf("MapAsync(raising) = %v, want a TaskError", err)
	}
}

// Issue #19425: an argument that cannot be encoded fails the call, no hang.
func testMapUnpicklable(t *testing.T) {
	ctx := shmtest.Deadline(t, 30*time.Second)
	type unregistered struct{ A int }
	in := slices.Repeat([]any{unregistered{1}}, 10)
	if _, err := pool.Map(ctx, testPool(t), anyArg, in); !errors.Is(err, pool.ErrEncode) {
		t.Errorf("Map with unencodable arguments = %v, want ErrEncode", err)
	}
}

func testMapChunksize(t *testing.T) {
	ctx := shmtest.Deadline(t, 30*time.Second)
	if got, err := pool.MapAsync(ctx, testPool(t), sqr, nil, pool.ChunkSize(1)).Get(ctx); err != nil || len(got) != 0 {
		t.Errorf("MapAsync of nothing with chunksize 1 = %v, %v", got, err)
	}
}

// A Go sequence cannot raise; it panics, and the panic reaches the
// caller (here in the iteration of Imap and ImapUnordered) with the pool
// unharmed. With a window of one chunk, the results before the chunk
// that panics come out first, as in Python. Python's test_map_handle_iterable_exception and
// test_imap(_unordered)_handle_iterable_exception.
func testImapHandleIterableException(t *testing.T) {
	ctx := shmtest.Deadline(t, 30*time.Second)
	p := testPool(t)
	throwing := func(total, when int) func(func(sqrArg) bool) {
		return func(yield func(sqrArg) bool) {
			for i := range total {
				if i == when {
					panic("somebody said when")
				}
				if !yield(sqrArg{X: i}) {
					return
				}
			}
		}
	}
	for _, tt := range []struct{ total, when, chunk, before int }{
		{1, 0, 1, 0}, {1, 0, 1, 0}, {10, 3, 1, 3}, {20, 7, 2, 6}, {20, 7, 4, 4},
	} {
		for _, ordered := range []bool{true, false} {
			imap := pool.Imap[sqrArg, int]
			if !ordered {
				imap = pool.ImapUnordered[sqrArg, int]
			}
			var got []int
			func() {
				defer func() {
					if r := recover(); r != "somebody said when" {
						t.Errorf("Imap over a panicking sequence: recovered %v", r)
					}
				}()
				for v, err := range imap(ctx, p, sqr, throwing(tt.total, tt.when), pool.ChunkSize(tt.chunk), pool.Window(1)) {
					if err != nil {
						t.Fatal(err)
					}
					got = append(got, v)
				}
			}()
			if ordered && !slices.Equal(got, squares(tt.before)) {
				t.Errorf("Imap(%+v) yielded %v before the panic, want %v", tt, got, squares(tt.before))
			}
			if len(got) > tt.when {
				t.Errorf("ImapUnordered(%+v) yielded %v before the panic", tt, got)
			}
		}
	}
	if v, err := pool.Apply(ctx, p, sqr, sqrArg{X: 3}); v != 9 || err != nil {
		t.Errorf("Apply after the panics = %v, %v", v, err)
	}
}

func testAsync(t *testing.T) {
	ctx := shmtest.Deadline(t, 30*time.Second)
	r := pool.ApplyAsync(ctx, testPool(t), sqr, sqrArg{X: 7, Wait: 100 * time.Millisecond})
	if v, err := r.Get(ctx); v != 49 || err != nil {
		t.Errorf("ApplyAsync(sqr, 7).Get() = %v, %v", v, err)
	}
}

func testAsyncTimeout(t *testing.T) {
	ctx := shmtest.Deadline(t, 30*time.Second)
	p, err := pool.New(ctx, 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		p.Terminate()
		p.Join(ctx)
	}()
	r := pool.ApplyAsync(ctx, p, sqr, sqrArg{X: 6, Wait: time.Minute})
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if _, err := r.Get(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Get(100 ms) of a minute's task = %v, want DeadlineExceeded", err)
	}
}

func collect[T any](t *testing.T, seq func(func(T, error) bool)) []T {
	t.Helper()
	var got []T
	for v, err := range seq {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, v)
	}
	return got
}

func testImap(t *testing.T) {
	ctx := shmtest.Deadline(t, 30*time.Second)
	p := testPool(t)
	if got := collect(t, pool.Imap(ctx, p, sqr, slices.Values(sqrs(10)))); !slices.Equal(got, squares(10)) {
		t.Errorf("Imap(sqr, range(10)) = %v", got)
	}
	if got := collect(t, pool.Imap(ctx, p, sqr, slices.Values(sqrs(1000)), pool.ChunkSize(100))); !slices.Equal(got, squares(1000)) {
		t.Errorf("Imap(sqr, range(1000), chunksize=100) gave %d results, not the squares", len(got))
	}
}

func testImapUnordered(t *testing.T) {
	ctx := shmtest.Deadline(t, 30*time.Second)
	p := testPool(t)
	got := collect(t, pool.ImapUnordered(ctx, p, sqr, slices.Values(sqrs(10))))
	if slices.Sort(got); !slices.Equal(got, squares(10)) {
		t.Errorf("sorted(ImapUnordered(sqr, range(10))) = %v", got)
	}
	got = collect(t, pool.ImapUnordered(ctx, p, sqr, slices.Values(sqrs(1000)), pool.ChunkSize(100)))
	if slices.Sort(got); !slices.Equal(got, squares(1000)) {
		t.Errorf("sorted(ImapUnordered(sqr, range(1000), chunksize=100)) gave %d results, not the squares", len(got))
	}
}

// Python refuses 0 workers; in Go, 0 means the default (one per CPU).
func testMakePool(t *testing.T) {
	ctx := shmtest.Deadline(t, 30*time.Second)
	if _, err := pool.New(ctx, -1, nil); err == nil {
		t.Error("New(-1) succeeded")
	}
	p, err := pool.New(ctx, 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Terminate()
	if n := len(p.Workers()); n != 3 {
		t.Errorf("New(3) has %d workers", n)
	}
	p.Close()
	if err := p.Join(ctx); err != nil {
		t.Error(err)
	}
}

func testTerminate(t *testing.T) {
	ctx := shmtest.Deadline(t, 30*time.Second)
	p, err := pool.New(ctx, 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := pool.MapAsync(ctx, p, sleepMS, slices.Repeat([]int{int(time.Hour / time.Millisecond)}, 10000), pool.ChunkSize(1))
	if err := p.Terminate(); err != nil {
		t.Fatal(err)
	}
	if err := p.Join(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Get(ctx); !errors.Is(err, pool.ErrTerminated) && !errors.Is(err, pool.ErrClosed) {
		t.Errorf("MapAsync over a terminated pool = %v", err)
	}
}

// Issue 12157.
func testEmptyIterable(t *testing.T) {
	ctx := shmtest.Deadline(t, 30*time.Second)
	p, err := pool.New(ctx, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Terminate()
	if got, err := pool.Map(ctx, p, sqr, nil); err != nil || len(got) != 0 {
		t.Errorf("Map(sqr, []) = %v, %v", got, err)
	}
	if got := collect(t, pool.Imap(ctx, p, sqr, slices.Values([]sqrArg(nil)))); len(got) != 0 {
		t.Errorf("Imap(sqr, []) = %v", got)
	}
	if got := collect(t, pool.ImapUnordered(ctx, p, sqr, slices.Values([]sqrArg(nil)))); len(got) != 0 {
		t.Errorf("ImapUnordered(sqr, []) = %v", got)
	}
	if got, err := pool.MapAsync(ctx, p, sqr, nil).Get(ctx); err != nil || len(got) != 0 {
		t.Errorf("MapAsync(sqr, []).Get() = %v, %v", got, err)
	}
	p.Close()
	if err := p.Join(ctx); err != nil {
		t.Error(err)
	}
}

// Python's "with Pool(2) as p" terminates on exit; then map_async fails.
func testContext(t *testing.T) {
	ctx := shmtest.Deadline(t, 30*time.Second)
	p, err := pool.New(ctx, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	func() {
		defer p.Terminate()
		if got, err := pool.MapAsync(ctx, p, sqr, sqrs(10)).Get(ctx); err != nil || !slices.Equal(got, squares(10)) {
			t.Errorf("MapAsync(sqr, range(10)) = %v, %v", got, err)
		}
	}()
	if err := p.Join(ctx); err != nil {
		t.Error(err)
	}
	if _, err := pool.MapAsync(ctx, p, sqr, sqrs(10)).Get(ctx); !errors.Is(err, pool.ErrClosed) {
		t.Errorf("MapAsync after Terminate = %v, want ErrClosed", err)
	}
}

// The worker's traceback comes back: a panic's stack names the line.
func testTraceback(t *testing.T) {
	ctx := shmtest.Deadline(t, 30*time.Second)
	_, err := pool.Apply(ctx, testPool(t), tracebackTask, 0)
	var te *pool.TaskError
	if !errors.As(err, &te) || !te.Panic || te.Message != "123" {
		t.Fatalf("Apply(panicking task) = %v, want a TaskError for the panic", err)
	}
	if !strings.Contains(te.Stack, "python_test.go") {
		t.Errorf("the panic's stack does not name the task's file:\n%s", te.Stack)
	}
}

// Issue #23992: a call that fails fast leaves a worker running a task
// with a large result; Close and Join must still wait for it, not hang.
func testMapNoFailfast(t *testing.T) {
	ctx := shmtest.Deadline(t, 30*time.Second)
	p, err := pool.New(ctx, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Terminate()
	mark := filepath.Join(t.TempDir(), "second")
	_, err = pool.Map(ctx, p, raiseLarge, []largeArg{{}, {Wait: time.Second, Mark: mark}}, pool.ChunkSize(1))
	var te *pool.TaskError
	if !errors.As(err, &te) || len(te.Message) != 1<<20 {
		t.Fatalf("Map(raise_large_valuerror) = %.80v, want a TaskError with the 1 MiB message", err)
	}
	p.Close()
	if err := p.Join(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(mark); err != nil {
		t.Errorf("Join returned before the second task finished: %v", err)
	}
}

// _TestPoolWorkerErrors.test_async_error_callback.
func TestPythonAsyncErrorCallback(t *testing.T) {
	ctx := shmtest.Deadline(t, 30*time.Second)
	p := newPool(t, 2, nil)
	var te *pool.TaskError
	if _, err := pool.ApplyAsync(ctx, p, raising, 0).Get(ctx); !errors.As(err, &te) || te.Message != "key" {
		t.Errorf("ApplyAsync(raising).Get() = %v, want a TaskError", err)
	}
	p.Close()
	if err := p.Join(ctx); err != nil {
		t.Error(err)
	}
}

// _TestPoolWorkerErrors.test_unpickleable_result: encoding errors do not
// cost the pool its workers.
func TestPythonUnpickleableResult(t *testing.T) {
	ctx := shmtest.Deadline(t, 30*time.Second)
	p := newPool(t, 2, nil)
	pids := p.Workers()
	for range 20 {
		_, err := pool.ApplyAsync(ctx, p, unencodable, 0).Get(ctx)
		var te *pool.TaskError
		if !errors.Is(err, pool.ErrEncode) || !errors.As(err, &te) || te.Message == "" {
			t.Fatalf("ApplyAsync(unpickleable_result).Get() = %v, want a TaskError wrapping ErrEncode", err)
		}
	}
	if now := p.Workers(); !sameSet(now, pids) {
		t.Errorf("workers %v became %v", pids, now)
	}
	p.Close()
	if err := p.Join(ctx); err != nil {
		t.Error(err)
	}
}

// _TestPoolWorkerLifetime.test_pool_worker_lifetime.
func TestPythonPoolWorkerLifetime(t *testing.T) {
	ctx := shmtest.Deadline(t, 60*time.Second)
	p := newPool(t, 3, &pool.Options{MaxTasks: 10})
	orig := p.Workers()
	if len(orig) != 3 {
		t.Fatalf("New(3) has workers %v", orig)
	}
	var rs []*pool.Result[int]
	for i := range 100 {
		rs = append(rs, pool.ApplyAsync(ctx, p, sqr, sqrArg{X: i}))
	}
	for j, r := range rs {
		if v, err := r.Get(ctx); v != j*j || err != nil {
			t.Fatalf("ApplyAsync(sqr, %d).Get() = %v, %v", j, v, err)
		}
	}
	final := p.Workers()
	for len(final) != 3 { // replacements may still be starting
		select {
		case <-ctx.Done():
			t.Fatalf("workers %v: not refilled", final)
		case <-time.After(5 * time.Millisecond):
		}
		final = p.Workers()
	}
	if sameSet(orig, final) {
		t.Errorf("after 100 tasks with MaxTasks 10, the workers are still %v", orig)
	}
	p.Close()
	if err := p.Join(ctx); err != nil {
		t.Error(err)
	}
}

// _TestPoolWorkerLifetime.test_pool_worker_lifetime_early_close (issue
// #10332): Close before the tasks of short-lived workers are done.
func TestPythonPoolWorkerLifetimeEarlyClose(t *testing.T) {
	ctx := shmtest.Deadline(t, 60*time.Second)
	p := newPool(t, 3, &pool.Options{MaxTasks: 1})
	var rs []*pool.Result[int]
	for i := range 6 {
		rs = append(rs, pool.ApplyAsync(ctx, p, sqr, sqrArg{X: i, Wait: 300 * time.Millisecond}))
	}
	p.Close()
	if err := p.Join(ctx); err != nil {
		t.Fatal(err)
	}
	for j, r := range rs {
		if v, err := r.Get(ctx); v != j*j || err != nil {
			t.Errorf("ApplyAsync(sqr, %d).Get() = %v, %v", j, v, err)
		}
	}
}

// _TestPoolWorkerLifetime.test_pool_maxtasksperchild_invalid. Python's 0
// is invalid; in Go 0 means no limit, and non-integers do not compile.
func TestPythonPoolMaxtasksperchildInvalid(t *testing.T) {
	if p, err := pool.New(t.Context(), 3, &pool.Options{MaxTasks: -1}); err == nil {
		p.Terminate()
		t.Error("New with MaxTasks -1 succeeded")
	}
}

// Not ported:
//   - test_release_task_refs: about Python's reference counting.
//   - test_enter, test_resource_warning: no context manager, no __del__.
//   - test_wrapped_exception: about thread pools, which we do not have;
//     a task's error is a *TaskError either way (testTraceback).
//   - test_worker_finalization_via_atexit_handler_of_multiprocessing:
//     about Python's atexit; Go has no exit hooks, and workers die with
//     their parent (package process).
