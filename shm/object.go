package shm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"os"
	"sync/atomic"

	"github.com/shmkit/shmkit/internal/layout"
)

// Spec describes an object for Alloc.
type Spec struct {
	Kind     Kind   // what the object is; not KindInvalid
	Version  uint16 // the kind's layout version
	Name     string // "" for an unnamed object; unique in the segment otherwise
	Size     int    // payload bytes, at least 1
	Align    int    // payload alignment, a power of two up to MaxAlign; 0 means 8
	ElemSize uint32 // element size of typed objects, checked by Open
	TypeHash uint64 // hash of the Go type of typed objects, checked by Open
}

// Object is one process's reference to an object placed in a segment. It
// keeps the segment mapped until Close. It may be used by many goroutines at
// once; what its payload means is up to the package that placed it.
type Object struct {
	_       noCopy
	m       *mapping
	off     uint64
	h       objHeader
	payload layout.View
	closed  atomic.Bool
}

// Alloc places a new object in the segment and returns it. init, if not
// nil, fills the zeroed payload before anyone else can see the object; it
// must be quick, since Alloc holds the segment's allocation lock, and must
// not keep the view. A named object whose name is taken fails with
// ErrObjectExist; a full segment with ErrNoSpace.
//
// If the process dies inside Alloc, nothing of the object is visible and
// the next Alloc, in any process, proceeds.
func (s *Segment) Alloc(spec Spec, init func(payload layout.View) error) (*Object, error) {
	m, err := s.use()
	if err != nil {
		return nil, err
	}
	defer m.unref()
	if err := checkObjectName(spec.Name); err != nil {
		return nil, err
	}
	a := uint64(spec.Align)
	switch {
	case spec.Kind == KindInvalid:
		return nil, fmt.Errorf("alloc: %w: invalid kind", ErrKind)
	case spec.Size <= 0 || uint64(spec.Size) > m.size:
		return nil, fmt.Errorf("alloc %q: %w: payload of %d bytes in a segment of %d", spec.Name, ErrSize, spec.Size, m.size)
	case spec.Align == 0:
		a = 8
	case spec.Align < 0 || spec.Align > MaxAlign || bits.OnesCount64(a) != 1:
		return nil, fmt.Errorf("alloc %q: %w: alignment %d", spec.Name, ErrSize, spec.Align)
	}
	payloadOff := align(ObjectHeaderSize+uint64(len(spec.Name)), max(a, 8))
	total := align(payloadOff+uint64(spec.Size), 64)
	if err := m.lockAlloc(); err != nil {
		return nil, fmt.Errorf("alloc %q: %w", spec.Name, err)
	}
	defer m.unlockAlloc()
	cur := m.cursor.Load()
	if cur < dataOffset(m.table.Len()) || cur > m.size || cur%64 != 0 {
		return nil, fmt.Errorf("alloc %q: %w: cursor %d", spec.Name, ErrCorrupt, cur)
	}
	if spec.Name != "" {
		_, _, err := m.find(func(o *objHeader, _ uint64) bool { return o.name == spec.Name })
		if err == nil {
			return nil, fmt.Errorf("alloc %q: %w", spec.Name, ErrObjectExist)
		}
		if !errors.Is(err, ErrObjectNotExist) {
			return nil, err
		}
	}
	// The object starts on a line such that its payload, payloadOff (a
	// multiple of a) further on, is a-aligned from the start of the
	// mapping, which is page aligned.
	off := align(cur, max(a, 64))
	if off > m.size || total > m.size-off {
		return nil, fmt.Errorf("alloc %q: %w: %d bytes wanted, %d free in %s", spec.Name, ErrNoSpace, total, m.size-cur, m.displayName())
	}
	// Above the cursor nobody reads, so plain writes are enough. Clear what
	// a dead Alloc may have left there: only below dirty, because above it
	// the file is as it was made, zero. (Clearing it all would fault in
	// every page of a large object at creation, a millisecond a MiB.)
	// dirty is raised before the first write, so a death leaves junk only
	// below it.
	end := off + total
	region, err := m.view.UnsafeBytes(cur, end-cur)
	if err != nil {
		return nil, err
	}
	if d := m.dirty.Load(); d > cur {
		clear(region[:min(d, end)-cur])
	}
	if end > m.dirty.Load() {
		m.dirty.Store(end)
	}
	h := objHeader{
		kind:        spec.Kind,
		version:     spec.Version,
		elemSize:    spec.ElemSize,
		total:       total,
		payloadOff:  payloadOff,
		payloadSize: uint64(spec.Size),
		typeHash:    spec.TypeHash,
		name:        spec.Name,
	}
	encodeObject(region[off-cur:], &h)
	payload, err := m.view.Sub(off+payloadOff, uint64(spec.Size))
	if err != nil {
		return nil, err
	}
	if init != nil {
		if err := init(payload); err != nil {
			return nil, fmt.Errorf("alloc %q: init: %w", spec.Name, err)
		}
	}
	if off != cur {
		// Fill the alignment gap with an unnamed padding object so that
		// walkers step over it.
		pad := objHeader{kind: KindBytes, total: off - cur, payloadOff: ObjectHeaderSize}
		encodeObject(region, &pad)
	}
	// Publish: the cursor store makes every byte above visible to walkers,
	// which load the cursor before reading. The count is for display.
	m.cursor.Store(off + total)
	if off != cur {
		m.objects.Add(1)
	}
	m.objects.Add(1)
	if !m.ref() {
		return nil, ErrClosed
	}
	return &Object{m: m, off: off, h: h, payload: payload}, nil
}

