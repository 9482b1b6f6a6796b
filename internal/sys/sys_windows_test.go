package sys_test

import (
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
