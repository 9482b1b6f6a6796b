// Package array gives a fixed-length array of a pointer-free Go type in
// shared memory, optionally guarded by a lock: Python's
// multiprocessing.Array and RawArray, typed, without a lock round trip per
// element.
//
// Element access through Get and Set takes the lock once per call; bulk
// access takes it once for the whole copy (ReadAt, WriteAt) or for the whole
// slice (Do, which hands f a []T over the shared memory, so summing a million
// float64s is a plain loop). UnsafeSlice gives the []T with no lock at all,
// for raw arrays and for callers that order access themselves.
//
// An *Of[T] passed to process.Start arrives in the child attached to the
// same memory; other processes open it by name or handle, and the open
// checks the element type. The layout (docs/layout.md, and the comment of
// internal/typed) is simple enough for another language to read: Python's
// multiprocessing.shared_memory can attach to a named segment and read the
// elements in place.
package array

import (
	"context"
	"fmt"

	"github.com/shmkit/shmkit/internal/typed"
	"github.com/shmkit/shmkit/semaphore"
	"github.com/shmkit/shmkit/shm"
)

// Options says how an array is guarded; see its fields. The zero value (or
// nil) means a new Lock of its own.
type Options = typed.Options

// ErrIndex reports an index or range outside the array (Python's
// IndexError).
var ErrIndex = typed.ErrIndex

// Of is a fixed-length array of T in shared memory. Make one with New or
// From, or open one with Open or OpenHandle; it must not be copied. Its
// methods may be called from any goroutine of any process that has it open.
// Writes under the lock synchronize before reads under the lock that follow.
//
// If a process dies holding the array's lock, the next locked call takes
// the lock over, does its work, and returns an error wrapping
// semaphore.ErrOwnerDead: the elements may be half-written.
//
// After Close, methods return shm.ErrClosed, and slices from UnsafeSlice or
// Do must not be used.
type Of[T any] struct {
	_ noCopy
	o *typed.Object[T]
}

type noCopy struct{}

func (*noCopy) Lock()   {}
func (*noCopy) Unlock() {}

// New places an array of n zero elements in seg under name ("" for none),
// or, with a nil seg, in an anonymous segment of its own. n must be at least
// 1; T must hold no Go pointers.
func New[T any](seg *shm.Segment, name string, n int, opts *Options) (*Of[T], error) {
	o, err := typed.Create[T](seg, name, shm.KindArray, n, nil, opts)
	if err != nil {
		return nil, err
	}
	return &Of[T]{o: o}, nil
}

// From is New with the array's length and elements taken from src (Python's
// Array(typecode, sequence)).
func From[T any](seg *shm.Segment, name string, src []T, opts *Options) (*Of[T], error) {
	o, err := typed.Create(seg, name, shm.KindArray, len(src), func(e []T) { copy(e, src) }, opts)
	if err != nil {
		return nil, err
	}
	return &Of[T]{o: o}, nil
}

// Open opens the array named name in seg, checking that it holds T.
func Open[T any](seg *shm.Segment, name string, opts *Options) (*Of[T], error) {
	o, err := typed.Open[T](seg, name, shm.KindArray, opts)
	if err != nil {
		return nil, err
	}
	return &Of[T]{o: o}, nil
}

// OpenHandle opens the array that h names, checking that it holds T.
func OpenHandle[T any](h shm.Handle, opts *Options) (*Of[T], error) {
	o, err := typed.OpenHandle[T](h, shm.KindArray, opts)
	if err != nil {
		return nil, err
	}
	return &Of[T]{o: o}, nil
}

// Len is the number of elements.
func (a *Of[T]) Len() int { return len(a.o.Elems()) }

func (a *Of[T]) check(off, n int) error {
	if off < 0 || n < 0 || off > a.Len() || n > a.Len()-off {
		return fmt.Errorf("%w: [%d:%d] of an array of %d", ErrIndex, off, off+n, a.Len())
	}
	return nil
}

// Get returns element i, read under the lock.
func (a *Of[T]) Get(ctx context.Context, i int) (T, error) {
	var x T
	if err := a.check(i, 1); err != nil {
		return x, err
	}
	err := a.o.With(ctx, func(e []T) error { x = e[i]; return nil })
	return x, err
}

// Set sets element i to x under the lock.
func (a *Of[T]) Set(ctx context.Context, i int, x T) error {
	if err := a.check(i, 1); err != nil {
		return err
	}
	return a.o.With(ctx, func(e []T) error { e[i] = x; return nil })
}

// ReadAt copies len(dst) elements starting at off into dst, under one
// acquisition of the lock. A range outside the array is an error wrapping
// ErrIndex, and nothing is copied.
func (a *Of[T]) ReadAt(ctx context.Context, dst []T, off int) error {
	if err := a.check(off, len(dst)); err != nil {
		return err
	}
	return a.o.With(ctx, func(e []T) error { copy(dst, e[off:]); return nil })
}

// WriteAt copies src into the array starting at off, under one acquisition
// of the lock. A range outside the array is an error wrapping ErrIndex, and
// nothing is copied.
func (a *Of[T]) WriteAt(ctx context.Context, src []T, off int) error {
	if err := a.check(off, len(src)); err != nil {
		return err
	}
	return a.o.With(ctx, func(e []T) error { copy(e[off:], src); return nil })
}

// Do calls f with the whole array as a slice of shared memory, with the
// lock held (without, for a raw array). f must not keep the slice.
func (a *Of[T]) Do(ctx context.Context, f func(s []T) error) error { return a.o.With(ctx, f) }

// UnsafeSlice is the array as a slice of shared memory, with no lock: the
// way to use a raw array, and a way for callers that order access by other
// means. It dies with Close.
func (a *Of[T]) UnsafeSlice() []T { return a.o.Elems() }

// Lock is the lock that guards the array (Python's get_lock), or nil for a
// raw array.
func (a *Of[T]) Lock() *semaphore.Lock { return a.o.Lock() }

// Close lets go of this process's reference to the array.
func (a *Of[T]) Close() error { return a.o.Close() }

// Handle names the array for other processes (see OpenHandle).
func (a *Of[T]) Handle() shm.Handle { return a.o.Obj().Handle() }

// ShmObjects tells process.Start which segments to pass along with a.
func (a *Of[T]) ShmObjects() []*shm.Object { return a.o.ShmObjects() }

// GobEncode encodes a's handle.
func (a *Of[T]) GobEncode() ([]byte, error) { return a.o.Obj().GobEncode() }

// GobDecode opens the array whose handle GobEncode encoded.
func (a *Of[T]) GobDecode(data []byte) error {
	o, err := typed.Decode[T](data, shm.KindArray)
	if err != nil {
		return err
	}
	a.o = o
	return nil
}
