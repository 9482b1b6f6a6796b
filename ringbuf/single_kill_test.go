package ringbuf_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/process"
	"github.com/shmkit/shmkit/ringbuf"
)

// singleConsumer is the consumer of a SingleConsumer ring in
// TestSingleConsumerKill: it takes one record or a batch of up to 16,
// sometimes a second take before it releases the first (and then releases
// the second first, out of order), blocking or, with an odd a.ID, with
// TryTake and TryTakeBatch in a loop. It checks that messages come in
// order (a.Strict: every consumer is a new process, and a replacement gets
// again, in order, what the one before it did not release).
//
// Book: holding(2·ID) and holding(2·ID+1) are 1 + the indexes of the first
// and the last message it holds (taken, Release not yet returned), set
// before any of them is released and narrowed as soon as a Release
// returns. (Indexes have a gap where a producer was replaced, so the range
// may hold indexes that are no message.)
var singleConsumer = process.MustRegister("ring-single-consumer", func(ctx context.Context, a mpArgs) error {
	r, bk, err := a.open()
	if err != nil {
		return err
	}
	defer r.Close()
	rng := rand.New(rand.NewPCG(uint64(a.ID), uint64(os.Getpid())))
	last := lastSeen(a.Producers)
	type held struct {
		one   ringbuf.Record
		many  ringbuf.Records
		batch bool
		idx   []int // the messages' indexes, in order
	}
	take := func() (h held, err error) {
		max := 1 + rng.IntN(16)
		for {
			if max == 1 {
				var ok bool
				if a.ID%2 == 1 && !r.IsShutdown() {
					h.one, ok = r.TryTake()
				}
				if !ok {
					if a.ID%2 == 1 && !r.IsShutdown() {
						time.Sleep(20 * time.Microsecond)
						continue
					}
					if h.one, err = r.Take(ctx); err != nil {
						return h, err
					}
				}
				idx, err := a.check(h.one.Bytes(), last)
				if err != nil {
					return h, err
				}
				h.idx = []int{idx}
				return h, nil
			}
			h.batch = true
			var ok bool
			if a.ID%2 == 1 && !r.IsShutdown() {
				h.many, ok = r.TryTakeBatch(max)
			}
			if !ok {
				if a.ID%2 == 1 && !r.IsShutdown() {
					time.Sleep(20 * time.Microsecond)
					continue
				}
				if h.many, err = r.TakeBatch(ctx, max); err != nil {
					return h, err
				}
			}
			for i := range h.many.Len() {
				idx, err := a.check(h.many.Bytes(i), last)
				if err != nil {
					return h, err
				}
				h.idx = append(h.idx, idx)
			}
			return h, nil
		}
	}
	release := func(h *held) error {
		if h.batch {
			return h.many.Release()
		}
		return h.one.Release()
	}
	mark := func(idx []int) {
		if len(idx) == 0 {
			bk.holding(2 * a.ID).Store(0)
			return
		}
		bk.holding(2*a.ID + 1).Store(uint32(idx[len(idx)-1] + 1))
		bk.holding(2 * a.ID).Store(uint32(idx[0] + 1))
	}
	for {
		h, err := take()
		if errors.Is(err, ringbuf.ErrShutdown) {
			return nil
		}
		if err != nil {
			return err
		}
		hs := []held{h}
		if rng.IntN(4) == 0 {
			if h2, ok := r.TryTakeBatch(1 + rng.IntN(4)); ok {
				x := held{many: h2, batch: true}
				for i := range h2.Len() {
					idx, err := a.check(h2.Bytes(i), last)
					if err != nil {
						return err
					}
					x.idx = append(x.idx, idx)
				}
				hs = append(hs, x)
			}
		}
		all := h.idx
		if len(hs) == 2 {
			all = append(slices.Clone(h.idx), hs[1].idx...)
		}
		mark(all)
		for _, m := range all {
			bk.taken(m).Add(1)
		}
		if a.Hold && rng.IntN(2) == 0 {
			for t0 := time.Now(); time.Since(t0) < 50*time.Microsecond; {
			}
		}
		if len(hs) == 2 {
			// Out of order: the later take first, then the earlier.
			if err := release(&hs[1]); err != nil {
				return err
			}
			mark(h.idx)
		}
		if err := release(&hs[0]); err != nil {
			return err
		}
		mark(nil)
	}
})

// prodKills counts the producers TestSingleConsumerKill killed.
var prodKills atomic.Int64

// TestSingleConsumerKill SIGKILLs the one consumer of a SingleConsumer
// (and SingleProducer) ring at random moments, in the middle of takes,
// batches and releases, and starts a replacement each time; in half the
// rounds it kills the producer too, mid-claim or mid-commit, and starts
// another that goes on after the messages the first committed (skipping
// 16: the first may have committed a batch of up to 16 without saying
// so). At the end a fresh consumer drains the ring. Each consumer checks
// that messages come in order. Afterwards:
//
//   - no loss: every message whose Commit returned was delivered;
//   - never twice after a Release returned: a message is delivered again
//     only if a killed consumer held it (taken, its Release not returned,
//     as the book says);
//   - nothing stuck: the drain ends, Len is 0, free = head = tail.
//
// Rounds: 8 by default; RINGBUF_SC_KILL_ROUNDS sets more.
func TestSingleConsumerKill(t *testing.T) {
	shmtest.NeedProcesses(t)
	ctx := shmtest.Deadline(t, 120*time.Second)
	rounds := 8
	if n, err := strconv.Atoi(os.Getenv("RINGBUF_SC_KILL_ROUNDS")); err == nil && n > 0 {
		rounds = n
	}
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 11))
	kills, again, held := 0, 0, 0
	for round := range rounds {
		t0 := time.Now()
		k, d, h := singleKillRound(t, ctx, rng, round)
		if el := time.Since(t0); el > time.Second {
			t.Logf("round %d took %v", round, el)
		}
		kills += k
		again += d
		held += h
		if t.Failed() {
			return
		}
	}
	t.Logf("%d rounds, %d consumers and %d producers killed, %d messages delivered again (%d held by a killed consumer)",
		rounds, kills, prodKills.Load(), again, held)
}

