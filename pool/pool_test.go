package pool_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/pool"
	"github.com/shmkit/shmkit/process"
)

func TestMain(m *testing.M) { shmtest.Main(m) }

// The task functions every test binary (and so every worker) registers.
var (
	square = pool.MustRegister("test-square", func(ctx context.Context, x int) (int, error) {
		return x * x, nil
	})
	pid = pool.MustRegister("test-pid", func(ctx context.Context, x int) (int, error) {
		return os.Getpid(), nil
	})
	// failAt fails on 5 and panics on 7.
	failAt = pool.MustRegister("test-fail", func(ctx context.Context, x int) (int, error) {
		switch x {
		case 5:
			return 0, fmt.Errorf("bad item %d", x)
		case 7:
			panic("item 7 panicked")
		}
		return x, nil
	})
	sleepMS = pool.MustRegister("test-sleep", func(ctx context.Context, ms int) (int, error) {
		time.Sleep(time.Duration(ms) * time.Millisecond)
		return ms, nil
	})
	exitWith = pool.MustRegister("test-exit", func(ctx context.Context, code int) (int, error) {
		os.Exit(code)
		return 0, nil
	})
	add = pool.MustRegister2("test-add", func(ctx context.Context, a int, b string) (string, error) {
		return b + strconv.Itoa(a), nil
	})
	// hang marks dir/<pid> the first time it runs (for the test to find
	// and kill the worker) and then sleeps; later runs return at once.
	hang = pool.MustRegister("test-hang", func(ctx context.Context, dir string) (int, error) {
		f, err := os.OpenFile(filepath.Join(dir, "ran"), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			return -1, nil // a retry
		}
		f.Close()
		if err := writeMark(dir); err != nil {
			return 0, err
		}
		time.Sleep(time.Minute)
		return os.Getpid(), nil
	})
	unencodable = pool.MustRegister("test-unencodable", func(ctx context.Context, x int) (func(), error) {
		return func() {}, nil
	})
	anyArg = pool.MustRegister("test-any", func(ctx context.Context, x any) (int, error) {
		return 1, nil
	})
	// bigString returns n bytes; byteSum adds up its argument's bytes.
	bigString = pool.MustRegister("test-big-string", func(ctx context.Context, n int) (string, error) {
		return strings.Repeat("y", n), nil
	})
	byteSum = pool.MustRegister("test-byte-sum", func(ctx context.Context, b []byte) (int, error) {
		s := 0
		for _, c := range b {
			s += int(c)
		}
		return s, nil
	})

	initialized string
	setInit     = pool.MustRegisterInitializer("test-init", func(ctx context.Context, s string) error {
		if s == "fail" {
			return errors.New("initializer refused")
		}
		initialized = s + ":" + strconv.Itoa(os.Getpid())
		return nil
	})
	exitInit = pool.MustRegisterInitializer("test-init-exit", func(ctx context.Context, code int) error {
		os.Exit(code)
		return nil
	})
	getInit = pool.MustRegister("test-get-init", func(ctx context.Context, _ int) (string, error) {
		return initialized, nil
	})
)

// writeMark writes this process's pid to dir/mark, whole or not at all (a
// test kills the pid it reads there).
func writeMark(dir string) error {
	tmp := filepath.Join(dir, "mark.tmp")
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(os.Getpid())), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, "mark"))
}

func newPool(t *testing.T, n int, opts *pool.Options) *pool.Pool {
	t.Helper()
	shmtest.NeedProcesses(t)
	p, err := pool.New(shmtest.Deadline(t, 30*time.Second), n, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Terminate(); err != nil {
			t.Errorf("Terminate: %v", err)
		}
	})
	return p
}

func ints(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}

func TestMap(t *testing.T) {
	ctx := shmtest.Deadline(t, 60*time.Second)
	t.Run("default", func(t *testing.T) { testMapOn(t, ctx, newPool(t, 2, nil)) })
	t.Run("prefetch", func(t *testing.T) { testMapOn(t, ctx, newPool(t, 2, &pool.Options{Prefetch: 2})) })
}

