package shm_test

// Fuzz targets (STYLE.md §6):
//
//   - FuzzOpen opens arbitrary bytes as a named segment: Open must return an
//     error (and a nil segment) or a segment that works, and nothing may
//     panic.
//   - FuzzHandle decodes arbitrary bytes as a Handle: no panic, and what
//     decodes encodes back to the same bytes.
//   - FuzzAlloc runs a sequence of operations, read from the fuzz bytes, on
//     an anonymous segment and compares every result with a plain-Go model
//     built from the sizing rules of docs/layout.md.
//
// Run one with, for example,
//
//	go test -run '^$' -fuzz '^FuzzOpen$' -fuzztime 60s ./shm/

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/shmkit/shmkit/internal/layout"
	"github.com/shmkit/shmkit/internal/liveness"
	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/internal/sys"
	"github.com/shmkit/shmkit/shm"
)

// fuzzSegmentBytes creates a real named segment with a few objects (one
// named, one aligned to 256 behind a padding object, one unnamed), copies
// its file, and removes it again. The copy is laid out as follows (2 slots,
// 4096 bytes): data at 192; "alpha" at 192 (total 128); padding at 320
// (total 192); "beta" at 512 (total 320, payload at 768); an unnamed object
// at 832 (total 128); cursor 960.
func fuzzSegmentBytes(f *testing.F) []byte {
	f.Helper()
	name := shmtest.Name(f)
	seg, err := shm.Create(name, 4096, &shm.Options{Slots: 2})
	if err != nil {
		f.Fatalf("Create(%q) = %v", name, err)
	}
	defer shm.Remove(name)
	defer seg.Close()
	specs := []shm.Spec{
		{Kind: shm.KindBytes, Name: "alpha", Size: 32},
		{Kind: shm.KindArray, Version: 2, Name: "beta", Size: 40, Align: 256, ElemSize: 4, TypeHash: 0xabcdef},
		{Kind: shm.KindLock, Version: 1, Size: 16},
	}
	for _, spec := range specs {
		o, err := seg.Alloc(spec, nil)
		if err != nil {
			f.Fatalf("Alloc(%+v) = %v", spec, err)
		}
		o.Close()
	}
	// Read through the segment's own descriptor, not by path: see the
	// note on fuzz workers in FuzzOpen.
	file, err := seg.File()
	if err != nil {
		f.Fatalf("File() = %v", err)
	}
	b := make([]byte, seg.Size())
	if _, err := file.ReadAt(b, 0); err != nil {
		f.Fatalf("ReadAt: %v", err)
	}
	return b
}

// withField returns a copy of b with the n-byte little-endian field at off
// set to v.
func withField(b []byte, off, n int, v uint64) []byte {
	c := slices.Clone(b)
	switch n {
	case 2:
		binary.LittleEndian.PutUint16(c[off:], uint16(v))
	case 4:
		binary.LittleEndian.PutUint32(c[off:], uint32(v))
	case 8:
		binary.LittleEndian.PutUint64(c[off:], v)
	default:
		copy(c[off:off+n], make([]byte, n))
	}
	return c
}

// fuzzOpenErrors are the errors Open may return for a file it cannot use.
var fuzzOpenErrors = []error{shm.ErrNotShmkit, shm.ErrVersion, shm.ErrNotReady, shm.ErrTruncated, shm.ErrCorrupt}

