package semaphore_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/semaphore"
	"github.com/shmkit/shmkit/shm"
)

func word32(t testing.TB, o *shm.Object, off uint64) *atomic.Uint32 {
	w, err := o.Payload().Uint32(off)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// Found in review: a Counting waiter with a context that cannot end slept
// without a timeout, so a releaser killed between its count and its wake
// (played here by a bare store to the count) left it asleep forever.
func TestSleepIsBounded(t *testing.T) {
	opts := &semaphore.Options{Poll: 20 * time.Millisecond, Spin: -1}
	for _, bounded := range []bool{false, true} {
		seg := anon(t)
		var sem interface {
			Acquire(context.Context) error
			Release() error
			Value() int
			ShmObjects() []*shm.Object
		}
		var err error
		if bounded {
			sem, err = semaphore.NewBounded(seg, "", 1, opts)
			if err == nil {
				err = sem.Acquire(t.Context()) // the count is 0 now
			}
		} else {
			sem, err = semaphore.NewCounting(seg, "", 0, opts)
		}
		if err != nil {
			t.Fatal(err)
		}
		o := sem.ShmObjects()[0]
		count, sleepers := word32(t, o, 0), word32(t, o, 4)
		done := make(chan error, 1)
		go func() { done <- sem.Acquire(context.Background()) }()
		for sleepers.Load() == 0 {
			time.Sleep(time.Millisecond)
		}
		count.Add(1) // the first half of a Release whose process died
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("bounded=%v: Acquire = %v", bounded, err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("bounded=%v: waiter still asleep 10 s after a unit became free (Poll 20 ms)", bounded)
			count.Add(^uint32(0))
			sem.Release()
			<-done
		}
	}
}

// Found in review: a Bounded Release raised the count before it lowered
// its holding, so a releaser killed in between left a holding that was
// given back again: two holders of a Bounded(1). Now the holding goes
// first, and such a crash loses the unit instead.
func TestBoundedReleaseCrash(t *testing.T) {
	ctx := shmtest.Deadline(t, 30*time.Second)
	shmtest.NeedProcesses(t)
	seg := anon(t)
	b, err := semaphore.NewBounded(seg, "", 1, &semaphore.Options{Poll: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	w := newWords(t, seg, 1)
	p := startHolder(t, ctx, holdArgs{B: b, W: w.Object, N: 1})
	// The child's Release, first half: its holding goes down...
	o := b.ShmObjects()[0]
	lowered := false
	for i := range o.Slots() {
		h, _ := o.Payload().Uint64(uint64(64 + 8*i))
		if v := h.Load(); uint32(v) == 1 {
			h.Store(v - 1)
			lowered = true
		}
	}
	if !lowered {
		t.Fatal("no holding of 1 found for the child")
	}
	kill(t, ctx, p) // ...and it dies before the count goes up.
	got := 0
	for range 2 {
		short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		if b.Acquire(short) == nil {
			got++
		}
		cancel()
	}
	if got > 1 {
		t.Errorf("Bounded(1) admitted %d holders after a releaser died mid-Release", got)
	}
}

// Found in review: a Bounded waiter gave back dead holders' units only
// after a sleep that timed out, and under steady traffic no sleep does.
func TestBoundedRecoveryUnderTraffic(t *testing.T) {
	ctx := shmtest.Deadline(t, 30*time.Second)
	shmtest.NeedProcesses(t)
	seg := anon(t)
	b, err := semaphore.NewBounded(seg, "", 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	w := newWords(t, seg, 1)
	p := startHolder(t, ctx, holdArgs{B: b, W: w.Object, N: 1})
	kill(t, ctx, p)
	killed := time.Now()
	var cur atomic.Int32
	two := make(chan time.Duration, 1)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := b.Acquire(ctx); err != nil {
					t.Error(err)
					return
				}
				if cur.Add(1) >= 2 {
					select {
					case two <- time.Since(killed):
					default:
					}
				}
				time.Sleep(200 * time.Microsecond)
				cur.Add(-1)
				b.Release()
			}
		})
	}
	select {
	case d := <-two:
		t.Logf("the dead holder's unit came back %v after the kill, under traffic", d)
	case <-time.After(10 * time.Second):
		t.Errorf("the dead holder's unit was not given back in 10 s of steady traffic")
	}
	close(stop)
	wg.Wait()
}

// Found in review: a Lock waiter whose context ends after it was woken, while a barger
// holds the lock without the waiter bit, swallows the wake-up: the other
// sleepers sleep out their whole Poll although the lock is free.
func TestCancelledWaiterPassesWake(t *testing.T) {
	const poll = 2 * time.Second
	l, err := semaphore.NewLock(anon(t), "", &semaphore.Options{Poll: poll, Spin: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	state := word32(t, l.ShmObjects()[0], 0)
	if err := l.Lock(t.Context()); err != nil { // O
		t.Fatal(err)
	}
	actx, cancel := context.WithCancel(context.Background())
	aDone := make(chan error, 1)
	go func() { aDone <- l.Lock(actx) }() // A: first in the futex queue
	for state.Load()&(1<<31) == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	cDone := make(chan time.Time, 1)
	go func() { // C
		if err := l.Lock(context.Background()); err != nil {
			t.Error(err)
		}
		cDone <- time.Now()
		l.Unlock()
	}()
	time.Sleep(50 * time.Millisecond)
	cancel()             // A's context ends while A sleeps
	l.Unlock()           // wakes A
	ok, _ := l.TryLock() // barge before A runs: no waiter bit
	if err := <-aDone; !errors.Is(err, context.Canceled) {
		t.Logf("A returned %v (race lost; rerun)", err)
		if err == nil {
			l.Unlock() // A took the lock: give it back, for C
		}
	}
	if !ok {
		<-cDone // C must not outlive the test: its lock goes with it
		t.Skip("barge lost the race; rerun")
	}
	freed := time.Now()
	l.Unlock() // no waiter bit: no wake
	got := <-cDone
	t.Logf("C got the free lock %v after it was freed (Poll %v)", got.Sub(freed), poll)
	if got.Sub(freed) > poll/2 {
		t.Errorf("C slept %v with the lock free: a swallowed wake-up", got.Sub(freed))
	}
}
