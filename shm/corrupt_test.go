package shm_test

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/sys"
	"github.com/shmkit/shmkit/shm"
)

// poke writes v, little-endian, at off of the named segment's file: what
// a bug or another program might do while we have it mapped.
func poke(t *testing.T, s *shm.Segment, off int64, v any) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(sys.ShmDir(), s.Name()), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := binary.Append(nil, binary.LittleEndian, v)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// Found by FuzzOpen: an unnamed Alloc trusted the cursor, and wrote over
// the header (cursor 0) or looped forever (cursor not a multiple of 64).
func TestAllocChecksCursor(t *testing.T) {
	for _, cur := range []uint64{0, 193, 1 << 40} {
		s := create(t, 1<<16, nil)
		poke(t, s, 64, cur)
		if _, err := s.AllocBytes("", 8); !errors.Is(err, shm.ErrCorrupt) {
			t.Errorf("Alloc with cursor %d = %v, want ErrCorrupt", cur, err)
		}
		if _, err := s.Info(); err != nil {
			t.Errorf("Info after refusing = %v: the header was written over", err)
		}
	}
}

// Found by FuzzOpen: a lock word naming this very attachment made Alloc
// wait 30 s for itself.
func TestAllocLockNamesSelf(t *testing.T) {
	s := create(t, 1<<16, nil)
	poke(t, s, 72, uint32(s.Self()))
	start := time.Now()
	if _, err := s.AllocBytes("x", 8); err != nil {
		t.Fatalf("Alloc = %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Alloc took %v with its own token in the lock word", d)
	}
}

// Found in review: Close in one goroutine unmapped the segment under
// another's walk.
func TestCloseWhileWalking(t *testing.T) {
	for range 20 {
		s, err := shm.New(1<<16, nil)
		if err != nil {
			t.Fatal(err)
		}
		for range 20 {
			o, err := s.AllocBytes("", 8)
			if err != nil {
				t.Fatal(err)
			}
			o.Close()
		}
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for {
					if _, err := s.Objects(); errors.Is(err, shm.ErrClosed) {
						return
					} else if err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		s.Close()
		wg.Wait()
	}
}

// A generation no claim can have, in any slot, leaves the listing working:
// that slot is dead.
func TestBadGenerationIsDead(t *testing.T) {
	s := create(t, 1<<16, &shm.Options{Slots: 4})
	// Slot 2's generation word: table at 128, 32 bytes a slot.
	poke(t, s, 128+2*32, uint32(0x400000))
	in, err := s.Info()
	if err != nil {
		t.Fatalf("Info = %v", err)
	}
	for _, p := range in.Processes {
		if p.Slot == 2 && p.Alive {
			t.Errorf("slot with a bad generation is alive")
		}
	}
	if use, err := s.InUse(); err != nil || !use {
		t.Errorf("InUse = %v, %v", use, err)
	}
}

// Our slot's generation overwritten: Close still lets the slot go.
func TestReleaseAfterGenerationOverwritten(t *testing.T) {
	s := create(t, 1<<16, &shm.Options{Slots: 2})
	o, err := shm.Open(s.Name(), nil)
	if err != nil {
		t.Fatal(err)
	}
	poke(t, s, 128+int64(o.Self().Slot())*32, uint32(77))
	o.Close() // reports the overwrite; the slot must still be free
	for range 3 {
		o, err := shm.Open(s.Name(), nil)
		if err != nil {
			t.Fatalf("Open after the overwritten slot was closed = %v", err)
		}
		o.Close()
	}
}

// An Alloc that died mid-write leaves junk above the cursor, below dirty;
// the next Alloc clears it, and leaves the zero pages above dirty alone.
func TestAllocClearsWhatADeadAllocLeft(t *testing.T) {
	s := create(t, 1<<16, nil)
	if _, err := s.AllocBytes("a", 8); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(sys.ShmDir(), s.Name()))
	if err != nil {
		t.Fatal(err)
	}
	cursor := binary.LittleEndian.Uint64(b[64:])
	if dirty := binary.LittleEndian.Uint64(b[80:]); dirty != cursor {
		t.Fatalf("dirty %d after an Alloc, want the cursor %d", dirty, cursor)
	}
	junk := make([]byte, 4096)
	for i := range junk {
		junk[i] = 0xA5
	}
	poke(t, s, int64(cursor), junk) // what the dead Alloc wrote...
	poke(t, s, 80, cursor+4096)     // ...having raised dirty first
	o, err := s.AllocBytes("b", 8000)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range o.UnsafeBytes() {
		if c != 0 {
			t.Fatalf("byte %d of the new object is %#x, want 0", i, c)
		}
	}
}
