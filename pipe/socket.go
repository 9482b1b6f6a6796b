package pipe

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shmkit/shmkit/internal/wait"
)

// Defaults of NetOptions.
const (
	// DefaultMaxMessage is the largest message a socket connection
	// receives when NetOptions.MaxMessage is zero.
	DefaultMaxMessage = 32 << 20
	// DefaultHandshakeTimeout bounds the authentication handshake when
	// NetOptions.HandshakeTimeout is zero.
	DefaultHandshakeTimeout = 5 * time.Second
	// maxPendingHandshakes bounds the handshakes a Listener runs at once;
	// further connections wait in the kernel's backlog.
	maxPendingHandshakes = 64
	// acceptQueue is how many finished handshakes wait for Accept.
	acceptQueue = 16
	netBufSize  = 64 << 10
)

// NetOptions configures Listen and Dial. The zero value (or nil) means the
// defaults: no authentication, DefaultMaxMessage, DefaultHandshakeTimeout.
type NetOptions struct {
	// AuthKey, if not empty, makes every connection run the mutual
	// HMAC-SHA256 handshake (see DeliverChallenge) before any message: a
	// peer that does not prove it knows the same key is refused with
	// ErrAuthentication, on both sides. Empty means no handshake, as
	// Python's authkey=None: anyone who can connect is served, so use a
	// key wherever others can reach the address.
	AuthKey []byte
	// MaxMessage is the largest message received; a longer length prefix
	// breaks the connection (ErrTooLarge) before anything is allocated.
	// Zero means DefaultMaxMessage. Sends are limited to it as well.
	MaxMessage int
	// HandshakeTimeout bounds the handshake, so that a peer that says
	// nothing cannot hold a connection; zero means DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
}

func (o *NetOptions) max() int {
	if o == nil || o.MaxMessage <= 0 {
		return DefaultMaxMessage
	}
	return o.MaxMessage
}

func (o *NetOptions) handshake() time.Duration {
	if o == nil || o.HandshakeTimeout <= 0 {
		return DefaultHandshakeTimeout
	}
	return o.HandshakeTimeout
}

// NetConn is a connection over a Unix or TCP socket, made by Listener.Accept
// or Dial, like the Connection Python's Listener and Client return. It must
// not be copied. Its methods may be called from many goroutines at once,
// as Connection says; a send synchronizes before the receive that returns
// its message.
//
// Close closes the socket: the peer's receives return what was sent and
// then io.EOF, its sends fail. A peer process that dies closes its socket
// with it, so the same happens. A receive cut short by its context while
// a message was arriving breaks the connection (ErrBroken), since the rest
// of the message cannot be told from the next; one cut short while waiting
// for a message leaves it whole.
type NetConn struct {
	_   noCopy
	c   net.Conn
	max int

	smu        sync.Mutex
	sendBroken error // with smu: a send cut short inside a message

	rmu        sync.Mutex // receives, and the fields below
	br         *bufio.Reader
	pending    []byte
	hasPending bool
	broken     error
	eof        bool

	closed atomic.Bool
	stream streamReader
}

func newNetConn(c net.Conn, max int) *NetConn {
	return &NetConn{c: c, max: max, br: bufio.NewReaderSize(c, netBufSize)}
}

// LocalAddr is the socket's local address.
func (n *NetConn) LocalAddr() net.Addr { return n.c.LocalAddr() }

// RemoteAddr is the address of the socket's peer.
func (n *NetConn) RemoteAddr() net.Addr { return n.c.RemoteAddr() }

// MaxMessage is the largest message this connection sends or receives.
func (n *NetConn) MaxMessage() int { return n.max }

// Readable is true: socket connections are duplex.
func (n *NetConn) Readable() bool { return true }

// Writable is true: socket connections are duplex.
func (n *NetConn) Writable() bool { return true }

// Closed reports whether Close has been called.
func (n *NetConn) Closed() bool { return n.closed.Load() }

