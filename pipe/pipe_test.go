package pipe_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shmkit/shmkit/pipe"
	"github.com/shmkit/shmkit/ringbuf"
	"github.com/shmkit/shmkit/shm"
)

func newPipe(t testing.TB, opts *pipe.Options) (*pipe.End, *pipe.End) {
	t.Helper()
	a, b, err := pipe.New(nil, "", opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

func TestDuplex(t *testing.T) {
	ctx := t.Context()
	a, b := newPipe(t, nil)
	for _, dir := range []struct {
		name     string
		from, to *pipe.End
	}{{"a to b", a, b}, {"b to a", b, a}} {
		t.Run(dir.name, func(t *testing.T) {
			for _, msg := range [][]byte{[]byte("hello"), {}, bytes.Repeat([]byte{7}, 1000)} {
				if err := dir.from.SendBytes(ctx, msg); err != nil {
					t.Fatalf("SendBytes(%d bytes) = %v", len(msg), err)
				}
			}
			for _, want := range [][]byte{[]byte("hello"), {}, bytes.Repeat([]byte{7}, 1000)} {
				got, err := dir.to.RecvBytes(ctx)
				if err != nil || !bytes.Equal(got, want) || got == nil {
					t.Fatalf("RecvBytes = %q, %v; want %q", got, err, want)
				}
			}
		})
	}
	// Send/Recv: values through gob, like Python's send/recv of [1, 2.25, None].
	type seq struct {
		I int
		F float64
		P *int
	}
	if err := a.Send(ctx, seq{1, 2.25, nil}); err != nil {
		t.Fatal(err)
	}
	var got seq
	if err := b.Recv(ctx, &got); err != nil || got != (seq{1, 2.25, nil}) {
		t.Fatalf("Recv = %+v, %v", got, err)
	}
	// SendValue/RecvValue with ringbuf's codecs.
	if err := pipe.SendValue[[]byte](ctx, a, nil, []byte("raw")); err != nil {
		t.Fatal(err)
	}
	if v, err := pipe.RecvValue[[]byte](ctx, b, ringbuf.BytesCodec{}); err != nil || string(v) != "raw" {
		t.Fatalf("RecvValue = %q, %v", v, err)
	}
	if err := pipe.SendValue(ctx, b, ringbuf.GobCodec[map[string]int]{}, map[string]int{"x": 1}); err != nil {
		t.Fatal(err)
	}
	if v, err := pipe.RecvValue[map[string]int](ctx, a, nil); err != nil || v["x"] != 1 {
		t.Fatalf("RecvValue = %v, %v", v, err)
	}
	if !a.Readable() || !a.Writable() || a.Side() != 0 || b.Side() != 1 {
		t.Fatalf("Readable %v Writable %v Side %d, %d", a.Readable(), a.Writable(), a.Side(), b.Side())
	}
}

func TestOneWay(t *testing.T) {
	ctx := t.Context()
	r, w := newPipe(t, &pipe.Options{OneWay: true})
	if err := w.Send(ctx, 1); err != nil {
		t.Fatal(err)
	}
	var v int
	if err := r.Recv(ctx, &v); err != nil || v != 1 {
		t.Fatalf("Recv = %d, %v", v, err)
	}
	if !r.Readable() || r.Writable() || w.Readable() || !w.Writable() {
		t.Fatalf("reader %v/%v, writer %v/%v", r.Readable(), r.Writable(), w.Readable(), w.Writable())
	}
	if err := r.Send(ctx, 2); !errors.Is(err, pipe.ErrReadOnly) {
		t.Errorf("reader Send = %v, want ErrReadOnly", err)
	}
	if err := w.Recv(ctx, &v); !errors.Is(err, pipe.ErrWriteOnly) {
		t.Errorf("writer Recv = %v, want ErrWriteOnly", err)
	}
	if _, err := w.PollTimeout(0); !errors.Is(err, pipe.ErrWriteOnly) {
		t.Errorf("writer Poll = %v, want ErrWriteOnly", err)
	}
	if _, err := w.Write([]byte("x")); err != nil {
		t.Errorf("writer Write = %v", err)
	}
	if _, err := r.Write([]byte("x")); !errors.Is(err, pipe.ErrReadOnly) {
		t.Errorf("reader Write = %v, want ErrReadOnly", err)
	}
}

// TestClose: closing one end gives the other what was sent, then io.EOF;
// its sends fail with ErrPeerClosed; the closed end fails with ErrClosed
// (Python's test_context and the end of test_connection).
func TestClose(t *testing.T) {
	ctx := t.Context()
	for _, oneWay := range []bool{false, true} {
		a, b := newPipe(t, &pipe.Options{OneWay: oneWay})
		// b sends (in a one-way pipe, b is the writer).
		if err := b.SendBytes(ctx, []byte("last")); err != nil {
			t.Fatal(err)
		}
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		if ok, err := a.PollTimeout(0); !ok || err != nil {
			t.Errorf("Poll after peer close = %v, %v; want true", ok, err)
		}
		if got, err := a.RecvBytes(ctx); err != nil || string(got) != "last" {
			t.Errorf("RecvBytes = %q, %v; want the message sent before Close", got, err)
		}
		for range 2 {
			if _, err := a.RecvBytes(ctx); err != io.EOF {
				t.Errorf("RecvBytes after drain = %v, want io.EOF", err)
			}
		}
		if ok, err := a.PollTimeout(0); !ok || err != nil {
			t.Errorf("Poll at EOF = %v, %v; want true (Python)", ok, err)
		}
		if !oneWay {
			if err := a.SendBytes(ctx, []byte("x")); !errors.Is(err, pipe.ErrPeerClosed) {
				t.Errorf("SendBytes to closed peer = %v, want ErrPeerClosed", err)
			}
		}
		if _, err := b.RecvBytes(ctx); !errors.Is(err, pipe.ErrClosed) && !errors.Is(err, pipe.ErrWriteOnly) {
			t.Errorf("RecvBytes on closed end = %v, want ErrClosed", err)
		}
		if err := b.Close(); !errors.Is(err, pipe.ErrClosed) {
			t.Errorf("second Close = %v, want ErrClosed", err)
		}
		if !b.Closed() || a.Closed() {
			t.Errorf("Closed: %v, %v", b.Closed(), a.Closed())
		}
	}
	// The reader of a one-way pipe closes: the writer's sends fail.
	r, w := newPipe(t, &pipe.Options{OneWay: true})
	r.Close()
	if err := w.SendBytes(ctx, []byte("x")); !errors.Is(err, pipe.ErrPeerClosed) {
		t.Errorf("SendBytes to closed reader = %v, want ErrPeerClosed", err)
	}
}

// TestCloseWakes: a receive waiting when the peer closes returns io.EOF,
// and one waiting when its own end is closed returns ErrClosed.
func TestCloseWakes(t *testing.T) {
	ctx := t.Context()
	a, b := newPipe(t, nil)
	errc := make(chan error, 2)
	go func() { _, err := a.RecvBytes(ctx); errc <- err }()
	time.Sleep(20 * time.Millisecond) // let it wait (either order is fine)
	b.Close()
	if err := <-errc; err != io.EOF {
		t.Errorf("waiting RecvBytes after peer Close = %v, want io.EOF", err)
	}
	c, d := newPipe(t, nil)
	_ = d
	go func() { _, err := c.RecvBytes(ctx); errc <- err }()
	time.Sleep(20 * time.Millisecond)
	c.Close()
	if err := <-errc; !errors.Is(err, pipe.ErrClosed) {
		t.Errorf("waiting RecvBytes after own Close = %v, want ErrClosed", err)
	}
}

// TestRecvBytesInto: Python's recv_bytes_into, with a short buffer: the
// error carries the size and the message stays.
func TestRecvBytesInto(t *testing.T) {
	ctx := t.Context()
	a, b := newPipe(t, nil)
	long := bytes.Repeat([]byte("hello world"), 10)
	if err := a.SendBytes(ctx, long); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 40)
	n, err := b.RecvBytesInto(ctx, buf)
	var short *pipe.BufferTooShortError
	if !errors.As(err, &short) || !errors.Is(err, pipe.ErrBufferTooShort) || short.Size != len(long) || n != 0 {
		t.Fatalf("RecvBytesInto(40 bytes) = %d, %v; want BufferTooShortError{%d}", n, err, len(long))
	}
	buf = make([]byte, 200)
	if n, err := b.RecvBytesInto(ctx, buf[3:]); err != nil || !bytes.Equal(buf[3:3+n], long) {
		t.Fatalf("RecvBytesInto(200 bytes) = %d, %v", n, err)
	}
	if ok, _ := b.PollTimeout(0); ok {
		t.Fatal("message delivered twice")
	}
}

func TestTooLarge(t *testing.T) {
	a, b := newPipe(t, &pipe.Options{Capacity: 1024})
	if a.MaxMessage() != 512-8 {
		t.Fatalf("MaxMessage = %d, want %d", a.MaxMessage(), 512-8)
	}
	if err := a.SendBytes(t.Context(), make([]byte, 505)); !errors.Is(err, pipe.ErrTooLarge) {
		t.Fatalf("SendBytes(505) = %v, want ErrTooLarge", err)
	}
	if err := a.SendBytes(t.Context(), make([]byte, 504)); err != nil {
		t.Fatal(err)
	}
	if b, err := b.RecvBytes(t.Context()); err != nil || len(b) != 504 {
		t.Fatal(len(b), err)
	}
}

// TestPoll: Python's poll() with no, negative and short timeouts, and
// test_empty_string.
func TestPoll(t *testing.T) {
	a, b := newPipe(t, nil)
	for _, d := range []time.Duration{0, -1, 50 * time.Millisecond} {
		if ok, err := a.PollTimeout(d); ok || err != nil {
			t.Errorf("PollTimeout(%v) on empty = %v, %v", d, ok, err)
		}
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if ok, err := a.Poll(ctx); ok || !errors.Is(err, context.Canceled) {
		t.Errorf("Poll(cancelled) = %v, %v; want false, Canceled", ok, err)
	}
	b.SendBytes(t.Context(), nil)
	for range 2 {
		if ok, err := a.PollTimeout(0); !ok || err != nil {
			t.Errorf("PollTimeout(0) with an empty message = %v, %v; want true", ok, err)
		}
	}
	if m, err := a.RecvBytes(t.Context()); err != nil || len(m) != 0 {
		t.Errorf("RecvBytes = %q, %v", m, err)
	}
}

// TestStream: the io.Reader and io.Writer views.
func TestStream(t *testing.T) {
	a, b := newPipe(t, &pipe.Options{Capacity: 1024})
	text := strings.Repeat("the quick brown fox ", 200) // 4000 bytes: several messages
	errc := make(chan error, 1)
	go func() {
		_, err := io.Copy(a, strings.NewReader(text))
		errc <- errors.Join(err, a.Close())
	}()
	var got bytes.Buffer
	if _, err := io.Copy(&got, b); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if got.String() != text {
		t.Fatalf("got %d bytes, want %d", got.Len(), len(text))
	}
}

// TestConcurrent: several goroutines send and receive on one pair.
func TestConcurrent(t *testing.T) {
	ctx := t.Context()
	a, b := newPipe(t, &pipe.Options{Capacity: 4096})
	const per, senders = 500, 4
	var wg sync.WaitGroup
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				if err := a.Send(ctx, [2]int{s, i}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	seen := make(chan [2]int, senders*per)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range senders * per / 2 {
				var v [2]int
				if err := b.Recv(ctx, &v); err != nil {
					t.Error(err)
					return
				}
				seen <- v
			}
		}()
	}
	wg.Wait()
	close(seen)
	got := map[[2]int]bool{}
	for v := range seen {
		if got[v] {
			t.Fatalf("%v twice", v)
		}
		got[v] = true
	}
	if len(got) != senders*per {
		t.Fatalf("%d messages, want %d", len(got), senders*per)
	}
}

func TestWait(t *testing.T) {
	ctx := t.Context()
	a, b := newPipe(t, nil)
	c, d := newPipe(t, nil)
	if r, err := pipe.Wait(shortCtx(t, 30*time.Millisecond), a, c); len(r) != 0 || err != nil {
		t.Fatalf("Wait on nothing = %v, %v", r, err)
	}
	go func() {
		time.Sleep(30 * time.Millisecond)
		d.SendBytes(ctx, []byte("x"))
	}()
	r, err := pipe.Wait(ctx, a, c)
	if err != nil || len(r) != 1 || r[0] != pipe.Connection(c) {
		t.Fatalf("Wait = %v, %v; want [c]", r, err)
	}
	b.SendBytes(ctx, []byte("y"))
	r, err = pipe.Wait(ctx, a, c)
	if err != nil || len(r) != 2 {
		t.Fatalf("Wait = %v, %v; want both", r, err)
	}
	if m, err := c.RecvBytes(ctx); err != nil || string(m) != "x" {
		t.Fatalf("RecvBytes after Wait = %q, %v", m, err)
	}
}

func shortCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

// TestNamed: a pipe in a named segment, its ends opened by name.
func TestNamed(t *testing.T) {
	ctx := t.Context()
	seg, err := shm.New(1<<20, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Close()
	a, b, err := pipe.New(seg, "p", &pipe.Options{Capacity: 4096})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if _, _, err := pipe.New(seg, "p", nil); !errors.Is(err, shm.ErrObjectExist) {
		t.Fatalf("New of a taken name = %v, want ErrObjectExist", err)
	}
	// Hand b over, as to another process: its Close no longer ends it.
	if _, err := b.GobEncode(); err != nil {
		t.Fatal(err)
	}
	b.Close()
	b2, err := pipe.Open(seg, "p", 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Close()
	if err := a.SendBytes(ctx, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	if m, err := b2.RecvBytes(ctx); err != nil || string(m) != "hi" {
		t.Fatalf("RecvBytes = %q, %v", m, err)
	}
	if _, err := pipe.Open(seg, "p", 2, nil); err == nil {
		t.Fatal("Open of side 2 succeeded")
	}
}

// TestWaitClosed: Wait on a closed connection reports it rather than
// returning nothing at once.
func TestWaitClosed(t *testing.T) {
	a, _ := newPipe(t, nil)
	c, _ := newPipe(t, nil)
	c.Close()
	if r, err := pipe.Wait(t.Context(), a, c); len(r) != 0 || !errors.Is(err, pipe.ErrClosed) {
		t.Fatalf("Wait with a closed end = %v, %v; want ErrClosed", r, err)
	}
}
