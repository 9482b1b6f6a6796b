package condvar

// Cond and RCond: a condition variable whose waiters are counted per
// process, in shared memory, and queued per process, in Go memory.
//
// Payload of a Cond or RCond (S = the segment's process-table slots,
// B = ⌈S/64⌉):
//
//	off          size  field
//	0            8     lock      offset of the object header of the Lock or
//	                             RLock, in the same segment; written once,
//	                             by the creator
//	8            4     lockKind  2 (Lock: a Cond) or 3 (RLock: an RCond);
//	                             written once, by the creator
//	12           4     cursor    the slot the next Notify looks at first
//	16           48    reserved, zero
//	64           8×B   bitmap    bit s%64 of word s/64: slot s may have waiters
//	64+8B        16×S  records, one per slot s:
//	  +0         8     wait      gen<<32 | waiters of the attachment (slot s,
//	                             generation gen) not yet notified
//	  +8         4     grants    notifications given to that attachment and
//	                             not yet handed to its waiters
//	  +12        4     bell      futex word of that attachment's leader: bits
//	                             0-30 count grants; bit 31 the leader sleeps
//
// All-zero records and bitmap mean nobody waits. With the lock held, a
// record that counts waiters has its bit set: a waiter counts itself in,
// then sets the bit; Notify clears the bit of a record it finds empty, then
// sets it again if the record counts waiters after all (which only misuse
// of the lock, or garbage, can bring about).
//
// Who writes what. wait, bitmap and cursor change only with the
// condition's lock held: a waiter counts itself in its own record before it
// lets the lock go, and out (if it was not notified) after it took the
// lock back; Notify moves counts from wait to grants; a Notify that finds
// a record's attachment dead clears it. grants is raised by Notify, under
// the lock, and emptied (a swap) by the attachment's own waiters, without
// it. bell is bumped by Notify after it raised grants, and slept on by the
// attachment's leader.
//
// In each process (each attachment), the waiters of a condition are a
// FIFO queue in Go memory, shared by every handle of the condition there.
// Only one of them, the leader, sleeps on the bell; the others wait on a
// channel, and hold no OS thread. The leader reads the bell, swaps grants
// to zero, and hands that many notifications to the oldest waiters of the
// queue (itself included); then it sleeps while the bell holds what it
// read. A Notify raises grants before it bumps the bell, so either the
// leader's swap sees the grants or its sleep sees a changed bell: no lost
// wake-up within a process. When the leader is notified, or its context
// ends, it hands the lead to the oldest waiter still waiting.
//
// Between processes: a waiter is counted in its record before it lets the
// lock go, and Notify needs the lock, so a Notify that follows the waiter's
// release of the lock sees it. Notify(n) walks the records from cursor,
// round robin over processes, and gives each record with waiters up to
// what is left of n. Waiters of a process are notified oldest first, so a
// notification given for the waiters counted at the time of a Notify goes
// to one of them, never to a waiter that came later. The invariant, with
// the lock held and no grants in flight: the length of a process's queue
// is wait + grants of its record. A waiter whose context ends takes the
// lock back, hands out the grants in flight, and, if it was not notified
// then, leaves the queue and counts itself out of wait.
//
// Death. A process that dies while its waiters wait takes them with it,
// but its record still counts them, so Notify must not count a
// notification given to it as given. Three proofs of life, cheapest first:
// the record is this process's own; the bell's sleeper bit was set and the
// wake reached someone (Linux says how many it woke, and a dead process has
// no sleepers); or the grants were taken within a few microseconds (only a
// live leader takes them, and an awake one, spinning on its bell, takes
// them at once). Failing all three (a leader that is busy, or dead; or a
// system that does not count wakes), Notify asks the kernel whether the
// record's attachment is alive, a system call; if it is not, Notify clears
// the record and gives its notifications to the next one. So Notify(1)
// with a dead and a live waiter wakes the live one, whatever their order.
// A process that dies after it was woken takes the notification with it:
// it was alive when it was given one. A notifier that dies between raising
// grants and ringing the bell costs the leader at most one Poll: it sleeps
// no longer than that, and hands out the grants it finds when it wakes.
//
// Why not simpler. One counter of "notifications not yet taken" that any
// waiter may take lets a waiter that came after a Notify take the
// notification meant for an earlier one, which then sleeps on: a lost
// wake-up (Python's Condition keeps counts of sleeping and woken waiters
// in semaphores to get around the same problem). One FIFO of tickets
// across processes, granted in order, lets a ticket whose waiter left or
// died swallow a notification, and there is no bounded place to mark
// unbounded departed tickets in. One futex word for all waiters makes a
// Notify(1) wake them all. Counting per process bounds the shared state by
// the process table, and keeps each process's order in its own memory.

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shmkit/shmkit/internal/layout"
	"github.com/shmkit/shmkit/internal/liveness"
	"github.com/shmkit/shmkit/internal/wait"
	"github.com/shmkit/shmkit/semaphore"
	"github.com/shmkit/shmkit/shm"
)

