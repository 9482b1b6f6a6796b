package ringbuf_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/process"
	"github.com/shmkit/shmkit/ringbuf"
)

type emptyArgs struct {
	Q        *ringbuf.SimpleQueue[bool]
	Start    *ringbuf.SimpleQueue[int]
	Continue *ringbuf.SimpleQueue[int]
}

// putEmpty is _test_empty's child.
var putEmpty = process.MustRegister("queue-put-empty", func(ctx context.Context, a emptyArgs) error {
	defer a.Q.Close()
	defer a.Start.Close()
	defer a.Continue.Close()
	if _, err := a.Start.Get(ctx); err != nil {
		return err
	}
	if err := a.Q.Put(ctx, a.Q.Empty()); err != nil {
		return err
	}
	if err := a.Q.Put(ctx, a.Q.Empty()); err != nil {
		return err
	}
	return a.Continue.Put(ctx, 1)
})

// TestSimpleQueueEmpty is TestSimpleQueue.test_empty.
func TestSimpleQueueEmpty(t *testing.T) {
	ctx := shmtest.Deadline(t, 30*time.Second)
	a := emptyArgs{Q: newSimple[bool](t), Start: newSimple[int](t), Continue: newSimple[int](t)}
	p := shmtest.Start(t, ctx, putEmpty, a)
	if !a.Q.Empty() {
		t.Fatal("Empty() = false before the child put")
	}
	if err := a.Start.Put(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Continue.Get(ctx); err != nil {
		t.Fatal(err)
	}
	if a.Q.Empty() {
		t.Fatal("Empty() = true after the child put")
	}
	for _, want := range []bool{true, false} {
		if got, err := a.Q.Get(ctx); err != nil || got != want {
			t.Fatalf("Get() = %v, %v; want %v", got, err, want)
		}
	}
	if !a.Q.Empty() {
		t.Fatal("Empty() = false after getting everything")
	}
	if err := p.Join(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestSimpleQueueClose is test_close. Python's second close() does
// nothing; ours reports ErrClosed, as every Close in shmkit does.
func TestSimpleQueueClose(t *testing.T) {
	q, err := ringbuf.NewSimpleQueue[int](nil, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	if err := q.Close(); !errors.Is(err, ringbuf.ErrClosed) {
		t.Fatalf("second Close() = %v, want ErrClosed", err)
	}
	if err := q.Put(t.Context(), 1); !errors.Is(err, ringbuf.ErrClosed) {
		t.Fatalf("Put after Close = %v, want ErrClosed", err)
	}
	if !q.Empty() {
		t.Fatal("Empty() = false after Close")
	}
}

func TestSimpleQueueOptions(t *testing.T) {
	if _, err := ringbuf.NewSimpleQueue(nil, "", &ringbuf.QueueOptions[int]{MaxSize: 3}); err == nil {
		t.Fatal("NewSimpleQueue with MaxSize succeeded")
	}
	seg := anon(t, 1<<20)
	q, err := ringbuf.NewSimpleQueue(seg, "s", &ringbuf.QueueOptions[string]{Capacity: 4096})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	o, err := ringbuf.OpenSimpleQueue[string](seg, "s", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if err := q.Put(t.Context(), "hi"); err != nil {
		t.Fatal(err)
	}
	if v, err := o.Get(t.Context()); err != nil || v != "hi" {
		t.Fatalf("Get() = %q, %v; want hi", v, err)
	}
	if err := o.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Get(t.Context()); !errors.Is(err, ringbuf.ErrShutdown) {
		t.Fatalf("Get() after Shutdown = %v, want ErrShutdown", err)
	}
}