// deadline applies ctx to the socket for one call: its deadline, and a
// cancellation that ends a blocked read or write at once. The returned
// function undoes it.
func deadline(ctx context.Context, set func(time.Time) error) func() {
	d, _ := ctx.Deadline()
	set(d)
	if ctx.Done() == nil {
		return func() {}
	}
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		set(time.Unix(1, 0))
		close(fired)
	})
	return func() {
		if !stop() {
			<-fired // leave no past deadline behind
		}
		set(time.Time{})
	}
}

// ctxErr turns a socket timeout caused by ctx into ctx's error.
func ctxErr(ctx context.Context, err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		if cerr := wait.CtxErr(ctx); cerr != nil {
			return cerr
		}
	}
	return err
}

// SendBytes sends b as one message. It fails with ErrTooLarge if b is
// longer than MaxMessage, ErrPeerClosed (wrapping the socket's error) if
// the peer has gone, and ctx.Err() if ctx ends first, in which case part of
// the message may have been sent: then every later send fails with
// ErrBroken, since the peer cannot tell the rest of the stream from it.
func (n *NetConn) SendBytes(ctx context.Context, b []byte) error {
	if n.closed.Load() {
		return ErrClosed
	}
	if len(b) > n.max {
		return fmt.Errorf("%w: a message of %d bytes, this connection carries at most %d", ErrTooLarge, len(b), n.max)
	}
	if err := wait.CtxErr(ctx); err != nil {
		return err
	}
	var hdr [longHeader]byte
	bufs := net.Buffers{appendHeader(hdr[:0], len(b)), b}
	total := int64(len(bufs[0]) + len(b))
	n.smu.Lock()
	defer n.smu.Unlock()
	if n.sendBroken != nil {
		return n.sendBroken
	}
	undo := deadline(ctx, n.c.SetWriteDeadline)
	sent, err := bufs.WriteTo(n.c)
	undo()
	if err != nil && sent > 0 && sent < total {
		n.sendBroken = fmt.Errorf("%w: a send was cut short after %d of %d bytes: %w", ErrBroken, sent, total, err)
	}
	if err != nil {
		if n.closed.Load() {
			return ErrClosed
		}
		if cerr := wait.CtxErr(ctx); cerr != nil && errors.Is(err, os.ErrDeadlineExceeded) {
			return cerr
		}
		return fmt.Errorf("%w: %w", ErrPeerClosed, err)
	}
	return nil
}

// Send encodes v with encoding/gob and sends it, as SendBytes does.
func (n *NetConn) Send(ctx context.Context, v any) error {
	buf := getBuf()
	defer putBuf(buf)
	if err := encodeGob(buf, v); err != nil {
		return err
	}
	return n.SendBytes(ctx, buf.Bytes())
}

// next makes the next message's bytes ready: in n.pending, or (when they
// fit the reader's buffer and into is true) left in it for the caller to
// copy. It returns the message's length and whether it sits in the buffer
// after a header of hdr bytes. With n.rmu held.
func (n *NetConn) next(ctx context.Context, wantBuffered bool) (size, hdr int, buffered bool, err error) {
	if n.hasPending {
		return len(n.pending), 0, false, nil
	}
	if n.broken != nil {
		return 0, 0, false, n.broken
	}
	if n.eof {
		return 0, 0, false, io.EOF
	}
	if err := wait.CtxErr(ctx); err != nil {
		return 0, 0, false, err
	}
	undo := deadline(ctx, n.c.SetReadDeadline)
	defer undo()
	// Waiting for the header keeps what arrived in the buffer, so a
	// timeout here leaves the stream whole.
	need := shortHeader
	for {
		b, perr := n.br.Peek(need)
		size, hdr, need, err = parseHeader(b, n.max)
		if err != nil {
			n.broken = err
			return 0, 0, false, err
		}
		if need == 0 {
			break
		}
		if perr != nil {
			if errors.Is(perr, io.EOF) && n.br.Buffered() == 0 {
				n.eof = true
				return 0, 0, false, io.EOF
			}
			if n.closed.Load() {
				return 0, 0, false, ErrClosed
			}
			if errors.Is(perr, io.EOF) {
				perr = io.ErrUnexpectedEOF
			}
			if cerr := ctxErr(ctx, perr); cerr != perr {
				return 0, 0, false, cerr
			}
			n.broken = fmt.Errorf("%w: %w", ErrBroken, perr)
			return 0, 0, false, n.broken
		}
	}
	if wantBuffered && hdr+size <= n.br.Size() {
		if _, perr := n.br.Peek(hdr + size); perr == nil {
			return size, hdr, true, nil
		} else if n.closed.Load() {
			return 0, 0, false, ErrClosed
		} else if !errors.Is(perr, os.ErrDeadlineExceeded) || wait.CtxErr(ctx) == nil {
			n.broken = fmt.Errorf("%w: %w", ErrBroken, perr)
			return 0, 0, false, n.broken
		} else {
			return 0, 0, false, wait.CtxErr(ctx)
		}
	}
	n.br.Discard(hdr)
	msg := make([]byte, size)
	if _, rerr := io.ReadFull(n.br, msg); rerr != nil {
		if n.closed.Load() {
			return 0, 0, false, ErrClosed
		}
		n.broken = fmt.Errorf("%w: inside a message: %w", ErrBroken, ctxErr(ctx, rerr))
		return 0, 0, false, n.broken
	}
	n.pending, n.hasPending = msg, true
	return size, 0, false, nil
}

