package bench

import (
	"bufio"
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
	Op        string  `json:"op"`
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
	if p.Size < 0 || p.Size > 1<<30 || len(p.Procs) > 16 || len(p.Op) > 16 {
		return nil, fmt.Errorf("python: size %d, procs %q, op %q", p.Size, p.Procs, p.Op)
	}
	row := &Row{Transport: p.Transport, Group: Python, Size: p.Size, Procs: p.Procs, Op: p.Op}
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

// pyProc is the running script: started once a run, at its first Python
// scenario, and given one command a scenario, so the interpreter starts once.
type pyProc struct {
	cmd    *exec.Cmd
	dir    string
	in     io.WriteCloser
	lines  *bufio.Scanner
	stderr bytes.Buffer
	err    error // why it cannot be used any more
}

func (r *Runner) startPython() (*pyProc, error) {
	p := &pyProc{}
	var err error
	if p.dir, err = os.MkdirTemp("", "shmkit-bench-py-"); err != nil {
		return nil, err
	}
	script := filepath.Join(p.dir, "mp.py")
	if err := os.WriteFile(script, mpScript, 0o600); err != nil {
		os.RemoveAll(p.dir)
		return nil, err
	}
	p.cmd = exec.CommandContext(r.ctx, r.python, script)
	p.cmd.Stderr = &p.stderr
	p.cmd.WaitDelay = 5 * time.Second
	if p.in, err = p.cmd.StdinPipe(); err == nil {
		var out io.ReadCloser
		if out, err = p.cmd.StdoutPipe(); err == nil {
			p.lines = bufio.NewScanner(out)
			p.lines.Buffer(nil, 64<<20)
			err = p.cmd.Start()
		}
	}
	if err != nil {
		os.RemoveAll(p.dir)
		return nil, err
	}
	return p, nil
}

// close ends the script and removes its file.
func (p *pyProc) close() error {
	p.in.Close()
	err := p.cmd.Wait()
	os.RemoveAll(p.dir)
	return err
}

// why adds the script's last line of stderr to err.
func (p *pyProc) why(err error) error {
	msg := strings.TrimSpace(p.stderr.String())
	if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
		msg = msg[i+1:]
	}
	if msg == "" {
		return err
	}
	return fmt.Errorf("%w: %s", err, msg)
}

// runPython runs the script's mode for this scenario and adds its rows; a
// failure becomes a row saying so.
func (r *Runner) runPython(mode string, sr *ScenarioReport) {
	fail := func(err error) {
		sr.Rows = append(sr.Rows, &Row{Transport: "python " + mode, Group: Python, Err: err.Error()})
	}
	if r.py == nil {
		p, err := r.startPython()
		if err != nil {
			fail(err)
			return
		}
		r.py = p
	}
	p := r.py
	if p.err != nil {
		fail(p.err)
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
		"tasks":     r.PoolTasks,
		"workers":   r.PoolWorkers,
	})
	// A mode that takes this long has hung: the script is killed, and
	// the modes after it fail.
	limit := time.AfterFunc(r.rowTimeout()*time.Duration(2+len(r.Sizes)), func() { p.cmd.Process.Kill() })
	defer limit.Stop()
	if _, err := fmt.Fprintf(p.in, "%s %s\n", mode, args); err != nil {
		p.err = p.why(fmt.Errorf("python: %w", err))
		fail(p.err)
		return
	}
	for p.lines.Scan() {
		line := p.lines.Bytes()
		if bytes.HasPrefix(line, []byte(`{"done"`)) {
			return
		}
		row, err := parsePython(line, sr.Unit)
		if err != nil {
			fail(err)
			continue
		}
		r.progress(fmt.Sprintf("%-18s %s", row.Transport, sizeLabel(row.Size)))
		sr.Rows = append(sr.Rows, row)
	}
	p.err = p.why(fmt.Errorf("python %s: the script ended: %v", mode, p.lines.Err()))
	fail(p.err)
}

func (r *Runner) pySizes(mode string) []int {
	if mode == "stream" {
		return r.StreamSizes
	}
	return r.Sizes
}
