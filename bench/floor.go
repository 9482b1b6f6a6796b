package bench

// The floors: what two processes on this machine do over raw shared memory
// with nothing of shmkit in between, so that shmkit's rows can be read as a
// ratio to them.
//
// A raw ring is an SPSC ring of fixed slots in a shm.Object:
//
//	offset 0    head    uint32  slots taken by the consumer (consumer stores)
//	offset 128  tail    uint32  slots published by the producer (producer stores)
//	offset 256  csleep  uint32  1 while the consumer sleeps or is about to
//	offset 384  psleep  uint32  1 while the producer sleeps or is about to
//	offset 512  slots   slots × slotSize bytes
//
// The producer owns slot t%slots while tail−head < slots; storing tail+1
// hands it to the consumer, whose load of tail pairs with that store. The
// consumer hands it back by storing head+1, which pairs with the producer's
// load of head. The counters wrap: only their difference is used.
//
// Spinning, a waiter loads the word until it moves. Sleeping (futex), it
// raises its sleep flag, re-checks the word and sleeps on it; the other side
// stores the word, then wakes only if the flag is up. Both are sync/atomic
// operations (sequentially consistent), so either the waiter sees the new
// word or the waker sees the flag. A simpler "always wake" would cost a
// system call per message even when nobody sleeps.
//
// In ping-pong only one slot is ever in use: each side hands the other one
// word (tail) and takes it back (head). In a stream, it is an SPSC ring.

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/shmkit/shmkit/internal/futex"
	"github.com/shmkit/shmkit/shm"
)

const (
	rawHead   = 0
	rawTail   = 128
	rawCSleep = 256
	rawPSleep = 384
	rawData   = 512
	// rawPoll bounds each futex sleep, so a waiter sees a cancelled
	// context.
	rawPoll = 10 * time.Millisecond
)

type rawRing struct {
	head, tail, csleep, psleep *atomic.Uint32
	data                       []byte
	slots, slotSize            uint32
	sleep                      bool
}

func rawRingBytes(slots, slotSize int) int { return rawData + slots*slotSize }

// rawGeometry picks slots for messages up to maxMsg: one in ping-pong, enough
// for about 256 KiB otherwise, at least two.
func rawGeometry(maxMsg int, one bool) (slots, slotSize int) {
	slotSize = (maxMsg + 63) &^ 63
	if one {
		return 1, slotSize
	}
	return max(2, min(1024, (256<<10)/slotSize)), slotSize
}

func openRaw(o *shm.Object, off, slots, slotSize int, sleep bool) (rawRing, error) {
	v, err := o.Payload().Sub(uint64(off), uint64(rawRingBytes(slots, slotSize)))
	if err != nil {
		return rawRing{}, fmt.Errorf("raw ring: %w", err)
	}
	r := rawRing{slots: uint32(slots), slotSize: uint32(slotSize), sleep: sleep}
	for _, w := range []struct {
		p   **atomic.Uint32
		off uint64
	}{{&r.head, rawHead}, {&r.tail, rawTail}, {&r.csleep, rawCSleep}, {&r.psleep, rawPSleep}} {
		if *w.p, err = v.Uint32(w.off); err != nil {
			return rawRing{}, err
		}
	}
	if r.data, err = v.UnsafeBytes(rawData, uint64(slots*slotSize)); err != nil {
		return rawRing{}, err
	}
	return r, nil
}

// await waits until cond holds, spinning or sleeping on w with flag raised.
func await(ctx context.Context, w, flag *atomic.Uint32, sleep bool, cond func(uint32) bool) error {
	for i := 0; ; i++ {
		v := w.Load()
		if cond(v) {
			return nil
		}
		if sleep {
			flag.Store(1)
			if v = w.Load(); !cond(v) {
				futex.Wait(w, v, time.Now().Add(rawPoll))
			}
			flag.Store(0)
		}
		if i&1023 == 1023 || sleep {
			if err := ctx.Err(); err != nil {
				return err
			}
			// Yield now and then, as internal/wait's spin does, so a
			// spinner on a loaded machine lets its partner run.
			if !sleep && i&4095 == 4095 {
				runtime.Gosched()
			}
		}
	}
}

func wake(w, flag *atomic.Uint32) {
	if flag.Load() != 0 {
		futex.Wake(w, 1)
	}
}

// rawConn is a floor link: one raw ring each way.
type rawConn struct {
	ctx     context.Context
	out, in rawRing
}

