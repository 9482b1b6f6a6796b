package condvar_test

import (
	"context"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/shmkit/shmkit/condvar"
	"github.com/shmkit/shmkit/internal/layout"
	"github.com/shmkit/shmkit/shm"
)

// allowed reports whether err is one a garbage state may cause: anything
// but a panic, a hang or an unexplained error.
func allowed(err error) bool {
	return err == nil || errors.Is(err, condvar.ErrCorrupt) || errors.Is(err, condvar.ErrBrokenBarrier) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
		errors.Is(err, condvar.ErrOwnerDead) || errors.Is(err, condvar.ErrNotHeld)
}

func short() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 5*time.Millisecond)
}

// FuzzBarrierState writes arbitrary words into a barrier's payload, as a
// bug or another program might, and checks that opening it and every call
// return, with an error or a result, and never panic or hang.
func FuzzBarrierState(f *testing.F) {
	f.Add(uint32(0), uint32(2), uint64(0), uint64(0), uint32(0), uint64(0), uint64(0))
	f.Add(uint32(1<<31), uint32(3), uint64(2), uint64(0), uint32(0), uint64(0), uint64(1)<<32|1)        // filling, 2 arrived; slot 0 gen 1 asleep
	f.Add(uint32(0), uint32(2), uint64(1)<<33|1<<10, uint64(0), uint32(0), uint64(0), uint64(0))        // releasing, owner slot 0 gen 1 (this process)
	f.Add(uint32(0), uint32(2), uint64(2)<<33|5<<10|3, uint64(0), uint32(0), uint64(0), uint64(0))      // resetting, owner nobody
	f.Add(uint32(0), uint32(2), uint64(3)<<33|7<<35, ^uint64(0), uint32(1<<31|7), uint64(0), uint64(0)) // broken
	f.Add(uint32(0), uint32(2), uint64(1)<<33|1<<32|1<<31|1000, uint64(0), uint32(0), uint64(0), uint64(0))
	f.Add(uint32(0), uint32(0), uint64(0), uint64(0), uint32(0), uint64(0), uint64(0))     // no parties
	f.Add(uint32(0), uint32(1<<31), uint64(0), uint64(0), uint32(0), uint64(0), uint64(0)) // too many
	f.Add(^uint32(0), uint32(5), ^uint64(0), ^uint64(0), ^uint32(0), ^uint64(0), ^uint64(0))
	f.Add(uint32(0), uint32(4), uint64(3), uint64(0), uint32(0), uint64(1)<<62, uint64(9)<<32|2) // a scan "in the future"; a dead sleeper
	seg, err := shm.New(1<<16, &shm.Options{Slots: 8})
	if err != nil {
		f.Fatal(err)
	}
	defer seg.Close()
	opts := &condvar.Options{Spin: -1, Poll: time.Millisecond}
	b, err := condvar.NewBarrier(seg, "", 2, opts)
	if err != nil {
		f.Fatal(err)
	}
	defer b.Close()
	p := b.ShmObjects()[0].Payload()
	f.Fuzz(func(t *testing.T, seq, parties uint32, state, history uint64, lastReset uint32, scanned, slot1 uint64) {
		set32(t, p, 0, seq)
		set32(t, p, 4, parties)
		set64(t, p, 8, state)
		set64(t, p, 16, history)
		set32(t, p, 24, lastReset)
		set64(t, p, 32, scanned)
		set64(t, p, 64+8, slot1) // slot 1's record: nobody holds slot 1
		o, err := condvar.OpenBarrierHandle(b.Handle(), opts)
		if (o == nil) == (err == nil) {
			t.Fatalf("OpenBarrierHandle = %v, %v", o, err)
		}
		if err != nil {
			if !errors.Is(err, condvar.ErrCorrupt) {
				t.Fatalf("OpenBarrierHandle with parties %d = %v, want ErrCorrupt", parties, err)
			}
			set32(t, p, 4, 2)
			if o, err = condvar.OpenBarrierHandle(b.Handle(), opts); err != nil {
				t.Fatal(err)
			}
		}
		defer o.Close()
		check := func(what string, err error) {
			if !allowed(err) {
				t.Errorf("%s with state %#x = %v", what, state, err)
			}
		}
		_, _, _ = o.Parties(), o.NWaiting(), o.Broken()
		ctx, cancel := short()
		_, err = o.Wait(ctx)
		cancel()
		check("Wait", err)
		check("Reset", o.Reset())
		ctx, cancel = short()
		_, err = o.Wait(ctx)
		cancel()
		check("Wait after Reset", err)
		check("Abort", o.Abort())
		if !o.Broken() {
			t.Errorf("not broken after Abort, state %#x", state)
		}
		check("Reset", o.Reset())
	})
}

