package pipe

import (
	"bytes"
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/shmkit/shmkit/internal/wait"
	"github.com/shmkit/shmkit/ringbuf"
)

// Connection is one end of a connection that carries whole messages, like
// Python's multiprocessing.connection.Connection. The shared-memory ends
// of a pipe (*End) and the socket connections of Listen and Dial (*NetConn)
// both implement it, so code written against it does not care which it
// got.
//
// Messages keep their boundaries: each SendBytes is one RecvBytes on the
// other side, in order. Every blocking method takes a context and returns
// ctx.Err() when it ends first, having changed nothing. Once the other end
// is closed, or its process has died, receives return what was sent before
// and then io.EOF, and sends fail with ErrPeerClosed. After Close, methods
// fail with ErrClosed.
//
// Read and Write are byte-stream views for io.Copy and friends: Write
// sends p as one or more messages (split at MaxMessage), Read returns the
// bytes of the messages in order, keeping what does not fit p for the next
// Read. They wait without a deadline, until data, end of stream or Close.
//
// A connection may be used by several goroutines at once: each message goes
// to one receive, and sends do not interleave. Python warns that two users of
// one end corrupt it; here they only share its messages.
type Connection interface {
	// Send encodes v with encoding/gob (one encoder per message, so any
	// process with the same Go types decodes it, as ringbuf.GobCodec
	// does) and sends it. gob decodes data, never code.
	Send(ctx context.Context, v any) error
	// Recv receives one message and decodes it into v, a pointer, with
	// encoding/gob. A message that does not decode is consumed all the
	// same.
	Recv(ctx context.Context, v any) error
	// SendBytes sends b as one message.
	SendBytes(ctx context.Context, b []byte) error
	// RecvBytes receives one message into a new slice.
	RecvBytes(ctx context.Context) ([]byte, error)
	// RecvBytesInto receives one message into buf and returns its length.
	// If buf is too small it returns a *BufferTooShortError carrying the
	// message's size, and the message stays first in line.
	RecvBytesInto(ctx context.Context, buf []byte) (int, error)
	// Poll waits, while ctx allows, until a receive would not block (a
	// message is ready, or the end of the stream is) and reports whether
	// it would not. A deadline that passes is the answer false with a nil
	// error; a cancelled ctx returns ctx.Err().
	Poll(ctx context.Context) (bool, error)
	// PollTimeout is Poll for at most d; d <= 0 looks without waiting.
	PollTimeout(d time.Duration) (bool, error)
	// MaxMessage is the largest message, in bytes, this connection carries.
	MaxMessage() int
	// Readable and Writable report what this end may do.
	Readable() bool
	Writable() bool
	// Closed reports whether Close has been called.
	Closed() bool
	io.Reader
	io.Writer
	// Close lets go of this end; see each implementation for what the
	// other end then sees.
	io.Closer
}

var (
	_ Connection = (*End)(nil)
	_ Connection = (*NetConn)(nil)
)

// stepper is implemented by connections whose Poll can be asked to look
// at its context more often than usual, for Wait.
type stepper interface {
	pollStep(ctx context.Context, step time.Duration) (bool, error)
}

// waitStep is how often a pipe end polled by Wait looks at its context,
// so that Wait returns soon after the first connection is ready.
const waitStep = time.Millisecond

// Wait waits, while ctx allows, until at least one of conns is ready to
// receive (a message or the end of its stream is there), and returns the
// ready ones in the order given, like Python's
// multiprocessing.connection.wait. A deadline that passes returns no
// connection and a nil error; a cancelled ctx returns ctx.Err(); a
// connection that cannot be polled (closed, say) returns its error.
//
// Wait polls every connection from a goroutine of its own, and a goroutine
// that waits on a pipe end sleeps in the kernel, holding an OS thread.
// Connections polled by Wait must not be received from by other goroutines
// at the same time (the message Wait saw may then be gone).
func Wait(ctx context.Context, conns ...Connection) ([]Connection, error) {
	ready := func() []Connection {
		var r []Connection
		for _, c := range conns {
			if ok, _ := c.PollTimeout(0); ok {
				r = append(r, c)
			}
		}
		return r
	}
	if r := ready(); len(r) > 0 || len(conns) == 0 {
		return r, nil
	}
	wctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	errs := make([]error, len(conns))
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var ok bool
			var err error
			if s, is := c.(stepper); is {
				ok, err = s.pollStep(wctx, waitStep)
			} else {
				ok, err = c.Poll(wctx)
			}
			if ok || err != nil && wctx.Err() == nil {
				errs[i] = err
				cancel()
			}
		}()
	}
	wg.Wait()
	cancel()
	if r := ready(); len(r) > 0 {
		return r, nil
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return nil, pollErr(ctx)
}

