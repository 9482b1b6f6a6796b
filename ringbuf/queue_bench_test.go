//go:build linux

package ringbuf_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sort"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/futex"
	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/process"
	"github.com/shmkit/shmkit/ringbuf"
	"github.com/shmkit/shmkit/shm"
)

// The Queue benchmarks put a Queue[[]byte] between two processes beside
// what people use today: an os.Pipe, a Unix stream socket, and (for the
// round trip) a Go channel between two goroutines of one process, the
// in-process reference. Every payload byte is touched on both sides: a
// receive copies the message into the receiver's memory (GetInto's copy into
// a reused buffer, read(2) into a buffer, copy out of a channel's slice).
//
// The partner child gets the queues through process.Start, dials a Unix
// socket the parent listens on, and receives the pipes' far ends over it
// (SCM_RIGHTS). It then runs, on command, its half of one batch. Command
// words (uint32, in Cmd): 0 sequence number, 1 mode, 2 count, 3 done
// sequence number, 4 payload size.
type qbArgs struct {
	Ping, Pong, Stream *ringbuf.Queue[[]byte]
	Cmd                *shm.Object
	Sock               string
}

const (
	qbPingQueue = iota + 1
	qbPingPipe
	qbPingSock
	qbStreamQueue
	qbStreamPipe
	qbStreamSock
	qbExit
)

const (
	qbMaxPayload   = 1 << 20
	qbPingCapacity = 4 << 20 // a ring holds records of up to half of it
	qbStreamCap    = 8 << 20
	qbBufSize      = 64 << 10 // bufio buffers of the framed streams
)

// qbSizes are the payloads, with the messages per Versus call for the
// round trip and for the stream, each about 1-10 ms on the slowest side.
var qbSizes = []struct {
	name        string
	size        int
	pings, msgs int
}{
	{"8B", 8, 200, 20000},
	{"64B", 64, 200, 20000},
	{"4KiB", 4 << 10, 100, 1000},
	{"1MiB", 1 << 20, 4, 4},
}

type qbCmd struct{ seq, mode, count, done, size *atomic.Uint32 }

func qbCmdOf(o *shm.Object) qbCmd {
	w := func(i uint64) *atomic.Uint32 {
		p, err := o.Payload().Uint32(4 * i)
		if err != nil {
			panic(err)
		}
		return p
	}
	return qbCmd{w(0), w(1), w(2), w(3), w(4)}
}

// recvFiles receives the descriptors sent with sendFiles.
func recvFiles(c *net.UnixConn, n int) ([]*os.File, error) {
	oob := make([]byte, syscall.CmsgSpace(4*n))
	buf := make([]byte, 1)
	_, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
	if err != nil {
		return nil, err
	}
	msgs, err := syscall.ParseSocketControlMessage(oob[:oobn])
	if err != nil {
		return nil, err
	}
	if len(msgs) != 1 {
		return nil, fmt.Errorf("%d control messages, want 1", len(msgs))
	}
	fds, err := syscall.ParseUnixRights(&msgs[0])
	if err != nil {
		return nil, err
	}
	if len(fds) != n {
		return nil, fmt.Errorf("%d descriptors, want %d", len(fds), n)
	}
	files := make([]*os.File, n)
	for i, fd := range fds {
		files[i] = os.NewFile(uintptr(fd), fmt.Sprintf("pipe%d", i))
	}
	return files, nil
}

func sendFiles(c *net.UnixConn, files ...*os.File) error {
	fds := make([]int, len(files))
	for i, f := range files {
		fds[i] = int(f.Fd())
	}
	_, _, err := c.WriteMsgUnix([]byte{0}, syscall.UnixRights(fds...), nil)
	return err
}

// writeFrames writes n frames of a 4-byte little-endian length and msg
// through w, then flushes it.
func writeFrames(w *bufio.Writer, msg []byte, n int) error {
	var hdr [4]byte
	binary.LittleEndian.PutUint32(hdr[:], uint32(len(msg)))
	for range n {
		if _, err := w.Write(hdr[:]); err != nil {
			return err
		}
		if _, err := w.Write(msg); err != nil {
			return err
		}
	}
	return w.Flush()
}

