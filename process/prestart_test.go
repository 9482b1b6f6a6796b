//go:build unix

package process_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/process"
)

// prestart prestarts n children for t and stops the idle ones when t ends.
func prestart(t *testing.T, ctx context.Context, n int) {
	t.Helper()
	t.Cleanup(process.StopPrestarted)
	if err := process.Prestart(ctx, n); err != nil {
		t.Fatal(err)
	}
	if got := process.Prestarted(); got != n {
		t.Fatalf("Prestarted() = %d after Prestart(%d)", got, n)
	}
}

// TestPrestartedRunsStart: a Start with default options goes to a
// prestarted child, which maps the segments handed to it, runs the
// function under the name it was given and detaches cleanly.
func TestPrestartedRunsStart(t *testing.T) {
	shmtest.NeedProcesses(t)
	ctx := shmtest.Deadline(t, 30*time.Second)
	prestart(t, ctx, 2)
	runFill(t, ctx, "prefilled", 5, func() {
		if got := process.Prestarted(); got != 1 {
			t.Errorf("Prestarted() = %d after a Start, want 1: Start did not use one", got)
		}
	})
	process.StopPrestarted()
	if got := process.Prestarted(); got != 0 {
		t.Errorf("Prestarted() = %d after StopPrestarted", got)
	}
}

// TestPrestartedExitCodes: results, errors, panics and exit statuses come
// back from a prestarted child as from any other.
func TestPrestartedExitCodes(t *testing.T) {
	shmtest.NeedProcesses(t)
	ctx := shmtest.Deadline(t, 30*time.Second)
	for _, tt := range exitCases {
		t.Run(tt.how, func(t *testing.T) {
			prestart(t, ctx, 1)
			p, err := process.Start(ctx, exitWith, tt.how, nil)
			if err != nil {
				t.Fatal(err)
			}
			if n := process.Prestarted(); n != 0 {
				t.Fatalf("Prestarted() = %d after Start, want 0", n)
			}
			err = p.Join(ctx)
			if code, ok := p.ExitCode(); !ok || code != tt.code {
				t.Errorf("ExitCode() = %d, %v; want %d", code, ok, tt.code)
			}
			if tt.code == 0 {
				if err != nil {
					t.Errorf("Join = %v", err)
				}
				return
			}
			var ee *process.ExitError
			if !errors.As(err, &ee) || ee.ExitCode != tt.code || ee.Message != tt.message || ee.Panic != tt.panic || ee.Pid != p.Pid() {
				t.Errorf("Join = %#v, want an ExitError with code %d, message %q, panic %v", err, tt.code, tt.message, tt.panic)
			}
		})
	}
}

// TestPrestartedKilledWithContext: as with any child, a prestarted one
// running a function is killed when Start's context ends.
func TestPrestartedKilledWithContext(t *testing.T) {
	shmtest.NeedProcesses(t)
	ctx := shmtest.Deadline(t, 30*time.Second)
	prestart(t, ctx, 1)
	short, cancel := context.WithCancel(ctx)
	p, err := process.Start(short, exitWith, "sleep", nil)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	err = p.Join(ctx)
	var ee *process.ExitError
	if !errors.As(err, &ee) || ee.ExitCode != -int(syscall.SIGKILL) {
		t.Fatalf("Join = %v, want killed", err)
	}
}

