package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shmkit/shmkit/condvar"
	"github.com/shmkit/shmkit/pipe"
	"github.com/shmkit/shmkit/process"
	"github.com/shmkit/shmkit/ringbuf"
	"github.com/shmkit/shmkit/semaphore"
	"github.com/shmkit/shmkit/shm"
)

// ringCapacity is the ring size for messages up to maxMsg: at least 256 KiB,
// and room for two of the largest.
func ringCapacity(maxMsg int) int {
	c := max(256<<10, 4*(maxMsg+64))
	return 1 << bits.Len(uint(c-1))
}

// spinOf is a spinning transport's Spin; a sleeping one sleeps at once.
func spinOf(o LinkOptions, spin bool) time.Duration {
	if !spin {
		return -1
	}
	return o.Spin
}

// The shmkit ring, zero-copy: Claim, write in place, Commit; Take, read in
// place, Release.

type ringConn struct {
	ctx     context.Context
	out, in *ringbuf.Ring
	own     bool // Close closes the rings (a partner's end)
}

func (c *ringConn) Send(n int, fill func([]byte)) error {
	cl, err := c.out.Claim(c.ctx, n)
	if err != nil {
		return err
	}
	fill(cl.Bytes())
	return cl.Commit()
}

func (c *ringConn) Recv(n int, use func([]byte)) error {
	rec, err := c.in.Take(c.ctx)
	if err != nil {
		return err
	}
	if rec.Len() != n {
		rec.Release()
		return fmt.Errorf("bench: ring record of %d bytes, want %d", rec.Len(), n)
	}
	use(rec.Bytes())
	return rec.Release()
}

func (c *ringConn) Close() error {
	if !c.own {
		return nil
	}
	return errors.Join(c.out.Close(), c.in.Close())
}

var _ = Register(Transport{
	Name:  "shmkit ring",
	Group: Shmkit,
	Floor: "floor spin",
	About: "ringbuf.Ring, zero-copy (Claim/Commit, Take/Release in place), spinning; single producer and consumer except in N×M",
	Multi: true,
	Open: func(ctx context.Context, o LinkOptions) (_ *Link, err error) {
		opts := &ringbuf.Options{Spin: o.Spin, SingleProducer: !o.Multi, SingleConsumer: !o.Multi}
		var rings []*ringbuf.Ring
		defer func() {
			if err != nil {
				for _, r := range rings {
					r.Close()
				}
			}
		}()
		for range 2 {
			r, err := ringbuf.New(nil, "", ringCapacity(o.MaxMsg), opts)
			if err != nil {
				return nil, err
			}
			rings = append(rings, r)
		}
		l := &Link{Args: LinkArgs{Rings: rings}}
		l.Here = func(ctx context.Context) (Conn, error) {
			return &ringConn{ctx: ctx, out: rings[0], in: rings[1]}, nil
		}
		l.Close = func() error { return errors.Join(rings[0].Close(), rings[1].Close()) }
		return l, nil
	},
	Dial: func(ctx context.Context, a LinkArgs, o LinkOptions, side int) (Conn, error) {
		if len(a.Rings) != 2 {
			return nil, errors.New("bench: shmkit ring: want two rings")
		}
		opts := &ringbuf.Options{Spin: o.Spin}
		var rs [2]*ringbuf.Ring
		for i, r := range a.Rings {
			var err error
			if rs[i], err = ringbuf.OpenHandle(r.Handle(), opts); err != nil {
				return nil, err
			}
			r.Close()
		}
		if side == 0 {
			return &ringConn{ctx: ctx, out: rs[0], in: rs[1], own: true}, nil
		}
		return &ringConn{ctx: ctx, out: rs[1], in: rs[0], own: true}, nil
	},
})

// The shmkit queue of []byte: Put copies the message in, Get copies it out.

type queueConn struct {
	ctx     context.Context
	out, in *ringbuf.Queue[[]byte]
	buf     []byte // what Send fills
	rbuf    []byte // what Recv receives into (GetInto reuses it)
	own     bool   // Close closes the queues (a partner's end)
}

func (c *queueConn) Send(n int, fill func([]byte)) error {
	if cap(c.buf) < n {
		c.buf = make([]byte, n)
	}
	fill(c.buf[:n])
	return c.out.Put(c.ctx, c.buf[:n])
}

func (c *queueConn) Recv(n int, use func([]byte)) error {
	if err := c.in.GetInto(c.ctx, &c.rbuf); err != nil {
		return err
	}
	b := c.rbuf
	if len(b) != n {
		return fmt.Errorf("bench: queue message of %d bytes, want %d", len(b), n)
	}
	use(b)
	return nil
}

