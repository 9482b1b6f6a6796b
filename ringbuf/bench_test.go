//go:build linux

package ringbuf_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/futex"
	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/process"
	"github.com/shmkit/shmkit/ringbuf"
	"github.com/shmkit/shmkit/shm"
)

// The ring benchmarks run between this process and a partner child, each
// beside a baseline written here and run in the same benchmark (see
// shmtest.Versus): a raw SPSC ring of fixed slots (two cursors on separate
// lines, no headers, no locks, spinning), a raw spin ping-pong (a payload
// copied into shared memory and one word flipped), a raw futex ping-pong
// (the same, sleeping in FUTEX_WAIT with no spin), and for 4→4 a Go
// channel between goroutines of one process.
//
// In the streams, ours and the raw ring do the same work per message, the
// least a real user does: the producer writes a sequence number into the
// first 8 bytes and copies the rest of the payload in; the consumer copies
// the payload out and checks the sequence number (see putMsg and
// getMsg). A mismatch is counted in the command's bad word and fails the
// benchmark.
//
// The partner runs, on command, its half of one batch. Command words
// (uint32, in Cmd): 0 sequence number, 1 mode, 2 count, 3 done sequence
// number, 4 payload size, 5 batch, 6 bad (messages that arrived with the
// wrong sequence number); 32 the ping-pong word, on a line of its own.
type benchArgs struct {
	Small, Big           *ringbuf.Ring // streams: SPSC, 128 KiB and 4 MiB, spinning as the raw ring does
	PingS, PongS         *ringbuf.Ring // round trips: SPSC, 16 KiB, spinning
	PingB, PongB         *ringbuf.Ring // the same, 4 MiB
	SleepPing, SleepPong *ringbuf.Ring // round trips: SPSC, 4 KiB, sleeping at once
	Many                 *ringbuf.Ring // 4→4: MPMC, 1 MiB
	Cmd, Raw, RawPing    *shm.Object
}

const (
	modeStream = iota + 1
	modeRawStream
	modePingPong
	modeRawPingPong
	modeSleepPingPong
	modeFutexPingPong
	modeMany
	modeExit
)

const (
	smallCap = 128 << 10
	bigCap   = 4 << 20
	pingCap  = 16 << 10
	rawData  = 256 // offset of the raw ring's slots, after two lines
)

// benchSizes are the payloads, with the messages per Versus call of a
// stream and of a round trip.
var benchSizes = []struct {
	name         string
	size         int
	msgs, rounds int
}{
	{"8B", 8, 100000, 2000},
	{"64B", 64, 100000, 2000},
	{"4KiB", 4 << 10, 4000, 1000},
	{"64KiB", 64 << 10, 400, 100},
	{"1MiB", 1 << 20, 20, 20},
}

type cmdWords struct{ seq, mode, count, done, size, batch, bad, word *atomic.Uint32 }

func cmdOf(o *shm.Object) cmdWords {
	w := func(i uint64) *atomic.Uint32 {
		p, err := o.Payload().Uint32(4 * i)
		if err != nil {
			panic(err)
		}
		return p
	}
	return cmdWords{w(0), w(1), w(2), w(3), w(4), w(5), w(6), w(32)}
}

// rawRing is the streaming baseline: slots of one message, a head and a
// tail on separate lines, no headers, no locks, spinning.
type rawRing struct {
	head, tail  *atomic.Uint64
	data        []byte
	slot, slots uint64
}

func rawOf(o *shm.Object, size int) rawRing {
	h, err := o.Payload().Uint64(0)
	if err != nil {
		panic(err)
	}
	t, err := o.Payload().Uint64(128)
	if err != nil {
		panic(err)
	}
	capacity := uint64(streamCap(size))
	return rawRing{h, t, o.UnsafeBytes()[rawData:][:capacity], uint64(size), capacity / uint64(size)}
}

// put writes k messages numbered from seq, waiting for room for all, and
// publishes them with one store of tail.
func (r rawRing) put(seq, k uint64, msg []byte) {
	t := r.tail.Load()
	for t+k-r.head.Load() > r.slots {
	}
	for i := range k {
		putMsg(r.data[((t+i)%r.slots)*r.slot:][:r.slot], seq+i, msg)
	}
	r.tail.Store(t + k)
}

