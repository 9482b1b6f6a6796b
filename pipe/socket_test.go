package pipe_test

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/pipe"
)

// networks are the socket families tested: Unix sockets are left out on
// Windows, where Wine lacks them.
var networks = func() []string {
	if runtime.GOOS == "windows" {
		return []string{"tcp"}
	}
	return []string{"unix", "tcp"}
}()

func listen(t *testing.T, network string, opts *pipe.NetOptions) *pipe.Listener {
	t.Helper()
	l, err := pipe.Listen(network, "", opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// connect dials l with copts and accepts on l, both at once.
func connect(t *testing.T, l *pipe.Listener, copts *pipe.NetOptions) (client, server pipe.Connection, cerr, serr error) {
	t.Helper()
	ctx := shmtest.Deadline(t, 20*time.Second)
	type res struct {
		c   *pipe.NetConn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := pipe.Dial(ctx, l.Addr().Network(), l.Addr().String(), copts)
		ch <- res{c, err}
	}()
	s, serr := l.Accept(ctx)
	r := <-ch
	if r.c != nil {
		t.Cleanup(func() { r.c.Close() })
		client = r.c
	}
	if s != nil {
		t.Cleanup(func() { s.Close() })
		server = s
	}
	return client, server, r.err, serr
}

func TestListenerClient(t *testing.T) {
	key := []byte("secret")
	for _, network := range networks {
		t.Run(network, func(t *testing.T) {
			ctx := shmtest.Deadline(t, 20*time.Second)
			l := listen(t, network, &pipe.NetOptions{AuthKey: key})
			t.Run("right key", func(t *testing.T) {
				c, s, cerr, serr := connect(t, l, &pipe.NetOptions{AuthKey: key})
				if cerr != nil || serr != nil {
					t.Fatalf("Dial: %v; Accept: %v", cerr, serr)
				}
				if err := c.Send(ctx, "hello"); err != nil {
					t.Fatal(err)
				}
				var got string
				if err := s.Recv(ctx, &got); err != nil || got != "hello" {
					t.Fatalf("Recv = %q, %v", got, err)
				}
				// Python's test_issue16955: poll sees a message sent by the other side.
				if err := s.SendBytes(ctx, []byte("hello")); err != nil {
					t.Fatal(err)
				}
				if ok, err := c.PollTimeout(time.Second); !ok || err != nil {
					t.Fatalf("Poll(1s) = %v, %v", ok, err)
				}
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
				if b, err := c.RecvBytes(ctx); err != nil || string(b) != "hello" {
					t.Fatalf("RecvBytes = %q, %v", b, err)
				}
				if _, err := c.RecvBytes(ctx); err != io.EOF {
					t.Fatalf("RecvBytes after peer Close = %v, want io.EOF", err)
				}
			})
			t.Run("wrong key", func(t *testing.T) {
				_, _, cerr, serr := connect(t, l, &pipe.NetOptions{AuthKey: []byte("wrong")})
				if !errors.Is(cerr, pipe.ErrAuthentication) || !errors.Is(serr, pipe.ErrAuthentication) {
					t.Fatalf("Dial: %v; Accept: %v; want ErrAuthentication on both", cerr, serr)
				}
			})
			t.Run("no key", func(t *testing.T) {
				c, _, cerr, serr := connect2(t, l, nil, func(c *pipe.NetConn) {
					// A client without a key speaks at once: its message
					// is no answer to the challenge.
					c.SendBytes(ctx, []byte("hello"))
				})
				if cerr != nil {
					t.Fatalf("Dial without a key: %v", cerr)
				}
				if !errors.Is(serr, pipe.ErrAuthentication) {
					t.Fatalf("Accept = %v, want ErrAuthentication", serr)
				}
				// The client got the challenge, then the refusal, then the end.
				for {
					if _, err := c.RecvBytes(ctx); err != nil {
						if err != io.EOF {
							t.Fatalf("client RecvBytes = %v, want io.EOF at last", err)
						}
						break
					}
				}
			})
			t.Run("client has a key, server none", func(t *testing.T) {
				l2 := listen(t, network, nil)
				_, _, cerr, _ := connect(t, l2, &pipe.NetOptions{AuthKey: key, HandshakeTimeout: 100 * time.Millisecond})
				if !errors.Is(cerr, pipe.ErrAuthentication) {
					t.Fatalf("Dial = %v, want ErrAuthentication", cerr)
				}
			})
			t.Run("still serving", func(t *testing.T) {
				if _, _, cerr, serr := connect(t, l, &pipe.NetOptions{AuthKey: key}); cerr != nil || serr != nil {
					t.Fatalf("Dial: %v; Accept: %v", cerr, serr)
				}
			})
		})
	}
}

// connect2 is connect for a client that does then what the test says.
func connect2(t *testing.T, l *pipe.Listener, copts *pipe.NetOptions, then func(*pipe.NetConn)) (*pipe.NetConn, pipe.Connection, error, error) {
	ctx := shmtest.Deadline(t, 20*time.Second)
	c, err := pipe.Dial(ctx, l.Addr().Network(), l.Addr().String(), copts)
	if err != nil {
		return nil, nil, err, nil
	}
	t.Cleanup(func() { c.Close() })
	then(c)
	s, serr := l.Accept(ctx)
	if s != nil {
		s.Close()
	}
	return c, s, nil, serr
}

// TestHostileClients: a client that connects and says nothing, and one
// that announces a message of 1 GiB, hold up nobody, cost the server
// nothing, and fail.
func TestHostileClients(t *testing.T) {
	key := []byte("secret")
	for _, network := range networks {
		t.Run(network, func(t *testing.T) {
			ctx := shmtest.Deadline(t, 20*time.Second)
			l := listen(t, network, &pipe.NetOptions{AuthKey: key, HandshakeTimeout: 2 * time.Second})
			silent, err := net.Dial(l.Addr().Network(), l.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer silent.Close()
			huge, err := net.Dial(l.Addr().Network(), l.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer huge.Close()
			var prefix [4]byte
			binary.BigEndian.PutUint32(prefix[:], 1<<30)
			if _, err := huge.Write(prefix[:]); err != nil {
				t.Fatal(err)
			}
			var before runtime.MemStats
			runtime.ReadMemStats(&before)
			// A good client gets through while the silent one waits.
			failures := 0
			c, s, cerr, serr := connect(t, l, &pipe.NetOptions{AuthKey: key})
			for serr != nil && errors.Is(serr, pipe.ErrAuthentication) && c != nil {
				// The huge client's failure may come first, not the
				// silent one's: that would mean it held the listener.
				if errors.Is(serr, context.DeadlineExceeded) {
					t.Errorf("the silent client's timeout came before the good client: %v", serr)
				}
				t.Logf("refused: %v", serr)
				failures++
				s, serr = l.Accept(ctx)
			}
			if cerr != nil || serr != nil {
				t.Fatalf("good client: Dial %v, Accept %v", cerr, serr)
			}
			if s != nil {
				s.Close()
			}
			// Both hostile clients fail, the silent one at the handshake timeout.
			for failures < 2 {
				s, err := l.Accept(ctx)
				if s != nil {
					s.Close()
					continue // the good client, if its failure came first
				}
				if !errors.Is(err, pipe.ErrAuthentication) {
					t.Fatalf("Accept = %v, want ErrAuthentication", err)
				}
				t.Logf("refused: %v", err)
				failures++
			}
			var after runtime.MemStats
			runtime.ReadMemStats(&after)
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<20 {
				t.Errorf("the server allocated %d bytes for a 1 GiB length prefix", grew)
			}
		})
	}
}

// TestTooLargeAfterHandshake: a length prefix above MaxMessage breaks the
// connection without allocating.
func TestTooLargeAfterHandshake(t *testing.T) {
	ctx := shmtest.Deadline(t, 20*time.Second)
	l := listen(t, networks[0], &pipe.NetOptions{MaxMessage: 1 << 20})
	raw, err := net.Dial(l.Addr().Network(), l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	s, err := l.Accept(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	raw.Write([]byte{0x40, 0, 0, 0})
	if _, err := s.RecvBytes(ctx); !errors.Is(err, pipe.ErrTooLarge) || !errors.Is(err, pipe.ErrBroken) {
		t.Fatalf("RecvBytes = %v, want ErrTooLarge", err)
	}
	if _, err := s.RecvBytes(ctx); !errors.Is(err, pipe.ErrBroken) {
		t.Fatalf("second RecvBytes = %v, want ErrBroken", err)
	}
	if err := s.SendBytes(ctx, make([]byte, 1<<20+1)); !errors.Is(err, pipe.ErrTooLarge) {
		t.Fatalf("SendBytes above MaxMessage = %v, want ErrTooLarge", err)
	}
}

// TestListenerContext: Python's _TestListener.test_context and
// test_multiple_bind, and Accept after Close.
func TestListenerContext(t *testing.T) {
	ctx := shmtest.Deadline(t, 20*time.Second)
	for _, network := range networks {
		l, err := pipe.Listen(network, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pipe.Listen(network, l.Addr().String(), nil); err == nil {
			t.Errorf("%s: a second Listen on %v succeeded", network, l.Addr())
		}
		c, err := pipe.Dial(ctx, network, l.Addr().String(), nil)
		if err != nil {
			t.Fatal(err)
		}
		d, err := l.Accept(ctx)
		if err != nil {
			t.Fatal(err)
		}
		c.Send(ctx, 1729)
		var v int
		if err := d.Recv(ctx, &v); err != nil || v != 1729 {
			t.Fatalf("Recv = %d, %v", v, err)
		}
		c.Close()
		d.Close()
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := l.Accept(ctx); !errors.Is(err, pipe.ErrClosed) {
			t.Errorf("Accept after Close = %v, want ErrClosed", err)
		}
		if _, err := pipe.Dial(ctx, network, l.Addr().String(), nil); err == nil {
			t.Errorf("%s: Dial after Close succeeded", network)
		} else if network == "tcp" && !refused(err) {
			t.Errorf("Dial after Close = %v, want ECONNREFUSED", err)
		}
	}
}

// refused reports whether err says the connection was refused: ECONNREFUSED,
// or on Windows WSAECONNREFUSED, which is another number.
func refused(err error) bool {
	if runtime.GOOS == "windows" {
		return errors.Is(err, syscall.Errno(10061)) // WSAECONNREFUSED
	}
	return errors.Is(err, syscall.ECONNREFUSED)
}

// TestAbstractSocket: Python's test_abstract_socket (Linux: "@name").
func TestAbstractSocket(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("abstract sockets are Linux's")
	}
	ctx := shmtest.Deadline(t, 20*time.Second)
	l, err := pipe.Listen("unix", "@"+shmtest.Name(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := pipe.Dial(ctx, "unix", l.Addr().String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	d, err := l.Accept(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	c.Send(ctx, 1729)
	var v int
	if err := d.Recv(ctx, &v); err != nil || v != 1729 {
		t.Fatalf("Recv = %d, %v", v, err)
	}
}

// TestNetConnConnection runs the socket connection through what the pipe
// tests check: short buffers, polls, streams, close.
func TestNetConnConnection(t *testing.T) {
	ctx := shmtest.Deadline(t, 20*time.Second)
	l := listen(t, networks[0], nil)
	c, s, cerr, serr := connect(t, l, nil)
	if cerr != nil || serr != nil {
		t.Fatal(cerr, serr)
	}
	if ok, err := s.PollTimeout(0); ok || err != nil {
		t.Fatalf("Poll on empty = %v, %v", ok, err)
	}
	if ok, err := s.PollTimeout(30 * time.Millisecond); ok || err != nil {
		t.Fatalf("Poll(30ms) on empty = %v, %v", ok, err)
	}
	cctx, cancel := context.WithCancel(ctx)
	go func() { time.Sleep(20 * time.Millisecond); cancel() }()
	if _, err := s.RecvBytes(cctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("RecvBytes(cancelled) = %v", err)
	}
	long := make([]byte, 100<<10) // larger than the reader's buffer
	for i := range long {
		long[i] = byte(i)
	}
	for _, m := range [][]byte{[]byte("hello world hello world"), long, {}} {
		c.SendBytes(ctx, m)
		buf := make([]byte, 10)
		if _, err := s.RecvBytesInto(ctx, buf); len(m) > 10 {
			var short *pipe.BufferTooShortError
			if !errors.As(err, &short) || short.Size != len(m) {
				t.Fatalf("RecvBytesInto(10) = %v, want BufferTooShortError{%d}", err, len(m))
			}
			buf = make([]byte, len(m))
			if n, err := s.RecvBytesInto(ctx, buf); err != nil || n != len(m) || string(buf) != string(m) {
				t.Fatalf("RecvBytesInto = %d, %v", n, err)
			}
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Write(long); err != nil {
		t.Fatal(err)
	}
	c.Close()
	got, err := io.ReadAll(s)
	if err != nil || string(got) != string(long) {
		t.Fatalf("ReadAll = %d bytes, %v", len(got), err)
	}
	if ok, err := s.PollTimeout(0); !ok || err != nil {
		t.Fatalf("Poll at EOF = %v, %v", ok, err)
	}
}

// TestChallengeFailures: Python's OtherTest challenge tests, over fake
// connections.
func TestChallengeFailures(t *testing.T) {
	ctx := t.Context()
	bogus := &fakeConn{replies: [][]byte{[]byte("something bogus")}}
	if err := pipe.DeliverChallenge(ctx, bogus, []byte("abc")); !errors.Is(err, pipe.ErrAuthentication) {
		t.Errorf("DeliverChallenge to a bogus answer = %v, want ErrAuthentication", err)
	}
	if len(bogus.sent) != 2 || string(bogus.sent[1]) != "#FAILURE#" {
		t.Errorf("DeliverChallenge sent %q, want a challenge and #FAILURE#", bogus.sent)
	}
	// Python sends CHALLENGE alone, then bogus: a challenge without a
	// nonce is refused before anything is answered.
	answer := &fakeConn{replies: [][]byte{[]byte("#CHALLENGE#"), []byte("something bogus")}}
	if err := pipe.AnswerChallenge(ctx, answer, []byte("abc")); !errors.Is(err, pipe.ErrAuthentication) {
		t.Errorf("AnswerChallenge to a bare challenge = %v, want ErrAuthentication", err)
	}
	answer = &fakeConn{replies: [][]byte{[]byte("#CHALLENGE#{sha256}0123456789012345678901234567890123456789"), []byte("something bogus")}}
	if err := pipe.AnswerChallenge(ctx, answer, []byte("abc")); !errors.Is(err, pipe.ErrAuthentication) {
		t.Errorf("AnswerChallenge with a bogus verdict = %v, want ErrAuthentication", err)
	}
	if err := pipe.DeliverChallenge(ctx, bogus, nil); !errors.Is(err, pipe.ErrAuthentication) {
		t.Errorf("DeliverChallenge without a key = %v, want ErrAuthentication", err)
	}
}

// fakeConn answers receives from replies and records sends, like the
// _FakeConnection of Python's tests.
type fakeConn struct {
	pipe.Connection // the rest is not called
	replies         [][]byte
	sent            [][]byte
}

func (f *fakeConn) SendBytes(ctx context.Context, b []byte) error {
	f.sent = append(f.sent, append([]byte(nil), b...))
	return nil
}

func (f *fakeConn) RecvBytesInto(ctx context.Context, buf []byte) (int, error) {
	if len(f.replies) == 0 {
		return 0, io.EOF
	}
	r := f.replies[0]
	f.replies = f.replies[1:]
	if len(r) > len(buf) {
		return 0, &pipe.BufferTooShortError{Size: len(r)}
	}
	return copy(buf, r), nil
}

// TestNetConnSendCutShort: a send cut short by its context inside a
// message leaves the stream out of step, so every later send fails with
// ErrBroken rather than write a header into the middle of that message.
func TestNetConnSendCutShort(t *testing.T) {
	ctx := shmtest.Deadline(t, 20*time.Second)
	for _, network := range networks {
		t.Run(network, func(t *testing.T) {
			l := listen(t, network, nil)
			c, _, cerr, serr := connect(t, l, nil)
			if cerr != nil || serr != nil {
				t.Fatal(cerr, serr)
			}
			// The peer reads nothing: the socket's buffers take a part of
			// the message, and the rest waits until the context ends.
			big := make([]byte, pipe.DefaultMaxMessage)
			short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
			defer cancel()
			if err := c.SendBytes(short, big); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("SendBytes of %d bytes to a peer that does not read = %v, want DeadlineExceeded", len(big), err)
			}
			if err := c.SendBytes(ctx, []byte("next")); !errors.Is(err, pipe.ErrBroken) {
				t.Fatalf("SendBytes after a send cut short = %v, want ErrBroken", err)
			}
		})
	}
}