// take returns the pending message and forgets it.
func (n *NetConn) take() []byte {
	b := n.pending
	n.pending, n.hasPending = nil, false
	return b
}

// RecvBytes receives one message into a new slice. It returns io.EOF once
// the peer has closed and every message it sent has been received, and
// ctx.Err() if ctx ends first.
func (n *NetConn) RecvBytes(ctx context.Context) ([]byte, error) {
	if n.closed.Load() {
		return nil, ErrClosed
	}
	n.rmu.Lock()
	defer n.rmu.Unlock()
	size, hdr, buffered, err := n.next(ctx, true)
	if err != nil {
		return nil, err
	}
	if buffered {
		b, _ := n.br.Peek(hdr + size)
		out := append(make([]byte, 0, size), b[hdr:]...)
		n.br.Discard(hdr + size)
		return out, nil
	}
	return n.take(), nil
}

// RecvBytesInto receives one message into buf and returns its length. If
// buf is shorter than the message it returns a *BufferTooShortError with
// the message's size, and the message stays first in line.
func (n *NetConn) RecvBytesInto(ctx context.Context, buf []byte) (int, error) {
	if n.closed.Load() {
		return 0, ErrClosed
	}
	n.rmu.Lock()
	defer n.rmu.Unlock()
	size, hdr, buffered, err := n.next(ctx, true)
	if err != nil {
		return 0, err
	}
	if size > len(buf) {
		if buffered {
			b, _ := n.br.Peek(hdr + size)
			n.pending, n.hasPending = append(make([]byte, 0, size), b[hdr:]...), true
			n.br.Discard(hdr + size)
		}
		return 0, &BufferTooShortError{Size: size}
	}
	if buffered {
		b, _ := n.br.Peek(hdr + size)
		copy(buf, b[hdr:])
		n.br.Discard(hdr + size)
		return size, nil
	}
	return copy(buf, n.take()), nil
}

// Recv receives one message and decodes it into v, a pointer, with
// encoding/gob.
func (n *NetConn) Recv(ctx context.Context, v any) error {
	b, err := n.RecvBytes(ctx)
	if err != nil {
		return err
	}
	return decodeGob(b, v)
}

