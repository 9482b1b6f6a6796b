package pool_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/pool"
	"github.com/shmkit/shmkit/process"
)

// benchItems is the size of the Map benchmarks: 100 000 tiny tasks.
const benchItems = 100_000

func tiny(x int) int { return x * x }

var tinyTask = pool.MustRegister("bench-tiny", func(ctx context.Context, x int) (int, error) { return tiny(x), nil })

// goroutinePool is the floor: the same Map in one process, with 2
// goroutines taking chunks of Python's default size from a channel.
type goroutinePool struct {
	jobs chan func()
	wg   sync.WaitGroup
}

func newGoroutinePool(n int) *goroutinePool {
	g := &goroutinePool{jobs: make(chan func())}
	for range n {
		g.wg.Go(func() {
			for j := range g.jobs {
				j()
			}
		})
	}
	return g
}

func (g *goroutinePool) stop() { close(g.jobs); g.wg.Wait() }

func (g *goroutinePool) mapInts(in []int, workers int, f func(int) int) []int {
	out := make([]int, len(in))
	size := max(1, (len(in)+4*workers-1)/(4*workers))
	var wg sync.WaitGroup
	for lo := 0; lo < len(in); lo += size {
		hi := min(lo+size, len(in))
		wg.Add(1)
		g.jobs <- func() {
			defer wg.Done()
			for i := lo; i < hi; i++ {
				out[i] = f(in[i])
			}
		}
	}
	wg.Wait()
	return out
}

func checkSquares(b *testing.B, out []int) {
	if len(out) != benchItems || out[benchItems-1] != tiny(benchItems-1) {
		b.Fatalf("wrong results: %d of them", len(out))
	}
}

// BenchmarkMap: Map over 100 000 tiny tasks on 2 workers (default chunks,
// 12 500 items), with Options.Prefetch 0 (the default) and 1, beside the
// same over 2 goroutines. ns/op is per item.
func BenchmarkMap(b *testing.B) {
	shmtest.NeedProcesses(b)
	ctx := context.Background()
	for _, prefetch := range []int{0, 1} {
		b.Run(fmt.Sprintf("prefetch-%d", prefetch), func(b *testing.B) {
			p, err := pool.New(ctx, 2, &pool.Options{Prefetch: prefetch})
			if err != nil {
				b.Fatal(err)
			}
			defer p.Terminate()
			g := newGoroutinePool(2)
			defer g.stop()
			in := ints(benchItems)
			shmtest.Versus(b, benchItems, func() error {
				out, err := pool.Map(ctx, p, tinyTask, in)
				if err == nil {
					checkSquares(b, out)
				}
				return err
			}, func() error {
				checkSquares(b, g.mapInts(in, 2, tiny))
				return nil
			})
		})
	}
}

// BenchmarkStartStop: a pool of 2 workers started and stopped (New, Close,
// Join), beside a pool of 2 goroutines.
func BenchmarkStartStop(b *testing.B) {
	shmtest.NeedProcesses(b)
	ctx := context.Background()
	shmtest.Versus(b, 1, func() error {
		p, err := pool.New(ctx, 2, nil)
		if err != nil {
			return err
		}
		p.Close()
		return p.Join(ctx)
	}, func() error {
		newGoroutinePool(2).stop()
		return nil
	})
}

// pythonBench is run by python3: it times reps runs of one scenario with
// Python's own clock and prints the median in seconds.
const pythonBench = `
import multiprocessing, statistics, sys, time

def tiny(x):
    return x * x

def main():
    what, reps, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    times = []
    if what == "map":
        with multiprocessing.Pool(2) as p:
            p.map(tiny, range(10))  # workers up
            for _ in range(reps):
                t0 = time.perf_counter()
                out = p.map(tiny, range(n))
                times.append(time.perf_counter() - t0)
                assert out[-1] == tiny(n - 1)
    else:
        for _ in range(reps):
            t0 = time.perf_counter()
            p = multiprocessing.Pool(2)
            p.close()
            p.join()
            times.append(time.perf_counter() - t0)
    print(statistics.median(times))

if __name__ == "__main__":
    main()
`

