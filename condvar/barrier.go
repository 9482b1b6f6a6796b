package condvar

// Barrier: a generation barrier on one 64-bit state word, a 32-bit futex
// word to sleep on, and a record per process-table slot of the parties
// asleep in Wait.
//
// Payload of a Barrier (S = the segment's process-table slots):
//
//	off size field
//	0   4    seq        futex word: bits 0-30 count the changes sleepers
//	                    wait for (a cycle's end, a break, a reset); bit 31:
//	                    someone sleeps or is about to sleep on it
//	4   4    parties    1 to MaxParties; written once, by the creator
//	8   8    state      see below
//	16  8    history    bit c%64 says how cycle c ended: 1 by a Reset, 0
//	                    released; valid for the last 64 cycles
//	24  4    lastReset  bit 31: valid; bits 0-28: the cycle the last Reset ended
//	28  4    reserved, zero
//	32  8    scanned    Unix nanoseconds of the last search for dead parties
//	40  24   reserved, zero
//	64  8×S  asleep     per slot s: gen<<32 | parties of the attachment
//	                    (slot s, generation gen) asleep in Wait
//
// State word:
//
//	bits 35-63  gen     the cycle: moves on by one when a cycle is released
//	                    or reset, mod 2^29
//	bits 33-34  phase   0 filling, 1 releasing, 2 resetting, 3 broken
//	bit 32      break   releasing/resetting: break when done (asked by
//	                    Abort, a waiter's context, a dead party)
//	bit 31      reset   releasing: reset instead of breaking if the action fails
//	bits 0-30   filling: the parties arrived in this cycle (0 to parties-1);
//	            releasing, resetting: the owner, a shm.Token; broken: 0
//
// Transitions, all by compare-and-swap on the state word:
//
//	(g, filling, n)     → (g, filling, n+1)       an arrival, index n, n+1 < parties
//	(g, filling, p-1)   → (g, releasing, self)    the last arrival (index p-1)
//	(g, releasing, o)   → (g+1, filling, 0)       o, after the action: released
//	                    → (g, broken)             o: action failed, or break asked
//	                    → (g+1, filling, 0)       o: action failed, reset asked
//	(g, filling, n>0)   → (g, resetting, self)    Reset (also from (g, broken))
//	(g, resetting, o)   → (g+1, filling|broken)   o, after writing history
//	(g, filling, n)     → (g, broken)             Abort, a waiter's context, a dead party
//	(g, releasing|resetting, o) → … | break       the same, while o is at work
//	(g, releasing|resetting, o) → (g, broken)     o found dead
//
// Whoever moves the state then bumps seq, and wakes everyone if its
// sleeper bit was set. A waiter reads seq, then the state, and sleeps only
// while seq holds what it read (the futex compares): a change between its
// reading of the state and its sleep changes seq first, so no wake-up is
// lost.
//
// Why a generation and not a count that waiters give back as they leave
// (Python's "draining" state): a released waiter need not run again before
// the next cycle can fill, so the last arrival of a cycle can pass the
// barrier again at once, and a waiter that dies after its release holds
// nobody up. The price is that a waiter must learn how its cycle ended
// after the generation has moved on, perhaps more than once: it was
// released, or a Reset broke it. The phases releasing and resetting make
// that answer exact: each has one owner, nobody but the owner moves the
// state out of it while the owner lives (others only ask, with the break
// and reset bits), so the owner writes the cycle's bit of history, and
// lastReset, before the compare-and-swap that moves the generation on, and
// nobody writes them late. A waiter reads history, then the state: if the
// generation is less than 64 cycles past its own, its cycle's bit has not
// been reused. A waiter that slept through 64 cycles (only possible with
// more goroutines than parties) is told it was released unless lastReset
// says a Reset came at or after its cycle, in which case it is told the
// barrier broke: the one answer that may be wrong, and it errs on the safe
// side.
//
// Death. A party that dies while it sleeps in Wait breaks the barrier, as
// one that times out does. Before its first sleep a waiter counts itself
// in its attachment's asleep record, and it counts itself out when it
// leaves. A sleeper wakes every Poll; at most once per Poll (the scanned
// word) one of them looks at every record with parties asleep and at the
// owner of a releasing or resetting phase, and breaks the barrier when one
// is dead (clearing a dead record, so that it breaks the barrier once).
// The asleep record of a process that died after its cycle was released
// but before it counted itself out also breaks the barrier: that party is
// gone, and the next cycle would wait for it forever. A record left by an
// earlier attachment of the same slot that nobody noticed is taken over by
// the next one without breaking anything.

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

