package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"reflect"
	"strings"

	"github.com/shmkit/shmkit/internal/layout"
	"github.com/shmkit/shmkit/process"
	"github.com/shmkit/shmkit/shm"
)

// The demo repeats the first examples of Python's multiprocessing docs
// with child processes that share one anonymous segment: a Value and an
// Array changed by a child, then work farmed out to workers that write
// their results, and a report each, into shared memory.

type demoArgs struct {
	Seg     *shm.Segment
	Worker  int
	Workers int
}

const reportSize = 128

// demoShare sets num and negates arr, as Python's "Sharing state" example.
var demoShare = process.MustRegister("shmkit-demo-share", func(ctx context.Context, a demoArgs) error {
	num, err := demoSlice[float64](a.Seg, "num")
	if err != nil {
		return err
	}
	arr, err := demoSlice[int64](a.Seg, "arr")
	if err != nil {
		return err
	}
	num[0] = math.Pi
	for i := range arr {
		arr[i] = -arr[i]
	}
	return nil
})

// demoSquare squares its share of the items and reports what it did.
var demoSquare = process.MustRegister("shmkit-demo-square", func(ctx context.Context, a demoArgs) error {
	items, err := demoSlice[int64](a.Seg, "squares")
	if err != nil {
		return err
	}
	counter, err := demoCounter(a.Seg)
	if err != nil {
		return err
	}
	reports, err := demoSlice[byte](a.Seg, "reports")
	if err != nil {
		return err
	}
	lo, hi := a.Worker*len(items)/a.Workers, (a.Worker+1)*len(items)/a.Workers
	for i := lo; i < hi; i++ {
		items[i] = int64(i) * int64(i)
		counter.Add(1)
	}
	msg := fmt.Sprintf("%s squared items %d..%d", process.CurrentName(), lo, hi-1)
	copy(reports[a.Worker*reportSize:(a.Worker+1)*reportSize], msg)
	return nil
})

// demoSlice looks up the named object and views its payload as []T. The
// slice is valid while the segment is open.
func demoSlice[T any](seg *shm.Segment, name string) ([]T, error) {
	o, err := seg.Lookup(name, shm.KindBytes)
	if err != nil {
		return nil, err
	}
	defer o.Close() // the segment keeps the memory mapped
	n := uint64(o.Size()) / uint64(reflect.TypeFor[T]().Size())
	return layout.UnsafeSlice[T](o.Payload(), 0, n)
}

func demoCounter(seg *shm.Segment) (interface{ Add(uint64) uint64 }, error) {
	o, err := seg.Lookup("counter", shm.KindBytes)
	if err != nil {
		return nil, err
	}
	defer o.Close()
	return o.Payload().Uint64(0)
}

func demo(args []string, w io.Writer) error {
	fs := newFlags("demo")
	workers := fs.Int("workers", 4, "number of worker processes")
	n := fs.Int("n", 100, "number of items to square")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *workers < 1 || *workers > 64 || *n < *workers || *n > 1<<20 {
		return fmt.Errorf("%w: want 1 <= workers <= 64 and workers <= n <= %d", errUsage, 1<<20)
	}
	ctx := context.Background()
	size := 1<<16 + *n*8 + *workers*reportSize
	seg, err := shm.New(size, nil)
	if err != nil {
		return err
	}
	defer seg.Close()
	for _, o := range []struct {
		name string
		size int
	}{{"num", 8}, {"arr", 80}, {"squares", *n * 8}, {"counter", 8}, {"reports", *workers * reportSize}} {
		obj, err := seg.AllocBytes(o.name, o.size)
		if err != nil {
			return err
		}
		obj.Close()
	}
	fmt.Fprintf(w, "shmkit demo: child processes share one anonymous segment of %d bytes\n\n", seg.Size())

	fmt.Fprintln(w, "Sharing state (Python's Value and Array example):")
	arr, err := demoSlice[int64](seg, "arr")
	if err != nil {
		return err
	}
	for i := range arr {
		arr[i] = int64(i)
	}
	p, err := process.Start(ctx, demoShare, demoArgs{Seg: seg}, nil)
	if err != nil {
		return err
	}
	if err := p.Join(ctx); err != nil {
		return err
	}
	num, err := demoSlice[float64](seg, "num")
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "  %s set num and negated arr; the parent reads them from shared memory:\n", p.Name())
	fmt.Fprintf(w, "  num = %.7f\n  arr = %v\n\n", num[0], arr)

	fmt.Fprintf(w, "Farming out work (Python's Pool.map example) to %d worker processes:\n", *workers)
	procs := make([]*process.Process, *workers)
	for i := range procs {
		if procs[i], err = process.Start(ctx, demoSquare, demoArgs{Seg: seg, Worker: i, Workers: *workers}, nil); err != nil {
			return err
		}
	}
	for _, p := range procs {
		if err := p.Join(ctx); err != nil {
			return err
		}
	}
	reports, err := demoSlice[byte](seg, "reports")
	if err != nil {
		return err
	}
	for i := range procs {
		fmt.Fprintf(w, "  %s\n", strings.TrimRight(string(reports[i*reportSize:(i+1)*reportSize]), "\x00"))
	}
	squares, err := demoSlice[int64](seg, "squares")
	if err != nil {
		return err
	}
	var sum int64
	for _, v := range squares {
		sum += v
	}
	m := int64(*n)
	counter, err := demoCounter(seg)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "  squares[:10] = %v\n", squares[:min(10, len(squares))])
	fmt.Fprintf(w, "  sum of squares = %d (expected %d)\n", sum, (m-1)*m*(2*m-1)/6)
	fmt.Fprintf(w, "  shared counter, bumped atomically by every worker = %d\n", counter.Add(0))
	return nil
}
