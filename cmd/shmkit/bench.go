package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/shmkit/shmkit/bench"
)

// benchCmd runs `shmkit bench`: parse the flags into a bench.Config, run it,
// print the table (or JSON) and write the plots. The work is package
// bench's.
func benchCmd(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench")
	fs.SetOutput(stderr)
	def := bench.DefaultConfig()
	full := fs.Bool("full", false, "run every scenario, at more sizes, for longer (minutes)")
	jsonOut := fs.Bool("json", false, "print the report as JSON instead of tables")
	list := fs.Bool("list", false, "list the scenarios and transports, and exit")
	quiet := fs.Bool("q", false, "no progress line on stderr")
	out := fs.String("out", "shmkit-bench", "directory for the plots")
	plots := fs.String("plots", "png,svg", "plot formats, comma-separated (png, svg); empty for no plots")
	scenarios := fs.String("scenarios", "", "scenarios to run, comma-separated (default: the default set; see -list)")
	transports := fs.String("transports", "", "transports to run, by name or group (floor, shmkit, kernel, in-process, python), comma-separated (default: all)")
	sizes := fs.String("sizes", sizeList(def.Sizes), "ping-pong payloads, comma-separated (bytes; K and M suffixes)")
	streamSizes := fs.String("stream-sizes", sizeList(def.StreamSizes), "streaming payloads, comma-separated")
	batches := fs.String("batches", intList(def.Batches), "streaming batches (messages a transfer), comma-separated")
	duration := fs.Duration("duration", def.Duration, "how long each row measures")
	samples := fs.Int("samples", def.WakeSamples, "wake-ups measured per row")
	idle := fs.Duration("idle", def.WakeIdle, "how long the partner idles before each wake-up")
	probe := fs.Duration("probe", def.Probe, "how long each cross-core probe runs")
	spin := fs.Duration("spin", def.Spin, "how long spinning shmkit transports spin before they sleep")
	producers := fs.Int("producers", def.Producers, "producer processes in the N×M scenario")
	consumers := fs.Int("consumers", def.Consumers, "consumer processes in the N×M scenario")
	lockers := fs.Int("lockers", def.Lockers, "processes contending for the lock")
	poolTasks := fs.Int("pool-tasks", def.PoolTasks, "tiny tasks of one Map in the pool scenario")
	poolWorkers := fs.Int("pool-workers", def.PoolWorkers, "workers of each pool in the pool scenario")
	pin := fs.String("pin", "", "bind the measuring threads: split (this process on CPU 0, partners on the next CPUs) or same (all on CPU 0); default: the scheduler places them (Linux only)")
	python := fs.String("python", "", "the python3 to run for Python's rows (default: python3 on the PATH; - to skip)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: shmkit bench [flags]\n\nMeasures how processes on this machine talk: shmkit's transports beside\nfloors, kernel IPC, a Go channel and Python's multiprocessing.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("%w: shmkit bench takes flags only (see -h)", errUsage)
	}
	if *list {
		return listBench(stdout)
	}
	cfg := def
	if *full {
		cfg = bench.FullConfig()
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	parse := func(name string, dst *[]int, s string, sized bool) {
		if err != nil || !set[name] {
			return
		}
		if *dst, err = parseInts(s, sized); err != nil {
			err = fmt.Errorf("%w: -%s: %v", errUsage, name, err)
		}
	}
	parse("sizes", &cfg.Sizes, *sizes, true)
	parse("stream-sizes", &cfg.StreamSizes, *streamSizes, true)
	parse("batches", &cfg.Batches, *batches, false)
	if err != nil {
		return err
	}
	if *scenarios != "" {
		cfg.Scenarios = splitList(*scenarios)
	}
	cfg.Transports = splitList(*transports)
	if set["duration"] {
		cfg.Duration = *duration
	}
	if set["samples"] {
		cfg.WakeSamples = *samples
	}
	if set["idle"] {
		cfg.WakeIdle = *idle
	}
	if set["probe"] {
		cfg.Probe = *probe
	}
	if set["spin"] {
		cfg.Spin = *spin
	}
	if set["producers"] {
		cfg.Producers = *producers
	}
	if set["consumers"] {
		cfg.Consumers = *consumers
	}
	if set["lockers"] {
		cfg.Lockers = *lockers
	}
	if set["pool-tasks"] {
		cfg.PoolTasks = *poolTasks
	}
	if set["pool-workers"] {
		cfg.PoolWorkers = *poolWorkers
	}
	cfg.Python = *python
	cfg.Pin = *pin
	if !*quiet {
		cfg.Progress = stderr
	}
	var formats []string
	for _, f := range splitList(*plots) {
		if f != "png" && f != "svg" {
			return fmt.Errorf("%w: -plots: %q is not png or svg", errUsage, f)
		}
		formats = append(formats, f)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	rep, err := bench.Run(ctx, cfg)
	if err != nil && rep == nil {
		if strings.HasPrefix(err.Error(), "bench: ") {
			return fmt.Errorf("%w: %v", errUsage, err)
		}
		return err
	}
	if *jsonOut {
		if werr := rep.WriteJSON(stdout); werr != nil {
			return werr
		}
	} else if werr := rep.WriteText(stdout); werr != nil {
		return werr
	}
	if err != nil {
		return err
	}
	if len(formats) > 0 {
		files, err := rep.WritePlots(*out, formats...)
		if err != nil {
			return err
		}
		if len(files) > 0 {
			fmt.Fprintf(stderr, "plots: %s\n", strings.Join(files, " "))
		}
	}
	return nil
}

func listBench(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tDEFAULT\tWHAT")
	for _, s := range bench.Scenarios() {
		fmt.Fprintf(tw, "%s\t%v\t%s\n", s.Name, s.Default, s.About)
	}
	fmt.Fprintln(tw, "\nTRANSPORT\tGROUP\tWHAT")
	for _, t := range bench.Transports() {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", t.Name, t.Group, t.About)
	}
	fmt.Fprintf(tw, "python Queue, Pipe, Event, Lock, Value, Pool\t%s\tPython's multiprocessing, when python3 is on the PATH\n", bench.Python)
	return tw.Flush()
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// parseInts reads a comma-separated list of counts, or of sizes with an
// optional K or M suffix (binary).
func parseInts(s string, sized bool) ([]int, error) {
	var out []int
	for _, f := range splitList(s) {
		mult := 1
		if sized {
			switch {
			case strings.HasSuffix(f, "K"), strings.HasSuffix(f, "k"):
				mult, f = 1<<10, f[:len(f)-1]
			case strings.HasSuffix(f, "M"), strings.HasSuffix(f, "m"):
				mult, f = 1<<20, f[:len(f)-1]
			}
		}
		n, err := strconv.Atoi(f)
		if err != nil || n <= 0 || n > (1<<30)/mult {
			return nil, fmt.Errorf("%q is not a positive number", f)
		}
		out = append(out, n*mult)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("empty list")
	}
	return out, nil
}

func sizeList(ns []int) string {
	var parts []string
	for _, n := range ns {
		switch {
		case n >= 1<<20 && n%(1<<20) == 0:
			parts = append(parts, fmt.Sprintf("%dM", n>>20))
		case n >= 1<<10 && n%(1<<10) == 0:
			parts = append(parts, fmt.Sprintf("%dK", n>>10))
		default:
			parts = append(parts, strconv.Itoa(n))
		}
	}
	return strings.Join(parts, ",")
}

func intList(ns []int) string {
	var parts []string
	for _, n := range ns {
		parts = append(parts, strconv.Itoa(n))
	}
	return strings.Join(parts, ",")
}
