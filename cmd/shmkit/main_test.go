package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/internal/sys"
	"github.com/shmkit/shmkit/shm"
)

func TestMain(m *testing.M) { shmtest.Main(m) }

func runCmd(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut strings.Builder
	code := run(args, &out, &errOut)
	return out.String(), errOut.String(), code
}

func TestDemo(t *testing.T) {
	shmtest.NeedProcesses(t)
	out, errOut, code := runCmd(t, "demo", "-workers", "3", "-n", "30")
	if code != 0 {
		t.Fatalf("demo exited %d: %s", code, errOut)
	}
	for _, want := range []string{
		"num = 3.1415927",
		"arr = [0 -1 -2 -3 -4 -5 -6 -7 -8 -9]",
		"squared items 0..9\n",
		"squared items 10..19\n",
		"squared items 20..29\n",
		"sum of squares = 8555 (expected 8555)",
		"= 30\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
	if _, _, code := runCmd(t, "demo", "-workers", "0"); code != 2 {
		t.Errorf("demo -workers 0 exited %d, want 2", code)
	}
}

const segEnv = "SHMKIT_CMD_TEST_SEGMENT"

// The "holder" role attaches to the named segment, says so, and stays
// attached until it is killed (its stdin never closes before that).
var _ = shmtest.Role("holder", func() int {
	s, err := shm.Open(os.Getenv(segEnv), nil)
	if err != nil {
		fmt.Println(err)
		return 1
	}
	defer s.Close()
	fmt.Println("attached")
	io.Copy(io.Discard, os.Stdin)
	return 0
})

// startHolder runs the holder role on the segment name and returns once
// the holder has attached.
func startHolder(t *testing.T, ctx context.Context, name string) *exec.Cmd {
	t.Helper()
	cmd := shmtest.Command(ctx, "holder", segEnv+"="+name)
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
	if line, err := bufio.NewReader(out).ReadString('\n'); line != "attached\n" {
		t.Fatalf("holder said %q: %v", line, err)
	}
	return cmd
}

func TestLsInspectGcRm(t *testing.T) {
	ctx := shmtest.Deadline(t, 30*time.Second)
	inUse, unused := shmtest.Name(t), shmtest.Name(t)
	var held *shm.Segment // inUse, attached by this process
	for _, n := range []string{inUse, unused} {
		s, err := shm.Create(n, 1<<16, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { shm.Remove(n) })
		o, err := s.AllocBytes("greeting", 16)
		if err != nil {
			t.Fatal(err)
		}
		o.Close()
		if n == unused {
			// Attached by a child that is then killed: unused, and its
			// slot shows dead.
			h := startHolder(t, ctx, n)
			s.Close()
			h.Process.Kill()
			h.Wait()
		} else {
			held = s
			t.Cleanup(func() { s.Close() }) // runs before the Remove above
		}
	}
	notShm := filepath.Join(sys.ShmDir(), shmtest.Name(t))
	if err := os.WriteFile(notShm, []byte("not a segment"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(notShm) })

	out, _, code := runCmd(t, "ls")
	if code != 0 {
		t.Fatalf("ls exited %d", code)
	}
	for _, re := range []string{
		regexp.QuoteMeta(inUse) + `\s+64K\s+\d+\s.*\s1\s+1 alive\s+in use`,
		regexp.QuoteMeta(unused) + `\s+64K\s+\d+\s.*\s1\s+0 alive\s+unused`,
		regexp.QuoteMeta(filepath.Base(notShm)) + `.*not a shmkit segment`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("ls output does not match %q:\n%s", re, out)
		}
	}

	out, _, code = runCmd(t, "inspect", unused)
	if code != 0 {
		t.Fatalf("inspect exited %d", code)
	}
	for _, re := range []string{`segment\s+` + regexp.QuoteMeta(unused), `\n\s+0\s+1\s+\d+\s+\S+\s+detached`, `\n\s+1\s+1\s+\d+\s+\S+\s+dead`, `bytes\s+0\s+16\s+0\s+0+\s+"greeting"`} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("inspect output does not match %q:\n%s", re, out)
		}
	}
	if _, errOut, code := runCmd(t, "inspect", "no-such-"+unused); code != 1 || !strings.Contains(errOut, syscall.ENOENT.Error()) {
		t.Errorf("inspect of a missing segment: exit %d, %q", code, errOut)
	}

	out, _, _ = runCmd(t, "gc", "-n")
	if !strings.Contains(out, "would remove "+unused) || strings.Contains(out, inUse) || strings.Contains(out, notShm) {
		t.Errorf("gc -n said:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(sys.ShmDir(), unused)); err != nil {
		t.Errorf("gc -n removed %s", unused)
	}
	out, _, code = runCmd(t, "gc")
	if code != 0 || !strings.Contains(out, "removed "+unused) {
		t.Errorf("gc exited %d and said:\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(sys.ShmDir(), unused)); !os.IsNotExist(err) {
		t.Errorf("gc left %s: %v", unused, err)
	}
	if _, err := os.Stat(filepath.Join(sys.ShmDir(), inUse)); err != nil {
		t.Errorf("gc removed a segment in use: %v", err)
	}

	if out, _, code := runCmd(t, "rm", inUse); code != 0 || !strings.Contains(out, "removed "+inUse) {
		t.Errorf("rm exited %d: %s", code, out)
	}
	// Closed, the segment is gone everywhere; on Windows, where the name
	// of a removed segment may stay while it is open, too.
	held.Close()
	if _, errOut, code := runCmd(t, "rm", inUse); code != 1 || errOut == "" {
		t.Errorf("second rm exited %d: %q", code, errOut)
	}
	if _, _, code := runCmd(t, "bogus"); code != 2 {
		t.Errorf("unknown command exited %d, want 2", code)
	}
	if _, _, code := runCmd(t, "rm"); code != 2 {
		t.Errorf("rm without names exited %d, want 2", code)
	}
}