// readFrames reads n frames that writeFrames wrote into buf.
func readFrames(r *bufio.Reader, buf []byte, n int) error {
	var hdr [4]byte
	for range n {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return err
		}
		l := binary.LittleEndian.Uint32(hdr[:])
		if int(l) > len(buf) {
			return fmt.Errorf("frame of %d bytes", l)
		}
		if _, err := io.ReadFull(r, buf[:l]); err != nil {
			return err
		}
	}
	if r.Buffered() != 0 {
		return errors.New("bytes left after the last frame")
	}
	return nil
}

// echo reads n messages of size bytes from r and writes each back to w.
func echo(r io.Reader, w io.Writer, buf []byte, n int) error {
	for range n {
		if _, err := io.ReadFull(r, buf); err != nil {
			return err
		}
		if _, err := w.Write(buf); err != nil {
			return err
		}
	}
	return nil
}

var queueBenchPartner = process.MustRegister("ring-queue-bench-partner", func(ctx context.Context, a qbArgs) error {
	c := qbCmdOf(a.Cmd)
	conn, err := net.Dial("unix", a.Sock)
	if err != nil {
		return err
	}
	sock := conn.(*net.UnixConn)
	defer sock.Close()
	files, err := recvFiles(sock, 2)
	if err != nil {
		return err
	}
	pr, pw := files[0], files[1] // parent → us, us → parent
	defer pr.Close()
	defer pw.Close()
	pipeIn, sockIn := bufio.NewReaderSize(pr, qbBufSize), bufio.NewReaderSize(sock, qbBufSize)
	buf := make([]byte, qbMaxPayload)
	var seen uint32
	var qbuf []byte // GetInto reuses it, as read(2) reuses buf
	for {
		for c.seq.Load() == seen {
			futex.Wait(c.seq, seen, time.Now().Add(time.Second))
			if ctx.Err() != nil {
				return ctx.Err()
			}
		}
		seen = c.seq.Load()
		n, size := int(c.count.Load()), int(c.size.Load())
		switch c.mode.Load() {
		case qbExit:
			return nil
		case qbPingQueue:
			for range n {
				if err := a.Ping.GetInto(ctx, &qbuf); err != nil {
					return err
				}
				if err := a.Pong.Put(ctx, qbuf); err != nil {
					return err
				}
			}
		case qbPingPipe:
			err = echo(pr, pw, buf[:size], n)
		case qbPingSock:
			err = echo(sock, sock, buf[:size], n)
		case qbStreamQueue:
			for range n {
				if err := a.Stream.GetInto(ctx, &qbuf); err != nil {
					return err
				}
			}
		case qbStreamPipe:
			err = readFrames(pipeIn, buf, n)
		case qbStreamSock:
			err = readFrames(sockIn, buf, n)
		}
		if err != nil {
			return err
		}
		c.done.Store(seen)
		futex.Wake(c.done, 1)
	}
})

// queueBench is the parent's side: the queues, the pipes and the socket,
// and the partner at their other ends.
type queueBench struct {
	ctx                context.Context
	ping, pong, stream *ringbuf.Queue[[]byte]
	pw, pr             *os.File // us → partner, partner → us
	pipeOut            *bufio.Writer
	sock               *net.UnixConn
	sockOut            *bufio.Writer
	c                  qbCmd
	p                  *process.Process
	failed             error // the first failed batch
}

func newQueueBench(b *testing.B) *queueBench {
	shmtest.NeedProcesses(b)
	// Not b.Context(): it ends before the cleanup that stops the partner.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	b.Cleanup(cancel)
	seg := anon(b, 2*qbPingCapacity+qbStreamCap+1<<20)
	mk := func(capacity int) *ringbuf.Queue[[]byte] {
		q, err := ringbuf.NewQueue(seg, "", &ringbuf.QueueOptions[[]byte]{Capacity: capacity})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { q.Close() })
		return q
	}
	qb := &queueBench{ctx: ctx, ping: mk(qbPingCapacity), pong: mk(qbPingCapacity), stream: mk(qbStreamCap)}
	cmd, err := seg.AllocBytes("", 64)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cmd.Close() })
	qb.c = qbCmdOf(cmd)

	path := filepath.Join(b.TempDir(), "sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	// Their ends: childR (us → partner) and childW (partner → us).
	childR, pw, err := os.Pipe()
	if err != nil {
		b.Fatal(err)
	}
	pr, childW, err := os.Pipe()
	if err != nil {
		b.Fatal(err)
	}
	defer childR.Close()
	defer childW.Close()
	qb.pw, qb.pr = pw, pr
	b.Cleanup(func() { pw.Close(); pr.Close() }) // if Start fails

	qb.p, err = process.Start(ctx, queueBenchPartner, qbArgs{Ping: qb.ping, Pong: qb.pong, Stream: qb.stream, Cmd: cmd, Sock: path}, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		qb.command(qbExit, 0, 0)
		// A partner stuck halfway through a failed batch: closing our
		// ends ends its reads and writes; Kill ends a wait in a queue.
		if qb.sock != nil {
			qb.sock.Close()
		}
		pw.Close()
		pr.Close()
		jctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := qb.p.Join(jctx); err != nil {
			qb.p.Kill()
			b.Errorf("partner: %v (%v)", err, qb.p.Join(ctx))
		}
	})
	ln.SetDeadline(time.Now().Add(time.Minute))
	if qb.sock, err = ln.AcceptUnix(); err != nil {
		b.Fatal(err)
	}
	if err := sendFiles(qb.sock, childR, childW); err != nil {
		b.Fatal(err)
	}
	qb.pipeOut, qb.sockOut = bufio.NewWriterSize(pw, qbBufSize), bufio.NewWriterSize(qb.sock, qbBufSize)
	return qb
}

