//go:build linux || freebsd

package futex_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/shmkit/shmkit/internal/futex"
)

const (
	// roleEnv names the role of a re-executed test binary; roundsEnv passes
	// it a round count (b.N for benchmarks).
	roleEnv   = "SHMKIT_FUTEX_TEST_ROLE"
	roundsEnv = "SHMKIT_FUTEX_TEST_ROUNDS"

	// childTimeout bounds everything a cross-process test or benchmark
	// does, in both processes.
	childTimeout = 30 * time.Second

	// quiescent is how long mustBlock waits to decide that a call blocks.
	quiescent = 10 * time.Millisecond

	// pollInterval is how often a parent waiting on its child wakes up to
	// see whether the child has exited.
	pollInterval = 100 * time.Millisecond
)

// roles are the entry points of re-executed children, by the value of
// roleEnv. The shared page is at descriptor 3 (ExtraFiles[0]).
var roles = map[string]func(rounds int) error{
	"wake":     childWake,
	"pingpong": childPingPong,
	"pipe":     childPipe,
}

func TestMain(m *testing.M) {
	if role := os.Getenv(roleEnv); role != "" {
		os.Exit(runRole(role))
	}
	os.Exit(m.Run())
}

func runRole(role string) int {
	f := roles[role]
	if f == nil {
		fmt.Fprintf(os.Stderr, "unknown role %q\n", role)
		return 2
	}
	rounds, err := strconv.Atoi(os.Getenv(roundsEnv))
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %s: %v\n", role, roundsEnv, err)
		return 2
	}
	if err := f(rounds); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", role, err)
		return 1
	}
	return 0
}

// The shared page, from offset 0:
//
//	+0    turn   uint32  ping-pong counter: the parent stores odd values,
//	                     the child even ones; 0 at the start
//	+128  ready  uint32  the child stores 1 once it has mapped the page
//
// Both words start at zero because a new file and a new anonymous mapping
// are zero-filled.
func words(mem []byte) (turn, ready *atomic.Uint32) {
	// Sound: mem is a page-aligned mapping of at least one page, so both
	// offsets are in bounds and 4-byte aligned, and callers unmap it only
	// after their last use of the words.
	return (*atomic.Uint32)(unsafe.Pointer(&mem[0])), (*atomic.Uint32)(unsafe.Pointer(&mem[128]))
}

// mapAnon returns a fresh anonymous MAP_SHARED page, unmapped at cleanup.
func mapAnon(tb testing.TB) []byte {
	tb.Helper()
	mem, err := syscall.Mmap(-1, 0, os.Getpagesize(),
		syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_SHARED)
	if err != nil {
		tb.Fatalf("mmap: %v", err)
	}
	tb.Cleanup(func() { syscall.Munmap(mem) })
	return mem
}

// mapFile returns a MAP_SHARED mapping of a fresh one-page file under
// tb.TempDir, and the open file to hand to a child. Both go at cleanup.
func mapFile(tb testing.TB) ([]byte, *os.File) {
	tb.Helper()
	f, err := os.CreateTemp(tb.TempDir(), "futex-*")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { f.Close() })
	if err := f.Truncate(int64(os.Getpagesize())); err != nil {
		tb.Fatal(err)
	}
	mem, err := syscall.Mmap(int(f.Fd()), 0, os.Getpagesize(),
		syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		tb.Fatalf("mmap: %v", err)
	}
	tb.Cleanup(func() { syscall.Munmap(mem) })
	return mem, f
}

// mapInherited maps the page a parent passed as descriptor 3.
func mapInherited() ([]byte, error) {
	mem, err := syscall.Mmap(3, 0, os.Getpagesize(),
		syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("mmap inherited page: %w", err)
	}
	syscall.Close(3) // the mapping keeps the file
	return mem, nil
}

var errPeerExited = errors.New("peer process exited")

