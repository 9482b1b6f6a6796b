package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// WriteJSON writes the report as indented JSON.
func (rep *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// WriteText writes the report as aligned tables, one per scenario, then the
// comparisons with Python's multiprocessing.
func (rep *Report) WriteText(w io.Writer) error {
	m := rep.Machine
	fmt.Fprintf(w, "shmkit bench: %s, %d cores, %s, kernel %s, %s\n", m.CPU, m.Cores, m.OS, m.Kernel, m.Go)
	fmt.Fprintf(w, "%s, %.1f s; each row %.0f ms; spinning transports spin %s before they sleep\n",
		rep.Started.Format("2006-01-02 15:04:05 MST"), rep.Seconds, rep.Config.DurationMS, rep.Config.Spin)
	for _, n := range rep.Notes {
		fmt.Fprintln(w, n)
	}
	for _, sr := range rep.Scenarios {
		fmt.Fprintf(w, "\n%s  [%.1f s; probe p50 %s before, %s after]\n", sr.Title, sr.Seconds, probeText(sr.Before), probeText(sr.After))
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		switch sr.Unit {
		case "latency":
			fmt.Fprintln(tw, "transport\tgroup\tsize\tp50\tp90\tp99\tp99.9\tmax\tn\tvs floor\t")
		case "throughput":
			fmt.Fprintln(tw, "transport\tgroup\tsize\tbatch\tprocs\tmsgs/s\tbytes/s\tn\tvs floor\t")
		case "tasks":
			fmt.Fprintln(tw, "transport\tgroup\top\tworkers\teach\tper second\tn\tvs floor\t")
		default:
			fmt.Fprintln(tw, "transport\tgroup\tprocs\tops/s\tns/op\tn\tvs floor\t")
		}
		for _, row := range sr.Rows {
			name := row.Transport + "\t" + string(row.Group)
			if row.Err != "" {
				switch sr.Unit {
				case "rate":
					fmt.Fprintf(tw, "%s\t%s\tfailed\t\n", name, row.Procs)
				case "tasks":
					fmt.Fprintf(tw, "%s\t%s\t%s\tfailed\t\n", name, row.Op, row.Procs)
				default:
					fmt.Fprintf(tw, "%s\t%s\tfailed\t\n", name, sizeLabel(row.Size))
				}
				continue
			}
			switch sr.Unit {
			case "latency":
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t\n", name, sizeLabel(row.Size),
					nsText(row.P50), nsText(row.P90), nsText(row.P99), nsText(row.P999), nsText(row.Max), row.Count, ratioText(row))
			case "throughput":
				batch := ""
				if row.Batch > 0 {
					batch = fmt.Sprint(row.Batch)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t\n", name, sizeLabel(row.Size), batch, row.Procs,
					rateText(row.PerSec), bytesRateText(row.BytesPerSec), row.Count, ratioText(row))
			case "tasks":
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t\n", name, row.Op, row.Procs, nsText(1e9/row.PerSec), rateText(row.PerSec), row.Count, ratioText(row))
			default:
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t\n", name, row.Procs, rateText(row.PerSec), nsText(1e9/row.PerSec), row.Count, ratioText(row))
			}
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		for _, row := range sr.Rows {
			if row.Err != "" {
				fmt.Fprintf(w, "  %s %s: %s\n", row.Transport, strings.TrimSpace(sizeLabel(row.Size)+" "+row.Op), firstLine(row.Err))
			}
		}
	}
	if cs := rep.Comparisons(); len(cs) > 0 {
		fmt.Fprintln(w, "\nshmkit and Python's multiprocessing, same scenario and size:")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, c := range cs {
			fmt.Fprintf(tw, "  %s %s\t%s\t%s\tvs %s\t%s\t%s\n", c.Scenario, c.What, c.Shmkit, c.ShmkitCost, c.Python, c.PythonCost, c.Verdict())
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

// Comparison pairs a shmkit row with the matching Python row.
type Comparison struct {
	Scenario, What         string
	Shmkit, Python         string
	ShmkitCost, PythonCost string
	Ratio                  float64 // Python's cost over shmkit's: how many times faster shmkit is
}

// Verdict reads the ratio.
func (c Comparison) Verdict() string {
	if c.Ratio >= 1 {
		return fmt.Sprintf("%.1f× faster", c.Ratio)
	}
	return fmt.Sprintf("%.1f× slower", 1/c.Ratio)
}

// pythonPeers names the shmkit rows each Python row is compared with.
var pythonPeers = map[string][]string{
	"python Queue": {"shmkit queue spin", "shmkit queue sleep"},
	"python Pipe":  {"shmkit ring", "shmkit pipe"},
	"python Pool":  {"shmkit pool", "shmkit pool prestarted"},
	"python Event": {"shmkit event"},
	"python Lock":  {"shmkit Lock"},
	"python Value": {"shmkit Lock"},
}

// Comparisons pairs every Python row with its shmkit peers.
func (rep *Report) Comparisons() []Comparison {
	var out []Comparison
	for _, sr := range rep.Scenarios {
		for _, py := range sr.Rows {
			if py.Group != Python || py.cost() <= 0 {
				continue
			}
			for _, peer := range pythonPeers[py.Transport] {
				for _, sk := range sr.Rows {
					if sk.Transport != peer || sk.Size != py.Size || sk.Procs != py.Procs || sk.Op != py.Op || max(sk.Batch, 1) != max(py.Batch, 1) || sk.cost() <= 0 {
						continue
					}
					what := sizeLabel(sk.Size)
					if sk.Op != "" {
						what = fmt.Sprintf("%s, %s workers", sk.Op, sk.Procs)
					} else if sk.Procs != "" {
						what = strings.TrimSpace(what + " " + sk.Procs)
					}
					out = append(out, Comparison{
						Scenario: sr.Name, What: what,
						Shmkit: sk.Transport, Python: py.Transport,
						ShmkitCost: costText(sr.Unit, sk), PythonCost: costText(sr.Unit, py),
						Ratio: py.cost() / sk.cost(),
					})
				}
			}
		}
	}
	return out
}

func costText(unit string, r *Row) string {
	switch unit {
	case "latency":
		return nsText(r.P50) + " p50"
	case "tasks":
		return nsText(r.cost()) + " each"
	}
	return rateText(r.PerSec)
}

func probeText(p Probe) string {
	if p.Err != "" {
		return "failed"
	}
	return nsText(p.P50ns)
}

func ratioText(r *Row) string {
	switch {
	case r.VsFloor == 0:
		return ""
	case r.VsFloor >= 100:
		return fmt.Sprintf("%.0f×", r.VsFloor)
	}
	return fmt.Sprintf("%.1f×", r.VsFloor)
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// sizeLabel writes a payload size: "16 B", "4 KiB", "1 MiB"; "" for none.
func sizeLabel(n int) string {
	switch {
	case n <= 0:
		return ""
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}

// nsText writes a duration given in nanoseconds with three digits.
func nsText(ns float64) string {
	switch {
	case ns >= 1e9:
		return fmt.Sprintf("%.3g s", ns/1e9)
	case ns >= 1e6:
		return fmt.Sprintf("%.3g ms", ns/1e6)
	case ns >= 1e3:
		return fmt.Sprintf("%.3g µs", ns/1e3)
	}
	return fmt.Sprintf("%.3g ns", ns)
}

func rateText(r float64) string {
	switch {
	case r >= 1e9:
		return fmt.Sprintf("%.3g G/s", r/1e9)
	case r >= 1e6:
		return fmt.Sprintf("%.3g M/s", r/1e6)
	case r >= 1e3:
		return fmt.Sprintf("%.3g k/s", r/1e3)
	}
	return fmt.Sprintf("%.3g /s", r)
}

func bytesRateText(r float64) string {
	switch {
	case r >= 1e9:
		return fmt.Sprintf("%.3g GB/s", r/1e9)
	case r >= 1e6:
		return fmt.Sprintf("%.3g MB/s", r/1e6)
	}
	return fmt.Sprintf("%.3g kB/s", r/1e3)
}
