package condvar

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/shmkit/shmkit/internal/futex"
	"github.com/shmkit/shmkit/internal/layout"
	"github.com/shmkit/shmkit/internal/liveness"
	"github.com/shmkit/shmkit/internal/race"
	"github.com/shmkit/shmkit/internal/wait"
	"github.com/shmkit/shmkit/semaphore"
	"github.com/shmkit/shmkit/shm"
)

// Options tunes how this process waits on an object: semaphore.Options,
// whose Spin and Poll mean the same here. The zero value (or nil) means
// the defaults. Options are this process's own: they are not stored in
// shared memory and do not travel with a handle. A Cond passes its Options
// on to the lock it opens.
type Options = semaphore.Options

// policy is the spin and poll intervals o asks for, defaults applied.
func policy(o *Options) (spin, poll time.Duration) {
	if o == nil {
		return wait.Policy(0, 0)
	}
	return wait.Policy(o.Spin, o.Poll)
}

// noCopy makes go vet report copies (see sync.noCopy).
type noCopy struct{}

func (*noCopy) Lock()   {}
func (*noCopy) Unlock() {}

// objectVersion is the layout version of every kind in this package.
const objectVersion = 1

// sleeperBit, in a futex word of this package, says that someone sleeps
// or is about to sleep on the word: whoever changes the word for them must
// wake them. The other 31 bits count changes.
const sleeperBit = 1 << 31

// bump moves a futex word on: it counts one more change, clears the
// sleeper bit, and reports whether the bit was set (someone must be woken).
func bump(w *atomic.Uint32) (sleepers bool) {
	for {
		v := w.Load()
		if w.CompareAndSwap(v, (v+1)&^sleeperBit) {
			return v&sleeperBit != 0
		}
	}
}

// base is what every object of this package holds: its place in shared
// memory and how this process waits on it.
type base struct {
	obj  *shm.Object
	own  *shm.Segment // a segment made for this object alone, or nil
	race race.Sentinel
	spin time.Duration
	poll time.Duration
}

// ownSegmentSize is the size of the segment made for an object created
// with a nil segment: header, process table (shm.DefaultSlots) and the
// object, with a Cond's lock beside it.
const ownSegmentSize = 8192

// create places a new object of kind in seg, or in a segment of its own
// when seg is nil; size is given the segment's number of slots.
func create(seg *shm.Segment, name string, kind shm.Kind, size func(slots int) int, init func(layout.View) error, opts *Options) (b base, err error) {
	if seg == nil {
		if name != "" {
			return base{}, fmt.Errorf("%w: a named %v needs a segment", shm.ErrName, kind)
		}
		if b.own, err = shm.New(ownSegmentSize, nil); err != nil {
			return base{}, err
		}
		defer func() {
			if err != nil {
				b.own.Close()
			}
		}()
		seg = b.own
	}
	obj, err := seg.Alloc(shm.Spec{Kind: kind, Version: objectVersion, Name: name, Size: size(seg.Slots()), Align: 64}, init)
	if err != nil {
		return base{}, fmt.Errorf("new %v: %w", kind, err)
	}
	return finish(obj, b.own, opts)
}

// open finds the object of kind named name in seg.
func open(seg *shm.Segment, name string, kind shm.Kind, opts *Options) (base, error) {
	obj, err := seg.Lookup(name, kind)
	if err != nil {
		return base{}, err
	}
	return finish(obj, nil, opts)
}

// openHandle opens the object of kind that h names.
func openHandle(h shm.Handle, kind shm.Kind, opts *Options) (base, error) {
	obj, err := shm.OpenHandle(h, kind)
	if err != nil {
		return base{}, err
	}
	return finish(obj, nil, opts)
}

// finish checks an object's version and wraps it. It owns obj and own.
func finish(obj *shm.Object, own *shm.Segment, opts *Options) (base, error) {
	if obj.Version() != objectVersion {
		obj.Close()
		if own != nil {
			own.Close()
		}
		return base{}, fmt.Errorf("%w: %v of layout version %d, this code knows %d", shm.ErrVersion, obj.Kind(), obj.Version(), objectVersion)
	}
	h := obj.Handle()
	spin, poll := policy(opts)
	return base{obj: obj, own: own, race: race.For(h.Segment, h.Offset), spin: spin, poll: poll}, nil
}

func (b *base) close() error {
	err := b.obj.Close()
	if b.own != nil {
		err = errors.Join(err, b.own.Close()) // whatever obj said: nothing else unmaps it
	}
	return err
}

// word returns the atomic view of the 32-bit word at off of the payload.
func (b *base) word(off uint64) (*atomic.Uint32, error) {
	w, err := b.obj.Payload().Uint32(off)
	if err != nil {
		return nil, fmt.Errorf("%w: %v payload: %w", ErrCorrupt, b.obj.Kind(), err)
	}
	return w, nil
}

// word64 returns the atomic view of the 64-bit word at off of the payload.
func (b *base) word64(off uint64) (*atomic.Uint64, error) {
	w, err := b.obj.Payload().Uint64(off)
	if err != nil {
		return nil, fmt.Errorf("%w: %v payload: %w", ErrCorrupt, b.obj.Kind(), err)
	}
	return w, nil
}

// self is this process's token in the object's segment.
func (b *base) self() (shm.Token, error) {
	t := b.obj.Self()
	if t == 0 {
		return 0, shm.ErrObserver
	}
	return t, nil
}

// alive reports whether tok is alive; a token that cannot exist is
// ErrCorrupt.
func (b *base) alive(tok shm.Token) (bool, error) {
	ok, err := b.obj.Alive(tok)
	if errors.Is(err, liveness.ErrBadToken) {
		return false, fmt.Errorf("%w: process %v: %w", ErrCorrupt, tok, err)
	}
	return ok, err
}

// wakeAll wakes every sleeper on w and reports how many it woke, where the
// system says (0 where it does not, or on failure).
func wakeAll(w *atomic.Uint32) int {
	if !futex.Supported {
		return 0
	}
	n, _ := futex.Wake(w, 0) // a failure leaves sleepers to their poll
	return n
}

// Handle names the object for other processes (see the Open…Handle
// functions).
func (b *base) Handle() shm.Handle { return b.obj.Handle() }

// GobEncode encodes the object's handle, so that it can be an argument of
// process.Start or part of a message; GobDecode opens it again.
func (b *base) GobEncode() ([]byte, error) { return b.obj.GobEncode() }

// decodeHandle is GobDecode's first half: the handle encoded in data.
func decodeHandle(data []byte) (shm.Handle, error) {
	var h shm.Handle
	err := h.UnmarshalBinary(data)
	return h, err
}

// sleep waits on w while it holds v, for at most the poll interval: see
// wait.Sleep.
func (b *base) sleep(ctx context.Context, w *atomic.Uint32, v uint32) (polled bool, err error) {
	return wait.Sleep(ctx, w, v, b.poll)
}