const (
	condHeader  = 64
	offLock     = 0
	offLockKind = 8
	offCursor   = 12
	recordSize  = 16
)

func bitmapWords(slots int) int { return (slots + 63) / 64 }

func condSize(slots int) int { return condHeader + 8*bitmapWords(slots) + recordSize*slots }

// record is one slot's record, see above.
type record struct {
	wait   *atomic.Uint64
	grants *atomic.Uint32
	bell   *atomic.Uint32
}

// waiter is one goroutine in Wait, in its process's queue.
type waiter struct {
	ch      chan struct{} // a nudge: notified, or made leader; buffered
	granted bool          // notified; under local.mu
	leaving bool          // its context ended; under local.mu
}

var waiters = sync.Pool{New: func() any { return &waiter{ch: make(chan struct{}, 1)} }}

func (w *waiter) nudge() {
	select {
	case w.ch <- struct{}{}:
	default:
	}
}

// local is this process's part of a condition, for one attachment: its
// queue of waiters, shared by every handle.
type local struct {
	mu     sync.Mutex
	queue  []*waiter // oldest first; not notified
	leader *waiter   // the one that sleeps on the bell, or nil
	refs   int       // under locals
}

type localKey struct {
	seg, off uint64
	self     shm.Token
}

var locals struct {
	sync.Mutex
	m map[localKey]*local
}

func getLocal(k localKey) *local {
	locals.Lock()
	defer locals.Unlock()
	l := locals.m[k]
	if l == nil {
		if locals.m == nil {
			locals.m = make(map[localKey]*local)
		}
		l = &local{}
		locals.m[k] = l
	}
	l.refs++
	return l
}

func putLocal(k localKey) {
	locals.Lock()
	defer locals.Unlock()
	if l := locals.m[k]; l != nil {
		if l.refs--; l.refs <= 0 {
			delete(locals.m, k)
		}
	}
}

// cond is what Cond and RCond share: the algorithm, on the payload.
type cond struct {
	base
	cursor *atomic.Uint32
	bitmap []*atomic.Uint64
	recs   []record
	key    localKey
	loc    *local
	closed atomic.Bool
}

// lockOf reads the lock a condition's payload names.
func lockOf(b *base) (shm.Handle, error) {
	off, err := b.word64(offLock)
	if err != nil {
		return shm.Handle{}, err
	}
	kind, err := b.word(offLockKind)
	if err != nil {
		return shm.Handle{}, err
	}
	h := b.obj.Handle()
	h.Offset, h.Kind = off.Load(), shm.Kind(kind.Load())
	if h.Kind != shm.KindLock && h.Kind != shm.KindRLock {
		return shm.Handle{}, fmt.Errorf("%w: condition over a %v", ErrCorrupt, h.Kind)
	}
	return h, nil
}

// init wraps b, checking the payload. It does not close b on failure.
func (c *cond) init(b base) error {
	c.base = b
	p := b.obj.Payload()
	n := b.obj.Slots()
	if p.Len() < condSize(n) {
		return fmt.Errorf("%w: condition payload of %d bytes for %d slots", ErrCorrupt, p.Len(), n)
	}
	var err error
	if c.cursor, err = c.word(offCursor); err != nil {
		return err
	}
	c.bitmap = make([]*atomic.Uint64, bitmapWords(n))
	for i := range c.bitmap {
		if c.bitmap[i], err = c.word64(condHeader + 8*uint64(i)); err != nil {
			return err
		}
	}
	c.recs = make([]record, n)
	recs := uint64(condHeader + 8*len(c.bitmap))
	for i := range c.recs {
		off := recs + recordSize*uint64(i)
		r := &c.recs[i]
		if r.wait, err = c.word64(off); err != nil {
			return err
		}
		if r.grants, err = c.word(off + 8); err != nil {
			return err
		}
		if r.bell, err = c.word(off + 12); err != nil {
			return err
		}
	}
	h := b.obj.Handle()
	c.key = localKey{seg: h.Segment, off: h.Offset, self: b.obj.Self()}
	c.loc = getLocal(c.key)
	return nil
}

