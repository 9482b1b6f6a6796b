package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Config selects what a run measures. The zero value is not useful: start
// from DefaultConfig or FullConfig.
type Config struct {
	// Scenarios names the scenarios to run; nil means those marked
	// Default. See Scenarios.
	Scenarios []string
	// Transports selects transports by name or group ("shmkit",
	// "floor", "kernel", "in-process", "python"); nil means all.
	Transports []string
	// Sizes are the ping-pong payloads, in bytes (at least 8).
	Sizes []int
	// StreamSizes are the streaming payloads, in bytes (at least 8).
	StreamSizes []int
	// Batches are the streaming batch sizes: 1 sends each message on its
	// own; k sends k messages as one transfer (one record, one write). A
	// batch is skipped where it would exceed 1 MiB.
	Batches []int
	// Producers and Consumers are the processes of the N×M scenario;
	// MultiSize is its message size.
	Producers, Consumers, MultiSize int
	// Lockers is the number of processes contending for a lock.
	Lockers int
	// PoolTasks is the number of tiny tasks of one Map in the pool
	// scenario; PoolWorkers, the workers of each pool.
	PoolTasks, PoolWorkers int
	// Duration is how long each row measures (after a short warm-up).
	Duration time.Duration
	// WakeSamples is the number of wake-ups measured per row; WakeIdle is
	// how long the partner idles before each, so the waiter is asleep.
	WakeSamples int
	WakeIdle    time.Duration
	// Probe is how long each cross-core probe runs.
	Probe time.Duration
	// Spin is how long spinning shmkit transports spin before they sleep.
	Spin time.Duration
	// Pin places the measuring threads: "" leaves them to the scheduler;
	// "split" binds this process's to CPU 0 and each partner's to the
	// next CPU (round robin); "same" binds them all to CPU 0. Linux only.
	Pin string
	// Python is the python3 to run for Python's rows: "" looks it up on
	// the PATH, "-" skips them.
	Python string
	// Progress, if not nil, receives a progress line (rewritten with \r).
	Progress io.Writer
}

// DefaultConfig is the quick run of `shmkit bench`, every scenario
// included: about 20 s on two cores.
func DefaultConfig() Config {
	return Config{
		Sizes:       []int{8, 1 << 10, 64 << 10, 1 << 20},
		StreamSizes: []int{64, 4 << 10, 64 << 10},
		Batches:     []int{1, 32},
		Producers:   2,
		Consumers:   2,
		MultiSize:   64,
		Lockers:     2,
		PoolTasks:   100_000,
		PoolWorkers: 2,
		Duration:    50 * time.Millisecond,
		WakeSamples: 100,
		WakeIdle:    time.Millisecond,
		Probe:       20 * time.Millisecond,
		Spin:        time.Second,
	}
}

// FullConfig is `shmkit bench -full`: every scenario, more sizes, longer
// rows.
func FullConfig() Config {
	c := DefaultConfig()
	c.Scenarios = ScenarioNames()
	c.Sizes = []int{8, 64, 256, 1 << 10, 4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20}
	c.StreamSizes = []int{8, 64, 256, 1 << 10, 4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20}
	c.Batches = []int{1, 8, 32}
	c.Duration = 500 * time.Millisecond
	c.WakeSamples = 1000
	return c
}

// Report is the result of a run; it encodes to JSON as `shmkit bench -json`
// prints it.
type Report struct {
	Machine   Machine
	Started   time.Time
	Seconds   float64
	Config    ConfigSummary
	Scenarios []*ScenarioReport
	// Notes are lines a reader must see: skipped groups and the like.
	Notes []string `json:",omitempty"`
}

// ConfigSummary is what a report says of its configuration.
type ConfigSummary struct {
	DurationMS float64
	Spin       string
	WakeIdleMS float64
	Pin        string `json:",omitempty"`
}

// ScenarioReport is one scenario's rows, between two probes.
type ScenarioReport struct {
	Name    string
	Title   string
	Unit    string // "latency", "throughput", "rate" or "tasks": which Row fields hold
	Before  Probe
	After   Probe
	Rows    []*Row
	Seconds float64
}

// Probe is a cross-core probe: a spin ping-pong on one shared word between
// two processes. Its round trip moves when the machine moves its cores.
type Probe struct {
	P50ns, P99ns float64
	Err          string `json:",omitempty"`
}

