package bench_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shmkit/shmkit/bench"
	"github.com/shmkit/shmkit/internal/shmtest"
)

func TestMain(m *testing.M) { shmtest.Main(m) }

// tiny is a configuration that runs every scenario over every transport in
// a few seconds: the numbers mean nothing, the structure is what is checked.
func tiny() bench.Config {
	c := bench.DefaultConfig()
	c.Scenarios = bench.ScenarioNames()
	c.Sizes = []int{8, 4 << 10}
	c.StreamSizes = []int{64}
	c.Batches = []int{1, 4}
	c.Duration = 5 * time.Millisecond
	c.WakeSamples = 3
	c.WakeIdle = 200 * time.Microsecond
	c.Probe = 2 * time.Millisecond
	c.Spin = 20 * time.Millisecond
	c.PoolTasks = 200
	return c
}

// TestRun runs every scenario in a tiny configuration and checks the
// report: every scenario present, every registered transport in every
// scenario it takes part in, numbers positive and finite, the JSON
// decodable, the table and the plots written.
func TestRun(t *testing.T) {
	shmtest.NeedProcesses(t)
	ctx := shmtest.Deadline(t, 3*time.Minute)
	cfg := tiny()
	if os.Getenv("BENCH_PYTHON") == "" {
		cfg.Python = "-" // Python's rows take seconds; BENCH_PYTHON=1 adds them
	}
	rep, err := bench.Run(ctx, cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	checkReport(t, rep, cfg)

	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back bench.Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatalf("the JSON does not decode: %v", err)
	}
	if len(back.Scenarios) != len(rep.Scenarios) {
		t.Errorf("JSON has %d scenarios, want %d", len(back.Scenarios), len(rep.Scenarios))
	}

	var text strings.Builder
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, s := range bench.Scenarios() {
		if !strings.Contains(text.String(), s.Title) {
			t.Errorf("the table has no heading %q", s.Title)
		}
	}
	for _, tr := range bench.Transports() {
		if !strings.Contains(text.String(), tr.Name) {
			t.Errorf("the table has no row for %q", tr.Name)
		}
	}

	dir := t.TempDir()
	files, err := rep.WritePlots(dir, "png", "svg")
	if err != nil {
		t.Fatalf("WritePlots: %v", err)
	}
	for _, want := range []string{"latency-pingpong.png", "latency-wakeup.svg", "throughput.png", "throughput.svg"} {
		if !slices.Contains(files, filepath.Join(dir, want)) {
			t.Errorf("WritePlots wrote %v, no %s", files, want)
			continue
		}
		if st, err := os.Stat(filepath.Join(dir, want)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v, %d bytes", want, err, st.Size())
		}
	}
	t.Logf("%s", text.String())
}

// TestPin runs ping-pong with the threads pinned both ways: every row and
// probe must work (where the system can pin at all).
func TestPin(t *testing.T) {
	shmtest.NeedProcesses(t)
	if runtime.GOOS != "linux" {
		t.Skip("pinning is Linux only")
	}
	ctx := shmtest.Deadline(t, 2*time.Minute)
	for _, pin := range []string{"split", "same"} {
		cfg := tiny()
		cfg.Scenarios = []string{"pingpong", "nxm"}
		cfg.Transports = []string{"floor futex", "shmkit queue sleep", "go channel"}
		cfg.Sizes = []int{64}
		cfg.Python = "-"
		cfg.Pin = pin
		rep, err := bench.Run(ctx, cfg)
		if err != nil {
			t.Fatalf("Run, pin %s: %v", pin, err)
		}
		if rep.Config.Pin != pin {
			t.Errorf("report says pin %q, want %q", rep.Config.Pin, pin)
		}
		checkReport(t, rep, cfg)
	}
}

