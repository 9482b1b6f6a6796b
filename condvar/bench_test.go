//go:build linux

package condvar_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmkit/shmkit/condvar"
	"github.com/shmkit/shmkit/internal/futex"
	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/process"
	"github.com/shmkit/shmkit/shm"
)

// The benchmark partner: a child that runs, on command, its half of a
// two-process scenario. Command words (uint32, in Cmd): 0 sequence number,
// 1 mode, 2 count, 3 done sequence number, 4 futex flag, 5 spin (0: none,
// 1: the default), 6 whose turn (the Cond ping-pong).
type partnerArgs struct {
	E1, E2 *condvar.Event
	B      *condvar.Barrier
	C      *condvar.Cond
	Cmd    *shm.Object
}

const (
	modeEvent = iota + 1
	modeBarrier
	modeCond
	modeFutex
	modePipe
	modeExit
)

type cmdWords struct{ seq, mode, count, done, flag, spin, turn *atomic.Uint32 }

func cmdOf(o *shm.Object) cmdWords {
	w := func(i uint64) *atomic.Uint32 {
		p, err := o.Payload().Uint32(4 * i)
		if err != nil {
			panic(err)
		}
		return p
	}
	return cmdWords{w(0), w(1), w(2), w(3), w(4), w(5), w(6)}
}

// handles are one process's handles to the partners' objects, opened with
// one choice of Options (which do not travel with handles).
type handles struct {
	e1, e2 *condvar.Event
	b      *condvar.Barrier
	c      *condvar.Cond
}

func openHandles(a partnerArgs, opts *condvar.Options) (h handles, err error) {
	if h.e1, err = condvar.OpenEventHandle(a.E1.Handle(), opts); err != nil {
		return h, err
	}
	if h.e2, err = condvar.OpenEventHandle(a.E2.Handle(), opts); err != nil {
		return h, err
	}
	if h.b, err = condvar.OpenBarrierHandle(a.B.Handle(), opts); err != nil {
		return h, err
	}
	h.c, err = condvar.OpenCondHandle(a.C.Handle(), opts)
	return h, err
}

func (h handles) close() {
	h.e1.Close()
	h.e2.Close()
	h.b.Close()
	h.c.Close()
}

var partner = process.MustRegister("condvar-bench-partner", func(ctx context.Context, a partnerArgs) error {
	c := cmdOf(a.Cmd)
	var hs [2]handles
	var err error
	for i, opts := range []*condvar.Options{{Spin: -1}, nil} {
		if hs[i], err = openHandles(a, opts); err != nil {
			return err
		}
		defer hs[i].close()
	}
	var seen uint32
	buf := make([]byte, 1)
	for {
		for c.seq.Load() == seen {
			futex.Wait(c.seq, seen, time.Now().Add(time.Second))
		}
		seen = c.seq.Load()
		n := int(c.count.Load())
		h := hs[c.spin.Load()&1]
		switch c.mode.Load() {
		case modeExit:
			return nil
		case modeEvent:
			for range n {
				if err = h.e1.Wait(ctx); err != nil {
					break
				}
				if err = h.e1.Clear(); err != nil {
					break
				}
				if err = h.e2.Set(); err != nil {
					break
				}
			}
		case modeBarrier:
			for range n {
				if _, err = h.b.Wait(ctx); err != nil {
					break
				}
			}
		case modeCond:
			err = condTurns(ctx, h.c, c.turn, 1, n)
		case modeFutex:
			for range n {
				for c.flag.Load() != 1 {
					futex.Wait(c.flag, 0, time.Time{})
				}
				c.flag.Store(0)
				futex.Wake(c.flag, 1)
			}
		case modePipe:
			for range n {
				if _, err = io.ReadFull(os.Stdin, buf); err != nil {
					break
				}
				if _, err = os.Stdout.Write(buf); err != nil {
					break
				}
			}
		}
		if err != nil {
			return err
		}
		c.done.Store(seen)
		futex.Wake(c.done, 1)
	}
})

