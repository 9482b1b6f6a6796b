package pipe_test

import (
	"context"
	"testing"

	"github.com/shmkit/shmkit/pipe"
	"github.com/shmkit/shmkit/shm"
)

// TestLayout pins the control object that the top of pipe.go and
// docs/layout.md describe, by watching its words as a pipe is made, handed
// over and closed.
func TestLayout(t *testing.T) {
	for _, oneWay := range []bool{false, true} {
		seg, err := shm.New(1<<20, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer seg.Close()
		a, b, err := pipe.New(seg, "p", &pipe.Options{OneWay: oneWay, Capacity: 1024})
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		obj, err := seg.Lookup("p", shm.KindPipe)
		if err != nil {
			t.Fatal(err)
		}
		defer obj.Close()
		if obj.Size() != 64 || obj.Version() != 1 || shm.KindPipe != 15 {
			t.Fatalf("payload of %d bytes, version %d, kind %d; want 64, 1, 15", obj.Size(), obj.Version(), shm.KindPipe)
		}
		u32 := func(off uint64) uint32 {
			w, err := obj.Payload().Uint32(off)
			if err != nil {
				t.Fatal(err)
			}
			return w.Load()
		}
		u64 := func(off uint64) uint64 {
			w, err := obj.Payload().Uint64(off)
			if err != nil {
				t.Fatal(err)
			}
			return w.Load()
		}
		infos, err := seg.Objects()
		if err != nil {
			t.Fatal(err)
		}
		isRing := func(off uint64) bool {
			for _, o := range infos {
				if o.Offset == off {
					return o.Kind == shm.KindRing && o.Size == 512+1024
				}
			}
			return false
		}
		if !isRing(u64(0)) {
			t.Errorf("word 0 = %d names no ring of capacity 1024", u64(0))
		}
		wantFlags := uint32(0)
		if oneWay {
			wantFlags = 1
			if u64(8) != 0 {
				t.Errorf("one-way: word 8 = %d, want 0", u64(8))
			}
		} else if !isRing(u64(8)) || u64(8) == u64(0) {
			t.Errorf("duplex: word 8 = %d names no second ring", u64(8))
		}
		self := uint32(seg.Self())
		check := func(step string, want map[uint64]uint32) {
			t.Helper()
			for off, v := range want {
				if got := u32(off); got != v {
					t.Errorf("oneWay %v, %s: word at %d = %d, want %d", oneWay, step, off, got, v)
				}
			}
		}
		check("new", map[uint64]uint32{16: wantFlags, 20: 0, 24: self, 28: self, 32: 0, 36: 0})
		// Which ring carries what: a message from end 1 lands in ring0.
		if err := b.SendBytes(context.Background(), []byte("x")); err != nil {
			t.Fatal(err)
		}
		if ok, err := a.PollTimeout(0); !ok || err != nil {
			t.Fatalf("end 0 did not get end 1's message: %v, %v", ok, err)
		}
		// Encoded for another process, end 1's Close leaves the words alone.
		if _, err := b.GobEncode(); err != nil {
			t.Fatal(err)
		}
		b.Close()
		check("handed over and closed", map[uint64]uint32{28: self, 36: 0})
		b2, err := pipe.Open(seg, "p", 1, nil)
		if err != nil {
			t.Fatal(err)
		}
		b2.Close()
		check("closed by its holder", map[uint64]uint32{32: 0, 36: 1})
	}
}