// FuzzCondState writes arbitrary words into a condition's payload, then
// opens it and calls everything.
func FuzzCondState(f *testing.F) {
	f.Add(uint64(0), uint32(2), uint32(0), uint64(0), uint64(0), uint32(0), uint32(0))
	f.Add(uint64(64), uint32(3), uint32(5), ^uint64(0), uint64(1)<<32|3, uint32(7), uint32(1<<31)) // slot 0: this process, 3 waiters
	f.Add(uint64(1), uint32(2), uint32(0), uint64(2), uint64(9)<<32|1, uint32(0), uint32(0))       // slot 1: a dead process
	f.Add(uint64(0), uint32(9), uint32(1000), uint64(0), uint64(1)<<63|1, uint32(0), uint32(0))    // a generation no slot has
	f.Add(uint64(1<<40), uint32(2), ^uint32(0), ^uint64(0), ^uint64(0), ^uint32(0), ^uint32(0))
	seg, err := shm.New(1<<16, &shm.Options{Slots: 8})
	if err != nil {
		f.Fatal(err)
	}
	defer seg.Close()
	opts := &condvar.Options{Spin: -1, Poll: time.Millisecond}
	c, err := condvar.NewCond(seg, "", nil, opts)
	if err != nil {
		f.Fatal(err)
	}
	defer c.Close()
	p := c.ShmObjects()[1].Payload()
	lockOff := c.Locker().Handle().Offset
	self := uint64(seg.Self())
	f.Fuzz(func(t *testing.T, lockDelta uint64, lockKind, cursor uint32, bitmap, wait uint64, grants, bell uint32) {
		// The open path: the lock's offset and kind.
		set64(t, p, 0, lockOff+lockDelta)
		set32(t, p, 8, lockKind)
		o, err := condvar.OpenCondHandle(c.Handle(), opts)
		if (o == nil) == (err == nil) {
			t.Fatalf("OpenCondHandle = %v, %v", o, err)
		}
		if err == nil {
			o.Close()
		} else if !errors.Is(err, condvar.ErrCorrupt) && !errors.Is(err, shm.ErrKind) && !errors.Is(err, shm.ErrObjectNotExist) && !errors.Is(err, shm.ErrCorrupt) {
			t.Fatalf("OpenCondHandle with lock at +%d of kind %d = %v", lockDelta, lockKind, err)
		}
		set64(t, p, 0, lockOff)
		set32(t, p, 8, 2)
		// The records: slot 0 is this process's, slot 1 nobody's.
		set32(t, p, 12, cursor)
		set64(t, p, 64, bitmap)
		for _, slot := range []uint64{0, 1} {
			w := wait
			if slot == 0 && wait>>32 == 1 {
				w = self>>10<<32 | wait&0xffffffff // this attachment's generation
			}
			set64(t, p, 72+16*slot, w)
			set32(t, p, 72+16*slot+8, grants)
			set32(t, p, 72+16*slot+12, bell)
		}
		check := func(what string, err error) {
			if !allowed(err) {
				t.Errorf("%s with wait %#x grants %d = %v", what, wait, grants, err)
			}
		}
		ctx, cancel := short()
		defer cancel()
		check("Lock", c.Lock(ctx))
		check("Notify", c.Notify(1))
		check("Wait", c.Wait(ctx))
		check("NotifyAll", c.NotifyAll())
		check("Wait", c.Wait(ctx))
		check("Unlock", c.Unlock())
	})
}