// MaxParties is the largest number of parties a Barrier may have.
const MaxParties = math.MaxInt32

const (
	barrierHeader = 64
	offSeq        = 0
	offParties    = 4
	offState      = 8
	offHistory    = 16
	offLastReset  = 24
	offScanned    = 32

	payMask    = 1<<31 - 1
	flagReset  = 1 << 31
	flagBreak  = 1 << 32
	phaseShift = 33
	genShift   = 35
	genMask    = 1<<29 - 1

	phFilling   = 0
	phReleasing = 1
	phResetting = 2
	phBroken    = 3

	lastResetValid = 1 << 31
)

func barrierSize(slots int) int { return barrierHeader + 8*slots }

// bstate is a decoded view of the state word.
type bstate uint64

func mkState(gen, phase, pay uint32) bstate {
	return bstate(uint64(gen&genMask)<<genShift | uint64(phase)<<phaseShift | uint64(pay&payMask))
}

func (s bstate) gen() uint32   { return uint32(s>>genShift) & genMask }
func (s bstate) phase() uint32 { return uint32(s>>phaseShift) & 3 }
func (s bstate) pay() uint32   { return uint32(s) & payMask }

// Barrier is a barrier in shared memory for a fixed number of parties,
// goroutines in any number of processes: Python's multiprocessing.Barrier.
// Each party calls Wait; when the last of them arrives, it runs the
// barrier's action (if this process set one), and then all of them go on,
// and the barrier is ready for the next cycle.
//
// Make one with NewBarrier, or open one with OpenBarrier or
// OpenBarrierHandle; a *Barrier passed to process.Start arrives in the
// child as the same barrier. A Barrier must not be copied. Its methods may
// be called from any goroutine of any process that has it open.
//
// Everything a party did before its Wait synchronizes before the action
// and before everything every party does after its Wait returns nil, in
// the sense of [the Go memory model], in this process or another; the race
// detector is told about the edges within this process.
//
// A barrier breaks when a waiter's context ends, when Abort is called,
// when the action fails, and when a party dies while it waits (noticed
// within about two Poll intervals): every waiter of the cycle and every
// later Wait gets ErrBrokenBarrier until Reset. Python's Barrier hangs when
// a waiting process is killed (CPython gh-123899). A party that dies when
// it is not in Wait is not noticed: the others wait for it until their
// contexts end.
//
// After Close, methods return ErrClosed.
//
// [the Go memory model]: https://go.dev/ref/mem
type Barrier struct {
	_ noCopy
	base
	seq       *atomic.Uint32
	state     *atomic.Uint64
	history   *atomic.Uint64
	lastReset *atomic.Uint32
	scanned   *atomic.Uint64
	asleep    []*atomic.Uint64
	parties   uint32
	action    atomic.Pointer[func() error]
	closed    atomic.Bool
}

// NewBarrier places a new Barrier for parties parties (1 to MaxParties) in
// seg under name ("" for none), or, with a nil seg, in a small anonymous
// segment of its own.
func NewBarrier(seg *shm.Segment, name string, parties int, opts *Options) (*Barrier, error) {
	if parties < 1 || parties > MaxParties {
		return nil, fmt.Errorf("%w: %d, want 1 to %d", ErrParties, parties, MaxParties)
	}
	init := func(p layout.View) error {
		w, err := p.Uint32(offParties)
		if err != nil {
			return err
		}
		w.Store(uint32(parties))
		return nil
	}
	b, err := create(seg, name, shm.KindBarrier, barrierSize, init, opts)
	if err != nil {
		return nil, err
	}
	return newBarrier(b)
}

