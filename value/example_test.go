//go:build unix

package value_test

import (
	"context"
	"fmt"

	"github.com/shmkit/shmkit/process"
	"github.com/shmkit/shmkit/value"
)

type sharing struct {
	Num  *value.Of[float64]
	Hits *value.Of[int64]
}

var setPi = process.MustRegister("example-set-pi", func(ctx context.Context, s sharing) error {
	if _, err := value.Add(s.Hits, 1); err != nil { // atomic, no lock
		return err
	}
	return s.Num.Store(ctx, 3.1415927) // under the value's lock
})

// Python's "Sharing state between processes" example: a child sets a
// shared value that the parent then reads.
func Example() {
	ctx := context.Background()
	num, err := value.New[float64](nil, "", 0, nil) // a locked value in a segment of its own
	if err != nil {
		fmt.Println(err)
		return
	}
	defer num.Close()
	hits, err := value.New[int64](nil, "", 0, &value.Options{Raw: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer hits.Close()
	p, err := process.Start(ctx, setPi, sharing{Num: num, Hits: hits}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := p.Join(ctx); err != nil {
		fmt.Println(err)
		return
	}
	x, _ := num.Load(ctx)
	n, _ := value.AtomicLoad(hits)
	fmt.Println(x, n)
	// Output: 3.1415927 1
}
