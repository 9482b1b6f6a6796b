package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/internal/sys"
	"github.com/shmkit/shmkit/process"
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

// holder keeps a named segment attached until killed.
var holder = process.MustRegister("cmd-test-holder", func(ctx context.Context, name string) error {
	s, err := shm.Open(name, nil)
	if err != nil {
		return err
	}
	defer s.Close()
	<-ctx.Done() // never: the test kills us
	return nil
})

func TestLsInspectGcRm(t *testing.T) {
	ctx := shmtest.Deadline(t, 30*time.Second)
	inUse, unused := shmtest.Name(t), shmtest.Name(t)
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
			p, err := process.Start(ctx, holder, n, nil)
			if err != nil {
				t.Fatal(err)
			}
			waitFor(t, ctx, func() bool { return attached(t, n) })
			s.Close()
			p.Kill()
			p.Join(ctx)
		} else {
			t.Cleanup(func() { s.Close() })
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
	if _, errOut, code := runCmd(t, "inspect", "no-such-"+unused); code != 1 || !strings.Contains(errOut, "no such file") {
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

// attached reports whether any live process has the segment attached.
func attached(t *testing.T, name string) bool {
	s, err := shm.Open(name, &shm.Options{Observe: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	in, err := s.Info()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range in.Processes {
		if p.Alive && p.Pid != os.Getpid() {
			return true
		}
	}
	return false
}

func waitFor(t *testing.T, ctx context.Context, cond func() bool) {
	t.Helper()
	for !cond() {
		if ctx.Err() != nil {
			t.Fatal("timed out")
		}
		time.Sleep(time.Millisecond)
	}
}
