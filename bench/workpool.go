package bench

// The pool scenario: a pool of worker processes mapping a tiny function
// (x → x²) over many integers, and a pool started and stopped, through
// shmkit's pool, a pool of goroutines (its floor) and Python's
// multiprocessing.Pool. (This file's name sorts after transports.go, so its
// transports and scenario are registered after the others.)

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/shmkit/shmkit/pool"
	"github.com/shmkit/shmkit/process"
)

// TaskPool is a pool of workers that square integers: what a pool
// transport (Transport.OpenPool) makes. The pool scenario uses it from one
// goroutine; it is not passed to other processes.
type TaskPool interface {
	// Map squares every item of in in the pool's workers and returns the
	// squares in the order of in.
	Map(ctx context.Context, in []int) ([]int, error)
	// Close stops the workers once they are done and waits for them
	// (Python's close and join), while ctx allows.
	Close(ctx context.Context) error
}

// The pool's operations, in Row.Op.
const (
	OpMap       = "map"        // one Map call over Config.PoolTasks items; a row's cost is per item
	OpStartStop = "start+stop" // a pool of Config.PoolWorkers started, closed and joined; a row's cost is per pool
)

var _ = RegisterScenario(Scenario{
	Name:    "pool",
	Title:   "worker pool: Map of tiny tasks (cost a task), start+stop (cost a pool)",
	About:   "Map of x→x² over -pool-tasks integers on -pool-workers workers (time a task, tasks/s), and a pool started, closed and joined (time a pool)",
	Unit:    "tasks",
	Default: true,
	Run:     runPool,
	Python:  "pool",
})

// benchSquare is the pool scenario's task, registered in every copy of the
// program (the workers are copies).
var benchSquare = pool.MustRegister("shmkit-bench-square", func(ctx context.Context, x int) (int, error) { return x * x, nil })

// shmkitPool is a pool.Pool with the default options.
type shmkitPool struct{ p *pool.Pool }

func (s shmkitPool) Map(ctx context.Context, in []int) ([]int, error) {
	return pool.Map(ctx, s.p, benchSquare, in)
}

func (s shmkitPool) Close(ctx context.Context) error {
	s.p.Close()
	if err := s.p.Join(ctx); err != nil {
		return errors.Join(err, s.p.Terminate())
	}
	return nil
}

func openShmkitPool(ctx context.Context, workers int) (TaskPool, error) {
	p, err := pool.New(ctx, workers, nil)
	if err != nil {
		return nil, err
	}
	return shmkitPool{p}, nil
}

var _ = Register(Transport{
	Name:     "shmkit pool",
	Group:    Shmkit,
	Floor:    "go pool",
	About:    "pool.New(ctx, workers, nil): worker processes, pool.Map with the default chunks (Python's ⌈n/(4·workers)⌉); start+stop is New, Close, Join",
	Only:     []string{"pool"},
	OpenPool: openShmkitPool,
})

var _ = Register(Transport{
	Name:     "shmkit pool prestarted",
	Group:    Shmkit,
	Floor:    "go pool",
	About:    "start+stop of shmkit pool after process.Prestart(ctx, workers) (untimed): New hands the workers to children already up",
	Only:     []string{"pool"},
	OpenPool: openShmkitPool,
	PrepPool: process.Prestart,
})

// goPool is the floor: goroutines of this process taking chunks of
// Python's default size from a channel, no process boundary at all.
type goPool struct {
	workers int
	jobs    chan func()
	wg      sync.WaitGroup
}

func newGoPool(workers int) *goPool {
	g := &goPool{workers: workers, jobs: make(chan func())}
	for range workers {
		g.wg.Go(func() {
			for j := range g.jobs {
				j()
			}
		})
	}
	return g
}

func (g *goPool) Map(ctx context.Context, in []int) ([]int, error) {
	out := make([]int, len(in))
	size := max(1, (len(in)+4*g.workers-1)/(4*g.workers))
	var wg sync.WaitGroup
	for lo := 0; lo < len(in); lo += size {
		hi := min(lo+size, len(in))
		wg.Add(1)
		job := func() {
			defer wg.Done()
			for i := lo; i < hi; i++ {
				out[i] = in[i] * in[i]
			}
		}
		select {
		case g.jobs <- job:
		case <-ctx.Done():
			wg.Done()
			wg.Wait()
			return nil, ctx.Err()
		}
	}
	wg.Wait()
	return out, nil
}

