//go:build linux || freebsd

package futex_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"testing"
	"time"
)

// BenchmarkPingPong measures a round trip between this process and a
// re-executed child, over futex words in a shared page and, as a baseline,
// over a pair of pipes.
func BenchmarkPingPong(b *testing.B) {
	b.Run("futex", benchFutex)
	b.Run("pipe", benchPipe)
}

func benchFutex(b *testing.B) {
	ctx, cancel := context.WithTimeout(b.Context(), childTimeout)
	defer cancel()
	deadline, _ := ctx.Deadline()
	mem, f := mapFile(b)
	turn, ready := words(mem)
	c := startChild(b, ctx, "pingpong", b.N, f)
	if err := waitWhile(ready, 0, deadline, c.done); err != nil {
		c.fatalf(b, "waiting for ready: %v", err)
	}
	b.Logf("round trip to another process: store + FUTEX_WAKE, then FUTEX_WAIT for the reply, each side")
	b.ResetTimer()
	if err := pingPong(turn, b.N, deadline, c.done); err != nil {
		c.fatalf(b, "ping-pong: %v", err)
	}
	b.StopTimer()
	c.wait(b)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/roundtrip")
}

func benchPipe(b *testing.B) {
	ctx, cancel := context.WithTimeout(b.Context(), childTimeout)
	defer cancel()
	toChild, childIn, err := os.Pipe()
	if err != nil {
		b.Fatal(err)
	}
	childOut, fromChild, err := os.Pipe()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { toChild.Close(); childIn.Close(); childOut.Close(); fromChild.Close() })
	// The child reads toChild (descriptor 3) and writes fromChild (4).
	c := startChild(b, ctx, "pipe", b.N, toChild, fromChild)
	toChild.Close()   // the child's copies are the only ones now, so a
	fromChild.Close() // dead child means EOF or EPIPE here
	var buf [1]byte
	if _, err := io.ReadFull(childOut, buf[:]); err != nil {
		c.fatalf(b, "waiting for ready: %v", err)
	}
	childOut.SetReadDeadline(time.Now().Add(childTimeout))
	b.Logf("round trip to another process: a 1-byte write to one os.Pipe, then a 1-byte read from another, each side")
	b.ResetTimer()
	for i := range b.N {
		if _, err := childIn.Write(buf[:]); err != nil {
			c.fatalf(b, "round %d: write: %v", i, err)
		}
		if _, err := io.ReadFull(childOut, buf[:]); err != nil {
			c.fatalf(b, "round %d: read: %v", i, err)
		}
	}
	b.StopTimer()
	childIn.Close()
	c.wait(b)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/roundtrip")
}

// childPipe is the child of benchPipe: it says it is ready, then echoes
// rounds bytes.
func childPipe(rounds int) error {
	in, out := os.NewFile(3, "in"), os.NewFile(4, "out")
	var buf [1]byte
	if _, err := out.Write(buf[:]); err != nil {
		return fmt.Errorf("ready: %w", err)
	}
	for i := range rounds {
		if _, err := io.ReadFull(in, buf[:]); err != nil {
			return fmt.Errorf("round %d: read: %w", i, err)
		}
		if _, err := out.Write(buf[:]); err != nil {
			return fmt.Errorf("round %d: write: %w", i, err)
		}
	}
	return nil
}
