//go:build unix

package pool_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/pool"
)

// waitMark waits for the hang task to mark dir with its worker's pid.
func waitMark(t *testing.T, ctx context.Context, dir string) int {
	t.Helper()
	for {
		b, err := os.ReadFile(filepath.Join(dir, "mark"))
		if err == nil && len(b) > 0 {
			pid, err := strconv.Atoi(string(b))
			if err != nil {
				t.Fatal(err)
			}
			return pid
		}
		select {
		case <-ctx.Done():
			t.Fatal("the task never started")
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// gh-66587: a worker killed in the middle of a task fails the task with
// an error naming the signal, is replaced, and the call returns.
func TestWorkerKilled(t *testing.T) {
	ctx := shmtest.Deadline(t, 60*time.Second)
	p := newPool(t, 2, nil)
	dir := t.TempDir()
	r := pool.MapAsync(ctx, p, hang, []string{dir, dir + "/x"}, pool.ChunkSize(1))
	victim := waitMark(t, ctx, dir)
	if err := syscall.Kill(victim, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	_, err := r.Get(ctx)
	if d := time.Since(killed); d > 5*time.Second {
		t.Errorf("Map returned %v after the kill", d) // the issue asks for 100 ms on an idle machine
	}
	var we *pool.WorkerError
	if !errors.As(err, &we) || we.Pid != victim || we.ExitCode != -int(syscall.SIGKILL) || we.Index != 0 {
		t.Fatalf("Map with a killed worker = %v, want a WorkerError for pid %d, signal 9", err, victim)
	}
	// Replaced: two workers again, the victim not among them, and they work.
	for len(p.Workers()) != 2 || slices.Contains(p.Workers(), victim) {
		select {
		case <-ctx.Done():
			t.Fatalf("workers %v: the victim %d was not replaced", p.Workers(), victim)
		case <-time.After(5 * time.Millisecond):
		}
	}
	if got, err := pool.Map(ctx, p, square, ints(1000)); err != nil || got[999] != 999*999 {
		t.Fatalf("Map after a kill: %v", err)
	}
}

// With Retries, the chunk of a killed worker runs again elsewhere and the
// call succeeds.
func TestWorkerKilledRetry(t *testing.T) {
	ctx := shmtest.Deadline(t, 60*time.Second)
	p := newPool(t, 2, &pool.Options{Retries: 1})
	dir := t.TempDir()
	r := pool.ApplyAsync(ctx, p, hang, dir)
	victim := waitMark(t, ctx, dir)
	if err := syscall.Kill(victim, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if v, err := r.Get(ctx); v != -1 || err != nil {
		t.Fatalf("Apply retried after a kill = %v, %v; want the retry's -1", v, err)
	}
}

// Workers killed at random moments, inside tasks or inside queue
// operations, while a long Map runs with retries: every result is right and
// the call returns. POOL_KILLS=N kills N workers instead of 40.
func TestWorkersKilledAtRandom(t *testing.T) {
	ctx := shmtest.Deadline(t, 120*time.Second)
	want := 40
	if s := os.Getenv("POOL_KILLS"); s != "" {
		want, _ = strconv.Atoi(s)
	}
	n := 20000
	p := newPool(t, 2, &pool.Options{Retries: 1000, Prefetch: 1})
	r := pool.MapAsync(ctx, p, square, ints(n), pool.ChunkSize(5))
	kills := 0
	for kills < want && !r.Ready() {
		if pids := p.Workers(); len(pids) > 0 {
			if syscall.Kill(pids[kills%len(pids)], syscall.SIGKILL) == nil {
				kills++
			}
		}
		select {
		case <-r.Done():
		case <-ctx.Done():
			t.Fatalf("Map did not return after %d kills", kills)
		case <-time.After(time.Duration(5+kills%20) * time.Millisecond):
		}
	}
	got, err := r.Get(ctx)
	if err != nil {
		t.Fatalf("Map after %d kills: %v", kills, err)
	}
	for i, v := range got {
		if v != i*i {
			t.Fatalf("after %d kills, result %d = %d", kills, i, v)
		}
	}
	t.Logf("%d items, %d workers killed", n, kills)
}

// A worker killed while it puts a large result on the result queue, in
// fragments, dies inside queue operations: the call gets an error or the
// result, and the replacement and the result queue go on working.
func TestWorkerKilledInsideQueueOperation(t *testing.T) {
	ctx := shmtest.Deadline(t, 120*time.Second)
	p := newPool(t, 2, &pool.Options{QueueCapacity: 1 << 18})
	for round := range 6 {
		dir := t.TempDir()
		r := pool.ApplyAsync(ctx, p, markThenBig, markArg{Dir: dir, Size: 16 << 20})
		victim := waitMark(t, ctx, dir)
		time.Sleep(time.Duration(round) * time.Millisecond)
		if err := syscall.Kill(victim, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		s, err := r.Get(ctx)
		var we *pool.WorkerError
		switch {
		case err == nil && len(s) == 16<<20:
			t.Logf("round %d: the result got through before the kill", round)
		case errors.As(err, &we) && we.Pid == victim:
		default:
			t.Fatalf("round %d: Apply = %d bytes, %v; want the result or a WorkerError for %d", round, len(s), err, victim)
		}
		got, err := pool.Map(ctx, p, bigString, []int{1 << 20, 5, 1 << 20}, pool.ChunkSize(1))
		if err != nil || len(got[0]) != 1<<20 || got[1] != "yyyyy" || len(got[2]) != 1<<20 {
			t.Fatalf("round %d: Map after the kill: %v", round, err)
		}
	}
}

type markArg struct {
	Dir  string
	Size int
}

// markThenBig marks dir with its pid, then returns Size bytes.
var markThenBig = pool.MustRegister("test-mark-big", func(ctx context.Context, a markArg) (string, error) {
	if err := writeMark(a.Dir); err != nil {
		return "", err
	}
	return strings.Repeat("z", a.Size), nil
})

// Terminate during a long Map returns promptly, fails the call with
// ErrTerminated and leaves no process behind.
func TestTerminateDuringMap(t *testing.T) {
	ctx := shmtest.Deadline(t, 60*time.Second)
	p := newPool(t, 2, nil)
	pids := p.Workers()
	r := pool.MapAsync(ctx, p, sleepMS, []int{200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200}, pool.ChunkSize(1))
	time.Sleep(50 * time.Millisecond) // let the map start; it is also right if it has not
	start := time.Now()
	if err := p.Terminate(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Terminate took %v", d)
	}
	if _, err := r.Get(ctx); !errors.Is(err, pool.ErrTerminated) {
		t.Errorf("Map during Terminate = %v, want ErrTerminated", err)
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("worker %d still exists after Terminate (kill 0: %v)", pid, err)
		}
	}
	if len(p.Workers()) != 0 {
		t.Errorf("Workers() = %v after Terminate", p.Workers())
	}
	if _, err := pool.Map(ctx, p, square, ints(3)); !errors.Is(err, pool.ErrClosed) {
		t.Errorf("Map after Terminate = %v, want ErrClosed", err)
	}
	if err := p.Join(ctx); err != nil {
		t.Errorf("Join after Terminate = %v", err)
	}
}
