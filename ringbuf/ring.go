package ringbuf

// A Ring's payload (shm.KindRing, layout version 3): control lines, each
// 128 bytes so that producers' and consumers' words never share a cache
// line, then the data area. All words little-endian, reached only through
// sync/atomic.
//
//	off   size  field
//	0     8     capacity       bytes in the data area: a power of two, 64 to MaxCapacity
//	8     4     flags          bit 0 single producer, bit 1 single consumer; set at creation
//	12    4     shut           nonzero once Shutdown ran: no Claim succeeds after it
//	16    4     spaceSeq       futex word of producers waiting for space; bumped when free moves
//	20    4     spaceSleepers  producers asleep, or about to sleep, on spaceSeq
//	24    4     dataSeq        futex word of consumers waiting for data; bumped on commit
//	28    4     dataSleepers   consumers asleep, or about to sleep, on dataSeq
//	32    4     spaceWake      nonzero: a producer went to sleep since the last wake-up of spaceSeq
//	36    4     dataWake       nonzero: a consumer went to sleep since the last wake-up of dataSeq
//	40    88    reserved, zero
//	128   8     tail           next byte a producer may claim
//	136   4     prodLock       producer claim lock: owner token | waiter bit (internal/robust)
//	140   12    reserved, zero
//	152   8     committed      records committed, ever (for Len)
//	160   96    reserved, zero
//	256   8     head           next record a consumer may take
//	264   4     consLock       consumer claim lock: owner token | waiter bit; with
//	                             SingleConsumer the consumer's hold (see below)
//	268   8     reserved, zero
//	276   4     orphans        nonzero: a record between free and head is READING by a dead consumer
//	280   8     taken          records taken, ever, not counting redeliveries (for Len)
//	288   96    reserved, zero
//	384   8     free           every byte before it may be reused
//	392   120   reserved, zero
//	512   cap   data
//
// Waiting: a waiter adds itself to the sleepers word, loads the sequence
// word, stores 1 in the wake word, checks its condition once more and
// sleeps only while the sequence word holds what it loaded (futex), for at
// most the poll interval; then it takes itself off the sleepers word, and
// if others still sleep stores 1 in the wake word again. A waker changes
// the state (commit, free), then, if the sleepers word is not zero and it
// swaps the wake word from nonzero to zero, bumps the sequence word and
// makes the wake system call. All are sequentially consistent atomics, so
// no wake-up is lost: a waiter whose check came before the waker's change
// stored its 1 before that change, so the waker's swap comes after the 1;
// whichever swap takes that 1 (the waker's or an earlier one's) is
// followed by a bump of the sequence word, after the waiter loaded it, and
// the futex does not let the waiter sleep through that bump. (Storing the
// 1 before loading the sequence word would be wrong: a swap between the
// two would bump before the load and wake nobody.) The wake word is what
// keeps a stream of commits from making a system call each while a woken
// consumer is on its way back to a CPU (the sleepers word says it sleeps
// until it runs): only the first of them wakes it. A wake of one waiter
// that reaches another leaves the first asleep until the woken one stores
// 1 again on its way out, or passes the wake on (take, and a waiter whose
// context ended, wake one more whenever others sleep).
//
// The first line is written only by New, Shutdown and waiters going to
// sleep or being woken: every Commit reads dataSleepers and every Release
// reads spaceSleepers, and on a line that nobody writes on the fast path
// those reads hit the cache. (Layout version 1 kept each side's waiter
// words on that side's line, so that every Commit missed on the line that
// every Take writes, and every Release on the line that every Claim
// writes.)
//
// Cursors are byte positions that only grow; position p lives at
// data[p % capacity] (a uint64 of positions would take 136 years to wrap at
// 4 GB/s, so wrapping is not handled). Always
//
//	free ≤ head ≤ tail ≤ free + capacity,   all multiples of 8.
//
//	           free            head                 tail
//	            │               │                    │
//	  ──────────▼───────────────▼────────────────────▼──────────
//	  reusable  │ taken: READING│ committed, claimed │ reusable
//	            │ (or COMMITTED │ (being written),   │ (junk above tail
//	            │ with Single-  │ SKIP               │  is never read)
//	            │ Consumer),    │                    │
//	            │ DONE, SKIP    │                    │
//	  ──────────┴───────────────┴────────────────────┴──────────
//
// A record is an 8-byte header at an 8-aligned position followed by its
// payload, 8 + align8(length) bytes in all, and never straddles the end of
// the data area. Header word:
//
//	bits 0-28   payload length (records are at most MaxRecord bytes)
//	bits 29-31  state: 0 FREE, 1 CLAIMED, 2 COMMITTED, 3 READING, 4 DONE, 5 SKIP
//	bits 32-62  owner: CLAIMED: the producer's token; READING: the consumer's;
//	            lap: COMMITTED, SKIP, DONE: position / capacity, modulo 2³¹
//	            (only a single consumer reads it: see below)
//	bit  63     zero
//
// Who writes what, and the store that hands it over:
//
//   - A producer holding the producer claim lock writes, above tail, a SKIP
//     header padding to the end of the data area if the record would
//     straddle it, then the record's header (CLAIMED, self) with atomic
//     stores, and then stores tail: that store publishes both headers to
//     consumers, who load tail before they read a header below it. A
//     producer that dies holding the lock leaves junk above tail only, which
//     the next claim overwrites. With SingleConsumer it also clears, before
//     the store of tail, the word at the claim's end if that lies in free
//     space (see below).
//   - The producer then owns the payload bytes: it writes them with plain
//     stores, and hands them over with the compare-and-swap CLAIMED(self) →
//     COMMITTED, which the consumer's compare-and-swap COMMITTED → READING
//     observes.
//   - A consumer holding the consumer claim lock takes the record at head
//     (COMMITTED → READING(self)) and stores head past it, then owns the
//     payload bytes until Release, whose compare-and-swap READING(self) →
//     DONE hands them back. Whoever sees a DONE or SKIP record at free moves
//     free past it with a compare-and-swap on free; a producer loads free
//     before it writes into the space below free + capacity.
//   - Bytes between free and free + capacity that lie above tail are
//     reused: a producer writes there only after it has seen free pass
//     them, so the consumer's reads of the old record come before the
//     producer's writes of the new one.
//
// With SingleProducer, a claim does not store tail: the producer keeps
// where its claims end in its own memory (ptail) and Commit stores tail up
// to there, after its compare-and-swap to COMMITTED (with SingleConsumer,
// before it: a single consumer must never see a COMMITTED header above
// tail). In the usual claim, commit, claim, commit, consumers that go by
// tail never see a CLAIMED record and wait on tail alone. A claim still
// open when another commits (or when Shutdown runs, which publishes too)
// becomes visible CLAIMED below tail, and follows the rules above and
// below. A single producer that dies between Claim and Commit leaves its
// claim above tail, where a consumer that goes by tail does not look, and
// where a single consumer, which goes by headers, waits at its CLAIMED
// header (or its padding's SKIP) and never skips it; the next producer to
// open the ring claims from tail and overwrites it.
//
// With SingleConsumer, the consumer claim lock is the consumer's hold: the
// first process to take locks it and keeps it until it closes its Ring (or
// dies: the next consumer takes it over, internal/robust). The holder owns
// [free, head) by being the only consumer, so it writes no header, and it
// goes by headers, not by tail: a message costs one line crossing from
// producer to consumer, the record's, and no consumer write pulls a line
// away from the producer. A take loads the header at head: COMMITTED with
// head's lap, it stores head past the record (for a batch, past the last)
// and is done; DONE (below) it passes; SKIP it passes once it is final: a
// single producer's padding is not before its claim is published, and
// what says so is the tail it saw last, or for padding a current header
// at the start of the next lap, or for another SKIP (rare: a dead
// producer's claim) tail loaded then (see skipFinal); anything else
// (CLAIMED, the zero a claim leaves at the next claim's place, a header of
// the lap before, old payload) means nothing yet. Only then, and only if
// the ring is shut or a poll interval has passed, does it load tail: to
// report the end, to pass padding that tail has passed though nothing
// after it is committed, to skip a dead producer's claim below tail, or
// to report a corrupt ring (below tail every header is CLAIMED or of its
// lap). What makes a header at head trustworthy without tail:
//
//   - a claim clears the word at its end, before it publishes anything,
//     when that word lies in free space (end < free + capacity), so that
//     old payload bytes never look like the next header; otherwise (the
//     claim ends at free + capacity) the word is the header of the record
//     at free, a lap old, and stays so until the next claim writes there;
//   - COMMITTED, SKIP and DONE headers carry their position's lap, so that
//     a header of the lap before is not taken for a new one (31 bits of
//     lap: a stale header is exactly one lap old);
//   - COMMITTED headers appear only below tail: producers store tail
//     before they commit (with SingleProducer, Commit stores it first).
//
// Consumers that go by tail ignore the lap. A Release of records taken in
// order (free is at the first, or at a SKIP right before it that its take
// passed) is one compare-and-swap of free, from there to the last one's
// end, whatever their number. A Release while a record taken earlier is
// still held marks its records COMMITTED → DONE, and free passes them
// after the earlier one (moveFree). So the records between free and head
// are COMMITTED (taken, not released), DONE or SKIP; nobody else writes
// them, and moves of free stop at the first COMMITTED one. A new holder (after a Close or a death) moves head back to the
// first COMMITTED record at or after free and takes as many off taken:
// what the previous consumer took and did not release is delivered again,
// in order. (Layout version 2 marked records READING and DONE in
// single-consumer rings too, and took no hold.)
//
// A process that dies:
//
//   - holding a claim lock: the next locker takes it over (internal/robust); every
//     state the lock protects is consistent at every step (headers before
//     tail; take-CAS before head store, and a READING record at head is
//     taken over below).
//   - between Claim and Commit: its record sits CLAIMED at or after head.
//     A consumer that waits at it for a whole poll interval asks whether the
//     owner lives and, if not, turns it into SKIP. Nothing is lost: it was
//     never committed. (The interval adds up over the calls of one
//     process, so that waits in short calls get there too: see stall.go.)
//   - between Take and Release: its record stays READING(dead) between free
//     and head, and free stops there. Whoever finds free stuck at it after a
//     poll interval (a producer waiting for space, a consumer waiting for
//     data) sets orphans; the next Take sees orphans and takes the record
//     over (READING(dead) → READING(self)) before it takes from head. So
//     a record whose consumer died before Release is delivered again,
//     possibly out of order.
//   - after Release, before it moved free: the DONE record is passed by the
//     next Release, or by a producer waiting for space.
//   - asleep: the sleepers count stays one too high, which costs the next
//     commit or release after a live waiter has gone to sleep (and stored 1
//     in the wake word) one needless wake system call, nothing else.
//   - between its swap of a wake word and its wake: the sleepers it should
//     have woken wait out their poll interval.
//   - between a commit or take compare-and-swap and the update of
//     committed or taken that follows it: Len is off by that commit's or
//     take's count of records (one, or a batch's) from then on.
//   - with SingleProducer and not SingleConsumer, between Commit's
//     compare-and-swap and its store of tail: the record is COMMITTED above
//     tail, where no consumer looks, and is overwritten by the next
//     producer's claim. Commit had not returned, so the record had not been
//     promised.
//   - with SingleProducer and SingleConsumer, between Commit's store of
//     tail and its compare-and-swap: the record is CLAIMED(dead) below
//     tail, and skipped after a poll like any dead producer's claim.
//   - with SingleConsumer, as the consumer (holding the hold): the records
//     it took and did not release stay COMMITTED between free and head.
//     The next process to take waits for the hold, takes it over once the
//     holder is found dead (after a poll interval; TryTake asks at once),
//     moves head back (above) and gets them again, in order. A record
//     whose Release returned is behind free or DONE, and is never
//     delivered again. A Release of records in order is one
//     compare-and-swap: all of them are consumed or none. One out of order
//     marks its records DONE one by one: those marked are consumed, the
//     others delivered again. Dying between the store of head and the
//     update of taken leaves Len off, as below.
//
// Len is committed − taken rather than one counter that both sides update,
// so that producers and consumers each write only their own line; a
// producer reads free only when the free it saw last leaves too little
// space, so that the line consumers write crosses to producers once per
// lap rather than once per record.
//
// No lost wake-up: a waiter adds itself to its sleepers word, then loads
// the sequence word, then checks its condition, then sleeps only while the
// sequence word still holds what it loaded. A waker changes the state (a
// commit, a move of free), then loads the sleepers word and, if it is not
// zero, bumps the sequence word and wakes. With sequentially consistent
// atomics, either the waiter's check sees the change or the waker sees the
// sleeper, and then its bump either comes before the waiter's load (the
// check sees the change) or after it (the futex returns at once). Commits
// wake one consumer, and a consumer that takes a record while another is
// ready and someone sleeps wakes the next; moves of free wake every producer,
// since each needs a different amount of space. Every sleep is bounded by
// the poll interval besides.
//
// Why not simpler:
//
//   - A ring with only head and tail, consumers copying out under the
//     lock, loses the record of a consumer that dies mid-copy and holds
//     the consumer lock across a copy of any size. free is what lets
//     consumers read in place, outside the lock, and still be taken over.
//   - Publishing a claim by storing tail before the header would let a
//     consumer read the old header of reused space as a record.
//   - Records may take at most half the data area. A record of up to the
//     whole area could find the empty ring too small once padding to the
//     end is added, and wait forever: with need ≤ capacity/2 the padding is
//     less than need, and padding plus record fit an empty ring.
//
// The race detector sees none of this (it cannot see mapped memory): one
// sentinel per ring per process gets ReleaseMerge before every publishing
// atomic (commit, release, unlock) and Acquire after every observing one
// (take, a claim's load of free, lock). Merging means it over-approximates
// the edges; it never invents a race.

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/shmkit/shmkit/internal/robust"
	"math/bits"
	"sync/atomic"
	"time"

	"github.com/shmkit/shmkit/internal/layout"
	"github.com/shmkit/shmkit/internal/liveness"
	"github.com/shmkit/shmkit/internal/race"
	"github.com/shmkit/shmkit/internal/wait"
	"github.com/shmkit/shmkit/shm"
)

