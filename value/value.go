// Package value gives one value of a pointer-free Go type in shared memory,
// optionally guarded by a lock: Python's multiprocessing.Value and
// RawValue, typed.
//
// T may be any type without Go pointers: booleans, integers, floats,
// complex numbers, and arrays and structs of those (shm.TypeInfo says which,
// and names the field that is not). A value made with a lock (the default)
// is read and written under it; one made with Options.Raw has no lock, as
// Python's RawValue. Integer values of 4 or 8 bytes also have atomic
// operations that need no lock (Add, CompareAndSwap, Swap, AtomicLoad,
// AtomicStore).
//
// A *Of[T] passed to process.Start arrives in the child attached to the
// same memory (with its lock); another process opens it by name or handle,
// and the open checks that it holds a T (same size, same layout hash).
//
// # What we don't hide
//
//   - Load and Store of a raw value are plain copies: a reader in another
//     process may see half of a concurrent write of a value wider than
//     8 bytes.
//   - The layout of T is Go's on this platform: processes built for
//     another architecture or with another declaration of T see other
//     bytes (the type hash catches a changed declaration).
package value

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/shmkit/shmkit/internal/typed"
	"github.com/shmkit/shmkit/semaphore"
	"github.com/shmkit/shmkit/shm"
)

// Options says how a value is guarded; see its fields. The zero value (or
// nil) means a new Lock of its own.
type Options = typed.Options

// Of is one T in shared memory. Make one with New, or open one with Open
// or OpenHandle; it must not be copied. Its methods may be called from any
// goroutine of any process that has it open. A Store (or an Update, or an
// atomic write) synchronizes before the Load that sees it, under the lock
// for locked access and as sync/atomic does for the atomic operations.
//
// If a process dies holding the value's lock, the next Load, Store or
// Update takes the lock over, does its work, and returns an error wrapping
// semaphore.ErrOwnerDead: the value may be half-written.
//
// After Close, methods return shm.ErrClosed.
type Of[T any] struct {
	_   noCopy
	o   *typed.Object[T]
	p   *T
	w32 *atomic.Uint32 // the value as a word, for a T of 4 bytes
	w64 *atomic.Uint64 // the value as a word, for a T of 8 bytes
}

type noCopy struct{}

func (*noCopy) Lock()   {}
func (*noCopy) Unlock() {}

// New places a value holding initial in seg under name ("" for none), or,
// with a nil seg, in a small anonymous segment of its own. T must hold no
// Go pointers.
func New[T any](seg *shm.Segment, name string, initial T, opts *Options) (*Of[T], error) {
	o, err := typed.Create(seg, name, shm.KindValue, 1, func(e []T) { e[0] = initial }, opts)
	if err != nil {
		return nil, err
	}
	return wrap(o)
}

// Open opens the value named name in seg, checking that it holds a T.
func Open[T any](seg *shm.Segment, name string, opts *Options) (*Of[T], error) {
	o, err := typed.Open[T](seg, name, shm.KindValue, opts)
	if err != nil {
		return nil, err
	}
	return wrap(o)
}

// OpenHandle opens the value that h names, checking that it holds a T.
func OpenHandle[T any](h shm.Handle, opts *Options) (*Of[T], error) {
	o, err := typed.OpenHandle[T](h, shm.KindValue, opts)
	if err != nil {
		return nil, err
	}
	return wrap(o)
}

func wrap[T any](o *typed.Object[T]) (*Of[T], error) {
	if len(o.Elems()) != 1 {
		o.Close()
		return nil, fmt.Errorf("%w: a value of %d elements", shm.ErrCorrupt, len(o.Elems()))
	}
	v := &Of[T]{o: o, p: &o.Elems()[0]}
	// The elements start 64-aligned, so a 4- or 8-byte value is a word.
	switch o.Obj().ElemSize() {
	case 4:
		v.w32, _ = o.Obj().Payload().Uint32(typed.Header)
	case 8:
		v.w64, _ = o.Obj().Payload().Uint64(typed.Header)
	}
	return v, nil
}

// Load returns the value, read under the lock (without, for a raw value).
func (v *Of[T]) Load(ctx context.Context) (T, error) {
	var x T
	err := v.o.With(ctx, func([]T) error { x = *v.p; return nil })
	return x, err
}

