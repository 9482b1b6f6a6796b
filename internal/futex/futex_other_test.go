//go:build !linux && !freebsd

package futex_test

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/futex"
)

func TestUnsupported(t *testing.T) {
	if futex.Supported {
		t.Fatal("Supported = true on a platform without an implementation")
	}
	var w atomic.Uint32
	if err := futex.Wait(&w, 0, time.Now().Add(time.Second)); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("Wait(&w, 0, 1s) = %v, want errors.ErrUnsupported", err)
	}
	if n, err := futex.Wake(&w, 1); n != 0 || !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("Wake(&w, 1) = %d, %v, want 0, errors.ErrUnsupported", n, err)
	}
}