// get takes the messages published, up to most and at least one (waiting
// for it), one by one into buf, and gives them back with one store of
// head. It returns how many it took and how many did not carry their
// sequence number, counted from seq.
func (r rawRing) get(seq, most uint64, buf []byte) (took uint64, bad uint32) {
	h := r.head.Load()
	t := r.tail.Load()
	for t == h {
		t = r.tail.Load()
	}
	took = min(t-h, most)
	for i := range took {
		if !getMsg(r.data[((h+i)%r.slots)*r.slot:][:r.slot], seq+i, buf) {
			bad++
		}
	}
	r.head.Store(h + took)
	return took, bad
}

// putMsg is a stream producer's work per message: sequence number seq in
// the first 8 bytes of dst, the rest of msg after it.
func putMsg(dst []byte, seq uint64, msg []byte) {
	binary.LittleEndian.PutUint64(dst, seq)
	copy(dst[8:], msg[8:])
}

// getMsg is a stream consumer's work per message: copy src out into buf
// and report whether it carries sequence number seq.
func getMsg(src []byte, seq uint64, buf []byte) bool {
	copy(buf, src)
	return len(src) >= 8 && binary.LittleEndian.Uint64(buf) == seq
}

func sum(b []byte) byte {
	var s byte
	for _, c := range b {
		s += c
	}
	return s
}

// streamCap is the data capacity of the ring a stream of size-byte
// messages uses; the raw ring gets as many bytes.
func streamCap(size int) int {
	if size <= 4<<10 {
		return smallCap
	}
	return bigCap
}

// batchOf is how many size-byte records one batch carries: up to 64, and
// at most an eighth of the ring, so that producer and consumer still work
// on different parts of it at once (a batch of half the ring makes each
// wait for the other's whole batch).
func batchOf(size, capacity int) int {
	return max(1, min(64, (capacity/8)/(8+(size+7)&^7)))
}

var spinning = &ringbuf.Options{Spin: time.Second}

func (a benchArgs) pair(size int) (ping, pong *ringbuf.Ring) {
	if size <= 4<<10 {
		return a.PingS, a.PongS
	}
	return a.PingB, a.PongB
}

func (a benchArgs) stream(size int) *ringbuf.Ring {
	if size <= 4<<10 {
		return a.Small
	}
	return a.Big
}

var benchPartner = process.MustRegister("ring-bench-partner", func(ctx context.Context, a benchArgs) error {
	runtime.LockOSThread()
	c := cmdOf(a.Cmd)
	var err error
	for _, p := range []**ringbuf.Ring{&a.Small, &a.Big, &a.PingS, &a.PongS, &a.PingB, &a.PongB} {
		if *p, err = ringbuf.OpenHandle((*p).Handle(), spinning); err != nil {
			return err
		}
	}
	sleepy := &ringbuf.Options{Spin: -1}
	for _, p := range []**ringbuf.Ring{&a.SleepPing, &a.SleepPong} {
		if *p, err = ringbuf.OpenHandle((*p).Handle(), sleepy); err != nil {
			return err
		}
	}
	raw := a.RawPing.UnsafeBytes()
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
		n, size, batch := int(c.count.Load()), int(c.size.Load()), int(c.batch.Load())
		switch c.mode.Load() {
		case modeExit:
			return nil
		case modeStream:
			r := a.stream(size)
			buf := make([]byte, size)
			bad := uint32(0)
			for seq := 0; seq < n && batch <= 1; seq++ {
				rec, err := r.Take(ctx)
				if err != nil {
					return err
				}
				if !getMsg(rec.Bytes(), uint64(seq), buf) {
					bad++
				}
				rec.Release()
			}
			for seq := 0; seq < n && batch > 1; {
				rs, err := r.TakeBatch(ctx, min(batch, n-seq))
				if err != nil {
					return err
				}
				for _, p := range rs.All() {
					if !getMsg(p, uint64(seq), buf) {
						bad++
					}
					seq++
				}
				rs.Release()
			}
			c.bad.Add(bad)
		case modeRawStream:
			rr := rawOf(a.Raw, size)
			buf := make([]byte, size)
			bad := uint32(0)
			for seq := uint64(0); seq < uint64(n); {
				took, b := rr.get(seq, uint64(max(batch, 1)), buf)
				seq += took
				bad += b
			}
			c.bad.Add(bad)
		case modePingPong, modeSleepPingPong:
			ping, pong := a.pair(size)
			if c.mode.Load() == modeSleepPingPong {
				ping, pong = a.SleepPing, a.SleepPong
			}
			for range n {
				rec, err := ping.Take(ctx)
				if err != nil {
					return err
				}
				cl, err := pong.Claim(ctx, rec.Len())
				if err != nil {
					return err
				}
				copy(cl.Bytes(), rec.Bytes())
				cl.Commit() // before the Release: see the package doc
				rec.Release()
			}
		case modeRawPingPong:
			for i := range uint32(n) {
				for c.word.Load() != 2*i+1 {
				}
				copy(raw[size:2*size], raw[:size])
				c.word.Store(2*i + 2)
			}
		case modeFutexPingPong:
			for i := range uint32(n) {
				for v := c.word.Load(); v != 2*i+1; v = c.word.Load() {
					futex.Wait(c.word, v, time.Now().Add(time.Second))
				}
				copy(raw[size:2*size], raw[:size])
				c.word.Store(2*i + 2)
				futex.Wake(c.word, 1)
			}
		case modeMany:
			var wg sync.WaitGroup
			var tickets atomic.Int64
			var errs [4]error
			for g := range 4 {
				wg.Go(func() {
					for tickets.Add(1) <= int64(n) {
						rec, err := a.Many.Take(ctx)
						if err != nil {
							errs[g] = err
							return
						}
						sink += sum(rec.Bytes())
						rec.Release()
					}
				})
			}
			wg.Wait()
			if err := errors.Join(errs[:]...); err != nil {
				return err
			}
		}
		c.done.Store(seen)
		futex.Wake(c.done, 1)
	}
})