const (
	offCapacity      = 0
	offFlags         = 8
	offShut          = 12
	offTail          = 128
	offProdLock      = 136
	offSpaceSeq      = 16
	offSpaceSleepers = 20
	offHead          = 256
	offConsLock      = 264
	offDataSeq       = 24
	offDataSleepers  = 28
	offSpaceWake     = 32
	offDataWake      = 36
	offOrphans       = 276
	offFree          = 384
	offCommitted     = 152
	offTaken         = 280
	dataOffset       = 512

	flagSingleProducer = 1 << 0
	flagSingleConsumer = 1 << 1
	knownFlags         = flagSingleProducer | flagSingleConsumer

	objectVersion = 3
)

// Limits.
const (
	// MinCapacity is the smallest data area of a ring.
	MinCapacity = 64
	// MaxCapacity is the largest data area of a ring.
	MaxCapacity = 1 << 40
	// MaxRecord is the largest record any ring holds; a ring of capacity c
	// holds records of at most min(c/2 - 8, MaxRecord) bytes (see
	// Ring.MaxRecord).
	MaxRecord = 1<<29 - 1
)

// Record states (bits 29-31 of a header).
const (
	stFree      = 0
	stClaimed   = 1
	stCommitted = 2
	stReading   = 3
	stDone      = 4
	stSkip      = 5
)

const (
	lenMask    = 1<<29 - 1
	stateShift = 29
	ownerShift = 32
)

func header(length uint64, state uint64, owner shm.Token) uint64 {
	return length | state<<stateShift | uint64(owner)<<ownerShift
}

// lapMask keeps the lap that COMMITTED, SKIP and DONE headers carry in
// their owner bits: position / capacity, modulo 2³¹.
const lapMask = 1<<31 - 1

// headerAt is the header of a COMMITTED, SKIP or DONE record of length
// bytes at position p: it carries p's lap (see the top of ring.go).
func (r *Ring) headerAt(p, length, state uint64) uint64 {
	return length | state<<stateShift | r.lapOf(p)<<ownerShift
}

// lapOf is the lap of position p, as headers carry it.
func (r *Ring) lapOf(p uint64) uint64 { return p >> r.shift & lapMask }

// current reports whether w, read at position p, is a COMMITTED, SKIP or
// DONE header written for p in this lap, not a header left from the lap
// before or old payload bytes (see the top of ring.go).
func (r *Ring) current(p, w uint64) bool {
	st := hdrState(w)
	return w>>ownerShift == r.lapOf(p) && (st == stCommitted || st == stSkip || st == stDone)
}

func hdrLen(h uint64) uint64          { return h & lenMask }
func hdrState(h uint64) uint64        { return h >> stateShift & 7 }
func hdrOwner(h uint64) shm.Token     { return shm.Token(h >> ownerShift & (1<<31 - 1)) }
func recordSize(length uint64) uint64 { return 8 + (length+7)&^7 }

// Defaults for Options (see internal/wait).
const (
	DefaultSpin = wait.DefaultSpin
	DefaultPoll = wait.DefaultPoll
)

// Options tunes a ring. The zero value (or nil) means the defaults. Spin and
// Poll are this process's own; SingleProducer and SingleConsumer are
// recorded in shared memory by New and ignored by Open.
type Options struct {
	// Spin is how long a blocked call spins before it sleeps, and how
	// long TryClaim and TryTake wait for another claim or take to leave
	// a claim lock. Zero means DefaultSpin; negative means sleep at once
	// (and not wait for a claim lock).
	Spin time.Duration
	// Poll bounds each sleep, so that a sleeper notices a cancelled
	// context or a dead peer within Poll. The waits of one process add up
	// across calls: one that waits in short calls (TryTake or TryClaim
	// in a loop, short deadlines) also gets past a dead peer's record
	// once it has waited Poll in all. Zero means DefaultPoll.
	Poll time.Duration
	// SingleProducer (New only) promises that at most one goroutine of one
	// process claims and commits at a time, so claims skip the producer
	// claim lock. Two at once corrupt the ring.
	SingleProducer bool
	// SingleConsumer (New only) promises that at most one goroutine of one
	// process takes at a time. The first process to take becomes the
	// ring's consumer, and stays so until it closes its Ring or dies: a
	// Take in another process waits for that (TryTake fails), and then
	// gets again every record the first took and did not release; such a
	// Take waits through Shutdown too. The consumer writes a header only
	// to mark an out-of-order release DONE or to skip a dead producer's
	// claim, so that its reads do not pull the producer's lines away from
	// it. Two goroutines taking at once may deliver a record twice or
	// corrupt the ring. Two Rings of one process share its token: the
	// second one's Take waits until the first closes.
	SingleConsumer bool
}

// policy is the spin and poll intervals o asks for, defaults applied.
func (o *Options) policy() (spin, poll time.Duration) {
	if o == nil {
		return wait.Policy(0, 0)
	}
	return wait.Policy(o.Spin, o.Poll)
}

// noCopy makes go vet report copies (see sync.noCopy).
type noCopy struct{}

func (*noCopy) Lock()   {}
func (*noCopy) Unlock() {}