// waitWhile blocks while w holds val, until deadline, or until done (if not
// nil) is closed because the peer process exited.
func waitWhile(w *atomic.Uint32, val uint32, deadline time.Time, done <-chan struct{}) error {
	for w.Load() == val {
		d := deadline
		if done != nil {
			select {
			case <-done:
				return errPeerExited
			default:
			}
			// Wake up now and then to notice a dead peer.
			if poll := time.Now().Add(pollInterval); poll.Before(d) {
				d = poll
			}
		}
		if err := futex.Wait(w, val, d); err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) && time.Now().Before(deadline) {
				continue // a poll, not the real deadline
			}
			return err
		}
	}
	return nil
}

// child is a re-executed test binary.
type child struct {
	cmd  *exec.Cmd
	out  bytes.Buffer  // combined output; read only after done is closed
	done chan struct{} // closed when the child has exited
	err  error         // cmd.Wait's result; read only after done is closed
}

// startChild starts the test binary again in role, with rounds and files
// (from descriptor 3 on). The child is killed if ctx ends, and at cleanup
// if it is still running.
func startChild(tb testing.TB, ctx context.Context, role string, rounds int, files ...*os.File) *child {
	tb.Helper()
	exe, err := os.Executable()
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, exe, "-test.run=^$", "-test.bench=^$")
	cmd.Env = append(os.Environ(), roleEnv+"="+role, roundsEnv+"="+strconv.Itoa(rounds),
		// Under -race, skip the detector's 1 s pause at exit.
		"GORACE="+os.Getenv("GORACE")+" atexit_sleep_ms=0")
	cmd.ExtraFiles = files
	c := &child{cmd: cmd, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = &c.out, &c.out
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start %s child: %v", role, err)
	}
	go func() {
		c.err = cmd.Wait()
		close(c.done)
	}()
	tb.Cleanup(func() {
		cmd.Process.Kill() // harmless if it has exited
		<-c.done
	})
	return c
}

// fatalf kills the child, waits for it, and fails tb with its output.
func (c *child) fatalf(tb testing.TB, format string, args ...any) {
	tb.Helper()
	c.cmd.Process.Kill()
	<-c.done
	tb.Fatalf("%s; child: %v; child output:\n%s", fmt.Sprintf(format, args...), c.err, c.out.Bytes())
}

// wait waits for the child to exit and fails tb unless it exited with 0.
func (c *child) wait(tb testing.TB) {
	tb.Helper()
	<-c.done // bounded: the child's context has a deadline
	if c.err != nil {
		tb.Fatalf("child: %v; output:\n%s", c.err, c.out.Bytes())
	}
}

// mustBlock calls f in a goroutine and fails t if it returns within
// quiescent. The returned function waits for f to return, logging (not
// failing) if that is slow. Copied in spirit from lockedfile's tests.
func mustBlock(t *testing.T, desc string, f func()) (wait func(*testing.T)) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		f()
		close(done)
	}()
	timer := time.NewTimer(quiescent)
	defer timer.Stop()
	select {
	case <-done:
		t.Fatalf("%s unexpectedly did not block", desc)
	case <-timer.C:
	}
	return func(t *testing.T) {
		t.Helper()
		logTimer := time.NewTimer(quiescent)
		defer logTimer.Stop()
		select {
		case <-logTimer.C:
			t.Logf("%s is unexpectedly still blocked after %v", desc, quiescent)
			<-done
		case <-done:
		}
	}
}

// wakeReportsCount is whether Wake returns the number it woke here.
const wakeReportsCount = runtime.GOOS != "freebsd"

func TestWakeNoWaiter(t *testing.T) {
	turn, _ := words(mapAnon(t))
	for _, n := range []int{1, 0, -1, math.MaxInt32, math.MaxInt} {
		got, err := futex.Wake(turn, n)
		if got != 0 || err != nil {
			t.Errorf("Wake(turn, %d) = %d, %v, want 0, nil", n, got, err)
		}
	}
}