func (c *cond) release() error {
	if c.loc != nil {
		putLocal(c.key)
		c.loc = nil
	}
	return c.base.close()
}

func (c *cond) bit(s int) (*atomic.Uint64, uint64) { return c.bitmap[s/64], 1 << (s % 64) }

func (c *cond) setBit(s int) {
	w, m := c.bit(s)
	for v := w.Load(); v&m == 0 && !w.CompareAndSwap(v, v|m); v = w.Load() {
	}
}

// clearBit clears slot s's bit, and sets it again if the record counts
// waiters after all: a waiter counts itself in before it sets the bit.
func (c *cond) clearBit(s int) {
	w, m := c.bit(s)
	for v := w.Load(); v&m != 0 && !w.CompareAndSwap(v, v&^m); v = w.Load() {
	}
	if uint32(c.recs[s].wait.Load()) != 0 {
		c.setBit(s)
	}
}

// locker is the lock of a condition, and who holds it: a Lock, or an
// RLock and a Holder.
type locker struct {
	l *semaphore.Lock
	r *semaphore.RLock
	h semaphore.Holder
}

func (k locker) held() bool {
	if k.l != nil {
		return k.l.HeldHere()
	}
	return k.r.Depth(k.h) > 0
}

func (k locker) release() (int, error) {
	if k.l != nil {
		return 1, k.l.Unlock()
	}
	return k.r.UnlockAll(k.h)
}

func (k locker) retake(ctx context.Context, depth int) error {
	if k.l != nil {
		return k.l.Lock(ctx)
	}
	return k.r.Relock(ctx, k.h, depth)
}

// wait is Wait. See Cond.Wait for what it returns.
func (c *cond) wait(ctx context.Context, k locker) error {
	if c.closed.Load() {
		return ErrClosed
	}
	if !k.held() {
		return fmt.Errorf("%w: wait", ErrNotHeld)
	}
	self, err := c.self()
	if err != nil {
		return err
	}
	rec := &c.recs[self.Slot()]
	if err := c.countIn(self, rec); err != nil {
		return err
	}
	w := waiters.Get().(*waiter)
	loc := c.loc
	loc.mu.Lock()
	loc.queue = append(loc.queue, w)
	if loc.leader == nil {
		loc.leader = w
	}
	loc.mu.Unlock()

	depth, rerr := k.release()
	var notified bool
	var werr error
	if rerr == nil {
		notified, werr = c.await(ctx, w, rec)
		// Python takes the lock back without a timeout, and so must we:
		// the caller holds the lock after Wait, whatever happened.
		rerr = k.retake(context.WithoutCancel(ctx), depth)
	}
	if !notified {
		var cerr error
		if notified, cerr = c.depart(w, self, rec); cerr != nil {
			werr = errors.Join(werr, cerr)
		}
	}
	w.granted, w.leaving = false, false
	select {
	case <-w.ch:
	default:
	}
	waiters.Put(w)
	if notified {
		werr = nil
	}
	if werr != nil && rerr != nil {
		return errors.Join(werr, rerr)
	}
	if werr != nil {
		return werr
	}
	return rerr
}

// countIn counts a waiter in its record. The caller holds the lock.
func (c *cond) countIn(self shm.Token, rec *record) error {
	for {
		v := rec.wait.Load()
		next := uint64(self.Gen())<<32 | 1
		if uint32(v>>32) == self.Gen() {
			if uint32(v) == math.MaxUint32 {
				return fmt.Errorf("%w: condition record of slot %d: %#x", ErrCorrupt, self.Slot(), v)
			}
			next = v + 1
		} else {
			// Left by an earlier attachment of this slot, which is gone:
			// its notifications are nobody's.
			rec.grants.Store(0)
		}
		if rec.wait.CompareAndSwap(v, next) {
			break
		}
	}
	c.setBit(self.Slot())
	return nil
}

// await waits, without the lock, until w is notified or ctx ends.
func (c *cond) await(ctx context.Context, w *waiter, rec *record) (bool, error) {
	loc := c.loc
	for {
		loc.mu.Lock()
		if w.granted {
			// It may have been made leader, too, before it looked.
			c.passLead(w)
			loc.mu.Unlock()
			return true, nil
		}
		lead := loc.leader == w
		loc.mu.Unlock()
		if lead {
			return c.lead(ctx, w, rec)
		}
		select {
		case <-w.ch:
		case <-ctx.Done():
			loc.mu.Lock()
			granted := w.granted
			w.leaving = true
			c.passLead(w)
			loc.mu.Unlock()
			return granted, ctx.Err()
		}
	}
}

