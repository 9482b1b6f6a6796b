package ringbuf

// Batches: several records claimed, committed, taken or released with one
// round of the claim lock and at most one wake-up.
// The layout is the ring's (see the top of ring.go); only what a CLAIMED
// header's length means is widened:
//
//   - ClaimBatch claims one span for k records, as if for one record of
//     span − 8 bytes, with the span's first header CLAIMED(self) and that
//     length. The headers of records 2..k inside the span are COMMITTED,
//     written with plain stores before Commit: by ClaimBatch when the
//     records' lengths differ; when they are all one length, by Bytes(i)
//     as it hands out record i in order (and by Commit for the rest), so
//     that each line of the span is written in one pass, header and
//     payload together. (Headers first, in a pass of their own, made
//     a stream of 64-byte records half as fast between far cores: each
//     line of a batch written twice, a pass apart; a raw ring written in
//     the benchmark slowed the same way.) No consumer reads inside the
//     span before the first header leaves CLAIMED: records are taken in
//     order, and Take waits at a CLAIMED header.
//   - Commit is one compare-and-swap of the first header, CLAIMED(self,
//     span) → COMMITTED(first record's length): it publishes all k payloads
//     (written before it) and the k − 1 headers at once. A consumer that
//     takes the first record walks on to the second header, which it reads
//     after its take has observed that compare-and-swap.
//   - A producer that dies between ClaimBatch and Commit leaves the span's
//     first header CLAIMED(dead) with the span's length: a consumer waiting
//     at it turns it into SKIP after a poll, exactly as for one record, and
//     passes the whole span. No record of the batch is delivered, none was
//     committed.
//
// A ring written by code before batches holds no such spans, and such code
// reading a ring with spans does the right thing too: it reads a CLAIMED
// header's length only to skip a dead producer's claim.
//
// TakeBatch takes, under one round of the consumer claim lock, the record
// at head as Take would (storing head past it), then the COMMITTED records
// right after it (and SKIP padding between them), each with its own
// compare-and-swap COMMITTED → READING(self), and stores head once more,
// past the last. A consumer that dies:
//
//   - between the two stores of head: the first record is READING(dead)
//     below head, and comes back as in the next case; the others are
//     READING(dead) at and after head, where the next take finds them and
//     takes them over (as for a single record) one by one. So the first
//     may come again after the others.
//   - after the last: its records are READING(dead) between free and head;
//     after a poll, orphans is set and they are taken over one by one and
//     delivered again, possibly out of order. Never twice to live
//     consumers: every takeover is a compare-and-swap from READING(dead).
//
// Release compare-and-swaps each record READING(self) → DONE, the first
// one last (until it is DONE free cannot pass the batch, so no header the
// walk has yet to read can be overwritten by a producer), then moves free
// once and wakes producers once. A consumer that dies during Release has
// consumed the records it marked DONE; the rest are redelivered as above.
//
// With SingleConsumer (see the top of ring.go), TakeBatch writes no header:
// it walks the COMMITTED records after the one at head and stores head
// once. Release is one compare-and-swap of free past the whole batch when
// free is at its start (or at a SKIP right before it, which the take
// passed), which is the rule; all its records are consumed at once. A
// consumer that dies holding a batch has it delivered again, in order, to
// the next consumer.

import (
	"context"
	"encoding/binary"
	"fmt"
	"iter"

	"github.com/shmkit/shmkit/internal/wait"
	"github.com/shmkit/shmkit/shm"
)

// Claims is space for several records claimed at once by Ring.ClaimBatch or
// TryClaimBatch: fill Bytes(i) for each, then Commit, which publishes them
// all at once. The zero Claims holds nothing. It is a value: keep it in a
// variable and call Commit once. It belongs to the goroutine that claimed
// it.
//
// If the producer dies before Commit, no record of the batch is delivered:
// after a poll interval a consumer skips the whole batch.
type Claims struct {
	r     *Ring
	pos   uint64 // the first record's header
	end   uint64 // the span's end
	h     uint64 // the first header as claimed: CLAIMED(self), the span's length
	first uint64 // the first record's payload length
	count int
	// stride, when every record has the first one's length, is the space
	// each takes: record i is at pos + i*stride. The headers of records
	// 1..written-1 are written then, each the word w; record written's
	// header is at wat in the data area (a batch lies in one lap). written
	// is -1 when Bytes writes no header: records of different lengths, or
	// once committed. (In the zero Claims it is 0, with count 0, which
	// keeps Bytes off its fast path all the same.)
	stride  uint64
	written int
	w       uint64
	wat     uint64
	// The cursor of Bytes otherwise: record i is at position at, n bytes
	// long.
	i    int
	at   uint64
	n    uint64
	done bool
}

