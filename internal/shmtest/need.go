package shmtest

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"

	"github.com/shmkit/shmkit/internal/sys"
	"github.com/shmkit/shmkit/process"
)

// The Need functions skip a test that needs what this system lacks, saying
// what. They find out by trying, once per test binary, rather than by
// GOOS, so that a test starts to run as soon as the system (or shmkit)
// gains the feature.

// NeedProcesses skips the test if process.Start is not supported here.
// Children run by Command need no such check: they are plain exec.Cmds.
func NeedProcesses(t testing.TB) {
	t.Helper()
	if err := startErr(); errors.Is(err, errors.ErrUnsupported) {
		SkipUnsupported(t, "process.Start")
	} else if err != nil {
		t.Fatalf("shmtest: probing process.Start: %v", err)
	}
}

// NeedRemoveWhileOpen skips the test if removing a named segment that is
// still open leaves its name behind until the last handle closes, as
// Windows does where DeleteFile lacks POSIX semantics (Wine, FAT, older
// Windows): Open then still finds the name and Create fails.
func NeedRemoveWhileOpen(t testing.TB) {
	t.Helper()
	lingers, err := removedNameLingers()
	if err != nil {
		t.Fatalf("shmtest: probing Remove of an open segment: %v", err)
	}
	if lingers {
		SkipUnsupported(t, "removing an open segment frees its name only when the last handle closes, so Open still finds it and Create fails")
	}
}

// SkipUnsupported skips the test with the message "what: not supported on
// <system> yet", the form every such skip takes.
func SkipUnsupported(t testing.TB, what string) {
	t.Helper()
	osName := runtime.GOOS
	if osName == "windows" {
		osName = "Windows"
	}
	t.Skipf("%s: not supported on %s yet", what, osName)
}

// probe is a function for startErr to start; it never runs.
var probe = process.MustRegister("shmtest-probe", func(context.Context, struct{}) error { return nil })

// startErr asks process.Start whether it works here, without starting
// anything: Start checks for support before it builds the command, and
// exec.Cmd.Start returns at once for a context that is already done.
var startErr = sync.OnceValue(func() error {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p, err := process.Start(ctx, probe, struct{}{}, nil)
	switch {
	case err == nil:
		// Started after all: it works. Do not leave the child behind.
		p.Kill()
		p.Join(context.Background())
		return nil
	case errors.Is(err, errors.ErrUnsupported):
		return err
	case errors.Is(err, context.Canceled):
		return nil
	}
	return err
})

// removedNameLingers creates a segment file, removes it while it is open
// and reports whether its name is still there.
var removedNameLingers = sync.OnceValues(func() (bool, error) {
	name := fmt.Sprintf("%st%s-probe-remove-%s", sys.Prefix, tag(), random(4))
	f, err := sys.OpenShm(name, true)
	if err != nil {
		return false, err
	}
	if err := sys.UnlinkShm(name); err != nil {
		f.Close()
		sys.UnlinkShm(name)
		return false, err
	}
	lingers := false
	if g, err := sys.OpenShm(name, false); err == nil {
		lingers = true
		g.Close()
	}
	if g, err := sys.OpenShm(name, true); err != nil {
		lingers = true
	} else {
		g.Close()
		sys.UnlinkShm(name)
	}
	// The last handle goes: where the name lingered, it goes now.
	return lingers, f.Close()
})

// Start starts f(arg) in a child process, skipping the test where
// processes cannot be started, and kills and reaps the child when the test
// ends, so that a test that fails early leaves nothing running.
func Start[A any](t testing.TB, ctx context.Context, f *process.Func[A], arg A) *process.Process {
	t.Helper()
	NeedProcesses(t)
	p, err := process.Start(ctx, f, arg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Kill(); p.Join(context.Background()) })
	return p
}
