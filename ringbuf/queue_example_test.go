//go:build unix

package ringbuf_test

import (
	"context"
	"fmt"

	"github.com/shmkit/shmkit/process"
	"github.com/shmkit/shmkit/ringbuf"
)

var f = process.MustRegister("example-queue-f", func(ctx context.Context, q *ringbuf.Queue[[]any]) error {
	defer q.Close()
	return q.Put(ctx, []any{42, nil, "hello"})
})

// A child puts a value; the parent gets it: Python's "Exchanging objects
// between processes" example. A []any travels through encoding/gob (the
// concrete types inside must be registered with gob; int and string are).
func ExampleQueue() {
	ctx := context.Background()
	q, err := ringbuf.NewQueue[[]any](nil, "", nil)
	if err != nil {
		panic(err)
	}
	defer q.Close()
	p, err := process.Start(ctx, f, q, nil)
	if err != nil {
		panic(err)
	}
	fmt.Println(q.Get(ctx))
	if err := p.Join(ctx); err != nil {
		panic(err)
	}
	// Output:
	// [42 <nil> hello] <nil>
}

// Values without pointers travel as their own bytes, with no encoding.
func ExampleJoinableQueue() {
	ctx := context.Background()
	type job struct{ ID, Size int32 }
	q, err := ringbuf.NewJoinableQueue[job](nil, "", &ringbuf.QueueOptions[job]{MaxSize: 8})
	if err != nil {
		panic(err)
	}
	defer q.Close()
	for i := range int32(3) {
		if err := q.Put(ctx, job{i, 10 * i}); err != nil {
			panic(err)
		}
	}
	stopped := make(chan struct{})
	go func() { // a worker; it could be in another process
		defer close(stopped)
		for {
			j, err := q.Get(ctx)
			if err != nil {
				return
			}
			fmt.Println("job", j.ID, "size", j.Size)
			q.TaskDone()
		}
	}()
	if err := q.Join(ctx); err != nil {
		panic(err)
	}
	fmt.Println("all done")
	q.Shutdown(ctx) // the worker's Get returns ErrShutdown
	<-stopped
	// Output:
	// job 0 size 0
	// job 1 size 10
	// job 2 size 20
	// all done
}