// lead is the leader's loop: hand out grants, sleep on the bell.
func (c *cond) lead(ctx context.Context, w *waiter, rec *record) (bool, error) {
	loc := c.loc
	for {
		v := rec.bell.Load()
		loc.mu.Lock()
		c.distribute(rec)
		if w.granted {
			c.passLead(w)
			loc.mu.Unlock()
			return true, nil
		}
		if err := wait.CtxErr(ctx); err != nil {
			w.leaving = true
			c.passLead(w)
			loc.mu.Unlock()
			return false, err
		}
		loc.mu.Unlock()
		if wait.Spin(c.spin, func() bool { return rec.bell.Load() != v }) {
			continue
		}
		if v&sleeperBit == 0 && !rec.bell.CompareAndSwap(v, v|sleeperBit) {
			continue
		}
		if _, err := c.sleep(ctx, rec.bell, v|sleeperBit); err != nil {
			loc.mu.Lock()
			granted := w.granted
			w.leaving = true
			c.passLead(w)
			loc.mu.Unlock()
			return granted, err
		}
	}
}

// distribute hands the grants in flight to the oldest waiters. The caller
// holds loc.mu.
func (c *cond) distribute(rec *record) {
	loc := c.loc
	g := rec.grants.Swap(0)
	n := min(int(min(g, math.MaxInt32)), len(loc.queue))
	for _, w := range loc.queue[:n] {
		w.granted = true
		if w != loc.leader {
			w.nudge()
		}
	}
	// Grants beyond the queue can only come from a garbage record or a
	// Notify that died halfway; they are nobody's.
	if n > 0 {
		loc.queue = append(loc.queue[:0], loc.queue[n:]...)
	}
}

// passLead hands the lead, if w has it, to the oldest waiter still
// waiting. The caller holds loc.mu.
func (c *cond) passLead(w *waiter) {
	loc := c.loc
	if loc.leader != w {
		return
	}
	loc.leader = nil
	for _, q := range loc.queue {
		if !q.leaving && q != w {
			loc.leader = q
			q.nudge()
			return
		}
	}
}

// depart takes w out of the queue and counts it out, unless the grants in
// flight notify it. The caller holds the lock again (or failed to take it
// back, in which case this is the best it can do).
func (c *cond) depart(w *waiter, self shm.Token, rec *record) (notified bool, err error) {
	loc := c.loc
	loc.mu.Lock()
	defer loc.mu.Unlock()
	c.distribute(rec)
	if w.granted {
		return true, nil
	}
	w.leaving = true
	c.passLead(w)
	for i, q := range loc.queue {
		if q == w {
			loc.queue = append(loc.queue[:i], loc.queue[i+1:]...)
			break
		}
	}
	for {
		v := rec.wait.Load()
		if uint32(v>>32) != self.Gen() || uint32(v) == 0 {
			return false, fmt.Errorf("%w: condition record of slot %d lost a waiter: %#x", ErrCorrupt, self.Slot(), v)
		}
		if rec.wait.CompareAndSwap(v, v-1) {
			return false, nil
		}
	}
}

// notify is Notify: see Cond.Notify.
func (c *cond) notify(n int, k locker) error {
	if c.closed.Load() {
		return ErrClosed
	}
	if !k.held() {
		return fmt.Errorf("%w: notify", ErrNotHeld)
	}
	self := c.obj.Self()
	slots := len(c.recs)
	start := int(c.cursor.Load() % uint32(slots))
	for i := 0; i < slots && n > 0; i++ {
		s := (start + i) % slots
		if word := c.bitmap[s/64].Load() >> (s % 64); word&1 == 0 {
			// Skip to the next slot whose bit is set, within this word
			// and the slots there are.
			skip := 63 - s%64
			if word != 0 {
				skip = bits.TrailingZeros64(word) - 1
			}
			i += min(skip, slots-1-s)
			continue
		}
		rec := &c.recs[s]
		v := rec.wait.Load()
		gen, waiting := uint32(v>>32), uint32(v)
		if waiting == 0 {
			c.clearBit(s)
			continue
		}
		if gen == 0 || gen > liveness.MaxGen {
			return fmt.Errorf("%w: condition record of slot %d: %#x", ErrCorrupt, s, v)
		}
		tok := liveness.MakeToken(s, gen)
		give := uint32(min(n, int(min(waiting, math.MaxInt32))))
		// grants first: a Notify that dies between the two leaves a
		// waiter counted twice (a spurious wake-up later), never none.
		rec.grants.Add(give)
		rec.wait.Store(v - uint64(give))
		woke := bump(rec.bell) && wakeAll(rec.bell) > 0
		if !woke && tok != self && !c.taken(rec) {
			alive, err := c.alive(tok)
			if err != nil {
				return err
			}
			if !alive {
				// Its waiters died with it: they take nothing.
				rec.grants.Store(0)
				rec.wait.Store(0)
				c.clearBit(s)
				continue
			}
		}
		n -= int(give)
		c.cursor.Store(uint32(s + 1))
	}
	return nil
}

