// Tests of what TryPut and TryGet report besides a message: the errors of
// the ring under them, a claim lock held for a moment, and a claim still
// to be committed when the queue shuts.

package ringbuf

import (
	"errors"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/robust"
)

func newTestQueue(t *testing.T, opts *QueueOptions[[]byte]) *Queue[[]byte] {
	t.Helper()
	q, err := NewQueue[[]byte](nil, "", opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

// TestTryReportsCorrupt: a cursor out of line is ErrCorrupt from TryPut
// and TryGet, as from Put and Get, not a full or an empty queue.
func TestTryReportsCorrupt(t *testing.T) {
	q := newTestQueue(t, nil)
	if err := q.Put(bounded(t), []byte("x")); err != nil {
		t.Fatal(err)
	}
	r := q.ring
	head, tail := r.head.Load(), r.tail.Load()
	r.head.Store(head + 3)
	if _, err := q.TryGet(); !errors.Is(err, ErrCorrupt) {
		t.Errorf("TryGet with head %d = %v, want ErrCorrupt", head+3, err)
	}
	r.head.Store(head)
	r.tail.Store(tail + 3)
	if err := q.TryPut([]byte("y")); !errors.Is(err, ErrCorrupt) {
		t.Errorf("TryPut with tail %d = %v, want ErrCorrupt", tail+3, err)
	}
	r.tail.Store(tail)
}

// TestTryWaitsForClaimLock: a claim lock held by another producer or
// consumer for a moment, shorter than the spin, is not a full or an empty
// queue.
func TestTryWaitsForClaimLock(t *testing.T) {
	q := newTestQueue(t, &QueueOptions[[]byte]{Ring: Options{Spin: 20 * time.Second}})
	r := q.ring
	self, err := r.self()
	if err != nil {
		t.Fatal(err)
	}
	// holdFor holds m for 20ms; the test waits for the unlock before it
	// reports, so that the unlock never comes after the queue is closed.
	holdFor := func(m *robust.Mutex) (unlocked chan struct{}) {
		t.Helper()
		if ok, _, err := m.TryLock(self); !ok || err != nil {
			t.Fatalf("TryLock = %v, %v", ok, err)
		}
		unlocked = make(chan struct{})
		go func() {
			time.Sleep(20 * time.Millisecond)
			m.Unlock()
			close(unlocked)
		}()
		return unlocked
	}
	unlocked := holdFor(&r.prod)
	err = q.TryPut([]byte("x"))
	<-unlocked
	if err != nil {
		t.Fatalf("TryPut while another claim holds the lock for 20ms = %v, want nil", err)
	}
	unlocked = holdFor(&r.cons)
	v, err := q.TryGet()
	<-unlocked
	if err != nil || string(v) != "x" {
		t.Fatalf("TryGet while another take holds the lock for 20ms = %q, %v, want x", v, err)
	}
}

// TestTryGetShutdownWithClaimInFlight: a message claimed before Shutdown
// and not yet committed is still to come: TryGet says ErrEmpty until it
// is committed, then returns it, and only then ErrShutdown.
func TestTryGetShutdownWithClaimInFlight(t *testing.T) {
	q := newTestQueue(t, nil)
	c, err := q.ring.Claim(bounded(t), 3)
	if err != nil {
		t.Fatal(err)
	}
	copy(c.Bytes(), "abc")
	if err := q.Shutdown(bounded(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := q.TryGet(); !errors.Is(err, ErrEmpty) {
		t.Fatalf("TryGet with a claim in flight after Shutdown = %v, want ErrEmpty", err)
	}
	if err := c.Commit(); err != nil {
		t.Fatal(err)
	}
	if v, err := q.TryGet(); err != nil || string(v) != "abc" {
		t.Fatalf("TryGet after the commit = %q, %v, want abc", v, err)
	}
	if _, err := q.TryGet(); !errors.Is(err, ErrShutdown) {
		t.Fatalf("TryGet of the empty shut queue = %v, want ErrShutdown", err)
	}
}
