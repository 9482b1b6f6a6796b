package futex

import (
	"os"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// Supported reports whether Wait and Wake work on this OS.
const Supported = true

// Operations from futex(2) and include/uapi/linux/futex.h; x/sys has
// SYS_FUTEX but not these.
//
// We never set FUTEX_PRIVATE_FLAG (128), which the runtime's own futexsleep
// uses: with it the kernel keys the word by (mm, address), so a waiter in
// another process never matches. Without it a word in a MAP_SHARED mapping is
// keyed by (inode or shmem object, page offset), whatever address each
// process maps it at, and a word in private memory is still keyed by (mm,
// address) and behaves as a private futex.
const (
	_FUTEX_WAIT = 0 // sleep if *uaddr == val; timeout is relative, CLOCK_MONOTONIC
	_FUTEX_WAKE = 1 // wake up to val sleepers; returns how many
)

func wait(addr *atomic.Uint32, val uint32, rel time.Duration) error {
	var ts syscall.Timespec
	var tsp *syscall.Timespec // nil: sleep without a timeout
	if rel >= 0 {
		ts = syscall.NsecToTimespec(int64(rel))
		tsp = &ts
	}
	// Syscall, not RawSyscall: the thread may sleep here for a long time, and
	// entersyscall lets the scheduler hand its P to another thread.
	//
	// Both unsafe.Pointer-to-uintptr conversions are written in the call
	// expression, which keeps their targets alive and unmoved until the call
	// returns (unsafe.Pointer rule 4). ts may be on the stack: the runtime
	// does not move the stack of a goroutine in a system call.
	_, _, e := syscall.Syscall6(syscall.SYS_FUTEX,
		uintptr(unsafe.Pointer(addr)), _FUTEX_WAIT, uintptr(val),
		uintptr(unsafe.Pointer(tsp)), 0, 0)
	switch e {
	case 0, syscall.EAGAIN, syscall.EINTR:
		// Woken, *addr != val, or a signal: the caller re-checks.
		return nil
	case syscall.ETIMEDOUT:
		// The kernel slept at least rel on CLOCK_MONOTONIC, the clock
		// time.Until measured rel on, so the deadline has passed.
		return errDeadline
	}
	return os.NewSyscallError("futex", e)
}

func wake(addr *atomic.Uint32, n int) (int, error) {
	// RawSyscall: FUTEX_WAKE never sleeps, so skip entersyscall/exitsyscall
	// and keep the P. The conversion of addr is in the call expression
	// (unsafe.Pointer rule 4); the kernel only hashes the address and reads
	// nothing through it.
	r, _, e := syscall.RawSyscall6(syscall.SYS_FUTEX,
		uintptr(unsafe.Pointer(addr)), _FUTEX_WAKE, uintptr(n), 0, 0, 0)
	if e != 0 {
		return 0, os.NewSyscallError("futex", e)
	}
	return int(r), nil
}
