// Package shmtest helps the tests of shmkit: unique segment names, child
// processes that are re-executions of the test binary, and the leak checks
// that every package's TestMain runs.
//
// Every test binary's TestMain is
//
//	func TestMain(m *testing.M) { shmtest.Main(m) }
//
// which turns a child started by process.Start or by Command into that
// child, and otherwise runs the tests and then fails the run (exit status
// 99) if they left a segment of this run in the shared-memory directory or
// a child process running (children are found through /proc, so only where
// there is one).
//
// A test that needs what some systems lack starts with a Need function
// (NeedProcesses, NeedRemoveWhileOpen), which skips it there and says why.
package shmtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/sys"
	"github.com/shmkit/shmkit/process"
)

const (
	// RoleEnv names the role a re-executed test binary plays.
	RoleEnv = "SHMKIT_TEST_ROLE"
	// RunEnv carries the tag of this test run to its children, so that
	// their segment names count as this run's.
	RunEnv = "SHMKIT_TEST_RUN"
)

var (
	roles   = map[string]func() int{}
	runTag  string
	tagOnce sync.Once
)

func tag() string {
	tagOnce.Do(func() {
		runTag = os.Getenv(RunEnv)
		if runTag == "" {
			runTag = random(4)
			os.Setenv(RunEnv, runTag)
		}
	})
	return runTag
}

func random(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// Name returns a segment name unique to this test and this run:
// "shmkit-t<run>-<test name>-<random>". Leak checks find segments by the run
// part.
func Name(t testing.TB) string {
	n := unsafeChars.ReplaceAllString(t.Name(), "_")
	if len(n) > 80 {
		n = n[:80]
	}
	return fmt.Sprintf("%st%s-%s-%s", sys.Prefix, tag(), n, random(4))
}

// Role registers a role that a re-executed test binary can play; fn's
// result is the child's exit status. Call it from init or a package-level
// var.
func Role(name string, fn func() int) bool {
	if _, ok := roles[name]; ok {
		panic("shmtest: role registered twice: " + name)
	}
	roles[name] = fn
	return true
}

// Command returns a command that runs the test binary as role, with env
// added to the environment, killed when ctx is done. The caller starts it
// and waits for it.
func Command(ctx context.Context, role string, env ...string) *exec.Cmd {
	if _, ok := roles[role]; !ok {
		panic("shmtest: unknown role " + role)
	}
	exe, err := os.Executable()
	if err != nil {
		panic(err)
	}
	cmd := exec.CommandContext(ctx, exe, "-test.run=^$")
	cmd.Env = append(append(os.Environ(), RoleEnv+"="+role, RunEnv+"="+tag()), env...)
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// Deadline returns a context for a multi-process test: t.Context() bounded
// by d. A test that reaches it has hung.
func Deadline(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

// Main runs a test binary: as a child of process.Start, as a role of
// Command, or as the tests themselves followed by the leak checks.
func Main(m *testing.M) {
	process.Main()
	if role := os.Getenv(RoleEnv); role != "" {
		fn, ok := roles[role]
		if !ok {
			fmt.Fprintf(os.Stderr, "shmtest: unknown role %q\n", role)
			os.Exit(3)
		}
		os.Exit(fn())
	}
	// A test binary that inherits the run's tag without a role is a worker
	// that the first one started (go test -fuzz starts such workers): the
	// segments of the run belong to the first, which checks them at the
	// end; a worker checking them would remove files the others still use.
	worker := os.Getenv(RunEnv) != ""
	tag()
	// Children built with -race sleep a second at exit by default, in
	// case a goroutine is halfway through a report; a test run starts
	// hundreds of them.
	if !strings.Contains(os.Getenv("GORACE"), "atexit_sleep_ms") {
		os.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=50"))
	}
	code := m.Run()
	if worker {
		os.Exit(code)
	}
	if leaks := Leaks(); len(leaks) > 0 {
		fmt.Fprintf(os.Stderr, "shmtest: the tests left behind:\n\t%s\n", strings.Join(leaks, "\n\t"))
		if code == 0 {
			code = 99
		}
	}
	os.Exit(code)
}

// Leaks lists the segments of this run still in the shared-memory
// directory and the child processes of this process still running (after
// giving children that are exiting a moment to go). It removes the segments
// it finds, so that one failing run does not fail the next.
func Leaks() []string {
	var out []string
	pattern := filepath.Join(sys.ShmDir(), sys.Prefix+"t"+tag()+"-*")
	files, _ := filepath.Glob(pattern)
	sort.Strings(files)
	for _, f := range files {
		out = append(out, "segment "+f)
		os.Remove(f)
	}
	var kids []string
	for range 50 {
		if kids = children(); len(kids) == 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, k := range kids {
		out = append(out, "child process "+k)
	}
	return out
}

// children lists this process's children (zombies too), where /proc
// tells.
func children() []string {
	var out []string
	for _, c := range listChildren() {
		out = append(out, c.desc+" state "+c.state)
	}
	return out
}

// Children returns the pids of this process's children that have not
// exited (a zombie has), where /proc tells; none elsewhere.
func Children() []int {
	var out []int
	for _, c := range listChildren() {
		if c.state != "Z" && c.state != "X" {
			out = append(out, c.pid)
		}
	}
	return out
}

type child struct {
	pid         int
	desc, state string // "pid (comm)", and the state letter
}

func listChildren() []child {
	dirs, _ := filepath.Glob("/proc/[0-9]*/stat")
	me := os.Getpid()
	var out []child
	for _, d := range dirs {
		b, err := os.ReadFile(d)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces and parens.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		var state string
		var pid, ppid int
		if _, err := fmt.Sscanf(s[i+1:], " %s %d", &state, &ppid); err != nil || ppid != me {
			continue
		}
		if _, err := fmt.Sscanf(s, "%d", &pid); err != nil {
			continue
		}
		out = append(out, child{pid, strings.TrimSpace(s[:i+1]), state})
	}
	return out
}
