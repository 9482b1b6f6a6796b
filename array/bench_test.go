package array_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"testing"
	"time"

	"github.com/shmkit/shmkit/array"
	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/process"
	"github.com/shmkit/shmkit/value"
)

func nothing() error { return nil }

func sum(s []float64) float64 {
	var t float64
	for _, x := range s {
		t += x
	}
	return t
}

// BenchmarkSum: summing 1 000 000 float64s of a shared array in place,
// beside the same sum over a slice of this process's memory.
func BenchmarkSum(b *testing.B) {
	const n = 1_000_000
	arr, err := array.New[float64](anon(b), "", n, &array.Options{Raw: true})
	must(b, err)
	local := make([]float64, n)
	for i := range local {
		local[i] = float64(i)
		arr.UnsafeSlice()[i] = float64(i)
	}
	var sink float64
	b.Logf("sum of %d float64: shared array (UnsafeSlice) vs local slice, per element", n)
	shmtest.Versus(b, n, func() error {
		sink += sum(arr.UnsafeSlice())
		return nil
	}, func() error {
		sink += sum(local)
		return nil
	})
	if sink == 0 {
		b.Fatal("no sum")
	}
}

// The partner of BenchmarkHandOver: on each command it sums the array in
// place (mode 1) or reads and decodes the floats from its stdin (mode 2),
// and posts the sum.
type handArgs struct {
	Arr   *array.Of[float64]
	Cmd   *value.Of[int64] // command sequence number × 4 + mode
	Done  *value.Of[int64] // last command done
	Sum   *value.Of[float64]
	Bytes int
}

var handPartner = process.MustRegister("array-bench-hand", func(ctx context.Context, a handArgs) error {
	buf := make([]byte, a.Bytes)
	var seen int64
	for {
		c, _ := value.AtomicLoad(a.Cmd)
		if c == seen {
			time.Sleep(20 * time.Microsecond)
			continue
		}
		seen = c
		var s float64
		switch c % 4 {
		case 0:
			return nil
		case 1:
			s = sum(a.Arr.UnsafeSlice())
		case 2:
			if _, err := io.ReadFull(os.Stdin, buf); err != nil {
				return err
			}
			local := make([]float64, len(buf)/8)
			for i := range local {
				local[i] = math.Float64frombits(binary.LittleEndian.Uint64(buf[8*i:]))
			}
			s = sum(local)
		}
		*a.Sum.UnsafePointer() = s
		value.AtomicStore(a.Done, c)
	}
})

// BenchmarkHandOver: getting 8 MB of float64s from this process to a
// running child that sums them: copied into a shared array that the child
// reads in place, beside encoded and written through an os.Pipe to the
// child's stdin.
func BenchmarkHandOver(b *testing.B) {
	const n = 1 << 20 // 8 MiB of float64
	seg := anon(b)
	arr, err := array.New[float64](seg, "", n, &array.Options{Raw: true})
	must(b, err)
	words := func(x int64) *value.Of[int64] {
		v, err := value.New(seg, "", x, &value.Options{Raw: true})
		must(b, err)
		return v
	}
	a := handArgs{Arr: arr, Cmd: words(0), Done: words(0), Bytes: 8 * n}
	a.Sum, err = value.New(seg, "", 0.0, &value.Options{Raw: true})
	must(b, err)
	r, w, err := os.Pipe()
	must(b, err)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	p, err := process.Start(ctx, handPartner, a, &process.Options{Stdin: r})
	r.Close()
	must(b, err)
	b.Cleanup(func() {
		value.AtomicStore(a.Cmd, 4*(1<<40)) // mode 0: exit
		w.Close()
		if err := p.Join(ctx); err != nil {
			b.Error(err)
		}
		cancel()
	})
	data := make([]float64, n)
	for i := range data {
		data[i] = float64(i)
	}
	want := sum(data)
	var seq int64
	// run hands the data over: prepare runs before the child is told,
	// send after (a pipe must be read while it is written).
	run := func(mode int64, prepare, send func() error) error {
		seq++
		c := seq*4 + mode
		if err := prepare(); err != nil {
			return err
		}
		value.AtomicStore(a.Cmd, c)
		if err := send(); err != nil {
			return err
		}
		for d, _ := value.AtomicLoad(a.Done); d != c; d, _ = value.AtomicLoad(a.Done) {
			if !p.IsAlive() {
				return fmt.Errorf("partner died: %v", p.Join(ctx))
			}
		}
		if s := *a.Sum.UnsafePointer(); s != want {
			return fmt.Errorf("child summed %v, want %v", s, want)
		}
		return nil
	}
	buf := make([]byte, 8*n)
	b.Logf("8 MiB of float64 to a running child that sums it: copy into a shared array vs encode + os.Pipe, per handover")
	shmtest.Versus(b, 1, func() error {
		return run(1, func() error { copy(arr.UnsafeSlice(), data); return nil }, nothing)
	}, func() error {
		return run(2, nothing, func() error {
			for i, x := range data {
				binary.LittleEndian.PutUint64(buf[8*i:], math.Float64bits(x))
			}
			_, err := w.Write(buf)
			return err
		})
	})
}
