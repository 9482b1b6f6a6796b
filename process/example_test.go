//go:build unix

// The example starts a child, which process.Start cannot do on Windows yet;
// an example cannot skip, so it is built only where Start works.

package process_test

import (
	"context"
	"fmt"

	"github.com/shmkit/shmkit/process"
	"github.com/shmkit/shmkit/shm"
)

// square squares the numbers in the shared object in place. Registered at
// package level, so that the child, a fresh copy of the program, has it.
var square = process.MustRegister("example-square", func(ctx context.Context, nums *shm.Object) error {
	b := nums.UnsafeBytes()
	for i := range b {
		b[i] *= b[i]
	}
	return nil
})

// A child process changes shared memory that it got as an argument; in
// main, process.Main() must come first (here shmtest.Main calls it).
func Example() {
	seg, err := shm.New(1<<16, nil) // anonymous: reaches children by descriptor
	if err != nil {
		fmt.Println(err)
		return
	}
	defer seg.Close()
	nums, err := seg.AllocBytes("nums", 5)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer nums.Close()
	copy(nums.UnsafeBytes(), []byte{1, 2, 3, 4, 5})

	ctx := context.Background()
	p, err := process.Start(ctx, square, nums, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := p.Join(ctx); err != nil {
		fmt.Println(err)
		return
	}
	code, _ := p.ExitCode()
	fmt.Println(nums.UnsafeBytes(), "exit code", code)
	// Output: [1 4 9 16 25] exit code 0
}