// AllocBytes places n zeroed bytes in the segment, under name ("" for
// none), for the caller's own use through Object.UnsafeBytes.
func (s *Segment) AllocBytes(name string, n int) (*Object, error) {
	return s.Alloc(Spec{Kind: KindBytes, Name: name, Size: n}, nil)
}

// find walks the published objects, in order, and returns the first for
// which match is true, with its offset. It returns ErrObjectNotExist when
// none matches and ErrCorrupt for a bad header.
func (m *mapping) find(match func(o *objHeader, off uint64) bool) (objHeader, uint64, error) {
	end := m.cursor.Load()
	start := dataOffset(m.table.Len())
	if end < start || end > m.size || end%64 != 0 {
		return objHeader{}, 0, fmt.Errorf("%w: cursor %d", ErrCorrupt, end)
	}
	for off := start; off < end; {
		o, err := decodeObject(m.data, off, end)
		if err != nil {
			return objHeader{}, 0, err
		}
		if match(&o, off) {
			return o, off, nil
		}
		off += o.total
	}
	return objHeader{}, 0, ErrObjectNotExist
}

// object returns a new Object for the checked header o at off, taking a
// reference to m that the Object owns.
func (m *mapping) object(o objHeader, off uint64) (*Object, error) {
	payload, err := m.view.Sub(off+o.payloadOff, o.payloadSize)
	if err != nil {
		return nil, err
	}
	if !m.ref() {
		return nil, ErrClosed
	}
	return &Object{m: m, off: off, h: o, payload: payload}, nil
}

// Lookup finds the object named name and checks that it is of kind. Pass
// KindInvalid to accept any kind.
func (s *Segment) Lookup(name string, kind Kind) (*Object, error) {
	m, err := s.use()
	if err != nil {
		return nil, err
	}
	defer m.unref()
	if name == "" {
		return nil, fmt.Errorf("lookup: %w: empty object name", ErrName)
	}
	o, off, err := m.find(func(o *objHeader, _ uint64) bool { return o.name == name })
	if err != nil {
		return nil, fmt.Errorf("lookup %q in %s: %w", name, m.displayName(), err)
	}
	if kind != KindInvalid && o.kind != kind {
		return nil, fmt.Errorf("lookup %q: %w: it is a %v, not a %v", name, ErrKind, o.kind, kind)
	}
	return m.object(o, off)
}

// ObjectInfo describes one object, for people and tools.
type ObjectInfo struct {
	Name     string
	Kind     Kind
	Version  uint16
	Offset   uint64 // of the object header
	Size     int    // payload bytes
	ElemSize uint32
	TypeHash uint64
}

