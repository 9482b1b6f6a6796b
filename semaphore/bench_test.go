//go:build linux

package semaphore_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/futex"
	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/process"
	"github.com/shmkit/shmkit/semaphore"
	"github.com/shmkit/shmkit/shm"
)

// BenchmarkUncontended: Lock+Unlock with nobody else around, beside
// sync.Mutex and beside the floor, a raw compare-and-swap and store pair on
// a word in shared memory (what any lock in shared memory must do).
func BenchmarkUncontended(b *testing.B) {
	const batch = 1000
	seg := anon(b)
	l, err := semaphore.NewLock(seg, "", nil)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	raw := newWords(b, seg, 1)
	word := (*atomic.Uint32)(ptr(raw.UnsafeBytes()))
	ctx := context.Background()
	ours := func() error {
		for range batch {
			if err := l.Lock(ctx); err != nil {
				return err
			}
			if err := l.Unlock(); err != nil {
				return err
			}
		}
		return nil
	}
	b.Run("vs-CAS+store", func(b *testing.B) {
		b.Logf("semaphore.Lock+Unlock vs CompareAndSwap(0,1)+Store(0) on a shared word, per pair")
		shmtest.Versus(b, batch, ours, func() error {
			for range batch {
				if !word.CompareAndSwap(0, 1) {
					return fmt.Errorf("raw word taken")
				}
				word.Store(0)
			}
			return nil
		})
	})
	b.Run("vs-sync.Mutex", func(b *testing.B) {
		b.Logf("semaphore.Lock+Unlock vs sync.Mutex Lock+Unlock, per pair")
		var mu sync.Mutex
		shmtest.Versus(b, batch, ours, func() error {
			for range batch {
				mu.Lock()
				mu.Unlock()
			}
			return nil
		})
	})
}

// The benchmark partner: a child that runs, on command, its half of a
// two-process scenario. Command words (uint32, in cmd): 0 sequence number,
// 1 mode, 2 count, 3 done sequence number.
type partnerArgs struct {
	Lock      *semaphore.Lock
	Ping      *semaphore.Counting
	Pong      *semaphore.Counting
	Cmd       *shm.Object
	Data      *shm.Object
	FlockPath string
}

const (
	modeLock = iota + 1
	modeFlock
	modeSem
	modeFutex
	modeExit
)

type cmdWords struct{ seq, mode, count, done, flag *atomic.Uint32 }

func cmdOf(o *shm.Object) cmdWords {
	w := func(i uint64) *atomic.Uint32 {
		p, err := o.Payload().Uint32(4 * i)
		if err != nil {
			panic(err)
		}
		return p
	}
	return cmdWords{w(0), w(1), w(2), w(3), w(4)}
}

var partner = process.MustRegister("sem-bench-partner", func(ctx context.Context, a partnerArgs) error {
	c := cmdOf(a.Cmd)
	f, err := os.OpenFile(a.FlockPath, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	counter := (*uint64)(ptr(a.Data.UnsafeBytes()))
	// Options are this process's own: open the handoff semaphores again
	// without spinning, as the parent did.
	noSpin := &semaphore.Options{Spin: -1}
	if a.Ping, err = semaphore.OpenCountingHandle(a.Ping.Handle(), noSpin); err != nil {
		return err
	}
	if a.Pong, err = semaphore.OpenCountingHandle(a.Pong.Handle(), noSpin); err != nil {
		return err
	}
	var seen uint32
	for {
		for c.seq.Load() == seen {
			futex.Wait(c.seq, seen, time.Now().Add(time.Second))
		}
		seen = c.seq.Load()
		n := int(c.count.Load())
		switch c.mode.Load() {
		case modeExit:
			return nil
		case modeLock:
			err = contendLock(ctx, a.Lock, counter, n)
		case modeFlock:
			err = contendFlock(f, counter, n)
		case modeSem:
			for range n {
				if err = a.Ping.Acquire(ctx); err != nil {
					break
				}
				if err = a.Pong.Release(); err != nil {
					break
				}
			}
		case modeFutex:
			for range n {
				for c.flag.Load() != 1 {
					futex.Wait(c.flag, 0, time.Time{})
				}
				c.flag.Store(0)
				futex.Wake(c.flag, 1)
			}
		}
		if err != nil {
			return err
		}
		c.done.Store(seen)
		futex.Wake(c.done, 1)
	}
})

func contendLock(ctx context.Context, l *semaphore.Lock, counter *uint64, n int) error {
	for range n {
		if err := l.Lock(ctx); err != nil {
			return err
		}
		*counter++
		if err := l.Unlock(); err != nil {
			return err
		}
	}
	return nil
}

func contendFlock(f *os.File, counter *uint64, n int) error {
	for range n {
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
			return err
		}
		*counter++
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_UN); err != nil {
			return err
		}
	}
	return nil
}