// Ring is a ring of variable-length records in shared memory, for any
// number of producers and consumers in any number of processes. Producers
// Claim space, fill it in place and Commit it; consumers Take a record,
// read it in place and Release it. Records come out in the order their
// claims were made (Take waits for an uncommitted record at the front).
// ClaimBatch and TakeBatch do the same for several records at once, with
// one round of the claim lock and one wake-up (see Claims and Records).
//
// Make one with New, or open one with Open or OpenHandle; a *Ring passed to
// process.Start arrives in the child as the same ring. A Ring must not be
// copied. Its methods may be called from any goroutine of any process that
// has it open.
//
// A Commit synchronizes before the Take that returns its record, and a
// Release before the Claim that reuses its space, in the sense of
// [the Go memory model].
//
// Delivery: each committed record is delivered to exactly one Release. A
// consumer that dies between Take and Release has its record delivered to
// another consumer (possibly out of order); one that dies after Release
// has consumed it. A producer that dies between Claim and Commit loses
// only that uncommitted record; one that dies after Commit has published
// it. A process that dies holding a claim lock or asleep leaves nothing
// stuck (see the invariants at the top of ring.go).
//
// Shutdown ends the ring for everyone: later claims fail with ErrShutdown,
// and takes fail with ErrShutdown once the ring is empty. Close lets go of
// this process's handle: methods then return ErrClosed, and slices from
// Claim.Bytes and Record.Bytes die with it. Close while another goroutine
// is inside a method is a misuse, like closing a file being read.
//
// A goroutine blocked in a Ring sleeps in the kernel and holds an OS
// thread while it does.
//
// [the Go memory model]: https://go.dev/ref/mem
type Ring struct {
	_    noCopy
	obj  *shm.Object
	own  *shm.Segment // a segment made for this ring alone, or nil
	race race.Sentinel
	spin time.Duration
	poll time.Duration

	capacity uint64
	mask     uint64
	shift    int // log2(capacity)
	maxRec   uint64
	sp, sc   bool
	data     []byte          // the data area
	hdrs     []atomic.Uint64 // the data area as words, for headers

	shut, spaceSeq, spaceSleepers, dataSeq, dataSleepers, orphans *atomic.Uint32
	spaceWake, dataWake                                           *atomic.Uint32
	tail, head, free, committed, taken                            *atomic.Uint64
	prod, cons                                                    robust.Mutex

	// freeSeen is the last value of free that a claim in this process
	// loaded: free only grows, so space computed from it is never too much.
	// Claims use it under the producer claim lock (or alone, with
	// SingleProducer).
	freeSeen uint64
	// tailSeen is the last value of tail that a take in this process
	// loaded: tail only grows, so every record below it is whole. Takes
	// use it under the consumer claim lock (or alone, with
	// SingleConsumer), and load tail again only when head reaches it.
	tailSeen uint64
	// ptail, with SingleProducer, is where this process's claims end:
	// claims go up to it, and Commit publishes them by storing tail up to
	// it (see the top of ring.go). Go memory; an atomic only for
	// Shutdown, which may run in another goroutine.
	ptail atomic.Uint64
	// pubTail is the tail this process last saw or stored as producer:
	// if tail is anything else, another producer has claimed since, and
	// ptail is void.
	pubTail atomic.Uint64
	// headStall and freeStall time this process's waits for head (takes)
	// and free (claims) across calls: see stall.
	headStall, freeStall stall
	// holding, with SingleConsumer, says this Ring holds the consumer
	// claim lock as the ring's one consumer (see hold), from its first
	// take until Close.
	holding atomic.Bool

	closed atomic.Bool
	// gen changes at Close, and at every Commit of a batch that publishes
	// records and every Release of a batch that gives records back,
	// through this Ring. A range loop over a batch's All loads it after
	// each record and looks at the batch itself only when it has changed
	// (see Claims.All). On a line of its own: goroutines that commit
	// batches through one Ring write it, and every method reads the
	// fields above.
	_   [64]byte
	gen atomic.Uint32
	_   [60]byte
}

// New places a new empty ring with a data area of capacity bytes (a power
// of two, MinCapacity to MaxCapacity) in seg under name ("" for none), or,
// with a nil seg, in an anonymous segment of its own.
func New(seg *shm.Segment, name string, capacity int, opts *Options) (_ *Ring, err error) {
	if capacity < MinCapacity || capacity > MaxCapacity || bits.OnesCount64(uint64(capacity)) != 1 {
		return nil, fmt.Errorf("ringbuf: %w: capacity %d, want a power of two from %d to %d", shm.ErrSize, capacity, MinCapacity, MaxCapacity)
	}
	var own *shm.Segment
	if seg == nil {
		if name != "" {
			return nil, fmt.Errorf("%w: a named ring needs a segment", shm.ErrName)
		}
		// Header, a full process table, the object header and the ring.
		if own, err = shm.New(dataOffset+capacity+64<<10, nil); err != nil {
			return nil, err
		}
		seg = own
		defer func() {
			if err != nil {
				own.Close()
			}
		}()
	}
	var flags uint32
	if opts != nil && opts.SingleProducer {
		flags |= flagSingleProducer
	}
	if opts != nil && opts.SingleConsumer {
		flags |= flagSingleConsumer
	}
	obj, err := seg.Alloc(shm.Spec{Kind: shm.KindRing, Version: objectVersion, Name: name, Size: dataOffset + capacity, Align: 128},
		func(p layout.View) error {
			c, err := p.Uint64(offCapacity)
			if err != nil {
				return err
			}
			f, err := p.Uint32(offFlags)
			if err != nil {
				return err
			}
			c.Store(uint64(capacity))
			f.Store(flags)
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("new ring: %w", err)
	}
	r, err := finish(obj, opts)
	if err != nil {
		return nil, err
	}
	r.own = own
	return r, nil
}

// Open opens the ring named name in seg.
func Open(seg *shm.Segment, name string, opts *Options) (*Ring, error) {
	obj, err := seg.Lookup(name, shm.KindRing)
	if err != nil {
		return nil, err
	}
	return finish(obj, opts)
}

// OpenHandle opens the ring that h names (see shm.OpenHandle).
func OpenHandle(h shm.Handle, opts *Options) (*Ring, error) {
	obj, err := shm.OpenHandle(h, shm.KindRing)
	if err != nil {
		return nil, err
	}
	return finish(obj, opts)
}

// finish checks obj's version and control words and wraps it; it owns obj
// and closes it on failure.
func finish(obj *shm.Object, opts *Options) (_ *Ring, err error) {
	defer func() {
		if err != nil {
			obj.Close()
		}
	}()
	if obj.Version() != objectVersion {
		return nil, fmt.Errorf("%w: ring of layout version %d, this code knows %d", shm.ErrVersion, obj.Version(), objectVersion)
	}
	h := obj.Handle()
	spin, poll := opts.policy()
	r := &Ring{obj: obj, race: race.For(h.Segment, h.Offset), spin: spin, poll: poll}
	if err := r.init(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *Ring) init() error {
	p := r.obj.Payload()
	var errs []error
	u32 := func(off uint64) *atomic.Uint32 {
		w, err := p.Uint32(off)
		errs = append(errs, err)
		return w
	}
	u64 := func(off uint64) *atomic.Uint64 {
		w, err := p.Uint64(off)
		errs = append(errs, err)
		return w
	}
	capW, flagsW := u64(offCapacity), u32(offFlags)
	r.shut, r.spaceSeq, r.spaceSleepers = u32(offShut), u32(offSpaceSeq), u32(offSpaceSleepers)
	r.dataSeq, r.dataSleepers, r.orphans = u32(offDataSeq), u32(offDataSleepers), u32(offOrphans)
	r.spaceWake, r.dataWake = u32(offSpaceWake), u32(offDataWake)
	r.tail, r.head, r.free = u64(offTail), u64(offHead), u64(offFree)
	r.committed, r.taken = u64(offCommitted), u64(offTaken)
	prod, cons := u32(offProdLock), u32(offConsLock)
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: ring control words: %w", ErrCorrupt, err)
	}
	c := capW.Load()
	if c < MinCapacity || c > MaxCapacity || bits.OnesCount64(c) != 1 || uint64(p.Len()) != dataOffset+c {
		return fmt.Errorf("%w: ring capacity %d in a payload of %d bytes", ErrCorrupt, c, p.Len())
	}
	f := flagsW.Load()
	if f&^knownFlags != 0 {
		return fmt.Errorf("%w: ring flags %#x", ErrCorrupt, f)
	}
	data, err := p.UnsafeBytes(dataOffset, c)
	if err != nil {
		return fmt.Errorf("%w: ring data: %w", ErrCorrupt, err)
	}
	hdrs, err := layout.UnsafeSlice[atomic.Uint64](p, dataOffset, c/8)
	if err != nil {
		return fmt.Errorf("%w: ring data: %w", ErrCorrupt, err)
	}
	r.capacity, r.mask, r.shift, r.data, r.hdrs = c, c-1, bits.TrailingZeros64(c), data, hdrs
	r.maxRec = min(c/2-8, MaxRecord)
	r.sp, r.sc = f&flagSingleProducer != 0, f&flagSingleConsumer != 0
	r.prod = robust.Mutex{State: prod, Obj: r.obj, Spin: r.spin, Poll: r.poll, Race: r.race, MergeRelease: true}
	r.cons = robust.Mutex{State: cons, Obj: r.obj, Spin: r.spin, Poll: r.poll, Race: r.race, MergeRelease: true}
	return nil
}

// Cap is the size of the ring's data area in bytes. A record of n bytes
// takes 8 + n rounded up to 8 of it, plus padding at the wrap.
func (r *Ring) Cap() int { return int(r.capacity) }

// MaxRecord is the largest record this ring holds: half its data area,
// less a header, and at most the package's MaxRecord.
func (r *Ring) MaxRecord() int { return int(r.maxRec) }

// Len is the number of records committed and not yet taken. It is exact
// unless a process died between a commit or take and its update of the
// count, which leaves it off (by one, or by a batch) while the ring holds
// records; an empty
// ring (head has caught up with tail) has Len 0 whatever the counts say.
func (r *Ring) Len() int {
	if r.closed.Load() {
		return 0
	}
	if r.head.Load() == r.tail.Load() {
		return 0
	}
	taken := r.taken.Load() // first: it never passes committed
	return int(max(int64(r.committed.Load()-taken), 0))
}

// Handle names the ring for other processes (see OpenHandle).
func (r *Ring) Handle() shm.Handle { return r.obj.Handle() }

// ShmObjects tells process.Start which segment to pass along with the ring.
func (r *Ring) ShmObjects() []*shm.Object { return []*shm.Object{r.obj} }

// GobEncode encodes the ring's handle, so that a *Ring can be an argument
// of process.Start or part of a message; GobDecode opens it again.
func (r *Ring) GobEncode() ([]byte, error) { return r.obj.GobEncode() }

// GobDecode opens the ring whose handle GobEncode encoded, with default
// Options.
func (r *Ring) GobDecode(data []byte) error {
	var h shm.Handle
	if err := h.UnmarshalBinary(data); err != nil {
		return err
	}
	s, err := OpenHandle(h, nil)
	if err != nil {
		return err
	}
	// Move s's fields, not s, into r: the value's noCopy is only for vet.
	r.obj, r.own, r.race, r.spin, r.poll = s.obj, s.own, s.race, s.spin, s.poll
	return r.init()
}

// Close lets go of this process's handle to the ring. It does not shut the
// ring down for others; see Shutdown. Slices returned by Bytes die with it.
// Commit or release first: a claim or a batch this Ring did not commit,
// and records it took from a ring of several consumers and did not
// release, stay this process's for as long as it lives (no one skips or
// takes over a live owner's), so the ring waits at them. A SingleConsumer
// ring's records go back at once.
func (r *Ring) Close() error {
	if !r.closed.CompareAndSwap(false, true) {
		return ErrClosed
	}
	r.gen.Add(1) // ends loops over All (see gen)
	if r.holding.Load() && r.cons.Owner() == r.obj.Self() {
		// What this consumer took and did not release goes back to
		// the ring at once (see hold). A corrupt ring is for the next
		// consumer to report.
		_ = r.rewind()
		r.cons.Unlock()
	}
	err := r.obj.Close()
	if r.own != nil {
		err = errors.Join(err, r.own.Close()) // whatever obj said: nothing else unmaps it
	}
	return err
}

// Shutdown ends the ring for every process, like Python 3.13's
// queue.Queue.shutdown(): later claims fail with ErrShutdown; takes go on
// until the ring is empty, then fail with ErrShutdown. Records claimed
// before Shutdown may still be committed, and are delivered. It wakes every
// waiter. It takes the producer claim lock for a moment (so that no claim
// is half made when the ring shuts), waiting while ctx allows.
//
// With Options.SingleProducer, call it from the producer, or after it has
// stopped: there is no claim lock to order it with a claim.
//
// A Take that finds a shut ring empty first takes over any record left
// unreleased by a dead consumer, and otherwise returns ErrShutdown, even
// while a live consumer still holds a record: if that consumer dies
// later, its record goes to a later Take only.
func (r *Ring) Shutdown(ctx context.Context) error {
	self, err := r.self()
	if err != nil {
		return err
	}
	if _, err := r.prod.Lock(ctx, self); err != nil {
		return err
	}
	if r.sp {
		r.publish() // claims made before Shutdown are delivered once committed
	}
	r.shut.Store(1)
	r.prod.Unlock()
	r.dataSeq.Add(1)
	r.spaceSeq.Add(1)
	wait.Wake(r.dataSeq, 0)
	wait.Wake(r.spaceSeq, 0)
	return nil
}

// IsShutdown reports whether Shutdown has run.
func (r *Ring) IsShutdown() bool { return !r.closed.Load() && r.shut.Load() != 0 }

// self is this process's token in the ring's segment.
func (r *Ring) self() (shm.Token, error) {
	if r.closed.Load() {
		return 0, ErrClosed
	}
	t := r.obj.Self()
	if t == 0 {
		return 0, shm.ErrObserver
	}
	return t, nil
}

// alive reports whether owner is alive; an owner that cannot exist is
// ErrCorrupt.
func (r *Ring) alive(owner shm.Token) (bool, error) {
	ok, err := r.obj.Alive(owner)
	if errors.Is(err, liveness.ErrBadToken) {
		return false, fmt.Errorf("%w: owner %v: %w", ErrCorrupt, owner, err)
	}
	return ok, err
}

// payload is the payload of n bytes of the record at position p: nil once
// the ring is closed (and its segment maybe unmapped), which is how every
// Bytes dies with Close.
func (r *Ring) payload(p, n uint64) []byte {
	if r.closed.Load() {
		return nil
	}
	off := p&r.mask + 8
	return r.data[off : off+n : off+n]
}

// hdr is the header word at position p, which must be 8-aligned.
func (r *Ring) hdr(p uint64) *atomic.Uint64 { return &r.hdrs[(p&r.mask)>>3] }

// corrupt wraps ErrCorrupt with what was found.
func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: ring: %s", ErrCorrupt, fmt.Sprintf(format, args...))
}

