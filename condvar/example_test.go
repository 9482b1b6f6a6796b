//go:build unix

package condvar_test

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"

	"github.com/shmkit/shmkit/condvar"
	"github.com/shmkit/shmkit/process"
	"github.com/shmkit/shmkit/shm"
)

// list is a list of up to 15 numbers in shared memory: a length, then the
// items. The Cond's lock guards it.
type list struct{ *shm.Object }

func (l list) word(i int) *atomic.Uint64 {
	w, err := l.Payload().Uint64(uint64(8 * i))
	if err != nil {
		panic(err)
	}
	return w
}

func (l list) len() int { return int(l.word(0).Load()) }

func (l list) append(v uint64) {
	n := l.len()
	l.word(1 + n).Store(v)
	l.word(0).Store(uint64(n + 1))
}

func (l list) pop() uint64 {
	n := l.len() - 1
	l.word(0).Store(uint64(n))
	return l.word(1 + n).Load()
}

type producerArgs struct {
	Cond  *condvar.Cond
	Items *shm.Object
	First uint64
}

// produce makes five items available, one at a time.
var produce = process.MustRegister("example-produce", func(ctx context.Context, a producerArgs) error {
	items := list{a.Items}
	for i := range uint64(5) {
		// Produce one item.
		if err := a.Cond.Lock(ctx); err != nil {
			return err
		}
		items.append(a.First + i)
		if err := a.Cond.Notify(1); err != nil {
			return err
		}
		if err := a.Cond.Unlock(); err != nil {
			return err
		}
	}
	return nil
})

// Two producer processes append items to a list in shared memory and
// notify; this process consumes them, waiting on the Cond whenever the list
// is empty: the producer-consumer pattern of Python's Condition docs.
func Example_producerConsumer() {
	ctx := context.Background()
	seg, err := shm.New(1<<16, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer seg.Close()
	cond, err := condvar.NewCond(seg, "", nil, nil) // with a new Lock
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cond.Close()
	obj, err := seg.AllocBytes("items", 8*16)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer obj.Close()
	items := list{obj}

	var ps []*process.Process
	for _, first := range []uint64{100, 200} {
		p, err := process.Start(ctx, produce, producerArgs{Cond: cond, Items: obj, First: first}, nil)
		if err != nil {
			fmt.Println(err)
			return
		}
		ps = append(ps, p)
	}
	var got []uint64
	for range 10 {
		// Consume one item.
		if err := cond.Lock(ctx); err != nil {
			fmt.Println(err)
			return
		}
		if err := cond.WaitFor(ctx, func() bool { return items.len() > 0 }); err != nil {
			fmt.Println(err)
			return
		}
		got = append(got, items.pop())
		if err := cond.Unlock(); err != nil {
			fmt.Println(err)
			return
		}
	}
	for _, p := range ps {
		if err := p.Join(ctx); err != nil {
			fmt.Println(err)
		}
	}
	slices.Sort(got)
	fmt.Println("consumed", got)
	// Output: consumed [100 101 102 103 104 200 201 202 203 204]
}

type partyArgs struct {
	Barrier *condvar.Barrier
	Phases  *shm.Object // 8 bytes: phases finished, counted by the action
}

// phases is the barrier's action: it counts the phases that every party
// has finished. Each process sets it on its own handle.
func phases(o *shm.Object) func() error {
	return func() error { list{o}.word(0).Add(1); return nil }
}

// phase passes the barrier three times, checking that the action ran
// before the barrier let it through.
var phase = process.MustRegister("example-phase", func(ctx context.Context, a partyArgs) error {
	a.Barrier.SetAction(phases(a.Phases))
	for i := range uint64(3) {
		if _, err := a.Barrier.Wait(ctx); err != nil {
			return err
		}
		if n := (list{a.Phases}).word(0).Load(); n != i+1 {
			return fmt.Errorf("after phase %d, %d phases counted", i+1, n)
		}
	}
	return nil
})

// Three processes go through three phases in step: none starts a phase
// before all have finished the one before. The action runs once per phase,
// in whichever process arrives last, before the barrier lets anyone go.
func ExampleBarrier() {
	ctx := context.Background()
	seg, err := shm.New(1<<16, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer seg.Close()
	b, err := condvar.NewBarrier(seg, "", 3, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer b.Close()
	counter, err := seg.AllocBytes("phases", 8)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer counter.Close()
	b.SetAction(phases(counter))

	var ps []*process.Process
	for range 2 {
		p, err := process.Start(ctx, phase, partyArgs{Barrier: b, Phases: counter}, nil)
		if err != nil {
			fmt.Println(err)
			return
		}
		ps = append(ps, p)
	}
	for range 3 {
		if _, err := b.Wait(ctx); err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println("phase", list{counter}.word(0).Load(), "done")
	}
	for _, p := range ps {
		if err := p.Join(ctx); err != nil {
			fmt.Println(err)
		}
	}
	// Output:
	// phase 1 done
	// phase 2 done
	// phase 3 done
}