// TestPrestartedWorkers: after process.Prestart the pool's workers are
// the children already up, and the pool works as any other.
func TestPrestartedWorkers(t *testing.T) {
	shmtest.NeedProcesses(t)
	ctx := shmtest.Deadline(t, 60*time.Second)
	t.Cleanup(process.StopPrestarted)
	if err := process.Prestart(ctx, 2); err != nil {
		t.Fatal(err)
	}
	p := newPool(t, 2, nil)
	if n := process.Prestarted(); n != 0 {
		t.Fatalf("Prestarted() = %d after New(2): the workers were not handed to them", n)
	}
	testMapOn(t, ctx, p)
	got, err := pool.Map(ctx, p, pid, ints(40), pool.ChunkSize(1))
	if err != nil {
		t.Fatal(err)
	}
	workers := p.Workers()
	for _, w := range got {
		if !slices.Contains(workers, w) {
			t.Fatalf("a task ran in pid %d, not in the workers %v", w, workers)
		}
	}
	// A prestarted worker that dies is reaped and replaced like any.
	_, err = pool.Apply(ctx, p, exitWith, 5)
	var we *pool.WorkerError
	if !errors.As(err, &we) || we.ExitCode != 5 {
		t.Fatalf("Apply(os.Exit(5)) on a prestarted worker = %v, want a WorkerError with status 5", err)
	}
	if got, err := pool.Map(ctx, p, square, ints(100)); err != nil || len(got) != 100 || got[99] != 99*99 {
		t.Fatalf("Map after a worker died = %d results, %v", len(got), err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Join(ctx); err != nil {
		t.Fatal(err)
	}
}

func testMapOn(t *testing.T, ctx context.Context, p *pool.Pool) {
	for _, tt := range []struct {
		name  string
		n     int
		chunk int
	}{
		{"empty", 0, 0}, {"one", 1, 0}, {"default chunks", 5000, 0}, {"chunks of 1", 300, 1}, {"chunks of 7", 1000, 7}, {"one chunk", 2000, 5000},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var opts []pool.CallOption
			if tt.chunk > 0 {
				opts = append(opts, pool.ChunkSize(tt.chunk))
			}
			got, err := pool.Map(ctx, p, square, ints(tt.n), opts...)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tt.n {
				t.Fatalf("Map gave %d results, want %d", len(got), tt.n)
			}
			for i, v := range got {
				if v != i*i {
					t.Fatalf("Map(square)[%d] = %d, want %d", i, v, i*i)
				}
			}
		})
	}
}

func TestImap(t *testing.T) {
	ctx := shmtest.Deadline(t, 60*time.Second)
	p := newPool(t, 2, nil)
	for _, chunk := range []int{1, 3, 64} {
		t.Run(fmt.Sprintf("ordered/chunk %d", chunk), func(t *testing.T) {
			i := 0
			for v, err := range pool.Imap(ctx, p, square, slices.Values(ints(2000)), pool.ChunkSize(chunk)) {
				if err != nil {
					t.Fatal(err)
				}
				if v != i*i {
					t.Fatalf("Imap result %d = %d, want %d", i, v, i*i)
				}
				i++
			}
			if i != 2000 {
				t.Fatalf("Imap gave %d results, want 2000", i)
			}
		})
		t.Run(fmt.Sprintf("unordered/chunk %d", chunk), func(t *testing.T) {
			seen := make(map[int]bool)
			n := 0
			for v, err := range pool.ImapUnordered(ctx, p, square, slices.Values(ints(2000)), pool.ChunkSize(chunk)) {
				if err != nil {
					t.Fatal(err)
				}
				seen[v] = true
				n++
			}
			for i := range 2000 {
				if !seen[i*i] {
					t.Fatalf("ImapUnordered did not yield %d", i*i)
				}
			}
			if n != 2000 {
				t.Fatalf("ImapUnordered gave %d results, want 2000", n)
			}
		})
	}
}

// Sleeps of decreasing length come out of ImapUnordered in completion
// order and out of Imap in input order.
func TestImapUnorderedOrder(t *testing.T) {
	ctx := shmtest.Deadline(t, 60*time.Second)
	p := newPool(t, 2, nil)
	in := []int{600, 0, 0, 0}
	var got []int
	for v, err := range pool.ImapUnordered(ctx, p, sleepMS, slices.Values(in)) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, v)
	}
	if got[len(got)-1] != 600 {
		t.Errorf("ImapUnordered(%v) = %v, want the 600 ms sleep last", in, got)
	}
	got = got[:0]
	for v, err := range pool.Imap(ctx, p, sleepMS, slices.Values(in)) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, v)
	}
	if !slices.Equal(got, in) {
		t.Errorf("Imap(%v) = %v, want the input's order", in, got)
	}
}