// Poll waits, while ctx allows, until a message or the end of the stream
// is ready (a broken connection counts as ready: the next receive reports
// it), and reports whether one is. A deadline that passes is the answer
// false with a nil error; a cancelled ctx returns ctx.Err().
func (n *NetConn) Poll(ctx context.Context) (bool, error) {
	if n.closed.Load() {
		return false, ErrClosed
	}
	n.rmu.Lock()
	defer n.rmu.Unlock()
	if n.hasPending || n.broken != nil || n.eof || n.br.Buffered() > 0 {
		return true, nil
	}
	var err error
	if wait.CtxErr(ctx) != nil {
		// Look without waiting. A deadline already past fails a read
		// before it asks the kernel, so give it a microsecond.
		n.c.SetReadDeadline(time.Now().Add(time.Microsecond))
		_, err = n.br.Peek(1)
		n.c.SetReadDeadline(time.Time{})
	} else {
		undo := deadline(ctx, n.c.SetReadDeadline)
		_, err = n.br.Peek(1)
		undo()
	}
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, io.EOF):
		n.eof = n.br.Buffered() == 0
		return true, nil
	case errors.Is(err, os.ErrDeadlineExceeded):
		return false, pollErr(ctx)
	case n.closed.Load():
		return false, ErrClosed
	}
	return true, nil // the receive will report it
}

// PollTimeout is Poll for at most d; d <= 0 looks without waiting.
func (n *NetConn) PollTimeout(d time.Duration) (bool, error) { return pollTimeout(d, n.Poll) }

// Read reads the bytes of the messages in order (see Connection).
func (n *NetConn) Read(p []byte) (int, error) {
	ctx := context.Background()
	return n.stream.read(p,
		func(b []byte) (int, error) { return n.RecvBytesInto(ctx, b) },
		func() ([]byte, error) { return n.RecvBytes(ctx) })
}

// Write sends p as messages of at most MaxMessage bytes.
func (n *NetConn) Write(p []byte) (int, error) {
	return write(p, n.max, func(b []byte) error { return n.SendBytes(context.Background(), b) })
}

// Close closes the socket. Calls waiting in other goroutines return
// ErrClosed. A second Close returns ErrClosed.
func (n *NetConn) Close() error {
	if !n.closed.CompareAndSwap(false, true) {
		return ErrClosed
	}
	return n.c.Close()
}

// handshake runs the authentication as the server (deliver, then answer)
// or the client (the reverse), within the handshake timeout, with the
// receive limit lowered to what the handshake needs.
func (n *NetConn) handshake(ctx context.Context, key []byte, server bool, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	max := n.max
	n.max = maxAuthMessage
	defer func() { n.max = max }()
	first, second := AnswerChallenge, DeliverChallenge
	if server {
		first, second = DeliverChallenge, AnswerChallenge
	}
	if err := first(ctx, n, key); err != nil {
		return err
	}
	return second(ctx, n, key)
}

// Listener accepts connections on a Unix or TCP socket, like Python's
// multiprocessing.connection.Listener. Make one with Listen. Its methods
// may be called from many goroutines at once.
//
// It accepts and authenticates in the background, many clients at once, so
// that a client that says nothing, or a hostile one, holds up nobody but
// itself, and for at most the handshake timeout. Accept returns the
// clients that passed, in the order they finished, and the failures, so
// that the server sees them; it keeps serving others after either.
type Listener struct {
	_       noCopy
	ln      net.Listener
	opts    NetOptions
	dir     string // a temporary directory made for the socket, removed by Close
	results chan acceptResult
	done    chan struct{}
	wg      sync.WaitGroup
	once    sync.Once
}

type acceptResult struct {
	c   *NetConn
	err error
}

// Listen listens on network ("unix" or "tcp") at address and returns the
// Listener. An empty address means a fresh socket in a new temporary
// directory for "unix" (Python's default) and "127.0.0.1:0" (a free port
// on the loopback interface) for "tcp"; Addr reports the one chosen. A
// Unix address that is in use fails, as Python's does.
func Listen(network, address string, opts *NetOptions) (_ *Listener, err error) {
	l := &Listener{results: make(chan acceptResult, acceptQueue), done: make(chan struct{})}
	if opts != nil {
		l.opts = *opts
		l.opts.AuthKey = append([]byte(nil), opts.AuthKey...)
	}
	switch network {
	case "unix":
		if address == "" {
			if l.dir, err = os.MkdirTemp("", "pipe-listener-"); err != nil {
				return nil, err
			}
			address = filepath.Join(l.dir, "sock")
		}
	case "tcp", "tcp4", "tcp6":
		if address == "" {
			address = "127.0.0.1:0"
		}
	default:
		return nil, fmt.Errorf("pipe: listen on %q: network not unix or tcp", network)
	}
	if l.ln, err = net.Listen(network, address); err != nil {
		if l.dir != "" {
			os.RemoveAll(l.dir)
		}
		return nil, err
	}
	l.wg.Add(1)
	go l.loop()
	return l, nil
}