// Len is the number of records in the batch.
func (c *Claims) Len() int { return c.count }

// Bytes is the payload of the batch's i-th record (0 ≤ i < Len), in the
// ring: write it before Commit. It dies with Commit and with the Ring's
// Close (Bytes is nil from then on). Going through the records in order
// costs O(1) each.
func (c *Claims) Bytes(i int) []byte {
	// The common case, records of one length handed out in order, with
	// the fewest loads and tests: record i's header now, so that each line
	// of the batch is written in one pass, header and payload together.
	// (A fast path that also took skips and masked the offset made a
	// stream of batched 64-byte records between processes about 10%
	// slower. Bytes is too big to inline all the same: the call below
	// costs most of the budget.)
	if i == c.written && uint(i) < uint(c.count) && !c.r.closed.Load() {
		off, data := c.wat, c.r.data
		c.written++
		c.wat += c.stride
		binary.NativeEndian.PutUint64(data[off:], c.w)
		off += 8
		return data[off : off+c.first : off+c.first]
	}
	return c.bytes(i)
}

func (c *Claims) bytes(i int) []byte {
	if i < 0 || i >= c.count {
		panic(fmt.Sprintf("ringbuf: record %d of a batch of %d", i, c.count))
	}
	if c.done || c.r.closed.Load() {
		return nil // after Close, not even the headers below are ours to read
	}
	r := c.r
	if c.stride != 0 {
		// Out of order, again, or record 0 (whose header the claim
		// wrote): Commit writes the headers Bytes did not.
		return r.payload(c.pos+uint64(i)*c.stride, c.first)
	}
	if i < c.i {
		c.i, c.at, c.n = 0, c.pos, c.first
	}
	for ; c.i < i; c.i++ {
		c.at += recordSize(c.n)
		c.n = hdrLen(r.hdr(c.at).Load()) // a header we wrote, which nobody else writes before Commit
	}
	n := c.n
	if c.at+recordSize(n) > c.end {
		// Only a corrupt ring rewrites the headers of a claim.
		c.i, c.at, c.n = 0, c.pos, c.first
		return nil
	}
	return r.payload(c.at, n)
}

// All ranges over the batch's records in order: each index i with
// Bytes(i). A range loop over All costs less per record than calls of
// Bytes: the compiler builds it in place, with no call per record when the
// records have one length (otherwise it calls Bytes). The loop ends early
// if its body commits the batch or closes the Ring, so that it never
// writes into records published or unmapped. A body that puts another
// batch in the variable without committing this one may go on through
// this one, which stays claimed. Like Bytes, All belongs to the goroutine
// that claimed the batch.
func (c *Claims) All() iter.Seq2[int, []byte] {
	// Kept small enough for the compiler to inline (the function literal
	// and the loop body with it): no call on the fast path.
	return func(yield func(int, []byte) bool) {
		r, pos, end := c.r, c.pos, c.end
		if c.stride == 0 {
			// Records of different lengths (or none, or committed).
			for i := 0; i < c.count && c.holds(r, pos, end); i++ {
				if !yield(i, c.Bytes(i)) {
					return
				}
			}
			return
		}
		// As Bytes does, each record's header right before its payload
		// (record 0's is the claim's), but the cursor of Bytes moved
		// once, when the loop ends. A header Bytes wrote already is
		// written again with the same word.
		//
		// After each record the loop loads r's gen, which Commit and
		// Close change, and asks holds only when it has changed: holds
		// after every record cost a stream of 64-byte records a seventh
		// of its time in one thread. holds also ends the loop if by
		// then the body has put another batch (or the zero Claims) in
		// *c: its ring or its place differs. Until then the loop goes
		// by what it loaded here, never by *c.
		data, stride, n, w, count := r.data, c.stride, c.first, c.w, c.count
		base := c.wat - uint64(c.written)*stride
		at := base
		gen := r.gen.Load()
		if !c.holds(r, pos, end) {
			return
		}
		i := 0
		for ; i < count; i++ {
			if i > 0 {
				binary.NativeEndian.PutUint64(data[at:], w)
			}
			p := data[at+8 : at+8+n : at+8+n]
			at += stride
			if !yield(i, p) {
				i++
				break
			}
			if r.gen.Load() != gen {
				if gen = r.gen.Load(); !c.holds(r, pos, end) {
					i++
					break
				}
			}
		}
		if i > c.written && c.holds(r, pos, end) {
			c.written, c.wat = i, base+uint64(i)*stride
		}
	}
}