func (c *queueConn) Close() error {
	if !c.own {
		return nil
	}
	return errors.Join(c.out.Close(), c.in.Close())
}

func queueTransport(spin bool) Transport {
	name, floor, about := "shmkit queue spin", "floor spin", "ringbuf.Queue[[]byte], Put and Get copying, waiters spin (-spin) before they sleep"
	if !spin {
		name, floor, about = "shmkit queue sleep", "floor futex", "ringbuf.Queue[[]byte], Put and Get copying, waiters sleep at once"
	}
	return Transport{
		Name:  name,
		Group: Shmkit,
		Floor: floor,
		About: about,
		Multi: true,
		Open: func(ctx context.Context, o LinkOptions) (_ *Link, err error) {
			opts := &ringbuf.QueueOptions[[]byte]{Capacity: ringCapacity(o.MaxMsg), Ring: ringbuf.Options{Spin: spinOf(o, spin)}}
			var qs []*ringbuf.Queue[[]byte]
			defer func() {
				if err != nil {
					for _, q := range qs {
						q.Close()
					}
				}
			}()
			for range 2 {
				q, err := ringbuf.NewQueue(nil, "", opts)
				if err != nil {
					return nil, err
				}
				qs = append(qs, q)
			}
			l := &Link{Args: LinkArgs{Queues: qs}, Close: func() error { return errors.Join(qs[0].Close(), qs[1].Close()) }}
			l.Here = func(ctx context.Context) (Conn, error) {
				return &queueConn{ctx: ctx, out: qs[0], in: qs[1]}, nil
			}
			return l, nil
		},
		Dial: func(ctx context.Context, a LinkArgs, o LinkOptions, side int) (Conn, error) {
			if len(a.Queues) != 2 {
				return nil, errors.New("bench: shmkit queue: want two queues")
			}
			opts := &ringbuf.QueueOptions[[]byte]{Ring: ringbuf.Options{Spin: spinOf(o, spin)}}
			var qs [2]*ringbuf.Queue[[]byte]
			for i, q := range a.Queues {
				var err error
				if qs[i], err = ringbuf.OpenQueueHandle(q.Handle(), opts); err != nil {
					return nil, err
				}
				q.Close()
			}
			if side == 0 {
				return &queueConn{ctx: ctx, out: qs[0], in: qs[1], own: true}, nil
			}
			return &queueConn{ctx: ctx, out: qs[1], in: qs[0], own: true}, nil
		},
	}
}

var (
	_ = Register(queueTransport(true))
	_ = Register(queueTransport(false))
)

// The shmkit pipe: SendBytes copies the message in, RecvBytesInto copies it
// out into a buffer of this end's. Both ends wait as a pipe does by default
// (the child's end is opened with default options): they spin for
// ringbuf.DefaultSpin, then sleep on a futex.

// pipeCapacity is each ring of a pipe: messages up to half of it (2 MiB)
// fit, more than the largest default size (1 MiB).
const pipeCapacity = 4 << 20

type pipeConn struct {
	ctx context.Context
	end *pipe.End
	buf []byte
}

func (c *pipeConn) Send(n int, fill func([]byte)) error {
	if cap(c.buf) < n {
		c.buf = make([]byte, n)
	}
	fill(c.buf[:n])
	return c.end.SendBytes(c.ctx, c.buf[:n])
}

func (c *pipeConn) Recv(n int, use func([]byte)) error {
	if cap(c.buf) < n {
		c.buf = make([]byte, n)
	}
	m, err := c.end.RecvBytesInto(c.ctx, c.buf[:n])
	if err != nil {
		return err
	}
	if m != n {
		return fmt.Errorf("bench: pipe message of %d bytes, want %d", m, n)
	}
	use(c.buf[:n])
	return nil
}

func (c *pipeConn) Close() error { return c.end.Close() }