// pollErr is what Poll returns when ctx has ended: nil for a deadline
// that passed, ctx.Err() for a cancellation.
func pollErr(ctx context.Context) error {
	err := wait.CtxErr(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		return nil
	}
	return err
}

// pollTimeout runs poll with a context that ends after d, or with an ended
// context for d <= 0.
func pollTimeout(d time.Duration, poll func(context.Context) (bool, error)) (bool, error) {
	if d <= 0 {
		return poll(doneCtx)
	}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return poll(ctx)
}

// doneCtx is a context whose deadline has passed: a poll with it looks and
// does not wait.
var doneCtx = func() context.Context {
	ctx, cancel := context.WithDeadline(context.Background(), time.Unix(0, 0))
	cancel()
	return ctx
}()

// SendValue encodes v with codec and sends it as one message; a nil codec
// means ringbuf.BytesCodec for []byte and ringbuf.GobCodec otherwise. The
// receiver must decode with the same codec (RecvValue).
func SendValue[T any](ctx context.Context, c Connection, codec ringbuf.Codec[T], v T) error {
	if codec == nil {
		if b, ok := any(v).([]byte); ok {
			return c.SendBytes(ctx, b)
		}
		codec = defaultCodec[T]()
	}
	buf := getBuf()
	defer putBuf(buf)
	b, err := codec.Append(buf.Bytes(), v)
	if err != nil {
		return fmt.Errorf("pipe: send: encode %T: %w", v, err)
	}
	return c.SendBytes(ctx, b)
}

// RecvValue receives one message and decodes it with codec (nil: as for
// SendValue). A message that does not decode is consumed all the same.
func RecvValue[T any](ctx context.Context, c Connection, codec ringbuf.Codec[T]) (T, error) {
	var v T
	if codec == nil {
		codec = defaultCodec[T]()
	}
	b, err := c.RecvBytes(ctx)
	if err != nil {
		return v, err
	}
	if err := codec.Decode(b, &v); err != nil {
		return v, fmt.Errorf("pipe: recv: decode %T: %w", v, err)
	}
	return v, nil
}

func defaultCodec[T any]() ringbuf.Codec[T] {
	if c, ok := any(ringbuf.BytesCodec{}).(ringbuf.Codec[T]); ok {
		return c
	}
	return ringbuf.GobCodec[T]{}
}

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func getBuf() *bytes.Buffer { b := bufPool.Get().(*bytes.Buffer); b.Reset(); return b }

func putBuf(b *bytes.Buffer) {
	if b.Cap() <= 1<<20 {
		bufPool.Put(b)
	}
}

// encodeGob appends the gob encoding of v to buf.
func encodeGob(buf *bytes.Buffer, v any) error {
	if err := gob.NewEncoder(buf).Encode(v); err != nil {
		return fmt.Errorf("pipe: send: encode %T: %w", v, err)
	}
	return nil
}

// decodeGob decodes one gob message into v.
func decodeGob(b []byte, v any) error {
	if err := gob.NewDecoder(bytes.NewReader(b)).Decode(v); err != nil {
		return fmt.Errorf("pipe: recv: decode into %T: %w", v, err)
	}
	return nil
}

// streamReader keeps what a Read could not return of a message.
type streamReader struct {
	mu   sync.Mutex
	left []byte
}

// read implements Read over recvInto, which receives one message into p
// or reports it too short.
func (s *streamReader) read(p []byte, recvInto func([]byte) (int, error), recv func() ([]byte, error)) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		if len(s.left) > 0 {
			n := copy(p, s.left)
			s.left = s.left[n:]
			return n, nil
		}
		n, err := recvInto(p)
		if errors.Is(err, ErrBufferTooShort) {
			b, err := recv()
			if err != nil {
				return 0, err
			}
			n = copy(p, b)
			s.left = b[n:]
			return n, nil
		}
		if err != nil || n > 0 {
			return n, err
		}
		// An empty message carries no bytes for a stream: skip it.
	}
}

// write implements Write over send, splitting p at max.
func write(p []byte, max int, send func([]byte) error) (int, error) {
	n := 0
	if len(p) == 0 {
		return 0, nil
	}
	for {
		k := min(len(p)-n, max)
		if err := send(p[n : n+k]); err != nil {
			return n, err
		}
		n += k
		if n == len(p) {
			return n, nil
		}
	}
}
