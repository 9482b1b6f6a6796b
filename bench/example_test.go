//go:build unix

package bench_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/shmkit/shmkit/bench"
)

// A short run of two scenarios over shmkit's queue and its floors, printed
// as tables. Run from a program whose main calls process.Main first, since
// the partners are child processes of it.
func Example() {
	cfg := bench.DefaultConfig()
	cfg.Scenarios = []string{"pingpong", "wakeup"}
	cfg.Transports = []string{"floor", "shmkit queue spin", "shmkit queue sleep"}
	cfg.Sizes = []int{64}
	cfg.Duration = 20 * time.Millisecond
	cfg.Python = "-"
	rep, err := bench.Run(context.Background(), cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	rep.WriteText(os.Stdout)
}
