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

// Operations and types from _umtx_op(2) and sys/umtx.h (the runtime's
// defs_freebsd_*.go carry the same values).
//
// We use UMTX_OP_WAIT_UINT and UMTX_OP_WAKE, never their _PRIVATE forms (15
// and 16), which the runtime's own futexsleep uses: the shared forms key a
// word in a MAP_SHARED mapping (VM_INHERIT_SHARE) by its VM object and
// offset, so processes that map it at different addresses meet; a word in
// private memory is still keyed by address.
const (
	_UMTX_OP_WAKE      = 3  // wake up to val sleepers; does not report how many
	_UMTX_OP_WAIT_UINT = 11 // sleep if *(u_int *)obj == val

	_CLOCK_MONOTONIC = 4
)

// umtxTime is struct _umtx_time. With _flags 0 (no UMTX_ABSTIME) _timeout
// is relative, measured on _clockid. syscall.Timespec has the C layout of
// struct timespec on every GOARCH (32-bit time_t on 386).
type umtxTime struct {
	timeout syscall.Timespec
	flags   uint32
	clockid uint32
}

func wait(addr *atomic.Uint32, val uint32, rel time.Duration) error {
	var ut umtxTime
	var utp *umtxTime // nil: sleep without a timeout
	if rel >= 0 {
		ut = umtxTime{timeout: syscall.NsecToTimespec(int64(rel)), clockid: _CLOCK_MONOTONIC}
		utp = &ut
	}
	// Syscall, not RawSyscall: the thread may sleep here for a long time, and
	// entersyscall lets the scheduler hand its P to another thread.
	//
	// uaddr1 carries the size of *uaddr2, which tells the kernel that it is a
	// struct _umtx_time and not a bare timespec (which would be measured on
	// CLOCK_REALTIME). Both unsafe.Pointer-to-uintptr conversions are in the
	// call expression of an assembly function, which keeps their targets
	// alive and unmoved until it returns (unsafe.Pointer rule 4); ut may be
	// on the stack, which the runtime does not move during a system call.
	_, _, e := syscall.Syscall6(syscall.SYS__UMTX_OP,
		uintptr(unsafe.Pointer(addr)), _UMTX_OP_WAIT_UINT, uintptr(val),
		unsafe.Sizeof(ut), uintptr(unsafe.Pointer(utp)), 0)
	switch e {
	case 0, syscall.EINTR:
		// Woken, *addr != val (the kernel returns 0), or a signal: the
		// caller re-checks.
		return nil
	case syscall.ETIMEDOUT:
		return errDeadline
	}
	return os.NewSyscallError("_umtx_op", e)
}

func wake(addr *atomic.Uint32, n int) (int, error) {
	// RawSyscall: a wake does not sleep. The conversion of addr is in the
	// call expression (unsafe.Pointer rule 4).
	_, _, e := syscall.RawSyscall6(syscall.SYS__UMTX_OP,
		uintptr(unsafe.Pointer(addr)), _UMTX_OP_WAKE, uintptr(n), 0, 0, 0)
	if e != 0 {
		return 0, os.NewSyscallError("_umtx_op", e)
	}
	// kern_umtx_wake returns 0, not the number it woke.
	return 0, nil
}