// holds reports whether c is still the batch of ring r in [pos, end) that
// a loop over All started with, uncommitted, and r still open. (A place
// is claimed once in a ring's life, but an empty batch, from ClaimBatch
// of no sizes, says 0 for both: end tells it from the ring's first.)
func (c *Claims) holds(r *Ring, pos, end uint64) bool {
	return !c.done && c.pos == pos && c.end == end && c.r == r && !r.closed.Load()
}

// Commit publishes every record of the batch to consumers with one
// compare-and-swap, and wakes one consumer if any sleeps. A second Commit
// panics. If the batch was taken from this process (which only a corrupt
// ring or a liveness bug can do), it returns ErrCorrupt.
func (c *Claims) Commit() error {
	if c.done || c.r == nil {
		if c.r == nil && c.count == 0 && !c.done {
			c.done = true
			return nil // the zero batch
		}
		panic("ringbuf: Commit of a batch not held")
	}
	r := c.r
	closed := r.closed.Load() // and maybe unmapped
	if c.stride != 0 && !closed {
		// The headers Bytes did not write: of records it did not hand
		// out in order.
		for ; c.written < c.count; c.written++ {
			binary.NativeEndian.PutUint64(r.data[c.wat:], c.w)
			c.wat += c.stride
		}
	}
	c.done, c.stride, c.written = true, 0, -1 // Bytes: nil from now on
	if c.count == 0 {
		return nil
	}
	if closed {
		return ErrClosed
	}
	r.race.ReleaseMerge()
	r.gen.Add(1) // ends a loop over All (see Claims.All)
	if r.sp && r.sc {
		r.publish() // before the commit: see the top of ring.go
	}
	if !r.hdr(c.pos).CompareAndSwap(c.h, r.headerAt(c.pos, c.first, stCommitted)) {
		return corrupt("record at %d changed under its producer", c.pos)
	}
	r.countCommits(uint64(c.count))
	if r.sp && !r.sc {
		r.publish()
	}
	r.wakeData()
	return nil
}

// ClaimBatch claims space for len(sizes) records, of sizes[i] bytes each,
// with one round of the producer claim lock, waiting for space while ctx
// allows. The records take 8 + sizes[i] rounded up to 8 bytes each, and
// together at most MaxRecord() + 8: a batch is placed like one record. It
// fails with ErrTooLarge if they do not fit that, ErrShutdown after
// Shutdown, ctx.Err() when ctx ends first. It does not keep sizes.
func (r *Ring) ClaimBatch(ctx context.Context, sizes []int) (Claims, error) {
	return r.claimBatch(ctx, sizes, true)
}

// TryClaimBatch claims space for len(sizes) records if there is room now
// (see ClaimBatch).
func (r *Ring) TryClaimBatch(sizes []int) (Claims, bool) {
	c, err := r.claimBatch(nil, sizes, false)
	return c, err == nil
}