type bench struct {
	b   *testing.B
	ctx context.Context
	c   cmdWords
	a   benchArgs
	seq uint32
}

func newBench(b *testing.B) *bench {
	shmtest.NeedProcesses(b)
	ctx := shmtest.Deadline(b, 10*time.Minute)
	seg := anon(b, 2*bigCap+bigCap+bigCap+smallCap+2*pingCap+8<<10+1<<20+bigCap+rawData+2<<20+1<<20)
	mk := func(capacity int, opts ringbuf.Options) *ringbuf.Ring {
		r, err := ringbuf.New(seg, "", capacity, &opts)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { r.Close() })
		return r
	}
	obj := func(size int) *shm.Object {
		o, err := seg.AllocBytes("", size)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { o.Close() })
		return o
	}
	sp := ringbuf.Options{SingleProducer: true, SingleConsumer: true}
	spin := sp
	spin.Spin = time.Second
	sleepy := sp
	sleepy.Spin = -1
	a := benchArgs{
		Small: mk(smallCap, spin), Big: mk(bigCap, spin),
		PingS: mk(pingCap, spin), PongS: mk(pingCap, spin),
		PingB: mk(bigCap, spin), PongB: mk(bigCap, spin),
		SleepPing: mk(4<<10, sleepy), SleepPong: mk(4<<10, sleepy),
		Many: mk(1<<20, ringbuf.Options{}),
		Cmd:  obj(256), Raw: obj(rawData + bigCap), RawPing: obj(2 << 20),
	}
	p, err := process.Start(ctx, benchPartner, a, nil)
	if err != nil {
		b.Fatal(err)
	}
	bn := &bench{b: b, ctx: ctx, c: cmdOf(a.Cmd), a: a}
	b.Cleanup(func() {
		bn.command(modeExit, 0, 0, 0)
		p.Join(context.Background())
	})
	return bn
}

// command starts the partner on mode; wait waits until it is done.
func (bn *bench) command(mode, n, size, batch int) {
	bn.c.mode.Store(uint32(mode))
	bn.c.count.Store(uint32(n))
	bn.c.size.Store(uint32(size))
	bn.c.batch.Store(uint32(batch))
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
	if n := bn.c.bad.Swap(0); n != 0 {
		return fmt.Errorf("%d messages arrived with the wrong sequence number", n)
	}
	return nil
}

func message(size int) []byte {
	msg := make([]byte, size)
	for i := range msg {
		msg[i] = byte(i)
	}
	return msg
}