// ----- producers -----

// Claim is space for one record, claimed by Ring.Claim or TryClaim: fill
// Bytes, then Commit. It is a value: keep it in a variable and call Commit
// once. It belongs to the goroutine that claimed it.
type Claim struct {
	// Three words, so that the compiler keeps a Claim in registers (see
	// taking); Bytes computes the slice.
	r   *Ring
	pos uint64
	h   uint64 // the header as claimed; 0 once committed
}

// Bytes is the record's payload, in the ring: write it before Commit. It
// dies with Commit and with the Ring's Close (Bytes is nil from then on).
func (c *Claim) Bytes() []byte {
	if c.h == 0 {
		return nil
	}
	return c.r.payload(c.pos, hdrLen(c.h))
}

// Commit publishes the record to consumers and wakes one if any sleeps. A
// second Commit panics. If the record was taken from this process (which
// only a corrupt ring or a liveness bug can do), it returns ErrCorrupt.
func (c *Claim) Commit() error {
	if c.h == 0 || c.r == nil {
		panic("ringbuf: Commit of a claim not held")
	}
	r, h := c.r, c.h
	c.h = 0
	if r.closed.Load() {
		return ErrClosed
	}
	r.race.ReleaseMerge()
	if r.sp && r.sc {
		r.publish() // before the commit: see the top of ring.go
	}
	if !r.hdr(c.pos).CompareAndSwap(h, r.headerAt(c.pos, hdrLen(h), stCommitted)) {
		return corrupt("record at %d changed under its producer", c.pos)
	}
	r.countCommits(1)
	if r.sp && !r.sc {
		r.publish()
	}
	r.wakeData()
	return nil
}

// Claim claims space for a record of n bytes, waiting for space while ctx
// allows. It fails with ErrTooLarge if n is above MaxRecord, ErrShutdown
// after Shutdown, ctx.Err() when ctx ends first.
func (r *Ring) Claim(ctx context.Context, n int) (Claim, error) {
	if n < 0 || uint64(n) > r.maxRec {
		return Claim{}, r.tooLarge(n)
	}
	if pos, h, ok := r.claimNow(uint64(n), recordSize(uint64(n))); ok {
		return r.claimAt(pos, h), nil
	}
	pos, h, err := r.claim(ctx, uint64(n), recordSize(uint64(n)), true)
	if err != nil {
		return Claim{}, err
	}
	return r.claimAt(pos, h), nil
}

// TryClaim claims space for a record of n bytes if there is room now.
// With several producers, "now" includes waiting up to the spin for
// another producer's claim to finish.
func (r *Ring) TryClaim(n int) (Claim, bool) {
	c, err := r.tryClaim(n)
	return c, err == nil
}

// tryClaim is TryClaim with what stopped it: errWouldBlock when there is
// no room now, else the error Claim would return (ErrTooLarge,
// ErrShutdown, ErrClosed, ErrCorrupt, ...).
func (r *Ring) tryClaim(n int) (Claim, error) {
	if n < 0 || uint64(n) > r.maxRec {
		return Claim{}, r.tooLarge(n)
	}
	if pos, h, ok := r.claimNow(uint64(n), recordSize(uint64(n))); ok {
		return r.claimAt(pos, h), nil
	}
	pos, h, err := r.claim(nil, uint64(n), recordSize(uint64(n)), false)
	if err != nil {
		return Claim{}, err
	}
	return r.claimAt(pos, h), nil
}

// claimNow is the fast path of a claim with SingleProducer, which needs
// no claim lock: the claim, if there is room now, without claim's layers
// around claimLocked. ok false: claim the long way, which waits and
// reports what is wrong (claimLocked changed nothing that matters then:
// free may have moved, and freeSeen with it).
func (r *Ring) claimNow(n, need uint64) (pos, h uint64, ok bool) {
	if !r.sp || r.closed.Load() {
		return 0, 0, false
	}
	self := r.obj.Self()
	if self == 0 {
		return 0, 0, false
	}
	pos, h, ok, err := r.claimLocked(self, n, need)
	return pos, h, ok && err == nil
}

// claimAt is the Claim of a record claimed at pos with header h. (The
// layers of a claim pass pos and h, which stay in registers, rather than a
// Claim, which is built in memory at each.)
func (r *Ring) claimAt(pos, h uint64) Claim {
	return Claim{r: r, pos: pos, h: h}
}

func (r *Ring) tooLarge(n int) error {
	return fmt.Errorf("%w: %d bytes, this ring holds at most %d", ErrTooLarge, n, r.maxRec)
}

var errWouldBlock = errors.New("ringbuf: would block")