// condTurns takes n turns: wait for the turn word to say me, hand it over,
// Notify(1).
func condTurns(ctx context.Context, c *condvar.Cond, turn *atomic.Uint32, me uint32, n int) error {
	for range n {
		if err := c.Lock(ctx); err != nil {
			return err
		}
		if err := c.WaitFor(ctx, func() bool { return turn.Load() == me }); err != nil {
			return err
		}
		turn.Store(1 - me)
		if err := c.Notify(1); err != nil {
			return err
		}
		if err := c.Unlock(); err != nil {
			return err
		}
	}
	return nil
}

// bench is a partner process and this process's handles to the objects
// they share.
type bench struct {
	c      cmdWords
	hs     [2]handles // without spinning, with the default spin
	toPeer *os.File   // the partner's stdin
	back   *os.File   // the partner's stdout
	round  func(mode, n, spin int, ours func() error) error
}

func twoProcs(b *testing.B) *bench {
	// Not b.Context(): it ends before the cleanup that stops the partner.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	b.Cleanup(cancel)
	seg := anon(b)
	var a partnerArgs
	var err error
	if a.E1, err = condvar.NewEvent(seg, "", nil); err != nil {
		b.Fatal(err)
	}
	if a.E2, err = condvar.NewEvent(seg, "", nil); err != nil {
		b.Fatal(err)
	}
	if a.B, err = condvar.NewBarrier(seg, "", 2, nil); err != nil {
		b.Fatal(err)
	}
	if a.C, err = condvar.NewCond(seg, "", nil, nil); err != nil {
		b.Fatal(err)
	}
	a.Cmd = newWords(b, seg, 4).Object
	be := &bench{c: cmdOf(a.Cmd)}
	for i, opts := range []*condvar.Options{{Spin: -1}, nil} {
		if be.hs[i], err = openHandles(a, opts); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(be.hs[i].close)
	}
	stdinR, stdinW, err := os.Pipe()
	if err != nil {
		b.Fatal(err)
	}
	stdoutR, stdoutW, err := os.Pipe()
	if err != nil {
		b.Fatal(err)
	}
	be.toPeer, be.back = stdinW, stdoutR
	b.Cleanup(func() { stdinW.Close(); stdoutR.Close() })
	p, err := process.Start(ctx, partner, a, &process.Options{Stdin: stdinR, Stdout: stdoutW})
	stdinR.Close()
	stdoutW.Close()
	if err != nil {
		b.Fatal(err)
	}
	c := be.c
	b.Cleanup(func() {
		c.mode.Store(modeExit)
		c.seq.Add(1)
		futex.Wake(c.seq, 1)
		if err := p.Join(ctx); err != nil {
			b.Error(err)
		}
	})
	be.round = func(mode, n, spin int, ours func() error) error {
		c.mode.Store(uint32(mode))
		c.count.Store(uint32(n))
		c.spin.Store(uint32(spin))
		seq := c.seq.Add(1)
		futex.Wake(c.seq, 1)
		if err := ours(); err != nil {
			return err
		}
		for c.done.Load() != seq {
			if !p.IsAlive() {
				return fmt.Errorf("partner died: %v", p.Join(ctx))
			}
			futex.Wait(c.done, c.done.Load(), time.Now().Add(10*time.Millisecond))
		}
		return nil
	}
	return be
}

func (be *bench) futexPingPong(n int) error {
	c := be.c
	return be.round(modeFutex, n, 0, func() error {
		for range n {
			c.flag.Store(1)
			futex.Wake(c.flag, 1)
			for c.flag.Load() != 0 {
				futex.Wait(c.flag, 1, time.Time{})
			}
		}
		return nil
	})
}

func (be *bench) pipePingPong(n int) error {
	buf := []byte{1}
	return be.round(modePipe, n, 0, func() error {
		for range n {
			if _, err := be.toPeer.Write(buf); err != nil {
				return err
			}
			if _, err := io.ReadFull(be.back, buf); err != nil {
				return err
			}
		}
		return nil
	})
}

