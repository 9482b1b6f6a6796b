package value_test

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/process"
	"github.com/shmkit/shmkit/value"
)

const batch = 1000

// BenchmarkLockedIncrement: v.Update(p++) beside an int under
// sync.Mutex. Alone: one goroutine each. Contended: rounds in which two
// processes each do a batch of increments on the value, beside rounds in
// which two goroutines each do a batch under one sync.Mutex; per increment,
// both sides counted.
func BenchmarkLockedIncrement(b *testing.B) {
	ctx := context.Background()
	b.Run("1-process", func(b *testing.B) {
		v, err := value.New[int64](anon(b), "", 0, nil)
		must(b, err)
		var mu sync.Mutex
		var x int64
		b.Logf("value.Of[int64].Update(p++) vs x++ under sync.Mutex, one goroutine, per increment")
		shmtest.Versus(b, batch, func() error { return increments(ctx, v, batch) }, func() error {
			for range batch {
				mu.Lock()
				x++
				mu.Unlock()
			}
			return nil
		})
	})
	b.Run("2-processes", func(b *testing.B) {
		seg := anon(b)
		v, err := value.New[int64](seg, "", 0, nil)
		must(b, err)
		raw := func() *value.Of[int64] {
			r, err := value.New[int64](seg, "", 0, &value.Options{Raw: true})
			must(b, err)
			return r
		}
		a := contendArgs{V: v, Cmd: raw(), Done: raw()}
		pctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		p, err := process.Start(pctx, contend, a, nil)
		must(b, err)
		b.Cleanup(func() {
			value.AtomicStore(a.Cmd, -1)
			if err := p.Join(pctx); err != nil {
				b.Error(err)
			}
			cancel()
		})
		var round int64
		var mu sync.Mutex
		var x int64
		b.Logf("2 processes × %d value.Of[int64].Update(p++) vs 2 goroutines × %d x++ under sync.Mutex, per increment", batch, batch)
		shmtest.Versus(b, 2*batch, func() error {
			round++
			value.AtomicStore(a.Cmd, round)
			if err := increments(ctx, v, batch); err != nil {
				return err
			}
			for d, _ := value.AtomicLoad(a.Done); d != round; d, _ = value.AtomicLoad(a.Done) {
				if !p.IsAlive() {
					return fmt.Errorf("contender died: %v", p.Join(pctx))
				}
				runtime.Gosched()
			}
			return nil
		}, func() error {
			var wg sync.WaitGroup
			for range 2 {
				wg.Go(func() {
					for range batch {
						mu.Lock()
						x++
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			return nil
		})
	})
}

func increments(ctx context.Context, v *value.Of[int64], n int) error {
	for range n {
		if err := v.Update(ctx, func(p *int64) { *p++ }); err != nil {
			return err
		}
	}
	return nil
}

// contendArgs drive the contender: it runs a batch of increments for each
// new round number in Cmd and stores the round in Done; -1 ends it.
type contendArgs struct {
	V, Cmd, Done *value.Of[int64]
}

var contend = process.MustRegister("value-bench-contend", func(ctx context.Context, a contendArgs) error {
	var seen int64
	for {
		c, _ := value.AtomicLoad(a.Cmd)
		switch {
		case c == -1:
			return nil
		case c == seen:
			runtime.Gosched()
			continue
		}
		seen = c
		if err := increments(ctx, a.V, batch); err != nil {
			return err
		}
		value.AtomicStore(a.Done, c)
	}
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
