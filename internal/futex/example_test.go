//go:build linux || freebsd

package futex_test

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/shmkit/shmkit/internal/futex"
)

// A waiter sleeps until another goroutine changes a word and wakes it. In
// shmkit the word lives in a shared mapping and the two sides may be
// different processes; a word in Go memory works within one process.
func Example() {
	var ready atomic.Uint32
	go func() {
		ready.Store(1) // change the word first ...
		futex.Wake(&ready, 1)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for ready.Load() == 0 { // ... and re-check after every return
		if err := futex.Wait(&ready, 0, deadline); err != nil {
			fmt.Println(err)
			return
		}
	}
	fmt.Println("ready")
	// Output: ready
}
