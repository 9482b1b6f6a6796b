package shm_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/internal/sys"
	"github.com/shmkit/shmkit/shm"
)

const (
	segEnv   = "SHM_TEST_SEGMENT"
	countEnv = "SHM_TEST_COUNT"
	tagEnv   = "SHM_TEST_TAG"
)

// The "reader" role is an unrelated process: it gets only a name, opens
// the segment, finds the object "message" by name and prints it, then
// writes its reply into the object "reply".
var _ = shmtest.Role("reader", func() int {
	s, err := shm.Open(os.Getenv(segEnv), nil)
	if err != nil {
		fmt.Println(err)
		return 1
	}
	defer s.Close()
	msg, err := s.Lookup("message", shm.KindBytes)
	if err != nil {
		fmt.Println(err)
		return 1
	}
	defer msg.Close()
	reply, err := s.Lookup("reply", shm.KindBytes)
	if err != nil {
		fmt.Println(err)
		return 1
	}
	defer reply.Close()
	fmt.Print(strings.TrimRight(string(msg.UnsafeBytes()), "\x00"))
	copy(reply.UnsafeBytes(), fmt.Sprintf("read by pid %d", os.Getpid()))
	return 0
})

func TestUnrelatedProcessFindsObjectByName(t *testing.T) {
	ctx := shmtest.Deadline(t, 30*time.Second)
	s := create(t, 1<<16, nil)
	msg, err := s.AllocBytes("message", 64)
	if err != nil {
		t.Fatal(err)
	}
	defer msg.Close()
	copy(msg.UnsafeBytes(), "hello from the creator")
	reply, err := s.AllocBytes("reply", 64)
	if err != nil {
		t.Fatal(err)
	}
	defer reply.Close()
	cmd := shmtest.Command(ctx, "reader", segEnv+"="+s.Name())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("reader: %v: %s", err, out)
	}
	if string(out) != "hello from the creator" {
		t.Errorf("reader printed %q", out)
	}
	want := fmt.Sprintf("read by pid %d", cmd.Process.Pid)
	if got := strings.TrimRight(string(reply.UnsafeBytes()), "\x00"); got != want {
		t.Errorf("reply = %q, want %q", got, want)
	}
}

// The "alloc" role places count named objects tagged with its tag in the
// segment, as fast as it can, each holding its own name.
var _ = shmtest.Role("alloc", func() int {
	s, err := shm.Open(os.Getenv(segEnv), nil)
	if err != nil {
		fmt.Println(err)
		return 1
	}
	defer s.Close()
	n, _ := strconv.Atoi(os.Getenv(countEnv))
	for i := range n {
		name := fmt.Sprintf("%s-%d", os.Getenv(tagEnv), i)
		o, err := s.AllocBytes(name, 24+i%100)
		if err != nil {
			fmt.Println(err)
			return 1
		}
		copy(o.UnsafeBytes(), name)
		o.Close()
	}
	return 0
})

func TestConcurrentAllocAcrossProcesses(t *testing.T) {
	ctx := shmtest.Deadline(t, 60*time.Second)
	const procs, each = 4, 200
	s := create(t, 1<<20, nil)
	var cmds []*exec.Cmd
	outs := make([]strings.Builder, procs)
	for p := range procs {
		cmd := shmtest.Command(ctx, "alloc", segEnv+"="+s.Name(), countEnv+"="+strconv.Itoa(each), tagEnv+"="+fmt.Sprintf("p%d", p))
		cmd.Stdout, cmd.Stderr = &outs[p], &outs[p]
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	for p, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("allocator %d: %v: %s", p, err, outs[p].String())
		}
	}
	infos, err := s.Objects()
	if err != nil {
		t.Fatalf("Objects after concurrent Alloc: %v", err)
	}
	seen := map[string]bool{}
	next := make([]int, procs) // each process's objects appear in its order
	for _, in := range infos {
		if seen[in.Name] {
			t.Fatalf("object %q placed twice", in.Name)
		}
		seen[in.Name] = true
		var p, i int
		if _, err := fmt.Sscanf(in.Name, "p%d-%d", &p, &i); err != nil || p >= procs || i != next[p] {
			t.Fatalf("object %q out of order (want p%d-%d)", in.Name, p, next[p])
		}
		next[p]++
		o, err := s.Lookup(in.Name, shm.KindBytes)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimRight(string(o.UnsafeBytes()), "\x00"); got != in.Name || o.Size() != 24+i%100 {
			t.Errorf("object %q holds %q, size %d", in.Name, got, o.Size())
		}
		o.Close()
	}
	if len(seen) != procs*each {
		t.Errorf("%d objects, want %d", len(seen), procs*each)
	}
}

// The "attach" role attaches to the segment, prints its token and exits
// without detaching: os.Exit runs no deferred Close, as a crash would not.
var _ = shmtest.Role("attach", func() int {
	s, err := shm.Open(os.Getenv(segEnv), nil)
	if err != nil {
		fmt.Println(err)
		return 1
	}
	fmt.Println(uint32(s.Self()))
	os.Exit(0)
	return 0
})

// TestAllocLockOwnerDied puts the token of a process that has died into
// the allocation lock word, as if it died inside Alloc, and checks that the
// next Alloc takes the lock over at once.
func TestAllocLockOwnerDied(t *testing.T) {
	if _, err := os.Stat(sys.ShmDir()); err != nil {
		t.Skip(err)
	}
	ctx := shmtest.Deadline(t, 30*time.Second)
	s := create(t, 1<<16, nil)
	out, err := shmtest.Command(ctx, "attach", segEnv+"="+s.Name()).CombinedOutput()
	if err != nil {
		t.Fatalf("attach: %v: %s", err, out)
	}
	tok, err := strconv.ParseUint(strings.TrimSpace(string(out)), 10, 32)
	if err != nil {
		t.Fatalf("attach printed %q", out)
	}
	if alive, err := s.Alive(shm.Token(tok)); err != nil || alive {
		t.Fatalf("Alive(exited child) = %v, %v", alive, err)
	}
	// The allocation lock word is at offset 72 of the header.
	f, err := os.OpenFile(filepath.Join(sys.ShmDir(), s.Name()), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var w [4]byte
	binary.LittleEndian.PutUint32(w[:], uint32(tok)|1<<31)
	if _, err := f.WriteAt(w[:], 72); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	o, err := s.AllocBytes("after-death", 8)
	if err != nil {
		t.Fatalf("Alloc with a dead owner = %v", err)
	}
	o.Close()
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Alloc took %v to take over from a dead owner", d)
	}
	if _, err := f.ReadAt(w[:], 72); err != nil || binary.LittleEndian.Uint32(w[:]) != 0 {
		t.Errorf("lock word after Alloc = %#x, %v; want 0", binary.LittleEndian.Uint32(w[:]), err)
	}
	// A garbage owner (a slot beyond the table) is an error, not a hang.
	binary.LittleEndian.PutUint32(w[:], 1000|1<<10)
	f.WriteAt(w[:], 72)
	if _, err := s.AllocBytes("garbage-owner", 8); !errors.Is(err, shm.ErrCorrupt) {
		t.Errorf("Alloc with a garbage owner = %v, want ErrCorrupt", err)
	}
}