var _ = Register(Transport{
	Name:   "shmkit pipe",
	Group:  Shmkit,
	Floor:  "floor futex",
	About:  "pipe.New (Python's Pipe for Go): SendBytes and RecvBytesInto copying, default waits (a 10 µs spin, then sleep); one-to-one",
	MaxMsg: pipeCapacity/2 - 8, // End.MaxMessage: half a ring less a record header
	Open: func(ctx context.Context, o LinkOptions) (*Link, error) {
		a, b, err := pipe.New(nil, "", &pipe.Options{Capacity: pipeCapacity})
		if err != nil {
			return nil, err
		}
		l := &Link{Args: LinkArgs{Pipe: b}}
		// The child holds b once it has started: the parent lets go of
		// its copy, as pipe's documentation says.
		l.Started = func() { b.Close() }
		l.Here = func(ctx context.Context) (Conn, error) { return &pipeConn{ctx: ctx, end: a}, nil }
		l.Close = func() error {
			var errs []error
			if !b.Closed() {
				errs = append(errs, b.Close())
			}
			if !a.Closed() {
				errs = append(errs, a.Close())
			}
			return errors.Join(errs...)
		}
		return l, nil
	},
	Dial: func(ctx context.Context, a LinkArgs, o LinkOptions, side int) (Conn, error) {
		if a.Pipe == nil {
			return nil, errors.New("bench: shmkit pipe: no end")
		}
		return &pipeConn{ctx: ctx, end: a.Pipe}, nil
	},
})

// The shmkit Event, for the wake-up scenario only: the sender writes the
// message into a box in shared memory and sets the event; the receiver
// waits for it, reads the box, clears the event and acknowledges, and the
// sender waits for the acknowledgement before it writes the box again.
//
//	box offset 0    ack  uint32  messages the receiver has finished with
//	box offset 128  the message, up to 128 bytes

const eventBox = 128

type eventConn struct {
	ctx  context.Context
	ev   *condvar.Event
	ack  *atomic.Uint32
	box  []byte
	sent uint32
	own  bool // Close closes the event (a partner's end)
}

func (c *eventConn) Send(n int, fill func([]byte)) error {
	if n > len(c.box) {
		return fmt.Errorf("bench: event box of %d bytes, message of %d", len(c.box), n)
	}
	for c.ack.Load() != c.sent {
		if err := c.ctx.Err(); err != nil {
			return err
		}
		time.Sleep(10 * time.Microsecond)
	}
	fill(c.box[:n])
	c.sent++
	return c.ev.Set()
}

func (c *eventConn) Recv(n int, use func([]byte)) error {
	if err := c.ev.Wait(c.ctx); err != nil {
		return err
	}
	use(c.box[:n])
	if err := c.ev.Clear(); err != nil {
		return err
	}
	c.ack.Add(1)
	return nil
}

func (c *eventConn) Close() error {
	if !c.own {
		return nil
	}
	return c.ev.Close()
}

func eventConnOf(ctx context.Context, ev *condvar.Event, o *shm.Object) (*eventConn, error) {
	ack, err := o.Payload().Uint32(0)
	if err != nil {
		return nil, err
	}
	box, err := o.Payload().UnsafeBytes(128, eventBox)
	if err != nil {
		return nil, err
	}
	return &eventConn{ctx: ctx, ev: ev, ack: ack, box: box}, nil
}

var _ = Register(Transport{
	Name:   "shmkit event",
	Group:  Shmkit,
	Floor:  "floor futex",
	About:  "condvar.Event: the sender sets it, the sleeping waiter wakes (wake-up only)",
	MaxMsg: eventBox,
	Only:   []string{"wakeup"},
	Open: func(ctx context.Context, o LinkOptions) (_ *Link, err error) {
		seg, err := shm.New(64<<10, nil)
		if err != nil {
			return nil, err
		}
		defer seg.Close()
		ev, err := condvar.NewEvent(seg, "", &condvar.Options{Spin: -1})
		if err != nil {
			return nil, err
		}
		box, err := seg.AllocBytes("", 128+eventBox)
		if err != nil {
			ev.Close()
			return nil, err
		}
		l := &Link{Args: LinkArgs{Event: ev, Object: box}, Close: func() error { return errors.Join(ev.Close(), box.Close()) }}
		l.Here = func(ctx context.Context) (Conn, error) { return eventConnOf(ctx, ev, box) }
		return l, nil
	},
	Dial: func(ctx context.Context, a LinkArgs, o LinkOptions, side int) (Conn, error) {
		if a.Event == nil || a.Object == nil {
			return nil, errors.New("bench: shmkit event: no event")
		}
		ev, err := condvar.OpenEventHandle(a.Event.Handle(), &condvar.Options{Spin: -1})
		if err != nil {
			return nil, err
		}
		a.Event.Close()
		c, err := eventConnOf(ctx, ev, a.Object)
		if err != nil {
			ev.Close()
			return nil, err
		}
		c.own = true
		return c, nil
	},
})

// The shmkit Lock.

type shmLock struct{ l *semaphore.Lock }

func (s shmLock) Lock(ctx context.Context) error { return s.l.Lock(ctx) }
func (s shmLock) Unlock() error                  { return s.l.Unlock() }
func (s shmLock) Close() error                   { return s.l.Close() }

