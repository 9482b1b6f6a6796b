package process_test

import (
	"context"
	"testing"

	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/process"
)

var nop = process.MustRegister("nop", func(context.Context, struct{}) error { return nil })

var _ = shmtest.Role("nop", func() int { return 0 })

// BenchmarkStartJoin measures process.Start+Join of a function that
// returns at once, beside its baseline: exec.Command of the same test
// binary, running a role that returns at once. Both re-execute the binary;
// the difference is the launcher's pipes, bootstrap and reaping.
func BenchmarkStartJoin(b *testing.B) {
	shmtest.NeedProcesses(b)
	b.Logf("process.Start+Join of a no-op function vs exec.Command(same binary).Run of a no-op role")
	ctx := b.Context()
	shmtest.Versus(b, 1, func() error {
		p, err := process.Start(ctx, nop, struct{}{}, nil)
		if err != nil {
			return err
		}
		return p.Join(ctx)
	}, func() error {
		return shmtest.Command(ctx, "nop").Run()
	})
}
