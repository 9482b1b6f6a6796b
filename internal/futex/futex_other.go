//go:build !linux && !freebsd

package futex

import (
	"sync/atomic"
	"time"
)

// Supported reports whether Wait and Wake work on this OS.
//
// Not yet here:
//   - Windows: WaitOnAddress wakes only threads of the same process, so
//     waiting across processes will use named kernel objects (events or
//     semaphores) instead, behind the same contract.
//   - macOS: os_sync_wait_on_address with OS_SYNC_WAIT_ON_ADDRESS_SHARED
//     (macOS 14.4) is the public shared wait; older systems have only the
//     private __ulock_wait.
//   - Other BSDs, Solaris, AIX, and js/wasip1.
const Supported = false

func wait(addr *atomic.Uint32, val uint32, rel time.Duration) error {
	return errUnsupported
}

func wake(addr *atomic.Uint32, n int) (int, error) {
	return 0, errUnsupported
}
