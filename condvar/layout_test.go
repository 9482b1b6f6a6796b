package condvar_test

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/shmkit/shmkit/condvar"
	"github.com/shmkit/shmkit/internal/shmtest"
)

// The pins below write offsets as literals, as docs/layout.md ("Payloads")
// gives them.

func u32(b []byte, off int) uint32 { return binary.LittleEndian.Uint32(b[off:]) }
func u64(b []byte, off int) uint64 { return binary.LittleEndian.Uint64(b[off:]) }

func TestPayloadLayout(t *testing.T) {
	ctx := shmtest.Deadline(t, 30*time.Second)
	seg := anon(t)
	self := seg.Self()
	slots := seg.Slots()
	gen, slot := uint64(self.Gen()), self.Slot()

	// Event: one word, set | sets<<1 | sleepers<<31.
	e, err := condvar.NewEvent(seg, "", nil)
	must(t, err)
	defer e.Close()
	b := e.ShmObjects()[0].UnsafeBytes()
	if len(b) != 64 || u32(b, 0) != 0 {
		t.Errorf("event: %d bytes, state %#x", len(b), u32(b, 0))
	}
	must(t, e.Set())
	must(t, e.Set())
	if u32(b, 0) != 3 {
		t.Errorf("set event: state %#x, want 3", u32(b, 0))
	}
	must(t, e.Clear())
	must(t, e.Set())
	must(t, e.Clear())
	if u32(b, 0) != 4 {
		t.Errorf("event set twice, clear: state %#x, want 4", u32(b, 0))
	}

	// Barrier.
	br, err := condvar.NewBarrier(seg, "", 3, &condvar.Options{Spin: -1})
	must(t, err)
	defer br.Close()
	b = br.ShmObjects()[0].UnsafeBytes()
	if len(b) != 64+8*slots || u32(b, 4) != 3 || u64(b, 8) != 0 {
		t.Errorf("barrier: %d bytes, parties %d, state %#x", len(b), u32(b, 4), u64(b, 8))
	}
	got := make(chan error, 2)
	go func() { _, err := br.Wait(ctx); got <- err }()
	waitUntil(t, ctx, "a party asleep", func() bool { return u64(b, 64+8*slot) == gen<<32|1 && u32(b, 0)&(1<<31) != 0 })
	if u64(b, 8) != 1 {
		t.Errorf("one party asleep: state %#x", u64(b, 8))
	}
	go func() { _, err := br.Wait(ctx); got <- err }()
	waitUntil(t, ctx, "two parties", func() bool { return u64(b, 8) == 2 })
	if _, err := br.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	must(t, <-got)
	must(t, <-got)
	if u64(b, 8) != 1<<35 || u64(b, 16)&1 != 0 || u64(b, 64+8*slot) != gen<<32 {
		t.Errorf("after cycle 0: state %#x, history %#x, record %#x", u64(b, 8), u64(b, 16), u64(b, 64+8*slot))
	}
	must(t, br.Abort())
	if u64(b, 8) != 1<<35|3<<33 {
		t.Errorf("broken in cycle 1: state %#x", u64(b, 8))
	}
	must(t, br.Reset())
	if u64(b, 8) != 2<<35 || u64(b, 16)&2 == 0 || u32(b, 24) != 1<<31|1 {
		t.Errorf("after a reset of cycle 1: state %#x, history %#x, lastReset %#x", u64(b, 8), u64(b, 16), u32(b, 24))
	}

	// Cond: the lock's offset and kind, a bitmap, a record per slot.
	c, err := condvar.NewCond(seg, "", nil, nil)
	must(t, err)
	defer c.Close()
	b = c.ShmObjects()[1].UnsafeBytes()
	words := (slots + 63) / 64
	rec := 64 + 8*words + 16*slot
	if len(b) != 64+8*words+16*slots || u64(b, 0) != c.Locker().Handle().Offset || u32(b, 8) != 2 {
		t.Errorf("cond: %d bytes, lock at %d kind %d", len(b), u64(b, 0), u32(b, 8))
	}
	must(t, c.Lock(ctx))
	go func() {
		if err := c.Lock(ctx); err != nil {
			got <- err
			return
		}
		if err := c.Notify(1); err != nil {
			got <- err
			return
		}
		if u64(b, rec) != gen<<32 || u32(b, rec+8) > 1 {
			t.Errorf("notified: record %#x grants %d", u64(b, rec), u32(b, rec+8))
		}
		got <- c.Unlock()
	}()
	// Before Wait lets the lock go, the waiter is counted in its record.
	must(t, c.Wait(ctx))
	must(t, c.Unlock())
	must(t, <-got)
	if u64(b, rec) != gen<<32 || u32(b, rec+8) != 0 || u32(b, rec+12)&^(1<<31) == 0 {
		t.Errorf("after: record %#x grants %d bell %#x", u64(b, rec), u32(b, rec+8), u32(b, rec+12))
	}
	if u32(b, 12) != uint32(slot+1) {
		t.Errorf("cursor = %d, want %d", u32(b, 12), slot+1)
	}

	r, err := condvar.NewRCond(seg, "", nil, nil)
	must(t, err)
	defer r.Close()
	b = r.ShmObjects()[1].UnsafeBytes()
	if u64(b, 0) != r.Locker().Handle().Offset || u32(b, 8) != 3 {
		t.Errorf("rcond: lock at %d kind %d", u64(b, 0), u32(b, 8))
	}
}
