package ringbuf_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/process"
	"github.com/shmkit/shmkit/ringbuf"
	"github.com/shmkit/shmkit/shm"
)

// Messages: producer<<32 | seq (8 bytes), the FNV-64a of the rest (8
// bytes), then 0 to MaxPayload random bytes.
//
// The book is a row of uint32 words in shared memory, for the parent to
// check after the children are gone:
//
//	[0, total)          taken: how many consumers recorded the message
//	[total, 2·total)    committed: set by the producer once Commit returned
//	[2·total, +8)       holding: per consumer, index+1 of the message it
//	                    holds between recording it and Release returning
type mpArgs struct {
	Ring        *ringbuf.Ring
	Book        *shm.Object
	ID          int // producer number, or consumer number
	Producers   int
	PerProducer int
	MaxPayload  int
	Poll        time.Duration
	Strict      bool // check order per producer (no consumer is killed)
	Hold        bool // hold one record in 8 for 50µs before Release: a wider window for kills
	From        int  // a producer's first sequence number (one that replaces a killed one)
}

type book struct {
	o     *shm.Object
	total int
}

func (b book) word(i int) *atomic.Uint32 {
	w, err := b.o.Payload().Uint32(uint64(4 * i))
	if err != nil {
		panic(err)
	}
	return w
}
func (b book) taken(i int) *atomic.Uint32     { return b.word(i) }
func (b book) committed(i int) *atomic.Uint32 { return b.word(b.total + i) }
func (b book) holding(c int) *atomic.Uint32   { return b.word(2*b.total + c) }

func newBook(t testing.TB, seg *shm.Segment, total int) book {
	o, err := seg.AllocBytes("", 4*(2*total+8))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	return book{o, total}
}

func (a mpArgs) open() (*ringbuf.Ring, book, error) {
	r, err := ringbuf.OpenHandle(a.Ring.Handle(), &ringbuf.Options{Poll: a.Poll})
	return r, book{a.Book, a.Producers * a.PerProducer}, err
}

func checksum(b []byte) uint64 {
	h := fnv.New64a()
	h.Write(b)
	return h.Sum64()
}

var producer = process.MustRegister("ring-producer", func(ctx context.Context, a mpArgs) error {
	r, bk, err := a.open()
	if err != nil {
		return err
	}
	defer r.Close()
	rng := rand.New(rand.NewPCG(uint64(a.ID), uint64(os.Getpid())))
	for s := a.From; s < a.PerProducer; s++ {
		n := 16 + rng.IntN(a.MaxPayload+1)
		c, err := r.Claim(ctx, n)
		if err != nil {
			return fmt.Errorf("producer %d seq %d: %w", a.ID, s, err)
		}
		fillMessage(c.Bytes(), a.ID, s, rng)
		if err := c.Commit(); err != nil {
			return err
		}
		bk.committed(a.ID*a.PerProducer + s).Store(1)
	}
	return nil
})

var consumer = process.MustRegister("ring-consumer", func(ctx context.Context, a mpArgs) error {
	r, bk, err := a.open()
	if err != nil {
		return err
	}
	defer r.Close()
	last := lastSeen(a.Producers)
	for {
		rec, err := r.Take(ctx)
		if errors.Is(err, ringbuf.ErrShutdown) {
			return nil
		}
		if err != nil {
			return err
		}
		idx, err := a.check(rec.Bytes(), last)
		if err != nil {
			return err
		}
		bk.holding(a.ID).Store(uint32(idx + 1))
		bk.taken(idx).Add(1)
		if a.Hold && idx%a.PerProducer%8 == 0 { // seq%8
			for t0 := time.Now(); time.Since(t0) < 50*time.Microsecond; {
			}
		}
		if err := rec.Release(); err != nil {
			return err
		}
		bk.holding(a.ID).Store(0)
	}
})

// fillMessage writes message seq of producer id into b (at least 16
// bytes): the id word, the checksum of the rest, and random bytes.
func fillMessage(b []byte, id, seq int, rng *rand.Rand) {
	binary.LittleEndian.PutUint64(b, uint64(id)<<32|uint64(seq))
	for i := 16; i < len(b); i++ {
		b[i] = byte(rng.Uint32())
	}
	binary.LittleEndian.PutUint64(b[8:], checksum(b[16:]))
}