func (c *rawConn) Send(n int, fill func([]byte)) error {
	r := &c.out
	if n > int(r.slotSize) {
		return fmt.Errorf("raw ring: message of %d bytes, slots of %d", n, r.slotSize)
	}
	t := r.tail.Load()
	if err := await(c.ctx, r.head, r.psleep, r.sleep, func(h uint32) bool { return t-h < r.slots }); err != nil {
		return err
	}
	slot := r.data[(t%r.slots)*r.slotSize:][:n]
	fill(slot)
	r.tail.Store(t + 1)
	if r.sleep {
		wake(r.tail, r.csleep)
	}
	return nil
}

func (c *rawConn) Recv(n int, use func([]byte)) error {
	r := &c.in
	h := r.head.Load()
	if err := await(c.ctx, r.tail, r.csleep, r.sleep, func(t uint32) bool { return t != h }); err != nil {
		return err
	}
	use(r.data[(h%r.slots)*r.slotSize:][:n])
	r.head.Store(h + 1)
	if r.sleep {
		wake(r.head, r.psleep)
	}
	return nil
}

func (c *rawConn) Close() error { return nil }

func rawTransport(name string, sleep bool, about string) Transport {
	geometry := func(o LinkOptions) (slots, size int) { return rawGeometry(o.MaxMsg, false) }
	dial := func(ctx context.Context, a LinkArgs, o LinkOptions, side int) (Conn, error) {
		if a.Object == nil {
			return nil, fmt.Errorf("bench: %s: no object", name)
		}
		slots, size := geometry(o)
		one := rawRingBytes(slots, size)
		r0, err := openRaw(a.Object, 0, slots, size, sleep)
		if err != nil {
			return nil, err
		}
		r1, err := openRaw(a.Object, one, slots, size, sleep)
		if err != nil {
			return nil, err
		}
		if side == 0 {
			return &rawConn{ctx: ctx, out: r0, in: r1}, nil
		}
		return &rawConn{ctx: ctx, out: r1, in: r0}, nil
	}
	return Transport{
		Name:  name,
		Group: Floor,
		About: about,
		Open: func(ctx context.Context, o LinkOptions) (_ *Link, err error) {
			slots, size := geometry(o)
			seg, err := shm.New(2*rawRingBytes(slots, size)+64<<10, nil)
			if err != nil {
				return nil, err
			}
			obj, err := seg.AllocBytes("", 2*rawRingBytes(slots, size))
			seg.Close() // the object keeps the mapping
			if err != nil {
				return nil, err
			}
			l := &Link{Args: LinkArgs{Object: obj}, Close: obj.Close}
			l.Here = func(ctx context.Context) (Conn, error) { return dial(ctx, l.Args, o, 0) }
			return l, nil
		},
		Dial: dial,
	}
}

var (
	_ = Register(rawTransport("floor spin", false,
		"raw shared memory, both sides spinning: a one-word handoff each way (ping-pong), an SPSC ring of slots (streams)"))
	_ = Register(rawTransport("floor futex", true,
		"raw shared memory, a waiter sleeps on a futex at once; woken only when it said it sleeps"))
	_ = Register(Transport{
		Name:  "floor spinlock",
		Group: Floor,
		About: "a compare-and-swap spin lock on one shared word",
		Only:  []string{"lock"},
		OpenLock: func(ctx context.Context, o LinkOptions) (*Link, error) {
			seg, err := shm.New(64<<10, nil)
			if err != nil {
				return nil, err
			}
			obj, err := seg.AllocBytes("", 128)
			seg.Close()
			if err != nil {
				return nil, err
			}
			return &Link{Args: LinkArgs{Object: obj}, Close: obj.Close}, nil
		},
		DialLock: func(ctx context.Context, a LinkArgs, o LinkOptions) (Locker, error) {
			if a.Object == nil {
				return nil, fmt.Errorf("bench: floor spinlock: no object")
			}
			w, err := a.Object.Payload().Uint32(0)
			if err != nil {
				return nil, err
			}
			return spinLock{w}, nil
		},
	})
)

// spinLock is the lock floor: 0 free, 1 held.
type spinLock struct{ w *atomic.Uint32 }

func (l spinLock) Lock(ctx context.Context) error {
	for i := 0; !l.w.CompareAndSwap(0, 1); i++ {
		for l.w.Load() != 0 {
			if i++; i&(1<<14-1) == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
				runtime.Gosched()
			}
		}
	}
	return nil
}

func (l spinLock) Unlock() error { l.w.Store(0); return nil }
func (l spinLock) Close() error  { return nil }
