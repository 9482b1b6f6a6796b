// Batches of records of one size (Claims and Records with a stride) and
// the places around them: written with the review of the stride.

package ringbuf_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"iter"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/ringbuf"
)

var batchOpts = []*ringbuf.Options{nil, {SingleConsumer: true}, {SingleProducer: true}, {SingleProducer: true, SingleConsumer: true}}

// putSeq commits one batch of the given sizes, numbering records from *seq.
func putSeq(t *testing.T, r *ringbuf.Ring, seq *uint32, sizes ...int) {
	t.Helper()
	c, err := r.ClaimBatch(context.Background(), sizes)
	if err != nil {
		t.Fatal(err)
	}
	fillBatch(&c, seq)
	if err := c.Commit(); err != nil {
		t.Fatal(err)
	}
}

// batch is what Claims and Records have in common.
type batch interface {
	Len() int
	Bytes(i int) []byte
	All() iter.Seq2[int, []byte]
}

// records goes through the records of b by the next of three ways, in
// turn: All, Bytes, and All up to the middle record then Bytes.
func records(b batch) iter.Seq2[int, []byte] {
	way := recordsWay.Add(1) % 3
	return func(yield func(int, []byte) bool) {
		i := 0
		if way != 1 {
			for j, p := range b.All() {
				if j != i {
					panic(fmt.Sprintf("All gave record %d after %d others", j, i))
				}
				if way == 2 && i == b.Len()/2 {
					break
				}
				if !yield(i, p) {
					return
				}
				i++
			}
		}
		for ; i < b.Len(); i++ {
			if !yield(i, b.Bytes(i)) {
				return
			}
		}
	}
}

var recordsWay atomic.Uint32

// fillBatch numbers the records of c from *seq: the number in the first
// four bytes, its low byte in the rest (takeSeq checks both).
func fillBatch(c *ringbuf.Claims, seq *uint32) {
	for _, b := range records(c) {
		binary.LittleEndian.PutUint32(b, *seq)
		for j := 4; j < len(b); j++ {
			b[j] = byte(*seq)
		}
		*seq++
	}
}

// takeSeq takes a batch of up to most and returns the numbers, checking fill.
func takeSeq(t *testing.T, r *ringbuf.Ring, most int) ([]uint32, ringbuf.Records) {
	t.Helper()
	rs, ok := r.TryTakeBatch(most)
	if !ok {
		return nil, rs
	}
	var ids []uint32
	for i, b := range records(&rs) {
		id := binary.LittleEndian.Uint32(b)
		for _, x := range b[4:] {
			if x != byte(id) {
				t.Fatalf("record %d (i %d of %d): fill %d", id, i, rs.Len(), x)
			}
		}
		ids = append(ids, id)
	}
	return ids, rs
}

func TestBatchMixedAfterSame(t *testing.T) {
	for _, opts := range batchOpts {
		r := newRing(t, 1024, opts)
		var seq uint32
		putSeq(t, r, &seq, 10, 10, 10)
		putSeq(t, r, &seq, 10, 20, 10, 4)
		putSeq(t, r, &seq, 10, 10)
		ids, rs := takeSeq(t, r, 100)
		if want := []uint32{0, 1, 2, 3, 4, 5, 6, 7, 8}; !slices.Equal(ids, want) {
			t.Errorf("%+v: got %v want %v", opts, ids, want)
		}
		rs.Release()
	}
}

// Same-size records across the wrap: exactly fitting, and with padding.
func TestBatchSameOverWrap(t *testing.T) {
	for _, opts := range batchOpts {
		for _, n := range []int{24, 32} { // 32 bytes: fit exactly; 40: padding at 240
			for _, firstEnds := range []int{0, 1} {
				r := newRing(t, 256, opts)
				var seq uint32
				size := 8 + (n+7)&^7
				k := 192/size + firstEnds
				for range k {
					putSeq(t, r, &seq, n)
					_, rs := takeSeq(t, r, 1)
					rs.Release()
				}
				base := seq
				putSeq(t, r, &seq, n, n)
				putSeq(t, r, &seq, n, n)
				ids, rs := takeSeq(t, r, 100)
				if want := []uint32{base, base + 1, base + 2, base + 3}; !slices.Equal(ids, want) {
					t.Errorf("%+v n %d k %d: got %v want %v", opts, n, k, ids, want)
				}
				rs.Release()
			}
		}
	}
}