func singleKillRound(t *testing.T, ctx context.Context, rng *rand.Rand, round int) (killed, again, held int) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	const each = 4000
	seg := anon(t, 1<<20)
	r, err := ringbuf.New(seg, "", 4096, &ringbuf.Options{Poll: 2 * time.Millisecond, SingleProducer: true, SingleConsumer: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	bk := newBook(t, seg, each)
	args := mpArgs{Ring: r, Book: bk.o, Producers: 1, PerProducer: each, MaxPayload: 100, Poll: 2 * time.Millisecond, Strict: true, Hold: true}
	start := func(f *process.Func[mpArgs], id int) *process.Process {
		a := args
		a.ID = id
		return shmtest.Start(t, ctx, f, a)
	}
	prodFunc := producer
	if rng.IntN(2) == 0 {
		prodFunc = batchProducer
	}
	prod := start(prodFunc, 0)
	allowed := map[int]int{}
	cons := start(singleConsumer, 0)
	id := 0
	kills := []bool{false} // true: the producer
	if rng.IntN(2) == 0 {
		kills = append(kills, false)
	}
	if rng.IntN(2) == 0 {
		kills = append(kills, true)
	}
	rng.Shuffle(len(kills), func(i, j int) { kills[i], kills[j] = kills[j], kills[i] })
	gap := each // the first of the 16 indexes a replaced producer skipped
	for _, killProducer := range kills {
		// A random kill point, by progress: once a random message is
		// taken or committed (or the deadline nears), and a little
		// later. Not one a replaced producer skipped, which may never
		// come.
		m := rng.IntN(each)
		for m >= gap && m < gap+16 {
			m = rng.IntN(each)
		}
		for (!killProducer && bk.taken(m).Load() == 0 || killProducer && bk.committed(m).Load() == 0) && ctx.Err() == nil {
			time.Sleep(100 * time.Microsecond)
		}
		if ctx.Err() != nil {
			// Stuck: what the consumer sees, for whoever debugs it.
			f, h, tl := cursor(t, r, 384), cursor(t, r, 256), cursor(t, r, 128)
			var ws []string
			for p := h &^ 7; p < h+64; p += 8 {
				ws = append(ws, fmt.Sprintf("%d:%#x", p, cursor(t, r, 512+p%4096)))
			}
			t.Errorf("round %d: no progress: free %d, head %d, tail %d; words from head: %v", round, f, h, tl, ws)
		}
		time.Sleep(time.Duration(rng.IntN(500)) * time.Microsecond)
		if killProducer {
			prod.Kill()
			prod.Join(ctx)
			prodKills.Add(1)
			from := 0
			for from < each && bk.committed(from).Load() != 0 {
				from++
			}
			a := args
			a.From, gap = from+16, from
			t.Logf("round %d: producer killed, the next starts at %d", round, a.From)
			prod = shmtest.Start(t, ctx, prodFunc, a)
			continue
		}
		cons.Kill()
		if err := cons.Join(ctx); t.Failed() {
			t.Logf("round %d: consumer %d: %v", round, id, err)
		}
		t.Logf("round %d: consumer %d killed holding %d+%d", round, id, bk.holding(2*id).Load(), bk.holding(2*id+1).Load())
		killed++
		if first, last := int(bk.holding(2*id).Load()), int(bk.holding(2*id+1).Load()); first != 0 {
			for m := first - 1; m < last && m < each; m++ {
				allowed[m]++
				held++
			}
		}
		id++
		cons = start(singleConsumer, id)
	}
	if err := prod.Join(ctx); err != nil {
		cons.Kill()
		t.Fatalf("round %d: producer: %v (consumer %d: %v)", round, err, id, cons.Join(context.Background()))
	}
	if err := r.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := cons.Join(ctx); err != nil {
		t.Fatalf("round %d: consumer %d: %v", round, id, err)
	}
	// The drain: a fresh consumer finds nothing left to take.
	if err := start(singleConsumer, 3).Join(ctx); err != nil {
		t.Fatalf("round %d: drain: %v", round, err)
	}
	lost, dup := 0, 0
	for m := range each {
		n := int(bk.taken(m).Load())
		if bk.committed(m).Load() != 0 && n == 0 {
			if lost++; lost < 5 {
				var around []uint32
				for i := max(m-4, 0); i < min(m+5, each); i++ {
					around = append(around, bk.taken(i).Load(), bk.committed(i).Load())
				}
				t.Errorf("round %d: message %d committed, never delivered; taken, committed from %d: %v", round, m, max(m-4, 0), around)
			}
		}
		again += max(n-1, 0)
		if n > 1+allowed[m] {
			if dup++; dup < 5 {
				t.Errorf("round %d: message %d delivered %d times, allowed %d", round, m, n, 1+allowed[m])
			}
		}
	}
	if n := r.Len(); n != 0 {
		t.Errorf("round %d: Len after the drain = %d", round, n)
	}
	if f, h, tl := cursor(t, r, 384), cursor(t, r, 256), cursor(t, r, 128); f != tl || h != tl {
		t.Errorf("round %d: after the drain free %d, head %d, tail %d; want all equal", round, f, h, tl)
	}
	if t.Failed() {
		t.Logf("round %d: %s", round, fmt.Sprint(allowed))
	}
	return killed, again, held
}