func (be *bench) eventPingPong(n, spin int) error {
	h := be.hs[spin]
	ctx := context.Background()
	return be.round(modeEvent, n, spin, func() error {
		for range n {
			if err := h.e1.Set(); err != nil {
				return err
			}
			if err := h.e2.Wait(ctx); err != nil {
				return err
			}
			if err := h.e2.Clear(); err != nil {
				return err
			}
		}
		return nil
	})
}

// BenchmarkEventRoundTrip: Set wakes the other process's Wait, which Sets
// back, beside a raw futex ping-pong on one shared word (the floor) and a
// ping-pong of one byte over two pipes (what people use without shared
// memory). Per round trip.
func BenchmarkEventRoundTrip(b *testing.B) {
	const n = 200
	be := twoProcs(b)
	b.Run("vs-futex", func(b *testing.B) {
		b.Logf("%d round trips between 2 processes: Event Set→Wait both ways (no spin) vs raw futex ping-pong", n)
		shmtest.Versus(b, n, func() error { return be.eventPingPong(n, 0) }, func() error { return be.futexPingPong(n) })
	})
	b.Run("vs-pipe", func(b *testing.B) {
		b.Logf("%d round trips between 2 processes: Event Set→Wait both ways (no spin) vs 1 byte over 2 pipes", n)
		shmtest.Versus(b, n, func() error { return be.eventPingPong(n, 0) }, func() error { return be.pipePingPong(n) })
	})
	b.Run("spin-vs-futex", func(b *testing.B) {
		b.Logf("%d round trips between 2 processes: Event Set→Wait both ways (default spin) vs raw futex ping-pong", n)
		shmtest.Versus(b, n, func() error { return be.eventPingPong(n, 1) }, func() error { return be.futexPingPong(n) })
	})
}

// BenchmarkBarrierCycle: two processes pass a 2-party Barrier again and
// again, beside a raw futex ping-pong, one handoff per cycle (each cycle
// the later party wakes the earlier one). Per cycle, per handoff.
func BenchmarkBarrierCycle(b *testing.B) {
	const n = 200
	be := twoProcs(b)
	ctx := context.Background()
	for _, spin := range []int{0, 1} {
		name := []string{"nospin-vs-futex", "spin-vs-futex"}[spin]
		b.Run(name, func(b *testing.B) {
			b.Logf("%d cycles of a 2-party Barrier across 2 processes (spin %v) vs %d raw futex handoffs", n, spin == 1, n)
			h := be.hs[spin]
			shmtest.Versus(b, n, func() error {
				return be.round(modeBarrier, n, spin, func() error {
					for range n {
						if _, err := h.b.Wait(ctx); err != nil {
							return err
						}
					}
					return nil
				})
			}, func() error { return be.futexPingPong(n / 2) })
		})
	}
}

// BenchmarkCondPingPong: two processes hand a turn back and forth under a
// Cond's lock, each waiting for its turn and Notify(1)ing the other,
// beside a raw futex ping-pong. Per round trip.
func BenchmarkCondPingPong(b *testing.B) {
	const n = 200
	be := twoProcs(b)
	ctx := context.Background()
	for _, spin := range []int{0, 1} {
		name := []string{"nospin-vs-futex", "spin-vs-futex"}[spin]
		b.Run(name, func(b *testing.B) {
			b.Logf("%d round trips between 2 processes: Lock, WaitFor(my turn), hand over, Notify(1), Unlock (spin %v) vs raw futex ping-pong", n, spin == 1)
			h := be.hs[spin]
			shmtest.Versus(b, n, func() error {
				return be.round(modeCond, n, spin, func() error { return condTurns(ctx, h.c, be.c.turn, 0, n) })
			}, func() error { return be.futexPingPong(n) })
		})
	}
}