// TestPrestartedPassedOver: a Start whose options a prestarted child
// cannot honour (here Env) starts a process of its own; so does one that
// finds only dead prestarted children.
func TestPrestartedPassedOver(t *testing.T) {
	shmtest.NeedProcesses(t)
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		shmtest.SkipUnsupported(t, "finding the prestarted children without /proc")
	}
	ctx := shmtest.Deadline(t, 30*time.Second)
	prestart(t, ctx, 2)
	p, err := process.Start(ctx, exitWith, "ok", &process.Options{Env: []string{"SHMKIT_TEST_X=1"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Join(ctx); err != nil {
		t.Fatal(err)
	}
	if n := process.Prestarted(); n != 2 {
		t.Fatalf("Prestarted() = %d after a Start with Env, want 2", n)
	}
	// Kill both: once they are seen dead, Starts pass them over. (One
	// killed just as Start hands it its function is like any child killed
	// just after Start: Join reports the signal.)
	kids := shmtest.Children()
	if len(kids) != 2 {
		t.Fatalf("children %v, want the 2 prestarted", kids)
	}
	for _, pid := range kids {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	for process.Prestarted() != 0 {
		if ctx.Err() != nil {
			t.Fatalf("Prestarted() = %d with both killed", process.Prestarted())
		}
		time.Sleep(time.Millisecond)
	}
	for i := range 2 {
		p, err := process.Start(ctx, exitWith, "ok", nil)
		if err != nil {
			t.Fatalf("Start %d after the prestarted died: %v", i, err)
		}
		if err := p.Join(ctx); err != nil {
			t.Fatalf("Join %d after the prestarted died: %v", i, err)
		}
	}
	// Prestart counts only the living: it starts two again.
	prestart(t, ctx, 2)
	if kids := shmtest.Children(); len(kids) != 2 {
		t.Fatalf("children %v after Prestart(2), want 2", kids)
	}
}

// TestPrestartContext: Prestart whose context ends first returns its
// error and leaves no child behind (the leak check at the end of the run
// would see one).
func TestPrestartContext(t *testing.T) {
	shmtest.NeedProcesses(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Microsecond)
	defer cancel()
	<-ctx.Done()
	err := process.Prestart(ctx, 2)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Prestart with an ended context = %v", err)
	}
	if n := process.Prestarted(); n != 0 {
		t.Fatalf("Prestarted() = %d", n)
	}
	if err := process.Prestart(context.Background(), -1); err == nil {
		t.Fatal("Prestart(-1) = nil")
	}
}

// prestarter prestarts one child, prints its pid and waits to be killed.
var prestarter = process.MustRegister("prestarter", func(ctx context.Context, _ struct{}) error {
	if err := process.Prestart(ctx, 1); err != nil {
		return err
	}
	kids := shmtest.Children()
	if len(kids) != 1 {
		return fmt.Errorf("children %v after Prestart(1)", kids)
	}
	fmt.Println(kids[0])
	<-ctx.Done()
	return nil
})

// TestPrestartedDiesWithParent: an idle prestarted child exits when the
// process that prestarted it dies.
func TestPrestartedDiesWithParent(t *testing.T) {
	checkDiesWithParent(t, prestarter, "prestarted child")
}

// TestPrestartedHoldOnlyTheirOwnSocket: children prestarted together do
// not inherit each other's socket ends (each would hold the other's
// lifeline open), and a Start whose context has ended starts nothing.
func TestPrestartedHoldOnlyTheirOwnSocket(t *testing.T) {
	shmtest.NeedProcesses(t)
	if _, err := os.Stat("/proc/self/fd"); err != nil {
		shmtest.SkipUnsupported(t, "listing a process's descriptors without /proc")
	}
	ctx := shmtest.Deadline(t, 30*time.Second)
	prestart(t, ctx, 4)
	kids := shmtest.Children()
	if len(kids) != 4 {
		t.Fatalf("children %v, want 4", kids)
	}
	for _, pid := range kids {
		fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		if err != nil {
			t.Fatal(err)
		}
		var sockets []string
		for _, fd := range fds {
			if l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name())); err == nil && strings.HasPrefix(l, "socket:") {
				sockets = append(sockets, fd.Name()+" "+l)
			}
		}
		if len(sockets) != 1 {
			t.Errorf("prestarted child %d holds sockets %v, want only its own", pid, sockets)
		}
	}
	done, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := process.Start(done, exitWith, "ok", nil); !errors.Is(err, context.Canceled) {
		t.Errorf("Start with an ended context = %v, want context.Canceled", err)
	}
	if n := process.Prestarted(); n != 4 {
		t.Errorf("Prestarted() = %d after a Start with an ended context, want 4", n)
	}
}
