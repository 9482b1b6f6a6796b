package ringbuf_test

import (
	"context"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/process"
	"github.com/shmkit/shmkit/ringbuf"
)

// TestKill SIGKILLs producers and consumers at random moments while the
// others go on, over many rounds, and then checks what can be checked
// exactly.
//
// Bookkeeping (see mpArgs): a producer sets committed[m] after Commit
// returns; a consumer stores holding = m+1, adds 1 to taken[m], then
// releases, then clears holding. So:
//
//   - No loss: committed[m] set ⇒ taken[m] ≥ 1. A consumer killed before
//     it recorded m also did not release it, so m is delivered again, and
//     the final drain by a fresh consumer takes whatever dead consumers
//     left.
//   - No duplicate beyond a crash: a consumer that recorded m and was
//     killed before clearing holding may or may not have released m; if it
//     had not, m is delivered again and recorded twice. So taken[m] ≤ 1 +
//     the number of killed consumers whose holding was m+1. Any other
//     second delivery is a bug.
//   - Nothing stuck: the drain ends (Take returns ErrShutdown) within the
//     test's deadline, every record is released (Len is 0), and the whole
//     ring can be claimed again (free has caught up with tail).
//
// Messages a producer committed but did not get to mark (killed between
// Commit returning and the store) may be delivered unmarked: they are
// checked for duplicates only.
//
// Rounds: 30 by default; RINGBUF_KILL_ROUNDS sets more.
func TestKill(t *testing.T) {
	ctx := shmtest.Deadline(t, 240*time.Second)
	shmtest.NeedProcesses(t)
	rounds := 30
	if n, err := strconv.Atoi(os.Getenv("RINGBUF_KILL_ROUNDS")); err == nil && n > 0 {
		rounds = n
	}
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 2))
	start := time.Now()
	kills, redelivered := 0, 0
	for round := range rounds {
		k, d := killRound(t, ctx, rng, round)
		kills += k
		redelivered += d
		if t.Failed() {
			return
		}
	}
	t.Logf("%d rounds, %d processes killed, %d messages recorded twice (a consumer killed holding them), in %v",
		rounds, kills, redelivered, time.Since(start))
}

func killRound(t *testing.T, ctx context.Context, rng *rand.Rand, round int) (killed, redelivered int) {
	const producers, consumers, each = 2, 2, 3000
	seg := anon(t, 1<<20)
	// A small ring, so that producers wait for space and claims wrap.
	r, err := ringbuf.New(seg, "", 4096, &ringbuf.Options{Poll: 2 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	bk := newBook(t, seg, producers*each)
	args := mpArgs{Ring: r, Book: bk.o, Producers: producers, PerProducer: each, MaxPayload: 300, Poll: 2 * time.Millisecond, Hold: true}
	type child struct {
		p        *process.Process
		consumer bool
		id       int
		killed   bool
	}
	var kids []*child
	startChild := func(f *process.Func[mpArgs], id int, cons bool) {
		a := args
		a.ID = id
		kids = append(kids, &child{p: shmtest.Start(t, ctx, f, a), consumer: cons, id: id})
	}
	for i := range consumers {
		startChild(consumer, i, true)
	}
	for i := range producers {
		startChild(producer, i, false)
	}
	// Kill one or two children at random moments; a killed consumer is
	// replaced, so that the producers can finish.
	allowance := map[int]int{}
	for range 1 + rng.IntN(2) {
		time.Sleep(time.Duration(rng.IntN(30000)) * time.Microsecond) // a random kill point, not an ordering
		k := kids[rng.IntN(len(kids))]
		if k.killed {
			continue
		}
		k.p.Kill()
		k.p.Join(ctx)
		k.killed = true
		killed++
		if k.consumer {
			if h := bk.holding(k.id).Load(); h != 0 {
				allowance[int(h)-1]++
			}
			bk.holding(k.id).Store(0)
			startChild(consumer, consumers+killed, true)
		}
	}
	for _, k := range kids {
		if !k.consumer && !k.killed {
			if err := k.p.Join(ctx); err != nil {
				t.Fatalf("round %d: producer %d: %v", round, k.id, err)
			}
		}
	}
	if err := r.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	for _, k := range kids {
		if k.consumer && !k.killed {
			if err := k.p.Join(ctx); err != nil {
				t.Fatalf("round %d: consumer %d: %v", round, k.id, err)
			}
		}
	}
	// The drain: a fresh consumer takes what dead consumers left.
	startChild(consumer, 7, true)
	if err := kids[len(kids)-1].p.Join(ctx); err != nil {
		t.Fatalf("round %d: drain: %v", round, err)
	}
	lost, dup := 0, 0
	for m := range producers * each {
		n := int(bk.taken(m).Load())
		if bk.committed(m).Load() != 0 && n == 0 {
			lost++
			if lost < 5 {
				t.Errorf("round %d: message %d committed, never delivered", round, m)
			}
		}
		if n > 1 {
			redelivered++
		}
		if n > 1+allowance[m] {
			dup++
			if dup < 5 {
				t.Errorf("round %d: message %d delivered %d times (allowed %d)", round, m, n, 1+allowance[m])
			}
		}
	}
	if n := r.Len(); n != 0 {
		t.Errorf("round %d: Len after the drain = %d", round, n)
	}
	if f, h, tl := cursor(t, r, 384), cursor(t, r, 256), cursor(t, r, 128); f != tl || h != tl {
		t.Errorf("round %d: after the drain free %d, head %d, tail %d; want all equal; header at free %#x",
			round, f, h, tl, cursor(t, r, 512+f%4096))
	}
	return killed, redelivered
}

// cursor loads the control word at off of r's payload (see ring.go).
func cursor(t *testing.T, r *ringbuf.Ring, off uint64) uint64 {
	w, err := r.ShmObjects()[0].Payload().Uint64(off)
	if err != nil {
		t.Fatal(err)
	}
	return w.Load()
}
