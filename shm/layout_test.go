package shm_test

// These tests pin the byte layout of docs/layout.md against real segments.
// Every expected number is a literal copied from that page, not one of the
// package's constants: if a constant changes, these tests fail, and the
// change must be made on purpose (a new layout version) and documented.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/layout"
	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/internal/sys"
	"github.com/shmkit/shmkit/shm"
)

// layoutBytes is a little-endian reader of a byte slice for the pins below.
type layoutBytes []byte

func (b layoutBytes) u16(off int) uint16 { return binary.LittleEndian.Uint16(b[off:]) }
func (b layoutBytes) u32(off int) uint32 { return binary.LittleEndian.Uint32(b[off:]) }
func (b layoutBytes) u64(off int) uint64 { return binary.LittleEndian.Uint64(b[off:]) }

func (b layoutBytes) zero(off, n int) bool {
	return bytes.Count(b[off:off+n], []byte{0}) == n
}

// layoutField is one pinned field: name, offset, size (2, 4 or 8) and the
// value it must hold.
type layoutField struct {
	name string
	off  int
	size int
	want uint64
}

func checkFields(t *testing.T, where string, b layoutBytes, base int, fields []layoutField) {
	t.Helper()
	for _, f := range fields {
		var got uint64
		switch f.size {
		case 2:
			got = uint64(b.u16(base + f.off))
		case 4:
			got = uint64(b.u32(base + f.off))
		case 8:
			got = b.u64(base + f.off)
		default:
			t.Fatalf("bad field size %d", f.size)
		}
		if got != f.want {
			t.Errorf("%s %s (offset %d+%d, %d bytes) = %d (%#x), want %d (%#x)",
				where, f.name, base, f.off, f.size, got, got, f.want, f.want)
		}
	}
}

// readSegmentFile returns the bytes of the file behind a named segment.
func readSegmentFile(t *testing.T, seg *shm.Segment) layoutBytes {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("/dev/shm", seg.Name()))
	if err != nil {
		t.Fatalf("ReadFile: %v", err)
	}
	return b
}

