package semaphore

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/shmkit/shmkit/internal/layout"
	"github.com/shmkit/shmkit/internal/liveness"
	"github.com/shmkit/shmkit/internal/race"
	"github.com/shmkit/shmkit/internal/wait"
	"github.com/shmkit/shmkit/shm"
)

// Defaults for Options (see internal/wait).
const (
	DefaultSpin = wait.DefaultSpin
	DefaultPoll = wait.DefaultPoll
)

// Options tunes how this process waits on an object. The zero value (or
// nil) means the defaults. Options are this process's own: they are not
// stored in shared memory and do not travel with a handle.
type Options struct {
	// Spin is how long a blocked call spins before it sleeps. Zero means
	// DefaultSpin; negative means sleep at once.
	Spin time.Duration
	// Poll bounds each sleep, so that a sleeper notices a cancelled
	// context or a dead holder within Poll. Zero means DefaultPoll.
	Poll time.Duration
}

// policy is the spin and poll intervals o asks for, defaults applied.
func (o *Options) policy() (spin, poll time.Duration) {
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
// with a nil segment: header, process table and one object.
const ownSegmentSize = 8192

// create places a new object of kind in seg, or in a segment of its own
// when seg is nil.
func create(seg *shm.Segment, name string, kind shm.Kind, size int, init func(layout.View) error, opts *Options) (base, error) {
	var own *shm.Segment
	if seg == nil {
		if name != "" {
			return base{}, fmt.Errorf("%w: a named %v needs a segment", shm.ErrName, kind)
		}
		var err error
		if own, err = shm.New(ownSegmentSize, nil); err != nil {
			return base{}, err
		}
		seg = own
	}
	obj, err := seg.Alloc(shm.Spec{Kind: kind, Version: objectVersion, Name: name, Size: size, Align: 64}, init)
	if err != nil {
		if own != nil {
			own.Close()
		}
		return base{}, fmt.Errorf("new %v: %w", kind, err)
	}
	return finish(obj, own, opts)
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
	spin, poll := opts.policy()
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

// self is this process's token in the object's segment.
func (b *base) self() (shm.Token, error) {
	t := b.obj.Self()
	if t == 0 {
		return 0, shm.ErrObserver
	}
	return t, nil
}

// alive reports whether owner is alive; an owner that cannot exist is
// ErrCorrupt.
func (b *base) alive(owner shm.Token) (bool, error) {
	ok, err := b.obj.Alive(owner)
	if errors.Is(err, liveness.ErrBadToken) {
		return false, fmt.Errorf("%w: owner %v: %w", ErrCorrupt, owner, err)
	}
	return ok, err
}

// Handle names the object for other processes (see the Open…Handle
// functions).
func (b *base) Handle() shm.Handle { return b.obj.Handle() }

// ShmObjects tells process.Start which segment to pass along with the
// object.
func (b *base) ShmObjects() []*shm.Object { return []*shm.Object{b.obj} }

// GobEncode encodes the object's handle, so that it can be an argument of
// process.Start or part of a message; GobDecode opens it again.
func (b *base) GobEncode() ([]byte, error) { return b.obj.GobEncode() }

// decodeHandle is GobDecode's first half: the base of the object of kind
// whose handle is encoded in data.
func decodeHandle(data []byte, kind shm.Kind) (base, error) {
	var h shm.Handle
	if err := h.UnmarshalBinary(data); err != nil {
		return base{}, err
	}
	return openHandle(h, kind, nil)
}

// sleep waits on w while it holds v, for at most the poll interval: see
// wait.Sleep.
func (b *base) sleep(ctx context.Context, w *atomic.Uint32, v uint32) (polled bool, err error) {
	return wait.Sleep(ctx, w, v, b.poll)
}
