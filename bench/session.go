package bench

// A session is one row's processes: the parent's end of a link, the partners
// (child processes started with process.Start, or goroutines for in-process
// transports), and a control object they share:
//
//	offset 0     gate     uint32  0 until the parent lets the partners start
//	offset 128   stop     uint32  1 once the parent wants producers to stop
//	offset 256   sent     uint64  messages (or lock operations) partners report
//	offset 384   received uint64  messages consumers report
//	offset 512   pdone    uint32  producers (lockers) finished
//	offset 640   cdone    uint32  consumers finished
//	offset 768   ready    uint32  partners that have opened their end
//	offset 896   counter  uint64  the count the lock scenario guards
//	offset 1024  probe    uint32  the probe's ping-pong word
//
// Every word is written with sync/atomic; the partners' reports (sent,
// received) are added before the done counters, which the parent loads
// after, so the parent sees them whole.

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shmkit/shmkit/internal/futex"
	"github.com/shmkit/shmkit/internal/sys"
	"github.com/shmkit/shmkit/process"
	"github.com/shmkit/shmkit/shm"
)

const ctlBytes = 1152

type ctlWords struct {
	gate, stop, pdone, cdone, ready, probe *atomic.Uint32
	sent, received, counter                *atomic.Uint64
}

func ctlOf(o *shm.Object) (ctlWords, error) {
	var c ctlWords
	v := o.Payload()
	var err error
	for _, w := range []struct {
		p   **atomic.Uint32
		off uint64
	}{{&c.gate, 0}, {&c.stop, 128}, {&c.pdone, 512}, {&c.cdone, 640}, {&c.ready, 768}, {&c.probe, 1024}} {
		if *w.p, err = v.Uint32(w.off); err != nil {
			return c, fmt.Errorf("bench: control words: %w", err)
		}
	}
	for _, w := range []struct {
		p   **atomic.Uint64
		off uint64
	}{{&c.sent, 256}, {&c.received, 384}, {&c.counter, 896}} {
		if *w.p, err = v.Uint64(w.off); err != nil {
			return c, fmt.Errorf("bench: control words: %w", err)
		}
	}
	return c, nil
}

