//go:build unix

package pool_test

import (
	"context"
	"fmt"
	"os"
	"slices"

	"github.com/shmkit/shmkit/pool"
)

type squared struct {
	X, Square, Pid int
}

var (
	squareWithPid = pool.MustRegister("example-square-pid", func(ctx context.Context, x int) (squared, error) {
		return squared{X: x, Square: x * x, Pid: os.Getpid()}, nil
	})
	cube = pool.MustRegister("example-cube", func(ctx context.Context, x int) (int, error) {
		return x * x * x, nil
	})
	primeOrZero = pool.MustRegister("example-prime", func(ctx context.Context, x int) (int, error) {
		if isPrime(x) {
			return x, nil
		}
		return 0, nil
	})
)

func isPrime(n int) bool {
	if n < 2 {
		return false
	}
	for d := 2; d*d <= n; d++ {
		if n%d == 0 {
			return false
		}
	}
	return true
}

// The squares of range(16), each computed in a worker process, with the
// worker's pid: the pids vary from run to run, so the example prints
// whether each is one of the pool's. (Registration, at package level:
//
//	var squareWithPid = pool.MustRegister("example-square-pid", func(ctx context.Context, x int) (squared, error) {
//		return squared{X: x, Square: x * x, Pid: os.Getpid()}, nil
//	})
//
// and a program calls process.Main first thing in main.)
func Example() {
	ctx := context.Background()
	p, err := pool.New(ctx, 4, nil)
	if err != nil {
		panic(err)
	}
	defer p.Terminate()
	workers := p.Workers()
	results, err := pool.Map(ctx, p, squareWithPid, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15})
	if err != nil {
		panic(err)
	}
	for _, r := range results {
		fmt.Printf("%d² = %d, from a worker of the pool: %v\n", r.X, r.Square, slices.Contains(workers, r.Pid))
	}
	// Output:
	// 0² = 0, from a worker of the pool: true
	// 1² = 1, from a worker of the pool: true
	// 2² = 4, from a worker of the pool: true
	// 3² = 9, from a worker of the pool: true
	// 4² = 16, from a worker of the pool: true
	// 5² = 25, from a worker of the pool: true
	// 6² = 36, from a worker of the pool: true
	// 7² = 49, from a worker of the pool: true
	// 8² = 64, from a worker of the pool: true
	// 9² = 81, from a worker of the pool: true
	// 10² = 100, from a worker of the pool: true
	// 11² = 121, from a worker of the pool: true
	// 12² = 144, from a worker of the pool: true
	// 13² = 169, from a worker of the pool: true
	// 14² = 196, from a worker of the pool: true
	// 15² = 225, from a worker of the pool: true
}

// The cubes of 1 to 6 with 6 workers; Close and Join stop the pool the
// polite way.
func ExampleMap() {
	ctx := context.Background()
	p, err := pool.New(ctx, 6, nil)
	if err != nil {
		panic(err)
	}
	defer p.Terminate()
	cubes, err := pool.Map(ctx, p, cube, []int{1, 2, 3, 4, 5, 6})
	if err != nil {
		panic(err)
	}
	fmt.Println(cubes)
	p.Close()
	if err := p.Join(ctx); err != nil {
		panic(err)
	}
	// Output:
	// [1 8 27 64 125 216]
}

// The sum of the primes below 100 000, sequentially and in a pool, in
// chunks of 500 numbers: the results are equal.
func ExampleChunkSize() {
	ctx := context.Background()
	numbers := make([]int, 100_000)
	for i := range numbers {
		numbers[i] = i
	}
	sequential := 0
	for _, n := range numbers {
		if isPrime(n) {
			sequential += n
		}
	}

	p, err := pool.New(ctx, 2, nil)
	if err != nil {
		panic(err)
	}
	defer p.Terminate()
	primes, err := pool.Map(ctx, p, primeOrZero, numbers, pool.ChunkSize(500))
	if err != nil {
		panic(err)
	}
	parallel := 0
	for _, n := range primes {
		parallel += n
	}
	fmt.Println("sequential:", sequential)
	fmt.Println("pool:      ", parallel)
	fmt.Println("equal:", sequential == parallel)
	// Output:
	// sequential: 454396537
	// pool:       454396537
	// equal: true
}

// Imap yields results in order as they come, reading its input lazily; an
// error is yielded at its place.
func ExampleImap() {
	ctx := context.Background()
	p, err := pool.New(ctx, 2, nil)
	if err != nil {
		panic(err)
	}
	defer p.Terminate()
	for c, err := range pool.Imap(ctx, p, cube, slices.Values([]int{1, 2, 3})) {
		fmt.Println(c, err)
	}
	// Output:
	// 1 <nil>
	// 8 <nil>
	// 27 <nil>
}