// twoProcs sets up a partner process and returns a function that runs one
// round of a mode: the partner's half there, ours here, until both end.
func twoProcs(b *testing.B) (round func(mode, n int, ours func() error) error, a partnerArgs) {
	// Not b.Context(): it ends before the cleanup that stops the partner.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	b.Cleanup(cancel)
	seg := anon(b)
	var err error
	if a.Lock, err = semaphore.NewLock(seg, "", nil); err != nil {
		b.Fatal(err)
	}
	noSpin := &semaphore.Options{Spin: -1}
	if a.Ping, err = semaphore.NewCounting(seg, "", 0, noSpin); err != nil {
		b.Fatal(err)
	}
	if a.Pong, err = semaphore.NewCounting(seg, "", 0, noSpin); err != nil {
		b.Fatal(err)
	}
	a.Cmd, a.Data = newWords(b, seg, 4).Object, newWords(b, seg, 1).Object
	a.FlockPath = filepath.Join(b.TempDir(), "flock")
	if err := os.WriteFile(a.FlockPath, nil, 0o600); err != nil {
		b.Fatal(err)
	}
	p, err := process.Start(ctx, partner, a, nil)
	if err != nil {
		b.Fatal(err)
	}
	c := cmdOf(a.Cmd)
	b.Cleanup(func() {
		c.mode.Store(modeExit)
		c.seq.Add(1)
		futex.Wake(c.seq, 1)
		if err := p.Join(ctx); err != nil {
			b.Error(err)
		}
	})
	round = func(mode, n int, ours func() error) error {
		c.mode.Store(uint32(mode))
		c.count.Store(uint32(n))
		seq := c.seq.Add(1)
		futex.Wake(c.seq, 1)
		if err := ours(); err != nil {
			return err
		}
		for c.done.Load() != seq {
			if !p.IsAlive() {
				return fmt.Errorf("partner died: %v", p.Join(ctx))
			}
			futex.Wait(c.done, c.done.Load(), time.Now().Add(10*time.Millisecond))
		}
		return nil
	}
	return round, a
}

// BenchmarkContended: two processes take turns incrementing a counter
// under a shmkit Lock, beside the same with flock(2) on a file, the lock
// people reach for today. Per lock+unlock, both processes counted.
func BenchmarkContended(b *testing.B) {
	const n = 20000
	round, a := twoProcs(b)
	f, err := os.OpenFile(a.FlockPath, os.O_RDWR, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	counter := (*uint64)(ptr(a.Data.UnsafeBytes()))
	ctx := context.Background()
	b.Logf("2 processes × %d locked increments: semaphore.Lock vs flock(2), per lock+unlock", n)
	shmtest.Versus(b, 2*n, func() error {
		return round(modeLock, n, func() error { return contendLock(ctx, a.Lock, counter, n) })
	}, func() error {
		return round(modeFlock, n, func() error { return contendFlock(f, counter, n) })
	})
}

// BenchmarkHandoff: a round trip between two processes that sleep in
// between: Release wakes the other side's Acquire and back (no spinning),
// beside a raw futex ping-pong on one shared word, the floor.
func BenchmarkHandoff(b *testing.B) {
	const n = 500
	round, a := twoProcs(b)
	c := cmdOf(a.Cmd)
	ctx := context.Background()
	b.Logf("%d round trips between 2 processes: semaphore Release→Acquire both ways (no spin) vs raw futex ping-pong", n)
	shmtest.Versus(b, n, func() error {
		return round(modeSem, n, func() error {
			for range n {
				if err := a.Ping.Release(); err != nil {
					return err
				}
				if err := a.Pong.Acquire(ctx); err != nil {
					return err
				}
			}
			return nil
		})
	}, func() error {
		return round(modeFutex, n, func() error {
			for range n {
				c.flag.Store(1)
				futex.Wake(c.flag, 1)
				for c.flag.Load() != 0 {
					futex.Wait(c.flag, 1, time.Time{})
				}
			}
			return nil
		})
	})
}
