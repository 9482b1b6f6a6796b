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

// VersusEach is Versus for operations whose times fall into modes far
// apart, where the median of a call's mean time says only which mode ruled
// that call: a sleeping round trip on a virtual machine takes a few µs
// while the partner's core is awake and tens when the hypervisor must wake
// it, and a call of hundreds of round trips lands on either side of the
// line by how many of each it met. ours and base call lap at the end of
// every operation (the first counts from the start of the call), and it
// reports over all operations of each side: "ns/op" and "base-ns/op" the
// medians, "p90-ns/op" and "base-p90-ns/op" the 90th percentiles, and
// "x-base" the ratio of the medians. What a call does after its last lap
// is not timed.
func VersusEach(b *testing.B, ours, base func(lap func()) error) {
	b.Helper()
	var o, p []time.Duration
	var t time.Time
	lapInto := func(d *[]time.Duration) func() {
		return func() {
			now := time.Now()
			*d = append(*d, now.Sub(t))
			t = now
		}
	}
	lapO, lapP := lapInto(&o), lapInto(&p)
	b.ResetTimer()
	for n := range b.N {
		t = time.Now()
		if err := base(lapP); err != nil {
			b.Fatalf("baseline: %v", err)
		}
		t = time.Now()
		if err := ours(lapO); err != nil {
			b.Fatalf("shmkit: %v", err)
		}
		if n == 0 {
			// Room for the rest, so that no append copies (or makes
			// garbage) between two laps.
			o = slices.Grow(o, len(o)*(b.N-1))
			p = slices.Grow(p, len(p)*(b.N-1))
		}
	}
	b.StopTimer()
	if len(o) == 0 || len(p) == 0 {
		b.Fatalf("VersusEach: %d operations of ours and %d of the baseline were timed", len(o), len(p))
	}
	slices.Sort(o)
	slices.Sort(p)
	q := func(d []time.Duration, f float64) float64 { return float64(d[int(f*float64(len(d)-1))].Nanoseconds()) }
	b.ReportMetric(q(o, .5), "ns/op")
	b.ReportMetric(q(p, .5), "base-ns/op")
	b.ReportMetric(q(o, .9), "p90-ns/op")
	b.ReportMetric(q(p, .9), "base-p90-ns/op")
	if q(p, .5) > 0 {
		b.ReportMetric(q(o, .5)/q(p, .5), "x-base")
	}
}
