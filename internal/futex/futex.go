// Package futex puts a goroutine to sleep on a 32-bit word and wakes it,
// across processes: the word may live in a MAP_SHARED mapping that several
// processes have mapped, at different addresses, and a Wake in one process
// wakes a Wait in another. It is the only per-OS waiting code in shmkit;
// semaphores and condition variables are written once over an atomic word and
// call Wait and Wake, the contract of the runtime's futexsleep/futexwakeup.
//
// The usual shape of a caller is
//
//	for w.Load() == v {                   // re-check after every return
//		if err := futex.Wait(w, v, deadline); err != nil {
//			return err                    // deadline passed, or a real failure
//		}
//	}
//
// and a waker changes the word first, then calls Wake.
//
// Wait and Wake carry no happens-before edge of their own: the atomic
// operations on the word do (and internal/race tells the race detector about
// them).
//
// What we don't hide:
//   - Wait may return nil without a Wake (signals, a changed value, or for no
//     reason at all); callers loop.
//   - Linux uses futex(2) and FreeBSD _umtx_op(2), both in their shared (not
//     private) forms, so the kernel keys a word in a shared mapping by the
//     underlying object, not the address. Elsewhere Supported is false and
//     both functions return an error wrapping errors.ErrUnsupported.
//   - A sleeping Wait holds an OS thread for as long as it sleeps; it lets the
//     scheduler hand its P to other goroutines. Many sleepers mean many
//     threads.
//   - Wake's count is what the kernel reports: FreeBSD reports none, so there
//     it is always 0.
//   - A process that dies while waiting simply stops waiting. Nothing records
//     it; any waiter count a caller keeps in the shared word is then wrong.
package futex

import (
	"errors"
	"fmt"
	"math"
	"os"
	"runtime"
	"sync/atomic"
	"time"
)

// errDeadline is returned by Wait once the deadline has passed. It is a
// variable so that a timed-out Wait allocates nothing.
var errDeadline = fmt.Errorf("futex: wait: %w", os.ErrDeadlineExceeded)

// errUnsupported is returned where Supported is false.
var errUnsupported = fmt.Errorf("futex: %w on %s", errors.ErrUnsupported, runtime.GOOS)

// Wait sleeps while *addr == val, until a Wake on addr (from this process or
// another that maps the same memory), until deadline passes, or spuriously.
// The kernel compares *addr with val atomically with going to sleep, so a
// Wake that follows a change of *addr cannot be missed.
//
// A zero deadline means no deadline. Wait returns nil when woken, when *addr
// != val on entry, on a signal and on a spurious wakeup: callers re-check the
// word in a loop. Once the deadline has passed, including when it has passed
// on entry (checked before *addr is read), Wait returns an error wrapping
// os.ErrDeadlineExceeded. Other failures are *os.SyscallError values
// wrapping the errno. Where Supported is false, Wait returns an error
// wrapping errors.ErrUnsupported.
//
// addr must be 4-byte aligned, as an atomic.Uint32 is; to reach other
// processes it must be in memory they map as shared.
func Wait(addr *atomic.Uint32, val uint32, deadline time.Time) error {
	if !Supported {
		return errUnsupported
	}
	rel := time.Duration(-1) // no deadline
	if !deadline.IsZero() {
		if rel = time.Until(deadline); rel <= 0 {
			return errDeadline
		}
	}
	return wait(addr, val, rel)
}

// Wake wakes up to n goroutines (in any process) sleeping in Wait on addr and
// returns how many it woke, where the OS reports it (not FreeBSD: there it
// returns 0). n <= 0, or n >= math.MaxInt32, wakes all of them. A Wake with
// no sleeper still costs a system call: callers that can tell no one sleeps
// should skip it. Where Supported is false, Wake returns an error wrapping
// errors.ErrUnsupported.
func Wake(addr *atomic.Uint32, n int) (int, error) {
	if !Supported {
		return 0, errUnsupported
	}
	if n <= 0 || n > math.MaxInt32 {
		n = math.MaxInt32
	}
	return wake(addr, n)
}
