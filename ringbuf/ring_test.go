package ringbuf_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/ringbuf"
	"github.com/shmkit/shmkit/semaphore"
	"github.com/shmkit/shmkit/shm"
)

func TestMain(m *testing.M) { shmtest.Main(m) }

// anon returns an anonymous segment closed at the end of the test.
func anon(t testing.TB, size int) *shm.Segment {
	t.Helper()
	s, err := shm.New(size, &shm.Options{Slots: 16})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// newRing makes a ring of capacity bytes in its own segment.
func newRing(t testing.TB, capacity int, opts *ringbuf.Options) *ringbuf.Ring {
	t.Helper()
	r, err := ringbuf.New(anon(t, capacity+1<<16), "", capacity, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func put(t testing.TB, r *ringbuf.Ring, msg []byte) {
	t.Helper()
	c, err := r.Claim(context.Background(), len(msg))
	if err != nil {
		t.Fatalf("Claim(%d) = %v", len(msg), err)
	}
	copy(c.Bytes(), msg)
	if err := c.Commit(); err != nil {
		t.Fatalf("Commit = %v", err)
	}
}

func get(t testing.TB, r *ringbuf.Ring) []byte {
	t.Helper()
	rec, err := r.Take(context.Background())
	if err != nil {
		t.Fatalf("Take = %v", err)
	}
	b := bytes.Clone(rec.Bytes())
	if err := rec.Release(); err != nil {
		t.Fatalf("Release = %v", err)
	}
	return b
}

func TestBasic(t *testing.T) {
	r := newRing(t, 1024, nil)
	if r.Cap() != 1024 || r.MaxRecord() != 504 {
		t.Errorf("Cap, MaxRecord = %d, %d, want 1024, 504", r.Cap(), r.MaxRecord())
	}
	if _, ok := r.TryTake(); ok {
		t.Fatal("TryTake on an empty ring succeeded")
	}
	put(t, r, []byte("hello"))
	put(t, r, nil)
	put(t, r, []byte("world!!!!"))
	if n := r.Len(); n != 3 {
		t.Errorf("Len = %d, want 3", n)
	}
	for _, want := range []string{"hello", "", "world!!!!"} {
		if got := get(t, r); string(got) != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
	if n := r.Len(); n != 0 {
		t.Errorf("Len = %d, want 0", n)
	}
}

// TestWrap sends records of random sizes through a small ring, so that
// claims pad at the wrap, with a random number in flight.
func TestWrap(t *testing.T) {
	for _, opts := range []*ringbuf.Options{nil, {SingleProducer: true, SingleConsumer: true}} {
		seed := rand.Uint64()
		t.Logf("seed %d", seed)
		rng := rand.New(rand.NewPCG(seed, 1))
		r := newRing(t, 256, opts)
		var model [][]byte
		for i := range 20000 {
			if rng.IntN(2) == 0 {
				msg := make([]byte, rng.IntN(r.MaxRecord()+1))
				for j := range msg {
					msg[j] = byte(rng.Uint32())
				}
				c, ok := r.TryClaim(len(msg))
				if !ok {
					continue
				}
				copy(c.Bytes(), msg)
				if err := c.Commit(); err != nil {
					t.Fatal(err)
				}
				model = append(model, msg)
				continue
			}
			rec, ok := r.TryTake()
			if ok != (len(model) > 0) {
				t.Fatalf("step %d: TryTake ok = %v with %d in the model", i, ok, len(model))
			}
			if !ok {
				continue
			}
			if !bytes.Equal(rec.Bytes(), model[0]) {
				t.Fatalf("step %d: got %d bytes, want %d", i, rec.Len(), len(model[0]))
			}
			model = model[1:]
			if err := rec.Release(); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestFullBlocks(t *testing.T) {
	r := newRing(t, 256, nil)
	n := 0
	for {
		c, ok := r.TryClaim(24) // 32 bytes a record
		if !ok {
			break
		}
		c.Commit()
		n++
	}
	if n != 8 {
		t.Errorf("%d records of 32 bytes fit a ring of 256", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := r.Claim(ctx, 24); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Claim on a full ring = %v, want DeadlineExceeded", err)
	}
	done := make(chan error, 1)
	go func() {
		c, err := r.Claim(context.Background(), 24)
		if err == nil {
			err = c.Commit()
		}
		done <- err
	}()
	mustBlock(t, done)
	get(t, r)
	if err := <-done; err != nil {
		t.Errorf("Claim after a Release = %v", err)
	}
}

func TestEmptyBlocks(t *testing.T) {
	r := newRing(t, 256, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := r.Take(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Take on an empty ring = %v, want DeadlineExceeded", err)
	}
	done := make(chan []byte, 1)
	go func() { done <- get(t, r) }()
	mustBlock(t, done)
	put(t, r, []byte("x"))
	if got := <-done; string(got) != "x" {
		t.Errorf("got %q", got)
	}
}

// mustBlock fails if ch delivers within a quiet period (as lockedfile's
// tests do): it checks that a call blocks, not how long it takes to unblock.
func mustBlock[T any](t *testing.T, ch <-chan T) {
	t.Helper()
	select {
	case v := <-ch:
		t.Fatalf("call returned %v; want it to block", v)
	case <-time.After(30 * time.Millisecond):
	}
}

func TestBadInput(t *testing.T) {
	seg := anon(t, 1<<20)
	for _, c := range []int{0, -64, 63, 100, 1 << 41} {
		if _, err := ringbuf.New(seg, "", c, nil); !errors.Is(err, shm.ErrSize) {
			t.Errorf("New(capacity %d) = %v, want ErrSize", c, err)
		}
	}
	r := newRing(t, 1024, nil)
	for _, n := range []int{-1, 505, 1 << 30} {
		if _, err := r.Claim(context.Background(), n); !errors.Is(err, ringbuf.ErrTooLarge) {
			t.Errorf("Claim(%d) = %v, want ErrTooLarge", n, err)
		}
		if _, ok := r.TryClaim(n); ok {
			t.Errorf("TryClaim(%d) succeeded", n)
		}
	}
	if _, err := ringbuf.New(nil, "named", 1024, nil); !errors.Is(err, shm.ErrName) {
		t.Errorf("New(nil, named) = %v, want ErrName", err)
	}
}

func TestShutdown(t *testing.T) {
	r := newRing(t, 1024, nil)
	put(t, r, []byte("a"))
	c, err := r.Claim(context.Background(), 1) // claimed before Shutdown
	if err != nil {
		t.Fatal(err)
	}
	waiting := make(chan error, 1)
	full := newRing(t, 64, nil)
	put(t, full, make([]byte, 24))
	put(t, full, make([]byte, 16))
	go func() { _, err := full.Claim(context.Background(), 24); waiting <- err }()
	mustBlock(t, waiting)
	if err := full.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := <-waiting; !errors.Is(err, ringbuf.ErrShutdown) {
		t.Errorf("Claim waiting at Shutdown = %v, want ErrShutdown", err)
	}

	if err := r.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !r.IsShutdown() {
		t.Error("IsShutdown = false")
	}
	if _, err := r.Claim(context.Background(), 1); !errors.Is(err, ringbuf.ErrShutdown) {
		t.Errorf("Claim after Shutdown = %v, want ErrShutdown", err)
	}
	if got := get(t, r); string(got) != "a" {
		t.Errorf("got %q", got)
	}
	// The claim made before Shutdown is delivered once committed.
	taken := make(chan []byte, 1)
	go func() { taken <- get(t, r) }()
	mustBlock(t, taken)
	c.Bytes()[0] = 'b'
	c.Commit()
	if got := <-taken; string(got) != "b" {
		t.Errorf("got %q", got)
	}
	if _, err := r.Take(context.Background()); !errors.Is(err, ringbuf.ErrShutdown) {
		t.Errorf("Take on a drained shut ring = %v, want ErrShutdown", err)
	}
}

func TestClose(t *testing.T) {
	r, err := ringbuf.New(nil, "", 1024, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); !errors.Is(err, ringbuf.ErrClosed) {
		t.Errorf("second Close = %v", err)
	}
	if _, err := r.Claim(context.Background(), 1); !errors.Is(err, ringbuf.ErrClosed) {
		t.Errorf("Claim after Close = %v", err)
	}
	if _, err := r.Take(context.Background()); !errors.Is(err, ringbuf.ErrClosed) {
		t.Errorf("Take after Close = %v", err)
	}
}

func TestOpen(t *testing.T) {
	seg := anon(t, 1<<16)
	r, err := ringbuf.New(seg, "jobs", 1024, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := ringbuf.New(seg, "jobs", 1024, nil); !errors.Is(err, shm.ErrObjectExist) {
		t.Errorf("New of a taken name = %v", err)
	}
	byName, err := ringbuf.Open(seg, "jobs", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer byName.Close()
	byHandle, err := ringbuf.OpenHandle(r.Handle(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer byHandle.Close()
	put(t, byName, []byte("one"))
	if got := get(t, byHandle); string(got) != "one" {
		t.Errorf("got %q", got)
	}
	var dec ringbuf.Ring
	b, err := r.GobEncode()
	if err != nil {
		t.Fatal(err)
	}
	if err := dec.GobDecode(b); err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	put(t, &dec, []byte("two"))
	if got := get(t, r); string(got) != "two" {
		t.Errorf("got %q", got)
	}

	l, err := semaphore.NewLock(seg, "lock", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := ringbuf.Open(seg, "lock", nil); !errors.Is(err, shm.ErrKind) {
		t.Errorf("Open of a lock = %v, want ErrKind", err)
	}
	if _, err := ringbuf.OpenHandle(l.Handle(), nil); !errors.Is(err, shm.ErrKind) {
		t.Errorf("OpenHandle of a lock = %v, want ErrKind", err)
	}
	if _, err := ringbuf.Open(seg, "none", nil); !errors.Is(err, shm.ErrObjectNotExist) {
		t.Errorf("Open of a missing name = %v", err)
	}
}

// TestGoroutines: producers and consumers in one process, with untimed
// sleeps (Spin -1): a lost wake-up is a hang, caught by the deadline.
func TestGoroutines(t *testing.T) {
	for _, opts := range []*ringbuf.Options{{Spin: -1}, nil} {
		r := newRing(t, 512, opts)
		const prod, cons, each = 4, 4, 5000
		ctx := shmtest.Deadline(t, 30*time.Second)
		var wg sync.WaitGroup
		got := make([][]int, cons)
		for c := range cons {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					rec, err := r.Take(ctx)
					if errors.Is(err, ringbuf.ErrShutdown) {
						return
					}
					if err != nil {
						t.Error(err)
						return
					}
					var p, s int
					fmt.Sscanf(string(rec.Bytes()), "%d %d", &p, &s)
					got[c] = append(got[c], p*each+s)
					rec.Release()
				}
			}()
		}
		var pwg sync.WaitGroup
		for p := range prod {
			pwg.Add(1)
			go func() {
				defer pwg.Done()
				for s := range each {
					msg := fmt.Sprintf("%d %d %s", p, s, make([]byte, s%40))
					c, err := r.Claim(ctx, len(msg))
					if err != nil {
						t.Error(err)
						return
					}
					copy(c.Bytes(), msg)
					c.Commit()
				}
			}()
		}
		pwg.Wait()
		if err := r.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		seen := make([]int, prod*each)
		for c := range cons {
			last := make([]int, prod)
			for i := range last {
				last[i] = -1
			}
			for _, m := range got[c] {
				seen[m]++
				if p, s := m/each, m%each; s <= last[p] {
					t.Fatalf("consumer %d: producer %d seq %d after %d", c, p, s, last[p])
				} else {
					last[p] = s
				}
			}
		}
		for m, n := range seen {
			if n != 1 {
				t.Fatalf("message %d delivered %d times", m, n)
			}
		}
	}
}

// TestClaimTakesRoomOfOne: a spinning producer that waits for room while
// its consumer releases records waits for a slice of the ring (see
// roomSoon), but takes the room of one record once releases stop. With a
// spin of an hour, a producer that kept waiting for the slice would hang.
func TestClaimTakesRoomOfOne(t *testing.T) {
	ctx := shmtest.Deadline(t, 30*time.Second)
	for _, opts := range []ringbuf.Options{{}, {SingleProducer: true, SingleConsumer: true}} {
		opts.Spin = time.Hour
		r := newRing(t, 256, &opts)
		msg := bytes.Repeat([]byte{7}, 24) // 32 bytes a record: 8 fill the ring
		for range 8 {
			put(t, r, msg)
		}
		if c, ok := r.TryClaim(len(msg)); ok {
			c.Commit()
			t.Fatalf("%+v: a claim in a full ring", opts)
		}
		claimed := make(chan error, 1)
		go func() {
			c, err := r.Claim(ctx, len(msg))
			if err == nil {
				err = c.Commit()
			}
			claimed <- err
		}()
		time.Sleep(time.Millisecond) // let it spin on a full ring first
		rec, err := r.Take(ctx)
		if err != nil {
			t.Fatal(err)
		}
		rec.Release()
		select {
		case err := <-claimed:
			if err != nil {
				t.Fatalf("%+v: %v", opts, err)
			}
		case <-ctx.Done():
			t.Fatalf("%+v: the producer still waits with room for its record", opts)
		}
	}
}

// TestZeroLengthHeld: a zero-length record and claim are held (non-nil
// buf) until released/committed, and a second Release/Commit panics.
func TestZeroLengthHeld(t *testing.T) {
	for _, o := range []ringbuf.Options{{}, {SingleConsumer: true}, {SingleProducer: true, SingleConsumer: true}} {
		r, err := ringbuf.New(nil, "", 256, &o)
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		for range 20 { // over the wrap, so that one payload starts at the end
			c, err := r.Claim(ctx, 0)
			if err != nil {
				t.Fatal(err)
			}
			if c.Bytes() == nil {
				t.Fatalf("%+v: zero-length claim has nil Bytes", o)
			}
			if err := c.Commit(); err != nil {
				t.Fatal(err)
			}
			if c.Bytes() != nil {
				t.Fatalf("%+v: Bytes after Commit", o)
			}
			mustPanic(t, "Commit", func() { c.Commit() })
			rec, err := r.Take(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if rec.Bytes() == nil || rec.Len() != 0 {
				t.Fatalf("%+v: zero-length record: %v", o, rec.Bytes())
			}
			if err := rec.Release(); err != nil {
				t.Fatal(err)
			}
			if rec.Bytes() != nil {
				t.Fatalf("%+v: Bytes after Release", o)
			}
			mustPanic(t, "Release", func() { rec.Release() })
		}
		var z ringbuf.Record
		mustPanic(t, "zero Release", func() { z.Release() })
		var zc ringbuf.Claim
		mustPanic(t, "zero Commit", func() { zc.Commit() })
		r.Close()
	}
}