// takenSpin bounds how long Notify watches for a leader that is awake to
// take what it was given: about a cache-line round trip between cores,
// many times over.
const takenSpin = 5 * time.Microsecond

// taken reports whether the grants in rec are taken within a moment,
// which only a live process can do: an awake leader, spinning on its bell,
// takes them at once, and proves its process alive without the system
// call that asking the kernel costs. (A leader that went to sleep meanwhile
// took them first: it swaps the grants after it reads the bell it sleeps
// on.)
func (c *cond) taken(rec *record) bool {
	return wait.Spin(min(c.spin, takenSpin), func() bool { return rec.grants.Load() == 0 })
}

// waiting is the number of waiters counted and not yet notified, over
// every process, and the notifications in flight; for tests.
func (c *cond) waiting() (waiting, inFlight int) {
	for i := range c.recs {
		waiting += int(uint32(c.recs[i].wait.Load()))
		inFlight += int(c.recs[i].grants.Load())
	}
	return waiting, inFlight
}

// newCond places a condition's payload in seg, naming the lock at lockOff
// of kind lockKind.
func newCond(seg *shm.Segment, name string, lockOff uint64, lockKind shm.Kind, opts *Options) (base, error) {
	init := func(p layout.View) error {
		off, err := p.Uint64(offLock)
		if err != nil {
			return err
		}
		off.Store(lockOff)
		kind, err := p.Uint32(offLockKind)
		if err != nil {
			return err
		}
		kind.Store(uint32(lockKind))
		return nil
	}
	return create(seg, name, shm.KindCond, condSize, init, opts)
}

// checkLockSegment checks that a lock lives in seg, where a condition can
// name it by offset.
func checkLockSegment(seg *shm.Segment, h shm.Handle) error {
	if seg == nil {
		return fmt.Errorf("%w: a condition over a given lock needs the lock's segment", shm.ErrHandle)
	}
	if h.Segment != seg.ID() {
		return fmt.Errorf("%w: the lock lives in another segment", shm.ErrHandle)
	}
	return nil
}

// ownSegment makes the segment of a condition created with a nil seg.
func ownSegment(name string) (*shm.Segment, error) {
	if name != "" {
		return nil, fmt.Errorf("%w: a named %v needs a segment", shm.ErrName, shm.KindCond)
	}
	return shm.New(ownSegmentSize, nil)
}

// Cond is a condition variable in shared memory over a semaphore.Lock, for
// goroutines in any number of processes: Python's
// multiprocessing.Condition with a Lock. A goroutine that holds the lock
// calls Wait, which lets the lock go, waits for a Notify or NotifyAll, and
// takes the lock back; the usual loop is
//
//	if err := c.Lock(ctx); err != nil { … }
//	for !condition() {
//		if err := c.Wait(ctx); err != nil { … } // the lock is held again
//	}
//	… use the condition …
//	c.Unlock()
//
// Make one with NewCond, or open one with OpenCond or OpenCondHandle; a
// *Cond passed to process.Start arrives in the child as the same condition
// over the same lock. A Cond must not be copied. Its methods may be called
// from any goroutine of any process that has it open; Wait, WaitFor and
// Notify need the lock held by the calling process (a Lock has no owner
// within a process).
//
// There is no limit on the number of waiters. Only one goroutine per
// process sleeps in the kernel, whatever the number of its waiters; the
// others wait on channels and hold no OS thread.
//
// The lock orders everything: Notify synchronizes before the return of
// the Wait it wakes through the lock's Unlock and Lock, in the sense of
// [the Go memory model].
//
// If the lock's holder dies, the next Lock or Wait to take the lock gets
// an error wrapping ErrOwnerDead, with the lock held. A process that dies
// while its goroutines wait leaves its count of waiters behind; Notify
// finds it dead and passes its notifications to live waiters, so a dead
// waiter never swallows a notification.
//
// After Close, methods return ErrClosed.
//
// [the Go memory model]: https://go.dev/ref/mem
type Cond struct {
	_ noCopy
	cond
	l        *semaphore.Lock
	ownsLock bool
}