// Objects lists the objects in the segment, in the order they were placed.
func (s *Segment) Objects() ([]ObjectInfo, error) {
	m, err := s.use()
	if err != nil {
		return nil, err
	}
	defer m.unref()
	var out []ObjectInfo
	_, _, err = m.find(func(o *objHeader, off uint64) bool {
		out = append(out, ObjectInfo{Name: o.name, Kind: o.kind, Version: o.version, Offset: off,
			Size: int(o.payloadSize), ElemSize: o.elemSize, TypeHash: o.typeHash})
		return false
	})
	if !errors.Is(err, ErrObjectNotExist) {
		return out, err
	}
	return out, nil
}

// use takes a reference to the mapping for one call, as Segment.use does;
// the caller drops it with unref.
func (o *Object) use() error {
	if o == nil || o.m == nil || o.closed.Load() || !o.m.ref() {
		return ErrClosed
	}
	return nil
}

// Close lets go of the object; the segment stays mapped while other
// references remain. A second Close returns ErrClosed.
func (o *Object) Close() error {
	if o == nil || o.m == nil || !o.closed.CompareAndSwap(false, true) {
		return ErrClosed
	}
	return o.m.unref()
}

// Kind is the object's kind.
func (o *Object) Kind() Kind { return o.h.kind }

// Version is the layout version of the object's kind.
func (o *Object) Version() uint16 { return o.h.version }

// Name is the object's name, or "" if it has none.
func (o *Object) Name() string { return o.h.name }

// Size is the number of payload bytes.
func (o *Object) Size() int { return int(o.h.payloadSize) }

// ElemSize and TypeHash are what Alloc recorded for a typed object.
func (o *Object) ElemSize() uint32 { return o.h.elemSize }

// TypeHash is the hash of the Go type recorded by Alloc, or 0.
func (o *Object) TypeHash() uint64 { return o.h.typeHash }

// Payload is a view of the object's payload. It is valid until Close.
func (o *Object) Payload() layout.View { return o.payload }

// UnsafeBytes returns the payload as a slice of shared memory. It dies with
// Close; reads and writes through it race with other processes unless the
// caller orders them.
func (o *Object) UnsafeBytes() []byte {
	b, _ := o.payload.UnsafeBytes(0, uint64(o.payload.Len()))
	return b
}

// Self is the token of this process's attachment to the object's segment,
// for owner words; 0 if the segment was opened to observe.
func (o *Object) Self() Token { return o.m.self }

// Alive reports whether the attachment tok of the object's segment is
// alive. See Segment.Alive.
func (o *Object) Alive(tok Token) (bool, error) {
	if err := o.use(); err != nil {
		return false, err
	}
	defer o.m.unref()
	return o.m.table.Alive(tok)
}

// Handle names the object for other processes.
func (o *Object) Handle() Handle {
	return Handle{Segment: o.m.id, Name: o.m.name, Offset: o.off, Kind: o.h.kind}
}

// Handle names an object across processes: the segment (by its random id,
// and by name when it has one), the offset of the object's header, and its
// kind. The zero Handle names nothing. It is a plain value: send it in a
// message or as an argument of process.Start.
type Handle struct {
	Segment uint64
	Name    string // the segment's name; "" for an anonymous segment
	Offset  uint64
	Kind    Kind
}

const handleVersion = 1

// checkHandleName accepts what a handle may carry as a segment name: none,
// or a name that Open accepts.
func checkHandleName(name string) error {
	if name == "" {
		return nil
	}
	if _, err := fullName(name); err != nil {
		return fmt.Errorf("%w: %w", ErrHandle, err)
	}
	return nil
}

// MarshalBinary encodes the handle.
func (h Handle) MarshalBinary() ([]byte, error) {
	if err := checkHandleName(h.Name); err != nil {
		return nil, err
	}
	b := make([]byte, 0, 1+4+8+8+2+len(h.Name))
	b = append(b, handleVersion)
	b = binary.LittleEndian.AppendUint32(b, uint32(h.Kind))
	b = binary.LittleEndian.AppendUint64(b, h.Segment)
	b = binary.LittleEndian.AppendUint64(b, h.Offset)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(h.Name)))
	return append(b, h.Name...), nil
}

