package shm_test

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/layout"
	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/internal/sys"
	"github.com/shmkit/shmkit/shm"
)

func TestMain(m *testing.M) { shmtest.Main(m) }

// create makes a named segment for the test and removes it afterwards.
func create(t *testing.T, size int, opts *shm.Options) *shm.Segment {
	t.Helper()
	name := shmtest.Name(t)
	s, err := shm.Create(name, size, opts)
	if err != nil {
		t.Fatalf("Create(%q, %d) = %v", name, size, err)
	}
	// Close, then Remove: Windows removes a file only once nothing has it
	// open, and not every handle to it may share delete access.
	t.Cleanup(func() {
		s.Close()
		shm.Remove(name)
	})
	return s
}

func TestCreateOpenCloseRemove(t *testing.T) {
	s := create(t, 1<<16, nil)
	name := s.Name()
	if !strings.HasPrefix(name, shm.Prefix) {
		t.Errorf("Name() = %q, want prefix %q", name, shm.Prefix)
	}
	if s.Size() != 1<<16 || s.Anonymous() || s.ID() == 0 || s.Self() == 0 {
		t.Errorf("Size %d Anonymous %v ID %x Self %v", s.Size(), s.Anonymous(), s.ID(), s.Self())
	}
	if _, err := os.Stat(filepath.Join(sys.ShmDir(), name)); err != nil {
		t.Fatal(err)
	}
	if _, err := shm.Create(name, 1<<16, nil); !errors.Is(err, shm.ErrExist) {
		t.Errorf("second Create = %v, want ErrExist", err)
	}
	// Without the prefix, the same segment.
	o, err := shm.Open(strings.TrimPrefix(name, shm.Prefix), nil)
	if err != nil {
		t.Fatalf("Open = %v", err)
	}
	if o.ID() != s.ID() || o.Size() != s.Size() || o.Self() == s.Self() {
		t.Errorf("opened ID %x size %d self %v; created ID %x size %d self %v", o.ID(), o.Size(), o.Self(), s.ID(), s.Size(), s.Self())
	}
	alive, err := o.Alive(s.Self())
	if err != nil || !alive {
		t.Errorf("Alive(creator) = %v, %v; want true", alive, err)
	}
	if err := o.Close(); err != nil {
		t.Errorf("Close = %v", err)
	}
	if err := o.Close(); !errors.Is(err, shm.ErrClosed) {
		t.Errorf("second Close = %v, want ErrClosed", err)
	}
	if _, err := o.Objects(); !errors.Is(err, shm.ErrClosed) {
		t.Errorf("Objects after Close = %v, want ErrClosed", err)
	}
	if alive, err := s.Alive(o.Self()); err != nil || alive {
		t.Errorf("Alive(closed opener) = %v, %v; want false", alive, err)
	}
	if err := s.Remove(); err != nil {
		t.Errorf("Remove = %v", err)
	}
	// The creator's mapping outlives the name.
	if _, err := s.AllocBytes("after-remove", 8); err != nil {
		t.Errorf("AllocBytes after Remove = %v", err)
	}
	// The name goes at once, though the creator still has the segment open.
	shmtest.NeedRemoveWhileOpen(t)
	if o, err := shm.Open(name, nil); !errors.Is(err, shm.ErrNotExist) {
		t.Errorf("Open after Remove = %v, want ErrNotExist", err)
		if err == nil {
			o.Close()
		}
	}
	again, err := shm.Create(name, 1<<16, nil)
	if err != nil {
		t.Fatalf("Create after Remove, with the old segment open = %v", err)
	}
	defer again.Close() // before create's cleanup, which removes the name
	if again.ID() == s.ID() {
		t.Errorf("created again with the old segment's id %x", s.ID())
	}
}

func TestCreateMode(t *testing.T) {
	if runtime.GOOS == "windows" {
		shmtest.SkipUnsupported(t, "POSIX permissions (a segment's file takes the ACL of os.TempDir())")
	}
	s := create(t, 1<<16, nil)
	st, err := os.Stat(filepath.Join(sys.ShmDir(), s.Name()))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}
}