// Store sets the value, under the lock (without, for a raw value).
func (v *Of[T]) Store(ctx context.Context, x T) error {
	return v.o.With(ctx, func([]T) error { *v.p = x; return nil })
}

// Update calls f on the value with the lock held: the read-modify-write
// that Python writes as "with v.get_lock(): v.value += 1". f must not keep
// the pointer.
func (v *Of[T]) Update(ctx context.Context, f func(p *T)) error {
	return v.o.With(ctx, func([]T) error { f(v.p); return nil })
}

// Lock is the lock that guards the value (Python's get_lock), or nil for a
// raw value: hold it to do several things to the value as one.
func (v *Of[T]) Lock() *semaphore.Lock { return v.o.Lock() }

// UnsafePointer points at the value in shared memory (Python's get_obj).
// Reads and writes through it race with other processes unless the caller
// holds the lock or otherwise orders them. It dies with Close.
func (v *Of[T]) UnsafePointer() *T { return v.p }

// Close lets go of this process's reference to the value.
func (v *Of[T]) Close() error { return v.o.Close() }

// Handle names the value for other processes (see OpenHandle).
func (v *Of[T]) Handle() shm.Handle { return v.o.Obj().Handle() }

// ShmObjects tells process.Start which segments to pass along with v.
func (v *Of[T]) ShmObjects() []*shm.Object { return v.o.ShmObjects() }

// GobEncode encodes v's handle.
func (v *Of[T]) GobEncode() ([]byte, error) { return v.o.Obj().GobEncode() }

// GobDecode opens the value whose handle GobEncode encoded.
func (v *Of[T]) GobDecode(data []byte) error {
	o, err := typed.Decode[T](data, shm.KindValue)
	if err != nil {
		return err
	}
	w, err := wrap(o)
	if err != nil {
		return err
	}
	v.o, v.p, v.w32, v.w64 = w.o, w.p, w.w32, w.w64
	return nil
}

// Integer is the types with atomic operations: integers of 4 or 8 bytes.
type Integer interface {
	~int32 | ~uint32 | ~int64 | ~uint64 | ~int | ~uint | ~uintptr
}

// words returns the atomic view of v's 4- or 8-byte integer.
func words[T Integer](v *Of[T]) (*atomic.Uint32, *atomic.Uint64, error) {
	switch {
	case v.o.Closed():
		return nil, nil, shm.ErrClosed
	case v.w32 == nil && v.w64 == nil:
		return nil, nil, fmt.Errorf("%w: atomic on %d bytes", shm.ErrType, v.o.Obj().ElemSize())
	}
	return v.w32, v.w64, nil
}

// Add adds delta to v atomically, without the lock, and returns the new
// value.
func Add[T Integer](v *Of[T], delta T) (T, error) {
	w32, w64, err := words(v)
	switch {
	case err != nil:
		return 0, err
	case w32 != nil:
		return T(w32.Add(uint32(delta))), nil
	}
	return T(w64.Add(uint64(delta))), nil
}

// CompareAndSwap sets v to new if it holds old, atomically, without the
// lock, and reports whether it did.
func CompareAndSwap[T Integer](v *Of[T], old, new T) (bool, error) {
	w32, w64, err := words(v)
	switch {
	case err != nil:
		return false, err
	case w32 != nil:
		return w32.CompareAndSwap(uint32(old), uint32(new)), nil
	}
	return w64.CompareAndSwap(uint64(old), uint64(new)), nil
}

// Swap sets v to new atomically, without the lock, and returns the old
// value.
func Swap[T Integer](v *Of[T], new T) (T, error) {
	w32, w64, err := words(v)
	switch {
	case err != nil:
		return 0, err
	case w32 != nil:
		return T(w32.Swap(uint32(new))), nil
	}
	return T(w64.Swap(uint64(new))), nil
}

// AtomicLoad reads v atomically, without the lock.
func AtomicLoad[T Integer](v *Of[T]) (T, error) {
	w32, w64, err := words(v)
	switch {
	case err != nil:
		return 0, err
	case w32 != nil:
		return T(w32.Load()), nil
	}
	return T(w64.Load()), nil
}

// AtomicStore writes v atomically, without the lock.
func AtomicStore[T Integer](v *Of[T], x T) error {
	w32, w64, err := words(v)
	switch {
	case err != nil:
		return err
	case w32 != nil:
		w32.Store(uint32(x))
	default:
		w64.Store(uint64(x))
	}
	return nil
}
