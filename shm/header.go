package shm

// The segment header and the object header. Every field is little-endian
// and fixed size. The words that change after publication (cursor,
// allocLock, objects, and the ready word) are reached through sync/atomic;
// the others are written once before the ready word or the cursor publishes
// them, and read with plain loads after.
//
// Segment, version 1:
//
//	+--------------------+ 0
//	| header (128 bytes) |
//	+--------------------+ HeaderSize
//	| process table      |  slots × liveness.SlotSize
//	+--------------------+ dataOff (64-aligned)
//	| object 0           |
//	| object 1           |
//	| ...                |
//	+--------------------+ cursor: next free byte, stored last by Alloc
//	| free (zero, or junk|
//	| from a dead Alloc  |
//	| below dirty)       |
//	+--------------------+ size
//
// Header fields:
//
//	off size field
//	0   8    magic      "shmkitSG"
//	8   4    version    1
//	12  4    ready      0 while the creator sets up; readyValue once done, stored last
//	16  8    size       total bytes, equal to the file's size
//	24  4    tableOff   HeaderSize
//	28  4    slots      number of process-table slots, 1..liveness.MaxSlots
//	32  8    id         random, never zero: tells segments apart across processes
//	40  4    creatorPid for display only
//	44  4    flags      flagAnonymous
//	48  8    created    unix nanoseconds, for display only
//	56  8    dataOff    offset of the first object, 64-aligned
//	64  8    cursor     end of the last published object; dataOff <= cursor <= size
//	72  4    allocLock  owner token | waiter bit, see alloclock.go
//	76  4    objects    number of published objects, padding included, for display only;
//	                    raised just after the cursor store
//	80  8    dirty      end of what an Alloc may have written; above max(cursor, dirty)
//	                    the file is still zero, and Alloc clears only below it
//	88  40   reserved, zero
//
// Object header, version 1, at a 64-aligned offset:
//
//	off size field
//	0   4    magic       "SOBJ"
//	4   4    kind        Kind
//	8   2    version     the kind's layout version
//	10  2    nameLen     0..MaxObjectName
//	12  4    elemSize    element size for typed objects, else 0
//	16  8    total       bytes from this header to the next object, 64-aligned
//	24  8    payloadOff  from this header to the payload, a multiple of max(Align, 8)
//	32  8    payloadSize bytes
//	40  8    typeHash    hash of the Go type of typed objects, else 0
//	48  16   reserved, zero
//	64  nameLen bytes of name, then zero padding up to payloadOff
//
// An object is published by storing the segment's cursor past it, after
// every byte of it is written; walkers load the cursor first and read only
// below it, so they never see a half-written object. Published object headers
// are never written again.

import (
	"encoding/binary"
	"fmt"
)

const (
	// HeaderSize is the size of the segment header.
	HeaderSize = 128
	// ObjectHeaderSize is the size of an object header, before its name.
	ObjectHeaderSize = 64
	// Version is the segment layout version this code writes and reads.
	Version = 1
	// DefaultSlots is the number of process-table slots when Options.Slots
	// is zero.
	DefaultSlots = 64
	// MaxSize is the largest segment.
	MaxSize = 1 << 40
	// MaxObjectName is the longest object name.
	MaxObjectName = 255
	// MaxAlign is the largest payload alignment Alloc accepts.
	MaxAlign = 4096

	magic      = "shmkitSG"
	objMagic   = "SOBJ"
	readyValue = 0x59444552 // "REDY"

	flagAnonymous = 1

	offMagic      = 0
	offVersion    = 8
	offReady      = 12
	offSize       = 16
	offTableOff   = 24
	offSlots      = 28
	offID         = 32
	offCreatorPid = 40
	offFlags      = 44
	offCreated    = 48
	offDataOff    = 56
	offCursor     = 64
	offAllocLock  = 72
	offObjects    = 76
	offDirty      = 80

	oMagic       = 0
	oKind        = 4
	oVersion     = 8
	oNameLen     = 10
	oElemSize    = 12
	oTotal       = 16
	oPayloadOff  = 24
	oPayloadSize = 32
	oTypeHash    = 40
)

var le = binary.LittleEndian

// header is the decoded segment header.
type header struct {
	magic      [8]byte
	version    uint32
	ready      uint32
	size       uint64
	tableOff   uint32
	slots      uint32
	id         uint64
	creatorPid uint32
	flags      uint32
	created    int64
	dataOff    uint64
	cursor     uint64
}

func decodeHeader(b []byte) header {
	var h header
	copy(h.magic[:], b[offMagic:])
	h.version = le.Uint32(b[offVersion:])
	h.ready = le.Uint32(b[offReady:])
	h.size = le.Uint64(b[offSize:])
	h.tableOff = le.Uint32(b[offTableOff:])
	h.slots = le.Uint32(b[offSlots:])
	h.id = le.Uint64(b[offID:])
	h.creatorPid = le.Uint32(b[offCreatorPid:])
	h.flags = le.Uint32(b[offFlags:])
	h.created = int64(le.Uint64(b[offCreated:]))
	h.dataOff = le.Uint64(b[offDataOff:])
	h.cursor = le.Uint64(b[offCursor:])
	return h
}