func TestBadNamesAndSizes(t *testing.T) {
	min := 128 + shm.DefaultSlots*32 + 64
	tests := []struct {
		name string
		seg  string
		size int
		opts *shm.Options
		want error
	}{
		{"empty name", "", 4096, nil, shm.ErrName},
		{"slash", "a/b", 4096, nil, shm.ErrName},
		{"backslash", `a\b`, 4096, nil, shm.ErrName},
		{"nul", "a\x00b", 4096, nil, shm.ErrName},
		{"prefix only", shm.Prefix, 4096, nil, shm.ErrName},
		{"too long", strings.Repeat("x", 300), 4096, nil, shm.ErrName},
		{"zero size", "ok", 0, nil, shm.ErrSize},
		{"negative size", "ok", -1, nil, shm.ErrSize},
		{"below header", "ok", min - 1, nil, shm.ErrSize},
		{"huge", "ok", 1 << 41, nil, shm.ErrSize},
		{"negative slots", "ok", 1 << 16, &shm.Options{Slots: -1}, shm.ErrSize},
		{"too many slots", "ok", 1 << 20, &shm.Options{Slots: 1025}, shm.ErrSize},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := tt.seg
			if name == "ok" {
				name = shmtest.Name(t)
			}
			s, err := shm.Create(name, tt.size, tt.opts)
			if err == nil {
				s.Close()
				shm.Remove(name)
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("Create(%q, %d) = %v, want %v", name, tt.size, err, tt.want)
			}
			if name == tt.seg || tt.seg == "ok" {
				if a, err := shm.New(tt.size, tt.opts); tt.seg == "ok" && !errors.Is(err, tt.want) {
					t.Errorf("New(%d) = %v, want %v", tt.size, err, tt.want)
				} else if err == nil {
					a.Close()
				}
			}
		})
	}
	if _, err := shm.Open("no-such-"+shmtest.Name(t), nil); !errors.Is(err, shm.ErrNotExist) || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open(missing) = %v, want ErrNotExist", err)
	}
	if err := shm.Remove("no-such-" + shmtest.Name(t)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Remove(missing) = %v, want ErrNotExist", err)
	}
}

// writeFile puts b in a new file in the shared-memory directory, as if it
// were a segment, and returns its name.
func writeFile(t *testing.T, b []byte) string {
	t.Helper()
	name := shmtest.Name(t)
	path := filepath.Join(sys.ShmDir(), name)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(path) })
	return name
}

// segmentBytes returns the bytes of a real segment with one object.
func segmentBytes(t *testing.T) []byte {
	t.Helper()
	s := create(t, 8192, &shm.Options{Slots: 4})
	if _, err := s.AllocBytes("thing", 100); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(sys.ShmDir(), s.Name()))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestOpenBadFiles(t *testing.T) {
	good := segmentBytes(t)
	with := func(off int, v ...byte) []byte {
		b := bytes.Clone(good)
		copy(b[off:], v)
		return b
	}
	noWait := &shm.Options{OpenWait: -1}
	tests := []struct {
		name string
		b    []byte
		want error
	}{
		{"text file", []byte("hello, this is not a segment at all, just some text that is long enough to fill a header........................................................................"), shm.ErrNotShmkit},
		{"bad magic", with(0, 'X'), shm.ErrNotShmkit},
		{"version 2", with(8, 2), shm.ErrVersion},
		{"not ready", with(12, 0, 0, 0, 0), shm.ErrNotReady},
		{"bad ready", with(12, 1), shm.ErrCorrupt},
		{"truncated", good[:4096], shm.ErrTruncated},
		{"size says less", with(16, 0, 16), shm.ErrCorrupt},
		{"zero slots", with(28, 0, 0, 0, 0), shm.ErrCorrupt},
		{"many slots", with(28, 0, 8), shm.ErrCorrupt},
		{"zero id", with(32, 0, 0, 0, 0, 0, 0, 0, 0), shm.ErrCorrupt},
		{"cursor beyond", with(64, 0, 0, 0, 1), shm.ErrCorrupt},
		{"cursor below data", with(64, 64, 0, 0, 0, 0, 0, 0, 0), shm.ErrCorrupt},
		{"empty", nil, shm.ErrNotReady},
		{"zeros", make([]byte, 4096), shm.ErrNotReady},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := shm.Open(writeFile(t, tt.b), noWait)
			if err == nil {
				s.Close()
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("Open = %v, want %v", err, tt.want)
			}
		})
	}
	t.Run("waits for the creator", func(t *testing.T) {
		start := time.Now()
		_, err := shm.Open(writeFile(t, nil), &shm.Options{OpenWait: 50 * time.Millisecond})
		if !errors.Is(err, shm.ErrNotReady) {
			t.Errorf("Open = %v, want ErrNotReady", err)
		}
		if d := time.Since(start); d < 50*time.Millisecond {
			t.Errorf("Open returned after %v, before OpenWait", d)
		}
	})
	t.Run("corrupt object", func(t *testing.T) {
		// The first object starts at the data offset: 128 + 4*32 = 256.
		s, err := shm.Open(writeFile(t, with(256, 'X')), noWait)
		if err != nil {
			t.Fatalf("Open = %v (objects are checked when walked)", err)
		}
		defer s.Close()
		if _, err := s.Lookup("thing", shm.KindBytes); !errors.Is(err, shm.ErrCorrupt) {
			t.Errorf("Lookup = %v, want ErrCorrupt", err)
		}
		if _, err := s.Objects(); !errors.Is(err, shm.ErrCorrupt) {
			t.Errorf("Objects = %v, want ErrCorrupt", err)
		}
	})
}