func (r *Ring) claimBatch(ctx context.Context, sizes []int, block bool) (Claims, error) {
	if len(sizes) == 0 {
		if _, err := r.self(); err != nil {
			return Claims{}, err
		}
		if r.shut.Load() != 0 {
			return Claims{}, ErrShutdown
		}
		return Claims{r: r}, nil
	}
	need, same, err := r.batchNeed(sizes)
	if err != nil {
		return Claims{}, err
	}
	pos, h, ok := r.claimNow(need-8, need)
	if !ok {
		if pos, h, err = r.claim(ctx, need-8, need, block); err != nil {
			return Claims{}, err
		}
	}
	// Records 2..k: COMMITTED headers, read by consumers only after the
	// first record's commit, which publishes them with the payloads: plain
	// stores, like the payloads' (an atomic store is a locked instruction
	// on amd64, and there is one per record).
	// A batch lies in one lap, like a record.
	first := uint64(sizes[0])
	c := Claims{r: r, pos: pos, end: pos + need, h: h, first: first, count: len(sizes), written: -1, at: pos, n: first}
	if same {
		// Bytes writes them, and Commit those it did not.
		c.stride, c.written, c.w = recordSize(first), 1, r.headerAt(pos, first, stCommitted)
		c.wat = pos&r.mask + c.stride
		return c, nil
	}
	p := pos + recordSize(first)
	for _, n := range sizes[1:] {
		binary.NativeEndian.PutUint64(r.data[p&r.mask:], r.headerAt(p, uint64(n), stCommitted))
		p += recordSize(uint64(n))
	}
	return c, nil
}

// batchNeed is the space a batch of records of these sizes (at least one)
// takes, and whether they are all of one size. Records of one size, the
// common case, cost one comparison each.
func (r *Ring) batchNeed(sizes []int) (need uint64, same bool, err error) {
	k := uint64(len(sizes))
	same = true
	for _, n := range sizes[1:] {
		if n != sizes[0] {
			same = false
			break
		}
	}
	check := sizes
	if same {
		check = sizes[:1]
	}
	for _, n := range check {
		if n < 0 || uint64(n) > r.maxRec {
			return 0, false, fmt.Errorf("%w: %d bytes, this ring holds at most %d", ErrTooLarge, n, r.maxRec)
		}
		need += recordSize(uint64(n))
		if need-8 > r.maxRec {
			return 0, false, r.batchTooLarge(k)
		}
	}
	if same {
		if k > (r.maxRec+8)/need {
			return 0, false, r.batchTooLarge(k)
		}
		need *= k
	}
	return need, same, nil
}

func (r *Ring) batchTooLarge(k uint64) error {
	return fmt.Errorf("%w: a batch of %d records takes more than the %d bytes a ring of %d holds at once",
		ErrTooLarge, k, r.maxRec+8, r.capacity)
}

// Records is several records taken at once by Ring.TakeBatch or
// TryTakeBatch: read Bytes(i) for each, then Release them all. The zero
// Records holds nothing. It is a value: keep it in a variable and call
// Release once. It belongs to the goroutine that took it.
//
// If the consumer dies before Release, its records are delivered again to
// other consumers, one by one and possibly out of order (see Ring).
type Records struct {
	r        *Ring
	self     shm.Token
	pos, end uint64 // the records lie in [pos, end), with SKIP padding between them
	first    uint64 // the first record's length
	count    int
	// stride, when the records have the first one's length and lie one
	// after the other, is the space each takes: record i is at position
	// pos + i*stride (which may be in the next lap).
	stride uint64
	// The cursor of Bytes otherwise: record i is at position at, n bytes
	// long.
	i    int
	at   uint64
	n    uint64
	done bool
}

// Len is the number of records taken.
func (rs *Records) Len() int { return rs.count }

// Bytes is the payload of the i-th record taken (0 ≤ i < Len), in the
// ring: read it before Release. It dies with Release and with the Ring's
// Close (Bytes is nil from then on). Going through the records in order
// costs O(1) each.
func (rs *Records) Bytes(i int) []byte {
	// The common case first: see Claims.Bytes.
	if rs.stride != 0 && uint(i) < uint(rs.count) {
		return rs.r.payload(rs.pos+uint64(i)*rs.stride, rs.first)
	}
	return rs.bytes(i)
}