// Imap reads its input lazily: with a window of 4 chunks it is never more
// than a few items ahead of what it has yielded, and an endless input is
// fine.
func TestImapLazy(t *testing.T) {
	ctx := shmtest.Deadline(t, 60*time.Second)
	p := newPool(t, 2, nil)
	read := 0
	endless := func(yield func(int) bool) {
		for i := 0; ; i++ {
			read++
			if !yield(i) {
				return
			}
		}
	}
	yielded := 0
	for v, err := range pool.Imap(ctx, p, square, endless, pool.ChunkSize(2), pool.Window(4)) {
		if err != nil {
			t.Fatal(err)
		}
		if v != yielded*yielded {
			t.Fatalf("Imap result %d = %d", yielded, v)
		}
		yielded++
		// sent and not yielded: at most 4 chunks of 2, plus the one being built
		if ahead := read - yielded; ahead > 4*2+2 {
			t.Fatalf("Imap read %d items and yielded %d: not lazy", read, yielded)
		}
		if yielded == 500 {
			break
		}
	}
}

func TestApplyStarmapAsync(t *testing.T) {
	ctx := shmtest.Deadline(t, 60*time.Second)
	p := newPool(t, 2, nil)
	if v, err := pool.Apply(ctx, p, square, 12); v != 144 || err != nil {
		t.Errorf("Apply(square, 12) = %v, %v; want 144, nil", v, err)
	}
	in := []pool.Args2[int, string]{{1, "a"}, {2, "b"}, {3, "c"}}
	if got, err := pool.Starmap(ctx, p, add, in); err != nil || !slices.Equal(got, []string{"a1", "b2", "c3"}) {
		t.Errorf("Starmap(add) = %q, %v", got, err)
	}
	r := pool.StarmapAsync(ctx, p, add, in)
	if got, err := r.Get(ctx); err != nil || !slices.Equal(got, []string{"a1", "b2", "c3"}) {
		t.Errorf("StarmapAsync(add).Get = %q, %v", got, err)
	}
	a := pool.ApplyAsync(ctx, p, sleepMS, 300)
	if ok, err := a.Successful(); !errors.Is(err, pool.ErrNotReady) {
		t.Errorf("Successful() before the end = %v, %v; want ErrNotReady", ok, err)
	}
	short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	if _, err := a.Get(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Get with a short deadline = %v, want DeadlineExceeded", err)
	}
	if v, err := a.Get(ctx); v != 300 || err != nil {
		t.Errorf("ApplyAsync(sleep 300).Get = %v, %v", v, err)
	}
	if ok, err := a.Successful(); !ok || err != nil || !a.Ready() {
		t.Errorf("Successful() = %v, %v, Ready() = %v after the end", ok, err, a.Ready())
	}
	m := pool.MapAsync(ctx, p, failAt, ints(10))
	if err := m.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if ok, err := m.Successful(); ok || err != nil {
		t.Errorf("MapAsync(failAt).Successful() = %v, %v; want false", ok, err)
	}
	// Many at once.
	var rs []*pool.Result[[]int]
	for i := range 20 {
		rs = append(rs, pool.MapAsync(ctx, p, square, ints(100*i)))
	}
	for i, r := range rs {
		got, err := r.Get(ctx)
		if err != nil || len(got) != 100*i || (i > 0 && got[100*i-1] != (100*i-1)*(100*i-1)) {
			t.Fatalf("MapAsync %d: %d results, %v", i, len(got), err)
		}
	}
}

