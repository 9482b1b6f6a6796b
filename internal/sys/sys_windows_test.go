package sys_test

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shmkit/shmkit/internal/sys"
)

// TestMemfdCreate checks the Windows stand-in for memfd_create: a file that
// maps, takes locks that a second open sees, stays out of segment listings,
// and is gone once its mapping and last handle are.
func TestMemfdCreate(t *testing.T) {
	f, err := sys.MemfdCreate("test")
	if err != nil {
		t.Fatalf("MemfdCreate = %v", err)
	}
	path := f.Name()
	name := filepath.Base(path)
	if filepath.Dir(path) != filepath.Clean(sys.ShmDir()) || strings.HasPrefix(name, sys.Prefix) {
		t.Errorf("anonymous file %s: want it in %s, without the prefix %q", path, sys.ShmDir(), sys.Prefix)
	}
	var b []byte
	closeAll := func() {
		if b != nil {
			sys.Unmap(b) // before Close: the unmap flushes through f
			b = nil
		}
		f.Close()
	}
	defer closeAll()
	const size = 1 << 16
	if err := sys.Ftruncate(f, size); err != nil {
		t.Fatalf("Ftruncate = %v", err)
	}
	if b, err = sys.Map(f, size); err != nil {
		t.Fatalf("Map = %v", err)
	}
	b[size-1] = 7
	var got [1]byte
	if _, err := f.ReadAt(got[:], size-1); err != nil || got[0] != 7 {
		t.Errorf("ReadAt through the file = %d, %v; want what the mapping wrote, 7", got[0], err)
	}

	// A second open, by name, as another process would have it.
	g, err := sys.OpenShm(name, false)
	if err != nil {
		t.Fatalf("second open = %v", err)
	}
	defer g.Close()
	const off = 1 << 40
	if err := sys.TryLockByte(f, off); err != nil {
		t.Fatalf("TryLockByte = %v", err)
	}
	if locked, err := sys.ByteLocked(g, off); err != nil || !locked {
		t.Errorf("ByteLocked through another open = %v, %v; want true", locked, err)
	}
	if err := sys.TryLockByte(g, off); !errors.Is(err, sys.ErrLocked) {
		t.Errorf("TryLockByte through another open = %v, want ErrLocked", err)
	}
	if err := sys.UnlockByte(f, off); err != nil {
		t.Fatalf("UnlockByte = %v", err)
	}
	if locked, err := sys.ByteLocked(g, off); err != nil || locked {
		t.Errorf("ByteLocked after UnlockByte = %v, %v; want false", locked, err)
	}

	g.Close()
	closeAll()
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("after the last handle closed, Stat(%s) = %v; want it gone", path, err)
	}
}

// TestUnlinkShmWhileOpen checks that removing a named file that is open and
// mapped frees its name at once, as unlink does on Unix: the name is gone,
// it can be created again, the old mapping still holds what was written,
// and nothing is left behind once the last handle closes.
func TestUnlinkShmWhileOpen(t *testing.T) {
	var r [8]byte
	rand.Read(r[:])
	name := sys.Prefix + "t-sys-unlink-" + hex.EncodeToString(r[:])
	hidden := func() map[string]bool {
		m, err := filepath.Glob(filepath.Join(sys.ShmDir(), "~"+sys.Prefix+"removed-*"))
		if err != nil {
			t.Fatal(err)
		}
		set := make(map[string]bool)
		for _, p := range m {
			set[p] = true
		}
		return set
	}
	before := hidden()

	f, err := sys.OpenShm(name, true)
	if err != nil {
		t.Fatalf("OpenShm(create) = %v", err)
	}
	var b []byte
	var again *os.File
	cleanup := func() {
		if b != nil {
			sys.Unmap(b)
			b = nil
		}
		if f != nil {
			f.Close()
			f = nil
		}
		if again != nil {
			again.Close()
			again = nil
			sys.UnlinkShm(name)
		}
	}
	defer cleanup()
	const size = 1 << 16
	if err := sys.Ftruncate(f, size); err != nil {
		t.Fatalf("Ftruncate = %v", err)
	}
	if b, err = sys.Map(f, size); err != nil {
		t.Fatalf("Map = %v", err)
	}
	copy(b, "before remove")
	b[size-1] = 42

	if err := sys.UnlinkShm(name); err != nil {
		sys.UnlinkShm(name)
		t.Fatalf("UnlinkShm while open = %v", err)
	}
	if _, err := os.Stat(sys.ShmPath(name)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Stat after UnlinkShm = %v, want fs.ErrNotExist", err)
	}
	if g, err := sys.OpenShm(name, false); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("OpenShm after UnlinkShm = %v, want fs.ErrNotExist", err)
		if err == nil {
			g.Close()
		}
	}
	again, err = sys.OpenShm(name, true)
	if err != nil {
		t.Fatalf("OpenShm(create) of the removed name, with the old file open = %v", err)
	}
	if st, err := again.Stat(); err != nil || st.Size() != 0 {
		t.Errorf("the new file: Stat = %v, %v; want a new, empty file", st, err)
	}
	// The old file is still there behind the mapping and the handle.
	if got := string(b[:len("before remove")]); got != "before remove" || b[size-1] != 42 {
		t.Errorf("old mapping after UnlinkShm holds %q, %d; want %q, 42", got, b[size-1], "before remove")
	}
	b[0] = 'B'
	var got [1]byte
	if _, err := f.ReadAt(got[:], 0); err != nil || got[0] != 'B' {
		t.Errorf("ReadAt through the old handle = %q, %v; want %q", got[0], err, 'B')
	}

	if err := sys.UnlinkShm(name); err != nil {
		t.Errorf("UnlinkShm of the new file = %v", err)
	}
	again.Close()
	again = nil
	cleanup()
	for p := range hidden() {
		if !before[p] {
			t.Errorf("after the last handle closed, %s is still there", p)
		}
	}

	// A missing name is fs.ErrNotExist, in the shape os.Remove gives.
	err = sys.UnlinkShm(name)
	var pe *fs.PathError
	if !errors.Is(err, fs.ErrNotExist) || !errors.As(err, &pe) || pe.Op != "remove" || pe.Path != sys.ShmPath(name) {
		t.Errorf("UnlinkShm of a missing name = %#v, want a *fs.PathError for remove %s wrapping fs.ErrNotExist", err, sys.ShmPath(name))
	}
}
