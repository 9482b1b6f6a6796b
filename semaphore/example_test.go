//go:build unix

package semaphore_test

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/shmkit/shmkit/process"
	"github.com/shmkit/shmkit/semaphore"
	"github.com/shmkit/shmkit/shm"
)

type tally struct {
	Lock  *semaphore.Lock
	Count *shm.Object // 8 bytes: a plain counter the lock guards
}

// add increments the tally 1000 times under its lock.
var add = process.MustRegister("example-add", func(ctx context.Context, t tally) error {
	for range 1000 {
		if err := t.Lock.Lock(ctx); err != nil {
			return err
		}
		t.Count.UnsafeBytes()[0]++ // wraps at 256: the point is that no increment is lost
		if err := t.Lock.Unlock(); err != nil {
			return err
		}
	}
	return nil
})

// Four processes increment one counter in shared memory under one Lock,
// which they got as an argument, as Python's multiprocessing.Lock is passed.
func Example() {
	ctx := context.Background()
	seg, err := shm.New(1<<16, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer seg.Close()
	lock, err := semaphore.NewLock(seg, "", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer lock.Close()
	count, err := seg.AllocBytes("count", 8)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer count.Close()

	var ps []*process.Process
	for range 4 {
		p, err := process.Start(ctx, add, tally{Lock: lock, Count: count}, nil)
		if err != nil {
			fmt.Println(err)
			return
		}
		ps = append(ps, p)
	}
	for _, p := range ps {
		if err := p.Join(ctx); err != nil {
			fmt.Println(err)
		}
	}
	fmt.Println("4000 increments mod 256 =", count.UnsafeBytes()[0])
	// Output: 4000 increments mod 256 = 160
}

// dieHolding locks and exits without unlocking, as a crash would.
var dieHolding = process.MustRegister("example-die-holding", func(ctx context.Context, l *semaphore.Lock) error {
	if err := l.Lock(ctx); err != nil {
		return err
	}
	os.Exit(3)
	return nil
})

// A lock whose holder died is taken over with ErrOwnerDead: the new holder
// repairs what the lock guards, then goes on as usual.
func ExampleLock_Lock_ownerDead() {
	ctx := context.Background()
	lock, err := semaphore.NewLock(nil, "", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer lock.Close()
	p, err := process.Start(ctx, dieHolding, lock, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	p.Join(ctx)
	code, _ := p.ExitCode()
	fmt.Println("holder exited with", code, "holding the lock:", lock.Locked())

	err = lock.Lock(ctx)
	switch {
	case errors.Is(err, semaphore.ErrOwnerDead):
		// We hold the lock; the data it guards may be half-written.
		fmt.Println("owner died; repairing")
	case err != nil:
		fmt.Println(err)
		return
	}
	fmt.Println("locked")
	lock.Unlock()
	// Output:
	// holder exited with 3 holding the lock: true
	// owner died; repairing
	// locked
}
