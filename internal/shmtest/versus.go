package shmtest

import (
	"slices"
	"testing"
	"time"
)

// Versus runs ours and base alternately, b.N times each, timing every
// call, and reports the median time of each per operation (a call does
// perCall operations) and their ratio: "ns/op" is ours, "base-ns/op" the
// baseline's, "x-base" ours over the baseline.
// Alternating, rather than running one after the other, keeps a move of
// the machine's cores from landing on one side only. A call that fails
// fails the benchmark.
func Versus(b *testing.B, perCall int, ours, base func() error) {
	b.Helper()
	o := make([]time.Duration, 0, b.N)
	p := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		if err := base(); err != nil {
			b.Fatalf("baseline: %v", err)
		}
		t1 := time.Now()
		if err := ours(); err != nil {
			b.Fatalf("shmkit: %v", err)
		}
		t2 := time.Now()
		p = append(p, t1.Sub(t0))
		o = append(o, t2.Sub(t1))
	}
	b.StopTimer()
	mo, mp := median(o), median(p)
	b.ReportMetric(float64(mo.Nanoseconds())/float64(perCall), "ns/op")
	b.ReportMetric(float64(mp.Nanoseconds())/float64(perCall), "base-ns/op")
	if mp > 0 {
		b.ReportMetric(float64(mo)/float64(mp), "x-base")
	}
}

func median(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	return d[len(d)/2]
}