// command starts the partner on mode.
func (qb *queueBench) command(mode, n, size int) uint32 {
	qb.c.mode.Store(uint32(mode))
	qb.c.count.Store(uint32(n))
	qb.c.size.Store(uint32(size))
	seq := qb.c.seq.Add(1)
	futex.Wake(qb.c.seq, 1)
	return seq
}

// round runs one batch: the partner's half of mode there, ours here, until
// both end. After a failed batch the partner is out of step: it is
// killed, and later batches fail at once.
func (qb *queueBench) round(mode, n, size int, ours func() error) error {
	if qb.failed != nil {
		return fmt.Errorf("partner stopped after an earlier failure: %w", qb.failed)
	}
	seq := qb.command(mode, n, size)
	err := ours()
	deadline := time.Now().Add(30 * time.Second) // a batch takes milliseconds
	for err == nil && qb.c.done.Load() != seq {
		switch {
		case !qb.p.IsAlive():
			err = fmt.Errorf("partner died: %v", qb.p.Join(qb.ctx))
		case time.Now().After(deadline):
			err = errors.New("partner did not finish")
		default:
			futex.Wait(qb.c.done, qb.c.done.Load(), time.Now().Add(10*time.Millisecond))
		}
	}
	if err != nil {
		qb.failed = err
		qb.p.Kill()
	}
	return err
}

func qbPayload(size int) []byte {
	msg := make([]byte, size)
	for i := range msg {
		msg[i] = byte(i)
	}
	return msg
}

// timed wraps f to record how long each call takes.
func timed(d *[]time.Duration, f func() error) func() error {
	return func() error {
		t0 := time.Now()
		err := f()
		*d = append(*d, time.Since(t0))
		return err
	}
}