// A single consumer that closes holding batches, one released out of
// order: the next takes the held ones again, passing the DONE ones.
func TestBatchSingleRewindDone(t *testing.T) {
	for _, opts := range batchOpts[1:] {
		if !opts.SingleConsumer {
			continue
		}
		rp := newRing(t, 1024, opts)
		var seq uint32
		putSeq(t, rp, &seq, 8, 8, 8, 8)
		putSeq(t, rp, &seq, 8, 8, 8, 8)
		rc, err := ringbuf.OpenHandle(rp.Handle(), opts)
		if err != nil {
			t.Fatal(err)
		}
		_, a := takeSeq(t, rc, 2)
		_, b := takeSeq(t, rc, 2)
		_, c := takeSeq(t, rc, 2)
		_ = a
		_ = c
		if err := b.Release(); err != nil {
			t.Fatal(err)
		}
		rc.Close()
		rc, err = ringbuf.OpenHandle(rp.Handle(), opts)
		if err != nil {
			t.Fatal(err)
		}
		ids, rs := takeSeq(t, rc, 100)
		if want := []uint32{0, 1, 4, 5, 6, 7}; !slices.Equal(ids, want) {
			t.Errorf("%+v: got %v want %v", opts, ids, want)
		}
		rs.Release()
		rc.Close()
	}
}

// Random same-size-heavy batches with out-of-order releases and, for a
// single consumer, consumers that close holding records.
func TestBatchRandom(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 2))
	for _, opts := range batchOpts {
		t.Run(fmt.Sprintf("%+v", opts), func(t *testing.T) {
			rp := newRing(t, 256, opts)
			rc, err := ringbuf.OpenHandle(rp.Handle(), opts)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { rc.Close() }()
			var sent, fresh uint32
			var redeliver []uint32
			type heldB struct {
				rs  ringbuf.Records
				ids []uint32
			}
			var held []heldB
			total := 0
			for range 20000 {
				switch x := rng.IntN(10); {
				case x < 5:
					sz := []int{4, 4, 4, 12, 20, 0}[rng.IntN(6)]
					sizes := make([]int, 1+rng.IntN(6))
					for i := range sizes {
						if rng.IntN(5) == 0 {
							sizes[i] = 4 + rng.IntN(10)
						} else {
							sizes[i] = max(sz, 4)
						}
					}
					c, ok := rp.TryClaimBatch(sizes)
					if !ok {
						continue
					}
					fillBatch(&c, &sent)
					if err := c.Commit(); err != nil {
						t.Fatal(err)
					}
				case x < 9:
					ids, rs := takeSeq(t, rc, 1+rng.IntN(8))
					for _, id := range ids {
						var want uint32
						if len(redeliver) > 0 {
							want, redeliver = redeliver[0], redeliver[1:]
						} else {
							want = fresh
							fresh++
						}
						if id != want {
							t.Fatalf("got %d want %d (batch %v)", id, want, ids)
						}
					}
					total += len(ids)
					if ids != nil {
						held = append(held, heldB{rs, ids})
					}
					if len(held) > 0 && (rng.IntN(2) == 0 || ids == nil) {
						i := rng.IntN(len(held))
						if err := held[i].rs.Release(); err != nil {
							t.Fatal(err)
						}
						held = slices.Delete(held, i, i+1)
					}
				default:
					if opts == nil || !opts.SingleConsumer || rng.IntN(4) != 0 {
						continue
					}
					var back []uint32
					for _, h := range held {
						back = append(back, h.ids...)
					}
					held = nil
					back = append(back, redeliver...)
					slices.Sort(back)
					redeliver = back
					rc.Close()
					if rc, err = ringbuf.OpenHandle(rp.Handle(), opts); err != nil {
						t.Fatal(err)
					}
				}
			}
			for _, h := range held {
				h.rs.Release()
			}
			if total < 2000 {
				t.Errorf("only %d records went round", total)
			}
		})
	}
}