func (rs *Records) bytes(i int) []byte {
	if i < 0 || i >= rs.count {
		panic(fmt.Sprintf("ringbuf: record %d of a batch of %d", i, rs.count))
	}
	if rs.done || rs.r.closed.Load() {
		return nil // after Close, not even the headers below are ours to read
	}
	r := rs.r
	if i < rs.i {
		rs.i, rs.at, rs.n = 0, rs.pos, rs.first
	}
	// Every header in [pos, end) is one of ours (READING(self), or
	// COMMITTED with SingleConsumer), SKIP padding, or with SingleConsumer
	// a DONE record that a consumer before us released out of order, and
	// stays so until we release: free cannot pass our first record, and
	// only a dead consumer's record is ever taken over.
	for rs.i < i {
		p := rs.at + recordSize(rs.n)
		for {
			w := r.hdr(p).Load()
			n := hdrLen(w)
			size := recordSize(n)
			if p+size > rs.end || (p&r.mask)+size > r.capacity {
				// Only a corrupt ring rewrites them.
				rs.i, rs.at, rs.n = 0, rs.pos, rs.first
				return nil
			}
			if st := hdrState(w); st == stSkip || (r.sc && st == stDone) {
				p += size
				continue
			}
			rs.at, rs.n = p, n
			break
		}
		rs.i++
	}
	return r.payload(rs.at, rs.n)
}

// All ranges over the records taken, in order: each index i with
// Bytes(i). A range loop over All costs less per record than calls of
// Bytes: the compiler builds it in place, with no call per record when the
// records have one length and follow one another (otherwise it calls
// Bytes). The loop ends early if its body releases the records or closes
// the Ring, so that it never hands out records given back or unmapped. A
// body that puts other records in the variable without releasing these
// may go on through these, which stay taken. Like Bytes, All belongs to
// the goroutine that took the records.
func (rs *Records) All() iter.Seq2[int, []byte] {
	// Kept small enough to inline: see Claims.All.
	return func(yield func(int, []byte) bool) {
		r, pos, end := rs.r, rs.pos, rs.end
		if rs.stride == 0 {
			// Records of different lengths, or apart (or none, or
			// released).
			for i := 0; i < rs.count && rs.holds(r, pos, end); i++ {
				if !yield(i, rs.Bytes(i)) {
					return
				}
			}
			return
		}
		// As in Claims.All, the loop asks holds only when r's gen has
		// changed, and goes by what it loaded at the start: the body may
		// put other records in *rs.
		data, stride, n, at, count := r.data, rs.stride, rs.first, pos, rs.count
		gen := r.gen.Load()
		if !rs.holds(r, pos, end) {
			return
		}
		for i := 0; i < count; i++ {
			off := at&r.mask + 8
			at += stride
			if !yield(i, data[off:off+n:off+n]) {
				return
			}
			if r.gen.Load() != gen {
				if gen = r.gen.Load(); !rs.holds(r, pos, end) {
					return
				}
			}
		}
	}
}

// holds reports whether rs are still the records of ring r in [pos, end)
// that a loop over All started with, unreleased, and r still open.
func (rs *Records) holds(r *Ring, pos, end uint64) bool {
	return !rs.done && rs.pos == pos && rs.end == end && rs.r == r && !r.closed.Load()
}

// Release gives the records' space back to producers, moving free and
// waking producers once. A second Release panics. If a record was taken
// over from this process (which only a corrupt ring or a liveness bug can
// do), it releases the others and returns ErrCorrupt.
func (rs *Records) Release() error {
	if rs.done || rs.r == nil {
		if rs.r == nil && rs.count == 0 && !rs.done {
			rs.done = true
			return nil // the zero batch
		}
		panic("ringbuf: Release of a batch not held")
	}
	rs.done, rs.stride = true, 0 // Bytes: nil from now on
	if rs.count == 0 {
		return nil
	}
	r := rs.r
	if r.closed.Load() {
		return ErrClosed
	}
	r.race.ReleaseMerge()
	r.gen.Add(1) // ends a loop over All (see Claims.All)
	if r.sc {
		return r.releaseSingle(rs.pos, rs.end, rs.count)
	}
	// The first record is marked last: until it is DONE free stays behind
	// the batch, so no producer can reuse the space of a header this loop
	// has yet to read (padding inside the batch, say).
	var bad error
	var first, firstW uint64
	held := false
	for p, left := rs.pos, rs.count; left > 0 && p < rs.end; {
		hw := r.hdr(p)
		w := hw.Load()
		n := hdrLen(w)
		if hdrState(w) != stSkip {
			left--
			switch {
			case !held:
				held, first, firstW = true, p, w
			case w != header(n, stReading, rs.self) || !hw.CompareAndSwap(w, header(n, stDone, 0)):
				bad = corrupt("record at %d changed under its consumer", p)
			}
		}
		p += recordSize(n)
	}
	if held {
		n := hdrLen(firstW)
		if firstW != header(n, stReading, rs.self) || !r.hdr(first).CompareAndSwap(firstW, header(n, stDone, 0)) {
			bad = corrupt("record at %d changed under its consumer", first)
		}
	}
	if err := r.advanceFree(); err != nil {
		return err
	}
	return bad
}