func TestTaskErrors(t *testing.T) {
	ctx := shmtest.Deadline(t, 60*time.Second)
	p := newPool(t, 2, nil)
	pids := p.Workers()
	var te *pool.TaskError
	_, err := pool.Apply(ctx, p, failAt, 5)
	if !errors.As(err, &te) || te.Message != "bad item 5" || te.Panic || !slices.Contains(pids, te.Pid) {
		t.Errorf("Apply(failAt, 5) = %v, want a TaskError with the worker's message", err)
	}
	_, err = pool.Apply(ctx, p, failAt, 7)
	if !errors.As(err, &te) || te.Message != "item 7 panicked" || !te.Panic || te.Stack == "" {
		t.Errorf("Apply(failAt, 7) = %v, want a TaskError for the panic", err)
	}
	_, err = pool.Map(ctx, p, failAt, []int{1, 2, 5, 4}, pool.ChunkSize(1))
	if !errors.As(err, &te) || te.Index != 2 {
		t.Errorf("Map(failAt) = %v, want a TaskError for item 2", err)
	}
	// Imap yields each error at its place and goes on.
	var got []string
	for v, err := range pool.Imap(ctx, p, failAt, slices.Values(ints(9)), pool.ChunkSize(2)) {
		if err != nil {
			got = append(got, "E")
		} else {
			got = append(got, strconv.Itoa(v))
		}
	}
	if want := []string{"0", "1", "2", "3", "4", "E", "6", "E", "8"}; !slices.Equal(got, want) {
		t.Errorf("Imap(failAt) = %v, want %v", got, want)
	}
	// The pool still works, with the same workers.
	if v, err := pool.Apply(ctx, p, square, 3); v != 9 || err != nil {
		t.Errorf("Apply after errors = %v, %v", v, err)
	}
	if now := p.Workers(); !sameSet(now, pids) {
		t.Errorf("workers %v became %v after task errors", pids, now)
	}
}

func sameSet(a, b []int) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// Arguments and results larger than the queues travel in pieces.
func TestLargeMessages(t *testing.T) {
	ctx := shmtest.Deadline(t, 60*time.Second)
	p := newPool(t, 2, &pool.Options{QueueCapacity: 1 << 18}) // messages of 32 KiB and 128 KiB
	got, err := pool.Map(ctx, p, bigString, []int{3 << 20, 10, 1 << 20}, pool.ChunkSize(1))
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range []int{3 << 20, 10, 1 << 20} {
		if len(got[i]) != n || strings.Count(got[i], "y") != n {
			t.Errorf("result %d has %d bytes, want %d", i, len(got[i]), n)
		}
	}
	arg := make([]byte, 2<<20)
	want := 0
	for i := range arg {
		arg[i] = byte(i)
		want += int(byte(i))
	}
	if s, err := pool.Apply(ctx, p, byteSum, arg); s != want || err != nil {
		t.Errorf("Apply(byteSum, 2 MiB) = %v, %v; want %v", s, err, want)
	}
}

func TestEncodingErrors(t *testing.T) {
	ctx := shmtest.Deadline(t, 60*time.Second)
	p := newPool(t, 1, &pool.Options{QueueCapacity: 1 << 18})
	type secret struct{ X int }
	if _, err := pool.Apply(ctx, p, anyArg, any(secret{1})); !errors.Is(err, pool.ErrEncode) {
		t.Errorf("Apply with an unregistered type in an interface = %v, want ErrEncode", err)
	}
	_, err := pool.Apply(ctx, p, unencodable, 1)
	var te *pool.TaskError
	if !errors.Is(err, pool.ErrEncode) || !errors.As(err, &te) {
		t.Errorf("Apply returning a func = %v, want a TaskError wrapping ErrEncode", err)
	}
	big := make([]int, 1<<15) // 256 KiB of arguments, in task queues of 64 KiB
	for i := range big {
		big[i] = 1 << 30
	}
	if _, err := pool.Map(ctx, p, square, big); err != nil {
		t.Errorf("Map of %d items in a small queue (chunks split): %v", len(big), err)
	}
	if _, err := pool.Apply(ctx, p, getInit, 1); err != nil {
		t.Errorf("Apply after encoding errors: %v", err)
	}
}