// BenchmarkStream: messages from this process to another through an SPSC
// Ring, one Claim/Commit and one Take/Release per message (single) or
// ClaimBatch/Commit and TakeBatch/Release of up to 64, each gone through
// with a range loop over All (batched), against a raw SPSC ring of as many
// bytes that publishes and gives back space as often: per message, or once
// per batch of as many. Both do the same work per message: a sequence
// number and the payload written in, the payload copied out and the
// sequence number checked (putMsg, getMsg). ns/op is per message.
func BenchmarkStream(b *testing.B) {
	bn := newBench(b)
	for _, sz := range benchSizes {
		for _, batched := range []bool{false, true} {
			name := sz.name + "/single"
			if batched {
				name = sz.name + "/batched"
			}
			b.Run(name, func(b *testing.B) {
				bn.b = b
				msg := message(sz.size)
				r := bn.a.stream(sz.size)
				batch := 1
				if batched {
					batch = batchOf(sz.size, r.Cap())
				}
				sizes := make([]int, batch)
				for i := range sizes {
					sizes[i] = sz.size
				}
				b.Logf("%s messages, one process to another, per message: SPSC ring vs a raw SPSC ring, batches of %d", sz.name, batch)
				shmtest.Versus(b, sz.msgs, func() error {
					bn.command(modeStream, sz.msgs, sz.size, batch)
					for seq := 0; seq < sz.msgs; {
						k := min(batch, sz.msgs-seq)
						if k == 1 {
							c, err := r.Claim(bn.ctx, sz.size)
							if err != nil {
								return err
							}
							putMsg(c.Bytes(), uint64(seq), msg)
							seq++
							c.Commit()
						} else {
							c, err := r.ClaimBatch(bn.ctx, sizes[:k])
							if err != nil {
								return err
							}
							for _, p := range c.All() {
								putMsg(p, uint64(seq), msg)
								seq++
							}
							c.Commit()
						}
					}
					return bn.wait()
				}, func() error {
					raw := rawOf(bn.a.Raw, sz.size)
					raw.head.Store(0) // the partner has taken all
					raw.tail.Store(0)
					bn.command(modeRawStream, sz.msgs, sz.size, batch)
					for seq := 0; seq < sz.msgs; seq += batch {
						raw.put(uint64(seq), uint64(min(batch, sz.msgs-seq)), msg)
					}
					return bn.wait()
				})
			})
		}
	}
}

// BenchmarkBatchOneThread: batches of 64 messages of 8 and 64 bytes
// claimed, filled, committed, taken, read and released by one goroutine,
// through an SPSC Ring, against the raw SPSC ring putting and getting as
// many, with the same work per message (putMsg, getMsg). No line crosses
// cores here: ns/op is the CPU a message costs both sides together, which
// bounds a stream between processes whenever the cores, not the lines
// between them, are what is slow. ns/op is per message.
func BenchmarkBatchOneThread(b *testing.B) {
	const batch, batches = 64, 16
	for _, size := range []int{8, 64} {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			seg := anon(b, 2*smallCap+1<<20) // the ring and the raw one
			r, err := ringbuf.New(seg, "", smallCap, &ringbuf.Options{SingleProducer: true, SingleConsumer: true})
			if err != nil {
				b.Fatal(err)
			}
			defer r.Close()
			o, err := seg.AllocBytes("", rawData+smallCap)
			if err != nil {
				b.Fatal(err)
			}
			defer o.Close()
			raw := rawOf(o, size)
			ctx := shmtest.Deadline(b, time.Minute)
			msg, buf := message(size), make([]byte, size)
			sizes := make([]int, batch)
			for i := range sizes {
				sizes[i] = size
			}
			var put, got uint64 // ours
			var rawSeq uint64
			shmtest.Versus(b, batch*batches, func() error {
				for range batches {
					c, err := r.ClaimBatch(ctx, sizes)
					if err != nil {
						return err
					}
					for _, p := range c.All() {
						putMsg(p, put, msg)
						put++
					}
					if err := c.Commit(); err != nil {
						return err
					}
					rs, err := r.TakeBatch(ctx, batch)
					if err != nil {
						return err
					}
					for _, p := range rs.All() {
						if !getMsg(p, got, buf) {
							return fmt.Errorf("message %d arrived with the wrong sequence number", got)
						}
						got++
					}
					if err := rs.Release(); err != nil {
						return err
					}
				}
				return nil
			}, func() error {
				for range batches {
					raw.put(rawSeq, batch, msg)
					if took, bad := raw.get(rawSeq, batch, buf); took != batch || bad != 0 {
						return fmt.Errorf("raw ring: took %d, %d with the wrong sequence number", took, bad)
					}
					rawSeq += batch
				}
				return nil
			})
		})
	}
}

// BenchmarkPingPong: a message to another process and back, both sides
// spinning, through two SPSC Rings, against the same payload copied
// through shared memory with one word flipped each way. ns/op is per round
// trip.
func BenchmarkPingPong(b *testing.B) {
	bn := newBench(b)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	raw := bn.a.RawPing.UnsafeBytes()
	for _, sz := range benchSizes {
		b.Run(sz.name, func(b *testing.B) {
			bn.b = b
			msg := message(sz.size)
			ping, pong := bn.a.pair(sz.size)
			b.Logf("round trip of %s through two spinning SPSC rings vs a spin ping-pong on one shared word", sz.name)
			shmtest.Versus(b, sz.rounds, func() error {
				bn.command(modePingPong, sz.rounds, sz.size, 0)
				return pingPong(bn.ctx, ping, pong, msg, sz.rounds, nil)
			}, func() error {
				bn.c.word.Store(0)
				bn.command(modeRawPingPong, sz.rounds, sz.size, 0)
				for i := range uint32(sz.rounds) {
					copy(raw, msg)
					bn.c.word.Store(2*i + 1)
					for bn.c.word.Load() != 2*i+2 {
					}
					copy(msg, raw[sz.size:2*sz.size])
				}
				return bn.wait()
			})
		})
	}
}