// claim claims need bytes (n ≤ MaxRecord and need = recordSize(n)) for a
// record whose header says n.
func (r *Ring) claim(ctx context.Context, n, need uint64, block bool) (pos, h uint64, err error) {
	self, err := r.self()
	if err != nil {
		return 0, 0, err
	}
	slept := false
	for {
		if !r.sp {
			if err := lockOrTry(ctx, &r.prod, self, block, r.spin); err != nil {
				return 0, 0, err
			}
		}
		pos, h, ok, err := r.claimLocked(self, n, need)
		if !r.sp {
			r.prod.Unlock()
		}
		if ok || err != nil {
			return pos, h, err
		}
		if !block {
			// A dead consumer may hold free up: see unstickDue.
			return 0, 0, cmp.Or(r.unstickDue(), errWouldBlock)
		}
		if err := r.waitSpace(ctx, need, &slept); err != nil {
			return 0, 0, err
		}
	}
}

// place returns where a record of need bytes claimed at tail t goes: the
// padding before it and the total space it takes from t.
func (r *Ring) place(t, need uint64) (pad, total uint64) {
	if off := t & r.mask; off+need > r.capacity {
		pad = r.capacity - off
	}
	return pad, pad + need
}

// claimLocked makes a claim, with the producer claim lock held (or none
// needed). ok false and no error: no space.
func (r *Ring) claimLocked(self shm.Token, n, need uint64) (pos, h uint64, ok bool, err error) {
	if r.shut.Load() != 0 {
		return 0, 0, false, ErrShutdown
	}
	t := r.claimTail()
	pad, total := r.place(t, need)
	var f uint64
	for attempt := 0; ; attempt++ {
		f = r.freeSeen
		if f > t || t+total-f > r.capacity {
			// Too little space by what we saw last: look again.
			if attempt == 1 {
				if err := r.advanceFree(); err != nil {
					return 0, 0, false, err
				}
			}
			f = r.free.Load()
			r.freeSeen = f
			r.race.Acquire() // the consumers' releases of the space we reuse
		}
		if t%8 != 0 || f > t || t-f > r.capacity {
			return 0, 0, false, corrupt("cursors free %d, tail %d", f, t)
		}
		if t+total-f <= r.capacity {
			break
		}
		if attempt > 0 {
			return 0, 0, false, nil
		}
	}
	// The headers are release stores: what publishes them is the store of
	// tail below, or with SingleConsumer (which goes by headers) the
	// commit's compare-and-swap, and neither needs them to reach the
	// cache before it starts: the payload writes that follow go to the
	// same line, and one fetch of the line, at the commit, serves all.
	if pad > 0 {
		layout.StoreRelease(r.hdr(t), r.headerAt(t, pad-8, stSkip))
	}
	pos = t + pad
	h = header(n, stClaimed, self)
	layout.StoreRelease(r.hdr(pos), h)
	if e := t + total; r.sc {
		// The next header's place holds old bytes, which a consumer
		// going by headers must not take for a header: clear it,
		// unless it is the header of the record at free, a lap old,
		// which e = free + capacity means. f may be behind free,
		// though, and then e lies in free space, where a single
		// producer that died between its claim and its commit may
		// have left a header of its own (a batch's inner COMMITTED
		// one) or payload: so at e = f + capacity it clears what would
		// pass for a header of e's lap, which the lap-old header at
		// free never does. (Looking at free instead would pull its
		// line from the consumer whenever a claim fills the ring.) A
		// plain store: the consumer reads this word only after our
		// commit, which publishes it.
		if e-f < r.capacity || r.current(e, r.hdr(e).Load()) {
			binary.NativeEndian.PutUint64(r.data[e&r.mask:], 0)
		}
	}
	if r.sp {
		layout.StoreRelease(&r.ptail, t+total) // Commit publishes
	} else {
		r.tail.Store(t + total) // publishes both headers
	}
	return pos, h, true, nil
}

// claimTail is where the next claim goes: tail, or with SingleProducer
// the end of this process's claims not yet published.
func (r *Ring) claimTail() uint64 {
	t := r.tail.Load()
	if r.sp {
		if p := r.ptail.Load(); p > t && p-t <= r.capacity && r.pubTail.Load() == t {
			return p
		}
		if r.pubTail.Load() != t {
			layout.StoreRelease(&r.pubTail, t)
		}
	}
	return t
}

// publish, with SingleProducer, stores tail past every claim this process
// made: its headers, the records committed so far and the padding. With
// SingleConsumer, whose consumer goes by headers, the store is a release
// store: the commit's compare-and-swap after it publishes, and orders it
// before the load of the sleepers word; without, the store of tail is the
// publication and stays sequentially consistent.
func (r *Ring) publish() {
	if p, t := r.ptail.Load(), r.tail.Load(); t < p && t == r.pubTail.Load() {
		if r.sc {
			layout.StoreRelease(r.tail, p)
		} else {
			r.tail.Store(p)
		}
		layout.StoreRelease(&r.pubTail, p)
	}
}

// countCommits adds n to committed: with SingleProducer, where no other
// process writes it, a load and a release store (see layout.StoreRelease).
func (r *Ring) countCommits(n uint64) {
	if r.sp {
		layout.StoreRelease(r.committed, r.committed.Load()+n)
	} else {
		r.committed.Add(n)
	}
}

// countTakes adds n to taken: with SingleConsumer, where only the
// consumer holding the ring writes it, a load and a release store.
func (r *Ring) countTakes(n uint64) {
	if r.sc {
		layout.StoreRelease(r.taken, r.taken.Load()+n)
	} else {
		r.taken.Add(n)
	}
}

// hasSpace reports whether a claim of need bytes would fit now, or the
// ring is shut (which the claim then reports).
func (r *Ring) hasSpace(need uint64) bool {
	if r.shut.Load() != 0 {
		return true
	}
	t := r.claimTail()
	_, total := r.place(t, need)
	f := r.free.Load()
	return f > t || t+total-f <= r.capacity // a corrupt ring is the claim's to report
}

// waitSpace waits until a claim of need bytes may fit, for at most one
// poll interval. Once free has stood still for a poll interval of this
// process's waiting (over any number of calls), it checks what holds free
// up.
func (r *Ring) waitSpace(ctx context.Context, need uint64, slept *bool) error {
	if wait.Spin(r.spin, r.roomSoon(need)) {
		return nil
	}
	if err := wait.CtxErr(ctx); err != nil {
		if *slept && r.spaceSleepers.Load() != 0 {
			r.spaceSeq.Add(1)
			wait.Wake(r.spaceSeq, 0)
		}
		return cmp.Or(r.unstickDue(), err)
	}
	r.spaceSleepers.Add(1)
	v := r.spaceSeq.Load()
	r.spaceWake.Store(1) // after the load: see the top of ring.go
	var err error
	if !r.hasSpace(need) {
		_, err = r.sleep(ctx, r.spaceSeq, v)
		*slept = true
	}
	if r.spaceSleepers.Add(^uint32(0)) != 0 {
		r.spaceWake.Store(1) // for those still asleep
	}
	return cmp.Or(r.unstickDue(), err)
}

// roomSoon is the condition a producer spins on while it waits for room
// for need bytes. Each look at free pulls free's line away from the
// consumer, whose next release must fetch it back, and a producer that
// outruns its consumer and claims each record's room as soon as it is
// released does that for every record. So it looks only every 32 polls,
// and for its first 32 looks, while free moves, it waits for room for a
// slice of the ring besides (an eighth, at most 4 KiB, and none where
// padding and record leave no room for it), so that it then claims a run
// of records without looking at free. Once free has stood still for 4
// looks (a consumer that holds its records, or a slow one), or after 32
// looks, room for need will do. A shut ring is the claim's to report.
func (r *Ring) roomSoon(need uint64) func() bool {
	slack := min(r.capacity/8, 4<<10)
	polls, looks, still, last := 0, 0, 0, uint64(0)
	return func() bool {
		if polls++; polls%32 != 0 {
			return false
		}
		if r.shut.Load() != 0 {
			return true
		}
		f := r.free.Load()
		if f != last {
			last, still = f, 0
		} else {
			still++
		}
		if looks++; still > 4 || looks > 32 {
			slack = 0
		}
		t := r.claimTail()
		_, total := r.place(t, need)
		s := slack
		if total+s > r.capacity {
			s = 0
		}
		return f > t || t+total+s-f <= r.capacity // a corrupt ring is the claim's to report
	}
}

// unstickDue runs unstick if free has stood still for a poll interval of
// this process's waiting.
func (r *Ring) unstickDue() error {
	if r.freeStall.due(r.free.Load(), r.poll) {
		return r.unstick()
	}
	return nil
}

// ----- consumers -----

// Record is a record taken by Ring.Take or TryTake: read Bytes, then
// Release. It is a value: keep it in a variable and call Release once. It
// belongs to the goroutine that took it.
type Record struct {
	// Three words, so that the compiler keeps a Record in registers (see
	// taking); Bytes computes the slice.
	r   *Ring
	pos uint64
	// h is the header as taken: READING(self), or COMMITTED with
	// SingleConsumer; bit 63, never set in a header, says the record
	// was taken over from a dead consumer (delivered before: see again).
	// 0 once released.
	h uint64
}

// takenOver is bit 63 of Record.h.
const takenOver = 1 << 63

// again reports whether the record was taken over from a dead consumer,
// which may have consumed it already.
func (rec *Record) again() bool { return rec.h&takenOver != 0 }

// Bytes is the record's payload, in the ring: read it before Release. It
// dies with Release and with the Ring's Close (Bytes is nil from then on).
func (rec *Record) Bytes() []byte {
	if rec.h == 0 {
		return nil
	}
	return rec.r.payload(rec.pos, hdrLen(rec.h))
}

// Len is the length of the record's payload.
func (rec *Record) Len() int { return int(hdrLen(rec.h)) }