// TestLayoutNamedSegment creates a named segment with 5 slots and two
// objects (the second aligned to 1024, which puts a padding object between
// them), then reads the segment's file and checks every field at the
// offsets docs/layout.md gives.
func TestLayoutNamedSegment(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads the segment's file in /dev/shm")
	}
	const (
		size  = 8192
		slots = 5
		// docs/layout.md: dataOff = align(128 + 32*5, 64) = align(288, 64).
		dataOff = 320
	)
	name := shmtest.Name(t)
	before := time.Now().UnixNano()
	seg, err := shm.Create(name, size, &shm.Options{Slots: slots})
	if err != nil {
		t.Fatalf("Create(%q, %d) = %v", name, size, err)
	}
	t.Cleanup(func() {
		if err := shm.Remove(name); err != nil {
			t.Errorf("Remove(%q) = %v", name, err)
		}
	})
	t.Cleanup(func() {
		if err := seg.Close(); err != nil {
			t.Errorf("Close() = %v", err)
		}
	})
	created := time.Now().UnixNano()
	path := filepath.Join("/dev/shm", seg.Name())
	if want := "shmkit-"; seg.Name()[:len(want)] != want {
		t.Fatalf("Name() = %q, want the prefix %q", seg.Name(), want)
	}

	// The creator is the first to attach: slot 0, generation 1, so its
	// token is 1<<10 | 0.
	if got := seg.Self(); got != 0x400 {
		t.Errorf("Self() = %#x, want 0x400 (gen 1 << 10 | slot 0)", uint32(got))
	}

	// Object 1: name of 10 bytes, align 16, 100 bytes.
	//   payloadOff = align(64+10, 16) = 80; total = align(80+100, 64) = 192;
	//   off = cursor = dataOff = 320, so the cursor becomes 512.
	// While init runs, Alloc holds the allocation lock: the word at 72 holds
	// our token.
	var lockWord uint32
	spec1 := shm.Spec{Kind: shm.KindArray, Version: 3, Name: "layout-obj", Size: 100, Align: 16,
		ElemSize: 12, TypeHash: 0x1122334455667788}
	obj1, err := seg.Alloc(spec1, func(p layout.View) error {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		var w [4]byte
		if _, err := f.ReadAt(w[:], 72); err != nil {
			return err
		}
		lockWord = binary.LittleEndian.Uint32(w[:])
		b, err := p.UnsafeBytes(0, uint64(p.Len()))
		if err != nil {
			return err
		}
		for i := range b {
			b[i] = byte(i + 1)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Alloc(%+v) = %v", spec1, err)
	}
	defer obj1.Close()
	if lockWord != 0x400 {
		t.Errorf("allocation lock word during Alloc = %#x, want 0x400 (our token, no waiters)", lockWord)
	}

	// Object 2: name of 1 byte, align 1024, 8 bytes.
	//   payloadOff = align(64+1, 1024) = 1024; total = align(1024+8, 64) = 1088;
	//   off = align(512, 1024) = 1024, so a padding object of 512 bytes sits
	//   at 512 and the cursor becomes 1024+1088 = 2112.
	spec2 := shm.Spec{Kind: shm.KindValue, Version: 1, Name: "v", Size: 8, Align: 1024,
		ElemSize: 8, TypeHash: 0xfeedface}
	obj2, err := seg.Alloc(spec2, nil)
	if err != nil {
		t.Fatalf("Alloc(%+v) = %v", spec2, err)
	}
	defer obj2.Close()
	copy(obj2.UnsafeBytes(), "8 bytes!")

	// A second attachment from this process takes slot 1.
	seg2, err := shm.Open(name, nil)
	if err != nil {
		t.Fatalf("Open(%q) = %v", name, err)
	}
	if got := seg2.Self(); got != 0x401 {
		t.Errorf("second attachment's Self() = %#x, want 0x401 (gen 1 << 10 | slot 1)", uint32(got))
	}

	wantObjects := []shm.ObjectInfo{
		{Name: "layout-obj", Kind: shm.KindArray, Version: 3, Offset: 320, Size: 100, ElemSize: 12, TypeHash: 0x1122334455667788},
		{Name: "", Kind: shm.KindBytes, Version: 0, Offset: 512, Size: 0},
		{Name: "v", Kind: shm.KindValue, Version: 1, Offset: 1024, Size: 8, ElemSize: 8, TypeHash: 0xfeedface},
	}
	objs, err := seg.Objects()
	if err != nil {
		t.Fatalf("Objects() = %v", err)
	}
	if !slices.Equal(objs, wantObjects) {
		t.Errorf("Objects() = %+v, want %+v", objs, wantObjects)
	}

	b := readSegmentFile(t, seg)
	if len(b) != size {
		t.Fatalf("file has %d bytes, want %d", len(b), size)
	}

	t.Run("header", func(t *testing.T) {
		if got := string(b[0:8]); got != "shmkitSG" {
			t.Errorf("magic = %q, want %q", got, "shmkitSG")
		}
		if got := string(b[12:16]); got != "REDY" {
			t.Errorf("ready bytes = %q, want %q", got, "REDY")
		}
		checkFields(t, "header", b, 0, []layoutField{
			{"version", 8, 4, 1},
			{"ready", 12, 4, 0x59444552},
			{"size", 16, 8, size},
			{"tableOff", 24, 4, 128},
			{"slots", 28, 4, slots},
			{"id", 32, 8, seg.ID()},
			{"creatorPid", 40, 4, uint64(os.Getpid())},
			{"flags", 44, 4, 0},
			{"dataOff", 56, 8, dataOff},
			{"cursor", 64, 8, 2112},
			{"allocLock", 72, 4, 0},
			{"objects", 76, 4, 3},
		})
		if got := int64(b.u64(48)); got < before || got > created {
			t.Errorf("created (offset 48) = %d, want between %d and %d", got, before, created)
		}
		if got := b.u64(80); got != 2112 {
			t.Errorf("dirty (offset 80) = %d, want the cursor, 2112", got)
		}
		if !b.zero(88, 40) {
			t.Errorf("reserved header bytes [88, 128) = % x, want zeros", b[88:128])
		}
		if seg.ID() == 0 {
			t.Errorf("ID() = 0, want non-zero")
		}
	})

	t.Run("process table", func(t *testing.T) {
		for _, s := range []struct {
			slot  int
			gen   uint64
			state uint64
		}{{0, 1, 1}, {1, 1, 1}} {
			base := 128 + 32*s.slot
			where := fmt.Sprintf("slot %d", s.slot)
			checkFields(t, where, b, base, []layoutField{
				{"gen", 0, 4, s.gen},
				{"pid", 4, 4, uint64(os.Getpid())},
				{"state", 16, 4, s.state},
			})
			if got := int64(b.u64(base + 8)); got < before || got > time.Now().UnixNano() {
				t.Errorf("%s attached = %d, want a time after %d", where, got, before)
			}
			if !b.zero(base+20, 12) {
				t.Errorf("%s reserved bytes = % x, want zeros", where, b[base+20:base+32])
			}
		}
		for slot := 2; slot < slots; slot++ {
			if base := 128 + 32*slot; !b.zero(base, 32) {
				t.Errorf("unused slot %d = % x, want zeros", slot, b[base:base+32])
			}
		}
		if !b.zero(128+32*slots, dataOff-(128+32*slots)) {
			t.Errorf("gap between table and data = % x, want zeros", b[128+32*slots:dataOff])
		}
	})

	t.Run("liveness locks", func(t *testing.T) {
		// A fresh open of the file is a description of its own, so it sees
		// the attachments' OFD locks at 2^40 + slot.
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		for _, c := range []struct {
			slot   int64
			locked bool
		}{{0, true}, {1, true}, {2, false}, {4, false}} {
			got, err := sys.ByteLocked(f, 1099511627776+c.slot)
			if err != nil || got != c.locked {
				t.Errorf("byte 2^40+%d locked = %v, %v; want %v", c.slot, got, err, c.locked)
			}
		}
	})

	t.Run("objects", func(t *testing.T) {
		// Object 1 at 320.
		if got := string(b[320:324]); got != "SOBJ" {
			t.Errorf("object 1 magic = %q, want %q", got, "SOBJ")
		}
		checkFields(t, "object 1", b, 320, []layoutField{
			{"kind", 4, 4, 10},
			{"version", 8, 2, 3},
			{"nameLen", 10, 2, 10},
			{"elemSize", 12, 4, 12},
			{"total", 16, 8, 192},
			{"payloadOff", 24, 8, 80},
			{"payloadSize", 32, 8, 100},
			{"typeHash", 40, 8, 0x1122334455667788},
		})
		if !b.zero(320+48, 16) {
			t.Errorf("object 1 reserved = % x, want zeros", b[368:384])
		}
		if got := string(b[384:394]); got != "layout-obj" {
			t.Errorf("object 1 name = %q, want %q", got, "layout-obj")
		}
		if !b.zero(394, 6) {
			t.Errorf("object 1 name padding [394, 400) = % x, want zeros", b[394:400])
		}
		for i := range 100 {
			if b[400+i] != byte(i+1) {
				t.Errorf("object 1 payload byte %d at %d = %d, want %d", i, 400+i, b[400+i], i+1)
				break
			}
		}
		if !b.zero(500, 12) {
			t.Errorf("object 1 tail [500, 512) = % x, want zeros", b[500:512])
		}

		// The padding object at 512.
		if got := string(b[512:516]); got != "SOBJ" {
			t.Errorf("padding magic = %q, want %q", got, "SOBJ")
		}
		checkFields(t, "padding", b, 512, []layoutField{
			{"kind", 4, 4, 1},
			{"version", 8, 2, 0},
			{"nameLen", 10, 2, 0},
			{"elemSize", 12, 4, 0},
			{"total", 16, 8, 512},
			{"payloadOff", 24, 8, 64},
			{"payloadSize", 32, 8, 0},
			{"typeHash", 40, 8, 0},
		})
		if !b.zero(512+48, 512-48) {
			t.Errorf("padding object holds non-zero bytes after its fields")
		}

		// Object 2 at 1024, payload at 2048.
		if got := string(b[1024:1028]); got != "SOBJ" {
			t.Errorf("object 2 magic = %q, want %q", got, "SOBJ")
		}
		checkFields(t, "object 2", b, 1024, []layoutField{
			{"kind", 4, 4, 9},
			{"version", 8, 2, 1},
			{"nameLen", 10, 2, 1},
			{"elemSize", 12, 4, 8},
			{"total", 16, 8, 1088},
			{"payloadOff", 24, 8, 1024},
			{"payloadSize", 32, 8, 8},
			{"typeHash", 40, 8, 0xfeedface},
		})
		if got := string(b[1088:1089]); got != "v" {
			t.Errorf("object 2 name = %q, want %q", got, "v")
		}
		if !b.zero(1089, 2048-1089) {
			t.Errorf("object 2 name padding is not zero")
		}
		if got := string(b[2048:2056]); got != "8 bytes!" {
			t.Errorf("object 2 payload = %q, want %q", got, "8 bytes!")
		}
		if !b.zero(2056, size-2056) {
			t.Errorf("bytes after object 2's payload are not zero")
		}
	})

	t.Run("handles", func(t *testing.T) {
		want := shm.Handle{Segment: seg.ID(), Name: seg.Name(), Offset: 320, Kind: shm.KindArray}
		if got := obj1.Handle(); got != want {
			t.Errorf("Handle() = %+v, want %+v", got, want)
		}
		got, err := obj1.Handle().MarshalBinary()
		if err != nil {
			t.Fatalf("MarshalBinary() = %v", err)
		}
		enc := []byte{1, 10, 0, 0, 0}
		enc = binary.LittleEndian.AppendUint64(enc, seg.ID())
		enc = append(enc, 0x40, 0x01, 0, 0, 0, 0, 0, 0) // 320
		enc = binary.LittleEndian.AppendUint16(enc, uint16(len(seg.Name())))
		enc = append(enc, seg.Name()...)
		if !bytes.Equal(got, enc) {
			t.Errorf("MarshalBinary() =\n% x\nwant\n% x", got, enc)
		}
	})

	// Detaching cleanly stores state 2 and drops the lock; gen stays.
	if err := seg2.Close(); err != nil {
		t.Fatalf("second Close() = %v", err)
	}
	b = readSegmentFile(t, seg)
	checkFields(t, "slot 1 after Close", b, 128+32, []layoutField{
		{"gen", 0, 4, 1},
		{"state", 16, 4, 2},
	})
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got, err := sys.ByteLocked(f, 1099511627776+1); err != nil || got {
		t.Errorf("byte 2^40+1 locked after Close = %v, %v; want false", got, err)
	}
}

// TestLayoutAnonymousSegment checks the flags word of an anonymous segment
// (bit 0 set), reading the memfd through the segment's own descriptor since
// it has no path.
func TestLayoutAnonymousSegment(t *testing.T) {
	seg, err := shm.New(4096, &shm.Options{Slots: 1})
	if err != nil {
		t.Fatalf("New(4096) = %v", err)
	}
	defer seg.Close()
	info, err := seg.Info()
	if err != nil {
		t.Fatalf("Info() = %v", err)
	}
	if !info.Anonymous || !seg.Anonymous() || seg.Name() != "" {
		t.Errorf("Info().Anonymous = %v, Anonymous() = %v, Name() = %q; want true, true, \"\"",
			info.Anonymous, seg.Anonymous(), seg.Name())
	}
	// 1 slot: dataOff = align(128 + 32, 64) = 192.
	if info.Used != 192 || info.Slots != 1 || info.Size != 4096 {
		t.Errorf("Info() = Used %d, Slots %d, Size %d; want 192, 1, 4096", info.Used, info.Slots, info.Size)
	}
	if runtime.GOOS != "linux" {
		return
	}
	f, err := seg.File()
	if err != nil {
		t.Fatalf("File() = %v", err)
	}
	b := make(layoutBytes, 128)
	if _, err := f.ReadAt(b, 0); err != nil {
		t.Fatalf("ReadAt(header) = %v", err)
	}
	if got := string(b[0:8]); got != "shmkitSG" {
		t.Errorf("magic = %q, want %q", got, "shmkitSG")
	}
	checkFields(t, "anonymous header", b, 0, []layoutField{
		{"version", 8, 4, 1},
		{"ready", 12, 4, 0x59444552},
		{"size", 16, 8, 4096},
		{"slots", 28, 4, 1},
		{"id", 32, 8, seg.ID()},
		{"flags", 44, 4, 1},
		{"dataOff", 56, 8, 192},
		{"cursor", 64, 8, 192},
	})
}

// TestLayoutDataOffset pins dataOff = align(128 + 32*slots, 64) and the
// smallest segment, dataOff + 64, for several slot counts.
func TestLayoutDataOffset(t *testing.T) {
	for _, c := range []struct {
		slots   int
		dataOff int
	}{
		{1, 192},
		{2, 192},
		{3, 256},
		{5, 320},
		{64, 2176},
		{1024, 32896},
	} {
		t.Run(fmt.Sprint(c.slots), func(t *testing.T) {
			opts := &shm.Options{Slots: c.slots}
			if _, err := shm.New(c.dataOff+63, opts); !errors.Is(err, shm.ErrSize) {
				t.Errorf("New(%d, %d slots) = %v, want ErrSize", c.dataOff+63, c.slots, err)
			}
			seg, err := shm.New(c.dataOff+64, opts)
			if err != nil {
				t.Fatalf("New(%d, %d slots) = %v", c.dataOff+64, c.slots, err)
			}
			defer seg.Close()
			info, err := seg.Info()
			if err != nil {
				t.Fatalf("Info() = %v", err)
			}
			if info.Used != c.dataOff {
				t.Errorf("Info().Used = %d, want dataOff %d", info.Used, c.dataOff)
			}
			// The one line of data holds an object of 1 byte: 64 of
			// header, payload at 64, total 128 does not fit; so it is full.
			if _, err := seg.AllocBytes("", 1); !errors.Is(err, shm.ErrNoSpace) {
				t.Errorf("AllocBytes(1) in a minimal segment = %v, want ErrNoSpace", err)
			}
		})
	}
	// The default is 64 slots.
	seg, err := shm.New(4096, nil)
	if err != nil {
		t.Fatalf("New(4096, nil) = %v", err)
	}
	defer seg.Close()
	if info, err := seg.Info(); err != nil || info.Slots != 64 || info.Used != 2176 {
		t.Errorf("Info() of a default segment = Slots %d, Used %d, %v; want 64, 2176", info.Slots, info.Used, err)
	}
}

// TestLayoutKinds pins the kind numbers of docs/layout.md.
func TestLayoutKinds(t *testing.T) {
	for _, c := range []struct {
		kind shm.Kind
		num  uint32
		name string
	}{
		{shm.KindInvalid, 0, "invalid"},
		{shm.KindBytes, 1, "bytes"},
		{shm.KindLock, 2, "lock"},
		{shm.KindRLock, 3, "rlock"},
		{shm.KindSemaphore, 4, "semaphore"},
		{shm.KindBoundedSemaphore, 5, "bounded-semaphore"},
		{shm.KindCond, 6, "cond"},
		{shm.KindEvent, 7, "event"},
		{shm.KindBarrier, 8, "barrier"},
		{shm.KindValue, 9, "value"},
		{shm.KindArray, 10, "array"},
		{shm.KindRing, 11, "ring"},
		{shm.KindQueue, 12, "queue"},
		{shm.KindJoinableQueue, 13, "joinable-queue"},
		{shm.KindSimpleQueue, 14, "simple-queue"},
		{shm.KindPipe, 15, "pipe"},
	} {
		if uint32(c.kind) != c.num || c.kind.String() != c.name {
			t.Errorf("kind %q = %d (%q), want %d (%q)", c.name, uint32(c.kind), c.kind, c.num, c.name)
		}
	}
}

// TestLayoutHandleEncoding pins the handle encoding with golden bytes.
func TestLayoutHandleEncoding(t *testing.T) {
	for _, c := range []struct {
		name string
		h    shm.Handle
		enc  []byte
	}{
		{
			name: "named",
			h:    shm.Handle{Segment: 0x0123456789abcdef, Name: "shmkit-x", Offset: 0x1000, Kind: shm.KindArray},
			enc: []byte{
				0x01,                   // version
				0x0a, 0x00, 0x00, 0x00, // kind 10
				0xef, 0xcd, 0xab, 0x89, 0x67, 0x45, 0x23, 0x01, // segment id
				0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // offset
				0x08, 0x00, // name length
				's', 'h', 'm', 'k', 'i', 't', '-', 'x',
			},
		},
		{
			name: "anonymous",
			h:    shm.Handle{Segment: 0xfedcba9876543210, Offset: 2176, Kind: shm.KindLock},
			enc: []byte{
				0x01,
				0x02, 0x00, 0x00, 0x00,
				0x10, 0x32, 0x54, 0x76, 0x98, 0xba, 0xdc, 0xfe,
				0x80, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
				0x00, 0x00,
			},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.h.MarshalBinary()
			if err != nil || !bytes.Equal(got, c.enc) {
				t.Errorf("MarshalBinary(%+v) =\n% x, %v\nwant\n% x", c.h, got, err, c.enc)
			}
			var h shm.Handle
			if err := h.UnmarshalBinary(c.enc); err != nil || h != c.h {
				t.Errorf("UnmarshalBinary(% x) = %+v, %v; want %+v", c.enc, h, err, c.h)
			}
		})
	}
}