// NewCond places a new Cond over l in seg under name ("" for none). l must
// live in seg, where the Cond records it. With a nil l, NewCond makes a new
// Lock in seg for it; with a nil seg too, it makes a small anonymous
// segment of its own for both. (Python's default lock is an RLock: see
// NewRCond.) Several Conds may share a lock, as the "not empty" and "not
// full" conditions of a bounded buffer do.
func NewCond(seg *shm.Segment, name string, l *semaphore.Lock, opts *Options) (*Cond, error) {
	c := &Cond{l: l}
	if err := c.create(seg, name, opts); err != nil {
		return nil, err
	}
	return c, nil
}

// create places the condition, and its lock if it has none yet.
func (c *Cond) create(seg *shm.Segment, name string, opts *Options) error {
	return createOver(&c.cond, &c.l, &c.ownsLock, seg, name, shm.KindLock, func(seg *shm.Segment) (*semaphore.Lock, error) {
		return semaphore.NewLock(seg, "", opts)
	}, opts)
}

// OpenCond opens the Cond named name in seg, and its lock.
func OpenCond(seg *shm.Segment, name string, opts *Options) (*Cond, error) {
	b, err := open(seg, name, shm.KindCond, opts)
	if err != nil {
		return nil, err
	}
	return openCond(b, opts)
}

// OpenCondHandle opens the Cond that h names (see shm.OpenHandle), and its
// lock.
func OpenCondHandle(h shm.Handle, opts *Options) (*Cond, error) {
	b, err := openHandle(h, shm.KindCond, opts)
	if err != nil {
		return nil, err
	}
	return openCond(b, opts)
}

func openCond(b base, opts *Options) (*Cond, error) {
	c := &Cond{}
	if err := c.open(b, opts); err != nil {
		return nil, err
	}
	return c, nil
}

// open wraps b and opens the lock it names; on failure it closes b.
func (c *Cond) open(b base, opts *Options) error {
	return openOver(&c.cond, b, &c.l, &c.ownsLock, shm.KindLock, "an RCond", func(h shm.Handle) (*semaphore.Lock, error) {
		return semaphore.OpenLockHandle(h, opts)
	})
}

func (c *Cond) locker() locker { return locker{l: c.l} }

// Locker is the Cond's lock.
func (c *Cond) Locker() *semaphore.Lock { return c.l }

// Lock locks the Cond's lock: Python's acquire. See semaphore.Lock.Lock.
func (c *Cond) Lock(ctx context.Context) error {
	if c.closed.Load() {
		return ErrClosed
	}
	return c.l.Lock(ctx)
}

// Unlock unlocks the Cond's lock: Python's release.
func (c *Cond) Unlock() error {
	if c.closed.Load() {
		return ErrClosed
	}
	return c.l.Unlock()
}

// Wait lets the lock go, waits until a Notify or NotifyAll wakes it or ctx
// ends, and takes the lock back. It returns nil when it was notified, and
// ctx.Err() when ctx ended first (Python's True and False); with a
// context that is already done it lets the lock go and takes it back, as
// Python's wait(0). It never wakes without a notification.
//
// Wait returns with the lock held, whatever happened while it waited:
// taking the lock back does not heed ctx, as in Python, since the caller
// must hold the lock after Wait. If the lock's holder died meanwhile, the
// error wraps ErrOwnerDead (and ctx.Err(), if ctx ended), and the lock is
// held. Only errors that come before Wait lets the lock go (ErrNotHeld,
// ErrClosed) or from a lock that cannot be taken (ErrCorrupt, ErrClosed)
// leave it otherwise.
//
// The calling process must hold the lock, or Wait returns ErrNotHeld.
func (c *Cond) Wait(ctx context.Context) error { return c.wait(ctx, c.locker()) }

// WaitFor waits until pred, called with the lock held, returns true: it
// calls Wait for as long as pred returns false. It returns nil when pred
// returned true, and ctx.Err() when ctx ended while pred returned false
// (pred is asked once more after ctx ends, as Python's wait_for does). It
// returns at once, lock held, an error of Wait that wraps ErrOwnerDead, so
// that the caller can repair what the lock guards.
func (c *Cond) WaitFor(ctx context.Context, pred func() bool) error {
	return waitFor(ctx, pred, c.Wait)
}

