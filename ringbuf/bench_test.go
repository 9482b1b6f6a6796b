//go:build linux

package ringbuf_test

import (
	"context"
	"errors"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/futex"
	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/process"
	"github.com/shmkit/shmkit/ringbuf"
	"github.com/shmkit/shmkit/shm"
)

// The benchmark partner: a child that runs, on command, its half of a
// two-process scenario. Command words (uint32, in Cmd): 0 sequence number,
// 1 mode, 2 count, 3 done sequence number, 4 ping-pong word.
type benchArgs struct {
	Stream, Ping, Pong *ringbuf.Ring
	Cmd, Raw           *shm.Object
}

const (
	modeStream = iota + 1
	modeRawStream
	modePingPong
	modeRawPingPong
	modeExit
)

const (
	msgSize  = 64
	rawSlots = 2048 // of msgSize bytes: the same 128 KiB as the ring
	rawData  = 256  // offset of the raw ring's slots, after two lines
)

type cmdWords struct{ seq, mode, count, done, word *atomic.Uint32 }

func cmdOf(o *shm.Object) cmdWords {
	w := func(i uint64) *atomic.Uint32 {
		p, err := o.Payload().Uint32(4 * i)
		if err != nil {
			panic(err)
		}
		return p
	}
	return cmdWords{w(0), w(1), w(2), w(3), w(32)} // the ping-pong word on a line of its own
}

// rawRing is the baseline: fixed 64-byte slots, a head and a tail on
// separate lines, no headers, no locks, spinning.
type rawRing struct {
	head, tail *atomic.Uint64
	data       []byte
}

func rawOf(o *shm.Object) rawRing {
	h, err := o.Payload().Uint64(0)
	if err != nil {
		panic(err)
	}
	t, err := o.Payload().Uint64(128)
	if err != nil {
		panic(err)
	}
	return rawRing{h, t, o.UnsafeBytes()[rawData:]}
}

func (r rawRing) put(msg []byte) {
	t := r.tail.Load()
	for t-r.head.Load() == rawSlots {
	}
	copy(r.data[(t%rawSlots)*msgSize:][:msgSize], msg)
	r.tail.Store(t + 1)
}

func (r rawRing) get() byte {
	h := r.head.Load()
	for r.tail.Load() == h {
	}
	var sum byte
	for _, c := range r.data[(h%rawSlots)*msgSize:][:msgSize] {
		sum += c
	}
	r.head.Store(h + 1)
	return sum
}

var spinning = &ringbuf.Options{Spin: time.Second}

var benchPartner = process.MustRegister("ring-bench-partner", func(ctx context.Context, a benchArgs) error {
	runtime.LockOSThread()
	c := cmdOf(a.Cmd)
	raw := rawOf(a.Raw)
	var err error
	if a.Ping, err = ringbuf.OpenHandle(a.Ping.Handle(), spinning); err != nil {
		return err
	}
	if a.Pong, err = ringbuf.OpenHandle(a.Pong.Handle(), spinning); err != nil {
		return err
	}
	var seen uint32
	var sink byte
	for {
		for c.seq.Load() == seen {
			futex.Wait(c.seq, seen, time.Now().Add(time.Second))
			if ctx.Err() != nil {
				return ctx.Err()
			}
		}
		seen = c.seq.Load()
		n := int(c.count.Load())
		switch c.mode.Load() {
		case modeExit:
			return nil
		case modeStream:
			for range n {
				rec, err := a.Stream.Take(ctx)
				if err != nil {
					return err
				}
				for _, b := range rec.Bytes() {
					sink += b
				}
				rec.Release()
			}
		case modeRawStream:
			for range n {
				sink += raw.get()
			}
		case modePingPong:
			for range n {
				rec, err := a.Ping.Take(ctx)
				if err != nil {
					return err
				}
				cl, err := a.Pong.Claim(ctx, rec.Len())
				if err != nil {
					return err
				}
				copy(cl.Bytes(), rec.Bytes())
				rec.Release()
				cl.Commit()
			}
		case modeRawPingPong:
			for i := range uint32(n) {
				for c.word.Load() != 2*i+1 {
				}
				c.word.Store(2*i + 2)
			}
		}
		c.done.Store(seen)
		futex.Wake(c.done, 1)
	}
})

