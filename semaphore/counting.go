package semaphore

// Payload of a Counting or Bounded semaphore:
//
//	off       size  field
//	0         4     count     units available now
//	4         4     sleepers  processes' goroutines asleep or about to sleep on count
//	8         4     bound     Bounded: the initial value, which count never passes; Counting: 0
//	12        52    reserved, zero
//	64        8×S   holdings  Bounded only, one word per slot of the segment's process
//	                          table (S slots): generation<<32 | units held
//
// count is the futex word. A waiter adds itself to sleepers, then sleeps
// only while count is 0 (the futex checks that atomically with sleeping);
// a release adds to count, then wakes one if sleepers is not 0. Since both
// sides write their own word before they read the other's (sequentially
// consistent atomics), either the waiter sees the new count or the
// releaser sees the sleeper: no lost wake-up. A waiter that dies asleep
// leaves sleepers too high, which costs later releases a needless wake
// system call and nothing else.
//
// holdings[s] counts the units that the attachment in slot s, of the
// generation stored beside them, took and did not give back. Only that
// attachment raises it; anyone may lower it (a release by a process that
// holds nothing lowers some holder's count), and a waiter that finds count
// at 0 after a poll interval gives back the units of every dead holder
// with one compare-and-swap of its word, then adds them to count without
// passing bound.

import (
	"context"
	"fmt"
	"math"
	"sync/atomic"
	"time"

	"github.com/shmkit/shmkit/internal/layout"
	"github.com/shmkit/shmkit/internal/liveness"
	"github.com/shmkit/shmkit/internal/wait"
	"github.com/shmkit/shmkit/shm"
)

// MaxValue is the largest value of a semaphore (Python's SEM_VALUE_MAX).
const MaxValue = math.MaxInt32

const (
	semHeader   = 64
	offCountW   = 0
	offSleepers = 4
	offBound    = 8
)

// sem is the algorithm Counting and Bounded share.
type sem struct {
	base
	count    *atomic.Uint32
	sleepers *atomic.Uint32
	bound    uint32 // 0 for Counting
	holdings []*atomic.Uint64
	closed   atomic.Bool
}

// Counting is a counting semaphore in shared memory: Python's
// multiprocessing.Semaphore. Acquire takes a unit, waiting while there is
// none; Release gives one back, without any bound.
//
// Make one with NewCounting, or open one with OpenCounting or
// OpenCountingHandle; it travels to child processes as Lock does. It must
// not be copied. Its methods may be called from any goroutine of any
// process that has it open. A Release synchronizes before the Acquire that
// takes its unit.
//
// Units taken by a process that dies are lost, as in Python: a unit taken
// in one process is often given back by another, so there is no owner to
// give it back for. Use Bounded when units are held and returned by the
// same process.
type Counting struct {
	_ noCopy
	sem
}

// Bounded is a bounded semaphore in shared memory: Python's
// multiprocessing.BoundedSemaphore. Its value never passes its initial
// value: a Release that would returns ErrReleased.
//
// It is made, opened, shared and synchronized like Counting. Unlike
// Counting, it records how many units each process holds, and a waiter that
// finds no unit gives back those of dead processes (see the package doc).
type Bounded struct {
	_ noCopy
	sem
}

func checkValue(value int) error {
	if value < 0 || value > MaxValue {
		return fmt.Errorf("%w: initial value %d, want 0 to %d", ErrValue, value, MaxValue)
	}
	return nil
}

func semInit(value int, bounded bool) func(layout.View) error {
	return func(p layout.View) error {
		c, err := p.Uint32(offCountW)
		if err != nil {
			return err
		}
		c.Store(uint32(value))
		if bounded {
			b, err := p.Uint32(offBound)
			if err != nil {
				return err
			}
			b.Store(uint32(value))
		}
		return nil
	}
}

// NewCounting places a new Counting semaphore of value units in seg under
// name ("" for none), or, with a nil seg, in a small anonymous segment of
// its own. value must be 0 to MaxValue.
func NewCounting(seg *shm.Segment, name string, value int, opts *Options) (*Counting, error) {
	if err := checkValue(value); err != nil {
		return nil, err
	}
	b, err := create(seg, name, shm.KindSemaphore, semHeader, semInit(value, false), opts)
	if err != nil {
		return nil, err
	}
	return initSem(&Counting{}, b, false)
}

// OpenCounting opens the Counting semaphore named name in seg.
func OpenCounting(seg *shm.Segment, name string, opts *Options) (*Counting, error) {
	b, err := open(seg, name, shm.KindSemaphore, opts)
	if err != nil {
		return nil, err
	}
	return initSem(&Counting{}, b, false)
}

// OpenCountingHandle opens the Counting semaphore that h names.
func OpenCountingHandle(h shm.Handle, opts *Options) (*Counting, error) {
	b, err := openHandle(h, shm.KindSemaphore, opts)
	if err != nil {
		return nil, err
	}
	return initSem(&Counting{}, b, false)
}