// TakeBatch takes up to max records (at least one), waiting for the first
// while ctx allows: the next record, as Take would, and the committed
// records right after it, with one round of the consumer claim lock. It
// fails with ErrShutdown once the ring is shut down
// and empty, ctx.Err() when ctx ends first. max below 1 means 1.
func (r *Ring) TakeBatch(ctx context.Context, max int) (Records, error) {
	t, err := r.take(ctx, true, max)
	if err != nil {
		return Records{}, err
	}
	return r.batch(t), nil
}

// TryTakeBatch takes up to max records if one is ready now (see
// TakeBatch).
func (r *Ring) TryTakeBatch(max int) (Records, bool) {
	t, err := r.take(nil, false, max)
	if err != nil {
		return Records{}, false
	}
	return r.batch(t), true
}

// batch is the Records of what a take took.
func (r *Ring) batch(t taking) Records {
	n := hdrLen(t.h)
	rs := Records{r: r, self: hdrOwner(t.h), pos: t.pos, end: t.end, first: n, count: t.count(), at: t.pos, n: n}
	if t.cf&takeSame != 0 {
		rs.stride = recordSize(n)
	}
	return rs
}

// takeMoreLocked extends a take of a record of n0 bytes that ended at h
// (head not yet stored past it) with the COMMITTED records right after it,
// up to more of them, with the consumer claim lock held (or none needed).
// It stops at anything else, which the next take handles. It returns the
// new head, how many records it took, and whether they all have n0 bytes
// and follow one another with nothing between them.
func (r *Ring) takeMoreLocked(self shm.Token, h uint64, more int, n0 uint64) (uint64, int, bool) {
	took, same := 0, true
	if r.sc {
		// By the headers, as takeSingle goes. A record of n0 bytes in
		// h's lap has the very header like (and one in the next lap, a
		// different one: like there is a stale header).
		like, size0, lapEnd := r.headerAt(h, n0, stCommitted), recordSize(n0), h|r.mask+1
		hdrs, mask := r.hdrs, r.mask // r.hdr, with what it loads loaded once
		for took < more {
			w := hdrs[(h&mask)>>3].Load()
			if w == like && h+size0 <= lapEnd {
				took++
				h += size0
				continue
			}
			n := hdrLen(w)
			size := recordSize(n)
			if !r.current(h, w) || n > r.maxRec || (h&r.mask)+size > r.capacity {
				break
			}
			same = false
			switch hdrState(w) {
			case stCommitted:
				took++
			case stSkip:
				if !r.skipFinal(h, w) {
					return h, took, false
				}
			}
			h += size // and past DONE: see hold
		}
		return h, took, same
	}
	t := r.tailSeen
	for took < more {
		if h == t {
			if t = r.tail.Load(); h == t {
				break
			}
			r.tailSeen = t
		}
		if h > t || t-h > r.capacity {
			break
		}
		hw := r.hdr(h)
		w := hw.Load()
		n := hdrLen(w)
		size := recordSize(n)
		if w>>63 != 0 || (h&r.mask)+size > r.capacity || h+size > t {
			break
		}
		st := hdrState(w)
		if st == stSkip {
			h += size
			same = false
			continue
		}
		if st != stCommitted || n > r.maxRec || !hw.CompareAndSwap(w, header(n, stReading, self)) {
			break
		}
		h += size
		took++
		same = same && n == n0
	}
	return h, took, same
}

// wakeData wakes one consumer if any went to sleep since the last wake-up
// (see the top of ring.go).
func (r *Ring) wakeData() {
	if r.dataSleepers.Load() != 0 { // small enough to inline
		r.wakeDataNow()
	}
}

func (r *Ring) wakeDataNow() {
	if r.dataWake.Load() != 0 && r.dataWake.Swap(0) != 0 {
		r.dataSeq.Add(1)
		wait.Wake(r.dataSeq, 1)
	}
}
