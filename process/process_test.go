package process_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/process"
	"github.com/shmkit/shmkit/shm"
)

func TestMain(m *testing.M) { shmtest.Main(m) }

// Functions the children run.
var (
	exitWith = process.MustRegister("exit-with", func(ctx context.Context, how string) error {
		switch how {
		case "ok":
			return nil
		case "error":
			return errors.New("the child's own error")
		case "panic":
			panic("the child panicked")
		case "exit7":
			os.Exit(7)
		case "sleep":
			time.Sleep(time.Minute)
		}
		return fmt.Errorf("unknown how %q", how)
	})

	// fill writes its pid, name and a pattern into the shared bytes.
	fill = process.MustRegister("fill", func(ctx context.Context, a fillArgs) error {
		b := a.Obj.UnsafeBytes()
		for i := range b {
			b[i] = byte(i * a.Mul)
		}
		w, err := a.Seg.Lookup("note", shm.KindBytes)
		if err != nil {
			return err
		}
		defer w.Close()
		copy(w.UnsafeBytes(), process.CurrentName())
		return nil
	})

	// grandparent starts a sleeping grandchild, prints its pid, and waits
	// to be killed.
	grandparent = process.MustRegister("grandparent", func(ctx context.Context, _ struct{}) error {
		p, err := process.Start(context.Background(), exitWith, "sleep", nil)
		if err != nil {
			return err
		}
		fmt.Println(p.Pid())
		p.Join(ctx)
		return nil
	})
)

type unencodable struct{ C chan int }

var badArg = process.MustRegister("bad-arg", func(context.Context, unencodable) error { return nil })

type fillArgs struct {
	Seg *shm.Segment
	Obj *shm.Object
	Mul int
}

// onlyInParent is registered only when the env var is unset, so a child
// started with it set lacks the function.
var onlyInParent *process.Func[int]

func init() {
	if os.Getenv("ONLY_IN_PARENT") == "" {
		onlyInParent = process.MustRegister("only-in-parent", func(context.Context, int) error { return nil })
	}
}

func TestAnonymousSegmentReachesChild(t *testing.T) {
	shmtest.NeedProcesses(t)
	ctx := shmtest.Deadline(t, 30*time.Second)
	runFill(t, ctx, "filler", 3, nil)
}