func waitFor(ctx context.Context, pred func() bool, waitOnce func(context.Context) error) error {
	for !pred() {
		if err := waitOnce(ctx); err != nil {
			if cerr := wait.CtxErr(ctx); cerr != nil && !errors.Is(err, ErrOwnerDead) && errors.Is(err, cerr) {
				if pred() {
					return nil
				}
			}
			return err
		}
	}
	return nil
}

// Notify wakes up to n waiters (none if n < 1): the oldest waiters of each
// process, taking processes in turn. The calling process must hold the
// lock, or Notify returns ErrNotHeld. A waiter of a process that died is
// skipped.
func (c *Cond) Notify(n int) error { return c.notify(n, c.locker()) }

// NotifyAll wakes every waiter.
func (c *Cond) NotifyAll() error { return c.notify(math.MaxInt, c.locker()) }

// Close lets go of this process's reference to the Cond, and to its lock
// if the Cond opened or made it.
func (c *Cond) Close() error {
	if !c.closed.CompareAndSwap(false, true) {
		return ErrClosed
	}
	var errs []error
	if c.ownsLock {
		errs = append(errs, c.l.Close())
	}
	errs = append(errs, c.cond.release())
	return errors.Join(errs...)
}

// ShmObjects tells process.Start which segments to pass along with the
// Cond.
func (c *Cond) ShmObjects() []*shm.Object { return append(c.l.ShmObjects(), c.obj) }

// GobDecode opens the Cond whose handle GobEncode encoded, and its lock.
func (c *Cond) GobDecode(data []byte) error {
	h, err := decodeHandle(data)
	if err != nil {
		return err
	}
	b, err := openHandle(h, shm.KindCond, nil)
	if err != nil {
		return err
	}
	return c.open(b, nil)
}

// RCond is a condition variable in shared memory over a semaphore.RLock:
// Python's multiprocessing.Condition with its default lock. It is Cond
// with a Holder: the lock's owner is a holder in a process, and every call
// that needs the lock says which holder holds it. Wait lets the RLock go
// completely, whatever the holder's depth, and takes it back at that depth.
//
// Everything Cond's documentation says holds for RCond, with "the calling
// process holds the lock" read as "h holds the RLock".
type RCond struct {
	_ noCopy
	cond
	r        *semaphore.RLock
	ownsLock bool
}

// NewRCond places a new RCond over r in seg under name ("" for none). r
// must live in seg. With a nil r, NewRCond makes a new RLock in seg for it
// (Python's Condition()); with a nil seg too, it makes a small anonymous
// segment of its own for both.
func NewRCond(seg *shm.Segment, name string, r *semaphore.RLock, opts *Options) (*RCond, error) {
	c := &RCond{r: r}
	if err := c.create(seg, name, opts); err != nil {
		return nil, err
	}
	return c, nil
}

// create places the condition, and its lock if it has none yet.
func (c *RCond) create(seg *shm.Segment, name string, opts *Options) error {
	return createOver(&c.cond, &c.r, &c.ownsLock, seg, name, shm.KindRLock, func(seg *shm.Segment) (*semaphore.RLock, error) {
		return semaphore.NewRLock(seg, "", opts)
	}, opts)
}

// OpenRCond opens the RCond named name in seg, and its lock.
func OpenRCond(seg *shm.Segment, name string, opts *Options) (*RCond, error) {
	b, err := open(seg, name, shm.KindCond, opts)
	if err != nil {
		return nil, err
	}
	return openRCond(b, opts)
}

// OpenRCondHandle opens the RCond that h names, and its lock.
func OpenRCondHandle(h shm.Handle, opts *Options) (*RCond, error) {
	b, err := openHandle(h, shm.KindCond, opts)
	if err != nil {
		return nil, err
	}
	return openRCond(b, opts)
}

func openRCond(b base, opts *Options) (*RCond, error) {
	c := &RCond{}
	if err := c.open(b, opts); err != nil {
		return nil, err
	}
	return c, nil
}

// open wraps b and opens the lock it names; on failure it closes b.
func (c *RCond) open(b base, opts *Options) error {
	return openOver(&c.cond, b, &c.r, &c.ownsLock, shm.KindRLock, "a Cond", func(h shm.Handle) (*semaphore.RLock, error) {
		return semaphore.OpenRLockHandle(h, opts)
	})
}

func (c *RCond) locker(h semaphore.Holder) locker { return locker{r: c.r, h: h} }

// Locker is the RCond's lock.
func (c *RCond) Locker() *semaphore.RLock { return c.r }

