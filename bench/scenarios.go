package bench

import (
	"context"
	"fmt"
	"runtime"
	"time"
)

var (
	_ = RegisterScenario(Scenario{
		Name:    "pingpong",
		Title:   "ping-pong round trip, by payload",
		About:   "a message to another process and back, one at a time; percentiles of the round trip",
		Unit:    "latency",
		Default: true,
		Run:     runPingPong,
		Python:  "pingpong",
	})
	_ = RegisterScenario(Scenario{
		Name:    "stream",
		Title:   "streaming throughput, by payload and batch",
		About:   "messages one way as fast as the receiver takes them; a batch of k sends k messages as one transfer",
		Unit:    "throughput",
		Default: true,
		Run:     runStream,
		Python:  "stream",
	})
	_ = RegisterScenario(Scenario{
		Name:    "nxm",
		Title:   "N producers × M consumers",
		About:   "N producer processes and M consumer processes on one link",
		Unit:    "throughput",
		Default: true,
		Run:     runNxM,
		Python:  "nxm",
	})
	_ = RegisterScenario(Scenario{
		Name:    "wakeup",
		Title:   "wake-up of a sleeping waiter",
		About:   "the partner idles before each message, so the waiter has gone to sleep; one-way latency from send to wake",
		Unit:    "latency",
		Default: true,
		Run:     runWakeup,
		Python:  "wakeup",
	})
	_ = RegisterScenario(Scenario{
		Name:    "lock",
		Title:   "contended lock",
		About:   "processes take and release one lock as fast as they can, incrementing a shared counter under it",
		Unit:    "rate",
		Default: true,
		Run:     runLock,
		Python:  "lock",
	})
)

// probe runs the cross-core probe: a spin ping-pong on one shared word with
// a child process for r.Probe.
func (r *Runner) probe() Probe {
	t, _ := transportNamed("floor spin")
	s, err := r.open(t, LinkOptions{MaxMsg: minMsg}, false)
	if err == nil {
		err = s.start("probe", 1, partnerArgs{})
	}
	if err == nil {
		err = s.ready()
	}
	if err != nil {
		return Probe{Err: rowErr(s.close(err))}
	}
	h := newHist()
	w := s.c.probe
	err = pinned(r.cpuOf(-1), func() error {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		end := time.Now().Add(r.Probe)
		for i := uint32(0); ; i++ {
			t0 := time.Now()
			w.Store(2*i + 1)
			for j := 0; w.Load() != 2*i+2; j++ {
				if j&1023 == 1023 && s.ctx.Err() != nil {
					return s.ctx.Err()
				}
			}
			t1 := time.Now()
			h.RecordValue(max(1, t1.Sub(t0).Nanoseconds()))
			if t1.After(end) && i >= 10 {
				return nil
			}
		}
	})
	w.Store(^uint32(0))
	if err := s.close(err); err != nil {
		return Probe{Err: rowErr(err)}
	}
	return Probe{P50ns: float64(h.ValueAtQuantile(50)), P99ns: float64(h.ValueAtQuantile(99))}
}

