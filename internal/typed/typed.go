// Package typed is what value and array share: a fixed number of elements
// of a pointer-free Go type in a segment, with an optional Lock beside them.
//
// Payload of a typed object (kind KindValue or KindArray), version 1:
//
//	off size   field
//	0   8      lock    offset of the header of the semaphore.Lock that guards
//	                   the elements, in the same segment; 0 for a raw object
//	8   8      length  number of elements, at least 1
//	16  48     reserved, zero
//	64  n×size the elements, in Go's layout for the element type on this
//	           platform, 64-aligned from the start of the mapping
//
// The object header records the element size and a hash of the element
// type's layout (shm.TypeInfo); opening checks both, then that length
// elements fit the payload, then that the lock offset names a Lock.
//
// Both words are written once, by the creator, before the object is
// published, and never again.
package typed

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/shmkit/shmkit/internal/layout"
	"github.com/shmkit/shmkit/semaphore"
	"github.com/shmkit/shmkit/shm"
)

const (
	// Version is the payload layout version.
	Version = 1
	// Header is the offset of the elements in the payload.
	Header = 64

	offLock   = 0
	offLength = 8
)

// ErrIndex is returned for an index outside the elements.
var ErrIndex = errors.New("index out of range")

// Options says how a typed object is guarded. The zero value (or nil)
// means a new Lock of its own, waited on with the defaults.
type Options struct {
	// Raw means no lock: Python's RawValue and RawArray.
	Raw bool
	// Lock is an existing Lock to guard the object with, as Python's
	// Value(lock=...) takes one. It must live in the same segment, since
	// the object records it by offset. Ignored with Raw.
	Lock *semaphore.Lock
	// Wait tunes how this process waits on the lock.
	Wait *semaphore.Options
}

// Object is n elements of T in a segment.
type Object[T any] struct {
	obj      *shm.Object
	own      *shm.Segment    // a segment made for this object alone, or nil
	lock     *semaphore.Lock // nil for a raw object
	ownsLock bool            // lock was opened here and is closed with the object
	elems    []T
	closed   atomic.Bool
}