func checkReport(t *testing.T, rep *bench.Report, cfg bench.Config) {
	t.Helper()
	m := rep.Machine
	if m.Cores < 1 || m.Go == "" || m.OS == "" {
		t.Errorf("machine = %+v", m)
	}
	if !(rep.Seconds > 0) {
		t.Errorf("Seconds = %v", rep.Seconds)
	}
	if len(rep.Scenarios) != len(cfg.Scenarios) {
		t.Fatalf("%d scenarios, want %d", len(rep.Scenarios), len(cfg.Scenarios))
	}
	for _, sr := range rep.Scenarios {
		for _, p := range []bench.Probe{sr.Before, sr.After} {
			if p.Err != "" || !positive(p.P50ns) || !positive(p.P99ns) || p.P99ns < p.P50ns {
				t.Errorf("%s: probe %+v", sr.Name, p)
			}
		}
		seen := map[string]bool{}
		for _, row := range sr.Rows {
			seen[row.Transport] = true
			if row.Err != "" {
				t.Errorf("%s: %s %d B: %s", sr.Name, row.Transport, row.Size, row.Err)
				continue
			}
			if row.Count <= 0 {
				t.Errorf("%s: %s: Count = %d", sr.Name, row.Transport, row.Count)
			}
			for name, v := range map[string]float64{"Seconds": row.Seconds, "VsFloor": row.VsFloor} {
				if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
					t.Errorf("%s: %s: %s = %v", sr.Name, row.Transport, name, v)
				}
			}
			switch sr.Unit {
			case "latency":
				ps := []float64{row.P50, row.P90, row.P99, row.P999, row.Max}
				for _, v := range ps {
					if !positive(v) {
						t.Errorf("%s: %s: percentiles %v", sr.Name, row.Transport, ps)
						break
					}
				}
				if !slices.IsSorted(ps) {
					t.Errorf("%s: %s: percentiles %v not in order", sr.Name, row.Transport, ps)
				}
			case "throughput":
				if !positive(row.PerSec) || !positive(row.BytesPerSec) {
					t.Errorf("%s: %s: %v msgs/s, %v B/s", sr.Name, row.Transport, row.PerSec, row.BytesPerSec)
				}
			case "rate":
				if !positive(row.PerSec) {
					t.Errorf("%s: %s: %v ops/s", sr.Name, row.Transport, row.PerSec)
				}
			case "tasks":
				if !positive(row.PerSec) || !positive(row.Seconds) || row.Procs != fmt.Sprint(cfg.PoolWorkers) {
					t.Errorf("%s: %s %s: %v a second in %v s, %q workers", sr.Name, row.Transport, row.Op, row.PerSec, row.Seconds, row.Procs)
				}
				if row.Op == bench.OpMap && row.Count%int64(cfg.PoolTasks) != 0 {
					t.Errorf("%s: %s: %d tasks, not whole Maps of %d", sr.Name, row.Transport, row.Count, cfg.PoolTasks)
				}
				seen[row.Transport+" "+row.Op] = true
			default:
				t.Errorf("%s: unit %q", sr.Name, sr.Unit)
			}
			if tr, ok := transport(row.Transport); ok && tr.Floor != "" && hasRow(sr, tr.Floor, row) && row.VsFloor == 0 {
				t.Errorf("%s: %s %d B: no ratio to %s", sr.Name, row.Transport, row.Size, tr.Floor)
			}
		}
		for _, tr := range bench.Transports() {
			if !takesPart(tr, sr.Name) || !selected(cfg, tr) {
				continue
			}
			if !seen[tr.Name] {
				t.Errorf("%s: no row for %s", sr.Name, tr.Name)
			}
			if sr.Unit == "tasks" {
				ops := []string{bench.OpMap, bench.OpStartStop}
				if tr.PrepPool != nil {
					ops = ops[1:] // start+stop only
				}
				for _, op := range ops {
					if !seen[tr.Name+" "+op] {
						t.Errorf("%s: no %s row for %s", sr.Name, op, tr.Name)
					}
				}
			}
		}
	}
}

// hasRow reports whether sr has a good row of transport name like row.
func hasRow(sr *bench.ScenarioReport, name string, like *bench.Row) bool {
	for _, r := range sr.Rows {
		if r.Transport == name && r.Err == "" && r.Size == like.Size && r.Batch == like.Batch && r.Procs == like.Procs && r.Op == like.Op {
			return true
		}
	}
	return false
}

func transport(name string) (bench.Transport, bool) {
	for _, t := range bench.Transports() {
		if t.Name == name {
			return t, true
		}
	}
	return bench.Transport{}, false
}

// selected reports whether cfg selects t.
func selected(cfg bench.Config, t bench.Transport) bool {
	return len(cfg.Transports) == 0 || slices.Contains(cfg.Transports, t.Name) || slices.Contains(cfg.Transports, string(t.Group))
}

// takesPart reports whether t has rows in scenario.
func takesPart(t bench.Transport, scenario string) bool {
	if t.Only != nil {
		return slices.Contains(t.Only, scenario)
	}
	switch scenario {
	case "lock":
		return t.OpenLock != nil
	case "nxm":
		return t.Open != nil && t.Multi
	case "pool":
		return t.OpenPool != nil
	}
	return t.Open != nil
}

func positive(v float64) bool { return v > 0 && !math.IsInf(v, 0) }
