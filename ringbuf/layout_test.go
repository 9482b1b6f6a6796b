package ringbuf_test

import (
	"testing"

	"github.com/shmkit/shmkit/ringbuf"
)

// TestLayout pins the wire format that the top of ring.go describes, by
// watching the words of a ring as one record goes through it: another
// program following that description must see the same.
func TestLayout(t *testing.T) {
	r := newRing(t, 1024, &ringbuf.Options{SingleConsumer: true})
	word := func(off uint64) uint64 { return cursor(t, r, off) }
	u32 := func(off uint64) uint32 {
		w, err := r.ShmObjects()[0].Payload().Uint32(off)
		if err != nil {
			t.Fatal(err)
		}
		return w.Load()
	}
	self := uint64(r.ShmObjects()[0].Self())
	if got := r.ShmObjects()[0].Size(); got != 512+1024 {
		t.Errorf("payload size = %d, want %d", got, 512+1024)
	}
	check := func(step string, want map[uint64]uint64) {
		t.Helper()
		for off, v := range want {
			if got := word(off); got != v {
				t.Errorf("%s: word at %d = %#x, want %#x", step, off, got, v)
			}
		}
	}
	check("new", map[uint64]uint64{0: 1024, 8: 2 /* single consumer */, 128: 0, 256: 0, 384: 0})

	c, err := r.Claim(t.Context(), 5)
	if err != nil {
		t.Fatal(err)
	}
	check("claimed", map[uint64]uint64{128: 16, 512: self<<32 | 1<<29 | 5})
	c.Commit()
	check("committed", map[uint64]uint64{512: 2<<29 | 5, 152: 1})

	rec, err := r.Take(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	// The single consumer holds the consumer claim lock from its first
	// take, and writes no header: the record stays COMMITTED.
	check("taken", map[uint64]uint64{256: 16, 512: 2<<29 | 5, 280: 1, 384: 0})
	if got := u32(264); uint64(got) != self {
		t.Errorf("taken: consumer claim lock = %#x, want the consumer's token %#x", got, self)
	}
	rec.Release()
	check("released", map[uint64]uint64{384: 16, 512: 2<<29 | 5})

	// A record that does not fit before the end pads with a SKIP record.
	for range 3 {
		put(t, r, make([]byte, 300)) // 312 bytes each: 16 + 3·312 = 952
		get(t, r)
	}
	c, err = r.Claim(t.Context(), 100) // 952 + 108 > 1024
	if err != nil {
		t.Fatal(err)
	}
	check("padded", map[uint64]uint64{512 + 952: 5<<29 | (1024 - 952 - 8), 512: self<<32 | 1<<29 | 100, 128: 1024 + 112})
	c.Commit()

	if err := r.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := u32(12); got == 0 {
		t.Error("shut word not set by Shutdown")
	}
}