var _ = Register(Transport{
	Name:  "shmkit Lock",
	Group: Shmkit,
	Floor: "floor spinlock",
	About: "semaphore.Lock (robust: a dead holder's lock is taken over), default spin then futex",
	Only:  []string{"lock"},
	OpenLock: func(ctx context.Context, o LinkOptions) (*Link, error) {
		l, err := semaphore.NewLock(nil, "", nil)
		if err != nil {
			return nil, err
		}
		return &Link{Args: LinkArgs{Lock: l}, Close: l.Close}, nil
	},
	DialLock: func(ctx context.Context, a LinkArgs, o LinkOptions) (Locker, error) {
		if a.Lock == nil {
			return nil, errors.New("bench: shmkit Lock: no lock")
		}
		return shmLock{a.Lock}, nil
	},
})

// Kernel transports: a byte stream (pipes, stream sockets) with messages of
// a size both ends know, or a packet socket with one message a packet.

type streamConn struct {
	w    io.Writer
	r    *bufio.Reader
	wbuf []byte
	rbuf []byte
	c    []io.Closer
}

func newStreamConn(r io.Reader, w io.Writer, c ...io.Closer) *streamConn {
	return &streamConn{w: w, r: bufio.NewReaderSize(r, 64<<10), c: c}
}

func (c *streamConn) Send(n int, fill func([]byte)) error {
	if cap(c.wbuf) < n {
		c.wbuf = make([]byte, n)
	}
	fill(c.wbuf[:n])
	_, err := c.w.Write(c.wbuf[:n])
	return err
}

func (c *streamConn) Recv(n int, use func([]byte)) error {
	if cap(c.rbuf) < n {
		c.rbuf = make([]byte, n)
	}
	if _, err := io.ReadFull(c.r, c.rbuf[:n]); err != nil {
		return err
	}
	use(c.rbuf[:n])
	return nil
}

func (c *streamConn) Close() error {
	var errs []error
	for _, x := range c.c {
		errs = append(errs, x.Close())
	}
	return errors.Join(errs...)
}

type packetConn struct {
	c          net.Conn
	wbuf, rbuf []byte
}

func (c *packetConn) Send(n int, fill func([]byte)) error {
	if cap(c.wbuf) < n {
		c.wbuf = make([]byte, n)
	}
	fill(c.wbuf[:n])
	_, err := c.c.Write(c.wbuf[:n])
	return err
}

func (c *packetConn) Recv(n int, use func([]byte)) error {
	if cap(c.rbuf) < n+1 {
		c.rbuf = make([]byte, n+1)
	}
	m, err := c.c.Read(c.rbuf[:n+1])
	if err != nil {
		return err
	}
	if m != n {
		return fmt.Errorf("bench: packet of %d bytes, want %d", m, n)
	}
	use(c.rbuf[:n])
	return nil
}

func (c *packetConn) Close() error { return c.c.Close() }

var _ = Register(Transport{
	Name:  "pipe",
	Group: Kernel,
	Floor: "floor futex",
	About: "two os pipes (the child's stdin and stdout), write and buffered read",
	Open: func(ctx context.Context, o LinkOptions) (_ *Link, err error) {
		r0, w0, err := os.Pipe() // parent → child
		if err != nil {
			return nil, err
		}
		r1, w1, err := os.Pipe() // child → parent
		if err != nil {
			r0.Close()
			w0.Close()
			return nil, err
		}
		return &Link{
			Proc:    &process.Options{Stdin: r0, Stdout: w1},
			Started: func() { r0.Close(); w1.Close() },
			Here: func(ctx context.Context) (Conn, error) {
				return newStreamConn(r1, w0, w0, r1), nil
			},
			Close: func() error { r0.Close(); w1.Close(); return nil },
		}, nil
	},
	Dial: func(ctx context.Context, a LinkArgs, o LinkOptions, side int) (Conn, error) {
		return newStreamConn(os.Stdin, os.Stdout), nil
	},
})

