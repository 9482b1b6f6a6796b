package main

import (
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shmkit/shmkit/bench"
	"github.com/shmkit/shmkit/internal/shmtest"
)

// TestBench runs `shmkit bench -json` in a tiny configuration of every
// scenario, Python's included when python3 is on the PATH, and checks the
// report's structure: the machine, every scenario with its probes, rows of
// every group (among them the shmkit pipe's and both of the pool's
// operations), numbers positive and finite, the plots written where -out
// says. No speed is asserted.
func TestBench(t *testing.T) {
	shmtest.NeedProcesses(t)
	out := t.TempDir()
	stdout, stderr, code := runCmd(t, "bench", "-json", "-q", "-out", out, "-plots", "png,svg",
		"-scenarios", strings.Join(bench.ScenarioNames(), ","),
		"-sizes", "8,4K", "-stream-sizes", "64", "-batches", "1,8",
		"-duration", "5ms", "-samples", "3", "-idle", "200us", "-probe", "2ms", "-spin", "20ms",
		"-pool-tasks", "200", "-pool-workers", "2")
	if code != 0 {
		t.Fatalf("shmkit bench exited %d: %s", code, stderr)
	}
	var rep bench.Report
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("the -json output does not parse: %v\n%s", err, stdout)
	}
	if rep.Machine.Cores < 1 || rep.Machine.Go == "" {
		t.Errorf("machine = %+v", rep.Machine)
	}
	if len(rep.Scenarios) != len(bench.ScenarioNames()) {
		t.Fatalf("%d scenarios, want %d", len(rep.Scenarios), len(bench.ScenarioNames()))
	}
	_, pyErr := exec.LookPath("python3")
	groups := map[bench.Group]bool{}
	have := map[string]bool{} // "scenario transport op" of the good rows
	for _, sr := range rep.Scenarios {
		for _, p := range []bench.Probe{sr.Before, sr.After} {
			if p.Err != "" || !(p.P50ns > 0) || math.IsInf(p.P99ns, 0) {
				t.Errorf("%s: probe %+v", sr.Name, p)
			}
		}
		if len(sr.Rows) == 0 {
			t.Errorf("%s: no rows", sr.Name)
		}
		for _, r := range sr.Rows {
			groups[r.Group] = true
			if r.Err != "" {
				t.Errorf("%s: %s %d B: %s", sr.Name, r.Transport, r.Size, r.Err)
				continue
			}
			nums := []float64{r.Seconds, r.PerSec, r.BytesPerSec, r.P50, r.P90, r.P99, r.P999, r.Max, r.VsFloor}
			for _, v := range nums {
				if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
					t.Errorf("%s: %s: numbers %v", sr.Name, r.Transport, nums)
					break
				}
			}
			main := r.PerSec
			if sr.Unit == "latency" {
				main = r.P50
			}
			if r.Count <= 0 || !(main > 0) {
				t.Errorf("%s: %s: count %d, main figure %v", sr.Name, r.Transport, r.Count, main)
			}
			have[sr.Name+" "+r.Transport+" "+r.Op] = true
		}
	}
	for _, g := range []bench.Group{bench.Floor, bench.Shmkit, bench.Kernel, bench.InProcess} {
		if !groups[g] {
			t.Errorf("no %s rows", g)
		}
	}
	want := []string{"pingpong shmkit pipe ", "stream shmkit pipe ", "wakeup shmkit pipe ",
		"pool shmkit pool map", "pool shmkit pool start+stop", "pool go pool map", "pool go pool start+stop"}
	if pyErr == nil {
		want = append(want, "pool python Pool map", "pool python Pool start+stop")
	}
	for _, w := range want {
		if !have[w] {
			t.Errorf("no good row %q", w)
		}
	}
	switch {
	case pyErr == nil && !groups[bench.Python]:
		t.Errorf("python3 is on the PATH but there are no Python rows (notes: %v)", rep.Notes)
	case pyErr != nil && !strings.Contains(strings.Join(rep.Notes, "\n"), "python: skipped"):
		t.Errorf("no python3, and no note saying Python was skipped: %v", rep.Notes)
	}
	for _, f := range []string{"latency-pingpong.png", "latency-pingpong.svg", "latency-wakeup.png", "throughput.png", "throughput.svg"} {
		if st, err := os.Stat(filepath.Join(out, f)); err != nil || st.Size() == 0 {
			t.Errorf("plot %s: %v", f, err)
		}
	}
}

func TestBenchFlags(t *testing.T) {
	stdout, _, code := runCmd(t, "bench", "-list")
	if code != 0 || !strings.Contains(stdout, "pingpong") || !strings.Contains(stdout, "shmkit queue spin") {
		t.Errorf("bench -list exited %d:\n%s", code, stdout)
	}
	for _, args := range [][]string{
		{"bench", "-sizes", "0"},
		{"bench", "-sizes", "x"},
		{"bench", "-plots", "gif"},
		{"bench", "-scenarios", "nosuch", "-plots", ""},
		{"bench", "extra"},
	} {
		if _, stderr, code := runCmd(t, args...); code != 2 {
			t.Errorf("%q exited %d, want 2 (usage): %s", args, code, stderr)
		}
	}
}