// Release gives the record's space back to producers: the record is
// consumed. A second Release panics. If the record was taken over from this
// process (which only a corrupt ring or a liveness bug can do), it returns
// ErrCorrupt.
func (rec *Record) Release() error {
	if rec.h == 0 || rec.r == nil {
		panic("ringbuf: Release of a record not held")
	}
	end, h := rec.end(), rec.h
	rec.h = 0
	r := rec.r
	if r.closed.Load() {
		return ErrClosed
	}
	r.race.ReleaseMerge()
	if r.sc {
		if r.free.Load() == rec.pos && r.free.CompareAndSwap(rec.pos, end) {
			return r.freed(end) // the rule: see releaseSingle
		}
		return r.releaseSingle(rec.pos, end, 1)
	}
	if !r.hdr(rec.pos).CompareAndSwap(h&^takenOver, header(hdrLen(h), stDone, 0)) {
		return corrupt("record at %d changed under its consumer", rec.pos)
	}
	return r.advanceFree()
}

// releaseSingle releases, with SingleConsumer, the count records that lie
// in [pos, end) (with SKIP padding between them). When free is at pos, or
// at a SKIP record that ends at pos, which is the rule (records released
// in the order they were taken), it is one compare-and-swap of free to
// end. Otherwise, records taken earlier are still held: it marks each
// record DONE, which the release of the earlier ones (or a producer in
// need of space) moves free past.
func (r *Ring) releaseSingle(pos, end uint64, count int) error {
	from := pos
	if f := r.free.Load(); f < pos && pos-f <= r.maxRec+8 {
		// A SKIP that the take passed right before the first record
		// (padding, once a lap, or a dead producer's claim) is
		// released with it.
		if w := r.hdr(f).Load(); hdrState(w) == stSkip && r.current(f, w) && f+recordSize(hdrLen(w)) == pos {
			from = f
		}
	}
	return r.releaseSingleFrom(from, pos, end, count)
}

// releaseSingleFrom is releaseSingle once it has seen free at from (pos,
// or a SKIP right before it). A producer's moveFree may have moved free
// past that SKIP since, and a claim reused its place: then the
// compare-and-swap fails, and the slow path starts at pos all the same.
func (r *Ring) releaseSingleFrom(from, pos, end uint64, count int) error {
	if r.free.Load() == from && r.free.CompareAndSwap(from, end) {
		return r.freed(end)
	}
	// The first record still held is marked last, so that free stays
	// behind the rest of the batch while this loop reads its headers (see
	// Records.Release).
	var bad error
	var first, firstW uint64
	held := false
	for p, left := pos, count; left > 0 && p < end; {
		hw := r.hdr(p)
		w := hw.Load()
		n := hdrLen(w)
		if st := hdrState(w); st != stSkip && st != stDone { // DONE: see takeMoreLocked
			left--
			switch {
			case st != stCommitted:
				bad = corrupt("record at %d changed under its consumer", p)
			case !held:
				held, first, firstW = true, p, w
			case !hw.CompareAndSwap(w, r.headerAt(p, n, stDone)):
				bad = corrupt("record at %d changed under its consumer", p)
			}
		}
		p += recordSize(n)
	}
	if held && !r.hdr(first).CompareAndSwap(firstW, r.headerAt(first, hdrLen(firstW), stDone)) {
		bad = corrupt("record at %d changed under its consumer", first)
	}
	if err := r.advanceFree(); err != nil {
		return err
	}
	return bad
}

// freed, with SingleConsumer, follows the consumer's move of free to end:
// it moves free on past records released out of order (if head is beyond
// end), and wakes producers waiting for space.
func (r *Ring) freed(end uint64) error {
	if end != r.head.Load() {
		return r.advanceFree()
	}
	r.wakeSpace()
	return nil
}

// advanceFree moves free past DONE and SKIP records and wakes producers
// waiting for space if it moved.
func (r *Ring) advanceFree() error {
	moved, err := r.moveFree()
	if moved {
		r.wakeSpace()
	}
	return err
}

// wakeSpace wakes the producers waiting for space, if any went to sleep
// since the last wake-up, after free moved.
func (r *Ring) wakeSpace() {
	if r.spaceSleepers.Load() != 0 { // small enough to inline
		r.wakeSpaceNow()
	}
}

func (r *Ring) wakeSpaceNow() {
	if r.spaceWake.Load() != 0 && r.spaceWake.Swap(0) != 0 {
		r.spaceSeq.Add(1)
		wait.Wake(r.spaceSeq, 0)
	}
}

// moveFree moves free past DONE and SKIP records and reports whether it
// moved it.
func (r *Ring) moveFree() (moved bool, err error) {
	for {
		f := r.free.Load()
		h := r.head.Load()
		if f >= h {
			if f > h || f%8 != 0 {
				if r.free.Load() != f {
					continue
				}
				return moved, corrupt("cursors free %d, head %d", f, h)
			}
			return moved, nil
		}
		w := r.hdr(f).Load()
		st := hdrState(w)
		if st != stDone && st != stSkip {
			return moved, nil
		}
		size := recordSize(hdrLen(w))
		if (f&r.mask)+size > r.capacity || f+size > h || w>>63 != 0 {
			if r.free.Load() != f {
				continue // the space was reused under us
			}
			return moved, corrupt("record at %d: header %#x, head %d", f, w, h)
		}
		if r.free.CompareAndSwap(f, f+size) {
			moved = true
		}
	}
}

// Take takes the next record, waiting for one while ctx allows. It fails
// with ErrShutdown once the ring is shut down and empty, ctx.Err() when ctx
// ends first.
func (r *Ring) Take(ctx context.Context) (Record, error) {
	if t, ok := r.takeNow(); ok {
		return r.record(t), nil
	}
	t, err := r.take(ctx, true, 1)
	if err != nil {
		return Record{}, err
	}
	return r.record(t), nil
}

// TryTake takes the next record if one is ready now. With several
// consumers, "now" includes waiting up to the spin for another consumer's
// take to finish.
func (r *Ring) TryTake() (Record, bool) {
	rec, err := r.tryTake()
	return rec, err == nil
}

// tryTake is TryTake with what stopped it: errWouldBlock when no record
// is ready now, ErrShutdown when the ring is shut down and empty, else
// the error Take would return (ErrClosed, ErrCorrupt, ...).
func (r *Ring) tryTake() (Record, error) {
	if t, ok := r.takeNow(); ok {
		return r.record(t), nil
	}
	t, err := r.take(nil, false, 1)
	if err != nil {
		return Record{}, err
	}
	return r.record(t), nil
}

// takeNow is the fast path of a take of one record with SingleConsumer:
// the record at head, if its header is COMMITTED of head's lap and this
// Ring holds the ring as its consumer already. It does what take would do
// then, in one call: takeSingle's move of head, passDone if the next
// header is a current one that is not COMMITTED, and the count of records
// taken. ok false: take the long way, which waits and reports what is
// wrong.
func (r *Ring) takeNow() (_ taking, ok bool) {
	if !r.sc || !r.holding.Load() || r.closed.Load() || r.orphans.Load() != 0 {
		return taking{}, false
	}
	h := r.head.Load()
	w := r.hdr(h).Load()
	n := hdrLen(w)
	size := recordSize(n)
	if h%8 != 0 || w != r.headerAt(h, n, stCommitted) || n > r.maxRec || (h&r.mask)+size > r.capacity {
		return taking{}, false
	}
	e := h + size
	r.storeHead(e)
	if next := r.hdr(e).Load(); r.current(e, next) && hdrState(next) != stCommitted {
		r.passDone()
	}
	r.race.Acquire()
	r.countTakes(1)
	return r.took(h, w), true
}

// taking is what a take found: the first record's place and its header
// as taken, where the last record taken ends, and how many there are with
// flags (count<<3 | flags). Four words, because the compiler keeps a
// struct of at most four fields and 32 bytes in registers and builds a
// bigger one in memory at every layer of a take, which cost a take of one
// record a third of its time. Claim and Record are kept as small for the
// same reason: built in memory, each cost a store-forwarding stall or two
// in the caller at every Claim and Take (copied with 16-byte loads from
// the 8-byte stores of the results), about half of an in-process
// Claim/Commit/Take/Release cycle.
type taking struct {
	pos, h, end uint64
	cf          uint64
}

const (
	takeOK    = 1 << iota // a record was taken
	takeAgain             // taken over from a dead consumer
	takeSame              // the batch's records have the first's length and follow it
	takeFlags = 3         // bits of flags below the count
)

func (t taking) ok() bool   { return t.cf&takeOK != 0 }
func (t taking) count() int { return int(t.cf >> takeFlags) }

// took is the taking of one record at pos with header h.
func (r *Ring) took(pos, h uint64) taking {
	return taking{pos, h, pos + recordSize(hdrLen(h)), 1<<takeFlags | takeOK}
}

// Outcomes of takeLocked besides a record.
const (
	tookNone  = iota // nothing ready
	tookShut         // shut down and empty
	tookAgain        // look again at once (a dead producer's claim was skipped)
)