func (g *goPool) Close(ctx context.Context) error {
	close(g.jobs)
	g.wg.Wait()
	return nil
}

var _ = Register(Transport{
	Name:      "go pool",
	Group:     InProcess,
	About:     "goroutines of one process taking chunks of the same size from a channel: the pool's floor",
	InProcess: true,
	Only:      []string{"pool"},
	OpenPool: func(ctx context.Context, workers int) (TaskPool, error) {
		return newGoPool(workers), nil
	},
})

// poolCalls is the fewest timed calls of a pool row: one start+stop takes
// longer than a default row's Duration, and one sample of it is noise.
const poolCalls = 3

// checkSquares checks every result of a Map of x → x² over in.
func checkSquares(in, out []int) error {
	if len(out) != len(in) {
		return fmt.Errorf("bench: %d results of %d tasks", len(out), len(in))
	}
	for i, x := range in {
		if out[i] != x*x {
			return fmt.Errorf("bench: task %d: %d² = %d, got %d", i, x, x*x, out[i])
		}
	}
	return nil
}

func runPool(r *Runner, sr *ScenarioReport) error {
	in := make([]int, r.PoolTasks)
	for i := range in {
		in[i] = i
	}
	procs := fmt.Sprint(r.PoolWorkers)
	defer process.StopPrestarted() // what a failed row left
	for _, t := range Transports() {
		if t.OpenPool == nil || !r.Selected(&t, "pool") || r.ctx.Err() != nil {
			continue
		}
		ops := []string{OpMap, OpStartStop}
		if t.PrepPool != nil {
			ops = ops[1:]
		}
		for _, op := range ops {
			row := &Row{Transport: t.Name, Group: t.Group, Op: op, Procs: procs}
			sr.Rows = append(sr.Rows, row)
			r.progress(fmt.Sprintf("%-18s %s", t.Name, op))
			ctx, cancel := context.WithTimeout(r.ctx, r.rowTimeout())
			var err error
			if op == OpMap {
				err = poolMap(ctx, r, &t, in, row)
			} else {
				err = poolStartStop(ctx, r, &t, row)
			}
			cancel()
			if err != nil {
				*row = Row{Transport: t.Name, Group: t.Group, Op: op, Procs: procs, Err: rowErr(err)}
			}
		}
	}
	return nil
}

// poolMap starts a pool, brings its workers up with a Map of a few items,
// then times Map calls over in until r.Duration has passed (at least
// poolCalls),
// checking every result.
func poolMap(ctx context.Context, r *Runner, t *Transport, in []int, row *Row) (err error) {
	p, err := t.OpenPool(ctx, r.PoolWorkers)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, p.Close(ctx)) }()
	warm := in[:min(len(in), 10)]
	out, err := p.Map(ctx, warm)
	if err == nil {
		err = checkSquares(warm, out)
	}
	if err != nil {
		return err
	}
	var busy time.Duration
	var calls int
	for end := time.Now().Add(r.Duration); calls < poolCalls || time.Now().Before(end); calls++ {
		t0 := time.Now()
		out, err := p.Map(ctx, in)
		busy += time.Since(t0)
		if err != nil {
			return err
		}
		if err := checkSquares(in, out); err != nil {
			return err
		}
	}
	row.Count, row.Seconds = int64(calls*len(in)), max(time.Nanosecond, busy).Seconds()
	row.PerSec = float64(row.Count) / row.Seconds
	return nil
}

// poolStartStop times pools started, closed and joined until r.Duration has
// passed (at least poolCalls).
func poolStartStop(ctx context.Context, r *Runner, t *Transport, row *Row) error {
	var busy time.Duration
	var calls int
	for end := time.Now().Add(r.Duration); calls < poolCalls || time.Now().Before(end); calls++ {
		if t.PrepPool != nil {
			if err := t.PrepPool(ctx, r.PoolWorkers); err != nil {
				return err
			}
		}
		t0 := time.Now()
		p, err := t.OpenPool(ctx, r.PoolWorkers)
		if err != nil {
			return err
		}
		if err := p.Close(ctx); err != nil {
			return err
		}
		busy += time.Since(t0)
	}
	row.Count, row.Seconds = int64(calls), max(time.Nanosecond, busy).Seconds()
	row.PerSec = float64(row.Count) / row.Seconds
	return nil
}