func medianOf(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

// BenchmarkQueuePingPong: a message to another process and back through
// two Queue[[]byte] (one each way, default options), beside the same
// through two os.Pipes, through one Unix stream socket, and between two
// goroutines of one process through two unbuffered channels.
func BenchmarkQueuePingPong(b *testing.B) {
	qb := newQueueBench(b)
	b.Logf("round trip of one message (8 B to 1 MiB, every byte copied on each side): Queue[[]byte] pair between 2 processes vs os.Pipe pair, Unix stream socket (2 processes), chan []byte pair (2 goroutines, 1 process)")
	for _, sz := range qbSizes {
		n, size := sz.pings, sz.size
		msg, in := qbPayload(size), make([]byte, size)
		ours := func() error {
			return qb.round(qbPingQueue, n, size, func() error {
				for range n {
					if err := qb.ping.Put(qb.ctx, msg); err != nil {
						return err
					}
					if err := qb.pong.GetInto(qb.ctx, &in); err != nil {
						return err
					}
					if len(in) != size {
						return fmt.Errorf("reply of %d bytes, want %d", len(in), size)
					}
				}
				return nil
			})
		}
		stream := func(mode int, w io.Writer, r io.Reader) func() error {
			return func() error {
				return qb.round(mode, n, size, func() error {
					for range n {
						if _, err := w.Write(msg); err != nil {
							return err
						}
						if _, err := io.ReadFull(r, in); err != nil {
							return err
						}
					}
					return nil
				})
			}
		}
		bases := []struct {
			name string
			base func() error
		}{
			{"vs-pipe", stream(qbPingPipe, qb.pw, qb.pr)},
			{"vs-unix", stream(qbPingSock, qb.sock, qb.sock)},
			{"vs-chan", func() error {
				ping, pong := make(chan []byte), make(chan []byte)
				go func() {
					buf := make([]byte, size)
					for range n {
						copy(buf, <-ping)
						pong <- buf
					}
				}()
				for range n {
					ping <- msg
					copy(in, <-pong)
				}
				return nil
			}},
		}
		b.Run(sz.name, func(b *testing.B) {
			for _, bs := range bases {
				b.Run(bs.name, func(b *testing.B) {
					var o, p []time.Duration
					shmtest.Versus(b, n, timed(&o, ours), timed(&p, bs.base))
					b.ReportMetric(float64(medianOf(o).Nanoseconds())/float64(n), "ns/roundtrip")
					b.ReportMetric(float64(medianOf(p).Nanoseconds())/float64(n), "base-ns/roundtrip")
				})
			}
		})
	}
}

// BenchmarkQueueStream: messages one way, from this process to another,
// through a Queue[[]byte] (Put here, Get there, default options), beside
// the same as length-prefixed frames through an os.Pipe and through a Unix
// stream socket, with 64 KiB bufio buffers on both ends (the writer
// flushes at the end of each batch). Per message.
func BenchmarkQueueStream(b *testing.B) {
	qb := newQueueBench(b)
	b.Logf("one-way stream (8 B to 1 MiB messages, every byte copied on each side), per message: Queue[[]byte] Put→Get between 2 processes vs length-prefixed frames over os.Pipe and a Unix stream socket (64 KiB bufio both ends)")
	for _, sz := range qbSizes {
		n, size := sz.msgs, sz.size
		msg := qbPayload(size)
		ours := func() error {
			return qb.round(qbStreamQueue, n, size, func() error {
				for range n {
					if err := qb.stream.Put(qb.ctx, msg); err != nil {
						return err
					}
				}
				return nil
			})
		}
		bases := []struct {
			name string
			mode int
			w    *bufio.Writer
		}{
			{"vs-pipe", qbStreamPipe, qb.pipeOut},
			{"vs-unix", qbStreamSock, qb.sockOut},
		}
		b.Run(sz.name, func(b *testing.B) {
			for _, bs := range bases {
				b.Run(bs.name, func(b *testing.B) {
					var o, p []time.Duration
					shmtest.Versus(b, n, timed(&o, ours), timed(&p, func() error {
						return qb.round(bs.mode, n, size, func() error { return writeFrames(bs.w, msg, n) })
					}))
					report := func(d time.Duration, prefix string) {
						if d <= 0 {
							return
						}
						perSec := float64(n) / d.Seconds()
						b.ReportMetric(perSec, prefix+"msgs/s")
						b.ReportMetric(perSec*float64(size)/1e9, prefix+"GB/s")
					}
					report(medianOf(o), "")
					report(medianOf(p), "base-")
				})
			}
		})
	}
}

// BenchmarkQueueFull: a Get then a Put on a queue kept full at MaxSize
// messages (one goroutine), against the same on an unbounded queue holding
// as many. It measures what a full bounded queue costs a Put: the recount
// that walks the ring's records (see the top of queue.go). ns/op is per
// Get+Put.
func BenchmarkQueueFull(b *testing.B) {
	for _, size := range []int{100, 1000, 10000} {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			ctx := b.Context()
			open := func(max int) *ringbuf.Queue[uint64] {
				q, err := ringbuf.NewQueue(nil, "", &ringbuf.QueueOptions[uint64]{MaxSize: max, Capacity: 1 << 20})
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { q.Close() })
				for i := range size {
					if err := q.Put(ctx, uint64(i)); err != nil {
						b.Fatal(err)
					}
				}
				return q
			}
			bounded, unbounded := open(size), open(0)
			step := func(q *ringbuf.Queue[uint64]) func() error {
				return func() error {
					v, err := q.Get(ctx)
					if err != nil {
						return err
					}
					return q.Put(ctx, v)
				}
			}
			b.Logf("Get then Put on a queue full at MaxSize %d vs an unbounded one holding as many", size)
			shmtest.Versus(b, 1, step(bounded), step(unbounded))
		})
	}
}