func isOneOf(err error, targets []error) bool {
	for _, t := range targets {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}

func FuzzOpen(f *testing.F) {
	valid := fuzzSegmentBytes(f)
	f.Add([]byte{})
	f.Add(valid)
	f.Add(valid[:100])  // shorter than a header
	f.Add(valid[:2000]) // shorter than its size
	f.Add(append(slices.Clone(valid), make([]byte, 64)...))
	f.Add(make([]byte, 4096)) // all zeros: a creator at work
	f.Add(make([]byte, 50))   // shorter than a header, all zeros
	f.Add([]byte("not a shmkit segment"))
	// Every header field, zeroed and filled with ones.
	for _, fld := range []struct{ off, n int }{
		{0, 8}, {8, 4}, {12, 4}, {16, 8}, {24, 4}, {28, 4}, {32, 8}, {40, 4},
		{44, 4}, {48, 8}, {56, 8}, {64, 8}, {72, 4}, {76, 4}, {80, 8},
	} {
		f.Add(withField(valid, fld.off, fld.n, 0))
		f.Add(withField(valid, fld.off, fld.n, ^uint64(0)))
	}
	// Header fields with values that are nearly right.
	for _, fld := range []struct {
		off, n int
		v      uint64
	}{
		{8, 4, 2},                  // version 2
		{12, 4, 0x59444553},        // ready off by one
		{16, 8, 4096 + 64},         // size beyond the file
		{16, 8, 1 << 41},           // size beyond the limit
		{24, 4, 160},               // table elsewhere
		{28, 4, 1025},              // too many slots
		{28, 4, 3},                 // slots that do not match dataOff
		{56, 8, 256},               // dataOff that does not match slots
		{64, 8, 192},               // cursor at dataOff: no objects
		{64, 8, 4096},              // cursor at the end: zeros above 960
		{64, 8, 961},               // cursor not a multiple of 64
		{64, 8, 128},               // cursor below dataOff
		{64, 8, 320},               // cursor inside the padding object
		{72, 4, 1<<10 | 1},         // lock owned by slot 1, gen 1: dead
		{72, 4, 1<<10 | 1023},      // lock owned by a slot beyond the table
		{72, 4, 1<<31 | 1<<10 | 1}, // dead owner and the waiter bit
		{72, 4, 2 << 10},           // the token Open will be given (see below)
		{128, 4, 0x400000},         // slot 0 gen beyond the 21 bits
		{160, 4, 5},                // slot 1 gen 5, never locked
		{144, 4, 7},                // slot 0 state 7
	} {
		f.Add(withField(valid, fld.off, fld.n, fld.v))
	}
	// Object headers with huge or inconsistent fields.
	for _, fld := range []struct {
		off, n int
		v      uint64
	}{
		{192 + 0, 4, 0},           // alpha's magic
		{192 + 10, 2, 0xffff},     // name length
		{192 + 10, 2, 255},        // name length past payloadOff
		{192 + 16, 8, 1 << 62},    // total
		{192 + 16, 8, ^uint64(0)}, // total
		{192 + 16, 8, 64},         // total that lands inside the payload
		{192 + 16, 8, 0},          // total
		{192 + 16, 8, 100},        // total not a multiple of 64
		{192 + 24, 8, 1 << 62},    // payloadOff
		{192 + 24, 8, 0},          // payloadOff
		{192 + 32, 8, 1 << 62},    // payloadSize
		{192 + 32, 8, ^uint64(0)}, // payloadSize
		{320 + 16, 8, 1 << 40},    // padding total
		{512 + 4, 4, 0},           // beta's kind: invalid
		{512 + 24, 8, 4096},       // beta's payloadOff beyond its total
		{832 + 16, 8, 4096 - 832}, // the last object runs to the end of the file
		{832 + 16, 8, 4096 - 832 + 64},
	} {
		f.Add(withField(valid, fld.off, fld.n, fld.v))
	}
	// Two objects with one name.
	dup := slices.Clone(valid)
	copy(dup[512+64:], "alpha")
	binary.LittleEndian.PutUint16(dup[512+10:], 5)
	f.Add(dup)

	f.Fuzz(func(t *testing.T, data []byte) {
		name := shmtest.Name(t)
		path := filepath.Join(sys.ShmDir(), name)
		file, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o600)
		if err != nil {
			t.Fatalf("create %s: %v", path, err)
		}
		t.Cleanup(func() {
			if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("remove %s: %v", path, err)
			}
		})
		_, werr := file.Write(data)
		if cerr := file.Close(); werr != nil || cerr != nil {
			t.Fatalf("write %s: %v, %v", path, werr, cerr)
		}

		seg, err := shm.Open(name, &shm.Options{OpenWait: -1})
		if errors.Is(err, fs.ErrNotExist) {
			// Under -fuzz, every worker process runs shmtest.Main with the
			// coordinator's run tag, and a worker that the coordinator stops
			// removes every segment of the run on its way out, including
			// this one.
			if _, serr := os.Stat(path); errors.Is(serr, fs.ErrNotExist) {
				t.Skipf("%s was removed under the test, by another process of this run", path)
			}
		}
		if err != nil {
			if seg != nil {
				t.Fatalf("Open = %p, %v: want a nil segment with the error", seg, err)
			}
			if !isOneOf(err, fuzzOpenErrors) {
				t.Fatalf("Open = %v: want one of %v", err, fuzzOpenErrors)
			}
			return
		}
		if seg == nil {
			t.Fatalf("Open = nil, nil")
		}
		var objects []*shm.Object
		t.Cleanup(func() {
			for _, o := range objects {
				if err := o.Close(); err != nil {
					t.Errorf("Object.Close() = %v", err)
				}
			}
			if err := seg.Close(); err != nil {
				t.Errorf("Segment.Close() = %v", err)
			}
		})
		keep := func(o *shm.Object) { objects = append(objects, o) }

		if got := seg.Size(); got != len(data) {
			t.Errorf("Size() = %d, want the file's %d", got, len(data))
		}
		if got, want := seg.ID(), binary.LittleEndian.Uint64(data[32:]); got != want {
			t.Errorf("ID() = %#x, want %#x from offset 32", got, want)
		}
		if seg.Self() == 0 {
			t.Errorf("Self() = 0 for an attachment that is not an observer")
		}
		// Info may fail on a corrupt process table (see the bad token
		// case in the report), but must not panic.
		seg.Info()
		seg.InUse()

		infos, objErr := seg.Objects()
		if objErr != nil && !errors.Is(objErr, shm.ErrCorrupt) {
			t.Errorf("Objects() = %v: want nil or ErrCorrupt", objErr)
		}
		if objErr == nil {
			for i, info := range infos {
				if info.Name != "" {
					o, err := seg.Lookup(info.Name, shm.KindInvalid)
					if err != nil {
						t.Fatalf("Lookup(%q) of a listed object = %v", info.Name, err)
					}
					keep(o)
					first := slices.IndexFunc(infos, func(x shm.ObjectInfo) bool { return x.Name == info.Name })
					if off := o.Handle().Offset; off != infos[first].Offset {
						t.Errorf("Lookup(%q) found the object at %d, want the first of that name at %d", info.Name, off, infos[first].Offset)
					}
				}
				h := shm.Handle{Segment: seg.ID(), Name: seg.Name(), Offset: info.Offset, Kind: info.Kind}
				o, err := shm.OpenHandle(h, shm.KindInvalid)
				if err != nil {
					t.Fatalf("OpenHandle(%+v) of listed object %d = %v", h, i, err)
				}
				keep(o)
				if o.Kind() != info.Kind || o.Size() != info.Size || o.Name() != info.Name ||
					o.Version() != info.Version || o.ElemSize() != info.ElemSize || o.TypeHash() != info.TypeHash {
					t.Errorf("OpenHandle(%+v) = kind %v, size %d, name %q; want %+v", h, o.Kind(), o.Size(), o.Name(), info)
				}
				if n := len(o.UnsafeBytes()); n != info.Size {
					t.Errorf("object %d has %d payload bytes, want %d", i, n, info.Size)
				}
			}
		}

		// Place a named and an unnamed object. (The input
		// testdata/fuzz/FuzzOpen/65c83584f032aee7 once made Alloc wait 30 s
		// for itself: its lock word names the token this Open is given.)
		allocOK := []error{shm.ErrNoSpace, shm.ErrCorrupt, shm.ErrObjectExist, liveness.ErrBadToken, os.ErrDeadlineExceeded}
		spec := shm.Spec{Kind: shm.KindBytes, Name: "fuzz-new", Size: 24}
		o, err := seg.Alloc(spec, nil)
		if err != nil && !isOneOf(err, allocOK) {
			t.Errorf("Alloc(%+v) = %v: want success or one of %v", spec, err, allocOK)
		}
		if err == nil {
			keep(o)
			l, err := seg.Lookup(spec.Name, shm.KindBytes)
			if err != nil {
				t.Fatalf("Lookup(%q) after Alloc = %v", spec.Name, err)
			}
			keep(l)
			if l.Handle() != o.Handle() {
				t.Errorf("Lookup(%q) = %+v, Alloc gave %+v", spec.Name, l.Handle(), o.Handle())
			}
		}
		o, err = seg.Alloc(shm.Spec{Kind: shm.KindBytes, Size: 8}, nil)
		if err != nil && !isOneOf(err, allocOK) {
			t.Errorf("Alloc(8 unnamed bytes) = %v: want success or one of %v", err, allocOK)
		}
		if err == nil {
			keep(o)
		}
	})
}