func TestAllocLookup(t *testing.T) {
	s := create(t, 1<<16, nil)
	var initSaw int
	a, err := s.Alloc(shm.Spec{Kind: shm.KindArray, Version: 3, Name: "floats", Size: 800, Align: 128, ElemSize: 8, TypeHash: 0xfeed},
		func(p layout.View) error {
			initSaw = p.Len()
			w, err := p.Uint64(0)
			if err != nil {
				return err
			}
			w.Store(42)
			return nil
		})
	if err != nil {
		t.Fatalf("Alloc = %v", err)
	}
	defer a.Close()
	if initSaw != 800 {
		t.Errorf("init saw %d bytes, want 800", initSaw)
	}
	b, err := s.Lookup("floats", shm.KindArray)
	if err != nil {
		t.Fatalf("Lookup = %v", err)
	}
	defer b.Close()
	if b.Size() != 800 || b.Version() != 3 || b.ElemSize() != 8 || b.TypeHash() != 0xfeed || b.Name() != "floats" {
		t.Errorf("Lookup gave size %d version %d elem %d hash %x name %q", b.Size(), b.Version(), b.ElemSize(), b.TypeHash(), b.Name())
	}
	if err := b.CheckType(8, 0xfeed); err != nil {
		t.Errorf("CheckType = %v", err)
	}
	if err := b.CheckType(4, 0xfeed); !errors.Is(err, shm.ErrType) {
		t.Errorf("CheckType(wrong size) = %v, want ErrType", err)
	}
	w, _ := b.Payload().Uint64(0)
	if w.Load() != 42 {
		t.Errorf("payload word = %d, want 42 from init", w.Load())
	}
	if got := uintAddr(b.UnsafeBytes()) % 128; got != 0 {
		t.Errorf("payload misaligned by %d for Align 128", got)
	}
	if _, err := s.Lookup("floats", shm.KindLock); !errors.Is(err, shm.ErrKind) {
		t.Errorf("Lookup(wrong kind) = %v, want ErrKind", err)
	}
	if _, err := s.Lookup("nothing", shm.KindInvalid); !errors.Is(err, shm.ErrObjectNotExist) {
		t.Errorf("Lookup(missing) = %v, want ErrObjectNotExist", err)
	}
	if _, err := s.AllocBytes("floats", 8); !errors.Is(err, shm.ErrObjectExist) {
		t.Errorf("Alloc(taken name) = %v, want ErrObjectExist", err)
	}
	for _, spec := range []shm.Spec{
		{Kind: shm.KindInvalid, Size: 8},
		{Kind: shm.KindBytes, Size: 0},
		{Kind: shm.KindBytes, Size: -5},
		{Kind: shm.KindBytes, Size: 8, Align: 3},
		{Kind: shm.KindBytes, Size: 8, Align: 8192},
		{Kind: shm.KindBytes, Size: 8, Name: strings.Repeat("n", 256)},
	} {
		if o, err := s.Alloc(spec, nil); err == nil {
			o.Close()
			t.Errorf("Alloc(%+v) succeeded", spec)
		}
	}
	if _, err := s.AllocBytes("big", 1<<16); !errors.Is(err, shm.ErrNoSpace) {
		t.Errorf("Alloc(too big) = %v, want ErrNoSpace", err)
	}
	failing := errors.New("init failed")
	if _, err := s.Alloc(shm.Spec{Kind: shm.KindBytes, Name: "bad-init", Size: 8}, func(layout.View) error { return failing }); !errors.Is(err, failing) {
		t.Errorf("Alloc with failing init = %v", err)
	}
	if _, err := s.Lookup("bad-init", shm.KindInvalid); !errors.Is(err, shm.ErrObjectNotExist) {
		t.Errorf("object whose init failed was published: %v", err)
	}
	// Fill the segment with small objects until it is full, then check
	// they all list in order.
	var names []string
	for i := 0; ; i++ {
		n := fmt.Sprintf("o%d", i)
		o, err := s.AllocBytes(n, 100)
		if errors.Is(err, shm.ErrNoSpace) {
			break
		}
		if err != nil {
			t.Fatalf("AllocBytes(%q) = %v", n, err)
		}
		o.Close()
		names = append(names, n)
	}
	infos, err := s.Objects()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, in := range infos {
		if strings.HasPrefix(in.Name, "o") {
			got = append(got, in.Name)
		}
	}
	if strings.Join(got, ",") != strings.Join(names, ",") {
		t.Errorf("Objects lists %v, allocated %v", got, names)
	}
}