// take takes the next record and, if max > 1, up to max − 1 committed
// records right after it. It returns the first, where the last ends, and
// how many it took.
func (r *Ring) take(ctx context.Context, block bool, max int) (taking, error) {
	self, err := r.self()
	if err != nil {
		return taking{}, err
	}
	// check: this process has waited a poll interval for head to move
	// (over this call and earlier ones: see stall), so look for dead
	// peers. It goes by the clock, not by sleeps that ran out: under
	// steady traffic a sleeper is woken by commits behind a dead
	// producer's claim long before its sleep runs out (semaphore's
	// recovery does the same).
	slept, check := false, false
	for {
		if r.orphans.Load() != 0 {
			if t, err := r.takeOrphan(self); t.ok() || err != nil {
				return t, err
			}
		}
		if !r.sc {
			if err := lockOrTry(ctx, &r.cons, self, block, r.spin); err != nil {
				return taking{}, err
			}
		} else if !r.holding.Load() {
			if err := r.hold(ctx, self, block); err != nil {
				return taking{}, err
			}
		}
		t, how, err := r.takeLocked(self, check)
		if t.ok() && max > 1 {
			if h, more, same := r.takeMoreLocked(self, t.end, max-1, hdrLen(t.h)); more > 0 {
				r.storeHead(h)
				t.end = h
				t.cf += uint64(more) << takeFlags
				if same {
					t.cf |= takeSame
				}
			}
		}
		if r.sc && t.ok() {
			r.passDone()
		}
		if !r.sc {
			r.cons.Unlock()
		}
		if err != nil {
			return taking{}, err
		}
		if t.ok() {
			r.race.Acquire()
			r.countTakes(uint64(t.count()))
			if !r.sc && r.dataSleepers.Load() != 0 && r.canTake() {
				// Another record is ready and someone sleeps: the
				// commit's wake-up may have come to us.
				r.dataSeq.Add(1)
				wait.Wake(r.dataSeq, 1)
			}
			return t, nil
		}
		switch {
		case how == tookShut:
			// Empty and shut: what a dead consumer took and did not
			// release is all that is left to deliver. (Moving free past
			// what a dead releaser left DONE is only tidying.)
			if err := r.advanceFree(); err != nil {
				return taking{}, err
			}
			if r.free.Load() < r.head.Load() {
				if t, err := r.scanOrphans(self); t.ok() || err != nil {
					return t, err
				}
			}
			return taking{}, ErrShutdown
		case how == tookAgain:
			continue
		case !block:
			if !check && r.headStall.due(r.head.Load(), r.poll) {
				check = true // look once more, checking (see stall)
				if err := r.unstick(); err != nil {
					return taking{}, err
				}
				continue
			}
			return taking{}, errWouldBlock
		}
		ready, err := r.waitData(ctx, &slept)
		if err != nil {
			if !check && wait.CtxErr(ctx) != nil && r.headStall.due(r.head.Load(), r.poll) {
				// The context ended, but this process has waited for
				// head a poll interval: look once more, checking.
				check = true
				if err := r.unstick(); err != nil {
					return taking{}, err
				}
				continue
			}
			return taking{}, err
		}
		if ready {
			// Spinning found something to do, which the next take does
			// (or reports): no clock on the hot path.
			if max == 1 {
				if t, ok := r.takeNow(); ok {
					return t, nil
				}
			}
			continue
		}
		if check = r.headStall.due(r.head.Load(), r.poll); check {
			if err := r.unstick(); err != nil {
				return taking{}, err
			}
		}
	}
}

// takeLocked takes the record at head, with the consumer claim lock held
// (or none needed). check says the caller has waited a poll interval, so
// a claimed record at head should be checked for a dead owner.
func (r *Ring) takeLocked(self shm.Token, check bool) (taking, int, error) {
	if r.sc {
		return r.takeSingle(check)
	}
	for {
		shut := r.shut.Load() != 0 // before tail: see Shutdown
		h := r.head.Load()
		t := r.tailSeen
		if h >= t {
			t = r.tail.Load()
			r.tailSeen = t
		}
		if h > t || t-h > r.capacity || h%8 != 0 {
			return taking{}, 0, corrupt("cursors head %d, tail %d", h, t)
		}
		if h == t {
			if shut {
				return taking{}, tookShut, nil
			}
			return taking{}, tookNone, nil
		}
		hw := r.hdr(h)
		w := hw.Load()
		n := hdrLen(w)
		size := recordSize(n)
		if w>>63 != 0 || (h&r.mask)+size > r.capacity || h+size > t {
			return taking{}, 0, corrupt("record at %d: header %#x, tail %d", h, w, t)
		}
		switch hdrState(w) {
		case stSkip, stDone:
			// Padding, a dead producer's claim, or (DONE) a record
			// whose taker died before storing head and was released
			// after a takeover: pass it.
			r.head.Store(h + size)
			continue
		case stClaimed:
			if !check {
				return taking{}, tookNone, nil
			}
			how, err := r.skipIfDead(hw, w, header(n, stSkip, 0))
			return taking{}, how, err
		case stCommitted:
			if n > r.maxRec {
				return taking{}, 0, corrupt("record at %d: length %d", h, n)
			}
			nw := header(n, stReading, self)
			if !hw.CompareAndSwap(w, nw) {
				continue
			}
			r.head.Store(h + size)
			return r.took(h, nw), 0, nil
		case stReading:
			// The last holder of the lock died between its take and its
			// store of head. If the reader is alive it is a process that
			// took the record over; pass it.
			alive, err := r.alive(hdrOwner(w))
			if err != nil {
				return taking{}, 0, err
			}
			if alive {
				r.head.Store(h + size)
				continue
			}
			nw := header(n, stReading, self)
			if !hw.CompareAndSwap(w, nw) {
				continue
			}
			r.head.Store(h + size)
			t := r.took(h, nw)
			t.cf |= takeAgain
			return t, 0, nil
		default: // FREE or an unknown state below tail
			return taking{}, 0, corrupt("record at %d: header %#x", h, w)
		}
	}
}

// hold makes this Ring the one consumer of a SingleConsumer ring: it takes
// the consumer claim lock, for good, waiting for it if block. A consumer
// before it that died may have left records taken and not released
// between free and head, all COMMITTED (or DONE if released out of
// order): hold moves head back to the first COMMITTED one, so that they
// are delivered again, in order, and takes them off taken, so that Len
// counts them once. (Close does the same for its own records before it
// unlocks.)
func (r *Ring) hold(ctx context.Context, self shm.Token, block bool) error {
	// No spin: a single consumer holds the hold for as long as it lives.
	if err := lockOrTry(ctx, &r.cons, self, block, 0); err != nil {
		return err
	}
	if err := r.rewind(); err != nil {
		r.cons.Unlock()
		return err
	}
	r.holding.Store(true)
	return nil
}

// rewind, with the consumer claim lock held by a new single consumer,
// moves head back to the first COMMITTED record at or after free (see
// hold). Producers may move free past DONE and SKIP records meanwhile,
// and reuse their space, but never past a COMMITTED record.
func (r *Ring) rewind() error {
	h := r.head.Load()
	for restarts := 0; ; restarts++ {
		f := r.free.Load()
		if f > h || h-f > r.capacity || f%8 != 0 {
			if r.free.Load() != f {
				continue
			}
			return corrupt("cursors free %d, head %d", f, h)
		}
		first, held, stale := h, uint64(0), false
		for p := f; p < h; {
			w := r.hdr(p).Load()
			if r.free.Load() > p {
				stale = true // passed and perhaps reused after we read
				break
			}
			n := hdrLen(w)
			size := recordSize(n)
			if w>>63 != 0 || (p&r.mask)+size > r.capacity || p+size > h {
				return corrupt("record at %d: header %#x, head %d", p, w, h)
			}
			switch hdrState(w) {
			case stCommitted:
				first = min(first, p)
				held++
			case stDone, stSkip:
			default:
				return corrupt("record at %d: header %#x between free and head", p, w)
			}
			p += size
		}
		if stale {
			if restarts > 1000 {
				return corrupt("free moves too fast to rewind head from %d", h)
			}
			continue
		}
		if first != h {
			r.taken.Add(-held)
			r.head.Store(first)
		}
		return nil
	}
}

// takeSingle takes the record at head as the one consumer of a
// SingleConsumer ring (see the top of ring.go): it goes by the header at
// head and its lap, and loads tail only when that header says nothing is
// there to take and the ring is shut, or check, or (in skipFinal) to pass
// a SKIP that does not end a lap.
func (r *Ring) takeSingle(check bool) (taking, int, error) {
	for {
		h := r.head.Load()
		if h%8 != 0 {
			return taking{}, 0, corrupt("cursor head %d", h)
		}
		hw := r.hdr(h)
		w := hw.Load()
		n := hdrLen(w)
		size := recordSize(n)
		if r.current(h, w) {
			if n > r.maxRec || (h&r.mask)+size > r.capacity {
				return taking{}, 0, corrupt("record at %d: header %#x", h, w)
			}
			switch hdrState(w) {
			case stCommitted:
				// The one consumer owns [free, head): moving head
				// is the whole take.
				r.storeHead(h + size)
				return r.took(h, w), 0, nil
			case stDone:
				r.storeHead(h + size)
				continue
			case stSkip:
				if r.skipFinal(h, w) {
					r.storeHead(h + size)
					continue
				}
			}
		}
		// Nothing to take at h, as far as its header says: the place of
		// the next claim, a claim not yet committed, or padding above
		// tail (a single producer's claim not yet published).
		shut := r.shut.Load() != 0 // before tail: see Shutdown
		if !shut && !check {
			return taking{}, tookNone, nil
		}
		t := r.loadTail()
		if h > t || t-h > r.capacity {
			return taking{}, 0, corrupt("cursors head %d, tail %d", h, t)
		}
		if h == t {
			if shut {
				return taking{}, tookShut, nil
			}
			return taking{}, tookNone, nil
		}
		// Below tail every header is a current one or CLAIMED.
		if w2 := hw.Load(); w2 != w {
			continue
		}
		if hdrState(w) != stClaimed {
			if r.current(h, w) {
				continue // a SKIP that tail has now passed
			}
			return taking{}, 0, corrupt("record at %d: header %#x, tail %d", h, w, t)
		}
		if !check || n > r.maxRec+8 || (h&r.mask)+size > r.capacity || h+size > t {
			if check {
				return taking{}, 0, corrupt("record at %d: header %#x, tail %d", h, w, t)
			}
			return taking{}, tookNone, nil
		}
		how, err := r.skipIfDead(hw, w, r.headerAt(h, n, stSkip))
		return taking{}, how, err
	}
}

