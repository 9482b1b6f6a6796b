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

// FuzzOps runs random sequences of TryClaim, TryClaimBatch, Commit,
// TryTake, TryTakeBatch and Release, with several claims and records held
// at once and given back in any order, against a plain Go model: a queue
// of records in claim order, each committed or not (a batch's records
// together). TryTake must return the front record exactly when it is
// committed, and TryTakeBatch the committed records from the front up to
// its max; an empty ring must take any claim up to MaxRecord. With
// SingleConsumer, one more operation closes the consumer's Ring and opens
// another: the records it held and had not released go back to the front
// of the queue, in the order they were taken, and are delivered again.
func FuzzOps(f *testing.F) {
	f.Add([]byte{0, 10, 1, 0, 2, 3, 0})
	f.Add([]byte{0, 200, 0, 100, 1, 1, 1, 0, 2, 2, 3, 1, 3, 0})
	f.Add(bytes.Repeat([]byte{0, 50, 1, 0, 2, 3, 0}, 40))
	f.Add([]byte{4, 3, 10, 20, 30, 40, 0, 5, 1, 1, 0, 5, 4, 3, 0})
	f.Add(bytes.Repeat([]byte{4, 2, 40, 7, 9, 1, 0, 0, 8, 1, 0, 5, 3, 3, 0, 2, 3, 0}, 20))
	f.Add(bytes.Repeat([]byte{4, 1, 60, 70, 3, 1, 0, 5, 2, 3, 0}, 30))
	f.Add(bytes.Repeat([]byte{0, 30, 1, 0, 0, 20, 1, 0, 2, 5, 2, 3, 1, 6, 2, 3, 0}, 12))
	f.Add(bytes.Repeat([]byte{4, 2, 30, 9, 1, 0, 5, 1, 5, 1, 3, 1, 6, 5, 3, 3, 0}, 12))
	f.Fuzz(func(t *testing.T, ops []byte) {
		for _, opts := range []*ringbuf.Options{nil, {SingleProducer: true, SingleConsumer: true}} {
			fuzzOps(t, ops, opts)
		}
	})
}

// A claim unit of the model: one Claim or one Claims, with its entries.
type unit struct {
	claim     *ringbuf.Claim
	claims    *ringbuf.Claims
	entries   []*entry
	committed bool
}

func (u *unit) commit() error {
	u.committed = true
	for _, e := range u.entries {
		e.committed = true
	}
	if u.claim != nil {
		return u.claim.Commit()
	}
	return u.claims.Commit()
}

type entry struct {
	data      []byte
	committed bool
}

// A take of the model: one Record or one Records, with what it held.
type took struct {
	rec  *ringbuf.Record
	recs *ringbuf.Records
	data [][]byte
}

func (h *took) bytes(i int) []byte {
	if h.rec != nil {
		return h.rec.Bytes()
	}
	return h.recs.Bytes(i)
}

func (h *took) release() error {
	if h.rec != nil {
		return h.rec.Release()
	}
	return h.recs.Release()
}