// dataOffset is where objects start in a segment with n slots.
func dataOffset(slots int) uint64 {
	return align(HeaderSize+uint64(slots)*slotSize, 64)
}

// minSize is the smallest segment with n slots: header, table and one
// line of data.
func minSize(slots int) uint64 { return dataOffset(slots) + 64 }

func align(n, a uint64) uint64 { return (n + a - 1) &^ (a - 1) }

// validate checks a header read from a file of fileSize bytes: magic, then
// version, then ready, then sizes, one sentinel each.
func (h *header) validate(fileSize int64) error {
	if string(h.magic[:]) != magic {
		return ErrNotShmkit
	}
	if h.version != Version {
		return fmt.Errorf("%w: %d, this code reads %d", ErrVersion, h.version, Version)
	}
	if h.ready != readyValue {
		if h.ready == 0 {
			return ErrNotReady
		}
		return fmt.Errorf("%w: ready word %#x", ErrCorrupt, h.ready)
	}
	if h.size != uint64(fileSize) {
		if uint64(fileSize) < h.size {
			return fmt.Errorf("%w: file has %d bytes, header says %d", ErrTruncated, fileSize, h.size)
		}
		return fmt.Errorf("%w: file has %d bytes, header says %d", ErrCorrupt, fileSize, h.size)
	}
	if h.size > MaxSize {
		return fmt.Errorf("%w: size %d", ErrCorrupt, h.size)
	}
	if h.tableOff != HeaderSize || h.slots == 0 || h.slots > maxSlots {
		return fmt.Errorf("%w: table at %d with %d slots", ErrCorrupt, h.tableOff, h.slots)
	}
	if h.dataOff != dataOffset(int(h.slots)) || h.size < minSize(int(h.slots)) {
		return fmt.Errorf("%w: data at %d in %d bytes", ErrCorrupt, h.dataOff, h.size)
	}
	if h.id == 0 {
		return fmt.Errorf("%w: zero id", ErrCorrupt)
	}
	if h.cursor < h.dataOff || h.cursor > h.size || h.cursor%64 != 0 {
		return fmt.Errorf("%w: cursor %d", ErrCorrupt, h.cursor)
	}
	return nil
}

// objHeader is a decoded object header.
type objHeader struct {
	kind        Kind
	version     uint16
	elemSize    uint32
	total       uint64
	payloadOff  uint64
	payloadSize uint64
	typeHash    uint64
	name        string
}

// decodeObject decodes and checks the object header at off of b, where
// every published object lies below end. It returns the header or an error
// wrapping ErrCorrupt.
func decodeObject(b []byte, off, end uint64) (objHeader, error) {
	var o objHeader
	if off%64 != 0 || off > end || end-off < ObjectHeaderSize || end > uint64(len(b)) {
		return o, fmt.Errorf("%w: object at %d below %d", ErrCorrupt, off, end)
	}
	p := b[off:end]
	if string(p[oMagic:oMagic+4]) != objMagic {
		return o, fmt.Errorf("%w: no object magic at %d", ErrCorrupt, off)
	}
	o.kind = Kind(le.Uint32(p[oKind:]))
	o.version = le.Uint16(p[oVersion:])
	nameLen := uint64(le.Uint16(p[oNameLen:]))
	o.elemSize = le.Uint32(p[oElemSize:])
	o.total = le.Uint64(p[oTotal:])
	o.payloadOff = le.Uint64(p[oPayloadOff:])
	o.payloadSize = le.Uint64(p[oPayloadSize:])
	o.typeHash = le.Uint64(p[oTypeHash:])
	switch {
	case o.total < ObjectHeaderSize || o.total%64 != 0 || o.total > end-off:
		return o, fmt.Errorf("%w: object at %d has total %d", ErrCorrupt, off, o.total)
	case nameLen > MaxObjectName:
		return o, fmt.Errorf("%w: object at %d has name length %d", ErrCorrupt, off, nameLen)
	case o.payloadOff < ObjectHeaderSize+nameLen || o.payloadOff > o.total ||
		o.payloadSize > o.total-o.payloadOff:
		return o, fmt.Errorf("%w: object at %d has payload [%d, +%d) in %d", ErrCorrupt, off, o.payloadOff, o.payloadSize, o.total)
	}
	o.name = string(p[ObjectHeaderSize : ObjectHeaderSize+nameLen])
	return o, nil
}

// encodeObject writes o's header and name at the start of p.
func encodeObject(p []byte, o *objHeader) {
	copy(p[oMagic:], objMagic)
	le.PutUint32(p[oKind:], uint32(o.kind))
	le.PutUint16(p[oVersion:], o.version)
	le.PutUint16(p[oNameLen:], uint16(len(o.name)))
	le.PutUint32(p[oElemSize:], o.elemSize)
	le.PutUint64(p[oTotal:], o.total)
	le.PutUint64(p[oPayloadOff:], o.payloadOff)
	le.PutUint64(p[oPayloadSize:], o.payloadSize)
	le.PutUint64(p[oTypeHash:], o.typeHash)
	copy(p[ObjectHeaderSize:], o.name)
}
