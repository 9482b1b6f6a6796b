//go:build unix

package pipe_test

import (
	"context"
	"fmt"
	"io"
	"log"

	"github.com/shmkit/shmkit/pipe"
	"github.com/shmkit/shmkit/process"
)

// producer sends a sequence down its end of the pipe, then closes it.
var producer = process.MustRegister("pipe-example-producer", func(ctx context.Context, w *pipe.End) error {
	for i := range 5 {
		if err := w.Send(ctx, fmt.Sprintf("item %d", i)); err != nil {
			return err
		}
	}
	return w.Close()
})

// A producer process sends a sequence over a one-way pipe; the consumer,
// here the parent, prints until the end of the stream.
func Example_producerConsumer() {
	ctx := context.Background()
	r, w, err := pipe.New(nil, "", &pipe.Options{OneWay: true})
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	p, err := process.Start(ctx, producer, w, nil)
	if err != nil {
		log.Fatal(err)
	}
	w.Close() // the child holds it now
	for {
		var item string
		err := r.Recv(ctx, &item)
		if err == io.EOF {
			break
		}
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(item)
	}
	if err := p.Join(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Println("end of stream")
	// Output:
	// item 0
	// item 1
	// item 2
	// item 3
	// item 4
	// end of stream
}

// A Listener and a client authenticate each other with a shared key, then
// exchange messages as over a pipe.
func ExampleListen() {
	ctx := context.Background()
	key := []byte("a shared secret")
	l, err := pipe.Listen("unix", "", &pipe.NetOptions{AuthKey: key})
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := pipe.Dial(ctx, "unix", l.Addr().String(), &pipe.NetOptions{AuthKey: key})
		if err != nil {
			log.Fatal(err)
		}
		c.Send(ctx, "hello")
		c.Close()
	}()
	c, err := l.Accept(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	var s string
	if err := c.Recv(ctx, &s); err != nil {
		log.Fatal(err)
	}
	fmt.Println(s)
	// Output: hello
}
