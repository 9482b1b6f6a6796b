//go:build linux || darwin || freebsd || windows

package race_test

import (
	"bytes"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"unsafe"

	"github.com/shmkit/shmkit/internal/race"
)

// roleEnv names the child's role when the test binary re-executes itself.
const roleEnv = "SHMKIT_RACE_TEST_ROLE"

func TestMain(m *testing.M) {
	if os.Getenv(roleEnv) == "unannotated" {
		if err := handoff(false); err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(2)
		}
		os.Exit(0) // the race detector changes this to 66 if it reported
	}
	os.Exit(m.Run())
}

// handoff passes a plain Go variable from one goroutine to another through an
// atomic flag in anonymous shared memory (MAP_SHARED, or a page-file section
// on Windows), annotating the handoff with race.Release and race.Acquire on a
// Go-memory sentinel when annotate is set.
func handoff(annotate bool) error {
	mem, unmap, err := mapShared(os.Getpagesize())
	if err != nil {
		return err
	}
	defer unmap()
	// Sound: the mapping is page-aligned, so its first 4 bytes are an aligned
	// uint32, and it stays mapped until the deferred unmap, after both
	// goroutines are done with it.
	flag := (*atomic.Uint32)(unsafe.Pointer(&mem[0]))

	var sentinel byte // Go memory: the detector can see it.
	var data int      // handed from the writer to the reader
	var wg sync.WaitGroup
	wg.Go(func() {
		data = 42
		if annotate {
			race.Release(unsafe.Pointer(&sentinel))
		}
		flag.Store(1) // invisible to the detector: mapped memory
	})
	for flag.Load() == 0 {
		runtime.Gosched()
	}
	if annotate {
		race.Acquire(unsafe.Pointer(&sentinel))
	}
	got := data
	wg.Wait() // only after the read, so it adds no edge before it
	if got != 42 {
		panic("handoff: data not published")
	}
	return nil
}

// TestAnnotatedHandoff fails under -race if the annotations do not order the
// write before the read.
func TestAnnotatedHandoff(t *testing.T) {
	if err := handoff(true); err != nil {
		t.Fatalf("handoff(true) = %v", err)
	}
}

// TestUnannotatedHandoffIsReported checks the premise of the package: without
// the annotations, the same handoff is reported as a race. It runs in a child
// so the report does not fail this test binary.
func TestUnannotatedHandoffIsReported(t *testing.T) {
	if !race.Enabled {
		t.Skip("needs the race detector (-race)")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), roleEnv+"=unannotated", "GORACE=halt_on_error=0 atexit_sleep_ms=0")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	if !strings.Contains(out.String(), "WARNING: DATA RACE") {
		t.Fatalf("unannotated handoff: no race reported (exit: %v); output:\n%s", err, out.String())
	}
}