// socketTransport listens on network, accepts the partner once, and hands
// each end to wrap.
func socketTransport(name, network, about string, maxMsg int, wrap func(net.Conn) Conn) Transport {
	return Transport{
		Name:   name,
		Group:  Kernel,
		Floor:  "floor futex",
		About:  about,
		MaxMsg: maxMsg,
		Open: func(ctx context.Context, o LinkOptions) (_ *Link, err error) {
			addr, dir := "127.0.0.1:0", ""
			if network != "tcp" {
				if dir, err = os.MkdirTemp("", "shmkit-bench-"); err != nil {
					return nil, err
				}
				addr = filepath.Join(dir, "s")
			}
			lc := net.ListenConfig{}
			ln, err := lc.Listen(ctx, network, addr)
			if err != nil {
				if dir != "" {
					os.RemoveAll(dir)
				}
				return nil, err
			}
			return &Link{
				Args: LinkArgs{Network: network, Address: ln.Addr().String()},
				Here: func(ctx context.Context) (Conn, error) {
					stop := context.AfterFunc(ctx, func() { ln.Close() })
					defer stop()
					c, err := ln.Accept()
					if err != nil {
						return nil, err
					}
					return wrap(c), nil
				},
				Close: func() error {
					err := ln.Close()
					if dir != "" {
						os.RemoveAll(dir)
					}
					return err
				},
			}, nil
		},
		Dial: func(ctx context.Context, a LinkArgs, o LinkOptions, side int) (Conn, error) {
			var d net.Dialer
			c, err := d.DialContext(ctx, a.Network, a.Address)
			if err != nil {
				return nil, err
			}
			return wrap(c), nil
		},
	}
}

func streamSocket(c net.Conn) Conn { return newStreamConn(c, c, c) }

var (
	_ = Register(socketTransport("unix stream", "unix", "a Unix stream socket, write and buffered read", 0, streamSocket))
	_ = Register(socketTransport("unix seqpacket", "unixpacket", "a Unix seqpacket socket, one message a packet (up to 64 KiB)", 64<<10,
		func(c net.Conn) Conn { return &packetConn{c: c} }))
	_ = Register(socketTransport("tcp loopback", "tcp", "TCP over 127.0.0.1 (Nagle off), write and buffered read", 0, streamSocket))
)

// The in-process reference: goroutines and channels of []byte, buffers
// passed by ownership and recycled through a free list.

type chanDir struct {
	data, free chan []byte
}

func newChanDir(slots int) *chanDir {
	d := &chanDir{data: make(chan []byte, slots), free: make(chan []byte, slots)}
	for range slots {
		d.free <- nil
	}
	return d
}

type chanConn struct {
	ctx     context.Context
	out, in *chanDir
}

func (c *chanConn) Send(n int, fill func([]byte)) error {
	var b []byte
	select {
	case b = <-c.out.free:
	case <-c.ctx.Done():
		return c.ctx.Err()
	}
	if cap(b) < n {
		b = make([]byte, n)
	}
	fill(b[:n])
	select {
	case c.out.data <- b[:n]:
		return nil
	case <-c.ctx.Done():
		return c.ctx.Err()
	}
}

func (c *chanConn) Recv(n int, use func([]byte)) error {
	var b []byte
	select {
	case b = <-c.in.data:
	case <-c.ctx.Done():
		return c.ctx.Err()
	}
	if len(b) != n {
		return fmt.Errorf("bench: channel message of %d bytes, want %d", len(b), n)
	}
	use(b)
	c.in.free <- b
	return nil
}

func (c *chanConn) Close() error { return nil }

var _ = Register(Transport{
	Name:      "go channel",
	Group:     InProcess,
	About:     "goroutines of one process, a buffered chan []byte (buffers recycled), the in-process reference",
	Multi:     true,
	InProcess: true,
	Open: func(ctx context.Context, o LinkOptions) (*Link, error) {
		slots, _ := rawGeometry(o.MaxMsg, false)
		d0, d1 := newChanDir(slots), newChanDir(slots)
		return &Link{
			Here: func(ctx context.Context) (Conn, error) { return &chanConn{ctx: ctx, out: d0, in: d1}, nil },
			Local: func(side int) (Conn, error) {
				if side == 0 {
					return &chanConn{ctx: ctx, out: d0, in: d1}, nil
				}
				return &chanConn{ctx: ctx, out: d1, in: d0}, nil
			},
			Close: func() error { return nil },
		}, nil
	},
})

// The in-process lock reference.

type mutexLock struct{ mu *sync.Mutex }

func (m mutexLock) Lock(ctx context.Context) error { m.mu.Lock(); return nil }
func (m mutexLock) Unlock() error                  { m.mu.Unlock(); return nil }
func (m mutexLock) Close() error                   { return nil }

var _ = Register(Transport{
	Name:      "go sync.Mutex",
	Group:     InProcess,
	About:     "goroutines of one process contending for a sync.Mutex",
	InProcess: true,
	Only:      []string{"lock"},
	OpenLock: func(ctx context.Context, o LinkOptions) (*Link, error) {
		mu := new(sync.Mutex)
		return &Link{
			LocalLock: func() (Locker, error) { return mutexLock{mu}, nil },
			Close:     func() error { return nil },
		}, nil
	},
})