// FuzzOpenPayload places objects of this package's kinds whose payload is
// arbitrary bytes, of arbitrary size and version, and opens them: an error
// or a working object, never a panic.
func FuzzOpenPayload(f *testing.F) {
	f.Add(uint8(0), uint16(1), []byte{})
	f.Add(uint8(1), uint16(1), make([]byte, 64))
	f.Add(uint8(2), uint16(1), append(binary.LittleEndian.AppendUint32(make([]byte, 4), 2), make([]byte, 600)...))
	f.Add(uint8(3), uint16(1), append(make([]byte, 8), make([]byte, 300)...))
	f.Add(uint8(2), uint16(2), make([]byte, 1000))
	f.Add(uint8(3), uint16(1), append([]byte{0xc0, 0x08, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0}, make([]byte, 500)...))
	f.Fuzz(func(t *testing.T, kind uint8, version uint16, data []byte) {
		if len(data) > 4096 {
			return
		}
		seg, err := shm.New(1<<16, &shm.Options{Slots: 4, Lazy: true})
		if err != nil {
			t.Fatal(err)
		}
		defer seg.Close()
		kinds := []shm.Kind{shm.KindEvent, shm.KindEvent, shm.KindBarrier, shm.KindCond}
		k := kinds[int(kind)%len(kinds)]
		obj, err := seg.Alloc(shm.Spec{Kind: k, Version: version, Size: max(len(data), 1), Align: 64}, func(p layout.View) error {
			b, err := p.UnsafeBytes(0, uint64(len(data)))
			if err != nil {
				return err
			}
			copy(b, data)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		defer obj.Close()
		ok := func(err error) bool {
			return errors.Is(err, condvar.ErrCorrupt) || errors.Is(err, shm.ErrVersion) || errors.Is(err, shm.ErrKind) ||
				errors.Is(err, shm.ErrObjectNotExist) || errors.Is(err, shm.ErrCorrupt)
		}
		opts := &condvar.Options{Spin: -1, Poll: time.Millisecond}
		ctx, cancel := short()
		defer cancel()
		switch k {
		case shm.KindEvent:
			e, err := condvar.OpenEventHandle(obj.Handle(), opts)
			if err != nil {
				if !ok(err) {
					t.Fatalf("OpenEventHandle = %v", err)
				}
				return
			}
			defer e.Close()
			e.Set()
			e.Wait(ctx)
		case shm.KindBarrier:
			b, err := condvar.OpenBarrierHandle(obj.Handle(), opts)
			if err != nil {
				if !ok(err) {
					t.Fatalf("OpenBarrierHandle = %v", err)
				}
				return
			}
			defer b.Close()
			if _, err := b.Wait(ctx); !allowed(err) {
				t.Errorf("Wait = %v", err)
			}
		case shm.KindCond:
			for _, open := range []func() (interface{ Close() error }, error){
				func() (interface{ Close() error }, error) { return condvar.OpenCondHandle(obj.Handle(), opts) },
				func() (interface{ Close() error }, error) { return condvar.OpenRCondHandle(obj.Handle(), opts) },
			} {
				c, err := open()
				if err != nil {
					if !ok(err) {
						t.Fatalf("open = %v", err)
					}
					continue
				}
				if cc, isCond := c.(*condvar.Cond); isCond {
					if err := cc.Lock(ctx); allowed(err) && err == nil {
						if err := cc.Wait(ctx); !allowed(err) {
							t.Errorf("Wait = %v", err)
						}
						cc.Unlock()
					}
				}
				c.Close()
			}
		}
	})
}

// FuzzEventModel runs random operations on an Event, from an arbitrary
// state word, and compares it with a plain bool.
func FuzzEventModel(f *testing.F) {
	f.Add(uint32(0), []byte{0, 1, 2, 3, 0, 3, 1, 3})
	f.Add(uint32(1<<31|6), []byte{3, 2, 0, 0, 3})
	f.Add(uint32(0xffffffff), []byte{1, 3, 2, 0, 3})
	seg, err := shm.New(1<<16, &shm.Options{Slots: 4})
	if err != nil {
		f.Fatal(err)
	}
	defer seg.Close()
	e, err := condvar.NewEvent(seg, "", &condvar.Options{Spin: -1})
	if err != nil {
		f.Fatal(err)
	}
	defer e.Close()
	p := e.ShmObjects()[0].Payload()
	f.Fuzz(func(t *testing.T, state uint32, ops []byte) {
		set32(t, p, 0, state)
		set := state&1 != 0
		for i, op := range ops {
			switch op % 4 {
			case 0:
				must(t, e.Set())
				set = true
			case 1:
				must(t, e.Clear())
				set = false
			case 2:
				if got := e.IsSet(); got != set {
					t.Fatalf("op %d: IsSet = %v, model %v", i, got, set)
				}
			case 3:
				err := e.Wait(done())
				if set && err != nil || !set && !errors.Is(err, context.Canceled) {
					t.Fatalf("op %d: Wait(done) = %v, model set %v", i, err, set)
				}
			}
		}
	})
}

// FuzzBarrierModel runs random operations on a barrier and a model of it:
// parties waiting in goroutines, a Wait here with no time to wait (it
// completes the cycle or breaks it), Abort, Reset, and the getters.
func FuzzBarrierModel(f *testing.F) {
	f.Add(uint8(2), []byte{0, 1, 4, 0, 0, 1, 4})
	f.Add(uint8(3), []byte{0, 0, 1, 0, 2, 4, 1, 3, 0, 3, 4, 0, 0, 1})
	f.Add(uint8(1), []byte{1, 1, 2, 1, 3, 1})
	f.Add(uint8(4), []byte{0, 0, 0, 3, 4, 0, 1, 2, 0, 3, 1})
	seg, err := shm.New(1<<16, &shm.Options{Slots: 4})
	if err != nil {
		f.Fatal(err)
	}
	defer seg.Close()
	var barriers [4]*condvar.Barrier // parties 1 to 4, reused
	for i := range barriers {
		if barriers[i], err = condvar.NewBarrier(seg, "", i+1, &condvar.Options{Spin: -1, Poll: time.Millisecond}); err != nil {
			f.Fatal(err)
		}
		defer barriers[i].Close()
	}
	f.Fuzz(func(t *testing.T, parties uint8, ops []byte) {
		n := int(parties%4) + 1
		b := barriers[n-1]
		must(t, b.Reset()) // a fresh cycle, whatever the last run left
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		type result struct {
			idx int
			err error
		}
		var pending []chan result // the parties waiting in goroutines
		broken := false
		settle := func(i int, wantErr bool) {
			seen := map[int]bool{}
			for _, ch := range pending {
				r := <-ch
				switch {
				case wantErr && !errors.Is(r.err, condvar.ErrBrokenBarrier):
					t.Fatalf("op %d: a waiter got %d, %v; want ErrBrokenBarrier", i, r.idx, r.err)
				case !wantErr && (r.err != nil || r.idx < 0 || r.idx >= n-1 || seen[r.idx]):
					t.Fatalf("op %d: a waiter got %d, %v", i, r.idx, r.err)
				}
				seen[r.idx] = true
			}
			pending = nil
		}
		for i, op := range ops {
			switch op % 5 {
			case 0: // one more party waits, if it would not be the last
				if broken || len(pending) >= n-1 {
					continue
				}
				ch := make(chan result, 1)
				go func() { idx, err := b.Wait(ctx); ch <- result{idx, err} }()
				pending = append(pending, ch)
				for b.NWaiting() != len(pending) {
					if ctx.Err() != nil {
						t.Fatalf("op %d: NWaiting = %d, want %d", i, b.NWaiting(), len(pending))
					}
					time.Sleep(10 * time.Microsecond)
				}
			case 1: // a party with no time to wait
				idx, err := b.Wait(done())
				switch {
				case broken:
					if !errors.Is(err, condvar.ErrBrokenBarrier) {
						t.Fatalf("op %d: Wait on a broken barrier = %d, %v", i, idx, err)
					}
				case len(pending) == n-1:
					if idx != n-1 || err != nil {
						t.Fatalf("op %d: the last Wait = %d, %v; want %d, nil", i, idx, err, n-1)
					}
					settle(i, false)
				default:
					if !errors.Is(err, condvar.ErrBrokenBarrier) || !errors.Is(err, context.Canceled) {
						t.Fatalf("op %d: Wait(done) = %d, %v; want ErrBrokenBarrier and Canceled", i, idx, err)
					}
					settle(i, true)
					broken = true
				}
			case 2:
				must(t, b.Abort())
				settle(i, true)
				broken = true
			case 3:
				must(t, b.Reset())
				settle(i, true)
				broken = false
			case 4:
				want := len(pending)
				if broken {
					want = 0
				}
				if b.NWaiting() != want || b.Broken() != broken || b.Parties() != n {
					t.Fatalf("op %d: NWaiting %d Broken %v Parties %d; model %d %v %d", i, b.NWaiting(), b.Broken(), b.Parties(), want, broken, n)
				}
			}
		}
		must(t, b.Abort())
		settle(len(ops), true)
	})
}

func set32(t *testing.T, p layout.View, off uint64, v uint32) {
	w, err := p.Uint32(off)
	if err != nil {
		t.Fatal(err)
	}
	w.Store(v)
}

func set64(t *testing.T, p layout.View, off uint64, v uint64) {
	w, err := p.Uint64(off)
	if err != nil {
		t.Fatal(err)
	}
	w.Store(v)
}
