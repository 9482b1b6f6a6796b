package ringbuf_test

import (
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/race"
	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/process"
	"github.com/shmkit/shmkit/ringbuf"
	"github.com/shmkit/shmkit/shm"
)

// newQueue makes a queue in an anonymous segment of its own, closed at the
// end of the test.
func newQueue[T any](t testing.TB, opts *ringbuf.QueueOptions[T]) *ringbuf.Queue[T] {
	t.Helper()
	q, err := ringbuf.NewQueue(nil, "", opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

func newSimple[T any](t testing.TB) *ringbuf.SimpleQueue[T] {
	t.Helper()
	q, err := ringbuf.NewSimpleQueue[T](nil, "", &ringbuf.QueueOptions[T]{Capacity: 4096})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

// within runs f with a context that ends after d and reports how long it
// took.
func within(d time.Duration, f func(ctx context.Context) error) (time.Duration, error) {
	start := time.Now() // first: the deadline is then at least start + d
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	err := f(ctx)
	return time.Since(start), err
}

func TestQueueBasic(t *testing.T) {
	ctx := t.Context()
	q := newQueue[int64](t, nil)
	if !q.Empty() || q.Len() != 0 || q.Full() || q.MaxSize() != 0 {
		t.Fatalf("new queue: Empty %v Len %d Full %v MaxSize %d", q.Empty(), q.Len(), q.Full(), q.MaxSize())
	}
	if _, err := q.TryGet(); !errors.Is(err, ringbuf.ErrEmpty) {
		t.Fatalf("TryGet() on empty = %v, want ErrEmpty", err)
	}
	for i := range int64(5) {
		if err := q.Put(ctx, i*i); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.TryPut(25); err != nil {
		t.Fatal(err)
	}
	if q.Len() != 6 {
		t.Fatalf("Len() = %d, want 6", q.Len())
	}
	for i := range int64(6) {
		v, err := q.Get(ctx)
		if err != nil || v != i*i {
			t.Fatalf("Get() = %d, %v, want %d", v, err, i*i)
		}
	}
	if !q.Empty() {
		t.Fatal("queue not empty after getting everything")
	}
}

// TestQueueQsize is test_qsize.
func TestQueueQsize(t *testing.T) {
	ctx := t.Context()
	q := newQueue[int](t, nil)
	step := func(f func() error, want int) {
		t.Helper()
		if err := f(); err != nil {
			t.Fatal(err)
		}
		if n := q.Len(); n != want {
			t.Fatalf("Len() = %d, want %d", n, want)
		}
	}
	step(func() error { return nil }, 0)
	step(func() error { return q.Put(ctx, 1) }, 1)
	step(func() error { return q.Put(ctx, 5) }, 2)
	step(func() error { _, err := q.Get(ctx); return err }, 1)
	step(func() error { _, err := q.Get(ctx); return err }, 0)
}

// qArgs: a queue under test and two signals, Python's child_can_start and
// parent_can_continue.
type qArgs struct {
	Q        *ringbuf.Queue[int]
	Start    *ringbuf.SimpleQueue[int]
	Continue *ringbuf.SimpleQueue[int]
	N        int
}

func (a qArgs) close() { a.Q.Close(); a.Start.Close(); a.Continue.Close() }

// getSix is _test_put's child.
var getSix = process.MustRegister("queue-get-six", func(ctx context.Context, a qArgs) error {
	defer a.close()
	if _, err := a.Start.Get(ctx); err != nil {
		return err
	}
	for range 6 {
		if _, err := a.Q.Get(ctx); err != nil {
			return err
		}
	}
	return a.Continue.Put(ctx, 1)
})

// TestQueuePut is test_put: a queue of maxsize 6 fills, refuses more at
// once or after a timeout, and empties through a child.
func TestQueuePut(t *testing.T) {
	ctx := shmtest.Deadline(t, 30*time.Second)
	const maxSize = 6
	a := qArgs{Q: newQueue(t, &ringbuf.QueueOptions[int]{MaxSize: maxSize}), Start: newSimple[int](t), Continue: newSimple[int](t)}
	p := shmtest.Start(t, ctx, getSix, a)
	q := a.Q
	if !q.Empty() || q.Full() {
		t.Fatalf("Empty %v, Full %v; want true, false", q.Empty(), q.Full())
	}
	for i := 1; i <= 3; i++ {
		if err := q.Put(ctx, i); err != nil {
			t.Fatal(err)
		}
	}
	for i := 4; i <= 6; i++ {
		if err := q.TryPut(i); err != nil {
			t.Fatal(err)
		}
	}
	if q.Empty() || !q.Full() || q.Len() != maxSize {
		t.Fatalf("Empty %v, Full %v, Len %d; want false, true, %d", q.Empty(), q.Full(), q.Len(), maxSize)
	}
	if err := q.TryPut(7); !errors.Is(err, ringbuf.ErrFull) {
		t.Fatalf("TryPut(7) = %v, want ErrFull", err)
	}
	const timeout = 100 * time.Millisecond
	d, err := within(timeout, func(ctx context.Context) error { return q.Put(ctx, 7) })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Put(7) on a full queue = %v, want DeadlineExceeded", err)
	}
	if d < timeout {
		t.Fatalf("Put(7) gave up after %v, want at least %v", d, timeout)
	}
	if err := a.Start.Put(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Continue.Get(ctx); err != nil {
		t.Fatal(err)
	}
	if !q.Empty() || q.Full() {
		t.Fatalf("after the child: Empty %v, Full %v; want true, false", q.Empty(), q.Full())
	}
	if err := p.Join(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestQueueMaxSizeGivenBack: a Put that fails gives its place back.
func TestQueueMaxSizeGivenBack(t *testing.T) {
	ctx := t.Context()
	q := newQueue(t, &ringbuf.QueueOptions[[]byte]{MaxSize: 1, Capacity: 4096})
	if err := q.Put(ctx, []byte("a")); err != nil {
		t.Fatal(err)
	}
	if _, err := within(10*time.Millisecond, func(ctx context.Context) error { return q.Put(ctx, []byte("b")) }); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Put on a full queue = %v, want DeadlineExceeded", err)
	}
	if err := q.Put(ctx, make([]byte, 4096)); !errors.Is(err, ringbuf.ErrTooLarge) {
		t.Fatalf("Put(too large) = %v, want ErrTooLarge", err)
	}
	if _, err := q.Get(ctx); err != nil {
		t.Fatal(err)
	}
	if err := q.TryPut([]byte("c")); err != nil {
		t.Fatalf("TryPut after the Get = %v; a place was lost", err)
	}
	if err := q.TryPut([]byte("d")); !errors.Is(err, ringbuf.ErrFull) {
		t.Fatalf("TryPut on a full queue = %v, want ErrFull", err)
	}
}

// TestQueuePutWakesOnGet: a Put waiting for a place returns once a Get in
// another goroutine frees one.
func TestQueuePutWakesOnGet(t *testing.T) {
	ctx := shmtest.Deadline(t, 10*time.Second)
	q := newQueue(t, &ringbuf.QueueOptions[int]{MaxSize: 2})
	done := make(chan error, 1)
	go func() {
		for i := range 1000 {
			if err := q.Put(ctx, i); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	for i := range 1000 {
		v, err := q.Get(ctx)
		if err != nil || v != i {
			t.Fatalf("Get() = %d, %v; want %d", v, err, i)
		}
		if n := q.Len(); n > 2 {
			t.Fatalf("Len() = %d above maxsize 2", n)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// putRange puts [N, N+10), then, as _test_get does, signals.
var putRange = process.MustRegister("queue-put-range", func(ctx context.Context, a qArgs) error {
	defer a.close()
	if _, err := a.Start.Get(ctx); err != nil {
		return err
	}
	for i := a.N; i < a.N+10; i++ {
		if err := a.Q.Put(ctx, i); err != nil {
			return err
		}
	}
	return a.Continue.Put(ctx, 1)
})

// TestQueueGet is test_get: values put by a child (which then exits) are
// there, in order; an empty queue refuses at once or after a timeout.
func TestQueueGet(t *testing.T) {
	ctx := shmtest.Deadline(t, 30*time.Second)
	a := qArgs{Q: newQueue[int](t, nil), Start: newSimple[int](t), Continue: newSimple[int](t), N: 2}
	p := shmtest.Start(t, ctx, putRange, a)
	q := a.Q
	if !q.Empty() {
		t.Fatal("queue not empty before the child put")
	}
	if err := a.Start.Put(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Continue.Get(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.Join(ctx); err != nil { // the producer is gone; its messages stay
		t.Fatal(err)
	}
	if q.Empty() || q.Len() != 10 {
		t.Fatalf("Empty %v, Len %d; want false, 10", q.Empty(), q.Len())
	}
	for i := 2; i < 12; i++ {
		var v int
		var err error
		if i%2 == 0 {
			v, err = q.Get(ctx)
		} else {
			v, err = q.TryGet()
		}
		if err != nil || v != i {
			t.Fatalf("get = %d, %v; want %d", v, err, i)
		}
	}
	if _, err := q.TryGet(); !errors.Is(err, ringbuf.ErrEmpty) {
		t.Fatalf("TryGet() = %v, want ErrEmpty", err)
	}
	const timeout = 100 * time.Millisecond
	d, err := within(timeout, func(ctx context.Context) error { _, err := q.Get(ctx); return err })
	if !errors.Is(err, context.DeadlineExceeded) || d < timeout {
		t.Fatalf("Get() on empty = %v after %v, want DeadlineExceeded after %v", err, d, timeout)
	}
}

// TestQueueFork is test_fork: the parent's values, then a child's.
func TestQueueFork(t *testing.T) {
	ctx := shmtest.Deadline(t, 30*time.Second)
	a := qArgs{Q: newQueue[int](t, nil), Start: newSimple[int](t), Continue: newSimple[int](t), N: 10}
	for i := range 10 {
		if err := a.Q.Put(ctx, i); err != nil {
			t.Fatal(err)
		}
	}
	p := shmtest.Start(t, ctx, putRange, a)
	if err := a.Start.Put(ctx, 1); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if v, err := a.Q.Get(ctx); err != nil || v != i {
			t.Fatalf("Get() = %d, %v; want %d", v, err, i)
		}
	}
	if _, err := a.Q.TryGet(); !errors.Is(err, ringbuf.ErrEmpty) {
		t.Fatalf("TryGet() = %v, want ErrEmpty", err)
	}
	if err := p.Join(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestQueueTimeout is test_timeout.
func TestQueueTimeout(t *testing.T) {
	q := newQueue[int](t, nil)
	d, err := within(200*time.Millisecond, func(ctx context.Context) error { _, err := q.Get(ctx); return err })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Get() = %v, want DeadlineExceeded", err)
	}
	if d < 100*time.Millisecond {
		t.Fatalf("Get() gave up after %v, want about 200ms", d)
	}
}

// TestQueueShutdownAndClose is test_closed_queue_put_get_exceptions, with
// Python's two meanings of closing split: Shutdown for everyone, Close for
// this process.
func TestQueueShutdownAndClose(t *testing.T) {
	ctx := t.Context()
	q, err := ringbuf.NewQueue(nil, "", &ringbuf.QueueOptions[int]{MaxSize: 4, Capacity: 4096})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		if err := q.Put(ctx, i); err != nil {
			t.Fatal(err)
		}
	}
	// A Put waiting for a place is woken by Shutdown.
	waiting := make(chan error, 1)
	go func() { waiting <- q.Put(ctx, 99) }()
	time.Sleep(20 * time.Millisecond) // not for ordering: a Put that has not slept yet sees the shutdown too
	if err := q.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-waiting; !errors.Is(err, ringbuf.ErrShutdown) {
		t.Fatalf("waiting Put = %v, want ErrShutdown", err)
	}
	if !q.IsShutdown() {
		t.Fatal("IsShutdown() = false after Shutdown")
	}
	if err := q.Put(ctx, 5); !errors.Is(err, ringbuf.ErrShutdown) {
		t.Fatalf("Put after Shutdown = %v, want ErrShutdown", err)
	}
	if err := q.TryPut(5); !errors.Is(err, ringbuf.ErrShutdown) {
		t.Fatalf("TryPut after Shutdown = %v, want ErrShutdown", err)
	}
	for i := range 4 {
		if v, err := q.Get(ctx); err != nil || v != i {
			t.Fatalf("Get() after Shutdown = %d, %v; want %d (drain)", v, err, i)
		}
	}
	if _, err := q.Get(ctx); !errors.Is(err, ringbuf.ErrShutdown) {
		t.Fatalf("Get() on a drained shut queue = %v, want ErrShutdown", err)
	}
	if _, err := q.TryGet(); !errors.Is(err, ringbuf.ErrShutdown) {
		t.Fatalf("TryGet() on a drained shut queue = %v, want ErrShutdown", err)
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	if err := q.Put(ctx, 1); !errors.Is(err, ringbuf.ErrClosed) {
		t.Fatalf("Put after Close = %v, want ErrClosed", err)
	}
	if _, err := q.Get(ctx); !errors.Is(err, ringbuf.ErrClosed) {
		t.Fatalf("Get after Close = %v, want ErrClosed", err)
	}
	if err := q.Close(); !errors.Is(err, ringbuf.ErrClosed) {
		t.Fatalf("second Close = %v, want ErrClosed", err)
	}
}

type point struct {
	X, Y int32
	Tag  [4]byte
	Ok   bool
}

type record struct {
	Name  string
	Tags  []string
	Attrs map[string]int
	Next  *record
}

func TestQueueValues(t *testing.T) {
	ctx := t.Context()
	t.Run("raw struct", func(t *testing.T) {
		q := newQueue[point](t, nil)
		want := point{X: -1, Y: 1 << 30, Tag: [4]byte{'a', 'b'}, Ok: true}
		if err := q.Put(ctx, want); err != nil {
			t.Fatal(err)
		}
		if got, err := q.Get(ctx); err != nil || got != want {
			t.Fatalf("Get() = %+v, %v; want %+v", got, err, want)
		}
	})
	t.Run("empty struct", func(t *testing.T) {
		q := newQueue[struct{}](t, nil)
		for range 3 {
			if err := q.Put(ctx, struct{}{}); err != nil {
				t.Fatal(err)
			}
		}
		if q.Len() != 3 {
			t.Fatalf("Len() = %d, want 3", q.Len())
		}
		for range 3 {
			if _, err := q.Get(ctx); err != nil {
				t.Fatal(err)
			}
		}
	})
	t.Run("gob", func(t *testing.T) {
		q := newQueue[record](t, nil)
		want := record{Name: "héllo", Tags: []string{"a", "b"}, Attrs: map[string]int{"x": 1}, Next: &record{Name: "next"}}
		if err := q.Put(ctx, want); err != nil {
			t.Fatal(err)
		}
		if got, err := q.Get(ctx); err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("Get() = %+v, %v; want %+v", got, err, want)
		}
	})
	t.Run("string", func(t *testing.T) {
		q := newQueue[string](t, nil)
		for _, s := range []string{"", "hello", strings.Repeat("x", 1000)} {
			if err := q.Put(ctx, s); err != nil {
				t.Fatal(err)
			}
			if got, err := q.Get(ctx); err != nil || got != s {
				t.Fatalf("Get() = %q, %v; want %q", got, err, s)
			}
		}
	})
	t.Run("bytes", func(t *testing.T) {
		q := newQueue[[]byte](t, nil)
		msg := []byte("hello")
		for _, m := range [][]byte{msg, {}, nil} {
			if err := q.Put(ctx, m); err != nil {
				t.Fatal(err)
			}
		}
		msg[0] = 'j' // Put copied it
		for _, want := range []string{"hello", "", ""} {
			got, err := q.Get(ctx)
			if err != nil || string(got) != want || got == nil {
				t.Fatalf("Get() = %q (nil %v), %v; want %q, not nil", got, got == nil, err, want)
			}
		}
	})
	t.Run("any", func(t *testing.T) {
		// Concrete types inside interfaces must be registered with gob,
		// in every process; int and string are already.
		gob.Register([]any{})
		q := newQueue[any](t, nil)
		for _, v := range []any{42, "hello", []any{42, nil, "hello"}, nil} {
			if err := q.Put(ctx, v); err != nil {
				t.Fatalf("Put(%#v) = %v", v, err)
			}
			if got, err := q.Get(ctx); err != nil || !reflect.DeepEqual(got, v) {
				t.Fatalf("Get() = %#v, %v; want %#v", got, err, v)
			}
		}
	})
	t.Run("unencodable", func(t *testing.T) {
		type withChan struct{ C chan int }
		q := newQueue[withChan](t, nil)
		err := q.Put(ctx, withChan{C: make(chan int)})
		if err == nil {
			t.Fatal("Put of a value with a chan field succeeded")
		}
		if q.Len() != 0 {
			t.Fatalf("Len() = %d after a failed Put, want 0", q.Len())
		}
	})
	t.Run("undecodable", func(t *testing.T) {
		q := newQueue[[]byte](t, nil)
		if err := q.Put(ctx, []byte("not gob")); err != nil {
			t.Fatal(err)
		}
		r, err := ringbuf.OpenQueueHandle(q.Handle(), &ringbuf.QueueOptions[record]{Codec: ringbuf.GobCodec[record]{}})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if _, err := r.Get(ctx); err == nil {
			t.Fatal("Get of a message gob cannot decode succeeded")
		}
		if q.Len() != 0 {
			t.Fatalf("Len() = %d after a failed decode, want 0 (the message is consumed)", q.Len())
		}
	})
}

func TestQueueTooLarge(t *testing.T) {
	ctx := t.Context()
	q := newQueue(t, &ringbuf.QueueOptions[[]byte]{Capacity: 4096})
	if q.MaxMessage() != 2040 {
		t.Fatalf("MaxMessage() = %d, want 2040", q.MaxMessage())
	}
	if err := q.Put(ctx, make([]byte, 2040)); err != nil {
		t.Fatal(err)
	}
	err := q.Put(ctx, make([]byte, 2041))
	if !errors.Is(err, ringbuf.ErrTooLarge) || !strings.Contains(err.Error(), "2040") {
		t.Fatalf("Put(2041 bytes) = %v, want ErrTooLarge naming 2040", err)
	}
	big := newQueue(t, &ringbuf.QueueOptions[[4096]byte]{Capacity: 4096})
	if err := big.TryPut([4096]byte{}); !errors.Is(err, ringbuf.ErrTooLarge) {
		t.Fatalf("TryPut([4096]byte) = %v, want ErrTooLarge", err)
	}
}

func TestQueueOpen(t *testing.T) {
	ctx := t.Context()
	seg := anon(t, 1<<20)
	q, err := ringbuf.NewQueue(seg, "jobs", &ringbuf.QueueOptions[int32]{MaxSize: 3, Capacity: 4096})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if _, err := ringbuf.NewQueue[int32](seg, "jobs", nil); !errors.Is(err, shm.ErrObjectExist) {
		t.Fatalf("NewQueue of a taken name = %v, want ErrObjectExist", err)
	}
	o, err := ringbuf.OpenQueue[int32](seg, "jobs", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if o.MaxSize() != 3 {
		t.Fatalf("opened MaxSize() = %d, want 3", o.MaxSize())
	}
	if err := q.Put(ctx, 7); err != nil {
		t.Fatal(err)
	}
	if v, err := o.Get(ctx); err != nil || v != 7 {
		t.Fatalf("Get() through the opened queue = %d, %v; want 7", v, err)
	}
	if _, err := ringbuf.OpenQueue[int64](seg, "jobs", nil); !errors.Is(err, shm.ErrType) {
		t.Fatalf("OpenQueue[int64] of a queue of int32 = %v, want ErrType", err)
	}
	if _, err := ringbuf.OpenJoinableQueue[int32](seg, "jobs", nil); err == nil {
		t.Fatal("OpenJoinableQueue of a plain queue succeeded")
	}
	if _, err := ringbuf.OpenQueue[int32](seg, "nope", nil); !errors.Is(err, shm.ErrObjectNotExist) {
		t.Fatalf("OpenQueue of a missing name = %v, want ErrObjectNotExist", err)
	}
	if _, err := ringbuf.NewQueue(seg, "bad", &ringbuf.QueueOptions[int32]{MaxSize: -1}); err == nil {
		t.Fatal("NewQueue with MaxSize -1 succeeded")
	}
}

// Messages of the many-process tests: the producer's number and its
// sequence number, and a check word.
type seqMsg struct {
	Producer, Seq uint32
	Check         uint64
}

func (m seqMsg) check() uint64 { return uint64(m.Producer)*0x9E3779B97F4A7C15 ^ uint64(m.Seq) }

type qmpArgs struct {
	Q           *ringbuf.Queue[seqMsg]
	Book        *shm.Object
	ID          int
	Producers   int
	PerProducer int
	Lax         bool // no order check: consumers are killed, and redelivery reorders
}

var queueProducer = process.MustRegister("queue-producer", func(ctx context.Context, a qmpArgs) error {
	defer a.Q.Close()
	for s := range a.PerProducer {
		m := seqMsg{Producer: uint32(a.ID), Seq: uint32(s)}
		m.Check = m.check()
		if err := a.Q.Put(ctx, m); err != nil {
			return fmt.Errorf("producer %d seq %d: %w", a.ID, s, err)
		}
	}
	return nil
})

var queueConsumer = process.MustRegister("queue-consumer", func(ctx context.Context, a qmpArgs) error {
	defer a.Q.Close()
	bk := book{a.Book, a.Producers * a.PerProducer}
	last := make([]int, a.Producers)
	for i := range last {
		last[i] = -1
	}
	for {
		m, err := a.Q.Get(ctx)
		if errors.Is(err, ringbuf.ErrShutdown) {
			return nil
		}
		if err != nil {
			return err
		}
		p, s := int(m.Producer), int(m.Seq)
		if m.Check != m.check() || p >= a.Producers || s >= a.PerProducer {
			return fmt.Errorf("consumer %d: bad message %+v", a.ID, m)
		}
		if !a.Lax && s <= last[p] {
			return fmt.Errorf("consumer %d: producer %d seq %d after %d", a.ID, p, s, last[p])
		}
		last[p] = max(last[p], s)
		bk.taken(p*a.PerProducer + s).Add(1)
	}
})

// runQueue moves producers×each messages through a queue of maxsize 64
// from producer processes to consumer processes, and checks that each
// arrives once, intact, and in order per producer at each consumer.
func runQueue(t *testing.T, producers, consumers, each int) {
	ctx := shmtest.Deadline(t, 120*time.Second)
	shmtest.NeedProcesses(t)
	seg := anon(t, 4<<20)
	q, err := ringbuf.NewQueue(seg, "", &ringbuf.QueueOptions[seqMsg]{MaxSize: 64, Capacity: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	bk := newBook(t, seg, producers*each)
	args := qmpArgs{Q: q, Book: bk.o, Producers: producers, PerProducer: each}
	start := time.Now()
	var ps, cs []*process.Process
	for i := range consumers {
		a := args
		a.ID = i
		cs = append(cs, shmtest.Start(t, ctx, queueConsumer, a))
	}
	for i := range producers {
		a := args
		a.ID = i
		ps = append(ps, shmtest.Start(t, ctx, queueProducer, a))
	}
	for _, p := range ps {
		if err := p.Join(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	for _, p := range cs {
		if err := p.Join(ctx); err != nil {
			t.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	for i := range producers * each {
		if n := bk.taken(i).Load(); n != 1 {
			t.Fatalf("message %d (producer %d seq %d) delivered %d times", i, i/each, i%each, n)
		}
	}
	if q.Len() != 0 || q.Full() {
		t.Fatalf("after the run: Len %d, Full %v", q.Len(), q.Full())
	}
	t.Logf("%d→%d: %d messages in %v (%.0f k msg/s, process start included)", producers, consumers,
		producers*each, elapsed, float64(producers*each)/elapsed.Seconds()/1e3)
}

func TestQueueFourToOne(t *testing.T) { runQueue(t, 4, 1, 100_000/4) }
func TestQueueOneToFour(t *testing.T) { runQueue(t, 1, 4, 100_000) }

func TestQueueGetInto(t *testing.T) {
	ctx := shmtest.Deadline(t, 10*time.Second)
	qb, err := ringbuf.NewQueue[[]byte](nil, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer qb.Close()
	buf := make([]byte, 3, 100)
	for _, m := range []string{"hello", "", "a longer message than the last"} {
		if err := qb.Put(ctx, []byte(m)); err != nil {
			t.Fatal(err)
		}
		if err := qb.GetInto(ctx, &buf); err != nil || string(buf) != m || buf == nil {
			t.Errorf("GetInto = %q (nil %v), %v, want %q", buf, buf == nil, err, m)
		}
	}
	if err := qb.TryGetInto(&buf); !errors.Is(err, ringbuf.ErrEmpty) || string(buf) != "a longer message than the last" {
		t.Errorf("TryGetInto on empty = %v, buffer %q", err, buf)
	}
	qr, err := ringbuf.NewQueue[[4]uint32](nil, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer qr.Close()
	qr.Put(ctx, [4]uint32{1, 2, 3, 4})
	var v [4]uint32
	if err := qr.TryGetInto(&v); err != nil || v != [4]uint32{1, 2, 3, 4} {
		t.Errorf("TryGetInto = %v, %v", v, err)
	}
	qs, err := ringbuf.NewQueue[map[string]int](nil, "", nil) // gob
	if err != nil {
		t.Fatal(err)
	}
	defer qs.Close()
	qs.Put(ctx, map[string]int{"a": 1})
	var m map[string]int
	if err := qs.GetInto(ctx, &m); err != nil || m["a"] != 1 {
		t.Errorf("GetInto = %v, %v", m, err)
	}

	// The hot paths allocate nothing: Put of []byte and of a pointer-free
	// T, Get of a pointer-free T, GetInto of []byte into a buffer that is
	// large enough.
	if race.Enabled {
		return // the race detector allocates
	}
	msg := make([]byte, 64)
	if n := testing.AllocsPerRun(200, func() { qb.Put(ctx, msg); qb.GetInto(ctx, &buf) }); n != 0 {
		t.Errorf("Put and GetInto of []byte: %v allocations", n)
	}
	if n := testing.AllocsPerRun(200, func() { qr.Put(ctx, v); v, _ = qr.Get(ctx) }); n != 0 {
		t.Errorf("Put and Get of [4]uint32: %v allocations", n)
	}
}
