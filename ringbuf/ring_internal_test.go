// Tests of unexported parts, written with the review of roomSoon and of
// the four-field Record and Claim.

package ringbuf

import (
	"context"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/shmtest"
)

// TestRoomSoonSliceOutOfReach: a record that needs padding near the
// middle of the ring never has room for itself and the slice besides
// (total + slice > capacity), so roomSoon must not wait for the slice,
// though free keeps moving.
func TestRoomSoonSliceOutOfReach(t *testing.T) {
	r := newTestRing(t, 1<<16, nil)
	one := func(n int) {
		putOne(t, r, n)
		takeOne(t, r)
	}
	one(16 << 10)
	one(16 << 10) // tail = free = 32 KiB + 16: the ring is empty
	need := recordSize(r.maxRec)
	cond := r.roomSoon(need)
	said := 0
	for look := 0; look < 300; look++ {
		for range 32 {
			if cond() {
				said++
			}
		}
		if !r.hasSpace(need) {
			t.Fatalf("look %d: no space", look)
		}
		one(0) // free moves by 8
	}
	t.Logf("roomSoon said yes %d times in 300 looks; tail offset now %d; hasSpace true every look", said, r.tail.Load()&r.mask)
	if said != 300 {
		t.Errorf("roomSoon reported room for a %d-byte record in an empty %d-byte ring at %d of 300 looks while free moved, want all", need, r.capacity, said)
	}
}

// TestReleaseAfterPaddingOneSwap: with SingleConsumer, the release of the
// first record of a lap, whose take passed the padding at the end of the
// lap before, moves free past padding and record at once: the record's
// header stays as committed (no DONE written, which the slow path does)
// and free lands at its end.
func TestReleaseAfterPaddingOneSwap(t *testing.T) {
	r := newTestRing(t, 256, &Options{SingleProducer: true, SingleConsumer: true})
	for lap := range 3 { // 112 bytes each: the third pads 32 and goes to the next lap
		putOne(t, r, 100)
		pos, end := takeOne(t, r)
		if f := r.free.Load(); f != end {
			t.Fatalf("record %d at %d: free %d after Release, want %d", lap, pos, f, end)
		}
		if w := r.hdr(pos).Load(); hdrState(w) != stCommitted {
			t.Errorf("record %d at %d: header %#x after Release, want it left COMMITTED", lap, pos, w)
		}
	}
	if r.tail.Load() != 256+112 {
		t.Fatalf("tail %d: the third record did not go to the next lap", r.tail.Load())
	}
}

