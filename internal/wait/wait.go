// Package wait is how every shmkit primitive waits on a word in shared
// memory: spin a little, then sleep on the word with a futex, always for a
// bounded time, and look again. semaphore, condvar and ringbuf share it.
package wait

import (
	"context"
	"errors"
	"os"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/shmkit/shmkit/internal/futex"
)

var multicore = runtime.NumCPU() > 1

// Spin polls cond for up to d and reports whether it came true. With one
// CPU, or d <= 0, it does not spin at all. It yields now and then, in case
// what it waits for is a goroutine of this process, but rarely: a
// runtime.Gosched may cost the wake-up of another thread (a system call),
// which multiplied a spinning ping-pong's round trip by 20 in ringbuf's
// BenchmarkPingPong when it came every 64 rounds.
func Spin(d time.Duration, cond func() bool) bool {
	if d <= 0 || !multicore {
		return false
	}
	// The clock starts after the first 64 polls: a partner that is
	// already there costs no clock reading.
	var start time.Time
	for i := 1; ; i++ {
		if cond() {
			return true
		}
		if i%64 == 0 {
			if i == 64 {
				start = time.Now()
			} else if time.Since(start) > d {
				return false
			}
			if i%4096 == 0 {
				runtime.Gosched()
			}
		}
	}
}

// Sleep waits on w while it holds v, for at most poll and never past ctx's
// deadline, and reports whether it ran out of time (the caller's cue to look
// at liveness). Wake-ups, spurious ones and a changed word return at once;
// the caller looks again in every case.
//
// Every sleep is bounded, even one with nothing to poll: a waker killed
// between its store and its wake, or a wake that failed, must cost a
// sleeper one poll interval, not its life. Where the system has no futex,
// it sleeps a millisecond at a time.
func Sleep(ctx context.Context, w *atomic.Uint32, v uint32, poll time.Duration) (polled bool, err error) {
	deadline := time.Now().Add(poll)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if !futex.Supported {
		time.Sleep(min(time.Millisecond, time.Until(deadline)))
		return !time.Now().Before(deadline), nil
	}
	err = futex.Wait(w, v, deadline)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return true, nil
	}
	return false, err
}

// Wake wakes up to n sleepers on w (n <= 0: all). A failure leaves them to
// their poll.
func Wake(w *atomic.Uint32, n int) {
	if futex.Supported {
		futex.Wake(w, n)
	}
}

// CtxErr is ctx.Err(), or the deadline's error as soon as the deadline has
// passed, before the context's own timer has fired: a sleep that returns at
// the deadline must not find the context still alive and sleep again at
// once, round after round.
func CtxErr(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		return context.DeadlineExceeded
	}
	return nil
}

// Defaults of the waiting policy of every primitive.
const (
	// DefaultSpin is about one futex round trip on the machines we develop
	// on: spinning that long costs no more than sleeping and keeps a hot
	// partner hot.
	DefaultSpin = 10 * time.Microsecond
	// DefaultPoll is how often a sleeper looks at its context and at the
	// liveness of whoever it waits for.
	DefaultPoll = 10 * time.Millisecond
)

// Policy applies the defaults to a spin and a poll given in options: a
// zero spin means DefaultSpin (a negative one, no spinning), a poll of zero
// or less means DefaultPoll.
func Policy(spin, poll time.Duration) (time.Duration, time.Duration) {
	if spin == 0 {
		spin = DefaultSpin
	}
	if poll <= 0 {
		poll = DefaultPoll
	}
	return spin, poll
}