// OpenBarrier opens the Barrier named name in seg.
func OpenBarrier(seg *shm.Segment, name string, opts *Options) (*Barrier, error) {
	b, err := open(seg, name, shm.KindBarrier, opts)
	if err != nil {
		return nil, err
	}
	return newBarrier(b)
}

// OpenBarrierHandle opens the Barrier that h names (see shm.OpenHandle).
func OpenBarrierHandle(h shm.Handle, opts *Options) (*Barrier, error) {
	b, err := openHandle(h, shm.KindBarrier, opts)
	if err != nil {
		return nil, err
	}
	return newBarrier(b)
}

func newBarrier(b base) (*Barrier, error) {
	br := &Barrier{}
	if err := br.init(b); err != nil {
		return nil, err
	}
	return br, nil
}

// init wraps b, checking the payload; on failure it closes b.
func (br *Barrier) init(b base) (err error) {
	defer func() {
		if err != nil {
			b.close()
		}
	}()
	br.base = b
	if br.seq, err = br.word(offSeq); err != nil {
		return err
	}
	pw, err := br.word(offParties)
	if err != nil {
		return err
	}
	if br.parties = pw.Load(); br.parties < 1 || br.parties > MaxParties {
		return fmt.Errorf("%w: barrier of %d parties", ErrCorrupt, br.parties)
	}
	if br.state, err = br.word64(offState); err != nil {
		return err
	}
	if br.history, err = br.word64(offHistory); err != nil {
		return err
	}
	if br.lastReset, err = br.word(offLastReset); err != nil {
		return err
	}
	if br.scanned, err = br.word64(offScanned); err != nil {
		return err
	}
	n := br.obj.Slots()
	br.asleep = make([]*atomic.Uint64, n)
	for i := range n {
		if br.asleep[i], err = br.word64(barrierHeader + 8*uint64(i)); err != nil {
			return fmt.Errorf("%w: barrier records for %d slots", err, n)
		}
	}
	return nil
}

func (br *Barrier) load() bstate { return bstate(br.state.Load()) }

func (br *Barrier) cas(old, next bstate) bool {
	return br.state.CompareAndSwap(uint64(old), uint64(next))
}

// wake bumps seq and wakes its sleepers, if any.
func (br *Barrier) wake() {
	if bump(br.seq) {
		wakeAll(br.seq)
	}
}

// SetAction sets the function that Wait runs, in this process, when a
// party of this process is the last to arrive, before it releases the
// others (nil for none). Each process sets its own: functions do not
// travel with a handle, so every process whose parties may complete a
// cycle should set the same action. If the action returns an error or
// panics, the barrier breaks: the party that ran it gets an error wrapping
// both ErrBrokenBarrier and the action's error, or the panic goes on up
// its stack; the others get ErrBrokenBarrier.
func (br *Barrier) SetAction(f func() error) {
	if f == nil {
		br.action.Store(nil)
		return
	}
	br.action.Store(&f)
}

// Wait waits until all parties have called Wait, and returns this party's
// index, a number from 0 to Parties()-1 that no other party of the cycle
// gets; the last to arrive gets Parties()-1 and runs the action.
//
// If the barrier is broken, or breaks while this party waits, Wait returns
// -1 and an error wrapping ErrBrokenBarrier. If ctx ends before the cycle
// is released, Wait breaks the barrier, as Python's wait(timeout) does,
// and returns an error wrapping both ErrBrokenBarrier and ctx.Err(). A
// Wait that finds a cycle being released or reset waits for that first.
func (br *Barrier) Wait(ctx context.Context) (int, error) {
	if br.closed.Load() {
		return -1, ErrClosed
	}
	self, err := br.self()
	if err != nil {
		return -1, err
	}
	r := sleeper{br: br, self: self}
	defer r.leave()
	for {
		st := br.load()
		g := st.gen()
		switch st.phase() {
		case phBroken:
			return -1, ErrBrokenBarrier
		case phReleasing, phResetting:
			// Wait for the owner to finish, then arrive in the next cycle.
			if _, err := br.sleepUntil(ctx, &r, g); err != nil {
				return -1, br.failed(ctx, g, err)
			}
			continue
		}
		n := st.pay()
		if n >= br.parties {
			return -1, fmt.Errorf("%w: %d parties arrived at a barrier of %d", ErrCorrupt, n, br.parties)
		}
		br.race.ReleaseMerge()
		if n+1 == br.parties {
			if br.cas(st, mkState(g, phReleasing, uint32(self))) {
				return br.release(g, self)
			}
			continue
		}
		if br.cas(st, mkState(g, phFilling, n+1)) {
			return br.await(ctx, &r, g, int(n))
		}
	}
}

