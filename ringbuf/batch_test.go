package ringbuf_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/process"
	"github.com/shmkit/shmkit/ringbuf"
)

// putBatch commits msgs as one batch.
func putBatch(t testing.TB, r *ringbuf.Ring, msgs ...[]byte) {
	t.Helper()
	sizes := make([]int, len(msgs))
	for i, m := range msgs {
		sizes[i] = len(m)
	}
	c, err := r.ClaimBatch(context.Background(), sizes)
	if err != nil {
		t.Fatalf("ClaimBatch(%v) = %v", sizes, err)
	}
	if c.Len() != len(msgs) {
		t.Fatalf("ClaimBatch(%v).Len() = %d", sizes, c.Len())
	}
	for i, m := range msgs {
		copy(c.Bytes(i), m)
	}
	if err := c.Commit(); err != nil {
		t.Fatalf("Commit = %v", err)
	}
}

// getBatch takes up to most records at once.
func getBatch(t testing.TB, r *ringbuf.Ring, most int) [][]byte {
	t.Helper()
	rs, err := r.TakeBatch(context.Background(), most)
	if err != nil {
		t.Fatalf("TakeBatch = %v", err)
	}
	var out [][]byte
	for i := range rs.Len() {
		out = append(out, bytes.Clone(rs.Bytes(i)))
	}
	if err := rs.Release(); err != nil {
		t.Fatalf("Release = %v", err)
	}
	return out
}

func TestBatch(t *testing.T) {
	for _, opts := range []*ringbuf.Options{nil, {SingleProducer: true, SingleConsumer: true}} {
		t.Run(fmt.Sprintf("single=%v", opts != nil), func(t *testing.T) {
			r := newRing(t, 1024, opts)
			putBatch(t, r, []byte("a"), []byte("bb"), nil, []byte("dddddddddd"))
			put(t, r, []byte("single"))
			if got := r.Len(); got != 5 {
				t.Errorf("Len = %d, want 5", got)
			}
			got := getBatch(t, r, 3)
			if want := [][]byte{[]byte("a"), []byte("bb"), {}}; fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("TakeBatch(3) = %q, want %q", got, want)
			}
			got = getBatch(t, r, 10)
			if want := [][]byte{[]byte("dddddddddd"), []byte("single")}; fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("TakeBatch(10) = %q, want %q", got, want)
			}
			if got := r.Len(); got != 0 {
				t.Errorf("Len = %d, want 0", got)
			}
			// A batch taken by Take, one record at a time.
			putBatch(t, r, []byte("x"), []byte("y"))
			if got := get(t, r); string(got) != "x" {
				t.Errorf("Take = %q", got)
			}
			if got := getBatch(t, r, 0); len(got) != 1 || string(got[0]) != "y" {
				t.Errorf("TakeBatch(0) = %q", got)
			}
			// Empty batches.
			c, err := r.ClaimBatch(t.Context(), nil)
			if err != nil || c.Len() != 0 || c.Commit() != nil {
				t.Errorf("ClaimBatch(nil) = %v, %v", c.Len(), err)
			}
			var zc ringbuf.Claims
			var zr ringbuf.Records
			if zc.Commit() != nil || zr.Release() != nil {
				t.Error("zero batches do not commit or release")
			}
		})
	}
}

// TestBatchSameSizeStopsAtLap: a batch of records of one size, taken by a
// single consumer, ends where the lap ends when the first place of the
// next lap still holds a record of that size the consumer has not
// released (the header there is a lap old, not a new one).
func TestBatchSameSizeStopsAtLap(t *testing.T) {
	for _, opts := range []*ringbuf.Options{nil, {SingleProducer: true, SingleConsumer: true}} {
		r := newRing(t, 256, opts)
		const n = 24 // 32 bytes a record: 8 fill the ring
		sizes := []int{n, n, n, n}
		for seq := range 2 {
			c, err := r.ClaimBatch(context.Background(), sizes)
			if err != nil {
				t.Fatal(err)
			}
			for i := range sizes {
				binary.LittleEndian.PutUint32(c.Bytes(i), uint32(4*seq+i))
			}
			if err := c.Commit(); err != nil {
				t.Fatal(err)
			}
		}
		first, ok := r.TryTakeBatch(1) // held: the ring stays full
		if !ok || binary.LittleEndian.Uint32(first.Bytes(0)) != 0 {
			t.Fatalf("%+v: first take %v", opts, ok)
		}
		rest, ok := r.TryTakeBatch(100)
		if !ok {
			t.Fatalf("%+v: nothing after the first", opts)
		}
		if rest.Len() != 7 {
			t.Errorf("%+v: took %d records after the first, want 7", opts, rest.Len())
		}
		for i := range min(rest.Len(), 7) {
			if got := binary.LittleEndian.Uint32(rest.Bytes(i)); got != uint32(i+1) {
				t.Errorf("%+v: record %d of the batch is %d", opts, i, got)
			}
		}
		rest.Release()
		first.Release()
		if _, ok := r.TryTakeBatch(100); ok {
			t.Errorf("%+v: a record after all were taken", opts)
		}
	}
}

