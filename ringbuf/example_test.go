package ringbuf_test

import (
	"context"
	"fmt"

	"github.com/shmkit/shmkit/ringbuf"
)

// Producers claim space and fill it in place; consumers read records in
// place and release them.
func Example() {
	ctx := context.Background()
	r, err := ringbuf.New(nil, "", 4096, nil) // in an anonymous segment of its own
	if err != nil {
		panic(err)
	}
	defer r.Close()

	for _, msg := range []string{"hello", "world"} {
		c, err := r.Claim(ctx, len(msg))
		if err != nil {
			panic(err)
		}
		copy(c.Bytes(), msg)
		if err := c.Commit(); err != nil {
			panic(err)
		}
	}
	r.Shutdown(ctx) // no more records; takes drain what is there

	for {
		rec, err := r.Take(ctx)
		if err != nil {
			fmt.Println(err)
			break
		}
		fmt.Printf("%s\n", rec.Bytes())
		rec.Release()
	}
	// Output:
	// hello
	// world
	// ringbuf: ring shut down
}

// A batch of records claimed, filled and committed at once, then taken and
// read at once, with range loops over All.
func ExampleClaims_All() {
	ctx := context.Background()
	r, err := ringbuf.New(nil, "", 4096, nil)
	if err != nil {
		panic(err)
	}
	defer r.Close()

	msgs := []string{"one", "two", "three"}
	sizes := make([]int, len(msgs))
	for i, m := range msgs {
		sizes[i] = len(m)
	}
	c, err := r.ClaimBatch(ctx, sizes)
	if err != nil {
		panic(err)
	}
	for i, b := range c.All() {
		copy(b, msgs[i])
	}
	if err := c.Commit(); err != nil {
		panic(err)
	}

	rs, err := r.TakeBatch(ctx, 10)
	if err != nil {
		panic(err)
	}
	for i, b := range rs.All() {
		fmt.Printf("%d: %s\n", i, b)
	}
	rs.Release()
	// Output:
	// 0: one
	// 1: two
	// 2: three
}
