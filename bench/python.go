package bench

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// mpScript is Python's side: one mode per scenario, one JSON row a line.
//
//go:embed python/mp.py
var mpScript []byte

// findPython returns the python3 to run, or "" and a note saying why
// Python's rows are skipped.
func findPython(cfg string) (string, string) {
	if cfg == "-" {
		return "", "python: skipped (-python=-)"
	}
	name := cfg
	if name == "" {
		name = "python3"
	}
	path, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Sprintf("python: skipped, %s is not on the PATH (Python's multiprocessing rows need it)", name)
	}
	return path, ""
}

// pyRow is one line of the script's output.
type pyRow struct {
	Transport string  `json:"transport"`
	Size      int     `json:"size"`
	Procs     string  `json:"procs"`
	SamplesNS []int64 `json:"samples_ns"`
	Count     int64   `json:"count"`
	Seconds   float64 `json:"seconds"`
	Error     string  `json:"error"`
}

// parsePython turns one line of the script's output into a row of a
// scenario with the given unit.
func parsePython(line []byte, unit string) (*Row, error) {
	var p pyRow
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("python: %w", err)
	}
	if dec.More() {
		return nil, errors.New("python: more than one object on a line")
	}
	if !strings.HasPrefix(p.Transport, "python ") || len(p.Transport) > 64 {
		return nil, fmt.Errorf("python: transport %q", p.Transport)
	}
	if p.Size < 0 || p.Size > 1<<30 || len(p.Procs) > 16 {
		return nil, fmt.Errorf("python: size %d, procs %q", p.Size, p.Procs)
	}
	row := &Row{Transport: p.Transport, Group: Python, Size: p.Size, Procs: p.Procs}
	if p.Error != "" {
		row.Err = p.Error
		return row, nil
	}
	switch unit {
	case "latency":
		h := newHist()
		for _, s := range p.SamplesNS {
			if err := h.RecordValue(s); err != nil || s <= 0 {
				return nil, fmt.Errorf("python: sample %d out of range", s)
			}
		}
		latencyRow(row, h)
		if row.Err != "" {
			return nil, errors.New("python: no samples")
		}
	default:
		if p.Count <= 0 || !(p.Seconds > 0) || math.IsInf(p.Seconds, 0) {
			return nil, fmt.Errorf("python: count %d in %v s", p.Count, p.Seconds)
		}
		row.Count, row.Seconds = p.Count, p.Seconds
		row.PerSec = float64(p.Count) / p.Seconds
		if unit == "throughput" {
			row.BytesPerSec = row.PerSec * float64(p.Size)
			if p.Procs == "" {
				row.Batch = 1
			}
		}
	}
	return row, nil
}

// runPython runs the script's mode for this scenario and adds its rows; a
// failure becomes a row saying so.
func (r *Runner) runPython(mode string, sr *ScenarioReport) {
	fail := func(err error) {
		sr.Rows = append(sr.Rows, &Row{Transport: "python " + mode, Group: Python, Err: err.Error()})
	}
	dir, err := os.MkdirTemp("", "shmkit-bench-py-")
	if err != nil {
		fail(err)
		return
	}
	defer os.RemoveAll(dir)
	script := filepath.Join(dir, "mp.py")
	if err := os.WriteFile(script, mpScript, 0o600); err != nil {
		fail(err)
		return
	}
	args, _ := json.Marshal(map[string]any{
		"sizes":     r.pySizes(mode),
		"duration":  r.Duration.Seconds(),
		"samples":   r.WakeSamples,
		"idle":      r.WakeIdle.Seconds(),
		"producers": r.Producers,
		"consumers": r.Consumers,
		"msize":     r.MultiSize,
		"lockers":   r.Lockers,
	})
	ctx, cancel := context.WithTimeout(r.ctx, r.rowTimeout()+time.Duration(len(r.Sizes))*r.rowTimeout()/4)
	defer cancel()
	cmd := exec.CommandContext(ctx, r.python, script, mode, string(args))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.StdoutPipe()
	if err != nil {
		fail(err)
		return
	}
	if err := cmd.Start(); err != nil {
		fail(err)
		return
	}
	sc := bufio.NewScanner(out)
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		row, err := parsePython(sc.Bytes(), sr.Unit)
		if err != nil {
			fail(err)
			continue
		}
		r.progress(fmt.Sprintf("%-18s %s", row.Transport, sizeLabel(row.Size)))
		sr.Rows = append(sr.Rows, row)
	}
	if err := cmd.Wait(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
			msg = msg[i+1:]
		}
		fail(fmt.Errorf("%s %s: %w: %s", filepath.Base(r.python), mode, err, msg))
	}
}

func (r *Runner) pySizes(mode string) []int {
	if mode == "stream" {
		return r.StreamSizes
	}
	return r.Sizes
}
