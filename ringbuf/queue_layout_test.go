package ringbuf_test

import (
	"errors"
	"testing"

	"github.com/shmkit/shmkit/ringbuf"
	"github.com/shmkit/shmkit/shm"
)

// TestQueueLayout pins the queue's control object that the top of
// queue.go describes, by watching its words while a message goes through.
func TestQueueLayout(t *testing.T) {
	ctx := t.Context()
	seg := anon(t, 1<<20)
	q, err := ringbuf.NewJoinableQueue(seg, "q", &ringbuf.QueueOptions[int32]{MaxSize: 5, Capacity: 1024})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	obj, err := seg.Lookup("q", shm.KindJoinableQueue)
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Close()
	if obj.Size() != 64 || obj.Version() != 2 {
		t.Fatalf("payload of %d bytes, version %d; want 64, 2", obj.Size(), obj.Version())
	}
	u32 := func(off uint64) uint32 {
		w, err := obj.Payload().Uint32(off)
		if err != nil {
			t.Fatal(err)
		}
		return w.Load()
	}
	ringOff, err := obj.Payload().Uint64(0)
	if err != nil {
		t.Fatal(err)
	}
	infos, err := seg.Objects()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, o := range infos {
		if o.Offset == ringOff.Load() {
			found = o.Kind == shm.KindRing && o.Size == 512+1024
		}
	}
	if !found {
		t.Fatalf("word 0 = %d names no ring of capacity 1024", ringOff.Load())
	}
	u64 := func(off uint64) uint64 {
		w, err := obj.Payload().Uint64(off)
		if err != nil {
			t.Fatal(err)
		}
		return w.Load()
	}
	// Offset 40 is tasks, a 64-bit word (checked as its low half, with
	// its high half, pending, at 44 always 0 between Puts); 48 is putPos,
	// 0 between Puts.
	check := func(step string, want map[uint64]uint32) {
		t.Helper()
		for off, v := range want {
			if got := u32(off); got != v {
				t.Errorf("%s: word at %d = %d, want %d", step, off, got, v)
			}
		}
		if u32(44) != 0 || u64(48) != 0 || u32(24) != 0 {
			t.Errorf("%s: pending %d, putPos %d, word 24 %d; want 0 between Puts", step, u32(44), u64(48), u32(24))
		}
	}
	check("new", map[uint64]uint32{8: 5, 12: 0, 40: 0, 36: 0})
	if err := q.Put(ctx, 1); err != nil {
		t.Fatal(err)
	}
	check("put", map[uint64]uint32{12: 1, 40: 1, 36: 0})
	if _, err := q.Get(ctx); err != nil {
		t.Fatal(err)
	}
	check("got", map[uint64]uint32{12: 0, 40: 1})
	if err := q.TaskDone(); err != nil {
		t.Fatal(err)
	}
	check("done", map[uint64]uint32{40: 0})
	for i := range 4 {
		if err := q.Put(ctx, int32(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.Put(ctx, 5); err != nil {
		t.Fatal(err)
	}
	check("full", map[uint64]uint32{12: 5, 40: 5, 36: 0})
	if err := q.TryPut(6); !errors.Is(err, ringbuf.ErrFull) {
		t.Fatalf("TryPut on a full queue = %v, want ErrFull", err)
	}
}