// Batches of random sizes around the wrap, taken in batches of random
// sizes, with records given back out of order. RINGBUF_SEED=n repeats the
// run of the seed a failure logs.
func TestBatchWrap(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if v, err := strconv.ParseUint(os.Getenv("RINGBUF_SEED"), 10, 64); err == nil {
		seed = v
	}
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	for _, opts := range []*ringbuf.Options{nil, {SingleProducer: true, SingleConsumer: true}} {
		r := newRing(t, 256, opts)
		var sent, got uint32
		var held []ringbuf.Records
		for range 3000 {
			if rng.IntN(2) == 0 {
				sizes := make([]int, 1+rng.IntN(4))
				for i := range sizes {
					sizes[i] = 4 + rng.IntN(30)
				}
				c, ok := r.TryClaimBatch(sizes)
				if !ok {
					continue
				}
				fillBatch(&c, &sent)
				if err := c.Commit(); err != nil {
					t.Fatal(err)
				}
				continue
			}
			rs, ok := r.TryTakeBatch(1 + rng.IntN(5))
			if ok {
				for i := range rs.Len() {
					b := rs.Bytes(i)
					if n := binary.LittleEndian.Uint32(b); n != got {
						t.Fatalf("opts %+v: record %d, want %d (batch of %d, i %d)", opts, n, got, rs.Len(), i)
					}
					for _, x := range b[4:] {
						if x != byte(got) {
							t.Fatalf("record %d: byte %d", got, x)
						}
					}
					got++
				}
				held = append(held, rs)
			}
			if len(held) > 0 && (rng.IntN(2) == 0 || !ok) {
				i := rng.IntN(len(held))
				if err := held[i].Release(); err != nil {
					t.Fatal(err)
				}
				held = append(held[:i], held[i+1:]...)
			}
		}
		for i := range held {
			held[i].Release()
		}
		if got < 500 {
			t.Errorf("only %d records went round", got)
		}
	}
}

