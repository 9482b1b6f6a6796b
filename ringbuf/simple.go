package ringbuf

// A SimpleQueue is a Queue without MaxSize under its own kind
// (shm.KindSimpleQueue; layout at the top of queue.go, with maxsize 0).

import (
	"context"
	"fmt"

	"github.com/shmkit/shmkit/shm"
)

// SimpleQueue is a plain FIFO queue between processes, like Python's
// multiprocessing.SimpleQueue: Put, Get, Empty and Close, with no bound
// on the number of messages and no Try forms.
//
// Make one with NewSimpleQueue, or open one with OpenSimpleQueue or
// OpenSimpleQueueHandle; a *SimpleQueue passed to process.Start arrives in
// the child as the same queue. It must not be copied. Its methods may be
// called from any goroutine of any process that has it open. Put, Get,
// delivery, encoding and what a killed process does are as for Queue; Put
// synchronizes before the Get that returns its value, in the sense of
// [the Go memory model]. After Close, methods fail with ErrClosed and
// Empty reports true.
//
// [the Go memory model]: https://go.dev/ref/mem
type SimpleQueue[T any] struct {
	_ noCopy
	q *Queue[T]
}

// NewSimpleQueue places a new empty simple queue in seg under name, as
// NewQueue does; opts.MaxSize must be zero.
func NewSimpleQueue[T any](seg *shm.Segment, name string, opts *QueueOptions[T]) (*SimpleQueue[T], error) {
	if opts != nil && opts.MaxSize != 0 {
		return nil, fmt.Errorf("ringbuf: %w: a simple queue has no maxsize (asked for %d)", shm.ErrSize, opts.MaxSize)
	}
	q, err := newQueue(seg, name, shm.KindSimpleQueue, opts)
	return simple(q, err)
}

// OpenSimpleQueue opens the simple queue named name in seg.
func OpenSimpleQueue[T any](seg *shm.Segment, name string, opts *QueueOptions[T]) (*SimpleQueue[T], error) {
	q, err := openQueue(seg, name, shm.KindSimpleQueue, opts)
	return simple(q, err)
}

// OpenSimpleQueueHandle opens the simple queue that h names.
func OpenSimpleQueueHandle[T any](h shm.Handle, opts *QueueOptions[T]) (*SimpleQueue[T], error) {
	q, err := openQueueHandle(h, shm.KindSimpleQueue, opts)
	return simple(q, err)
}

func simple[T any](q *Queue[T], err error) (*SimpleQueue[T], error) {
	if err != nil {
		return nil, err
	}
	return &SimpleQueue[T]{q: q}, nil
}

// Put puts v at the end of the queue, as Queue.Put does.
func (s *SimpleQueue[T]) Put(ctx context.Context, v T) error { return s.q.Put(ctx, v) }

// Get removes and returns the value at the front of the queue, as
// Queue.Get does.
func (s *SimpleQueue[T]) Get(ctx context.Context) (T, error) { return s.q.Get(ctx) }

// GetInto is Get that stores the value in *v, reusing its memory where it
// can (see Queue.GetInto).
func (s *SimpleQueue[T]) GetInto(ctx context.Context, v *T) error { return s.q.GetInto(ctx, v) }

// Empty reports whether the queue holds no message.
func (s *SimpleQueue[T]) Empty() bool { return s.q.Empty() }

// Shutdown ends the queue for every process, as Queue.Shutdown does.
func (s *SimpleQueue[T]) Shutdown(ctx context.Context) error { return s.q.Shutdown(ctx) }

// Close lets go of this process's handle to the queue, like Python's
// SimpleQueue.close(); the queue lives on for others.
func (s *SimpleQueue[T]) Close() error { return s.q.Close() }

// Handle names the queue for other processes.
func (s *SimpleQueue[T]) Handle() shm.Handle { return s.q.Handle() }

// ShmObjects tells process.Start which segment to pass along.
func (s *SimpleQueue[T]) ShmObjects() []*shm.Object { return s.q.ShmObjects() }

// GobEncode encodes the queue's handle, so that a *SimpleQueue can be an
// argument of process.Start; GobDecode opens it again.
func (s *SimpleQueue[T]) GobEncode() ([]byte, error) { return s.q.GobEncode() }

// GobDecode opens the simple queue whose handle GobEncode encoded, with
// default QueueOptions.
func (s *SimpleQueue[T]) GobDecode(data []byte) error {
	var h shm.Handle
	if err := h.UnmarshalBinary(data); err != nil {
		return err
	}
	q, err := openQueueHandle[T](h, shm.KindSimpleQueue, nil)
	if err != nil {
		return err
	}
	s.q = q
	return nil
}