func TestInitializer(t *testing.T) {
	ctx := shmtest.Deadline(t, 60*time.Second)
	p := newPool(t, 2, &pool.Options{Init: setInit.With("hello"), MaxTasks: 1})
	// Every chunk runs in a fresh worker (MaxTasks 1), each initialized.
	got, err := pool.Map(ctx, p, getInit, ints(6), pool.ChunkSize(1))
	if err != nil {
		t.Fatal(err)
	}
	pids := make(map[string]bool)
	for _, s := range got {
		if len(s) < 7 || s[:6] != "hello:" {
			t.Fatalf("a task saw %q, want what the initializer set", s)
		}
		pids[s] = true
	}
	if len(pids) != 6 {
		t.Errorf("6 chunks with MaxTasks 1 ran in %d workers, want 6: %q", len(pids), got)
	}
}

func TestInitializerFails(t *testing.T) {
	ctx := shmtest.Deadline(t, 60*time.Second)
	p := newPool(t, 2, &pool.Options{Init: setInit.With("fail")})
	_, err := pool.Map(ctx, p, square, ints(10))
	if !errors.Is(err, pool.ErrBroken) {
		// The call may have begun before the first failure arrived.
		t.Fatalf("Map on a pool whose initializer fails = %v, want ErrBroken", err)
	}
	if _, err := pool.Apply(ctx, p, square, 1); !errors.Is(err, pool.ErrBroken) {
		t.Errorf("Apply on a broken pool = %v, want ErrBroken", err)
	}
}

// Workers that die before any work, again and again, break the pool
// rather than being replaced for ever.
func TestWorkersCannotStart(t *testing.T) {
	ctx := shmtest.Deadline(t, 60*time.Second)
	p := newPool(t, 2, &pool.Options{Init: exitInit.With(5)})
	// A chunk sent to a worker that then dies fails with its status...
	_, err := pool.Map(ctx, p, square, ints(10))
	if err == nil || !strings.Contains(err.Error(), "status 5") {
		t.Fatalf("Map on a pool whose workers exit at start = %v, want an error naming status 5", err)
	}
	// ...and the replacements, dying idle, soon break the pool.
	for {
		_, err := pool.Apply(ctx, p, square, 1)
		if errors.Is(err, pool.ErrBroken) {
			if !strings.Contains(err.Error(), "status 5") {
				t.Errorf("the broken pool's error %q does not name status 5", err)
			}
			break
		}
		if err == nil || ctx.Err() != nil {
			t.Fatalf("Apply = %v, want the pool broken", err)
		}
	}
}

// Python's maxtasksperchild: workers are replaced, their pids change, and
// the work is all done.
func TestMaxTasks(t *testing.T) {
	ctx := shmtest.Deadline(t, 60*time.Second)
	p := newPool(t, 2, &pool.Options{MaxTasks: 3})
	before := p.Workers()
	got, err := pool.Map(ctx, p, pid, ints(40), pool.ChunkSize(2))
	if err != nil {
		t.Fatal(err)
	}
	count := make(map[int]int)
	for _, v := range got {
		count[v]++
	}
	for pid, n := range count {
		if n > 3*2 {
			t.Errorf("worker %d ran %d items, more than 3 chunks of 2", pid, n)
		}
	}
	if len(count) < 40/6 {
		t.Errorf("40 items ran in %d workers, want at least %d", len(count), 40/6)
	}
	if slices.ContainsFunc(before, func(p int) bool { return count[p] == 0 }) {
		t.Logf("a first worker ran nothing (possible: the other took its turn)")
	}
}

// A task that calls os.Exit takes its worker down: an error naming the
// status, not a hang.
func TestWorkerExits(t *testing.T) {
	ctx := shmtest.Deadline(t, 60*time.Second)
	p := newPool(t, 2, nil)
	_, err := pool.Apply(ctx, p, exitWith, 3)
	var we *pool.WorkerError
	if !errors.As(err, &we) || we.ExitCode != 3 || we.Attempts != 1 {
		t.Fatalf("Apply(os.Exit(3)) = %v, want a WorkerError with status 3", err)
	}
	p2 := newPool(t, 1, &pool.Options{Retries: 2})
	_, err = pool.Apply(ctx, p2, exitWith, 4)
	if !errors.As(err, &we) || we.ExitCode != 4 || we.Attempts != 3 {
		t.Fatalf("Apply(os.Exit(4)) with 2 retries = %v, want a WorkerError after 3 attempts", err)
	}
	if v, err := pool.Apply(ctx, p2, square, 5); v != 25 || err != nil {
		t.Fatalf("Apply after the exits = %v, %v", v, err)
	}
}