type bench struct {
	b                  *testing.B
	ctx                context.Context
	c                  cmdWords
	raw                rawRing
	stream, ping, pong *ringbuf.Ring
	seq                uint32
}

func newBench(b *testing.B) *bench {
	shmtest.NeedProcesses(b)
	ctx := shmtest.Deadline(b, 10*time.Minute)
	seg := anon(b, 1<<20)
	sp := &ringbuf.Options{SingleProducer: true, SingleConsumer: true}
	mk := func(capacity int, opts *ringbuf.Options) *ringbuf.Ring {
		r, err := ringbuf.New(seg, "", capacity, opts)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { r.Close() })
		return r
	}
	stream := mk(128<<10, sp)
	sp.Spin = time.Second
	ping, pong := mk(4096, sp), mk(4096, sp)
	cmd, err := seg.AllocBytes("", 256)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cmd.Close() })
	raw, err := seg.AllocBytes("", rawData+rawSlots*msgSize)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { raw.Close() })
	p, err := process.Start(ctx, benchPartner, benchArgs{Stream: stream, Ping: ping, Pong: pong, Cmd: cmd, Raw: raw}, nil)
	if err != nil {
		b.Fatal(err)
	}
	bn := &bench{b: b, ctx: ctx, c: cmdOf(cmd), raw: rawOf(raw), stream: stream, ping: ping, pong: pong}
	b.Cleanup(func() {
		bn.command(modeExit, 0)
		p.Join(context.Background())
	})
	return bn
}

// command starts the partner on mode; wait waits until it is done.
func (bn *bench) command(mode, n int) {
	bn.c.mode.Store(uint32(mode))
	bn.c.count.Store(uint32(n))
	bn.seq++
	bn.c.seq.Store(bn.seq)
	futex.Wake(bn.c.seq, 1)
}

func (bn *bench) wait() error {
	for bn.c.done.Load() != bn.seq {
		if bn.ctx.Err() != nil {
			return errors.New("partner did not finish")
		}
		runtime.Gosched()
	}
	return nil
}

// BenchmarkStream: 64-byte messages from this process to another, through
// a single-producer single-consumer Ring, against a raw SPSC ring of
// 64-byte slots (two cursors, no headers, no locks). Both sides touch
// every byte.
func BenchmarkStream(b *testing.B) {
	const batch = 20000
	bn := newBench(b)
	msg := make([]byte, msgSize)
	for i := range msg {
		msg[i] = byte(i)
	}
	b.Logf("64 B messages, one process to another, per message: ringbuf SPSC Claim/Commit → Take/Release vs a raw SPSC ring")
	shmtest.Versus(b, batch, func() error {
		bn.command(modeStream, batch)
		for range batch {
			c, err := bn.stream.Claim(bn.ctx, msgSize)
			if err != nil {
				return err
			}
			copy(c.Bytes(), msg)
			c.Commit()
		}
		return bn.wait()
	}, func() error {
		bn.command(modeRawStream, batch)
		for range batch {
			bn.raw.put(msg)
		}
		return bn.wait()
	})
}

// BenchmarkPingPong: a 64-byte message to another process and back, both
// sides spinning, through two SPSC Rings, against two processes taking
// turns on one shared word.
func BenchmarkPingPong(b *testing.B) {
	const batch = 2000
	bn := newBench(b)
	msg := make([]byte, msgSize)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.Logf("round trip per message: 64 B through two spinning SPSC rings vs a spin ping-pong on one shared word")
	shmtest.Versus(b, batch, func() error {
		bn.command(modePingPong, batch)
		for range batch {
			c, err := bn.ping.Claim(bn.ctx, msgSize)
			if err != nil {
				return err
			}
			copy(c.Bytes(), msg)
			c.Commit()
			rec, err := bn.pong.Take(bn.ctx)
			if err != nil {
				return err
			}
			copy(msg, rec.Bytes())
			rec.Release()
		}
		return bn.wait()
	}, func() error {
		bn.c.word.Store(0)
		bn.command(modeRawPingPong, batch)
		for i := range uint32(batch) {
			bn.c.word.Store(2*i + 1)
			for bn.c.word.Load() != 2*i+2 {
			}
		}
		return bn.wait()
	})
}
