//go:build unix

package pipe_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/pipe"
	"github.com/shmkit/shmkit/process"
	"github.com/shmkit/shmkit/ringbuf"
)

// The benchmarks put a pipe between the test and a partner process beside
// what people use today: an os.Pipe pair and a Unix stream socket pair
// (each framed with a 4-byte length, through 64 KiB bufio buffers), and
// the queue round trip of ringbuf (two Queue[[]byte], one each way), which
// the pipe's round trip should match. Each partner is a child process that
// answers every message by its first byte: 'e' echo it back, 's' swallow
// it, 'S' swallow it and send a 1-byte acknowledgement. Every payload byte
// is copied on both sides (RecvBytesInto or read(2) into a buffer, Get's
// copy-out). Round trip: a call sends pings messages and waits for each
// echo. Stream: a call sends msgs messages and waits for the
// acknowledgement of the last. shmtest.Versus alternates the two sides
// and reports their medians and ratio (x-base).
//
// Quick run: go test -run '^$' -bench . -benchtime 20x ./pipe/

const (
	benchMax      = 1 << 20
	benchCapacity = 4 << 20 // pipe and queue rings: messages up to 2 MiB
	benchBuf      = 64 << 10
)

var benchSizes = []struct {
	name        string
	size        int
	pings, msgs int
}{
	{"8B", 8, 200, 5000},
	{"4KiB", 4 << 10, 100, 500},
	{"1MiB", 1 << 20, 4, 4},
}

// framed is the baselines' framing over a byte stream.
type framed struct {
	r *bufio.Reader
	w *bufio.Writer
}

func newFramed(r io.Reader, w io.Writer) framed {
	return framed{bufio.NewReaderSize(r, benchBuf), bufio.NewWriterSize(w, benchBuf)}
}

func (f framed) send(b []byte) error {
	var hdr [4]byte
	binary.LittleEndian.PutUint32(hdr[:], uint32(len(b)))
	f.w.Write(hdr[:])
	_, err := f.w.Write(b)
	return err
}

func (f framed) recv(buf []byte) (int, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(f.r, hdr[:]); err != nil {
		return 0, err
	}
	n := int(binary.LittleEndian.Uint32(hdr[:]))
	if n > len(buf) {
		return 0, fmt.Errorf("frame of %d bytes", n)
	}
	_, err := io.ReadFull(f.r, buf[:n])
	return n, err
}

// answer is the partners' reply to one message.
func answer(msg []byte, reply func([]byte) error) error {
	switch msg[0] {
	case 'e':
		return reply(msg)
	case 'S':
		return reply([]byte{'a'})
	}
	return nil
}

type benchKind int

const (
	benchPipe benchKind = iota
	benchQueue
	benchStdio // os.Pipe pair or socket pair on stdin/stdout
)

type benchArgs struct {
	Kind       benchKind
	End        *pipe.End
	Ping, Pong *ringbuf.Queue[[]byte]
}

var benchPartner = process.MustRegister("pipe-bench-partner", func(ctx context.Context, a benchArgs) error {
	buf := make([]byte, benchMax)
	switch a.Kind {
	case benchPipe:
		for {
			n, err := a.End.RecvBytesInto(ctx, buf)
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			if err := answer(buf[:n], func(b []byte) error { return a.End.SendBytes(ctx, b) }); err != nil {
				return err
			}
		}
	case benchQueue:
		for {
			m, err := a.Ping.Get(ctx)
			if errors.Is(err, ringbuf.ErrShutdown) {
				return nil
			}
			if err != nil {
				return err
			}
			if err := answer(m, func(b []byte) error { return a.Pong.Put(ctx, b) }); err != nil {
				return err
			}
		}
	default:
		// Stdin is the read side; stdout the write side (the same socket
		// for a socket pair).
		f := newFramed(os.Stdin, os.Stdout)
		for {
			n, err := f.recv(buf)
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			if err := answer(buf[:n], func(b []byte) error {
				if err := f.send(b); err != nil {
					return err
				}
				return f.w.Flush()
			}); err != nil {
				return err
			}
		}
	}
})

// transport is the parent's side of one partner.
type transport struct {
	send  func([]byte) error // one message (buffered for the baselines)
	flush func() error
	recv  func([]byte) (int, error)
}

func (tr transport) roundTrip(msg, buf []byte, n int) error {
	msg[0] = 'e'
	for range n {
		if err := tr.send(msg); err != nil {
			return err
		}
		if err := tr.flush(); err != nil {
			return err
		}
		if k, err := tr.recv(buf); err != nil || k != len(msg) {
			return fmt.Errorf("echo of %d bytes: %d, %v", len(msg), k, err)
		}
	}
	return nil
}

func (tr transport) stream(msg, buf []byte, n int) error {
	msg[0] = 's'
	for i := range n {
		if i == n-1 {
			msg[0] = 'S'
		}
		if err := tr.send(msg); err != nil {
			return err
		}
	}
	if err := tr.flush(); err != nil {
		return err
	}
	if k, err := tr.recv(buf); err != nil || k != 1 {
		return fmt.Errorf("acknowledgement: %d, %v", k, err)
	}
	return nil
}

