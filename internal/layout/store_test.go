package layout_test

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/shmkit/shmkit/internal/layout"
)

func TestStoreRelease(t *testing.T) {
	var w atomic.Uint64
	for _, v := range []uint64{1, 1 << 63, ^uint64(0), 0} {
		layout.StoreRelease(&w, v)
		if got := w.Load(); got != v {
			t.Fatalf("after StoreRelease(%#x), Load = %#x", v, got)
		}
	}
}

// TestStoreReleasePublishes is the message-passing litmus test: a reader
// that sees the flag stored with StoreRelease sees the data written
// before it.
func TestStoreReleasePublishes(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 || runtime.NumCPU() < 2 {
		t.Skip("needs two CPUs and two Ps: both sides spin")
	}
	const rounds = 50000
	var data, flag, ack atomic.Uint64
	var wg sync.WaitGroup
	bad := 0
	wg.Go(func() {
		for i := uint64(1); i <= rounds; i++ {
			for ack.Load() != i-1 {
			}
			layout.StoreRelease(&data, i)
			layout.StoreRelease(&flag, i)
		}
	})
	for i := uint64(1); i <= rounds; i++ {
		for flag.Load() != i {
		}
		if data.Load() != i {
			bad++
		}
		ack.Store(i)
	}
	wg.Wait()
	if bad != 0 {
		t.Fatalf("%d of %d rounds saw the flag before the data", bad, rounds)
	}
}