// runFill starts fill under name over a fresh anonymous segment, calls
// started (if not nil) once Start has returned, and checks that the child
// mapped the segment, wrote what it was asked under the name it was
// given, and detached cleanly.
func runFill(t *testing.T, ctx context.Context, name string, mul int, started func()) {
	t.Helper()
	seg, err := shm.New(1<<20, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Close()
	obj, err := seg.AllocBytes("data", 100000)
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Close()
	note, err := seg.AllocBytes("note", 64)
	if err != nil {
		t.Fatal(err)
	}
	defer note.Close()
	p, err := process.Start(ctx, fill, fillArgs{Seg: seg, Obj: obj, Mul: mul}, &process.Options{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	if p.Name() != name || p.Pid() <= 0 {
		t.Errorf("Name %q Pid %d", p.Name(), p.Pid())
	}
	if started != nil {
		started()
	}
	if err := p.Join(ctx); err != nil {
		t.Fatalf("Join = %v", err)
	}
	for i, c := range obj.UnsafeBytes() {
		if c != byte(i*mul) {
			t.Fatalf("byte %d = %d, want %d", i, c, byte(i*mul))
		}
	}
	if got := strings.TrimRight(string(note.UnsafeBytes()), "\x00"); got != name {
		t.Errorf("child's CurrentName = %q, want %s", got, name)
	}
	// The child detached cleanly: only this process is alive in the table.
	in, err := seg.Info()
	if err != nil {
		t.Fatal(err)
	}
	live := 0
	for _, s := range in.Processes {
		if s.Alive {
			live++
		}
	}
	if len(in.Processes) != 2 || live != 1 {
		t.Errorf("process table after the child = %+v, want 2 claims, 1 alive", in.Processes)
	}
}

// exitCases are what exitWith does, and what Join must report.
var exitCases = []struct {
	how     string
	code    int
	message string
	panic   bool
}{
	{"ok", 0, "", false},
	{"error", 1, "the child's own error", false},
	{"panic", 2, "the child panicked", true},
	{"exit7", 7, "", false},
}

func TestExitCodes(t *testing.T) {
	shmtest.NeedProcesses(t)
	ctx := shmtest.Deadline(t, 30*time.Second)
	for _, tt := range exitCases {
		t.Run(tt.how, func(t *testing.T) {
			var stderr strings.Builder
			p, err := process.Start(ctx, exitWith, tt.how, &process.Options{Stderr: &stderr})
			if err != nil {
				t.Fatal(err)
			}
			err = p.Join(ctx)
			code, ok := p.ExitCode()
			if !ok || code != tt.code {
				t.Errorf("ExitCode() = %d, %v; want %d", code, ok, tt.code)
			}
			if p.IsAlive() {
				t.Errorf("IsAlive after Join")
			}
			if tt.code == 0 {
				if err != nil {
					t.Errorf("Join = %v, want nil", err)
				}
				return
			}
			var ee *process.ExitError
			if !errors.As(err, &ee) {
				t.Fatalf("Join = %v, want *ExitError", err)
			}
			if ee.ExitCode != tt.code || ee.Message != tt.message || ee.Panic != tt.panic || ee.Pid != p.Pid() {
				t.Errorf("ExitError = %+v", ee)
			}
			if tt.panic && !strings.Contains(ee.Stack, "process_test") {
				t.Errorf("panic stack does not show the function:\n%s", ee.Stack)
			}
			if !strings.Contains(err.Error(), p.Name()) {
				t.Errorf("error %q does not name the process", err)
			}
		})
	}
}

func TestSignals(t *testing.T) {
	shmtest.NeedProcesses(t)
	ctx := shmtest.Deadline(t, 30*time.Second)
	for _, tt := range []struct {
		name string
		stop func(*process.Process) error
		code int
	}{
		{"terminate", (*process.Process).Terminate, -int(syscall.SIGTERM)},
		{"kill", (*process.Process).Kill, -int(syscall.SIGKILL)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, err := process.Start(ctx, exitWith, "sleep", nil)
			if err != nil {
				t.Fatal(err)
			}
			if !p.IsAlive() {
				t.Errorf("IsAlive = false while running")
			}
			if _, ok := p.ExitCode(); ok {
				t.Errorf("ExitCode ok while running")
			}
			short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
			if err := p.Join(short); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Join(short) = %v, want DeadlineExceeded", err)
			}
			cancel()
			if err := tt.stop(p); err != nil {
				t.Fatal(err)
			}
			err = p.Join(ctx)
			if code, _ := p.ExitCode(); code != tt.code {
				t.Errorf("ExitCode = %d, want %d (Join: %v)", code, tt.code, err)
			}
			var ee *process.ExitError
			if !errors.As(err, &ee) || ee.ExitCode != tt.code {
				t.Errorf("Join = %v, want ExitError with code %d", err, tt.code)
			}
			if err := tt.stop(p); err != nil {
				t.Errorf("stopping a dead process = %v, want nil", err)
			}
		})
	}
}

func TestActiveChildren(t *testing.T) {
	shmtest.NeedProcesses(t)
	ctx := shmtest.Deadline(t, 30*time.Second)
	p, err := process.Start(ctx, exitWith, "sleep", nil)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, c := range process.ActiveChildren() {
		found = found || c == p
	}
	if !found {
		t.Errorf("ActiveChildren does not list a running child")
	}
	p.Kill()
	p.Join(ctx)
	for _, c := range process.ActiveChildren() {
		if c == p {
			t.Errorf("ActiveChildren lists a joined child")
		}
	}
	if !strings.HasPrefix(p.Name(), "Process-") {
		t.Errorf("default name %q, want Process-N", p.Name())
	}
}

func TestRegistrationErrors(t *testing.T) {
	ctx := shmtest.Deadline(t, 30*time.Second)
	if _, err := process.Register("exit-with", func(context.Context, string) error { return nil }); !errors.Is(err, process.ErrDuplicate) {
		t.Errorf("Register twice = %v, want ErrDuplicate", err)
	}
	if _, err := process.Register("", func(context.Context, string) error { return nil }); err == nil {
		t.Errorf("Register(\"\") succeeded")
	}
	if _, err := process.Start(ctx, (*process.Func[int])(nil), 1, nil); !errors.Is(err, process.ErrNotRegistered) {
		t.Errorf("Start(nil) = %v, want ErrNotRegistered", err)
	}
	if _, err := process.Start(ctx, &process.Func[int]{}, 1, nil); !errors.Is(err, process.ErrNotRegistered) {
		t.Errorf("Start(zero Func) = %v, want ErrNotRegistered", err)
	}
	// An argument gob cannot encode fails in the caller.
	if _, err := process.Start(ctx, badArg, unencodable{C: make(chan int)}, nil); !errors.Is(err, process.ErrArgument) {
		t.Errorf("Start(unencodable) = %v, want ErrArgument", err)
	}
	// Registered here, not in the child.
	shmtest.NeedProcesses(t)
	p, err := process.Start(ctx, onlyInParent, 1, &process.Options{Env: []string{"ONLY_IN_PARENT=1"}, Stderr: new(strings.Builder)})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Join(ctx); !errors.Is(err, process.ErrNotRegistered) {
		t.Errorf("child without the function: Join = %v, want ErrNotRegistered", err)
	}
}

// TestChildDiesWithParent kills a child that has a child of its own and
// checks that the grandchild goes too.
func TestChildDiesWithParent(t *testing.T) {
	checkDiesWithParent(t, grandparent, "grandchild")
}

// checkDiesWithParent starts parent, which prints the pid of a child of
// its own (what) and waits; it kills parent and checks that the child
// goes too.
func checkDiesWithParent(t *testing.T, parent *process.Func[struct{}], what string) {
	t.Helper()
	shmtest.NeedProcesses(t)
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		shmtest.SkipUnsupported(t, "telling a running process from a zombie without /proc")
	}
	ctx := shmtest.Deadline(t, 30*time.Second)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	p, err := process.Start(ctx, parent, struct{}{}, &process.Options{Stdout: w})
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil {
		p.Kill()
		t.Fatalf("%s's parent said %q: %v (%v)", what, line, err, p.Join(ctx))
	}
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatal(err)
	}
	if !running(pid) {
		t.Fatalf("%s %d not running before its parent dies", what, pid)
	}
	p.Kill()
	p.Join(ctx)
	for running(pid) {
		if ctx.Err() != nil {
			if c, err := os.FindProcess(pid); err == nil {
				c.Kill()
			}
			t.Fatalf("%s %d still running after its parent was killed", what, pid)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// running reports whether pid names a process that has not exited (a
// zombie has exited).
func running(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] != 'Z' && s[i+2] != 'X'
}