func TestHandles(t *testing.T) {
	s := create(t, 1<<16, nil)
	o, err := s.Alloc(shm.Spec{Kind: shm.KindEvent, Name: "ev", Size: 16}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	h := o.Handle()
	b, err := h.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var h2 shm.Handle
	if err := h2.UnmarshalBinary(b); err != nil || h2 != h {
		t.Fatalf("round trip gave %+v, %v; want %+v", h2, err, h)
	}
	p, err := shm.OpenHandle(h2, shm.KindEvent)
	if err != nil {
		t.Fatalf("OpenHandle = %v", err)
	}
	defer p.Close()
	wa, _ := o.Payload().Uint32(0)
	wb, _ := p.Payload().Uint32(0)
	wa.Store(7)
	if wb.Load() != 7 {
		t.Errorf("handle's object does not share memory")
	}
	if _, err := shm.OpenHandle(h, shm.KindLock); !errors.Is(err, shm.ErrKind) {
		t.Errorf("OpenHandle(wrong kind) = %v, want ErrKind", err)
	}
	bad := h
	bad.Offset += 64
	if _, err := shm.OpenHandle(bad, shm.KindEvent); !errors.Is(err, shm.ErrObjectNotExist) {
		t.Errorf("OpenHandle(wrong offset) = %v, want ErrObjectNotExist", err)
	}
	bad = h
	bad.Kind = shm.KindLock
	if _, err := shm.OpenHandle(bad, shm.KindLock); !errors.Is(err, shm.ErrKind) {
		t.Errorf("OpenHandle(lying kind) = %v, want ErrKind", err)
	}
	if _, err := shm.OpenHandle(shm.Handle{}, shm.KindInvalid); !errors.Is(err, shm.ErrHandle) {
		t.Errorf("OpenHandle(zero) = %v, want ErrHandle", err)
	}
	if _, err := shm.OpenHandle(shm.Handle{Segment: 12345, Kind: shm.KindEvent}, shm.KindEvent); !errors.Is(err, shm.ErrHandle) {
		t.Errorf("OpenHandle(unknown anonymous) = %v, want ErrHandle", err)
	}
}

// TestStaleHandle checks that a named segment removed and created again
// under the same name is a different segment: handles into the old one
// must not resolve into the new one, though name and offset match.
func TestStaleHandle(t *testing.T) {
	name := shmtest.Name(t)
	s, err := shm.Create(name, 1<<16, nil)
	if err != nil {
		t.Fatal(err)
	}
	o, err := s.AllocBytes("x", 16)
	if err != nil {
		s.Close()
		shm.Remove(name)
		t.Fatal(err)
	}
	h := o.Handle()
	// Let go of the old segment entirely, so that this process resolves
	// h as one that never had it attached would, and remove it.
	o.Close()
	s.Close()
	if err := shm.Remove(name); err != nil {
		t.Fatal(err)
	}
	s2, err := shm.Create(name, 1<<16, nil)
	if err != nil {
		t.Fatalf("Create after Remove = %v", err)
	}
	t.Cleanup(func() {
		s2.Close()
		shm.Remove(name)
	})
	o2, err := s2.AllocBytes("x", 16)
	if err != nil {
		t.Fatal(err)
	}
	defer o2.Close()
	if o2.Handle().Offset != h.Offset {
		t.Fatalf("new object at %d, old at %d: the test needs them equal", o2.Handle().Offset, h.Offset)
	}
	if p, err := shm.OpenHandle(h, shm.KindBytes); !errors.Is(err, shm.ErrHandle) {
		t.Errorf("OpenHandle(stale) = %v, want ErrHandle", err)
		if err == nil {
			p.Close()
		}
	}
}

func TestObjectKeepsMapping(t *testing.T) {
	s, err := shm.New(1<<16, nil)
	if err != nil {
		t.Fatal(err)
	}
	o, err := s.AllocBytes("x", 64)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// The segment reference is gone but the object's keeps the memory.
	b := o.UnsafeBytes()
	b[0] = 1
	if p, err := shm.OpenHandle(o.Handle(), shm.KindBytes); err != nil {
		t.Errorf("OpenHandle while only an object holds the mapping = %v", err)
	} else {
		p.Close()
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := shm.OpenHandle(o.Handle(), shm.KindBytes); !errors.Is(err, shm.ErrHandle) {
		t.Errorf("OpenHandle after the last reference closed = %v, want ErrHandle", err)
	}
}

func TestObserver(t *testing.T) {
	s := create(t, 1<<16, nil)
	obs, err := shm.Open(s.Name(), &shm.Options{Observe: true})
	if err != nil {
		t.Fatal(err)
	}
	defer obs.Close()
	if obs.Self() != 0 {
		t.Errorf("observer Self = %v, want 0", obs.Self())
	}
	if _, err := obs.AllocBytes("x", 8); !errors.Is(err, shm.ErrObserver) {
		t.Errorf("observer Alloc = %v, want ErrObserver", err)
	}
	in, err := obs.Info()
	if err != nil {
		t.Fatal(err)
	}
	if len(in.Processes) != 1 || !in.Processes[0].Alive || in.Processes[0].Pid != os.Getpid() {
		t.Errorf("Info().Processes = %+v, want this process alive", in.Processes)
	}
	if use, err := obs.InUse(); err != nil || !use {
		t.Errorf("InUse = %v, %v; want true", use, err)
	}
	s.Close()
	if use, err := obs.InUse(); err != nil || use {
		t.Errorf("InUse after the creator closed = %v, %v; want false", use, err)
	}
}

func TestTableFull(t *testing.T) {
	s := create(t, 1<<16, &shm.Options{Slots: 2})
	o, err := shm.Open(s.Name(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := shm.Open(s.Name(), nil); !errors.Is(err, shm.ErrFull) {
		t.Errorf("third attach to 2 slots = %v, want ErrFull", err)
	}
	o.Close()
	o, err = shm.Open(s.Name(), nil)
	if err != nil {
		t.Errorf("attach after a slot was freed = %v", err)
	} else {
		o.Close()
	}
}
