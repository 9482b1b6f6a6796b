package liveness_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/layout"
	"github.com/shmkit/shmkit/internal/liveness"
	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/internal/sys"
)

func TestMain(m *testing.M) { shmtest.Main(m) }

const (
	fileEnv = "LIVENESS_FILE"
	slots   = 8
)

// table opens the file at path as this process's own open and returns a
// table over its first bytes, and a function that unmaps and closes it.
// The path stands for the segment id, which must differ between files:
// this process keeps its claims by id.
func table(path string) (*liveness.Table, func(), error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, nil, err
	}
	b, err := sys.Map(f, 4096)
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	// Unmap before Close: on Windows the mapping flushes through the file
	// handle, and a file with a mapping or a handle cannot be removed.
	var once sync.Once
	done := func() { once.Do(func() { sys.Unmap(b); f.Close() }) }
	h := fnv.New64a()
	h.Write([]byte(path))
	t, err := liveness.New(h.Sum64(), f, layout.Of(b), slots)
	if err != nil {
		done()
		return nil, nil, err
	}
	return t, done, nil
}

// testTable is table for a test: it fails the test on error and lets go
// of the table when the test ends.
func testTable(t *testing.T, path string) (*liveness.Table, func()) {
	t.Helper()
	tb, done, err := table(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(done)
	return tb, done
}

// newFile makes a zeroed 4 KiB file for a table and returns its path.
func newFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(sys.ShmDir(), shmtest.Name(t))
	if err := os.WriteFile(path, make([]byte, 4096), 0o600); err != nil {
		t.Fatal(err)
	}
	// Cleanups run last first: the tables on the file, registered after
	// this, are closed by the time it is removed, as Windows requires.
	t.Cleanup(func() {
		if err := os.Remove(path); err != nil {
			t.Error(err)
		}
	})
	return path
}

// The "claim" role claims a slot, prints its pid and token, and waits for
// stdin to close (or to be killed).
var _ = shmtest.Role("claim", func() int {
	tb, _, err := table(os.Getenv(fileEnv)) // let go of by dying
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	tok, err := tb.Claim()
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	fmt.Println(os.Getpid(), uint32(tok))
	bufio.NewReader(os.Stdin).ReadString('\n')
	return 0
})

type claimer struct {
	cmd *exec.Cmd
	pid int
	tok liveness.Token
}

// startClaimer runs the claim role on path and returns once it has claimed.
func startClaimer(t *testing.T, ctx context.Context, path string) *claimer {
	t.Helper()
	cmd := shmtest.Command(ctx, "claim", fileEnv+"="+path)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		cmd.Process.Kill()
		cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("claimer said %q: %v", line, err)
	}
	var pid int
	var tok uint32
	if _, err := fmt.Sscan(line, &pid, &tok); err != nil {
		t.Fatalf("claimer said %q: %v", line, err)
	}
	return &claimer{cmd: cmd, pid: pid, tok: liveness.Token(tok)}
}

func (c *claimer) kill(t *testing.T) {
	t.Helper()
	if err := c.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	c.cmd.Wait()
}

func mustAlive(t *testing.T, tb *liveness.Table, tok liveness.Token, want bool) {
	t.Helper()
	got, err := tb.Alive(tok)
	if err != nil || got != want {
		t.Fatalf("Alive(%v) = %v, %v; want %v", tok, got, err, want)
	}
}

func TestDeathAndSlotReuse(t *testing.T) {
	ctx := shmtest.Deadline(t, 30*time.Second)
	path := newFile(t)
	tb, _ := testTable(t, path)

	// P.1: a child claims slot 0; it is alive.
	a := startClaimer(t, ctx, path)
	if a.tok.Slot() != 0 || a.tok.Gen() != 1 {
		t.Fatalf("first claim = %v, want slot 0 gen 1", a.tok)
	}
	mustAlive(t, tb, a.tok, true)
	// P.2: a second child gets another slot; both alive.
	b := startClaimer(t, ctx, path)
	if b.tok.Slot() == a.tok.Slot() {
		t.Fatalf("two live claimers share slot %d", a.tok.Slot())
	}
	mustAlive(t, tb, b.tok, true)
	// P.3: SIGKILL the first: dead at once, the other still alive.
	a.kill(t)
	mustAlive(t, tb, a.tok, false)
	mustAlive(t, tb, b.tok, true)
	// P.4: a third child takes the dead slot with a new generation; the
	// dead token stays dead though its slot is locked again.
	c := startClaimer(t, ctx, path)
	if c.tok.Slot() != a.tok.Slot() || c.tok.Gen() != a.tok.Gen()+1 {
		t.Fatalf("claim after death = %v, want slot %d gen %d", c.tok, a.tok.Slot(), a.tok.Gen()+1)
	}
	mustAlive(t, tb, c.tok, true)
	mustAlive(t, tb, a.tok, false)
	// P.5: the slots list says the same.
	infos, err := tb.Slots()
	if err != nil {
		t.Fatal(err)
	}
	alive := map[int]int{}
	for _, in := range infos {
		if in.Alive {
			alive[in.Slot] = in.Pid
		}
	}
	if len(alive) != 2 || alive[b.tok.Slot()] != b.pid || alive[c.tok.Slot()] != c.pid {
		t.Errorf("Slots() alive = %v, want slot %d pid %d and slot %d pid %d", alive, b.tok.Slot(), b.pid, c.tok.Slot(), c.pid)
	}
}