// TestReleasePaddingAfterProducerMovedFree: the padding fast path with a
// free loaded before a producer's moveFree passed the padding and a claim
// reused its place (one lap on). The compare-and-swap from the padding
// fails, and the slow path must start at the record, not at the padding's
// place, whose header is now the producer's. (Found in review: the first
// version walked from the padding, marked the producer's record DONE and
// left free stuck at ours.)
func TestReleasePaddingAfterProducerMovedFree(t *testing.T) {
	r := newTestRing(t, 64, &Options{SingleProducer: true, SingleConsumer: true})
	putOne(t, r, 16)
	putOne(t, r, 16) // [0,24) [24,48)
	takeOne(t, r)
	takeOne(t, r)    // free = head = 48
	putOne(t, r, 16) // SKIP [48,64), record [64,88)
	rec, err := r.Take(bounded(t))
	if err != nil || rec.pos != 64 {
		t.Fatalf("Take: %v, at %d, want the record at 64", err, rec.pos)
	}
	putOne(t, r, 8)
	putOne(t, r, 0) // [88,104) [104,112)
	// The consumer's release has seen free at the padding, and its
	// header SKIP; then, before its compare-and-swap, a producer:
	c, ok := r.TryClaim(8) // moves free past the padding to 64 and claims [112,128), the padding's place
	if !ok {
		t.Fatal("TryClaim(8) found no room")
	}
	if err := c.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := r.releaseSingleFrom(48, rec.pos, rec.end(), 1); err != nil {
		t.Fatalf("release from the padding at 48: %v", err)
	}
	if f := r.free.Load(); f != rec.end() {
		t.Errorf("free %d after the release, want %d", f, rec.end())
	}
	for i, want := range []uint64{88, 104, 112} {
		rec, ok := r.TryTake()
		if !ok || rec.pos != want {
			t.Fatalf("take %d: ok %v, at %d, want the record at %d", i, ok, rec.pos, want)
		}
		if err := rec.Release(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestPaddingPassedByNextHeader: with SingleConsumer, a take passes the
// padding at the end of a lap once the record after it is committed,
// without loading tail (the producer's line), and not before; nor on the
// strength of that record when the SKIP it read has since been
// overwritten (as by a claim after its producer died).
func TestPaddingPassedByNextHeader(t *testing.T) {
	r := ringBeforeLapEnd(t) // free = head = tail = 224
	c, err := r.Claim(bounded(t), 100)
	if err != nil {
		t.Fatal(err)
	}
	// SKIP [224,256), CLAIMED at 256, tail not yet past them.
	w := r.hdr(224).Load()
	if hdrState(w) != stSkip || r.skipFinal(224, w) {
		t.Fatalf("open claim: header %#x at 224 taken for final padding", w)
	}
	if _, ok := r.TryTake(); ok || r.head.Load() != 224 {
		t.Fatalf("open claim: TryTake %v, head %d, want nothing taken at 224", ok, r.head.Load())
	}
	if err := c.Commit(); err != nil {
		t.Fatal(err)
	}
	seen := r.tailSeen
	r.hdr(224).Store(header(8, stClaimed, 1))
	if r.skipFinal(224, w) {
		t.Error("padding overwritten since it was read: still taken for final")
	}
	r.hdr(224).Store(w)
	if pos, _ := takeOne(t, r); pos != 256 {
		t.Fatalf("took the record at %d, want 256", pos)
	}
	if r.tailSeen != seen {
		t.Errorf("the take loaded tail (%d) to pass the padding; the committed header at 256 says it is final", r.tailSeen)
	}
}

// TestDeadPaddingNotPassedByLapOldHeader: padding that a producer wrote
// above tail before it died is not final, though the header at the start
// of the next lap is COMMITTED: of the lap before.
func TestDeadPaddingNotPassedByLapOldHeader(t *testing.T) {
	r := ringBeforeLapEnd(t) // 256 holds the COMMITTED header of lap 0
	r.hdr(224).Store(r.headerAt(224, 24, stSkip))
	if _, ok := r.TryTake(); ok || r.head.Load() != 224 {
		t.Fatalf("TryTake %v, head %d: passed padding above tail on a lap-old header", ok, r.head.Load())
	}
}

// TestNewConsumerPassesSkipAtOnce: a consumer that has not loaded tail
// yet (as a new one, which may follow a consumer that died or closed
// holding records) passes a dead producer's claim turned SKIP in the
// middle of a lap at once, by loading tail, rather than after a poll
// interval.
func TestNewConsumerPassesSkipAtOnce(t *testing.T) {
	opts := &Options{SingleProducer: true, SingleConsumer: true, Poll: time.Hour}
	r := newTestRing(t, 256, opts)
	putOne(t, r, 8) // A at 0
	b, err := r.Claim(bounded(t), 8)
	if err != nil {
		t.Fatal(err)
	}
	putOne(t, r, 8) // C at 32; tail past B
	if b.pos != 16 {
		t.Fatalf("B at %d, want 16", b.pos)
	}
	r.hdr(16).Store(r.headerAt(16, 8, stSkip)) // as a consumer does to a dead producer's claim
	c2, err := OpenHandle(r.Handle(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if pos, _ := takeOne(t, c2); pos != 0 {
		t.Fatalf("took A at %d, want 0", pos)
	}
	rec, ok := c2.TryTake()
	if !ok {
		t.Fatal("TryTake did not pass the SKIP at 16 to C")
	}
	if rec.pos != 32 {
		t.Errorf("took the record at %d, want 32", rec.pos)
	}
	rec.Release()
}

// ringBeforeLapEnd is a SingleProducer and SingleConsumer ring of 256
// bytes through which two records of 100 bytes have gone: free = head =
// tail = 224, too near the end of the lap for another such record.
func ringBeforeLapEnd(t *testing.T) *Ring {
	t.Helper()
	r := newTestRing(t, 256, &Options{SingleProducer: true, SingleConsumer: true})
	putOne(t, r, 100)
	putOne(t, r, 100)
	takeOne(t, r)
	takeOne(t, r)
	return r
}

// bounded is the context of every wait in these tests: one that reaches
// its deadline has hung.
func bounded(t *testing.T) context.Context {
	return shmtest.Deadline(t, 30*time.Second)
}

// newTestRing makes a ring of capacity bytes in a segment of its own,
// closed at the end of the test.
func newTestRing(t *testing.T, capacity int, opts *Options) *Ring {
	t.Helper()
	r, err := New(nil, "", capacity, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// putOne claims and commits a record of n bytes.
func putOne(t *testing.T, r *Ring, n int) {
	t.Helper()
	c, err := r.Claim(bounded(t), n)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Commit(); err != nil {
		t.Fatal(err)
	}
}

// takeOne takes and releases a record, and returns where it lay.
func takeOne(t *testing.T, r *Ring) (pos, end uint64) {
	t.Helper()
	rec, err := r.Take(bounded(t))
	if err != nil {
		t.Fatal(err)
	}
	pos, end = rec.pos, rec.end()
	if err := rec.Release(); err != nil {
		t.Fatal(err)
	}
	return pos, end
}

// A consumer's take passes the DONE records right after the one it takes
// (released out of order by a consumer before it, see passDone), so that
// free can pass them at once: here a record that a consumer released
// before the two it closed without releasing, which went back to the
// ring. The second take, on the fast path (takeNow), finds it next.
func TestTakePassesDoneAfterIt(t *testing.T) {
	opts := &Options{SingleProducer: true, SingleConsumer: true}
	r := newTestRing(t, 256, opts)
	putOne(t, r, 8)   // at 0
	putOne(t, r, 8)   // at 16
	putOne(t, r, 120) // at 32; tail 160
	c1, err := OpenHandle(r.Handle(), opts)
	if err != nil {
		t.Fatal(err)
	}
	var held [3]Record
	for i := range held {
		if held[i], err = c1.Take(bounded(t)); err != nil {
			t.Fatal(err)
		}
	}
	if err := held[2].Release(); err != nil { // out of order: DONE
		t.Fatal(err)
	}
	c1.Close() // the records at 0 and 16 go back
	c2, err := OpenHandle(r.Handle(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	for i, want := range []uint64{0, 16} {
		rec, err := c2.Take(bounded(t))
		if err != nil {
			t.Fatal(err)
		}
		if rec.pos != want {
			t.Fatalf("take %d: record at %d, want %d", i, rec.pos, want)
		}
		defer rec.Release()
	}
	if h := c2.head.Load(); h != 160 {
		t.Errorf("head %d after the second take, want 160: past the DONE record at 32", h)
	}
}