// TestWaitNoWake covers the ways Wait returns without a Wake.
func TestWaitNoWake(t *testing.T) {
	tests := []struct {
		name         string
		word, val    uint32        // the word's value, and the one passed to Wait
		timeout      time.Duration // deadline is now + timeout; 0 means no deadline
		wantDeadline bool
	}{
		{name: "value differs", word: 1, val: 0, timeout: childTimeout},
		{name: "value differs, no deadline", word: 1, val: 0},
		{name: "deadline passed", word: 0, val: 0, timeout: -time.Second, wantDeadline: true},
		{name: "deadline passed, value differs", word: 1, val: 0, timeout: -time.Second, wantDeadline: true},
		{name: "deadline 20ms", word: 7, val: 7, timeout: 20 * time.Millisecond, wantDeadline: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			turn, _ := words(mapAnon(t))
			turn.Store(tt.word)
			var deadline time.Time
			if tt.timeout != 0 {
				deadline = time.Now().Add(tt.timeout)
			}
			start := time.Now()
			var err error
			for {
				// Loop as callers do: nil may be spurious.
				err = futex.Wait(turn, tt.val, deadline)
				if err != nil || turn.Load() != tt.val {
					break
				}
			}
			elapsed := time.Since(start)
			if got := errors.Is(err, os.ErrDeadlineExceeded); got != tt.wantDeadline || (!got && err != nil) {
				t.Fatalf("Wait(turn, %d, %v) = %v, want deadline exceeded: %v", tt.val, tt.timeout, err, tt.wantDeadline)
			}
			if tt.wantDeadline && tt.timeout > 0 && elapsed < tt.timeout {
				t.Errorf("Wait(turn, %d, %v) timed out after %v, before the deadline", tt.val, tt.timeout, elapsed)
			}
			if elapsed > 5*time.Second {
				t.Errorf("Wait(turn, %d, %v) took %v", tt.val, tt.timeout, elapsed)
			}
		})
	}
}

// TestWakeGoroutine wakes a goroutine sleeping on a word in a MAP_SHARED
// mapping.
func TestWakeGoroutine(t *testing.T) {
	turn, _ := words(mapAnon(t))
	deadline := time.Now().Add(childTimeout)
	var waitErr error
	wait := mustBlock(t, "Wait(turn, 0)", func() { waitErr = waitWhile(turn, 0, deadline, nil) })

	if wakeReportsCount {
		// The waiter is in the kernel once a Wake that changes nothing
		// reports it; it then re-checks, finds 0 and sleeps again.
		for n := 0; n == 0; {
			if time.Now().After(deadline) {
				t.Fatal("Wake(turn, 1) found no sleeper before the deadline")
			}
			var err error
			if n, err = futex.Wake(turn, 1); err != nil {
				t.Fatalf("Wake(turn, 1) = %d, %v", n, err)
			}
			runtime.Gosched()
		}
	}
	turn.Store(1)
	if n, err := futex.Wake(turn, 1); n > 1 || err != nil {
		t.Fatalf("Wake(turn, 1) = %d, %v, want <= 1, nil", n, err)
	}
	wait(t)
	if waitErr != nil {
		t.Fatalf("waiter: %v", waitErr)
	}
}

// TestWakeAll wakes several goroutines with one Wake(addr, 0).
func TestWakeAll(t *testing.T) {
	const waiters = 3
	turn, _ := words(mapAnon(t))
	deadline := time.Now().Add(childTimeout)
	var errs [waiters]error
	var waits [waiters]func(*testing.T)
	for i := range waiters {
		waits[i] = mustBlock(t, fmt.Sprintf("waiter %d", i), func() { errs[i] = waitWhile(turn, 0, deadline, nil) })
	}
	turn.Store(1)
	n, err := futex.Wake(turn, 0)
	if n > waiters || err != nil {
		t.Fatalf("Wake(turn, 0) = %d, %v, want <= %d, nil", n, err, waiters)
	}
	t.Logf("Wake(turn, 0) = %d", n)
	for i, wait := range waits {
		wait(t)
		if errs[i] != nil {
			t.Errorf("waiter %d: %v", i, errs[i])
		}
	}
}