// Addr is the address the listener listens on, for Dial.
func (l *Listener) Addr() net.Addr { return l.ln.Addr() }

func (l *Listener) loop() {
	defer l.wg.Done()
	sem := make(chan struct{}, maxPendingHandshakes)
	for {
		select {
		case sem <- struct{}{}:
		case <-l.done:
			return
		}
		c, err := l.ln.Accept()
		if err != nil {
			<-sem
			select {
			case <-l.done:
				return
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			l.deliver(acceptResult{err: err})
			time.Sleep(10 * time.Millisecond) // out of descriptors, say: do not spin
			continue
		}
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			defer func() { <-sem }()
			n := newNetConn(c, l.opts.max())
			if len(l.opts.AuthKey) > 0 {
				ctx, cancel := context.WithCancel(context.Background())
				go func() {
					select {
					case <-l.done:
						cancel()
					case <-ctx.Done():
					}
				}()
				err := n.handshake(ctx, l.opts.AuthKey, true, l.opts.handshake())
				cancel()
				if err != nil {
					n.Close()
					l.deliver(acceptResult{err: fmt.Errorf("pipe: accept from %v: %w", c.RemoteAddr(), err)})
					return
				}
			}
			l.deliver(acceptResult{c: n})
		}()
	}
}

// deliver queues r for Accept, or drops it (closing its connection) once
// the listener is closed.
func (l *Listener) deliver(r acceptResult) {
	select {
	case l.results <- r:
	case <-l.done:
		if r.c != nil {
			r.c.Close()
		}
	}
}

// Accept waits, while ctx allows, for the next client that connected and
// passed the handshake, and returns its connection. A client that failed
// the handshake (a wrong or missing key, silence past the handshake
// timeout, an oversized message) is returned as an error wrapping
// ErrAuthentication, after which Accept may be called again. It fails with
// ErrClosed after Close.
func (l *Listener) Accept(ctx context.Context) (*NetConn, error) {
	select {
	case <-l.done:
		return nil, ErrClosed
	default:
	}
	select {
	case r := <-l.results:
		return r.c, r.err
	case <-l.done:
		return nil, ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Close stops listening, ends the handshakes in progress, closes the
// connections no Accept has taken, and removes the socket's temporary
// directory if Listen made one. Connections already accepted stay open. A
// second Close returns ErrClosed.
func (l *Listener) Close() error {
	err := ErrClosed
	l.once.Do(func() {
		close(l.done)
		err = l.ln.Close()
		l.wg.Wait()
		for {
			select {
			case r := <-l.results:
				if r.c != nil {
					r.c.Close()
				}
				continue
			default:
			}
			break
		}
		if l.dir != "" {
			err = errors.Join(err, os.RemoveAll(l.dir))
		}
	})
	return err
}

// Dial connects to the Listener at address on network ("unix" or "tcp"),
// like Python's multiprocessing.connection.Client, and runs the
// authentication handshake if opts has a key. It fails with the socket's
// error if nothing listens there (for instance syscall.ECONNREFUSED,
// Python's ConnectionRefusedError), with ErrAuthentication if the handshake
// fails, and with ctx.Err() if ctx ends first.
func Dial(ctx context.Context, network, address string, opts *NetOptions) (*NetConn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, network, address)
	if err != nil {
		return nil, err
	}
	n := newNetConn(c, opts.max())
	if opts != nil && len(opts.AuthKey) > 0 {
		if err := n.handshake(ctx, opts.AuthKey, false, opts.handshake()); err != nil {
			n.Close()
			return nil, err
		}
	}
	return n, nil
}