func fuzzOps(t *testing.T, ops []byte, opts *ringbuf.Options) {
	r, err := ringbuf.New(nil, "", 256, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	// rc is the consumers' Ring: r itself, or with SingleConsumer another
	// Ring on it, which the restart operation replaces.
	rc := r
	if opts != nil && opts.SingleConsumer {
		if rc, err = ringbuf.OpenHandle(r.Handle(), nil); err != nil {
			t.Fatal(err)
		}
		defer func() { rc.Close() }()
	}
	var queue []*entry // claimed and not yet taken, in claim order
	var units []*unit  // claimed and not yet committed
	var held []*took   // taken and not yet released
	serial := byte(0)
	next := func() byte {
		if len(ops) == 0 {
			return 0
		}
		b := ops[0]
		ops = ops[1:]
		return b
	}
	var sizes []int
	for len(ops) > 0 {
		switch next() % 7 {
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
			e := &entry{data: data}
			queue = append(queue, e)
			units = append(units, &unit{claim: &c, entries: []*entry{e}})
		case 4: // claim a batch
			sizes = sizes[:0]
			total := 0
			for range 1 + int(next())%4 {
				n := int(next()) % (r.MaxRecord()/2 + 1)
				sizes = append(sizes, n)
				total += 8 + (n+7)&^7
			}
			empty := len(queue) == 0 && len(held) == 0
			c, ok := r.TryClaimBatch(sizes)
			if !ok {
				if empty && total <= r.MaxRecord()+8 {
					t.Fatalf("TryClaimBatch(%v) on an empty ring failed", sizes)
				}
				continue
			}
			if total > r.MaxRecord()+8 {
				t.Fatalf("TryClaimBatch(%v) of %d bytes succeeded", sizes, total)
			}
			if c.Len() != len(sizes) {
				t.Fatalf("TryClaimBatch(%v).Len() = %d", sizes, c.Len())
			}
			u := &unit{claims: &c}
			for i, n := range sizes {
				serial++
				data := bytes.Repeat([]byte{serial}, n)
				if len(c.Bytes(i)) != n {
					t.Fatalf("batch record %d: %d bytes, want %d", i, len(c.Bytes(i)), n)
				}
				copy(c.Bytes(i), data)
				e := &entry{data: data}
				queue = append(queue, e)
				u.entries = append(u.entries, e)
			}
			units = append(units, u)
		case 1: // commit the i-th uncommitted claim
			if len(units) == 0 {
				continue
			}
			i := int(next()) % len(units)
			if err := units[i].commit(); err != nil {
				t.Fatal(err)
			}
			units = append(units[:i], units[i+1:]...)
		case 6: // a new single consumer: what the last one held comes again
			if rc == r {
				continue
			}
			if err := rc.Close(); err != nil {
				t.Fatal(err)
			}
			if rc, err = ringbuf.OpenHandle(r.Handle(), nil); err != nil {
				t.Fatal(err)
			}
			var again []*entry
			for _, h := range held {
				for _, d := range h.data {
					again = append(again, &entry{data: d, committed: true})
				}
			}
			queue = append(again, queue...)
			held = nil
		case 2: // take
			rec, ok := rc.TryTake()
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
			held = append(held, &took{rec: &rec, data: [][]byte{bytes.Clone(rec.Bytes())}})
		case 5: // take a batch
			most := int(next()) % 5 // 0 means 1
			recs, ok := rc.TryTakeBatch(most)
			want := 0
			for want < len(queue) && want < max(most, 1) && queue[want].committed {
				want++
			}
			if ok != (want > 0) || recs.Len() != want {
				t.Fatalf("TryTakeBatch(%d) = %d records, %v, want %d", most, recs.Len(), ok, want)
			}
			if !ok {
				continue
			}
			h := &took{recs: &recs}
			for i := range want {
				if !bytes.Equal(recs.Bytes(i), queue[i].data) {
					t.Fatalf("TryTakeBatch record %d = %x, want %x", i, recs.Bytes(i), queue[i].data)
				}
				h.data = append(h.data, bytes.Clone(recs.Bytes(i)))
			}
			queue = queue[want:]
			held = append(held, h)
		case 3: // release the i-th held take
			if len(held) == 0 {
				continue
			}
			i := int(next()) % len(held)
			h := held[i]
			for j := len(h.data) - 1; j >= 0; j-- { // backwards: the cursor must rewind
				if !bytes.Equal(h.bytes(j), h.data[j]) {
					t.Fatalf("held record changed: %x, was %x", h.bytes(j), h.data[j])
				}
			}
			if err := h.release(); err != nil {
				t.Fatal(err)
			}
			held = append(held[:i], held[i+1:]...)
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
	for _, u := range units {
		u.commit()
	}
	for _, e := range queue {
		rec, ok := rc.TryTake()
		if !ok || !bytes.Equal(rec.Bytes(), e.data) {
			t.Fatalf("final TryTake = %v, %x, want %x", ok, rec.Bytes(), e.data)
		}
		rec.Release()
	}
	for _, h := range held {
		h.release()
	}
	if c, ok := r.TryClaim(r.MaxRecord()); !ok {
		t.Fatalf("space not all reclaimed (%v): free %d head %d tail %d", opts, cursor(t, r, 384), cursor(t, r, 256), cursor(t, r, 128))
	} else {
		c.Commit()
	}
}

// FuzzOpen writes arbitrary words over a ring's control lines and record
// headers, as a bug or another program might, and checks that opening it
// and every call on it return (an error or a result), never panic or hang:
// for a ring of many producers and consumers, and for one of a single
// producer and a single consumer, whose consumer goes by the headers.
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
	f.Add(word(34, 1<<32, 16, 64, 48, 0))            // orphans set
	f.Add(word(2, 3<<32|7, 3, 2<<32|9))              // sleepers with nobody asleep
	f.Add(word(32, 1<<32|2<<29|8, 16, 32))           // a committed header of the next lap
	f.Fuzz(func(t *testing.T, words []byte) {
		fuzzOpen(t, words, &ringbuf.Options{Poll: time.Millisecond, Spin: -1})
		fuzzOpen(t, words, &ringbuf.Options{Poll: time.Millisecond, Spin: -1, SingleProducer: true, SingleConsumer: true})
	})
}

func fuzzOpen(t *testing.T, words []byte, opts *ringbuf.Options) {
	seg, err := shm.New(1<<16, &shm.Options{Slots: 16})
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Close()
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
		if c, ok := r2.TryClaimBatch([]int{3, 9}); ok {
			copy(c.Bytes(1), "batch")
			check("batch commit", c.Commit())
		}
		if rs, ok := r2.TryTakeBatch(4); ok {
			for i := range rs.Len() {
				_ = rs.Bytes(i)
			}
			check("batch release", rs.Release())
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
}