// Row is one transport's result at one size.
type Row struct {
	Transport string
	Group     Group
	Size      int
	Batch     int    `json:",omitempty"`
	Procs     string `json:",omitempty"` // "2×2" in N×M, "2" in lock, the workers in pool
	Op        string `json:",omitempty"` // in pool: OpMap or OpStartStop
	Count     int64
	Seconds   float64
	// Latencies, in nanoseconds (latency scenarios).
	P50, P90, P99, P999, Max float64 `json:",omitempty"`
	// Throughput (throughput, rate and tasks scenarios).
	PerSec      float64 `json:",omitempty"` // messages, lock operations, tasks or pools a second
	BytesPerSec float64 `json:",omitempty"`
	// Floor and VsFloor: this row's cost (time per message or operation)
	// over the floor's, measured in the same scenario.
	Floor   string  `json:",omitempty"`
	VsFloor float64 `json:",omitempty"`
	Err     string  `json:",omitempty"`
}

// cost is the row's time per message (or per operation), in ns.
func (r *Row) cost() float64 {
	switch {
	case r.Err != "":
		return 0
	case r.P50 > 0:
		return r.P50
	case r.PerSec > 0:
		return 1e9 / r.PerSec
	}
	return 0
}

// Scenario is one kind of measurement. Register one with RegisterScenario.
type Scenario struct {
	// Name is the scenario's flag name; Title, its heading.
	Name, Title string
	// About says what is measured, for the README and -list.
	About string
	// Unit: "latency", "throughput", "rate" or "tasks" (the pool's: a
	// row per operation, Row.Op, its cost 1/PerSec).
	Unit string
	// Default is true for scenarios a default run includes.
	Default bool
	// Run measures every transport that applies. It appends rows to
	// s.Rows as they come and returns an error only when the run cannot
	// go on.
	Run func(r *Runner, s *ScenarioReport) error
	// Python names the mode of python/mp.py that gives this scenario's
	// Python rows; empty for none.
	Python string
}

// RegisterScenario adds a scenario; it panics if the name is taken.
func RegisterScenario(s Scenario) bool {
	registry.Lock()
	defer registry.Unlock()
	for _, o := range registry.scenarios {
		if o.Name == s.Name {
			panic("bench: RegisterScenario: registered twice: " + s.Name)
		}
	}
	registry.scenarios = append(registry.scenarios, &s)
	return true
}

// Scenarios returns the registered scenarios in their order.
func Scenarios() []Scenario {
	registry.Lock()
	defer registry.Unlock()
	out := make([]Scenario, len(registry.scenarios))
	for i, s := range registry.scenarios {
		out[i] = *s
	}
	return out
}

// ScenarioNames returns the names of every registered scenario.
func ScenarioNames() []string {
	var n []string
	for _, s := range Scenarios() {
		n = append(n, s.Name)
	}
	return n
}

// Runner carries a run's configuration and progress to scenarios.
type Runner struct {
	Config
	ctx      context.Context
	mu       sync.Mutex
	start    time.Time
	scenario string
	python   string
	py       *pyProc
}

// Ctx returns the run's context.
func (r *Runner) Ctx() context.Context { return r.ctx }

// Selected reports whether the run includes transport t in scenario.
func (r *Runner) Selected(t *Transport, scenario string) bool {
	if !t.in(scenario) {
		return false
	}
	return r.selectedName(t.Name, t.Group)
}

func (r *Runner) selectedName(name string, g Group) bool {
	if len(r.Transports) == 0 {
		return true
	}
	for _, s := range r.Transports {
		if strings.EqualFold(s, name) || strings.EqualFold(s, string(g)) {
			return true
		}
	}
	return false
}

// progress rewrites the progress line.
func (r *Runner) progress(what string) {
	if r.Progress == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintf(r.Progress, "\r\033[Kbench %5.1fs  %-10s %s", time.Since(r.start).Seconds(), r.scenario, what)
}