// Cancelling a call's context ends the call promptly; the pool goes on.
func TestCancel(t *testing.T) {
	ctx := shmtest.Deadline(t, 60*time.Second)
	p := newPool(t, 2, nil)
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	in := slices.Repeat([]int{100}, 100) // 5 s of work on 2 workers
	start := time.Now()
	_, err := pool.Map(short, p, sleepMS, in, pool.ChunkSize(1))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Map with a 100 ms deadline = %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Map returned %v after its deadline", d)
	}
	n := 0
	var last error
	for _, err := range pool.Imap(short, p, sleepMS, slices.Values(in)) {
		n++
		last = err
	}
	if n != 1 || !errors.Is(last, context.DeadlineExceeded) {
		t.Errorf("Imap with an expired context yielded %d results, last error %v", n, last)
	}
	// The dropped chunks are not run: the pool is soon free again.
	if v, err := pool.Apply(ctx, p, square, 4); v != 16 || err != nil {
		t.Errorf("Apply after a cancelled Map = %v, %v", v, err)
	}
	// Breaking out of an Imap ends the call too.
	for v, err := range pool.Imap(ctx, p, square, slices.Values(ints(1000))) {
		if err != nil || v == 9 {
			break
		}
	}
	if v, err := pool.Apply(ctx, p, square, 5); v != 25 || err != nil {
		t.Errorf("Apply after a broken-off Imap = %v, %v", v, err)
	}
}

// Close lets the calls in progress finish, refuses new ones, and the
// workers exit; Join waits for them. Python's close and join.
func TestCloseJoin(t *testing.T) {
	ctx := shmtest.Deadline(t, 60*time.Second)
	shmtest.NeedProcesses(t)
	p, err := pool.New(ctx, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Terminate()
	if err := p.Join(ctx); !errors.Is(err, pool.ErrRunning) {
		t.Errorf("Join before Close = %v, want ErrRunning", err)
	}
	r := pool.MapAsync(ctx, p, sleepMS, []int{100, 100, 100}, pool.ChunkSize(1))
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Apply(ctx, p, square, 1); !errors.Is(err, pool.ErrClosed) {
		t.Errorf("Apply after Close = %v, want ErrClosed", err)
	}
	if got, err := r.Get(ctx); err != nil || !slices.Equal(got, []int{100, 100, 100}) {
		t.Errorf("Map begun before Close = %v, %v", got, err)
	}
	if err := p.Join(ctx); err != nil {
		t.Fatalf("Join = %v", err)
	}
	if len(p.Workers()) != 0 {
		t.Errorf("Workers() = %v after Join", p.Workers())
	}
	for v, err := range pool.Imap(ctx, p, square, slices.Values(ints(3))) {
		if !errors.Is(err, pool.ErrClosed) {
			t.Errorf("Imap after Close yielded %v, %v; want ErrClosed", v, err)
		}
	}
	if err := p.Join(ctx); err != nil {
		t.Errorf("second Join = %v", err)
	}
}

func TestNewErrors(t *testing.T) {
	ctx := t.Context()
	for _, tt := range []struct {
		name string
		n    int
		opts *pool.Options
	}{
		{"negative workers", -1, nil},
		{"negative MaxTasks", 1, &pool.Options{MaxTasks: -1}},
		{"negative Retries", 1, &pool.Options{Retries: -1}},
		{"negative Prefetch", 1, &pool.Options{Prefetch: -1}},
		{"QueueCapacity not a power of two", 1, &pool.Options{QueueCapacity: 3 << 18}},
		{"bad initializer argument", 1, &pool.Options{Init: setInit2.With(func() {})}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if p, err := pool.New(ctx, tt.n, tt.opts); err == nil {
				p.Terminate()
				t.Errorf("New(%d, %+v) succeeded", tt.n, tt.opts)
			}
		})
	}
	if _, err := pool.Register("test-square", func(ctx context.Context, x int) (int, error) { return x, nil }); !errors.Is(err, pool.ErrDuplicate) {
		t.Errorf("Register twice = %v, want ErrDuplicate", err)
	}
}

var setInit2 = pool.MustRegisterInitializer("test-init-func", func(ctx context.Context, f func()) error { return nil })