func FuzzHandle(f *testing.F) {
	for _, h := range []shm.Handle{
		{},
		{Segment: 0x0123456789abcdef, Name: "shmkit-x", Offset: 0x1000, Kind: shm.KindArray},
		{Segment: 1, Offset: 2176, Kind: shm.KindLock},
		{Segment: 2, Name: "jobs", Offset: 64, Kind: 99},
		{Segment: 3, Name: "shmkit-" + strings.Repeat("n", 248), Kind: shm.KindBytes},
	} {
		b, err := h.MarshalBinary()
		if err != nil {
			f.Fatalf("MarshalBinary(%+v) = %v", h, err)
		}
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{1})
	f.Add(make([]byte, 23))
	f.Add(append([]byte{1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0}, "a/b"...))
	f.Add(append([]byte{1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7, 0}, "shmkit-"...))
	f.Add(append([]byte{2, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0}, "x"...))

	f.Fuzz(func(t *testing.T, data []byte) {
		var h shm.Handle
		if err := h.UnmarshalBinary(data); err != nil {
			if !errors.Is(err, shm.ErrHandle) {
				t.Errorf("UnmarshalBinary(% x) = %v, want an error wrapping ErrHandle", data, err)
			}
			return
		}
		b, err := h.MarshalBinary()
		if err != nil {
			t.Fatalf("MarshalBinary(%+v) of a decoded handle = %v", h, err)
		}
		if !slices.Equal(b, data) {
			t.Fatalf("UnmarshalBinary then MarshalBinary:\n% x\nbecame\n% x", data, b)
		}
	})
}