// pingPong runs rounds round trips through ping and pong, calling lap (if
// not nil) after each.
func pingPong(ctx context.Context, ping, pong *ringbuf.Ring, msg []byte, rounds int, lap func()) error {
	for range rounds {
		c, err := ping.Claim(ctx, len(msg))
		if err != nil {
			return err
		}
		copy(c.Bytes(), msg)
		c.Commit()
		rec, err := pong.Take(ctx)
		if err != nil {
			return err
		}
		copy(msg, rec.Bytes())
		rec.Release()
		if lap != nil {
			lap()
		}
	}
	return nil
}

// BenchmarkSleepingPingPong: a 64-byte round trip where both sides sleep
// at once (rings with a negative Spin), against a raw futex ping-pong: the
// same copies, one word, FUTEX_WAIT and FUTEX_WAKE each way. Every round
// trip is timed (see shmtest.VersusEach): on a virtual machine with two
// cores, about a third of sleeping round trips, on either side, take ten
// times the rest (the two processes on different cores, each wake-up an
// interrupt to a halted one), in runs of them, and a median of 500-round
// means said more about those runs than about the ring.
func BenchmarkSleepingPingPong(b *testing.B) {
	const rounds, size = 500, 64
	bn := newBench(b)
	ping, pong := bn.a.SleepPing, bn.a.SleepPong
	raw := bn.a.RawPing.UnsafeBytes()
	msg := message(size)
	b.Logf("round trip of 64 B, both sides sleeping in the kernel, vs a raw futex ping-pong")
	shmtest.VersusEach(b, func(lap func()) error {
		bn.command(modeSleepPingPong, rounds, size, 0)
		return pingPong(bn.ctx, ping, pong, msg, rounds, lap)
	}, func(lap func()) error {
		bn.c.word.Store(0)
		bn.command(modeFutexPingPong, rounds, size, 0)
		for i := range uint32(rounds) {
			copy(raw, msg)
			bn.c.word.Store(2*i + 1)
			futex.Wake(bn.c.word, 1)
			for v := bn.c.word.Load(); v != 2*i+2; v = bn.c.word.Load() {
				futex.Wait(bn.c.word, v, time.Now().Add(time.Second))
			}
			copy(msg, raw[size:2*size])
			lap()
		}
		return bn.wait()
	})
}

// BenchmarkFourToFour: 64-byte messages from four goroutines of this
// process to four goroutines of another through one MPMC Ring, against
// four goroutines sending to four others over a Go channel in one process
// (the in-process floor). ns/op is per message.
func BenchmarkFourToFour(b *testing.B) {
	const msgs, size = 20000, 64
	bn := newBench(b)
	msg := message(size)
	b.Logf("64 B messages, 4 producers → 4 consumers: an MPMC ring between two processes vs a Go channel between goroutines")
	produce := func(put func() error) error {
		var wg sync.WaitGroup
		var errs [4]error
		for g := range 4 {
			wg.Go(func() {
				for range msgs / 4 {
					if err := put(); err != nil {
						errs[g] = err
						return
					}
				}
			})
		}
		wg.Wait()
		return errors.Join(errs[:]...)
	}
	shmtest.Versus(b, msgs, func() error {
		bn.command(modeMany, msgs, size, 0)
		err := produce(func() error {
			c, err := bn.a.Many.Claim(bn.ctx, size)
			if err != nil {
				return err
			}
			copy(c.Bytes(), msg)
			return c.Commit()
		})
		if err != nil {
			return err
		}
		return bn.wait()
	}, func() error {
		ch := make(chan [size]byte, 1024)
		var wg sync.WaitGroup
		var sink [4]byte
		for g := range 4 {
			wg.Go(func() {
				for range msgs / 4 {
					m := <-ch
					sink[g] += sum(m[:])
				}
			})
		}
		err := produce(func() error {
			ch <- [size]byte(msg)
			return nil
		})
		wg.Wait()
		return err
	})
}