// waitWord waits until cond holds of w, sleeping on it between looks.
func waitWord(ctx context.Context, w *atomic.Uint32, cond func(uint32) bool) error {
	for {
		v := w.Load()
		if cond(v) {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if futex.Supported {
			futex.Wait(w, v, time.Now().Add(time.Millisecond))
		} else {
			time.Sleep(50 * time.Microsecond)
		}
	}
}

// bump adds one to w and wakes whoever waits on it.
func bump(w *atomic.Uint32) {
	w.Add(1)
	futex.Wake(w, 1<<30)
}

// pin binds the calling goroutine's thread to cpu, unless cpu < 0. The
// goroutine stays locked to the thread for good, so the thread ends with it
// and its binding never reaches another goroutine.
func pin(cpu int) error {
	if cpu < 0 {
		return nil
	}
	runtime.LockOSThread()
	if err := sys.SchedSetaffinity(cpu); err != nil {
		return fmt.Errorf("bench: pin to CPU %d: %w", cpu, err)
	}
	return nil
}

// pinned runs fn bound to cpu (see pin), on a goroutine of its own when
// there is a binding to make.
func pinned(cpu int, fn func() error) error {
	if cpu < 0 {
		return fn()
	}
	errc := make(chan error, 1)
	go func() {
		if err := pin(cpu); err != nil {
			errc <- err
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// cpuOf is where the run places this process (k < 0) or its k-th partner.
func (r *Runner) cpuOf(k int) int {
	switch r.Pin {
	case "same":
		return 0
	case "split":
		if k < 0 {
			return 0
		}
		return (1 + k) % max(1, runtime.NumCPU())
	}
	return -1
}

// wakeAll wakes every waiter on w.
func wakeAll(w *atomic.Uint32) { futex.Wake(w, 1<<30) }

// partnerArgs is what a partner is told.
type partnerArgs struct {
	Transport   string
	Role        string
	Side        int
	Link        LinkArgs
	Opts        LinkOptions
	Ctl         *shm.Object
	Size, Batch int
	Count       int
	Idle        time.Duration
	CPU         int // the CPU to bind the partner's thread to; -1 for none
}

var partner = process.MustRegister("shmkit-bench-partner", func(ctx context.Context, a partnerArgs) error {
	t, ok := transportNamed(a.Transport)
	if !ok {
		return fmt.Errorf("bench: no transport %q here", a.Transport)
	}
	c, err := ctlOf(a.Ctl)
	if err != nil {
		return err
	}
	if err := pin(a.CPU); err != nil {
		return err
	}
	if a.Role == "probe" {
		return probePartner(ctx, c)
	}
	if a.Role == "lock" {
		lk, err := t.DialLock(ctx, a.Link, a.Opts)
		if err != nil {
			return err
		}
		defer lk.Close()
		return lockRole(ctx, lk, c)
	}
	conn, err := t.Dial(ctx, a.Link, a.Opts, a.Side)
	if err != nil {
		return err
	}
	defer conn.Close()
	return role(ctx, a, conn, c)
})

// role runs a partner's half of a scenario over conn.
func role(ctx context.Context, a partnerArgs, conn Conn, c ctlWords) error {
	n := a.Size * max(1, a.Batch)
	w := writer{size: a.Size}
	var rd reader
	bump(c.ready)
	switch a.Role {
	case "echo":
		for {
			if err := rd.recv(conn, n); err != nil {
				return err
			}
			if rd.seq == stopSeq {
				return nil
			}
			if err := w.send(conn, n, rd.seq); err != nil {
				return err
			}
		}
	case "sink":
		var got uint64
		for {
			if err := rd.recv(conn, n); err != nil {
				return err
			}
			if rd.seq == stopSeq {
				return w.send(conn, n, got)
			}
			if rd.seq != got {
				return fmt.Errorf("bench: message %d arrived as %d", got, rd.seq)
			}
			got += uint64(max(1, a.Batch))
		}
	case "source":
		w.stamp = true
		for i := range a.Count {
			time.Sleep(a.Idle)
			if err := w.send(conn, n, uint64(i)); err != nil {
				return err
			}
		}
		return nil
	case "produce":
		if err := waitWord(ctx, c.gate, func(v uint32) bool { return v != 0 }); err != nil {
			return err
		}
		// At least one message, however late this producer starts.
		var sent uint64
		for sent == 0 || c.stop.Load() == 0 {
			if err := w.send(conn, n, sent); err != nil {
				return err
			}
			sent++
		}
		c.sent.Add(sent)
		bump(c.pdone)
		return nil
	case "consume":
		var got uint64
		for {
			if err := rd.recv(conn, n); err != nil {
				return err
			}
			if rd.seq == stopSeq {
				c.received.Add(got)
				bump(c.cdone)
				return nil
			}
			got++
		}
	}
	return fmt.Errorf("bench: no role %q", a.Role)
}

// lockRole takes and releases the lock until told to stop, incrementing the
// guarded counter with a load and a store, so a lock that lets two in loses
// counts.
func lockRole(ctx context.Context, lk Locker, c ctlWords) error {
	bump(c.ready)
	if err := waitWord(ctx, c.gate, func(v uint32) bool { return v != 0 }); err != nil {
		return err
	}
	// At least one round, however late this process starts.
	var n uint64
	for n == 0 || c.stop.Load() == 0 {
		for range 16 {
			if err := lk.Lock(ctx); err != nil {
				return err
			}
			c.counter.Store(c.counter.Load() + 1)
			if err := lk.Unlock(); err != nil {
				return err
			}
		}
		n += 16
	}
	c.sent.Add(n)
	bump(c.pdone)
	return nil
}

// session is one row's link, control words and partners.
type session struct {
	r       *Runner
	ctx     context.Context
	cancel  context.CancelFunc
	t       *Transport
	link    *Link
	opts    LinkOptions
	ctlObj  *shm.Object
	c       ctlWords
	procs   []*process.Process
	wg      sync.WaitGroup
	mu      sync.Mutex
	errs    []error
	started int
	conn    Conn
}

// rowTimeout bounds one row: a row that takes this long has hung.
func (r *Runner) rowTimeout() time.Duration {
	return 60*time.Second + 20*r.Duration + time.Duration(r.WakeSamples)*r.WakeIdle*4
}

// open makes a session for t; lock sessions open a lock instead of a link.
func (r *Runner) open(t *Transport, opts LinkOptions, lock bool) (s *session, err error) {
	opts.Spin = r.Spin
	s = &session{r: r, t: t, opts: opts}
	s.ctx, s.cancel = context.WithTimeout(r.ctx, r.rowTimeout())
	defer func() {
		if err != nil {
			s.close(err)
		}
	}()
	seg, err := shm.New(64<<10, nil)
	if err != nil {
		return s, err
	}
	s.ctlObj, err = seg.AllocBytes("", ctlBytes)
	seg.Close()
	if err != nil {
		return s, err
	}
	if s.c, err = ctlOf(s.ctlObj); err != nil {
		return s, err
	}
	if lock {
		s.link, err = t.OpenLock(s.ctx, opts)
	} else {
		s.link, err = t.Open(s.ctx, opts)
	}
	return s, err
}

// start starts one partner in role: a child process, or a goroutine for an
// in-process transport.
func (s *session) start(roleName string, side int, a partnerArgs) error {
	a.Transport, a.Role, a.Side, a.Link, a.Opts, a.Ctl = s.t.Name, roleName, side, s.link.Args, s.opts, s.ctlObj
	a.CPU = s.r.cpuOf(s.started)
	s.started++
	if s.t.InProcess {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			err := pin(a.CPU)
			switch {
			case err != nil:
			case roleName == "lock":
				var lk Locker
				if lk, err = s.link.LocalLock(); err == nil {
					err = lockRole(s.ctx, lk, s.c)
				}
			default:
				var conn Conn
				if conn, err = s.link.Local(side); err == nil {
					err = role(s.ctx, a, conn, s.c)
				}
			}
			if err != nil {
				s.fail(fmt.Errorf("%s partner: %w", roleName, err))
			}
		}()
		return nil
	}
	p, err := process.Start(s.ctx, partner, a, s.link.Proc)
	if err != nil {
		return err
	}
	s.procs = append(s.procs, p)
	go func() {
		// A partner that fails ends the row at once, rather than leaving
		// the parent waiting on it (in an Accept, say) until the timeout.
		<-p.Done()
		if code, ok := p.ExitCode(); ok && code != 0 {
			s.cancel()
		}
	}()
	if s.link.Started != nil {
		s.link.Started()
		s.link.Started = nil
	}
	return nil
}

func (s *session) fail(err error) {
	s.mu.Lock()
	s.errs = append(s.errs, err)
	s.mu.Unlock()
	s.cancel()
}

// here returns the parent's end, once every partner has opened its own.
func (s *session) here() (Conn, error) {
	if s.link.Here == nil {
		return nil, fmt.Errorf("bench: %s has no link", s.t.Name)
	}
	c, err := s.link.Here(s.ctx)
	if err != nil {
		return nil, err
	}
	s.conn = c
	return c, s.ready()
}

// ready waits until every partner has opened its end.
func (s *session) ready() error {
	want := uint32(s.started)
	return s.waitFor(s.c.ready, want)
}

// waitFor waits until w reaches want, or a partner fails.
func (s *session) waitFor(w *atomic.Uint32, want uint32) error {
	err := waitWord(s.ctx, w, func(v uint32) bool { return v >= want || s.partnerGone() })
	if err == nil && w.Load() < want {
		err = errors.New("a partner failed")
	}
	if err != nil {
		return s.explain(err)
	}
	return nil
}

// partnerGone reports whether a partner has failed: exited with an error
// (one that finished its part exits 0) or reported one.
func (s *session) partnerGone() bool {
	for _, p := range s.procs {
		if code, ok := p.ExitCode(); ok && code != 0 {
			return true
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.errs) > 0
}

// explain adds what the partners said to err.
func (s *session) explain(err error) error {
	s.cancel()
	return errors.Join(append([]error{err}, s.join()...)...)
}

// join waits for every partner and returns their errors.
func (s *session) join() []error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var errs []error
	for _, p := range s.procs {
		if err := p.Join(ctx); err != nil {
			p.Kill()
			p.Join(context.Background())
			errs = append(errs, fmt.Errorf("partner %s: %w", p, err))
		}
	}
	s.procs = nil
	s.wg.Wait()
	s.mu.Lock()
	errs = append(errs, s.errs...)
	s.errs = nil
	s.mu.Unlock()
	return errs
}

// close ends the session: after a failure (err != nil) it stops the
// partners first. It returns err joined with what the partners said.
func (s *session) close(err error) error {
	if err != nil {
		s.cancel()
	}
	errs := append([]error{err}, s.join()...)
	if s.conn != nil {
		errs = append(errs, s.conn.Close())
	}
	if s.link != nil && s.link.Close != nil {
		errs = append(errs, s.link.Close())
	}
	if s.ctlObj != nil {
		errs = append(errs, s.ctlObj.Close())
	}
	s.cancel()
	return errors.Join(errs...)
}

// rowErr is what a row says of err.
func rowErr(err error) string {
	if errors.Is(err, errors.ErrUnsupported) {
		return "unsupported here"
	}
	return err.Error()
}