// check checks a message consumer a.ID took: intact, in range, and with
// a.Strict in order per producer after the last ones seen (last, updated).
// It returns the message's index in the book. (A record redelivered after
// its consumer died comes after later ones: the kill tests do not check
// order.)
func (a mpArgs) check(b []byte, last []int) (idx int, err error) {
	if len(b) < 16 || binary.LittleEndian.Uint64(b[8:]) != checksum(b[16:]) {
		return 0, fmt.Errorf("consumer %d: bad message of %d bytes", a.ID, len(b))
	}
	id := binary.LittleEndian.Uint64(b)
	p, s := int(id>>32), int(uint32(id))
	if p >= a.Producers || s >= a.PerProducer {
		return 0, fmt.Errorf("consumer %d: message %#x out of range", a.ID, id)
	}
	if a.Strict && s <= last[p] {
		return 0, fmt.Errorf("consumer %d: producer %d seq %d after %d", a.ID, p, s, last[p])
	}
	last[p] = max(last[p], s)
	return p*a.PerProducer + s, nil
}

// lastSeen is a consumer's record for check: no message seen yet.
func lastSeen(producers int) []int {
	last := make([]int, producers)
	for i := range last {
		last[i] = -1
	}
	return last
}

// runProducersConsumers moves producers×each messages through a ring from
// producer processes to consumer processes and checks that every message
// arrives exactly once, intact, and in order per producer at each consumer.
func runProducersConsumers(t *testing.T, producers, consumers, each int, opts *ringbuf.Options) {
	ctx := shmtest.Deadline(t, 120*time.Second)
	shmtest.NeedProcesses(t)
	seg := anon(t, 1<<20+8*producers*each) // the ring and the book
	r, err := ringbuf.New(seg, "", 64<<10, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	bk := newBook(t, seg, producers*each)
	args := mpArgs{Ring: r, Book: bk.o, Producers: producers, PerProducer: each, MaxPayload: 200, Strict: true}
	start := time.Now()
	var ps, cs []*process.Process
	for i := range consumers {
		a := args
		a.ID = i
		p := shmtest.Start(t, ctx, consumer, a)
		cs = append(cs, p)
	}
	for i := range producers {
		a := args
		a.ID = i
		p := shmtest.Start(t, ctx, producer, a)
		ps = append(ps, p)
	}
	for _, p := range ps {
		if err := p.Join(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	for _, p := range cs {
		if err := p.Join(ctx); err != nil {
			t.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	// Nobody died: the counts behind Len are exact.
	if c, k := cursor(t, r, 152), cursor(t, r, 280); c != uint64(producers*each) || k != c {
		t.Errorf("committed %d, taken %d, want both %d", c, k, producers*each)
	}
	for i := range producers * each {
		if n := bk.taken(i).Load(); n != 1 {
			t.Fatalf("message %d (producer %d seq %d) delivered %d times", i, i/each, i%each, n)
		}
	}
	t.Logf("%d→%d: %d messages in %v (%.0f k msg/s, process start included)", producers, consumers,
		producers*each, elapsed, float64(producers*each)/elapsed.Seconds()/1e3)
}

// Message counts: 1 000 000 per test (about 12 s under -race here);
// RINGBUF_MESSAGES sets another count, e.g. 10000 while working on the ring.
func messages() int {
	if n, err := strconv.Atoi(os.Getenv("RINGBUF_MESSAGES")); err == nil && n > 0 {
		return n
	}
	return 1_000_000
}

func TestOneToOne(t *testing.T)   { runProducersConsumers(t, 1, 1, messages(), nil) }
func TestFourToOne(t *testing.T)  { runProducersConsumers(t, 4, 1, messages()/4, nil) }
func TestOneToFour(t *testing.T)  { runProducersConsumers(t, 1, 4, messages(), nil) }
func TestFourToFour(t *testing.T) { runProducersConsumers(t, 4, 4, messages()/4, nil) }

// TestOneToOneSingle: the same through a ring made for one producer and
// one consumer, which skips the claim locks.
func TestOneToOneSingle(t *testing.T) {
	runProducersConsumers(t, 1, 1, messages(), &ringbuf.Options{SingleProducer: true, SingleConsumer: true})
}

// TestOneToFourSingleProducer: SingleProducer alone, where the store of
// tail is the publication and consumers go by tail.
func TestOneToFourSingleProducer(t *testing.T) {
	runProducersConsumers(t, 1, 4, messages()/4, &ringbuf.Options{SingleProducer: true})
}

// TestFourToOneSingleConsumer: SingleConsumer alone, with producers that
// take the claim lock and a consumer that goes by headers.
func TestFourToOneSingleConsumer(t *testing.T) {
	runProducersConsumers(t, 4, 1, messages()/4, &ringbuf.Options{SingleConsumer: true})
}