// Create places n elements of T in seg under name ("" for none), with a
// new Lock or opts.Lock beside them unless opts.Raw, or, with a nil seg, in
// a segment of its own. The elements are zero, then init (if not nil) fills
// them, before any other process can see them.
func Create[T any](seg *shm.Segment, name string, kind shm.Kind, n int, init func(elems []T), opts *Options) (_ *Object[T], err error) {
	if opts == nil {
		opts = &Options{}
	}
	size, hash, err := shm.TypeOf[T]()
	if err != nil {
		return nil, err
	}
	if n <= 0 {
		return nil, fmt.Errorf("%w: %d elements", shm.ErrSize, n)
	}
	if uint64(n) > (shm.MaxSize-Header)/uint64(size) {
		return nil, fmt.Errorf("%w: %d elements of %d bytes", shm.ErrSize, n, size)
	}
	payload := Header + n*int(size)
	o := &Object[T]{}
	defer func() {
		if err != nil {
			o.release()
		}
	}()
	if seg == nil {
		if name != "" {
			return nil, fmt.Errorf("%w: a named %v needs a segment", shm.ErrName, kind)
		}
		if opts.Lock != nil && !opts.Raw {
			return nil, fmt.Errorf("%w: a lock of another segment", shm.ErrHandle)
		}
		if o.own, err = shm.New(ownSize(payload), nil); err != nil {
			return nil, err
		}
		seg = o.own
	}
	var lockOff uint64
	if !opts.Raw {
		if opts.Lock != nil {
			h := opts.Lock.Handle()
			if h.Segment != seg.ID() {
				return nil, fmt.Errorf("%w: the lock lives in another segment", shm.ErrHandle)
			}
			o.lock, lockOff = opts.Lock, h.Offset
		} else {
			if o.lock, err = semaphore.NewLock(seg, "", opts.Wait); err != nil {
				return nil, err
			}
			o.ownsLock = true
			lockOff = o.lock.Handle().Offset
		}
	}
	o.obj, err = seg.Alloc(shm.Spec{Kind: kind, Version: Version, Name: name, Size: payload, Align: 64, ElemSize: size, TypeHash: hash},
		func(p layout.View) error {
			l, err := p.Uint64(offLock)
			if err != nil {
				return err
			}
			l.Store(lockOff)
			n64, err := p.Uint64(offLength)
			if err != nil {
				return err
			}
			n64.Store(uint64(n))
			if init != nil {
				elems, err := layout.UnsafeSlice[T](p, Header, uint64(n))
				if err != nil {
					return err
				}
				init(elems)
			}
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("new %v: %w", kind, err)
	}
	if err := o.finish(opts); err != nil {
		return nil, err
	}
	return o, nil
}

// ownSize is the size of a segment made for one payload and its lock: the
// header and table of 64 slots, the lock, the object, and room to spare.
func ownSize(payload int) int { return 8192 + (payload+63)&^63 }

// Open finds the object of kind named name in seg and checks that it holds
// elements of T. The object's own lock is opened (opts.Lock and opts.Raw
// do not apply: the object says which lock guards it).
func Open[T any](seg *shm.Segment, name string, kind shm.Kind, opts *Options) (*Object[T], error) {
	obj, err := seg.Lookup(name, kind)
	if err != nil {
		return nil, err
	}
	return wrap[T](obj, opts)
}

// OpenHandle opens the object of kind that h names and checks that it
// holds elements of T.
func OpenHandle[T any](h shm.Handle, kind shm.Kind, opts *Options) (*Object[T], error) {
	obj, err := shm.OpenHandle(h, kind)
	if err != nil {
		return nil, err
	}
	return wrap[T](obj, opts)
}

// wrap checks an opened object; it owns obj.
func wrap[T any](obj *shm.Object, opts *Options) (*Object[T], error) {
	o := &Object[T]{obj: obj}
	if err := o.finish(opts); err != nil {
		o.release()
		return nil, err
	}
	return o, nil
}

// finish checks the object and makes its views: type, then length, then
// lock.
func (o *Object[T]) finish(opts *Options) error {
	obj := o.obj
	if obj.Version() != Version {
		return fmt.Errorf("%w: %v of layout version %d, this code knows %d", shm.ErrVersion, obj.Kind(), obj.Version(), Version)
	}
	size, hash, err := shm.TypeOf[T]()
	if err != nil {
		return err
	}
	if err := obj.CheckType(size, hash); err != nil {
		return err
	}
	p := obj.Payload()
	lw, err := p.Uint64(offLock)
	if err != nil {
		return fmt.Errorf("%w: %v payload of %d bytes", shm.ErrCorrupt, obj.Kind(), p.Len())
	}
	nw, err := p.Uint64(offLength)
	if err != nil {
		return fmt.Errorf("%w: %v payload of %d bytes", shm.ErrCorrupt, obj.Kind(), p.Len())
	}
	n := nw.Load()
	if n == 0 || n > (uint64(p.Len())-Header)/uint64(size) {
		return fmt.Errorf("%w: %d elements of %d bytes in a payload of %d", shm.ErrCorrupt, n, size, p.Len())
	}
	if o.elems, err = layout.UnsafeSlice[T](p, Header, n); err != nil {
		return fmt.Errorf("%w: elements: %w", shm.ErrCorrupt, err)
	}
	if lockOff := lw.Load(); lockOff != 0 && o.lock == nil {
		h := obj.Handle()
		h.Offset, h.Kind = lockOff, shm.KindLock
		var wait *semaphore.Options
		if opts != nil {
			wait = opts.Wait
		}
		if o.lock, err = semaphore.OpenLockHandle(h, wait); err != nil {
			return fmt.Errorf("%v's lock: %w", obj.Kind(), err)
		}
		o.ownsLock = true
	}
	return nil
}

func (o *Object[T]) release() error {
	var errs []error
	if o.ownsLock && o.lock != nil {
		errs = append(errs, o.lock.Close())
	}
	if o.obj != nil {
		errs = append(errs, o.obj.Close())
	}
	if o.own != nil {
		errs = append(errs, o.own.Close())
	}
	return errors.Join(errs...)
}

// Close lets go of this process's reference.
func (o *Object[T]) Close() error {
	if o == nil || !o.closed.CompareAndSwap(false, true) {
		return shm.ErrClosed
	}
	return o.release()
}

// Closed reports whether Close was called.
func (o *Object[T]) Closed() bool { return o.closed.Load() }

// Elems is the elements, in shared memory. The slice dies with Close.
func (o *Object[T]) Elems() []T { return o.elems }

// Lock is the guarding lock, or nil for a raw object.
func (o *Object[T]) Lock() *semaphore.Lock { return o.lock }

// Obj is the shared object.
func (o *Object[T]) Obj() *shm.Object { return o.obj }

// With runs f on the elements with the lock held (for a raw object,
// without). If the lock's holder had died, f still runs, with the lock
// held, and With returns an error wrapping semaphore.ErrOwnerDead besides
// f's.
func (o *Object[T]) With(ctx context.Context, f func(elems []T) error) error {
	if o.closed.Load() {
		return shm.ErrClosed
	}
	if o.lock == nil {
		return f(o.elems)
	}
	lerr := o.lock.Lock(ctx)
	if lerr != nil && !errors.Is(lerr, semaphore.ErrOwnerDead) {
		return lerr
	}
	ferr := f(o.elems)
	if uerr := o.lock.Unlock(); uerr != nil {
		return errors.Join(lerr, ferr, uerr)
	}
	return errors.Join(lerr, ferr)
}

// ShmObjects tells process.Start which segments to pass.
func (o *Object[T]) ShmObjects() []*shm.Object {
	if o.lock != nil {
		return append(o.lock.ShmObjects(), o.obj)
	}
	return []*shm.Object{o.obj}
}

// Decode opens the object whose handle is encoded in data, for GobDecode.
func Decode[T any](data []byte, kind shm.Kind) (*Object[T], error) {
	var h shm.Handle
	if err := h.UnmarshalBinary(data); err != nil {
		return nil, err
	}
	return OpenHandle[T](h, kind, nil)
}
