package ringbuf_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/process"
	"github.com/shmkit/shmkit/ringbuf"
	"github.com/shmkit/shmkit/shm"
)

// TestQueueKillConsumers SIGKILLs consumers at random moments (up to 150
// of them) while one producer puts through a queue with a maxsize,
// starting a fresh consumer for each one killed, then drains what is left
// in the parent.
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
	prod := shmtest.Start(t, ctx, queueProducer, args)
	consumers := make([]*process.Process, 2)
	for i := range consumers {
		consumers[i] = shmtest.Start(t, ctx, queueConsumer, args)
	}
	// At most maxKills: on a loaded machine a consumer may not get far
	// between kills, and the producer must still finish well within the
	// deadline.
	const maxKills = 150
	kills := 0
	for done := false; !done; {
		var next <-chan time.Time
		if kills < maxKills {
			next = time.After(time.Duration(1+rng.IntN(8)) * time.Millisecond)
		}
		select {
		case <-prod.Done():
			done = true
		case <-next:
			i := rng.IntN(len(consumers))
			consumers[i].Kill()
			consumers[i].Join(context.Background())
			kills++
			consumers[i] = shmtest.Start(t, ctx, queueConsumer, args)
		}
	}
	if err := prod.Join(ctx); err != nil {
		t.Fatal(err)
	}
	drained := shutdownAndDrain(t, ctx, q, consumers, args)
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

// killProducer puts its range of messages (producer number a.ID) and marks
// each one in the book's committed words once Put has returned.
var killProducer = process.MustRegister("queue-kill-producer", func(ctx context.Context, a qmpArgs) error {
	defer a.Q.Close()
	bk := book{a.Book, a.Producers * a.PerProducer}
	for s := range a.PerProducer {
		m := seqMsg{Producer: uint32(a.ID), Seq: uint32(s)}
		m.Check = m.check()
		if err := a.Q.Put(ctx, m); err != nil {
			return fmt.Errorf("producer %d seq %d: %w", a.ID, s, err)
		}
		bk.committed(a.ID*a.PerProducer + s).Store(1)
	}
	return nil
})

// TestQueueKillProducersAndConsumers SIGKILLs producers and consumers of
// an unbounded queue at random moments, most of them inside Put or Get,
// starting a fresh one for each killed (a fresh producer takes the next
// producer number, with a range of its own), then drains what is left in
// the parent. A producer marks a message committed after Put returned; a
// consumer records it after Get returned. So:
//
//   - no message is recorded twice;
//   - every message whose Put returned is recorded, except at most one per
//     consumer killed (between Get returning and its record);
//   - a message recorded but not marked committed is the one its producer
//     was putting (or marking) when killed: at most one per producer kill;
//   - each producer's committed messages are a prefix of its range (Put is
//     synchronous and in order);
//   - nothing is stuck: every producer that was not killed finishes, the
//     drain ends and Len is 0.
//
// The bounded run (MaxSize 4) checks besides that no kill lost a place:
// after the producers have finished, the consumers are killed one last
// time, the parent drains the queue and then puts MaxSize messages without
// waiting, and a Put more finds the queue full. (Layout version 1 lost a
// place to each process killed between taking a place and its claim, or
// between a Get's release and giving the place back; four such kills
// wedged this queue.)
func TestQueueKillProducersAndConsumers(t *testing.T) {
	shmtest.NeedProcesses(t)
	t.Run("unbounded", func(t *testing.T) { testQueueKills(t, 0) })
	t.Run("bounded", func(t *testing.T) { testQueueKills(t, 4) })
}