// GobDecode opens the semaphore whose handle GobEncode encoded.
func (s *Counting) GobDecode(data []byte) error {
	b, err := decodeHandle(data, shm.KindSemaphore)
	if err != nil {
		return err
	}
	return s.sem.init(b, false)
}

// NewBounded places a new Bounded semaphore of value units in seg under
// name ("" for none), or, with a nil seg, in a small anonymous segment of
// its own. value must be 0 to MaxValue.
func NewBounded(seg *shm.Segment, name string, value int, opts *Options) (*Bounded, error) {
	if err := checkValue(value); err != nil {
		return nil, err
	}
	size := semHeader
	if seg != nil {
		size += 8 * seg.Slots()
	} else {
		size += 8 * shm.DefaultSlots
	}
	b, err := create(seg, name, shm.KindBoundedSemaphore, size, semInit(value, true), opts)
	if err != nil {
		return nil, err
	}
	return initSem(&Bounded{}, b, true)
}

// OpenBounded opens the Bounded semaphore named name in seg.
func OpenBounded(seg *shm.Segment, name string, opts *Options) (*Bounded, error) {
	b, err := open(seg, name, shm.KindBoundedSemaphore, opts)
	if err != nil {
		return nil, err
	}
	return initSem(&Bounded{}, b, true)
}

// OpenBoundedHandle opens the Bounded semaphore that h names.
func OpenBoundedHandle(h shm.Handle, opts *Options) (*Bounded, error) {
	b, err := openHandle(h, shm.KindBoundedSemaphore, opts)
	if err != nil {
		return nil, err
	}
	return initSem(&Bounded{}, b, true)
}

// GobDecode opens the semaphore whose handle GobEncode encoded.
func (s *Bounded) GobDecode(data []byte) error {
	b, err := decodeHandle(data, shm.KindBoundedSemaphore)
	if err != nil {
		return err
	}
	return s.sem.init(b, true)
}

// initSem wraps b in s, or returns the error and nil.
func initSem[S interface{ init(base, bool) error }](s S, b base, bounded bool) (S, error) {
	if err := s.init(b, bounded); err != nil {
		var zero S
		return zero, err
	}
	return s, nil
}

// Bound is the value a Bounded semaphore never passes: its initial value.
func (s *Bounded) Bound() int { return int(s.bound) }

// init wraps b, checking the payload; on failure it closes b.
func (s *sem) init(b base, bounded bool) (err error) {
	defer func() {
		if err != nil {
			b.close()
		}
	}()
	s.base = b
	if s.count, err = s.word(offCountW); err != nil {
		return err
	}
	if s.sleepers, err = s.word(offSleepers); err != nil {
		return err
	}
	if !bounded {
		return nil
	}
	bw, err := s.word(offBound)
	if err != nil {
		return err
	}
	if s.bound = bw.Load(); s.bound > MaxValue {
		return fmt.Errorf("%w: bound %d", ErrCorrupt, s.bound)
	}
	n := s.obj.Slots()
	s.holdings = make([]*atomic.Uint64, n)
	for i := range n {
		if s.holdings[i], err = s.obj.Payload().Uint64(semHeader + 8*uint64(i)); err != nil {
			return fmt.Errorf("%w: holdings of %d slots: %w", ErrCorrupt, n, err)
		}
	}
	return nil
}

// tryTake takes a unit if there is one.
func (s *sem) tryTake() bool {
	for c := s.count.Load(); c > 0; c = s.count.Load() {
		if s.count.CompareAndSwap(c, c-1) {
			return true
		}
	}
	return false
}

// Acquire takes a unit, waiting while ctx allows. It returns nil with the
// unit, or an error (ctx.Err(), ErrClosed, ErrCorrupt) without one.
func (s *sem) Acquire(ctx context.Context) error {
	if s.closed.Load() {
		return ErrClosed
	}
	self, err := s.holder()
	if err != nil {
		return err
	}
	if !s.tryTake() && !wait.Spin(s.spin, s.tryTake) {
		if err := s.acquireSlow(ctx); err != nil {
			return err
		}
	}
	s.race.Acquire()
	s.hold(self)
	return nil
}

// holder is the token under which a Bounded semaphore records the units
// this process holds; a Counting one records none, and needs no token.
func (s *sem) holder() (shm.Token, error) {
	if s.holdings == nil {
		return 0, nil
	}
	return s.self()
}

func (s *sem) acquireSlow(ctx context.Context) error {
	lastRecovery := time.Now()
	for {
		if err := wait.CtxErr(ctx); err != nil {
			return err
		}
		s.sleepers.Add(1)
		_, err := s.sleep(ctx, s.count, 0)
		s.sleepers.Add(^uint32(0))
		if err != nil {
			return err
		}
		if s.tryTake() {
			return nil
		}
		// Look for the units of dead holders every poll interval, timed
		// out or not: under steady traffic sleepers are woken before
		// their sleeps run out, and recovery must not wait for a lull.
		if s.holdings != nil && time.Since(lastRecovery) >= s.poll {
			lastRecovery = time.Now()
			if err := s.recoverDead(); err != nil {
				return err
			}
		}
	}
}

