package ringbuf_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/process"
	"github.com/shmkit/shmkit/ringbuf"
	"github.com/shmkit/shmkit/shm"
)

func newJoinable[T any](t testing.TB, opts *ringbuf.QueueOptions[T]) *ringbuf.JoinableQueue[T] {
	t.Helper()
	q, err := ringbuf.NewJoinableQueue(nil, "", opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

func TestJoinableQueueTaskDone(t *testing.T) {
	ctx := t.Context()
	q := newJoinable(t, &ringbuf.QueueOptions[[]byte]{Capacity: 4096})
	if err := q.TaskDone(); !errors.Is(err, ringbuf.ErrTaskDone) {
		t.Fatalf("TaskDone() on a new queue = %v, want ErrTaskDone", err)
	}
	if err := q.Join(ctx); err != nil {
		t.Fatalf("Join() with nothing put = %v", err)
	}
	for _, m := range []string{"a", "b"} {
		if err := q.Put(ctx, []byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	// Failed Puts count no task.
	if err := q.Put(ctx, make([]byte, 4096)); !errors.Is(err, ringbuf.ErrTooLarge) {
		t.Fatalf("Put(too large) = %v, want ErrTooLarge", err)
	}
	if n := q.Unfinished(); n != 2 {
		t.Fatalf("Unfinished() = %d, want 2", n)
	}
	if _, err := within(20*time.Millisecond, q.Join); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Join() with 2 unfinished = %v, want DeadlineExceeded", err)
	}
	for range 2 {
		if _, err := q.Get(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n := q.Unfinished(); n != 2 {
		t.Fatalf("Unfinished() after the Gets = %d, want 2 (Get finishes no task)", n)
	}
	joined := make(chan error, 1)
	go func() { joined <- q.Join(ctx) }()
	for range 2 {
		if err := q.TaskDone(); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-joined; err != nil {
		t.Fatalf("Join() = %v", err)
	}
	if err := q.TaskDone(); !errors.Is(err, ringbuf.ErrTaskDone) {
		t.Fatalf("one TaskDone() too many = %v, want ErrTaskDone", err)
	}
	if err := q.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := q.Put(ctx, []byte("c")); !errors.Is(err, ringbuf.ErrShutdown) {
		t.Fatalf("Put after Shutdown = %v, want ErrShutdown", err)
	}
	if n := q.Unfinished(); n != 0 {
		t.Fatalf("Unfinished() after a refused Put = %d, want 0", n)
	}
}

type joinArgs struct {
	Q    *ringbuf.JoinableQueue[int]
	Book *shm.Object
}

// taskWorker is _test_task_done's worker: it gets until -1, counts each
// task in the book, then marks it done.
var taskWorker = process.MustRegister("queue-task-worker", func(ctx context.Context, a joinArgs) error {
	defer a.Q.Close()
	bk := book{a.Book, 1}
	for {
		v, err := a.Q.Get(ctx)
		if err != nil {
			return err
		}
		if v == -1 {
			return a.Q.TaskDone()
		}
		time.Sleep(time.Millisecond) // some work
		bk.taken(0).Add(1)
		if err := a.Q.TaskDone(); err != nil {
			return err
		}
	}
})

// TestJoinableQueueJoin is test_task_done: Join returns after the last
// TaskDone of four worker processes.
func TestJoinableQueueJoin(t *testing.T) {
	ctx := shmtest.Deadline(t, 30*time.Second)
	seg := anon(t, 4<<20)
	q, err := ringbuf.NewJoinableQueue[int](seg, "", &ringbuf.QueueOptions[int]{Capacity: 4096})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	bk := newBook(t, seg, 1)
	var workers []*process.Process
	for range 4 {
		workers = append(workers, shmtest.Start(t, ctx, taskWorker, joinArgs{Q: q, Book: bk.o}))
	}
	const tasks = 40
	for i := range tasks {
		if err := q.Put(ctx, i); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.Join(ctx); err != nil {
		t.Fatal(err)
	}
	if n := bk.taken(0).Load(); n != tasks {
		t.Fatalf("Join() returned after %d tasks were done, want %d", n, tasks)
	}
	for range workers {
		if err := q.Put(ctx, -1); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range workers {
		if err := p.Join(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.Join(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestJoinableQueueOpen(t *testing.T) {
	ctx := t.Context()
	seg := anon(t, 1<<20)
	q, err := ringbuf.NewJoinableQueue(seg, "tasks", &ringbuf.QueueOptions[int]{Capacity: 4096})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	o, err := ringbuf.OpenJoinableQueue[int](seg, "tasks", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if err := q.Put(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if o.Unfinished() != 1 {
		t.Fatalf("Unfinished() through the opened queue = %d, want 1", o.Unfinished())
	}
	if _, err := ringbuf.OpenQueue[int](seg, "tasks", nil); err == nil {
		t.Fatal("OpenQueue of a joinable queue succeeded")
	}
}