// Run runs the configured scenarios and returns their report. It fails only
// when the configuration is wrong or ctx ends; a transport that fails or is
// unsupported here gets a row saying so.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	names := cfg.Scenarios
	if names == nil {
		for _, s := range Scenarios() {
			if s.Default {
				names = append(names, s.Name)
			}
		}
	}
	var scs []Scenario
	for _, n := range names {
		i := slices.IndexFunc(Scenarios(), func(s Scenario) bool { return s.Name == n })
		if i < 0 {
			return nil, fmt.Errorf("bench: no scenario %q (have %s)", n, strings.Join(ScenarioNames(), ", "))
		}
		scs = append(scs, Scenarios()[i])
	}
	r := &Runner{Config: cfg, ctx: ctx, start: time.Now()}
	rep := &Report{
		Machine: machine(),
		Started: r.start,
		Config:  ConfigSummary{DurationMS: ms(cfg.Duration), Spin: cfg.Spin.String(), WakeIdleMS: ms(cfg.WakeIdle), Pin: cfg.Pin},
	}
	if r.selectedName("python", Python) {
		py, note := findPython(cfg.Python)
		r.python = py
		if note != "" {
			rep.Notes = append(rep.Notes, note)
		}
	}
	defer func() {
		if r.py != nil {
			r.py.close()
		}
	}()
	for _, s := range scs {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		r.scenario = s.Name
		sr := &ScenarioReport{Name: s.Name, Title: s.Title, Unit: s.Unit}
		rep.Scenarios = append(rep.Scenarios, sr)
		t0 := time.Now()
		r.progress("probe")
		sr.Before = r.probe()
		if err := s.Run(r, sr); err != nil {
			return rep, fmt.Errorf("%s: %w", s.Name, err)
		}
		if s.Python != "" && r.python != "" {
			r.progress("python")
			r.runPython(s.Python, sr)
		}
		r.progress("probe")
		sr.After = r.probe()
		sr.Seconds = time.Since(t0).Seconds()
		ratios(sr)
	}
	rep.Seconds = time.Since(r.start).Seconds()
	if r.Progress != nil {
		fmt.Fprintf(r.Progress, "\r\033[Kbench: %d scenarios in %.1fs\n", len(scs), rep.Seconds)
	}
	return rep, nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func (c *Config) check() error {
	var errs []error
	for _, s := range append(slices.Clone(c.Sizes), c.StreamSizes...) {
		if s < minMsg || s > 64<<20 {
			errs = append(errs, fmt.Errorf("size %d: want %d B to 64 MiB", s, minMsg))
		}
	}
	for _, b := range c.Batches {
		if b < 1 {
			errs = append(errs, fmt.Errorf("batch %d: want at least 1", b))
		}
	}
	if c.Duration <= 0 || c.Probe <= 0 {
		errs = append(errs, errors.New("duration and probe must be positive"))
	}
	if c.WakeSamples < 1 || c.Producers < 1 || c.Consumers < 1 || c.Lockers < 1 || c.PoolTasks < 1 || c.PoolWorkers < 1 {
		errs = append(errs, errors.New("samples, producers, consumers, lockers, pool tasks and pool workers must be at least 1"))
	}
	if c.Pin != "" && c.Pin != "split" && c.Pin != "same" {
		errs = append(errs, fmt.Errorf("pin %q: want split, same or nothing", c.Pin))
	}
	if c.MultiSize < minMsg {
		errs = append(errs, fmt.Errorf("N×M size %d: want at least %d", c.MultiSize, minMsg))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	return nil
}

// ratios fills VsFloor: each row's cost over its floor's at the same size,
// batch, processes and operation.
func ratios(sr *ScenarioReport) {
	for _, row := range sr.Rows {
		t, ok := transportNamed(row.Transport)
		if !ok || t.Floor == "" || row.Err != "" {
			continue
		}
		for _, f := range sr.Rows {
			if f.Transport == t.Floor && f.Size == row.Size && f.Batch == row.Batch && f.Procs == row.Procs && f.Op == row.Op && f.cost() > 0 {
				row.Floor = f.Transport
				row.VsFloor = row.cost() / f.cost()
			}
		}
	}
}

// newHist returns a histogram of nanoseconds from 1 ns to 100 s, with three
// significant digits.
func newHist() *hdrhistogram.Histogram { return hdrhistogram.New(1, 100e9, 3) }

// latencyRow fills row's percentiles from h.
func latencyRow(row *Row, h *hdrhistogram.Histogram) {
	row.Count = h.TotalCount()
	if row.Count == 0 {
		row.Err = "no samples"
		return
	}
	row.P50 = float64(h.ValueAtQuantile(50))
	row.P90 = float64(h.ValueAtQuantile(90))
	row.P99 = float64(h.ValueAtQuantile(99))
	row.P999 = float64(h.ValueAtQuantile(99.9))
	row.Max = float64(h.Max())
}

// finite reports whether every number in the row is finite and not
// negative: what the tests check of every row.
func (r *Row) finite() bool {
	for _, v := range []float64{r.Seconds, r.P50, r.P90, r.P99, r.P999, r.Max, r.PerSec, r.BytesPerSec, r.VsFloor} {
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			return false
		}
	}
	return true
}
