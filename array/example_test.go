//go:build unix

package array_test

import (
	"context"
	"fmt"

	"github.com/shmkit/shmkit/array"
	"github.com/shmkit/shmkit/process"
)

var negate = process.MustRegister("example-negate", func(ctx context.Context, a *array.Of[int64]) error {
	return a.Do(ctx, func(s []int64) error { // one lock for the whole slice
		for i := range s {
			s[i] = -s[i]
		}
		return nil
	})
})

// Python's "Sharing state" example with an Array: a child negates the
// elements in place.
func Example() {
	ctx := context.Background()
	arr, err := array.From(nil, "", []int64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer arr.Close()
	p, err := process.Start(ctx, negate, arr, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := p.Join(ctx); err != nil {
		fmt.Println(err)
		return
	}
	out := make([]int64, arr.Len())
	arr.ReadAt(ctx, out, 0)
	fmt.Println(out)
	// Output: [0 -1 -2 -3 -4 -5 -6 -7 -8 -9]
}