// TestCrossProcess runs a child on a file-backed MAP_SHARED page: first a
// single wake, then ping-pong.
func TestCrossProcess(t *testing.T) {
	t.Run("wake", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), childTimeout)
		defer cancel()
		deadline, _ := ctx.Deadline()
		mem, f := mapFile(t)
		turn, ready := words(mem)
		c := startChild(t, ctx, "wake", 0, f)

		// P.1: wait until the child has mapped the page.
		if err := waitWhile(ready, 0, deadline, c.done); err != nil {
			c.fatalf(t, "waiting for ready: %v", err)
		}
		if wakeReportsCount {
			// P.2: Wake without a change until it reports a sleeper: the
			// child is asleep in Wait(turn, 0), so the kernel matched a
			// waiter in another process (a private futex never would).
			for n := 0; n == 0; {
				var err error
				if n, err = futex.Wake(turn, 1); err != nil {
					c.fatalf(t, "Wake(turn, 1) = %d, %v", n, err)
				}
				select {
				case <-c.done:
					c.fatalf(t, "child exited before it slept")
				case <-ctx.Done():
					c.fatalf(t, "Wake(turn, 1) found no sleeper: %v", ctx.Err())
				default:
				}
				runtime.Gosched()
			}
		}
		// P.3: release the child.
		turn.Store(1)
		if _, err := futex.Wake(turn, 1); err != nil {
			c.fatalf(t, "Wake(turn, 1): %v", err)
		}
		c.wait(t)
	})

	t.Run("pingpong", func(t *testing.T) {
		const rounds = 1000
		ctx, cancel := context.WithTimeout(t.Context(), childTimeout)
		defer cancel()
		deadline, _ := ctx.Deadline()
		mem, f := mapFile(t)
		turn, ready := words(mem)
		c := startChild(t, ctx, "pingpong", rounds, f)
		if err := waitWhile(ready, 0, deadline, c.done); err != nil {
			c.fatalf(t, "waiting for ready: %v", err)
		}
		if err := pingPong(turn, rounds, deadline, c.done); err != nil {
			c.fatalf(t, "ping-pong: %v", err)
		}
		c.wait(t)
	})
}

// childWake is the child of TestCrossProcess/wake.
func childWake(int) error {
	mem, err := mapInherited()
	if err != nil {
		return err
	}
	turn, ready := words(mem)
	deadline := time.Now().Add(childTimeout)
	// Q.1: say the page is mapped.
	ready.Store(1)
	if _, err := futex.Wake(ready, 1); err != nil {
		return err
	}
	// Q.2: sleep until the parent stores 1 (P.3), waking spuriously for
	// P.2's Wakes.
	return waitWhile(turn, 0, deadline, nil)
}

// pingPong is the parent's side of rounds round trips on turn.
func pingPong(turn *atomic.Uint32, rounds int, deadline time.Time, done <-chan struct{}) error {
	for i := range rounds {
		ping, pong := uint32(2*i+1), uint32(2*i+2)
		// P.1: ping.
		turn.Store(ping)
		if _, err := futex.Wake(turn, 1); err != nil {
			return err
		}
		// P.2: wait for the pong (Q.2).
		if err := waitWhile(turn, ping, deadline, done); err != nil {
			return fmt.Errorf("round %d: %w", i, err)
		}
		if got := turn.Load(); got != pong {
			return fmt.Errorf("round %d: turn = %d, want %d", i, got, pong)
		}
	}
	return nil
}

// childPingPong is the child's side: it says it is ready, then answers
// each ping with a pong.
func childPingPong(rounds int) error {
	mem, err := mapInherited()
	if err != nil {
		return err
	}
	turn, ready := words(mem)
	deadline := time.Now().Add(childTimeout)
	ready.Store(1)
	if _, err := futex.Wake(ready, 1); err != nil {
		return err
	}
	for i := range rounds {
		ping, pong := uint32(2*i+1), uint32(2*i+2)
		// Q.1: wait for the ping (P.1).
		if err := waitWhile(turn, ping-1, deadline, nil); err != nil {
			return fmt.Errorf("round %d: %w", i, err)
		}
		if got := turn.Load(); got != ping {
			return fmt.Errorf("round %d: turn = %d, want %d", i, got, ping)
		}
		// Q.2: pong.
		turn.Store(pong)
		if _, err := futex.Wake(turn, 1); err != nil {
			return err
		}
	}
	return nil
}