// await waits for the end of cycle g, which this party joined with index.
func (br *Barrier) await(ctx context.Context, r *sleeper, g uint32, index int) (int, error) {
	st, err := br.sleepUntil(ctx, r, g)
	if err != nil {
		if wait.CtxErr(ctx) == nil {
			return -1, err
		}
		// The context ended: break the cycle, unless it ended first.
		if st = br.breakCycle(g); st.gen() == g {
			return -1, fmt.Errorf("%w: %w", ErrBrokenBarrier, err)
		}
	}
	if st.gen() == g {
		return -1, ErrBrokenBarrier
	}
	return br.outcome(g, index)
}

// failed is the error of a Wait whose sleep before arriving failed: a
// context that ended breaks the cycle being released or reset.
func (br *Barrier) failed(ctx context.Context, g uint32, err error) error {
	if wait.CtxErr(ctx) == nil {
		return err
	}
	br.breakCycle(g)
	return fmt.Errorf("%w: %w", ErrBrokenBarrier, err)
}

// outcome tells a party of cycle g, which has ended, how it ended.
func (br *Barrier) outcome(g uint32, index int) (int, error) {
	h := br.history.Load()
	cur := br.load().gen()
	if (cur-g)&genMask < 64 {
		if h>>(g%64)&1 != 0 {
			return -1, ErrBrokenBarrier
		}
		br.race.Acquire()
		return index, nil
	}
	// This party slept through 64 cycles: see the file comment.
	lr := br.lastReset.Load()
	if since := d(g, lr&genMask); lr&lastResetValid == 0 || since != 0 && since < 1<<28 {
		br.race.Acquire()
		return index, nil
	}
	return -1, ErrBrokenBarrier
}

// d is how many cycles a is past b, mod 2^29: a number from 2^28 up means
// a is before b.
func d(a, b uint32) uint32 { return (a - b) & genMask }

// release is the last arrival's part: run the action, then let the cycle
// go.
func (br *Barrier) release(g uint32, self shm.Token) (int, error) {
	br.race.Acquire()
	var aerr error
	if f := br.action.Load(); f != nil {
		aerr = br.runAction(*f, g, self)
	}
	st := br.finish(g, self, aerr != nil)
	switch {
	case aerr != nil:
		return -1, fmt.Errorf("%w: action: %w", ErrBrokenBarrier, aerr)
	case st.gen() == g:
		return -1, ErrBrokenBarrier
	}
	return int(br.parties) - 1, nil
}

// runAction runs f, and breaks the barrier if f panics, before the panic
// goes on.
func (br *Barrier) runAction(f func() error, g uint32, self shm.Token) (err error) {
	done := false
	defer func() {
		if !done {
			br.finish(g, self, true)
		}
	}()
	err = f()
	done = true
	return err
}

// setHistory records how cycle g ended. Only the owner of cycle g's
// releasing or resetting phase calls it.
func (br *Barrier) setHistory(g uint32, reset bool) {
	bit := uint64(1) << (g % 64)
	h := br.history.Load()
	if reset {
		br.history.Store(h | bit)
	} else {
		br.history.Store(h &^ bit)
	}
}

// finish ends the releasing phase of cycle g that self owns, and returns
// the state it left.
func (br *Barrier) finish(g uint32, self shm.Token, actionFailed bool) bstate {
	for {
		st := br.load()
		if st.gen() != g || st.phase() != phReleasing || st.pay() != uint32(self) {
			// Not ours any more: someone found this process dead, which
			// it is not, or wrote over the word.
			return st
		}
		var next bstate
		switch {
		case st&flagBreak != 0, actionFailed && st&flagReset == 0:
			next = mkState(g, phBroken, 0)
		case actionFailed:
			br.setHistory(g, true)
			br.lastReset.Store(lastResetValid | g)
			next = mkState(g+1, phFilling, 0)
		default:
			br.setHistory(g, false)
			br.race.ReleaseMerge()
			next = mkState(g+1, phFilling, 0)
		}
		if br.cas(st, next) {
			br.wake()
			return next
		}
	}
}

