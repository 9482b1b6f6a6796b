package ringbuf_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/process"
	"github.com/shmkit/shmkit/ringbuf"
)

// TestQueueKillConsumers SIGKILLs consumers at random moments while one
// producer puts through a queue with a maxsize, starting a fresh consumer
// for each one killed, then drains what is left in the parent.
//
// A consumer records a message (adds 1 to taken[m]) after Get returned,
// and Get releases the message before it returns, so:
//
//   - no message is recorded twice: taken[m] ≤ 1 (a consumer killed inside
//     Get had not released it, and it was delivered again, or had, and it
//     was not recorded);
//   - a message is missing only if its consumer was killed between Get
//     returning and the record: at most one per kill;
//   - nothing is stuck: the producer finishes, and the drain ends.
func TestQueueKillConsumers(t *testing.T) {
	ctx := shmtest.Deadline(t, 60*time.Second)
	shmtest.NeedProcesses(t)
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 3))
	const total = 100_000
	seg := anon(t, 4<<20)
	q, err := ringbuf.NewQueue(seg, "", &ringbuf.QueueOptions[seqMsg]{MaxSize: 64, Capacity: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	bk := newBook(t, seg, total)
	args := qmpArgs{Q: q, Book: bk.o, Producers: 1, PerProducer: total, Lax: true}
	prod := startChild(t, ctx, queueProducer, args)
	consumers := make([]*process.Process, 2)
	for i := range consumers {
		consumers[i] = startChild(t, ctx, queueConsumer, args)
	}
	kills := 0
	for done := false; !done; {
		select {
		case <-prod.Done():
			done = true
		case <-time.After(time.Duration(1+rng.IntN(8)) * time.Millisecond):
			i := rng.IntN(len(consumers))
			consumers[i].Kill()
			consumers[i].Join(context.Background())
			kills++
			consumers[i] = startChild(t, ctx, queueConsumer, args)
		}
	}
	if err := prod.Join(ctx); err != nil {
		t.Fatal(err)
	}
	if err := q.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	for _, p := range consumers {
		if err := p.Join(ctx); err != nil {
			t.Fatal(err)
		}
	}
	drained := 0
	for {
		m, err := q.Get(ctx)
		if errors.Is(err, ringbuf.ErrShutdown) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		bk.taken(int(m.Seq)).Add(1)
		drained++
	}
	missing := 0
	for i := range total {
		switch n := bk.taken(i).Load(); {
		case n == 0:
			missing++
		case n > 1:
			t.Fatalf("message %d recorded %d times", i, n)
		}
	}
	if missing > kills {
		t.Fatalf("%d messages missing after %d kills; at most one per kill may be", missing, kills)
	}
	if q.Len() != 0 {
		t.Fatalf("Len() = %d after the drain, want 0", q.Len())
	}
	t.Logf("%d consumers killed; %d messages lost with them (killed after Get returned), %d drained by the parent", kills, missing, drained)
}