// python runs pythonBench for what ("map" or "startstop") and returns
// Python's median time per call, or skips b when python3 is missing.
func python(b *testing.B, what string, reps, n int) time.Duration {
	py, err := exec.LookPath("python3")
	if err != nil {
		b.Skip("python3 is not on the PATH: no Python baseline")
	}
	script := filepath.Join(b.TempDir(), "pool_bench.py")
	if err := os.WriteFile(script, []byte(pythonBench), 0o600); err != nil {
		b.Fatal(err)
	}
	out, err := exec.Command(py, script, what, strconv.Itoa(reps), strconv.Itoa(n)).CombinedOutput()
	if err != nil {
		b.Fatalf("python3: %v\n%s", err, out)
	}
	s, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	if err != nil {
		b.Fatalf("python3 printed %q: %v", out, err)
	}
	return time.Duration(s * float64(time.Second))
}

// medianOf times b.N calls of f and returns the median. prep, if not
// nil, runs untimed before each call.
func medianOf(b *testing.B, prep, f func() error) time.Duration {
	d := make([]time.Duration, 0, b.N)
	for range b.N {
		if prep != nil {
			if err := prep(); err != nil {
				b.Fatal(err)
			}
		}
		t0 := time.Now()
		if err := f(); err != nil {
			b.Fatal(err)
		}
		d = append(d, time.Since(t0))
	}
	slices.Sort(d)
	return d[len(d)/2]
}

// BenchmarkMapPython: BenchmarkMap's Map beside Python's Pool(2).map over
// the same 100 000 tiny tasks, timed by Python itself. x-python is our time
// over Python's.
func BenchmarkMapPython(b *testing.B) {
	shmtest.NeedProcesses(b)
	ctx := context.Background()
	p, err := pool.New(ctx, 2, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Terminate()
	in := ints(benchItems)
	b.ResetTimer()
	ours := medianOf(b, nil, func() error {
		out, err := pool.Map(ctx, p, tinyTask, in)
		if err == nil {
			checkSquares(b, out)
		}
		return err
	})
	b.StopTimer()
	theirs := python(b, "map", max(b.N, 3), benchItems)
	reportPython(b, ours, theirs, benchItems)
}

// BenchmarkStartStopPython: BenchmarkStartStop's pool beside Python's
// Pool(2) started, closed and joined, timed by Python itself: cold, where
// New starts its worker processes, and prestarted, where
// process.Prestart(ctx, 2) ran (untimed) before each New and the workers
// are handed over to children already up.
func BenchmarkStartStopPython(b *testing.B) {
	shmtest.NeedProcesses(b)
	ctx := context.Background()
	startStop := func() error {
		p, err := pool.New(ctx, 2, nil)
		if err != nil {
			return err
		}
		p.Close()
		return p.Join(ctx)
	}
	for _, pre := range []bool{false, true} {
		name := "cold"
		var prep func() error
		if pre {
			name = "prestarted"
			prep = func() error { return process.Prestart(ctx, 2) }
			b.Cleanup(process.StopPrestarted)
		}
		b.Run(name, func(b *testing.B) {
			ours := medianOf(b, prep, startStop)
			b.StopTimer()
			theirs := python(b, "startstop", max(b.N, 3), 0)
			reportPython(b, ours, theirs, 1)
		})
	}
}

func reportPython(b *testing.B, ours, theirs time.Duration, perCall int) {
	b.ReportMetric(float64(ours.Nanoseconds())/float64(perCall), "ns/op")
	b.ReportMetric(float64(theirs.Nanoseconds())/float64(perCall), "python-ns/op")
	if theirs > 0 {
		b.ReportMetric(float64(ours)/float64(theirs), "x-python")
	}
}