func testQueueKills(t *testing.T, maxSize int) {
	ctx := shmtest.Deadline(t, 90*time.Second)
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 4))
	const (
		incarnations = 40 // producer numbers: producers started in all
		per          = 1000
		running      = 2 // producers and consumers running at a time
	)
	seg := anon(t, 4<<20)
	q, err := ringbuf.NewQueue(seg, "", &ringbuf.QueueOptions[seqMsg]{MaxSize: maxSize, Capacity: 16 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	bk := newBook(t, seg, incarnations*per)
	args := qmpArgs{Q: q, Book: bk.o, Producers: incarnations, PerProducer: per, Lax: true}
	next := 0
	startProducer := func() *process.Process {
		a := args
		a.ID = next
		next++
		return shmtest.Start(t, ctx, killProducer, a)
	}
	var producers []*process.Process
	for range running {
		producers = append(producers, startProducer())
	}
	consumers := make([]*process.Process, running)
	for i := range consumers {
		consumers[i] = shmtest.Start(t, ctx, queueConsumer, args)
	}
	producerKills, consumerKills := 0, 0
	for len(producers) > 0 {
		producers = reapFinished(t, ctx, producers)
		for len(producers) < running && next < incarnations {
			producers = append(producers, startProducer())
		}
		if len(producers) == 0 {
			break
		}
		pauseOrFail(t, ctx, rng)
		if rng.IntN(3) == 0 {
			producers = killOne(producers, rng)
			producerKills++
		} else {
			i := rng.IntN(len(consumers))
			consumers[i].Kill()
			consumers[i].Join(context.Background())
			consumerKills++
			consumers[i] = shmtest.Start(t, ctx, queueConsumer, args)
		}
	}
	if maxSize > 0 {
		for _, c := range consumers {
			c.Kill()
			c.Join(ctx)
		}
		consumers = nil
		checkPlaces(t, ctx, q, maxSize, args)
	}
	drained := shutdownAndDrain(t, ctx, q, consumers, args)
	lost, unmarked, committed := 0, 0, 0
	for p := range incarnations {
		prefix := true
		for s := range per {
			i := p*per + s
			taken, done := bk.taken(i).Load(), bk.committed(i).Load() == 1
			switch {
			case taken > 1:
				t.Fatalf("producer %d seq %d recorded %d times", p, s, taken)
			case done && !prefix:
				t.Fatalf("producer %d: seq %d committed after an uncommitted one", p, s)
			case done && taken == 0:
				lost++
			case !done && taken == 1:
				unmarked++
			}
			if done {
				committed++
			}
			prefix = prefix && done
		}
	}
	if lost > consumerKills {
		t.Fatalf("%d committed messages missing after %d consumer kills; at most one per kill may be", lost, consumerKills)
	}
	if unmarked > producerKills {
		t.Fatalf("%d messages delivered whose Put had not returned, after %d producer kills; at most one per kill may be", unmarked, producerKills)
	}
	if n := q.Len(); n != 0 {
		t.Fatalf("Len() = %d after the drain, want 0", n)
	}
	t.Logf("%d producers and %d consumers killed; %d messages committed, %d lost with killed consumers, %d delivered from producers killed inside Put, %d drained by the parent",
		producerKills, consumerKills, committed, lost, unmarked, drained)
}

// checkPlaces drains q (no consumer runs), recording what it takes in the
// book of a, then checks that every one of its maxSize places is free: as
// many TryPuts succeed, and one more finds the queue full.
func checkPlaces(t *testing.T, ctx context.Context, q *ringbuf.Queue[seqMsg], maxSize int, a qmpArgs) {
	t.Helper()
	bk := book{a.Book, a.Producers * a.PerProducer}
	// A dead producer's claim at the front is skipped after a poll
	// interval: wait well past one before calling the queue empty.
	for {
		gctx, cancel := context.WithTimeout(ctx, time.Second)
		m, err := q.Get(gctx)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if m.Check != m.check() || int(m.Producer) >= a.Producers || int(m.Seq) >= a.PerProducer {
			t.Fatalf("drained a bad message %+v", m)
		}
		bk.taken(int(m.Producer)*a.PerProducer + int(m.Seq)).Add(1)
	}
	for i := range maxSize {
		if err := q.TryPut(seqMsg{}); err != nil {
			t.Fatalf("TryPut %d of %d into the drained queue: %v: a place was lost", i+1, maxSize, err)
		}
	}
	if err := q.TryPut(seqMsg{}); !errors.Is(err, ringbuf.ErrFull) {
		t.Fatalf("TryPut %d into a queue of MaxSize %d = %v, want ErrFull", maxSize+1, maxSize, err)
	}
	for range maxSize {
		if m, err := q.TryGet(); err != nil || m != (seqMsg{}) {
			t.Fatalf("TryGet = %+v, %v; want the zero message", m, err)
		}
	}
}

// killBlockedPut puts two messages of size bytes into q, whose ring has
// room for two only, starts putBlocked(arg), which puts a third and so waits for
// room in its claim, holding q's place lock; once inside says it got that
// far, it kills the child, then takes the two messages back.
func killBlockedPut(t *testing.T, ctx context.Context, q *ringbuf.Queue[[]byte], size int, arg blockedArgs, inside func() bool) {
	t.Helper()
	for range 2 {
		if err := q.Put(ctx, make([]byte, size)); err != nil {
			t.Fatal(err)
		}
	}
	p := shmtest.Start(t, ctx, putBlocked, arg)
	for !inside() {
		if ctx.Err() != nil {
			t.Fatal("the child's Put never got inside")
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // into the claim, most likely
	p.Kill()
	p.Join(ctx)
	for range 2 {
		if _, err := q.Get(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

// putBlocked puts a message of a.Size bytes into a.Q (or a.J, a
// JoinableQueue, which counts its task first), which has no room for it:
// it waits in the ring's claim, holding the place lock, until killed.
var putBlocked = process.MustRegister("queue-put-blocked", func(ctx context.Context, a blockedArgs) error {
	if a.J != nil {
		return a.J.Put(ctx, make([]byte, a.Size))
	}
	return a.Q.Put(ctx, make([]byte, a.Size))
})

type blockedArgs struct {
	Q    *ringbuf.Queue[[]byte]
	J    *ringbuf.JoinableQueue[[]byte]
	Size int
}

// TestQueueDeadPutKeepsNoPlace: a producer killed after it took a place
// and before its claim (here: waiting for room in the ring) leaves the
// place free for the next Puts. Layout version 1 lost it for good.
func TestQueueDeadPutKeepsNoPlace(t *testing.T) {
	shmtest.NeedProcesses(t)
	ctx := shmtest.Deadline(t, 30*time.Second)
	seg := anon(t, 1<<20)
	const maxSize, size = 3, 200 // two messages of 200 B fill a 512-byte ring
	q, err := ringbuf.NewQueue(seg, "", &ringbuf.QueueOptions[[]byte]{MaxSize: maxSize, Capacity: 512})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	// The child has its place once the count says the queue is full.
	killBlockedPut(t, ctx, q, size, blockedArgs{Q: q, Size: size}, q.Full)
	for i := range maxSize {
		if err := q.TryPut([]byte{byte(i)}); err != nil {
			t.Fatalf("TryPut %d of %d after the child died holding a place: %v", i+1, maxSize, err)
		}
	}
	if err := q.TryPut([]byte{9}); !errors.Is(err, ringbuf.ErrFull) {
		t.Fatalf("TryPut %d = %v, want ErrFull", maxSize+1, err)
	}
}

// shutdownAndDrain shuts q down, waits for the consumers to finish, and
// takes what is left itself, recording each message in the book of a (as
// queueConsumer does); it returns how many it took.
func shutdownAndDrain(t *testing.T, ctx context.Context, q *ringbuf.Queue[seqMsg], consumers []*process.Process, a qmpArgs) (drained int) {
	t.Helper()
	if err := q.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	for _, p := range consumers {
		if err := p.Join(ctx); err != nil {
			t.Fatal(err)
		}
	}
	bk := book{a.Book, a.Producers * a.PerProducer}
	for {
		m, err := q.Get(ctx)
		if errors.Is(err, ringbuf.ErrShutdown) {
			return drained
		}
		if err != nil {
			t.Fatal(err)
		}
		if m.Check != m.check() || int(m.Producer) >= a.Producers || int(m.Seq) >= a.PerProducer {
			t.Fatalf("drained a bad message %+v", m)
		}
		bk.taken(int(m.Producer)*a.PerProducer + int(m.Seq)).Add(1)
		drained++
	}
}

// TestJoinableDeadPutFinishes: a producer killed inside Put after it
// counted its task, before its message was committed, leaves no task
// behind: Join returns once the tasks that were put are done. Layout
// version 1 left the count one too high for good.
func TestJoinableDeadPutFinishes(t *testing.T) {
	shmtest.NeedProcesses(t)
	ctx := shmtest.Deadline(t, 30*time.Second)
	seg := anon(t, 1<<20)
	const size = 200 // two fill the 512-byte ring
	q, err := ringbuf.NewJoinableQueue(seg, "", &ringbuf.QueueOptions[[]byte]{Capacity: 512, Ring: ringbuf.Options{Poll: 5 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	killBlockedPut(t, ctx, &q.Queue, size, blockedArgs{J: q, Size: size}, func() bool { return q.Unfinished() == 3 })
	for range 2 {
		if err := q.TaskDone(); err != nil {
			t.Fatal(err)
		}
	}
	jctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := q.Join(jctx); err != nil {
		t.Fatalf("Join after the dead producer's Put = %v, Unfinished %d; want nil", err, q.Unfinished())
	}
	// The lock the child died holding was taken over: Puts go on.
	if err := q.Put(ctx, []byte("next")); err != nil {
		t.Fatal(err)
	}
	if m, err := q.Get(ctx); err != nil || string(m) != "next" {
		t.Fatalf("Get = %q, %v", m, err)
	}
	if err := q.TaskDone(); err != nil {
		t.Fatal(err)
	}
	if err := q.Join(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestJoinableDeadPutWords plays a Put that died holding the place lock by
// writing its words (see the top of queue.go): a dead owner in the lock,
// pending set, and putPos naming its committed message or nothing. A
// committed message's task stays counted until its TaskDone; a task whose
// message was never committed goes.
func TestJoinableDeadPutWords(t *testing.T) {
	for _, committed := range []bool{true, false} {
		t.Run(fmt.Sprintf("committed=%v", committed), func(t *testing.T) {
			ctx := shmtest.Deadline(t, 20*time.Second)
			seg := anon(t, 1<<20)
			q, err := ringbuf.NewJoinableQueue(seg, "q", &ringbuf.QueueOptions[int64]{Capacity: 1024, Ring: ringbuf.Options{Poll: 2 * time.Millisecond}})
			if err != nil {
				t.Fatal(err)
			}
			defer q.Close()
			obj, err := seg.Lookup("q", shm.KindJoinableQueue)
			if err != nil {
				t.Fatal(err)
			}
			defer obj.Close()
			word64 := func(off uint64) *atomic.Uint64 {
				w, err := obj.Payload().Uint64(off)
				if err != nil {
					t.Fatal(err)
				}
				return w
			}
			lock, err := obj.Payload().Uint32(36)
			if err != nil {
				t.Fatal(err)
			}
			putPos := uint64(0)
			if committed {
				if err := q.Put(ctx, 42); err != nil { // the ring's first record: position 0
					t.Fatal(err)
				}
				putPos = 0 + 1
			}
			word64(40).Store(uint64(q.Unfinished()+boolInt(!committed)) | 1<<32)
			word64(48).Store(putPos)
			lock.Store(uint32(deadToken))
			short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
			err = q.Join(short)
			cancel()
			if w := word64(40).Load(); w>>32 != 0 || lock.Load() != 0 {
				t.Fatalf("after Join: tasks %#x, lock %#x; want pending cleared and the lock free", w, lock.Load())
			}
			if !committed {
				if err != nil || q.Unfinished() != 0 {
					t.Fatalf("Join = %v, Unfinished %d; want nil, 0: the task had no message", err, q.Unfinished())
				}
				return
			}
			if !errors.Is(err, context.DeadlineExceeded) || q.Unfinished() != 1 {
				t.Fatalf("Join = %v, Unfinished %d; want it waiting for the committed message's task", err, q.Unfinished())
			}
			if v, err := q.Get(ctx); err != nil || v != 42 {
				t.Fatalf("Get = %d, %v", v, err)
			}
			if err := q.TaskDone(); err != nil {
				t.Fatal(err)
			}
			if err := q.Join(ctx); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

type joinableKillArgs struct {
	Q           *ringbuf.JoinableQueue[seqMsg]
	ID, PerProd int
}

// joinableProducer puts its range of messages (producer number a.ID).
var joinableProducer = process.MustRegister("joinable-kill-producer", func(ctx context.Context, a joinableKillArgs) error {
	defer a.Q.Close()
	for s := range a.PerProd {
		m := seqMsg{Producer: uint32(a.ID), Seq: uint32(s)}
		m.Check = m.check()
		if err := a.Q.Put(ctx, m); err != nil {
			return err
		}
	}
	return nil
})

// joinableConsumer gets messages and finishes each one's task, until the
// queue is shut down.
var joinableConsumer = process.MustRegister("joinable-consumer", func(ctx context.Context, a joinableKillArgs) error {
	defer a.Q.Close()
	for {
		m, err := a.Q.Get(ctx)
		if errors.Is(err, ringbuf.ErrShutdown) {
			return nil
		}
		if err != nil {
			return err
		}
		if m.Check != m.check() {
			return fmt.Errorf("bad message %+v", m)
		}
		if err := a.Q.TaskDone(); err != nil {
			return err
		}
	}
})

// TestJoinableKillProducers SIGKILLs producers of a JoinableQueue at random
// moments, most of them inside Put, while consumers get and finish every
// message. Once no producer is left, Join returns: no killed Put left a
// task behind.
func TestJoinableKillProducers(t *testing.T) {
	shmtest.NeedProcesses(t)
	ctx := shmtest.Deadline(t, 60*time.Second)
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 5))
	const incarnations, per, running = 30, 1000, 2
	seg := anon(t, 4<<20)
	q, err := ringbuf.NewJoinableQueue(seg, "", &ringbuf.QueueOptions[seqMsg]{Capacity: 16 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	args := joinableKillArgs{Q: q, PerProd: per}
	var consumers []*process.Process
	for range running {
		consumers = append(consumers, shmtest.Start(t, ctx, joinableConsumer, args))
	}
	next, kills := 0, 0
	var producers []*process.Process
	for {
		producers = reapFinished(t, ctx, producers)
		for len(producers) < running && next < incarnations {
			a := args
			a.ID = next
			next++
			producers = append(producers, shmtest.Start(t, ctx, joinableProducer, a))
		}
		if len(producers) == 0 {
			break
		}
		pauseOrFail(t, ctx, rng)
		if rng.IntN(2) == 0 {
			producers = killOne(producers, rng)
			kills++
		}
	}
	jc, jcancel := context.WithTimeout(ctx, 20*time.Second)
	defer jcancel()
	if err := q.Join(jc); err != nil {
		t.Fatalf("Join after %d producers were killed: %v (Unfinished %d)", kills, err, q.Unfinished())
	}
	if err := q.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	for _, c := range consumers {
		if err := c.Join(ctx); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d producers killed; Join returned with %d unfinished", kills, q.Unfinished())
}

// reapFinished joins the processes of ps that have exited, failing t if
// one of them failed, and returns the others.
func reapFinished(t *testing.T, ctx context.Context, ps []*process.Process) []*process.Process {
	t.Helper()
	live := ps[:0]
	for _, p := range ps {
		select {
		case <-p.Done():
			if err := p.Join(ctx); err != nil {
				t.Fatal(err)
			}
		default:
			live = append(live, p)
		}
	}
	return live
}

// pauseOrFail waits 2 to 21 ms between two kills, failing t if ctx ends
// first.
func pauseOrFail(t *testing.T, ctx context.Context, rng *rand.Rand) {
	t.Helper()
	select {
	case <-ctx.Done():
		t.Fatal("the producers did not finish within the deadline")
	case <-time.After(time.Duration(2+rng.IntN(20)) * time.Millisecond):
	}
}

// killOne SIGKILLs a process of ps at random, waits for it, and returns
// the others.
func killOne(ps []*process.Process, rng *rand.Rand) []*process.Process {
	i := rng.IntN(len(ps))
	ps[i].Kill()
	ps[i].Join(context.Background())
	return append(ps[:i], ps[i+1:]...)
}