// fuzzReader hands out the fuzz bytes; past the end it gives zeros.
type fuzzReader struct{ b []byte }

func (r *fuzzReader) more() bool { return len(r.b) > 0 }

func (r *fuzzReader) byte() byte {
	if len(r.b) == 0 {
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *fuzzReader) u16() int { return int(r.byte()) | int(r.byte())<<8 }

// allocModel is what FuzzAlloc expects a segment to hold, computed from
// docs/layout.md alone.
type allocModel struct {
	size    uint64
	cursor  uint64
	objects []modelObject // every object, padding included, in order
	byName  map[string]int
}

type modelObject struct {
	info    shm.ObjectInfo
	align   uint64
	pattern byte        // every payload byte; 0 for padding
	obj     *shm.Object // what Alloc returned; nil for padding
}

func alignUp(n, a uint64) uint64 { return (n + a - 1) &^ (a - 1) }

// place returns where an object with a name of nameLen bytes, n payload
// bytes and alignment a goes: its offset, payload offset and total, per the
// sizing rules of docs/layout.md.
func (m *allocModel) place(nameLen, n, a uint64) (off, payloadOff, total uint64) {
	payloadOff = alignUp(64+nameLen, max(a, 8))
	total = alignUp(payloadOff+n, 64)
	off = m.cursor
	if a > 64 {
		off = alignUp(m.cursor, a)
	}
	return off, payloadOff, total
}

var (
	fuzzNames  = []string{"", "a", "bb", "queue", strings.Repeat("n", 200), strings.Repeat("x", 256)}
	fuzzAligns = []int{0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 3, 96, 8192, -8}
	errInit    = errors.New("init refused")
)

func FuzzAlloc(f *testing.F) {
	f.Add([]byte{})
	// 1 slot, 4 KiB: a few allocations, a duplicate, lookups, a listing.
	f.Add([]byte{
		0, 0x00, 0x0f,
		0, 1, 10, 4, 1, 1, 0, 0, // "a", 10 bytes, align 8
		0, 1, 10, 4, 1, 1, 0, 0, // "a" again: taken
		1, 2, 100, 10, 10, 2, 4, 0, // "bb", 100 bytes, align 256 (padding)
		4, 1, 0, 4, 2, 1, 6, 0, // lookups
		6, 7, 0,
	})
	// A small segment that fills up.
	f.Add([]byte{
		3, 0x40, 0,
		0, 0, 150, 4, 1, 0, 0, 0,
		0, 0, 150, 4, 1, 0, 0, 0,
		0, 3, 250, 0xff, 0x7f, 13, 1, 0, 0, 0,
		0, 4, 1, 8, 1, 0, 0, 0,
		6,
	})
	// Bad specs: invalid kind, zero size, bad alignment, long name, init
	// failure.
	f.Add([]byte{
		0, 0, 8,
		0, 1, 10, 4, 0, 0, 0, 0,
		0, 1, 0, 4, 1, 0, 0, 0,
		0, 1, 10, 14, 1, 0, 0, 0,
		0, 5, 10, 4, 1, 0, 0, 0,
		0, 2, 10, 4, 1, 0, 0, 15,
		6, 7, 0, 7, 1,
	})
	// 1 slot, 320 bytes: one object of 64 bytes fills the segment exactly
	// (payloadOff 64, total 128), then nothing fits.
	f.Add([]byte{
		0, 64, 0,
		0, 0, 64, 0, 1, 0, 0, 0,
		0, 1, 1, 0, 1, 0, 0, 0,
		6, 7, 0,
	})

	f.Fuzz(func(t *testing.T, data []byte) {
		r := &fuzzReader{b: data}
		slots := 1 + int(r.byte()%8)
		dataOff := alignUp(128+32*uint64(slots), 64)
		size := dataOff + 64 + uint64(r.u16()%8192)
		seg, err := shm.New(int(size), &shm.Options{Slots: slots})
		if err != nil {
			t.Fatalf("New(%d, %d slots) = %v", size, slots, err)
		}
		m := &allocModel{size: size, cursor: dataOff, byName: map[string]int{}}
		var opened []*shm.Object
		t.Cleanup(func() {
			for _, o := range opened {
				o.Close()
			}
			for _, mo := range m.objects {
				if mo.obj != nil {
					mo.obj.Close()
				}
			}
			if err := seg.Close(); err != nil {
				t.Errorf("Close() = %v", err)
			}
		})

		check := func(step int, what string) {
			t.Helper()
			info, err := seg.Info()
			if err != nil {
				t.Fatalf("step %d (%s): Info() = %v", step, what, err)
			}
			if uint64(info.Used) != m.cursor || info.Objects != len(m.objects) {
				t.Fatalf("step %d (%s): Info() = Used %d, Objects %d; model has cursor %d, %d objects",
					step, what, info.Used, info.Objects, m.cursor, len(m.objects))
			}
		}
		checkPayload := func(step int, mo *modelObject, b []byte) {
			t.Helper()
			if i := slices.IndexFunc(b, func(c byte) bool { return c != mo.pattern }); i >= 0 {
				t.Fatalf("step %d: payload byte %d of %q at %d = %#x, want %#x (overwritten?)",
					step, i, mo.info.Name, mo.info.Offset, b[i], mo.pattern)
			}
		}
		checkObject := func(step int, what string, o *shm.Object, mo *modelObject) {
			t.Helper()
			got := shm.ObjectInfo{Name: o.Name(), Kind: o.Kind(), Version: o.Version(), Offset: o.Handle().Offset,
				Size: o.Size(), ElemSize: o.ElemSize(), TypeHash: o.TypeHash()}
			if got != mo.info {
				t.Fatalf("step %d: %s = %+v, model has %+v", step, what, got, mo.info)
			}
			b := o.UnsafeBytes()
			if len(b) != mo.info.Size {
				t.Fatalf("step %d: %s has %d payload bytes, want %d", step, what, len(b), mo.info.Size)
			}
			if a := max(mo.align, 1); len(b) > 0 && uint64(uintptr(unsafe.Pointer(&b[0])))%a != 0 {
				t.Fatalf("step %d: %s payload at %p, want alignment %d", step, what, &b[0], a)
			}
			checkPayload(step, mo, b)
		}

		check(0, "new segment")
		for step := 1; r.more() && step <= 200; step++ {
			switch op := r.byte() % 8; op {
			case 0, 1, 2, 3: // Alloc
				name := fuzzNames[int(r.byte())%len(fuzzNames)]
				n := int(r.byte())
				if n >= 200 {
					n = r.u16() % int(size+128)
				}
				align := fuzzAligns[int(r.byte())%len(fuzzAligns)]
				kind := shm.Kind(r.byte() % 17)
				version := uint16(r.byte())
				elem := uint32(r.byte())
				initFails := r.byte()%16 == 15
				spec := shm.Spec{Kind: kind, Version: version, Name: name, Size: n, Align: align,
					ElemSize: elem, TypeHash: uint64(elem) * 0x9e3779b97f4a7c15}
				pattern := byte(len(m.objects)%250 + 1)
				called := false
				o, err := seg.Alloc(spec, func(p layout.View) error {
					called = true
					b, err := p.UnsafeBytes(0, uint64(p.Len()))
					if err != nil {
						return err
					}
					if len(b) != n || slices.ContainsFunc(b, func(c byte) bool { return c != 0 }) {
						return fmt.Errorf("init got %d bytes (want %d zeros): % x", len(b), n, b[:min(len(b), 16)])
					}
					if initFails {
						return errInit
					}
					for i := range b {
						b[i] = pattern
					}
					return nil
				})
				if (err == nil) != (o != nil) {
					t.Fatalf("step %d: Alloc(%+v) = %v, %v: want an object exactly when there is no error", step, spec, o != nil, err)
				}
				if o != nil {
					opened = append(opened, o)
				}

				// What docs/layout.md says must happen, in Alloc's order of
				// checks.
				a := uint64(align)
				if align == 0 {
					a = 8
				}
				var want error
				var off, payloadOff, total uint64
				_, taken := m.byName[name]
				switch {
				case len(name) > 255:
					want = shm.ErrName
				case kind == shm.KindInvalid:
					want = shm.ErrKind
				case n <= 0 || uint64(n) > size:
					want = shm.ErrSize
				case align < 0 || align > 4096 || a&(a-1) != 0:
					want = shm.ErrSize
				case name != "" && taken:
					want = shm.ErrObjectExist
				default:
					off, payloadOff, total = m.place(uint64(len(name)), uint64(n), a)
					if off+total > size {
						want = shm.ErrNoSpace
					} else if initFails {
						want = errInit
					}
				}
				what := fmt.Sprintf("Alloc(%+v) with cursor %d of %d", spec, m.cursor, size)
				if !errors.Is(err, want) || (want == nil) != (err == nil) {
					t.Fatalf("step %d: %s = %v, want %v (model: off %d, payloadOff %d, total %d)",
						step, what, err, want, off, payloadOff, total)
				}
				if (want == nil || want == errInit) != called {
					t.Fatalf("step %d: %s called init = %v, want %v", step, what, called, !called)
				}
				if err != nil {
					check(step, what)
					continue
				}
				if off > m.cursor {
					m.objects = append(m.objects, modelObject{info: shm.ObjectInfo{
						Kind: shm.KindBytes, Offset: m.cursor}})
				}
				m.objects = append(m.objects, modelObject{
					info: shm.ObjectInfo{Name: name, Kind: kind, Version: version, Offset: off, Size: n,
						ElemSize: elem, TypeHash: spec.TypeHash},
					align:   a,
					pattern: pattern,
					obj:     o,
				})
				opened = opened[:len(opened)-1] // the model owns it now
				if name != "" {
					m.byName[name] = len(m.objects) - 1
				}
				m.cursor = off + total
				check(step, what)
				checkObject(step, what, o, &m.objects[len(m.objects)-1])

			case 4, 5: // Lookup
				name := fuzzNames[int(r.byte())%(len(fuzzNames)-1)]
				i, ok := m.byName[name]
				var kind shm.Kind
				switch r.byte() % 3 {
				case 1:
					if ok {
						kind = m.objects[i].info.Kind
					}
				case 2:
					kind = shm.KindPipe
				}
				o, err := seg.Lookup(name, kind)
				var want error
				switch {
				case name == "":
					want = shm.ErrName
				case !ok:
					want = shm.ErrObjectNotExist
				case kind != shm.KindInvalid && kind != m.objects[i].info.Kind:
					want = shm.ErrKind
				}
				what := fmt.Sprintf("Lookup(%q, %v)", name, kind)
				if !errors.Is(err, want) || (want == nil) != (err == nil) || (err == nil) != (o != nil) {
					t.Fatalf("step %d: %s = %v, %v; want %v", step, what, o != nil, err, want)
				}
				if o != nil {
					opened = append(opened, o)
					checkObject(step, what, o, &m.objects[i])
				}

			case 6: // Objects
				got, err := seg.Objects()
				if err != nil {
					t.Fatalf("step %d: Objects() = %v", step, err)
				}
				want := make([]shm.ObjectInfo, len(m.objects))
				for i, mo := range m.objects {
					want[i] = mo.info
				}
				if !slices.Equal(got, want) {
					t.Fatalf("step %d: Objects() =\n%+v\nmodel has\n%+v", step, got, want)
				}

			case 7: // OpenHandle, right and wrong
				if len(m.objects) == 0 {
					continue
				}
				mo := &m.objects[int(r.byte())%len(m.objects)]
				h := shm.Handle{Segment: seg.ID(), Offset: mo.info.Offset, Kind: mo.info.Kind}
				o, err := shm.OpenHandle(h, mo.info.Kind)
				if err != nil {
					t.Fatalf("step %d: OpenHandle(%+v) = %v", step, h, err)
				}
				opened = append(opened, o)
				checkObject(step, fmt.Sprintf("OpenHandle(%+v)", h), o, mo)
				bad := h
				bad.Offset += 8 // never the start of an object
				if _, err := shm.OpenHandle(bad, shm.KindInvalid); !errors.Is(err, shm.ErrObjectNotExist) {
					t.Fatalf("step %d: OpenHandle(%+v) = %v, want ErrObjectNotExist", step, bad, err)
				}
				bad = h
				bad.Kind = h.Kind%15 + 1
				if _, err := shm.OpenHandle(bad, shm.KindInvalid); !errors.Is(err, shm.ErrKind) {
					t.Fatalf("step %d: OpenHandle(%+v) = %v, want ErrKind", step, bad, err)
				}
			}
		}

		// At the end every payload still holds what its init wrote.
		for i := range m.objects {
			if mo := &m.objects[i]; mo.obj != nil {
				checkObject(-1, "final check of "+mo.info.Name, mo.obj, mo)
			}
		}
	})
}