func TestBatchBadInput(t *testing.T) {
	r := newRing(t, 1024, nil)
	half := (r.MaxRecord()+8)/2 - 8 // two records of this size fill an empty ring
	for _, sizes := range [][]int{{-1}, {-1, -1}, {r.MaxRecord() + 1}, {r.MaxRecord(), 0}, {200, 200, 200}, {half + 1, half + 1}} {
		if _, err := r.ClaimBatch(t.Context(), sizes); !errors.Is(err, ringbuf.ErrTooLarge) {
			t.Errorf("ClaimBatch(%v) = %v, want ErrTooLarge", sizes, err)
		}
		if _, ok := r.TryClaimBatch(sizes); ok {
			t.Errorf("TryClaimBatch(%v) succeeded", sizes)
		}
	}
	// The largest batches fit an empty ring.
	for _, sizes := range [][]int{{200, r.MaxRecord() - 208}, {half, half}} {
		c, err := r.ClaimBatch(t.Context(), sizes)
		if err != nil {
			t.Fatalf("ClaimBatch(%v): %v", sizes, err)
		}
		c.Commit()
		if got := getBatch(t, r, 5); len(got) != 2 {
			t.Errorf("took %d records, want 2", len(got))
		}
	}
	// Bytes is nil after Commit and Release, which panic the second time.
	c := must(r.ClaimBatch(t.Context(), []int{1, 1}))
	c.Commit()
	if b := c.Bytes(1); b != nil {
		t.Errorf("Bytes after Commit = %v, want nil", b)
	}
	mustPanic(t, "second Commit", func() { c.Commit() })
	rs := must(r.TakeBatch(t.Context(), 2))
	rs.Release()
	if b := rs.Bytes(1); b != nil {
		t.Errorf("Bytes after Release = %v, want nil", b)
	}
	mustPanic(t, "second Release", func() { rs.Release() })
	mustPanic(t, "Bytes out of range", func() { rs.Bytes(2) })
	r.Shutdown(t.Context())
	if _, err := r.ClaimBatch(t.Context(), []int{1}); !errors.Is(err, ringbuf.ErrShutdown) {
		t.Errorf("ClaimBatch after Shutdown = %v", err)
	}
	if _, err := r.ClaimBatch(t.Context(), nil); !errors.Is(err, ringbuf.ErrShutdown) {
		t.Errorf("ClaimBatch of no records after Shutdown = %v", err)
	}
	if _, ok := r.TryClaimBatch(nil); ok {
		t.Errorf("TryClaimBatch of no records after Shutdown succeeded")
	}
	if _, err := r.TakeBatch(t.Context(), 1); !errors.Is(err, ringbuf.ErrShutdown) {
		t.Errorf("TakeBatch after Shutdown = %v", err)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func mustPanic(t *testing.T, what string, f func()) {
	t.Helper()
	defer func() {
		if recover() == nil {
			t.Errorf("%s did not panic", what)
		}
	}()
	f()
}

// A producer that dies between ClaimBatch and Commit: the whole batch is
// skipped, none of it delivered.
func TestBatchDeadProducerSkipped(t *testing.T) {
	ctx := shmtest.Deadline(t, 10*time.Second)
	r := newRing(t, 1024, fastPoll)
	c, err := r.ClaimBatch(ctx, []int{10, 20, 30}) // at position 0
	if err != nil {
		t.Fatal(err)
	}
	for i := range c.Len() {
		copy(c.Bytes(i), "dead")
	}
	setOwner(t, r, 0, deadToken)
	put(t, r, []byte("after"))
	got := getBatch(t, r, 10)
	if len(got) != 1 || string(got[0]) != "after" {
		t.Errorf("got %q, want only the record after the dead batch", got)
	}
	if err := c.Commit(); !errors.Is(err, ringbuf.ErrCorrupt) {
		t.Errorf("Commit of a batch skipped as dead = %v, want ErrCorrupt", err)
	}
	if c, ok := r.TryClaim(r.MaxRecord()); !ok {
		t.Error("ring space not reclaimed")
	} else {
		c.Commit()
	}
}

// A consumer that dies holding a batch: after it stored head, each record
// is redelivered after a poll; before it stored head, each is taken over
// at head. Either way every record comes back exactly once.
func TestBatchDeadConsumerRedelivered(t *testing.T) {
	for _, beforeHead := range []bool{false, true} {
		ctx := shmtest.Deadline(t, 10*time.Second)
		r := newRing(t, 1024, fastPoll)
		putBatch(t, r, []byte("one"), []byte("two"), []byte("three"))
		rs, err := r.TakeBatch(ctx, 3)
		if err != nil || rs.Len() != 3 {
			t.Fatalf("TakeBatch = %d, %v", rs.Len(), err)
		}
		for _, pos := range []uint64{0, 16, 32} { // 8-byte headers, payloads of up to 8
			setOwner(t, r, pos, deadToken)
		}
		if beforeHead {
			w, err := r.ShmObjects()[0].Payload().Uint64(256) // head
			if err != nil {
				t.Fatal(err)
			}
			w.Store(0)
		}
		put(t, r, []byte("four"))
		seen := map[string]int{}
		for range 4 {
			for _, m := range getBatch(t, r, 4) {
				seen[string(m)]++
			}
			if len(seen) == 4 {
				break
			}
		}
		for _, m := range []string{"one", "two", "three", "four"} {
			if seen[m] != 1 {
				t.Errorf("beforeHead %v: %q delivered %d times (%v)", beforeHead, m, seen[m], seen)
			}
		}
		if err := rs.Release(); !errors.Is(err, ringbuf.ErrCorrupt) {
			t.Errorf("Release of a batch taken over = %v, want ErrCorrupt", err)
		}
		if rec, ok := r.TryTake(); ok {
			t.Errorf("one more record: %q", rec.Bytes())
		}
		if c, ok := r.TryClaim(r.MaxRecord()); !ok {
			t.Error("ring space not reclaimed")
		} else {
			c.Commit()
		}
	}
}

// Producers and consumers in several processes moving sequence-numbered
// messages in batches of random sizes, the message format and book of
// multiprocess_test.go.
var batchProducer = process.MustRegister("ring-batch-producer", func(ctx context.Context, a mpArgs) error {
	r, bk, err := a.open()
	if err != nil {
		return err
	}
	defer r.Close()
	rng := rand.New(rand.NewPCG(uint64(a.ID), uint64(os.Getpid())))
	sizes := make([]int, 0, 16)
	for s := a.From; s < a.PerProducer; {
		sizes = sizes[:0]
		same := rng.IntN(3) == 0 // records of one length: Claims and Records with a stride
		n := 16 + rng.IntN(a.MaxPayload+1)
		for range min(1+rng.IntN(16), a.PerProducer-s) {
			if !same {
				n = 16 + rng.IntN(a.MaxPayload+1)
			}
			sizes = append(sizes, n)
		}
		c, err := r.ClaimBatch(ctx, sizes)
		if err != nil {
			return fmt.Errorf("producer %d seq %d: %w", a.ID, s, err)
		}
		for i, p := range records(&c) {
			fillMessage(p, a.ID, s+i, rng)
		}
		if err := c.Commit(); err != nil {
			return err
		}
		for i := range c.Len() {
			bk.committed(a.ID*a.PerProducer + s + i).Store(1)
		}
		s += c.Len()
	}
	return nil
})

// batchConsumer takes batches of random sizes and records each message;
// with a.Strict it checks order per producer (not in the kill test, where
// a message comes again, out of order, after a consumer was killed holding
// it).
var batchConsumer = process.MustRegister("ring-batch-consumer", func(ctx context.Context, a mpArgs) error {
	r, bk, err := a.open()
	if err != nil {
		return err
	}
	defer r.Close()
	rng := rand.New(rand.NewPCG(uint64(a.ID), uint64(os.Getpid())))
	last := lastSeen(a.Producers)
	for {
		rs, err := r.TakeBatch(ctx, 1+rng.IntN(16))
		if errors.Is(err, ringbuf.ErrShutdown) {
			return nil
		}
		if err != nil {
			return err
		}
		for _, p := range records(&rs) {
			idx, err := a.check(p, last)
			if err != nil {
				return err
			}
			bk.taken(idx).Add(1)
		}
		if err := rs.Release(); err != nil {
			return err
		}
	}
})

// TestBatchProcesses: 2 producers and 2 consumers, batches both ways.
// BATCH_MESSAGES=n sets the messages per producer (default 20000).
func TestBatchProcesses(t *testing.T) {
	shmtest.NeedProcesses(t)
	ctx := shmtest.Deadline(t, 120*time.Second)
	each := 20000
	if s := os.Getenv("BATCH_MESSAGES"); s != "" {
		fmt.Sscan(s, &each)
	}
	const producers, consumers = 2, 2
	seg := anon(t, 1<<20+8*producers*each+1<<16)
	r, err := ringbuf.New(seg, "", 64<<10, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	bk := newBook(t, seg, producers*each)
	var ps, cs []*process.Process
	for i := range producers {
		ps = append(ps, shmtest.Start(t, ctx, batchProducer, mpArgs{Ring: r, Book: bk.o, ID: i, Producers: producers, PerProducer: each, MaxPayload: 100}))
	}
	for i := range consumers {
		cs = append(cs, shmtest.Start(t, ctx, batchConsumer, mpArgs{Ring: r, Book: bk.o, ID: i, Producers: producers, PerProducer: each, Strict: true}))
	}
	for _, p := range ps {
		if err := p.Join(ctx); err != nil {
			t.Errorf("producer: %v", err)
		}
	}
	if err := r.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	for _, p := range cs {
		if err := p.Join(ctx); err != nil {
			t.Errorf("consumer: %v", err)
		}
	}
	for i := range producers * each {
		if n := bk.taken(i).Load(); n != 1 {
			t.Fatalf("message %d delivered %d times", i, n)
		}
	}
}

// With SingleProducer a claim is invisible until its Commit: consumers do
// not wait for it, and a producer that dies with it open (played here by
// dropping its handle) leaves nothing behind; the next producer claims
// over it.
func TestSingleProducerOpenClaim(t *testing.T) {
	ctx := shmtest.Deadline(t, 10*time.Second)
	r := newRing(t, 1024, &ringbuf.Options{SingleProducer: true, SingleConsumer: true})
	c, err := r.ClaimBatch(ctx, []int{10, 10})
	if err != nil {
		t.Fatal(err)
	}
	copy(c.Bytes(0), "lost")
	if _, ok := r.TryTake(); ok {
		t.Fatal("took an open claim")
	}
	if r.Len() != 0 {
		t.Errorf("Len = %d", r.Len())
	}
	next, err := ringbuf.OpenHandle(r.Handle(), nil) // the next producer
	if err != nil {
		t.Fatal(err)
	}
	defer next.Close()
	put(t, next, []byte("next"))
	if got := get(t, r); string(got) != "next" {
		t.Errorf("got %q, want the next producer's record", got)
	}
	// An open claim made visible by a later commit is taken in order.
	c1 := must(r.Claim(ctx, 3))
	copy(c1.Bytes(), "one")
	put(t, r, []byte("two"))
	if _, ok := r.TryTake(); ok {
		t.Fatal("took past an open claim")
	}
	c1.Commit()
	if a, b := get(t, r), get(t, r); string(a) != "one" || string(b) != "two" {
		t.Errorf("got %q, %q", a, b)
	}
	// Shutdown publishes open claims, which are delivered once committed.
	c2 := must(r.Claim(ctx, 5))
	copy(c2.Bytes(), "three")
	r.Shutdown(ctx)
	done := make(chan []byte, 1)
	go func() { done <- get(t, r) }()
	mustBlock(t, done)
	c2.Commit()
	if got := <-done; string(got) != "three" {
		t.Errorf("got %q after Shutdown", got)
	}
}

// TestNoLostWakeups: producers and consumers that sleep at once (no spin)
// and would sleep for a minute if nobody woke them, on a ring small enough
// that both sides wait all the time, some with batches. A lost wake-up
// shows as a stall past the deadline.
func TestNoLostWakeups(t *testing.T) {
	ctx, cancel := context.WithCancel(shmtest.Deadline(t, 60*time.Second))
	defer cancel()
	const producers, consumers, each = 4, 4, 3000
	r := newRing(t, 256, &ringbuf.Options{Spin: -1, Poll: time.Minute})
	errs := make(chan error, producers+consumers)
	var got [producers * each]atomic.Int32
	for p := range producers {
		go func() {
			sizes := []int{8, 8, 8}
			for s := 0; s < each; {
				if p%2 == 0 || each-s < len(sizes) {
					c, err := r.Claim(ctx, 8)
					if err != nil {
						errs <- err
						return
					}
					binary.LittleEndian.PutUint64(c.Bytes(), uint64(p*each+s))
					c.Commit()
					s++
					continue
				}
				c, err := r.ClaimBatch(ctx, sizes)
				if err != nil {
					errs <- err
					return
				}
				for i := range c.Len() {
					binary.LittleEndian.PutUint64(c.Bytes(i), uint64(p*each+s+i))
				}
				c.Commit()
				s += c.Len()
			}
			errs <- nil
		}()
	}
	var left atomic.Int64
	left.Store(producers * each)
	for c := range consumers {
		go func() {
			for left.Load() > 0 {
				rs, err := r.TakeBatch(ctx, 1+c%3)
				if err != nil {
					if errors.Is(err, ringbuf.ErrShutdown) {
						break
					}
					errs <- err
					return
				}
				for i := range rs.Len() {
					got[binary.LittleEndian.Uint64(rs.Bytes(i))].Add(1)
				}
				left.Add(-int64(rs.Len()))
				rs.Release()
			}
			errs <- nil
		}()
	}
	// Every goroutine returns before the test does (and the ring is
	// closed): on the first error, the others are cancelled.
	var first error
	for range producers {
		if err := <-errs; err != nil && first == nil {
			first = fmt.Errorf("producer: %w", err)
			cancel()
		}
	}
	for left.Load() > 0 && ctx.Err() == nil {
		time.Sleep(time.Millisecond)
	}
	r.Shutdown(context.Background()) // wakes the consumers that wait for more
	for range consumers {
		if err := <-errs; err != nil && first == nil {
			first = fmt.Errorf("consumer: %w", err)
		}
	}
	if first != nil {
		t.Fatalf("%v (a lost wake-up?)", first)
	}
	for i := range got {
		if n := got[i].Load(); n != 1 {
			t.Fatalf("message %d delivered %d times", i, n)
		}
	}
}

// TestBatchKill SIGKILLs batch producers and consumers at random moments:
// every message whose batch's Commit returned is delivered, and a message
// is delivered twice only if a consumer was killed holding it (at most 16
// per killed consumer). BATCH_KILL_ROUNDS=n runs n rounds (default 6).
func TestBatchKill(t *testing.T) {
	shmtest.NeedProcesses(t)
	ctx := shmtest.Deadline(t, 120*time.Second)
	rounds := 6
	if s := os.Getenv("BATCH_KILL_ROUNDS"); s != "" {
		fmt.Sscan(s, &rounds)
	}
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 7))
	for round := range rounds {
		batchKillRound(t, ctx, rng, round)
	}
}

func batchKillRound(t *testing.T, ctx context.Context, rng *rand.Rand, round int) {
	const producers, consumers, each = 2, 2, 2000
	seg := anon(t, 1<<20)
	r, err := ringbuf.New(seg, "", 4096, &ringbuf.Options{Poll: 2 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	bk := newBook(t, seg, producers*each)
	args := mpArgs{Ring: r, Book: bk.o, Producers: producers, PerProducer: each, MaxPayload: 100, Poll: 2 * time.Millisecond}
	type child struct {
		p        *process.Process
		consumer bool
		killed   bool
	}
	var kids []*child
	start := func(f *process.Func[mpArgs], id int, cons bool) *child {
		a := args
		a.ID = id
		k := &child{p: shmtest.Start(t, ctx, f, a), consumer: cons}
		kids = append(kids, k)
		return k
	}
	for i := range consumers {
		start(batchConsumer, i, true)
	}
	for i := range producers {
		start(batchProducer, i, false)
	}
	consumerKills := 0
	for range 1 + rng.IntN(2) {
		time.Sleep(time.Duration(rng.IntN(20000)) * time.Microsecond) // a random kill point, not an ordering
		k := kids[rng.IntN(len(kids))]
		if k.killed {
			continue
		}
		k.p.Kill()
		k.p.Join(ctx)
		k.killed = true
		if k.consumer {
			consumerKills++
			start(batchConsumer, consumers+consumerKills, true)
		}
	}
	for _, k := range kids {
		if !k.consumer && !k.killed {
			if err := k.p.Join(ctx); err != nil {
				t.Fatalf("round %d: producer: %v", round, err)
			}
		}
	}
	if err := r.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	for _, k := range kids {
		if k.consumer && !k.killed {
			if err := k.p.Join(ctx); err != nil {
				t.Fatalf("round %d: consumer: %v", round, err)
			}
		}
	}
	// The drain: a fresh consumer takes what dead consumers left.
	if err := start(batchConsumer, 9, true).p.Join(ctx); err != nil {
		t.Fatalf("round %d: drain: %v", round, err)
	}
	lost, twice := 0, 0
	for m := range producers * each {
		n := int(bk.taken(m).Load())
		if bk.committed(m).Load() != 0 && n == 0 {
			lost++
		}
		twice += max(n-1, 0)
	}
	if lost > 0 {
		t.Errorf("round %d: %d committed messages never delivered", round, lost)
	}
	if twice > 16*consumerKills {
		t.Errorf("round %d: %d deliveries again after %d consumer kills (at most 16 each)", round, twice, consumerKills)
	}
	if n := r.Len(); n != 0 {
		t.Errorf("round %d: Len after the drain = %d", round, n)
	}
	if f, h, tl := cursor(t, r, 384), cursor(t, r, 256), cursor(t, r, 128); f != tl || h != tl {
		t.Errorf("round %d: after the drain free %d, head %d, tail %d; want all equal", round, f, h, tl)
	}
}