// TestPidReuse makes a new process get the pid of a dead owner (as root,
// through /proc/sys/kernel/ns_last_pid) and checks that the dead owner's
// token is still dead.
func TestPidReuse(t *testing.T) {
	const knob = "/proc/sys/kernel/ns_last_pid"
	if runtime.GOOS != "linux" || os.Geteuid() != 0 {
		t.Skip("needs root on Linux to steer pid allocation through " + knob)
	}
	if _, err := os.Stat(knob); err != nil {
		t.Skip("no " + knob + ": cannot steer pid allocation")
	}
	ctx := shmtest.Deadline(t, 60*time.Second)
	path := newFile(t)
	tb, _ := testTable(t, path)
	for try := range 30 {
		a := startClaimer(t, ctx, path)
		a.kill(t)
		if err := os.WriteFile(knob, []byte(strconv.Itoa(a.pid-1)), 0); err != nil {
			t.Skipf("cannot write %s: %v", knob, err)
		}
		b := startClaimer(t, ctx, path)
		if b.pid != a.pid {
			b.kill(t)
			t.Logf("try %d: wanted pid %d, got %d (another process took it)", try, a.pid, b.pid)
			continue
		}
		t.Logf("try %d: pid %d reused: dead token %v, new token %v", try, a.pid, a.tok, b.tok)
		mustAlive(t, tb, b.tok, true)
		mustAlive(t, tb, a.tok, false)
		return
	}
	t.Skip("could not get a pid reused in 30 tries")
}

func TestRelease(t *testing.T) {
	path := newFile(t)
	tb, _ := testTable(t, path)
	other, _ := testTable(t, path)
	tok, err := tb.Claim()
	if err != nil {
		t.Fatal(err)
	}
	mustAlive(t, tb, tok, true)
	mustAlive(t, other, tok, true)
	if err := tb.Release(tok); err != nil {
		t.Fatalf("Release = %v", err)
	}
	mustAlive(t, tb, tok, false)
	mustAlive(t, other, tok, false)
	if err := tb.Release(tok); !errors.Is(err, liveness.ErrBadToken) {
		t.Errorf("second Release = %v, want ErrBadToken", err)
	}
}

func TestTwoOpensInOneProcess(t *testing.T) {
	path := newFile(t)
	t1, _ := testTable(t, path)
	t2, done2 := testTable(t, path)
	a, err := t1.Claim()
	if err != nil {
		t.Fatal(err)
	}
	b, err := t2.Claim()
	if err != nil {
		t.Fatal(err)
	}
	if a.Slot() == b.Slot() {
		t.Fatalf("two claims in one process share slot %d", a.Slot())
	}
	mustAlive(t, t1, b, true)
	mustAlive(t, t2, a, true)
	if err := t2.Release(b); err != nil {
		t.Fatal(err)
	}
	done2()
	mustAlive(t, t1, a, true)
	mustAlive(t, t1, b, false)
}

func TestFullAndBadTokens(t *testing.T) {
	path := newFile(t)
	tb, _ := testTable(t, path)
	for range slots {
		if _, err := tb.Claim(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := tb.Claim(); !errors.Is(err, liveness.ErrFull) {
		t.Errorf("Claim on a full table = %v, want ErrFull", err)
	}
	for _, tok := range []liveness.Token{0, liveness.MakeToken(0, 0), liveness.MakeToken(slots, 1), liveness.MakeToken(liveness.MaxSlots-1, 5)} {
		if _, err := tb.Alive(tok); !errors.Is(err, liveness.ErrBadToken) {
			t.Errorf("Alive(%v) = %v, want ErrBadToken", tok, err)
		}
	}
	if _, err := liveness.New(1, nil, layout.Of(make([]byte, 100)), slots); err == nil {
		t.Errorf("New with a view too small for the table succeeded")
	}
	if _, err := liveness.New(1, nil, layout.Of(make([]byte, 1<<16)), liveness.MaxSlots+1); err == nil {
		t.Errorf("New with too many slots succeeded")
	}
}

func TestToken(t *testing.T) {
	tok := liveness.MakeToken(1023, liveness.MaxGen)
	if tok.Slot() != 1023 || tok.Gen() != liveness.MaxGen || uint32(tok)>>31 != 0 {
		t.Errorf("MakeToken(1023, MaxGen) = %#x: slot %d gen %d", uint32(tok), tok.Slot(), tok.Gen())
	}
}
