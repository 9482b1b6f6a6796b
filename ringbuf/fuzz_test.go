package ringbuf_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/shmkit/shmkit/ringbuf"
	"github.com/shmkit/shmkit/shm"
)

// FuzzOps runs random sequences of TryClaim, Commit, TryTake and Release,
// with several claims and records held at once and given back in any
// order, against a plain Go model: a queue of records in claim order, each
// committed or not. TryTake must return the front record exactly when it
// is committed; an empty ring must take any claim up to MaxRecord.
func FuzzOps(f *testing.F) {
	f.Add([]byte{0, 10, 1, 0, 2, 3, 0})
	f.Add([]byte{0, 200, 0, 100, 1, 1, 1, 0, 2, 2, 3, 1, 3, 0})
	f.Add(bytes.Repeat([]byte{0, 50, 1, 0, 2, 3, 0}, 40))
	f.Fuzz(func(t *testing.T, ops []byte) {
		for _, opts := range []*ringbuf.Options{nil, {SingleProducer: true, SingleConsumer: true}} {
			fuzzOps(t, ops, opts)
		}
	})
}

type entry struct {
	data      []byte
	committed bool
	claim     *ringbuf.Claim
}

func fuzzOps(t *testing.T, ops []byte, opts *ringbuf.Options) {
	r, err := ringbuf.New(nil, "", 256, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var queue []*entry         // claimed and not yet taken, in claim order
	var held []*ringbuf.Record // taken and not yet released
	var heldData [][]byte
	serial := byte(0)
	next := func() byte {
		if len(ops) == 0 {
			return 0
		}
		b := ops[0]
		ops = ops[1:]
		return b
	}
	for len(ops) > 0 {
		switch next() % 4 {
		case 0: // claim
			n := int(next()) % (r.MaxRecord() + 1)
			empty := len(queue) == 0 && len(held) == 0
			c, ok := r.TryClaim(n)
			if !ok {
				if empty {
					t.Fatalf("TryClaim(%d) on an empty ring failed", n)
				}
				continue
			}
			serial++
			data := bytes.Repeat([]byte{serial}, n)
			copy(c.Bytes(), data)
			queue = append(queue, &entry{data: data, claim: &c})
		case 1: // commit the i-th uncommitted claim
			var open []*entry
			for _, e := range queue {
				if !e.committed {
					open = append(open, e)
				}
			}
			if len(open) == 0 {
				continue
			}
			e := open[int(next())%len(open)]
			if err := e.claim.Commit(); err != nil {
				t.Fatal(err)
			}
			e.committed = true
		case 2: // take
			rec, ok := r.TryTake()
			want := len(queue) > 0 && queue[0].committed
			if ok != want {
				t.Fatalf("TryTake ok = %v, want %v", ok, want)
			}
			if !ok {
				continue
			}
			if !bytes.Equal(rec.Bytes(), queue[0].data) {
				t.Fatalf("TryTake = %x, want %x", rec.Bytes(), queue[0].data)
			}
			queue = queue[1:]
			held = append(held, &rec)
			heldData = append(heldData, bytes.Clone(rec.Bytes()))
		case 3: // release the i-th held record
			if len(held) == 0 {
				continue
			}
			i := int(next()) % len(held)
			if !bytes.Equal(held[i].Bytes(), heldData[i]) {
				t.Fatalf("held record changed: %x, was %x", held[i].Bytes(), heldData[i])
			}
			if err := held[i].Release(); err != nil {
				t.Fatal(err)
			}
			held = append(held[:i], held[i+1:]...)
			heldData = append(heldData[:i], heldData[i+1:]...)
		}
		committed := 0
		for _, e := range queue {
			if e.committed {
				committed++
			}
		}
		if r.Len() != committed {
			t.Fatalf("Len = %d, want %d", r.Len(), committed)
		}
	}
	for _, e := range queue {
		if !e.committed {
			e.claim.Commit()
		}
	}
	for _, e := range queue {
		rec, ok := r.TryTake()
		if !ok || !bytes.Equal(rec.Bytes(), e.data) {
			t.Fatalf("final TryTake = %v, %x, want %x", ok, rec.Bytes(), e.data)
		}
		rec.Release()
	}
	for _, h := range held {
		h.Release()
	}
	if c, ok := r.TryClaim(r.MaxRecord()); !ok {
		t.Fatal("space not all reclaimed")
	} else {
		c.Commit()
	}
}

// FuzzOpen writes arbitrary words over a ring's control lines and record
// headers, as a bug or another program might, and checks that opening it
// and every call on it return (an error or a result), never panic or hang.
func FuzzOpen(f *testing.F) {
	word := func(pairs ...uint64) []byte {
		var b []byte
		for _, p := range pairs {
			b = binary.LittleEndian.AppendUint64(b, p)
		}
		return b
	}
	f.Add(word())
	f.Add(word(0, 100))                              // capacity
	f.Add(word(16, 1<<40))                           // tail beyond the ring
	f.Add(word(16, 64, 32, 8))                       // head past a FREE header
	f.Add(word(16, 16, 64, 0x7fff_ffff<<32|2<<29|8)) // committed, length past tail
	f.Add(word(16, 32, 64, 2<<29|1<<28))             // committed, huge length
	f.Add(word(16, 32, 64, 7<<29))                   // unknown state
	f.Add(word(16, 32, 64, 3<<29|1<<42|5))           // reading by a token of a slot past the table
	f.Add(word(17, 1<<31|5, 33, 1<<31|1<<10|3))      // lock words
	f.Add(word(48, 1<<63, 16, 64, 32, 8))            // free past head
	f.Add(word(34, 1, 16, 64, 48, 0))                // orphans set
	f.Fuzz(func(t *testing.T, words []byte) {
		seg, err := shm.New(1<<16, &shm.Options{Slots: 16})
		if err != nil {
			t.Fatal(err)
		}
		defer seg.Close()
		opts := &ringbuf.Options{Poll: time.Millisecond, Spin: -1}
		r, err := ringbuf.New(seg, "", 256, opts)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		put(t, r, []byte("one"))
		put(t, r, []byte("two"))
		if c, ok := r.TryClaim(5); ok {
			_ = c // left claimed
		}
		p := r.ShmObjects()[0].Payload()
		// Each pair: word index (mod the 64 words of the control lines
		// and the first 32 of data), value.
		for len(words) >= 16 {
			i := binary.LittleEndian.Uint64(words) % 96
			v := binary.LittleEndian.Uint64(words[8:])
			words = words[16:]
			w, err := p.Uint64(8 * i)
			if err != nil {
				t.Fatal(err)
			}
			w.Store(v)
		}
		r2, err := ringbuf.OpenHandle(r.Handle(), opts)
		if (r2 == nil) == (err == nil) {
			t.Fatalf("OpenHandle = %v, %v", r2, err)
		}
		if err != nil {
			if !errors.Is(err, ringbuf.ErrCorrupt) {
				t.Fatalf("OpenHandle = %v, want ErrCorrupt", err)
			}
			return
		}
		defer r2.Close()
		check := func(what string, err error) {
			if err != nil && !errors.Is(err, ringbuf.ErrCorrupt) && !errors.Is(err, context.DeadlineExceeded) &&
				!errors.Is(err, ringbuf.ErrShutdown) {
				t.Fatalf("%s: unexpected error %v", what, err)
			}
		}
		for range 3 {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Millisecond)
			if c, ok := r2.TryClaim(8); ok {
				check("commit", c.Commit())
			}
			c, err := r2.Claim(ctx, 20)
			check("claim", err)
			if err == nil {
				check("commit", c.Commit())
			}
			if rec, ok := r2.TryTake(); ok {
				check("release", rec.Release())
			}
			rec, err := r2.Take(ctx)
			check("take", err)
			if err == nil {
				check("release", rec.Release())
			}
			_ = r2.Len()
			cancel()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Millisecond)
		defer cancel()
		check("shutdown", r2.Shutdown(ctx))
		_, err = r2.Take(ctx)
		check("take after shutdown", err)
	})
}
