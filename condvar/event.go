package condvar

// Event: a flag in one 32-bit futex word.
//
// Payload of an Event, 64 bytes:
//
//	off size field
//	0   4    state    see below
//	4   60   reserved, zero
//
// State word:
//
//	bit 0      set: the flag
//	bits 1-30  sets: how many Sets found the event clear, mod 2^30
//	bit 31     sleepers: someone sleeps, or is about to sleep, on the word
//
// Transitions, all by compare-and-swap:
//
//	n|clear|S? → n+1|set       Set, when clear; wakes everyone if S was set
//	n|set      → n|clear       Clear
//	n|clear    → n|clear|S     a waiter about to sleep
//
// Every value is a valid state, and all-zero is a clear event nobody
// waits for.
//
// A waiter sleeps only while the word holds exactly the clear value it
// saw, sleeper bit included (the futex compares it atomically with going
// to sleep), and a Set changes the word before it wakes: no lost wake-up.
// Set makes the wake system call only when the sleeper bit says someone
// sleeps; it clears the bit, since it wakes them all. A waiter that leaves
// (its context ended) leaves the bit behind, which costs the next Set one
// needless wake and nothing else. A waiter sleeps at most Poll at a time,
// so a Set killed between its compare-and-swap and its wake costs the
// waiters one Poll.
//
// Why a count of Sets and not just the flag: a Set followed by a Clear
// before a sleeper runs again would otherwise look to it as if nothing had
// happened, and it would sleep on, as a waiter of Python's
// multiprocessing.Event, which looks at the flag again after waking, can
// return False. With the count, Wait reports a Set that happened at any
// moment of the wait, as threading.Event.wait does. (The count would have
// to wrap exactly 2^30 times between two looks to fool it.)

import (
	"context"
	"sync/atomic"

	"github.com/shmkit/shmkit/internal/wait"
	"github.com/shmkit/shmkit/shm"
)

const (
	eventSize = 64
	offEvent  = 0

	evSet    = 1
	evCounts = 1<<31 - 2 // bits 1-30
)

// Event is a flag in shared memory that goroutines of any number of
// processes can wait for: Python's multiprocessing.Event. Set raises it
// and wakes every waiter, Clear lowers it, Wait waits until it is raised.
//
// Make one with NewEvent, or open one with OpenEvent or OpenEventHandle;
// an *Event passed to process.Start arrives in the child as the same
// event. An Event must not be copied. Its methods may be called from any
// goroutine of any process that has it open.
//
// A Set synchronizes before every Wait and IsSet that it makes return
// true, in this process or another, in the sense of [the Go memory
// model]; the race detector is told about the edges within this process.
//
// An Event has no owner, so a process that dies does nothing to it: dying
// while waiting leaves nothing behind, an event that a process would have
// set stays clear (waiters time out through their contexts), and one that
// dies inside Set, between raising the flag and waking the waiters, costs
// them up to one Poll interval.
//
// After Close, methods return ErrClosed (IsSet returns false).
//
// [the Go memory model]: https://go.dev/ref/mem
type Event struct {
	_ noCopy
	base
	state  *atomic.Uint32
	closed atomic.Bool
}

// NewEvent places a new, clear Event in seg under name ("" for none), or,
// with a nil seg, in a small anonymous segment of its own.
func NewEvent(seg *shm.Segment, name string, opts *Options) (*Event, error) {
	b, err := create(seg, name, shm.KindEvent, func(int) int { return eventSize }, nil, opts)
	if err != nil {
		return nil, err
	}
	return newEvent(b)
}

// OpenEvent opens the Event named name in seg.
func OpenEvent(seg *shm.Segment, name string, opts *Options) (*Event, error) {
	b, err := open(seg, name, shm.KindEvent, opts)
	if err != nil {
		return nil, err
	}
	return newEvent(b)
}

// OpenEventHandle opens the Event that h names (see shm.OpenHandle).
func OpenEventHandle(h shm.Handle, opts *Options) (*Event, error) {
	b, err := openHandle(h, shm.KindEvent, opts)
	if err != nil {
		return nil, err
	}
	return newEvent(b)
}

func newEvent(b base) (*Event, error) {
	e := &Event{}
	if err := e.init(b); err != nil {
		return nil, err
	}
	return e, nil
}

// init wraps b; on failure it closes b.
func (e *Event) init(b base) error {
	e.base = b
	st, err := e.word(offEvent)
	if err != nil {
		b.close()
		return err
	}
	e.state = st
	return nil
}

// Set raises the flag and wakes every waiter. Setting a set event does
// nothing.
func (e *Event) Set() error {
	if e.closed.Load() {
		return ErrClosed
	}
	e.race.ReleaseMerge()
	for {
		v := e.state.Load()
		if v&evSet != 0 {
			return nil
		}
		if e.state.CompareAndSwap(v, (v+2)&evCounts|evSet) {
			if v&sleeperBit != 0 {
				wakeAll(e.state)
			}
			return nil
		}
	}
}

// Clear lowers the flag.
func (e *Event) Clear() error {
	if e.closed.Load() {
		return ErrClosed
	}
	for {
		v := e.state.Load()
		if v&evSet == 0 || e.state.CompareAndSwap(v, v&^evSet) {
			return nil
		}
	}
}

// IsSet reports whether the flag is raised now.
func (e *Event) IsSet() bool {
	if e.closed.Load() || e.state.Load()&evSet == 0 {
		return false
	}
	e.race.Acquire()
	return true
}

// Wait waits until the flag is raised, and returns nil then; it returns
// ctx.Err() if ctx ends first. It returns nil at once if the flag is
// raised, and also if a Set happened while it waited, even if a Clear
// lowered the flag again before it looked. Python's wait returns True
// where this returns nil and False where it returns ctx.Err(); wait(0) is
// Wait with a context that is already done.
func (e *Event) Wait(ctx context.Context) error {
	if e.closed.Load() {
		return ErrClosed
	}
	v0 := e.state.Load()
	changed := func(v uint32) bool { return v&evSet != 0 || v&evCounts != v0&evCounts }
	if !changed(v0) && !wait.Spin(e.spin, func() bool { return changed(e.state.Load()) }) {
		for {
			v := e.state.Load()
			if changed(v) {
				break
			}
			if err := wait.CtxErr(ctx); err != nil {
				return err
			}
			if v&sleeperBit == 0 && !e.state.CompareAndSwap(v, v|sleeperBit) {
				continue
			}
			if _, err := e.sleep(ctx, e.state, v|sleeperBit); err != nil {
				return err
			}
		}
	}
	e.race.Acquire()
	return nil
}

// Close lets go of this process's reference to the event.
func (e *Event) Close() error {
	if !e.closed.CompareAndSwap(false, true) {
		return ErrClosed
	}
	return e.close()
}

// ShmObjects tells process.Start which segment to pass along with the
// event.
func (e *Event) ShmObjects() []*shm.Object { return []*shm.Object{e.obj} }

// GobDecode opens the event whose handle GobEncode encoded.
func (e *Event) GobDecode(data []byte) error {
	h, err := decodeHandle(data)
	if err != nil {
		return err
	}
	b, err := openHandle(h, shm.KindEvent, nil)
	if err != nil {
		return err
	}
	return e.init(b)
}