// Reset makes a broken barrier usable again, and breaks the cycle in
// progress, if any: its waiters get ErrBrokenBarrier. A cycle whose action
// is running is left alone unless the action fails, in which case the
// barrier is reset rather than broken.
func (br *Barrier) Reset() error {
	if br.closed.Load() {
		return ErrClosed
	}
	self, err := br.self()
	if err != nil {
		return err
	}
	for {
		st := br.load()
		g := st.gen()
		switch st.phase() {
		case phFilling:
			if st.pay() == 0 {
				return nil
			}
		case phReleasing:
			if st&(flagReset|flagBreak) == flagReset || br.cas(st, st&^flagBreak|flagReset) {
				return nil
			}
			continue
		case phResetting:
			// Another Reset is at work; undo a break asked meanwhile.
			if st&flagBreak == 0 || br.cas(st, st&^flagBreak) {
				return nil
			}
			continue
		}
		if !br.cas(st, mkState(g, phResetting, uint32(self))) {
			continue
		}
		br.setHistory(g, true)
		br.lastReset.Store(lastResetValid | g)
		for {
			st := br.load()
			if st.gen() != g || st.phase() != phResetting || st.pay() != uint32(self) {
				return fmt.Errorf("%w: barrier reset taken over", ErrCorrupt)
			}
			next := mkState(g+1, phFilling, 0)
			if st&flagBreak != 0 {
				next = mkState(g+1, phBroken, 0)
			}
			if br.cas(st, next) {
				br.wake()
				return nil
			}
		}
	}
}

// Abort breaks the barrier: every waiter and every later Wait gets
// ErrBrokenBarrier, until Reset. A cycle whose action is running breaks
// when the action returns.
func (br *Barrier) Abort() error {
	if br.closed.Load() {
		return ErrClosed
	}
	br.breakNow()
	return nil
}

// breakNow breaks whatever cycle is in progress.
func (br *Barrier) breakNow() {
	for {
		st := br.load()
		if st.phase() == phBroken {
			return
		}
		if br.breakCycle(st.gen()).gen() == st.gen() {
			return
		}
	}
}

// breakCycle breaks cycle g unless it has ended: a filling cycle at once,
// one being released or reset by asking its owner. It returns the state it
// left or found.
func (br *Barrier) breakCycle(g uint32) bstate {
	for {
		st := br.load()
		if st.gen() != g || st.phase() == phBroken {
			return st
		}
		var next bstate
		if st.phase() == phFilling {
			next = mkState(g, phBroken, 0)
		} else {
			if st&flagBreak != 0 {
				return st
			}
			next = st&^flagReset | flagBreak
		}
		if br.cas(st, next) {
			if next.phase() == phBroken {
				br.wake()
			}
			return next
		}
	}
}

// sleeper is one Wait's record in its attachment's asleep word.
type sleeper struct {
	br      *Barrier
	self    shm.Token
	counted bool
}

// enter counts the party in, once.
func (r *sleeper) enter() {
	if r.counted {
		return
	}
	w := r.br.asleep[r.self.Slot()]
	for {
		v := w.Load()
		next := uint64(r.self.Gen())<<32 | 1
		if uint32(v>>32) == r.self.Gen() {
			if uint32(v) == math.MaxUint32 {
				return // garbage; nothing to count with
			}
			next = v + 1
		}
		// Otherwise the record was left by an earlier attachment of this
		// slot, which is gone: take it over (see the file comment).
		if w.CompareAndSwap(v, next) {
			r.counted = true
			return
		}
	}
}

// leave counts the party out, if it was counted in.
func (r *sleeper) leave() {
	if !r.counted {
		return
	}
	w := r.br.asleep[r.self.Slot()]
	for {
		v := w.Load()
		if uint32(v>>32) != r.self.Gen() || uint32(v) == 0 || w.CompareAndSwap(v, v-1) {
			return
		}
	}
}

