package ringbuf_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/liveness"
	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/ringbuf"
)

// These tests play a dead process by writing the token of a slot nobody
// holds into a record header, as the dead process would have left it. The
// multi-process tests kill real ones.

const dataOffset = 512 // of the payload; see ring.go

// deadToken names slot 15 of a 16-slot table, which no test process
// claims: its generation is 0, so generation 1 is dead.
var deadToken = liveness.MakeToken(15, 1)

// setOwner rewrites the owner bits of the header at data position pos.
func setOwner(t *testing.T, r *ringbuf.Ring, pos uint64, owner liveness.Token) {
	t.Helper()
	w, err := r.ShmObjects()[0].Payload().Uint64(dataOffset + pos)
	if err != nil {
		t.Fatal(err)
	}
	v := w.Load()
	w.Store(v&(1<<32-1) | uint64(owner)<<32)
}

var fastPoll = &ringbuf.Options{Poll: 2 * time.Millisecond}

func TestDeadProducerSkipped(t *testing.T) {
	ctx := shmtest.Deadline(t, 10*time.Second)
	r := newRing(t, 1024, fastPoll)
	c, err := r.Claim(ctx, 10) // at position 0
	if err != nil {
		t.Fatal(err)
	}
	setOwner(t, r, 0, deadToken)
	put(t, r, []byte("after"))
	if got := get(t, r); string(got) != "after" {
		t.Errorf("got %q, want the record after the dead claim", got)
	}
	if err := c.Commit(); !errors.Is(err, ringbuf.ErrCorrupt) {
		t.Errorf("Commit of a claim skipped as dead = %v, want ErrCorrupt", err)
	}
	// All space comes back.
	if c, ok := r.TryClaim(r.MaxRecord()); !ok {
		t.Error("ring space not reclaimed")
	} else {
		c.Commit()
	}
}

func TestDeadConsumerRedelivered(t *testing.T) {
	for _, shut := range []bool{false, true} {
		ctx := shmtest.Deadline(t, 10*time.Second)
		r := newRing(t, 1024, fastPoll)
		put(t, r, []byte("first"))
		put(t, r, []byte("second"))
		rec, err := r.Take(ctx) // at position 0
		if err != nil {
			t.Fatal(err)
		}
		setOwner(t, r, 0, deadToken) // its taker died before Release
		if got := get(t, r); string(got) != "second" {
			t.Errorf("got %q", got)
		}
		if shut {
			r.Shutdown(ctx)
		}
		if got := get(t, r); string(got) != "first" {
			t.Errorf("shut %v: got %q, want the dead consumer's record again", shut, got)
		}
		if err := rec.Release(); !errors.Is(err, ringbuf.ErrCorrupt) {
			t.Errorf("Release of a record taken over = %v, want ErrCorrupt", err)
		}
		if shut {
			if _, err := r.Take(ctx); !errors.Is(err, ringbuf.ErrShutdown) {
				t.Errorf("Take after the drain = %v", err)
			}
			continue
		}
		if c, ok := r.TryClaim(r.MaxRecord()); !ok {
			t.Error("ring space not reclaimed")
		} else {
			c.Commit()
		}
	}
}

// A producer waiting for space finds free held by a dead consumer's record
// and has it redelivered.
func TestDeadConsumerFullRing(t *testing.T) {
	ctx := shmtest.Deadline(t, 10*time.Second)
	r := newRing(t, 64, fastPoll)
	put(t, r, make([]byte, 24))
	put(t, r, make([]byte, 16))
	if _, err := r.Take(ctx); err != nil {
		t.Fatal(err)
	}
	setOwner(t, r, 0, deadToken)
	done := make(chan error, 1)
	go func() {
		c, err := r.Claim(ctx, 24)
		if err == nil {
			err = c.Commit()
		}
		done <- err
	}()
	// The consumer takes the second record, then the first again, and the
	// space comes back to the producer.
	get(t, r)
	get(t, r)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := r.Len(); got != 1 {
		t.Errorf("Len = %d, want 1", got)
	}
}

// A consumer that waits in short calls (TryTake in a loop, or Take with a
// short deadline, again and again) still gets past a dead producer's claim:
// its waits add up to a poll interval across calls.
func TestDeadProducerSkippedByShortWaits(t *testing.T) {
	opts := &ringbuf.Options{Poll: 30 * time.Millisecond}
	for _, try := range []bool{true, false} {
		ctx := shmtest.Deadline(t, 10*time.Second)
		r := newRing(t, 1024, opts)
		if _, err := r.Claim(ctx, 10); err != nil { // at position 0
			t.Fatal(err)
		}
		setOwner(t, r, 0, deadToken)
		put(t, r, []byte("after"))
		calls := 0
		for {
			calls++
			var rec ringbuf.Record
			var ok bool
			if try {
				rec, ok = r.TryTake()
			} else {
				short, cancel := context.WithTimeout(ctx, time.Millisecond)
				var err error
				rec, err = r.Take(short)
				cancel()
				ok = err == nil
				if err != nil && !errors.Is(err, context.DeadlineExceeded) {
					t.Fatal(err)
				}
			}
			if ok {
				if got := string(rec.Bytes()); got != "after" {
					t.Errorf("got %q, want the record after the dead claim", got)
				}
				rec.Release()
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("TryTake %v: still behind the dead claim after %d calls", try, calls)
			}
			time.Sleep(time.Millisecond)
		}
		t.Logf("TryTake %v: past the dead claim after %d calls", try, calls)
	}
}

// A producer that tries to claim in short calls finds free held by a dead
// consumer's record, and has it redelivered: the next TryTake gets it.
func TestDeadConsumerFoundByShortClaims(t *testing.T) {
	ctx := shmtest.Deadline(t, 10*time.Second)
	poll := 30 * time.Millisecond
	r := newRing(t, 64, &ringbuf.Options{Poll: poll})
	put(t, r, make([]byte, 24))
	put(t, r, make([]byte, 16))
	if _, err := r.Take(ctx); err != nil { // at position 0
		t.Fatal(err)
	}
	setOwner(t, r, 0, deadToken)
	if got := get(t, r); len(got) != 16 {
		t.Fatalf("got %d bytes, want the second record", len(got))
	}
	// Only claims look now, for a few poll intervals.
	for start := time.Now(); time.Since(start) < 3*poll; time.Sleep(time.Millisecond) {
		if c, ok := r.TryClaim(24); ok {
			t.Fatal("a claim found space held by a record not released")
			c.Commit()
		}
	}
	rec, ok := r.TryTake()
	if !ok || rec.Len() != 24 {
		t.Fatalf("TryTake after the claims = %v (%d bytes), want the dead consumer's record again", ok, rec.Len())
	}
	rec.Release()
	if c, ok := r.TryClaim(24); !ok {
		t.Error("no space after the redelivered record's release")
	} else {
		c.Commit()
	}
}