// TryAcquire takes a unit if there is one now, and reports whether it did.
// A Bounded semaphore with no unit does not look for dead holders here:
// only waiters do.
func (s *sem) TryAcquire() bool {
	if s.closed.Load() {
		return false
	}
	self, err := s.holder()
	if err != nil || !s.tryTake() {
		return false // an observer cannot hold units of a Bounded semaphore
	}
	s.race.Acquire()
	s.hold(self)
	return true
}

// Release gives a unit back, waking one waiter if any sleeps. A Bounded
// semaphore at its bound returns ErrReleased; a value at MaxValue returns
// ErrValue.
//
// A Bounded semaphore lowers the holding first and raises the count second:
// a process killed between the two loses a unit rather than creating one,
// which the other order would (the dead holding would be given back too).
func (s *sem) Release() error {
	if s.closed.Load() {
		return ErrClosed
	}
	if err := s.releaseCheck(s.count.Load()); err != nil {
		return err
	}
	var lowered *atomic.Uint64
	if s.holdings != nil {
		lowered = s.unhold()
	}
	s.race.ReleaseMerge()
	for {
		c := s.count.Load()
		if err := s.releaseCheck(c); err != nil {
			if lowered != nil {
				lowered.Add(1) // put the holding back as it was
			}
			return err
		}
		if s.count.CompareAndSwap(c, c+1) {
			break
		}
	}
	if s.sleepers.Load() > 0 {
		wait.Wake(s.count, 1)
	}
	return nil
}

func (s *sem) releaseCheck(c uint32) error {
	if s.holdings != nil && c >= s.bound {
		return ErrReleased
	}
	if c >= MaxValue {
		return fmt.Errorf("%w: release above %d", ErrValue, MaxValue)
	}
	return nil
}

// Value is the number of units available now.
func (s *sem) Value() int {
	if s.closed.Load() {
		return 0
	}
	return int(s.count.Load())
}

// Close lets go of this process's reference to the semaphore. It gives
// back no unit.
func (s *sem) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return ErrClosed
	}
	return s.close()
}

// hold records a unit taken by self, for a Bounded semaphore.
func (s *sem) hold(self shm.Token) {
	if s.holdings == nil {
		return
	}
	w := s.holdings[self.Slot()]
	for {
		v := w.Load()
		gen, n := uint32(v>>32), uint32(v)
		if gen == self.Gen() {
			if w.CompareAndSwap(v, v+1) {
				return
			}
			continue
		}
		// Left by an earlier attachment in our slot, which is gone.
		if w.CompareAndSwap(v, uint64(self.Gen())<<32|1) {
			if gen != 0 && n > 0 {
				s.giveBack(n)
			}
			return
		}
	}
}

// unhold lowers the holding of this process, or, when it holds nothing,
// of some other holder (a Release need not come from the acquirer), and
// returns the word it lowered, or nil if every holding was zero.
func (s *sem) unhold() *atomic.Uint64 {
	self, _ := s.self()
	if self != 0 {
		own := s.holdings[self.Slot()]
		for v := own.Load(); uint32(v>>32) == self.Gen() && uint32(v) > 0; v = own.Load() {
			if own.CompareAndSwap(v, v-1) {
				return own
			}
		}
	}
	for _, w := range s.holdings {
		for v := w.Load(); uint32(v) > 0; v = w.Load() {
			if w.CompareAndSwap(v, v-1) {
				return w
			}
		}
	}
	return nil
}

// recoverDead gives back the units of holders that are dead.
func (s *sem) recoverDead() error {
	for slot, w := range s.holdings {
		v := w.Load()
		gen, n := uint32(v>>32), uint32(v)
		if n == 0 {
			continue
		}
		// No claim has generation 0 or one past MaxGen: such a word was
		// written by a bug or another program, and its units are nobody's.
		alive := false
		if gen != 0 && gen <= liveness.MaxGen {
			var err error
			if alive, err = s.alive(liveness.MakeToken(slot, gen)); err != nil {
				return err
			}
		}
		if !alive && w.CompareAndSwap(v, uint64(gen)<<32) {
			s.giveBack(n)
		}
	}
	return nil
}

// giveBack adds n units to count without passing the bound, and wakes as
// many sleepers.
func (s *sem) giveBack(n uint32) {
	for {
		c := s.count.Load()
		next := min(uint64(c)+uint64(n), uint64(s.bound))
		if next <= uint64(c) || s.count.CompareAndSwap(c, uint32(next)) {
			break
		}
	}
	if s.sleepers.Load() > 0 {
		wait.Wake(s.count, int(n))
	}
}