// probePartner answers the probe: odd values with the next even one, until
// the parent stores all ones.
func probePartner(ctx context.Context, c ctlWords) error {
	runtime.LockOSThread()
	bump(c.ready)
	w := c.probe
	for j := 0; ; j++ {
		v := w.Load()
		if v == ^uint32(0) {
			return nil
		}
		if v&1 == 1 {
			w.Store(v + 1)
		}
		if j&1023 == 1023 && ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// each calls fn for every selected message transport of scenario that
// carries messages of n bytes.
func (r *Runner) each(scenario string, n int, fn func(t *Transport)) {
	for _, t := range Transports() {
		if t.Open == nil || !r.Selected(&t, scenario) || (t.MaxMsg > 0 && n > t.MaxMsg) {
			continue
		}
		if r.ctx.Err() != nil {
			return
		}
		fn(&t)
	}
}

// row runs one measurement: it opens a session, starts the partners with
// start, runs measure, and turns a failure into the row's Err.
func (r *Runner) row(sr *ScenarioReport, t *Transport, row *Row, opts LinkOptions, lock bool,
	start func(s *session) error, measure func(s *session) error) {
	row.Transport, row.Group = t.Name, t.Group
	r.progress(fmt.Sprintf("%-18s %s", t.Name, sizeLabel(row.Size)))
	sr.Rows = append(sr.Rows, row)
	s, err := r.open(t, opts, lock)
	if err == nil {
		err = start(s)
	}
	if err == nil {
		err = pinned(r.cpuOf(-1), func() error { return measure(s) })
	}
	if err = s.close(err); err != nil {
		*row = Row{Transport: row.Transport, Group: row.Group, Size: row.Size, Batch: row.Batch, Procs: row.Procs, Err: rowErr(err)}
	}
}

func runPingPong(r *Runner, sr *ScenarioReport) error {
	for _, n := range r.Sizes {
		r.each("pingpong", n, func(t *Transport) {
			row := &Row{Size: n}
			r.row(sr, t, row, LinkOptions{MaxMsg: n}, false,
				func(s *session) error { return s.start("echo", 1, partnerArgs{Size: n}) },
				func(s *session) error {
					c, err := s.here()
					if err != nil {
						return err
					}
					return pingPong(s, c, n, row)
				})
		})
	}
	return nil
}

// warmRounds is the least number of round trips a ping-pong row makes
// before it measures: two laps of a ring that holds four of the largest
// messages (see ringCapacity), for each direction.
const warmRounds = 16

func pingPong(s *session, c Conn, n int, row *Row) error {
	w := writer{size: n}
	var rd reader
	h := newHist()
	// Warm-up: a tenth of the row's time, and at least warmRounds round
	// trips, so that the largest messages have been through every page of
	// the rings (a first lap costs page faults: milliseconds a MiB).
	warm := time.Now().Add(s.r.Duration / 10)
	end := warm.Add(s.r.Duration)
	start := time.Now()
	for seq := uint64(0); ; seq++ {
		t0 := time.Now()
		if err := w.send(c, n, seq); err != nil {
			return err
		}
		if err := rd.recv(c, n); err != nil {
			return err
		}
		t1 := time.Now()
		if rd.seq != seq {
			return fmt.Errorf("bench: sent %d, got back %d", seq, rd.seq)
		}
		if seq == warmRounds && t1.After(warm) {
			end = t1.Add(s.r.Duration) // the warm-up ran long: measure a whole row after it
		}
		if seq >= warmRounds && t1.After(warm) {
			h.RecordValue(max(1, t1.Sub(t0).Nanoseconds()))
		}
		if t1.After(end) && h.TotalCount() >= 5 {
			break
		}
	}
	row.Seconds = time.Since(start).Seconds()
	latencyRow(row, h)
	return w.send(c, n, stopSeq)
}

func runStream(r *Runner, sr *ScenarioReport) error {
	for _, n := range r.StreamSizes {
		for _, b := range r.Batches {
			if b > 1 && n*b > 1<<20 {
				continue
			}
			r.each("stream", n*b, func(t *Transport) {
				row := &Row{Size: n, Batch: b}
				r.row(sr, t, row, LinkOptions{MaxMsg: n * b}, false,
					func(s *session) error { return s.start("sink", 1, partnerArgs{Size: n, Batch: b}) },
					func(s *session) error {
						c, err := s.here()
						if err != nil {
							return err
						}
						return stream(s, c, n, b, row)
					})
			})
		}
	}
	return nil
}

func stream(s *session, c Conn, n, b int, row *Row) error {
	w := writer{size: n}
	var rd reader
	m := n * b
	start := time.Now()
	end := start.Add(s.r.Duration)
	var seq uint64
	for i := 0; ; i++ {
		if err := w.send(c, m, seq); err != nil {
			return err
		}
		seq += uint64(b)
		if i&15 == 15 && time.Now().After(end) {
			break
		}
	}
	if err := w.send(c, m, stopSeq); err != nil {
		return err
	}
	if err := rd.recv(c, m); err != nil {
		return err
	}
	secs := time.Since(start).Seconds()
	if rd.seq != seq {
		return fmt.Errorf("bench: sent %d messages, the receiver counted %d", seq, rd.seq)
	}
	row.Count, row.Seconds = int64(seq), secs
	row.PerSec = float64(seq) / secs
	row.BytesPerSec = float64(seq) * float64(n) / secs
	return nil
}

func runNxM(r *Runner, sr *ScenarioReport) error {
	n, np, nc := r.MultiSize, r.Producers, r.Consumers
	procs := fmt.Sprintf("%d×%d", np, nc)
	for _, t := range Transports() {
		if t.Open == nil || !t.Multi || !r.Selected(&t, "nxm") || r.ctx.Err() != nil {
			continue
		}
		row := &Row{Size: n, Procs: procs}
		r.row(sr, &t, row, LinkOptions{MaxMsg: n, Multi: true}, false,
			func(s *session) error {
				for range np {
					if err := s.start("produce", 0, partnerArgs{Size: n}); err != nil {
						return err
					}
				}
				for range nc {
					if err := s.start("consume", 1, partnerArgs{Size: n}); err != nil {
						return err
					}
				}
				return nil
			},
			func(s *session) error {
				c, err := s.here()
				if err != nil {
					return err
				}
				t0 := time.Now()
				s.c.gate.Store(1)
				wakeAll(s.c.gate)
				time.Sleep(s.r.Duration)
				s.c.stop.Store(1)
				if err := s.waitFor(s.c.pdone, uint32(np)); err != nil {
					return err
				}
				w := writer{size: n}
				for range nc {
					if err := w.send(c, n, stopSeq); err != nil {
						return err
					}
				}
				if err := s.waitFor(s.c.cdone, uint32(nc)); err != nil {
					return err
				}
				secs := time.Since(t0).Seconds()
				sent, got := s.c.sent.Load(), s.c.received.Load()
				if sent != got {
					return fmt.Errorf("bench: producers sent %d, consumers received %d", sent, got)
				}
				row.Count, row.Seconds = int64(sent), secs
				row.PerSec = float64(sent) / secs
				row.BytesPerSec = float64(sent) * float64(n) / secs
				return nil
			})
	}
	return nil
}

const wakeSize = 64

func runWakeup(r *Runner, sr *ScenarioReport) error {
	const warm = 3
	r.each("wakeup", wakeSize, func(t *Transport) {
		row := &Row{Size: wakeSize}
		r.row(sr, t, row, LinkOptions{MaxMsg: wakeSize}, false,
			func(s *session) error {
				return s.start("source", 1, partnerArgs{Size: wakeSize, Count: warm + r.WakeSamples, Idle: r.WakeIdle})
			},
			func(s *session) error {
				c, err := s.here()
				if err != nil {
					return err
				}
				h := newHist()
				var rd reader
				start := time.Now()
				for i := range warm + r.WakeSamples {
					if err := rd.recv(c, wakeSize); err != nil {
						return err
					}
					lat := time.Now().UnixNano() - rd.ts
					if rd.seq != uint64(i) {
						return fmt.Errorf("bench: wake-up %d arrived as %d", i, rd.seq)
					}
					if i >= warm {
						h.RecordValue(max(1, lat))
					}
				}
				row.Seconds = time.Since(start).Seconds()
				latencyRow(row, h)
				return nil
			})
	})
	return nil
}

func runLock(r *Runner, sr *ScenarioReport) error {
	np := r.Lockers
	for _, t := range Transports() {
		if t.OpenLock == nil || !r.Selected(&t, "lock") || r.ctx.Err() != nil {
			continue
		}
		row := &Row{Procs: fmt.Sprint(np)}
		r.row(sr, &t, row, LinkOptions{}, true,
			func(s *session) error {
				for range np {
					if err := s.start("lock", 1, partnerArgs{}); err != nil {
						return err
					}
				}
				return s.ready()
			},
			func(s *session) error {
				t0 := time.Now()
				s.c.gate.Store(1)
				wakeAll(s.c.gate)
				time.Sleep(s.r.Duration)
				s.c.stop.Store(1)
				if err := s.waitFor(s.c.pdone, uint32(np)); err != nil {
					return err
				}
				secs := time.Since(t0).Seconds()
				ops, count := s.c.sent.Load(), s.c.counter.Load()
				if ops != count {
					return fmt.Errorf("bench: %d lock operations, the guarded counter says %d", ops, count)
				}
				row.Count, row.Seconds = int64(ops), secs
				row.PerSec = float64(ops) / secs
				return nil
			})
	}
	return nil
}
