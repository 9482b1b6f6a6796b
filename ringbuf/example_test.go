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