// partners starts one partner of each kind and returns the parent's
// transports.
func partners(b *testing.B) map[string]transport {
	shmtest.NeedProcesses(b)
	ctx := context.Background()
	nop := func() error { return nil }
	tr := map[string]transport{}
	start := func(a benchArgs, opts *process.Options) {
		p, err := process.Start(ctx, benchPartner, a, opts)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { p.Kill(); p.Join(ctx) })
	}

	end, far, err := pipe.New(nil, "", &pipe.Options{Capacity: benchCapacity})
	if err != nil {
		b.Fatal(err)
	}
	start(benchArgs{Kind: benchPipe, End: far}, nil)
	far.Close()
	b.Cleanup(func() { end.Close() })
	tr["pipe"] = transport{
		send:  func(m []byte) error { return end.SendBytes(ctx, m) },
		flush: nop,
		recv:  func(buf []byte) (int, error) { return end.RecvBytesInto(ctx, buf) },
	}

	qo := &ringbuf.QueueOptions[[]byte]{Capacity: benchCapacity}
	ping, err := ringbuf.NewQueue(nil, "", qo)
	if err != nil {
		b.Fatal(err)
	}
	pong, err := ringbuf.NewQueue(nil, "", qo)
	if err != nil {
		b.Fatal(err)
	}
	start(benchArgs{Kind: benchQueue, Ping: ping, Pong: pong}, nil)
	b.Cleanup(func() { ping.Shutdown(ctx); ping.Close(); pong.Close() })
	tr["queue"] = transport{
		send:  func(m []byte) error { return ping.Put(ctx, m) },
		flush: nop,
		recv: func(buf []byte) (int, error) {
			m, err := pong.Get(ctx)
			return copy(buf, m), err
		},
	}

	// os.Pipe: one each way, the child's stdin and stdout.
	toR, toW, err := os.Pipe()
	if err != nil {
		b.Fatal(err)
	}
	fromR, fromW, err := os.Pipe()
	if err != nil {
		b.Fatal(err)
	}
	start(benchArgs{Kind: benchStdio}, &process.Options{Stdin: toR, Stdout: fromW})
	toR.Close()
	fromW.Close()
	b.Cleanup(func() { toW.Close(); fromR.Close() })
	f := newFramed(fromR, toW)
	tr["os.Pipe"] = transport{send: f.send, flush: f.w.Flush, recv: f.recv}

	// A Unix stream socket pair: the child's stdin and stdout are its end.
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		b.Fatal(err)
	}
	mine, theirs := os.NewFile(uintptr(fds[0]), "sock0"), os.NewFile(uintptr(fds[1]), "sock1")
	start(benchArgs{Kind: benchStdio}, &process.Options{Stdin: theirs, Stdout: theirs})
	theirs.Close()
	sc, err := net.FileConn(mine)
	mine.Close()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { sc.Close() })
	g := newFramed(sc, sc)
	tr["unix-socket"] = transport{send: g.send, flush: g.w.Flush, recv: g.recv}
	return tr
}

// BenchmarkRoundTrip: the pipe's round trip beside the queue's, an
// os.Pipe's and a Unix socket's, by payload size.
func BenchmarkRoundTrip(b *testing.B) {
	tr := partners(b)
	b.Logf("round trip to a partner process; every byte copied; machine shared: see x-base")
	for _, sz := range benchSizes {
		msg, buf := make([]byte, sz.size), make([]byte, benchMax)
		for i := range msg {
			msg[i] = byte(i)
		}
		buf2 := make([]byte, benchMax)
		for _, base := range []string{"queue", "os.Pipe", "unix-socket"} {
			b.Run(sz.name+"/vs-"+base, func(b *testing.B) {
				msg2 := append([]byte(nil), msg...)
				shmtest.Versus(b, sz.pings,
					func() error { return tr["pipe"].roundTrip(msg, buf, sz.pings) },
					func() error { return tr[base].roundTrip(msg2, buf2, sz.pings) })
			})
		}
	}
}

// BenchmarkStream: one-way throughput of the pipe beside an os.Pipe's and
// a Unix socket's, by payload size.
func BenchmarkStream(b *testing.B) {
	tr := partners(b)
	for _, sz := range benchSizes {
		msg, buf := make([]byte, sz.size), make([]byte, benchMax)
		for _, base := range []string{"os.Pipe", "unix-socket"} {
			b.Run(sz.name+"/vs-"+base, func(b *testing.B) {
				msg2 := append([]byte(nil), msg...)
				shmtest.Versus(b, sz.msgs,
					func() error { return tr["pipe"].stream(msg, buf, sz.msgs) },
					func() error { return tr[base].stream(msg2, buf, sz.msgs) })
			})
		}
	}
}