// sleepUntil waits until cycle g ends (the generation moves on) or breaks,
// and returns the state it found; it returns the error, with the state it
// saw last, when ctx ends (ctx.Err()) or something fails. It serves a
// party that waits for its cycle's release, and one that waits for a
// release or reset in progress to end before it arrives.
func (br *Barrier) sleepUntil(ctx context.Context, r *sleeper, g uint32) (bstate, error) {
	done := func(s bstate) bool { return s.gen() != g || s.phase() == phBroken }
	st := br.load()
	if done(st) {
		return st, nil
	}
	if wait.Spin(br.spin, func() bool { st = br.load(); return done(st) }) {
		return st, nil
	}
	for {
		s := br.seq.Load()
		st = br.load()
		if done(st) {
			return st, nil
		}
		if err := wait.CtxErr(ctx); err != nil {
			return st, err
		}
		r.enter()
		if s&sleeperBit == 0 && !br.seq.CompareAndSwap(s, s|sleeperBit) {
			continue
		}
		polled, err := br.sleep(ctx, br.seq, s|sleeperBit)
		if err != nil {
			return st, err
		}
		if polled {
			if err := br.checkDead(r.self); err != nil {
				return st, err
			}
		}
	}
}

// checkDead breaks the barrier if a party asleep in it, or the owner of a
// cycle being released or reset, is dead. Of all sleepers, one a Poll does
// the work.
func (br *Barrier) checkDead(self shm.Token) error {
	now := uint64(time.Now().UnixNano())
	last := br.scanned.Load()
	if last <= now && now-last < uint64(br.poll) {
		return nil
	}
	if !br.scanned.CompareAndSwap(last, now) {
		return nil
	}
	if st := br.load(); st.phase() == phReleasing || st.phase() == phResetting {
		owner := shm.Token(st.pay())
		if owner != self {
			alive, err := br.alive(owner)
			if err != nil {
				return err
			}
			if !alive && br.cas(st, mkState(st.gen(), phBroken, 0)) {
				br.wake()
			}
		}
	}
	for slot, w := range br.asleep {
		v := w.Load()
		if uint32(v) == 0 {
			continue
		}
		gen := uint32(v >> 32)
		if gen == 0 || gen > liveness.MaxGen {
			return fmt.Errorf("%w: barrier record of slot %d: %#x", ErrCorrupt, slot, v)
		}
		tok := liveness.MakeToken(slot, gen)
		if tok == self {
			continue
		}
		alive, err := br.alive(tok)
		if err != nil {
			return err
		}
		if !alive && w.CompareAndSwap(v, 0) {
			br.breakNow()
		}
	}
	return nil
}

// Parties is the number of parties the barrier waits for.
func (br *Barrier) Parties() int { return int(br.parties) }

// NWaiting is the number of parties waiting in the cycle now filling; 0
// while a cycle is released or reset, or the barrier is broken (as
// Python's n_waiting).
func (br *Barrier) NWaiting() int {
	if br.closed.Load() {
		return 0
	}
	if st := br.load(); st.phase() == phFilling {
		return int(min(st.pay(), br.parties-1))
	}
	return 0
}

// Broken reports whether the barrier is broken, or will be once the
// action running now returns.
func (br *Barrier) Broken() bool {
	if br.closed.Load() {
		return false
	}
	st := br.load()
	return st.phase() == phBroken || st.phase() != phFilling && st&flagBreak != 0
}

// Close lets go of this process's reference to the barrier.
func (br *Barrier) Close() error {
	if !br.closed.CompareAndSwap(false, true) {
		return ErrClosed
	}
	return br.close()
}

// ShmObjects tells process.Start which segment to pass along with the
// barrier.
func (br *Barrier) ShmObjects() []*shm.Object { return []*shm.Object{br.obj} }

// GobDecode opens the barrier whose handle GobEncode encoded. The action
// does not travel: set it again with SetAction.
func (br *Barrier) GobDecode(data []byte) error {
	h, err := decodeHandle(data)
	if err != nil {
		return err
	}
	b, err := openHandle(h, shm.KindBarrier, nil)
	if err != nil {
		return err
	}
	return br.init(b)
}