// A single producer (p2) whose free seen is stale resumes after another
// single producer (p1) died between ClaimBatch and Commit: p2's claim ends
// exactly at its stale free + capacity, so it does not clear the word
// there, which holds an inner COMMITTED header of p1's dead batch.
func TestSingleClaimClearsPastStaleFree(t *testing.T) {
	opts := &ringbuf.Options{SingleProducer: true, SingleConsumer: true}
	p2 := newRing(t, 256, opts)
	rc, err := ringbuf.OpenHandle(p2.Handle(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var seq uint32
	for range 8 { // 0..256, p2's free seen stays 0
		putSeq(t, p2, &seq, 24)
	}
	for range 4 { // free = 128
		_, rs := takeSeq(t, rc, 1)
		rs.Release()
	}
	putSeq(t, p2, &seq, 24) // at 256: p2 loads free, 128
	for {
		ids, rs := takeSeq(t, rc, 100)
		if ids == nil {
			break
		}
		rs.Release()
	}
	// free = head = tail = 288
	p1, err := ringbuf.OpenHandle(p2.Handle(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer p1.Close()
	dead, ok := p1.TryClaimBatch([]int{24, 24, 24, 24}) // [288, 416), inner headers at 320, 352, 384
	if !ok {
		t.Fatal("p1 claim")
	}
	for i := range dead.Len() {
		copy(dead.Bytes(i), "dead dead dead dead dead")
	}
	// p1 dies here. p2 claims from tail 288 a record ending at 384 = 128 + 256.
	putSeq(t, p2, &seq, 88)
	want := seq - 1
	ids, rs := takeSeq(t, rc, 100)
	rs.Release()
	if len(ids) != 1 || ids[0] != want {
		t.Errorf("took %v, want only [%d]", ids, want)
	}
	if rec, ok := rc.TryTake(); ok {
		t.Errorf("a record p1 never committed: %q", rec.Bytes())
	}
}

// Bytes writes the header of each record of a batch of one size as it
// hands out the payload in order, and Commit the headers Bytes did not
// write: a consumer takes every record of the batch whatever the order of
// the calls to Bytes, or with none at all. The batch goes where one
// went a lap before, so that its places hold that lap's headers, which
// say nothing to a consumer of this lap, and payloads of 0xff.
func TestBatchHeadersWhateverBytesOrder(t *testing.T) {
	ctx := shmtest.Deadline(t, 30*time.Second)
	sizes := []int{24, 24, 24, 24, 24} // 160 bytes
	for _, o := range batchOpts {
		for _, order := range [][]int{nil, {0, 1, 2, 3, 4}, {4, 0, 2}, {2}, {3, 3, 1, 0}} {
			r, err := ringbuf.New(nil, "", 1024, o)
			if err != nil {
				t.Fatal(err)
			}
			c, err := r.ClaimBatch(ctx, sizes)
			if err != nil {
				t.Fatal(err)
			}
			for i := range c.Len() {
				for j := range c.Bytes(i) {
					c.Bytes(i)[j] = 0xff
				}
			}
			c.Commit()
			rs, _ := r.TryTakeBatch(5)
			rs.Release()
			for _, n := range []int{504, 344} { // the rest of the lap: 512 + 352 bytes
				c, err := r.Claim(ctx, n)
				if err != nil {
					t.Fatal(err)
				}
				c.Commit()
				rec, _ := r.TryTake()
				rec.Release()
			}
			c, err = r.ClaimBatch(ctx, sizes)
			if err != nil {
				t.Fatal(err)
			}
			for _, i := range order {
				c.Bytes(i)[0] = byte(i + 1)
			}
			if err := c.Commit(); err != nil {
				t.Fatal(err)
			}
			rs, ok := r.TryTakeBatch(10)
			if !ok || rs.Len() != 5 {
				t.Fatalf("%+v, Bytes of %v: took %d records, want 5", o, order, rs.Len())
			}
			for i := range rs.Len() {
				want := byte(0xff)
				if slices.Contains(order, i) {
					want = byte(i + 1)
				}
				if b := rs.Bytes(i); len(b) != 24 || b[0] != want {
					t.Errorf("%+v, Bytes of %v: record %d: %d bytes, first %#x, want 24 and %#x", o, order, i, len(b), b[0], want)
				}
			}
			rs.Release()
			r.Close()
		}
	}
}

// After Close, whose ring had a segment of its own and unmapped it, every
// Bytes is nil: claims and records of one and of several, batches of one
// length and of mixed ones (whose Bytes would otherwise read headers in
// the unmapped segment), in order or not.
func TestBytesNilAfterClose(t *testing.T) {
	ctx := shmtest.Deadline(t, 30*time.Second)
	for _, o := range batchOpts {
		r, err := ringbuf.New(nil, "", 1024, o)
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			c, err := r.Claim(ctx, 8)
			if err != nil {
				t.Fatal(err)
			}
			c.Commit()
		}
		for _, sizes := range [][]int{{8, 8, 8}, {8, 16, 8}} {
			c, err := r.ClaimBatch(ctx, sizes)
			if err != nil {
				t.Fatal(err)
			}
			c.Commit()
		}
		rec, err := r.Take(ctx)
		if err != nil {
			t.Fatal(err)
		}
		rs, err := r.TakeBatch(ctx, 1) // the second single record
		if err != nil {
			t.Fatal(err)
		}
		same, err := r.TakeBatch(ctx, 3)
		if err != nil {
			t.Fatal(err)
		}
		mixed, err := r.TakeBatch(ctx, 3)
		if err != nil {
			t.Fatal(err)
		}
		if same.Len() != 3 || mixed.Len() != 3 || mixed.Bytes(2) == nil {
			t.Fatalf("%+v: took batches of %d and %d records", o, same.Len(), mixed.Len())
		}
		c, err := r.Claim(ctx, 8)
		if err != nil {
			t.Fatal(err)
		}
		cs := [2]ringbuf.Claims{}
		for i, sizes := range [][]int{{8, 8, 8}, {8, 16, 8}} {
			if cs[i], err = r.ClaimBatch(ctx, sizes); err != nil {
				t.Fatal(err)
			}
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		if c.Bytes() != nil || rec.Bytes() != nil || rs.Bytes(0) != nil {
			t.Errorf("%+v: a single record's Bytes after Close is not nil", o)
		}
		for _, i := range []int{0, 2, 1, 2} {
			for j, b := range [][]byte{cs[0].Bytes(i), cs[1].Bytes(i), same.Bytes(i), mixed.Bytes(i)} {
				if b != nil {
					t.Errorf("%+v: Bytes(%d) of batch %d after Close = %d bytes, want nil", o, i, j, len(b))
				}
			}
		}
	}
}

// A batch claimed from a ring closed since, whose segment was its own and
// is unmapped now, commits with ErrClosed and no write: Bytes and Commit
// write headers only while the ring is open.
func TestBatchCommitAfterClose(t *testing.T) {
	for _, o := range batchOpts {
		r, err := ringbuf.New(nil, "", 1024, o)
		if err != nil {
			t.Fatal(err)
		}
		c, err := r.ClaimBatch(shmtest.Deadline(t, 30*time.Second), []int{8, 8, 8, 8})
		if err != nil {
			t.Fatal(err)
		}
		c.Bytes(0)[0] = 1
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		c.Bytes(2) // the header of records 1 and 2 would go into unmapped memory
		if err := c.Commit(); !errors.Is(err, ringbuf.ErrClosed) {
			t.Errorf("%+v: Commit after Close = %v, want ErrClosed", o, err)
		}
	}
}

// All goes through a batch's records as Bytes does, whatever Bytes did
// before it and whether a loop over it broke off, and a loop over All ends
// when its body commits, releases or closes.
func TestBatchAll(t *testing.T) {
	ctx := shmtest.Deadline(t, 30*time.Second)
	var zc ringbuf.Claims
	var zr ringbuf.Records
	for range zc.All() {
		t.Error("the zero Claims has a record")
	}
	for range zr.All() {
		t.Error("the zero Records has a record")
	}
	check := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	// count ranges over b.All(), calling f (if not nil) in the body at
	// record at, and returns how many records the loop went through.
	count := func(b batch, at int, f func()) int {
		n := 0
		for i, p := range b.All() {
			if i != n || len(p) != len(b.Bytes(i)) || len(p) > 0 && &p[0] != &b.Bytes(i)[0] {
				t.Fatalf("All gave record %d (%d bytes) as the %dth", i, len(p), n)
			}
			n++
			if i == at && f != nil {
				f()
			}
		}
		return n
	}
	for _, o := range batchOpts {
		for _, sizes := range [][]int{{24, 24, 24, 24}, {8, 24, 16, 24}} {
			name := fmt.Sprintf("%+v %v", o, sizes)
			r := must(ringbuf.New(nil, "", 1024, o))
			// Bytes out of order first, a loop broken off, then All
			// again: the ring holds four records of the right sizes.
			c := must(r.ClaimBatch(ctx, sizes))
			c.Bytes(2)[0] = 3
			for i, p := range c.All() {
				p[0] = byte(i + 1)
				if i == 1 {
					break
				}
			}
			if n := count(&c, -1, nil); n != 4 {
				t.Fatalf("%s: All of Claims went through %d records, want 4", name, n)
			}
			// A commit in the loop ends it: headers not yet written by
			// then are Commit's to write.
			if n := count(&c, 0, func() { c.Commit() }); n != 1 {
				t.Errorf("%s: a loop over All went on %d records past Commit", name, n-1)
			}
			for i := range c.Len() {
				if c.Bytes(i) != nil {
					t.Errorf("%s: Bytes(%d) after a Commit in a loop over All is not nil", name, i)
				}
			}
			rs, ok := r.TryTakeBatch(10)
			if !ok || rs.Len() != 4 {
				t.Fatalf("%s: took %d records, want 4", name, rs.Len())
			}
			for i, p := range rs.All() {
				if len(p) != sizes[i] || p[0] != byte(i+1) && i < 3 {
					t.Errorf("%s: record %d: %d bytes, first %d", name, i, len(p), p[0])
				}
			}
			if n := count(&rs, 1, func() { rs.Release() }); n != 2 {
				t.Errorf("%s: a loop over All went on %d records past Release", name, n-2)
			}
			// So does another batch put in the variable in the loop (after
			// a Commit or Release of the one before), the zero one, or an
			// empty one: the last two are at place 0, the first batch's
			// of a new ring.
			for _, next := range []string{"zero", "batch", "empty"} {
				r2 := must(ringbuf.New(nil, "", 1024, o))
				c = must(r2.ClaimBatch(ctx, sizes))
				n := count(&c, 1, func() {
					check(c.Commit())
					c = ringbuf.Claims{}
					switch next {
					case "batch":
						c = must(r2.ClaimBatch(ctx, sizes))
					case "empty":
						c = must(r2.ClaimBatch(ctx, nil))
					}
				})
				if n != 2 {
					t.Errorf("%s: a loop over All went on %d records into the %s batch put in its variable", name, n-2, next)
				}
				for i := range c.Len() {
					c.Bytes(i)[0] = byte(10 + i)
				}
				c.Commit()
				rs = must(r2.TakeBatch(ctx, 4))
				if n := count(&rs, 0, func() { rs.Release(); rs, _ = r2.TryTakeBatch(4) }); n != 1 {
					t.Errorf("%s: a loop over All went on %d records into other records", name, n-1)
				}
				if (next == "batch") != (rs.Len() == 4) {
					t.Fatalf("%s: took %d records of the %s batch claimed in a loop", name, rs.Len(), next)
				}
				for i, p := range rs.All() {
					if len(p) != sizes[i] || p[0] != byte(10+i) {
						t.Errorf("%s: record %d of the batch claimed in a loop over All: %d bytes, first %d", name, i, len(p), p[0])
					}
				}
				rs.Release()
				r2.Close()
			}
			// Other records put in the variable without a Release: the
			// loop may go on through the records it started with, which
			// are still taken, but never past them (into the next batch,
			// here more records, then a claim not yet committed).
			func() {
				r3 := must(ringbuf.New(nil, "", 1024, o))
				defer r3.Close()
				for _, b := range [][]int{sizes[:2], {8, 8, 8, 8, 8, 8}} {
					c := must(r3.ClaimBatch(ctx, b))
					check(c.Commit())
				}
				open := must(r3.Claim(ctx, 64))
				defer open.Commit()
				rs := must(r3.TakeBatch(ctx, 2))
				first := rs
				var went [][]byte
				for _, p := range rs.All() {
					went = append(went, p)
					if len(went) == 1 {
						rs = must(r3.TakeBatch(ctx, 6))
					}
				}
				if len(went) > 2 {
					t.Errorf("%s: a loop over All of 2 records went through %d", name, len(went))
				}
				for i, p := range went[:min(2, len(went))] {
					if &p[0] != &first.Bytes(i)[0] {
						t.Errorf("%s: a loop over All gave as record %d another record", name, i)
					}
				}
				check(errors.Join(rs.Release(), first.Release()))
			}()
			// A Commit or Release of another batch through the Ring
			// does not end the loop (a loop looks at its batch only
			// when one of them has run).
			c = must(r.ClaimBatch(ctx, sizes))
			if n := count(&c, 1, func() { other := must(r.ClaimBatch(ctx, sizes[:1])); check(other.Commit()) }); n != 4 {
				t.Errorf("%s: a Commit of another batch ended a loop over All after %d records", name, n)
			}
			check(c.Commit())
			rs = must(r.TakeBatch(ctx, 4))
			if n := count(&rs, 1, func() { other := must(r.TakeBatch(ctx, 1)); check(other.Release()) }); n != 4 {
				t.Errorf("%s: a Release of other records ended a loop over All after %d records", name, n)
			}
			check(rs.Release())
			// A Close in the loop ends it (and the ring's own segment is
			// unmapped: one more record would fault).
			c = must(r.ClaimBatch(ctx, sizes))
			c.Commit()
			rs, _ = r.TryTakeBatch(10)
			c = must(r.ClaimBatch(ctx, sizes))
			if n := count(&c, 1, func() { r.Close() }); n != 2 {
				t.Errorf("%s: a loop over All went on %d records past Close", name, n-2)
			}
			if n := count(&rs, -1, nil); n != 0 {
				t.Errorf("%s: All of Records after Close went through %d records", name, n)
			}
			if n := count(&c, -1, nil); n != 0 {
				t.Errorf("%s: All of Claims after Close went through %d records", name, n)
			}
		}
	}
}
