package value_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/process"
	"github.com/shmkit/shmkit/value"
)

const batch = 1000

// BenchmarkLockedIncrement: v.Update(p++) beside an int under sync.Mutex
// in one process, alone and with a second contender (another process for
// ours, another goroutine for the baseline).
func BenchmarkLockedIncrement(b *testing.B) {
	ctx := context.Background()
	for _, contended := range []bool{false, true} {
		name := "1-process"
		if contended {
			name = "2-processes"
		}
		b.Run(name, func(b *testing.B) {
			v, err := value.New[int64](anon(b), "", 0, nil)
			must(b, err)
			var mu sync.Mutex
			var x int64
			if contended {
				stop, err := value.New[int64](anon(b), "", 0, &value.Options{Raw: true})
				must(b, err)
				pctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
				p, err := process.Start(pctx, contend, contendArgs{V: v, Stop: stop}, nil)
				must(b, err)
				var wg sync.WaitGroup
				wg.Go(func() {
					for s, _ := value.AtomicLoad(stop); s == 0; s, _ = value.AtomicLoad(stop) {
						mu.Lock()
						x++
						mu.Unlock()
					}
				})
				b.Cleanup(func() {
					value.AtomicStore(stop, 1)
					wg.Wait()
					if err := p.Join(pctx); err != nil {
						b.Error(err)
					}
					cancel()
				})
			}
			b.Logf("value.Of[int64].Update(p++) vs x++ under sync.Mutex (contended: %v), per increment", contended)
			shmtest.Versus(b, batch, func() error {
				for range batch {
					if err := v.Update(ctx, func(p *int64) { *p++ }); err != nil {
						return err
					}
				}
				return nil
			}, func() error {
				for range batch {
					mu.Lock()
					x++
					mu.Unlock()
				}
				return nil
			})
		})
	}
}

type contendArgs struct {
	V, Stop *value.Of[int64]
}

var contend = process.MustRegister("value-bench-contend", func(ctx context.Context, a contendArgs) error {
	for s, _ := value.AtomicLoad(a.Stop); s == 0; s, _ = value.AtomicLoad(a.Stop) {
		if err := a.V.Update(ctx, func(p *int64) { *p++ }); err != nil {
			return err
		}
	}
	return nil
})

// BenchmarkAtomicAdd: value.Add on shared memory beside atomic.Int64.Add
// on this process's memory.
func BenchmarkAtomicAdd(b *testing.B) {
	v, err := value.New[int64](anon(b), "", 0, &value.Options{Raw: true})
	must(b, err)
	var local atomic.Int64
	b.Logf("value.Add vs atomic.Int64.Add on local memory, per add")
	shmtest.Versus(b, batch, func() error {
		for range batch {
			if _, err := value.Add(v, 1); err != nil {
				return err
			}
		}
		return nil
	}, func() error {
		for range batch {
			local.Add(1)
		}
		return nil
	})
}