// UnmarshalBinary decodes a handle encoded by MarshalBinary, checking it.
func (h *Handle) UnmarshalBinary(b []byte) error {
	const fixed = 1 + 4 + 8 + 8 + 2
	if len(b) < fixed {
		return fmt.Errorf("%w: %d bytes", ErrHandle, len(b))
	}
	if b[0] != handleVersion {
		return fmt.Errorf("%w: version %d", ErrHandle, b[0])
	}
	n := int(binary.LittleEndian.Uint16(b[21:]))
	if len(b) != fixed+n {
		return fmt.Errorf("%w: %d bytes for a name of %d", ErrHandle, len(b), n)
	}
	name := string(b[fixed:])
	if err := checkHandleName(name); err != nil {
		return err
	}
	*h = Handle{
		Kind:    Kind(binary.LittleEndian.Uint32(b[1:])),
		Segment: binary.LittleEndian.Uint64(b[5:]),
		Offset:  binary.LittleEndian.Uint64(b[13:]),
		Name:    name,
	}
	return nil
}

// OpenHandle returns the object h names, checking that it is of kind
// (KindInvalid accepts any). The segment must be attached in this process
// (anonymous segments reach children through process.Start) or be named,
// in which case OpenHandle opens it.
func OpenHandle(h Handle, kind Kind) (*Object, error) {
	if h.Segment == 0 {
		return nil, fmt.Errorf("%w: zero handle", ErrHandle)
	}
	if kind != KindInvalid && h.Kind != kind {
		return nil, fmt.Errorf("%w: handle of a %v, not a %v", ErrKind, h.Kind, kind)
	}
	m := lookupID(h.Segment)
	if m == nil {
		if h.Name == "" {
			return nil, fmt.Errorf("%w: anonymous segment %016x is not attached in this process", ErrHandle, h.Segment)
		}
		s, err := Open(h.Name, nil)
		if err != nil {
			return nil, err
		}
		if s.m.id != h.Segment {
			s.Close()
			return nil, fmt.Errorf("%w: %s was removed and created again", ErrHandle, h.Name)
		}
		// The Segment's reference passes to the object below.
		m = s.m
	}
	defer m.unref()
	o, off, err := m.find(func(_ *objHeader, off uint64) bool { return off >= h.Offset })
	if err == nil && off != h.Offset {
		err = ErrObjectNotExist
	}
	if err != nil {
		return nil, fmt.Errorf("open handle at %d of %s: %w", h.Offset, m.displayName(), err)
	}
	if o.kind != h.Kind {
		return nil, fmt.Errorf("open handle: %w: object is a %v, handle says %v", ErrKind, o.kind, h.Kind)
	}
	return m.object(o, off)
}

// CheckType checks an object's element size and type hash against what
// the caller expects, for typed objects.
func (o *Object) CheckType(elemSize uint32, typeHash uint64) error {
	if o.h.elemSize != elemSize || o.h.typeHash != typeHash {
		return fmt.Errorf("%w: object %q holds elements of %d bytes with type hash %016x; want %d bytes, %016x",
			ErrType, o.h.name, o.h.elemSize, o.h.typeHash, elemSize, typeHash)
	}
	return nil
}

// SegmentID is the id of the object's segment.
func (o *Object) SegmentID() uint64 { return o.m.id }

// File returns the open file of the object's segment, for passing to a
// child process (process.Start does it). It stays owned by the segment.
func (o *Object) File() (*os.File, error) {
	if err := o.use(); err != nil {
		return nil, err
	}
	defer o.m.unref()
	return o.m.f, nil
}

// GobEncode encodes the object's handle, so that a *Object can be an
// argument of process.Start or travel inside a message.
func (o *Object) GobEncode() ([]byte, error) {
	if err := o.use(); err != nil {
		return nil, err
	}
	defer o.m.unref()
	return o.Handle().MarshalBinary()
}

// GobDecode makes o a new reference to the object whose handle GobEncode
// encoded, as OpenHandle does.
func (o *Object) GobDecode(b []byte) error {
	if o.m != nil {
		return fmt.Errorf("%w: decoding into an object in use", ErrHandle)
	}
	var h Handle
	if err := h.UnmarshalBinary(b); err != nil {
		return err
	}
	p, err := OpenHandle(h, KindInvalid)
	if err != nil {
		return err
	}
	// p's reference passes to o; p is dropped without Close.
	o.m, o.off, o.h, o.payload = p.m, p.off, p.h, p.payload
	return nil
}

// Slots is the number of slots in the process table of the object's
// segment: tokens of that segment name slots below it.
func (o *Object) Slots() int { return o.m.table.Len() }
