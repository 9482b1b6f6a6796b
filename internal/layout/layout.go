// Package layout is the only place that turns an offset into a mapping into a
// pointer. Every accessor checks bounds with overflow-safe arithmetic and
// alignment before it hands anything out, so a corrupted offset read from
// shared memory gives an error, never a fault.
//
// A View does not own its memory: the pointers and slices it returns die with
// the mapping they point into. Callers keep the mapping alive for as long as
// they use them.
package layout

import (
	"errors"
	"fmt"
	"sync/atomic"
	"unsafe"
)

var (
	// ErrOutOfBounds reports an offset or length that does not fit the view.
	ErrOutOfBounds = errors.New("layout: out of bounds")
	// ErrMisaligned reports an offset not aligned for the type asked for.
	ErrMisaligned = errors.New("layout: misaligned")
)

// View is a bounds-checked window onto memory owned by someone else, usually
// a mapping of a shared segment. The zero View is empty. A View is a value:
// copy it freely; it may be used by many goroutines at once.
type View struct {
	b []byte
}

// Of returns a view of b. b's memory must stay valid while the view is used.
func Of(b []byte) View { return View{b: b} }

// Len is the length of the view in bytes.
func (v View) Len() int { return len(v.b) }

// check reports whether [off, off+n) lies in the view and off is a multiple
// of align (a power of two), without overflowing.
func (v View) check(off, n, align uint64) error {
	size := uint64(len(v.b))
	if off > size || n > size-off {
		return fmt.Errorf("%w: [%d, +%d) of %d bytes", ErrOutOfBounds, off, n, size)
	}
	if align > 1 && off&(align-1) != 0 {
		return fmt.Errorf("%w: offset %d for alignment %d", ErrMisaligned, off, align)
	}
	// The base of a mapping is page aligned, so an aligned offset gives an
	// aligned address; a view of ordinary Go memory may not be, so check the
	// address as well.
	if align > 1 && n > 0 && uintptr(unsafe.Pointer(&v.b[off]))&uintptr(align-1) != 0 {
		return fmt.Errorf("%w: address of offset %d for alignment %d", ErrMisaligned, off, align)
	}
	return nil
}

// Sub returns the view of bytes [off, off+n).
func (v View) Sub(off, n uint64) (View, error) {
	if err := v.check(off, n, 1); err != nil {
		return View{}, err
	}
	return View{b: v.b[off : off+n : off+n]}, nil
}

// Uint32 returns an atomic view of the 4-byte word at off, which must be
// 4-byte aligned.
func (v View) Uint32(off uint64) (*atomic.Uint32, error) {
	if err := v.check(off, 4, 4); err != nil {
		return nil, err
	}
	// Sound: the word lies inside the view and is 4-byte aligned, and
	// atomic.Uint32 is a bare uint32 with no hidden fields.
	return (*atomic.Uint32)(unsafe.Pointer(&v.b[off])), nil
}

// Uint64 returns an atomic view of the 8-byte word at off, which must be
// 8-byte aligned.
func (v View) Uint64(off uint64) (*atomic.Uint64, error) {
	if err := v.check(off, 8, 8); err != nil {
		return nil, err
	}
	// Sound: as Uint32; atomic.Uint64 is a uint64 whose only extra field is
	// a zero-size alignment marker, and the address is 8-byte aligned.
	return (*atomic.Uint64)(unsafe.Pointer(&v.b[off])), nil
}

// UnsafeBytes returns the bytes [off, off+n) as a slice sharing the view's
// memory. The slice dies with the mapping; plain reads and writes through it
// race with other processes unless something else orders them.
func (v View) UnsafeBytes(off, n uint64) ([]byte, error) {
	if err := v.check(off, n, 1); err != nil {
		return nil, err
	}
	return v.b[off : off+n : off+n], nil
}

// UnsafeSlice returns n elements of type T starting at off, sharing the
// view's memory. T must hold no Go pointers (the caller checks: the garbage
// collector must never see a pointer into a mapping that it did not
// allocate, and memory written by another process holds no valid Go
// pointers). off must be aligned for T.
func UnsafeSlice[T any](v View, off, n uint64) ([]T, error) {
	var zero T
	size := uint64(unsafe.Sizeof(zero))
	align := uint64(unsafe.Alignof(zero))
	if size != 0 && n > ^uint64(0)/size {
		return nil, fmt.Errorf("%w: %d elements of %d bytes", ErrOutOfBounds, n, size)
	}
	if err := v.check(off, n*size, align); err != nil {
		return nil, err
	}
	if n == 0 {
		return []T{}, nil
	}
	// Sound: the n*size bytes lie inside the view, the start is aligned for
	// T, and T holds no pointers, so any bit pattern is a valid T.
	return unsafe.Slice((*T)(unsafe.Pointer(&v.b[off])), n), nil
}

// UnsafePointer returns a pointer to a T at off, with the same rules as
// UnsafeSlice.
func UnsafePointer[T any](v View, off uint64) (*T, error) {
	s, err := UnsafeSlice[T](v, off, 1)
	if err != nil {
		return nil, err
	}
	return &s[0], nil
}