// skipIfDead turns w, the CLAIMED header at hw of a record a take waits
// at, into skip if its owner is dead: tookAgain (look again) if it did,
// tookNone if the owner lives.
func (r *Ring) skipIfDead(hw *atomic.Uint64, w, skip uint64) (int, error) {
	alive, err := r.alive(hdrOwner(w))
	if err != nil || alive {
		return tookNone, err
	}
	hw.CompareAndSwap(w, skip)
	return tookAgain, nil
}

// skipFinal reports whether w, a current SKIP header read at h, is final:
// below tail. A single producer's padding above tail is not (if the
// producer dies, the next one claims from tail again, maybe without
// padding). What tells:
//
//   - tailSeen, tail as loaded before w was read, past h;
//   - for padding (a SKIP that ends a lap), a current header at the start
//     of the next lap, followed by w still at h. A current header there
//     was written after a store of tail past it: a commit comes after
//     its claim's store of tail (with SingleProducer, publish before the
//     compare-and-swap: see the top of ring.go), and a SKIP over a dead
//     claim or a DONE below tail. The start of a lap is always a
//     header's place, as nothing straddles the end of the data area. w
//     read again after that header is the padding of a claim below
//     tail, not one that a dead producer left above tail and the next
//     claim overwrote. This does not load tail, whose line the producer
//     writes at every commit: a ring of three 4 KiB records paid that
//     line once a lap, every third round trip, when it did. Until that
//     header is current the take waits at h, as it would at the header.
//   - for any other SKIP (a dead producer's claim that a consumer turned
//     into SKIP, which a new consumer may meet before it has loaded
//     tail), tail loaded now past h, followed by w still at h.
func (r *Ring) skipFinal(h, w uint64) bool {
	if h < r.tailSeen {
		return true
	}
	if e := h + recordSize(hdrLen(w)); e&r.mask == 0 {
		return r.current(e, r.hdr(e).Load()) && r.hdr(h).Load() == w
	}
	return h < r.loadTail() && r.hdr(h).Load() == w
}

// loadTail loads tail into tailSeen.
func (r *Ring) loadTail() uint64 {
	t := r.tail.Load()
	r.tailSeen = t
	return t
}

// passDone, with SingleConsumer, moves head past DONE records right after
// it (records a consumer before us released out of order, see hold), and
// SKIP records among them, which free could not pass until our next take
// otherwise. A take that just moved head reads that header next anyway.
func (r *Ring) passDone() {
	h0 := r.head.Load()
	h := h0
	for {
		w := r.hdr(h).Load()
		size := recordSize(hdrLen(w))
		if !r.current(h, w) || hdrState(w) == stCommitted || (h&r.mask)+size > r.capacity {
			break // the next take reports a corrupt header
		}
		if hdrState(w) == stSkip && !r.skipFinal(h, w) {
			break
		}
		h += size
	}
	if h != h0 {
		r.storeHead(h)
	}
}

// storeHead stores head: with SingleConsumer, whose consumer alone writes
// it and loads nothing after it that another process's store must be
// ordered with, a release store (see layout.StoreRelease).
func (r *Ring) storeHead(h uint64) {
	if r.sc {
		layout.StoreRelease(r.head, h)
	} else {
		r.head.Store(h)
	}
}

// end is the position after the record.
func (rec *Record) end() uint64 { return rec.pos + recordSize(hdrLen(rec.h)) }

// record is the Record of the first record t took.
func (r *Ring) record(t taking) Record {
	h := t.h
	if t.cf&takeAgain != 0 {
		h |= takenOver
	}
	return Record{r: r, pos: t.pos, h: h}
}

// canTake reports whether a Take would find something to do now: a record
// at head that is not being written, or a shut ring.
func (r *Ring) canTake() bool {
	if r.sc {
		// By the header at head, as takeSingle goes (a corrupt ring is
		// for the take that comes after a poll to report).
		h := r.head.Load()
		w := r.hdr(h &^ 7).Load()
		if !r.current(h, w) {
			// Shut: the end, unless a claim is still to be committed.
			return r.shut.Load() != 0 && hdrState(w) != stClaimed
		}
		return hdrState(w) != stSkip || r.skipFinal(h, w)
	}
	if r.orphans.Load() != 0 {
		return true
	}
	shut := r.shut.Load() != 0
	h, t := r.head.Load(), r.tail.Load()
	if h == t {
		return shut
	}
	return h > t || hdrState(r.hdr(h&^7).Load()) != stClaimed
}

// waitData waits for something to take, for at most one poll interval.
// ready says spinning found it.
func (r *Ring) waitData(ctx context.Context, slept *bool) (ready bool, _ error) {
	if wait.Spin(r.spin, r.canTake) {
		return true, nil
	}
	if err := wait.CtxErr(ctx); err != nil {
		if *slept && r.dataSleepers.Load() != 0 {
			r.dataSeq.Add(1)
			wait.Wake(r.dataSeq, 1) // pass on a wake-up we may have swallowed
		}
		return false, err
	}
	r.dataSleepers.Add(1)
	v := r.dataSeq.Load()
	r.dataWake.Store(1) // after the load: see the top of ring.go
	var err error
	if !r.canTake() {
		_, err = r.sleep(ctx, r.dataSeq, v)
		*slept = true
	}
	if r.dataSleepers.Add(^uint32(0)) != 0 {
		r.dataWake.Store(1) // for those still asleep
	}
	return false, err
}

// unstick runs after a poll interval spent waiting: it moves free past
// records left DONE by a releaser that died, and flags a record left
// READING by a dead consumer for redelivery.
func (r *Ring) unstick() error {
	if err := r.advanceFree(); err != nil {
		return err
	}
	f, h := r.free.Load(), r.head.Load()
	if f >= h {
		return nil
	}
	w := r.hdr(f).Load()
	if hdrState(w) != stReading || r.orphans.Load() != 0 {
		return nil
	}
	alive, err := r.alive(hdrOwner(w))
	if err != nil || alive {
		if r.free.Load() != f {
			return nil // it was released meanwhile; whatever we read is stale
		}
		return err
	}
	r.orphans.Store(1)
	r.dataSeq.Add(1)
	wait.Wake(r.dataSeq, 1)
	return nil
}

// takeOrphan takes over a record between free and head that a dead
// consumer took and did not release.
func (r *Ring) takeOrphan(self shm.Token) (taking, error) {
	if !r.orphans.CompareAndSwap(1, 0) {
		if v := r.orphans.Load(); v > 1 {
			r.orphans.CompareAndSwap(v, 0) // garbage: scan below
		} else {
			return taking{}, nil
		}
	}
	t, err := r.scanOrphans(self)
	if t.ok() {
		r.orphans.Store(1) // there may be more
	}
	return t, err
}

// scanOrphans looks between free and head for a record READING by a dead
// consumer and takes it over.
func (r *Ring) scanOrphans(self shm.Token) (taking, error) {
	for restarts := 0; ; restarts++ {
		f, h := r.free.Load(), r.head.Load()
		if f > h || h-f > r.capacity || f%8 != 0 {
			return taking{}, corrupt("cursors free %d, head %d", f, h)
		}
		stale := false
		for p := f; p < h; {
			w := r.hdr(p).Load()
			if r.free.Load() > p {
				// The space may have been reused after we read: w
				// may be a new record's payload. (Once free ≤ p is
				// seen after the load, w was the header of a record
				// between free and head, whose place cannot be
				// reused before its READING state is gone, which
				// only the compare-and-swap below changes.)
				stale = true
				break
			}
			n := hdrLen(w)
			size := recordSize(n)
			if w>>63 != 0 || (p&r.mask)+size > r.capacity || p+size > h {
				stale = true
				break
			}
			if hdrState(w) == stReading {
				alive, err := r.alive(hdrOwner(w))
				if err != nil {
					if r.free.Load() > p {
						stale = true
						break
					}
					return taking{}, err
				}
				if !alive && n <= r.maxRec {
					nw := header(n, stReading, self)
					if r.hdr(p).CompareAndSwap(w, nw) {
						r.race.Acquire()
						t := r.took(p, nw)
						t.cf |= takeAgain
						return t, nil
					}
				}
			}
			p += size
		}
		if !stale {
			return taking{}, nil
		}
		if r.free.Load() == f && r.head.Load() == h {
			return taking{}, corrupt("record between free %d and head %d", f, h)
		}
		if restarts > 1000 {
			// The ring moves too fast to scan; leave it for later.
			r.orphans.Store(1)
			return taking{}, nil
		}
	}
}

// ----- waiting -----

// lockOrTry takes a claim lock: waiting while ctx allows if block, else
// if it is free now or within spin (see tryLock), failing with
// errWouldBlock otherwise.
func lockOrTry(ctx context.Context, m *robust.Mutex, self shm.Token, block bool, spin time.Duration) error {
	if block {
		_, err := m.Lock(ctx, self)
		return err
	}
	ok, err := tryLock(m, self, spin)
	if err == nil && !ok {
		err = errWouldBlock
	}
	return err
}

// tryLock takes m if it is free or its holder is dead, and otherwise
// looks again for up to spin: a lock held for a claim or a take is held
// for less than that, and a try that fails while one is inside would make
// a Try call on a ring with room (or a record) report none. Between tries
// it looks only at the word, since a try at a held lock asks the kernel
// whether its holder lives. ok false and no error: still held.
func tryLock(m *robust.Mutex, self shm.Token, spin time.Duration) (ok bool, err error) {
	locked := func() bool {
		ok, _, err = m.TryLock(self)
		return ok || err != nil
	}
	if !locked() {
		wait.Spin(spin, func() bool { return m.Owner() == 0 && locked() })
	}
	return ok, err
}

// sleep waits on w while it holds v, for at most the poll interval: see
// wait.Sleep.
func (r *Ring) sleep(ctx context.Context, w *atomic.Uint32, v uint32) (polled bool, err error) {
	return wait.Sleep(ctx, w, v, r.poll)
}