// Lock locks the RCond's lock for h: Python's acquire. See
// semaphore.RLock.Lock.
func (c *RCond) Lock(ctx context.Context, h semaphore.Holder) error {
	if c.closed.Load() {
		return ErrClosed
	}
	return c.r.Lock(ctx, h)
}

// Unlock undoes one level of h's hold on the lock: Python's release.
func (c *RCond) Unlock(h semaphore.Holder) error {
	if c.closed.Load() {
		return ErrClosed
	}
	return c.r.Unlock(h)
}

// Wait is Cond.Wait for holder h, which must hold the lock: it lets the
// lock go completely and takes it back at the depth h held it.
func (c *RCond) Wait(ctx context.Context, h semaphore.Holder) error {
	return c.wait(ctx, c.locker(h))
}

// WaitFor is Cond.WaitFor for holder h.
func (c *RCond) WaitFor(ctx context.Context, h semaphore.Holder, pred func() bool) error {
	return waitFor(ctx, pred, func(ctx context.Context) error { return c.Wait(ctx, h) })
}

// Notify is Cond.Notify; h must hold the lock.
func (c *RCond) Notify(h semaphore.Holder, n int) error { return c.notify(n, c.locker(h)) }

// NotifyAll is Cond.NotifyAll; h must hold the lock.
func (c *RCond) NotifyAll(h semaphore.Holder) error { return c.notify(math.MaxInt, c.locker(h)) }

// Close lets go of this process's reference to the RCond, and to its lock
// if the RCond opened or made it.
func (c *RCond) Close() error {
	if !c.closed.CompareAndSwap(false, true) {
		return ErrClosed
	}
	var errs []error
	if c.ownsLock {
		errs = append(errs, c.r.Close())
	}
	errs = append(errs, c.cond.release())
	return errors.Join(errs...)
}

// ShmObjects tells process.Start which segments to pass along with the
// RCond.
func (c *RCond) ShmObjects() []*shm.Object { return append(c.r.ShmObjects(), c.obj) }

// GobDecode opens the RCond whose handle GobEncode encoded, and its lock.
func (c *RCond) GobDecode(data []byte) error {
	h, err := decodeHandle(data)
	if err != nil {
		return err
	}
	b, err := openHandle(h, shm.KindCond, nil)
	if err != nil {
		return err
	}
	return c.open(b, nil)
}

// lockLike is the lock of a condition: a Lock for a Cond, an RLock for an
// RCond.
type lockLike interface {
	*semaphore.Lock | *semaphore.RLock
	Handle() shm.Handle
	Close() error
}

// createOver places the condition c over *lock, first making a lock in seg
// with newLock (and, with a nil seg, a segment for both) when *lock is nil;
// on failure it closes what it made. Cond and RCond share it.
func createOver[L lockLike](c *cond, lock *L, ownsLock *bool, seg *shm.Segment, name string, lockKind shm.Kind,
	newLock func(*shm.Segment) (L, error), opts *Options) (err error) {
	var own *shm.Segment
	defer func() {
		if err != nil {
			if *ownsLock {
				(*lock).Close()
			}
			if own != nil {
				own.Close()
			}
		}
	}()
	if *lock != nil {
		if err := checkLockSegment(seg, (*lock).Handle()); err != nil {
			return err
		}
	} else {
		if seg == nil {
			if own, err = ownSegment(name); err != nil {
				return err
			}
			seg = own
		}
		if *lock, err = newLock(seg); err != nil {
			return err
		}
		*ownsLock = true
	}
	b, err := newCond(seg, name, (*lock).Handle().Offset, lockKind, opts)
	if err != nil {
		return err
	}
	b.own = own
	if err := c.init(b); err != nil {
		b.obj.Close()
		return err
	}
	return nil
}

// openOver wraps b in c and opens the lock of kind lockKind that it names
// with openLock; on failure it closes b. other names the condition type
// for a lock of the other kind, for the error.
func openOver[L lockLike](c *cond, b base, lock *L, ownsLock *bool, lockKind shm.Kind, other string,
	openLock func(shm.Handle) (L, error)) (err error) {
	defer func() {
		if err != nil {
			c.release()
		}
	}()
	c.base = b
	h, err := lockOf(&c.base)
	if err != nil {
		return err
	}
	if h.Kind != lockKind {
		return fmt.Errorf("%w: a condition over a %v is %s", shm.ErrKind, h.Kind, other)
	}
	if err := c.init(b); err != nil {
		return err
	}
	if *lock, err = openLock(h); err != nil {
		return fmt.Errorf("condition's lock: %w", err)
	}
	*ownsLock = true
	return nil
}
