package semaphore_test

import (
	"encoding/binary"
	"testing"

	"github.com/shmkit/shmkit/semaphore"
	"github.com/shmkit/shmkit/shm"
)

// payload reads the payload bytes of an object, for the pins below, which
// write offsets as literals from docs/layout.md ("Payloads").
func payload(o *shm.Object) []byte { return o.UnsafeBytes() }

func u32(b []byte, off int) uint32 { return binary.LittleEndian.Uint32(b[off:]) }
func u64(b []byte, off int) uint64 { return binary.LittleEndian.Uint64(b[off:]) }

func TestPayloadLayout(t *testing.T) {
	ctx := t.Context()
	seg := anon(t)
	self := uint32(seg.Self())

	l, err := semaphore.NewLock(seg, "", nil)
	must(t, err)
	defer l.Close()
	must(t, l.Lock(ctx))
	b := payload(l.ShmObjects()[0])
	if len(b) != 64 || u32(b, 0) != self {
		t.Errorf("lock: %d bytes, state %#x; want 64, %#x", len(b), u32(b, 0), self)
	}
	must(t, l.Unlock())
	if u32(b, 0) != 0 {
		t.Errorf("unlocked lock state = %#x", u32(b, 0))
	}

	r, err := semaphore.NewRLock(seg, "", nil)
	must(t, err)
	defer r.Close()
	h := semaphore.NewHolder()
	must(t, r.Lock(ctx, h))
	must(t, r.Lock(ctx, h))
	b = payload(r.ShmObjects()[0])
	if u32(b, 0) != self || u32(b, 8) != 2 || u64(b, 16) != uint64(h) {
		t.Errorf("rlock: state %#x depth %d holder %d; want %#x 2 %d", u32(b, 0), u32(b, 8), u64(b, 16), self, h)
	}
	must(t, r.Unlock(h))
	must(t, r.Unlock(h))
	if u32(b, 0) != 0 || u32(b, 8) != 0 || u64(b, 16) != 0 {
		t.Errorf("free rlock: % x", b[:24])
	}

	c, err := semaphore.NewCounting(seg, "", 5, nil)
	must(t, err)
	defer c.Close()
	must(t, c.Acquire(ctx))
	b = payload(c.ShmObjects()[0])
	if len(b) != 64 || u32(b, 0) != 4 || u32(b, 4) != 0 || u32(b, 8) != 0 {
		t.Errorf("semaphore: %d bytes, count %d sleepers %d bound %d", len(b), u32(b, 0), u32(b, 4), u32(b, 8))
	}

	bs, err := semaphore.NewBounded(seg, "", 3, nil)
	must(t, err)
	defer bs.Close()
	must(t, bs.Acquire(ctx))
	must(t, bs.Acquire(ctx))
	b = payload(bs.ShmObjects()[0])
	slot, gen := seg.Self().Slot(), uint64(seg.Self().Gen())
	if len(b) != 64+8*seg.Slots() || u32(b, 0) != 1 || u32(b, 8) != 3 || u64(b, 64+8*slot) != gen<<32|2 {
		t.Errorf("bounded: %d bytes, count %d bound %d holding %#x; want %d, 1, 3, %#x",
			len(b), u32(b, 0), u32(b, 8), u64(b, 64+8*slot), 64+8*seg.Slots(), gen<<32|2)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
