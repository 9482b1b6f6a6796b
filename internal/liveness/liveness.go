// Package liveness tells whether the process that owns a slot of a segment's
// process table is still alive, in a way that survives pid reuse.
//
// A process that attaches to a segment claims a slot of the table by taking
// an exclusive byte-range lock on one byte of the segment's file, at
// LockBase+slot, through an open of the file that is its own. The kernel drops
// that lock when the process dies, however it dies, so "is the byte locked by
// someone else" answers "is the owner alive" without ever reading a pid.
//
// Each claim bumps the slot's generation word, and a process names itself to
// others by a Token that carries slot and generation. A token whose slot has
// since been claimed by another process has an old generation and is dead
// even though the slot's byte is locked again. The pid stored in a slot is for
// people (shmkit ls), never for deciding anything.
//
// # Invariants
//
// Slot layout, SlotSize bytes each, all little-endian, reached only through
// sync/atomic:
//
//	off size field
//	0   4    gen      generation of the current or last claim, 1..MaxGen; 0 never claimed
//	4   4    pid      pid of the claimant, for display only
//	8   8    attached unix nanoseconds of the claim, for display only
//	16  4    state    0 never used, 1 attached, 2 detached cleanly
//	20  12   reserved, zero
//
// Only the holder of the slot's byte lock writes the slot's words. It stores
// gen first, after taking the lock, and then pid, attached and state.
//
// A reader decides that token t is alive when the slot's gen equals t's
// generation both before and after it finds the byte locked. The window in
// which it can be wrong is one way only: between a new claimant's lock and
// its store of the new generation, a dead token reads as alive. Nothing reads
// a live token as dead: the generation changes only under a lock that its
// owner gave up, and the lock goes only with the owner's open of the file
// (death, or Release).
//
// The trap that a simpler scheme falls into: an open file description
// inherited by a child keeps the parent's locks alive after the parent dies
// for as long as the child holds it. A process that got its descriptor from
// another must reopen the file (sys.Reopen) and close what it inherited
// before it claims or checks anything.
package liveness

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shmkit/shmkit/internal/layout"
	"github.com/shmkit/shmkit/internal/sys"
)

const (
	// SlotSize is the size of one slot of the process table.
	SlotSize = 32
	// MaxSlots is the largest number of slots a table may have.
	MaxSlots = 1 << slotBits
	// MaxGen is the largest generation; after it the next claim uses 1.
	MaxGen = 1<<genBits - 1
	// LockBase is the file offset of slot 0's lock byte. It lies far beyond
	// any segment's data so that the locks never cover bytes anyone reads.
	LockBase = 1 << 40

	slotBits = 10
	genBits  = 31 - slotBits

	offGen      = 0
	offPid      = 4
	offAttached = 8
	offState    = 16
)

// Slot states.
const (
	StateUnused   = 0
	StateAttached = 1
	StateDetached = 2
)

var (
	// ErrFull is returned by Claim when every slot is held by a live process.
	ErrFull = errors.New("liveness: process table full")
	// ErrBadToken is returned for a token that names no slot of the table.
	ErrBadToken = errors.New("liveness: bad token")
)

// Token names one claim of one slot: the slot number and the generation of
// the claim. The zero Token names nobody. It fits in 31 bits, so that a
// lock word can keep a flag in its top bit beside an owner.
type Token uint32

// MakeToken returns the token for slot and gen. It does not check them.
func MakeToken(slot int, gen uint32) Token {
	return Token(gen<<slotBits | uint32(slot)&(MaxSlots-1))
}

// Slot is the slot number of t.
func (t Token) Slot() int { return int(uint32(t) & (MaxSlots - 1)) }

// Gen is the generation of t.
func (t Token) Gen() uint32 { return uint32(t) >> slotBits }

func (t Token) String() string { return fmt.Sprintf("slot %d gen %d", t.Slot(), t.Gen()) }

// Table is one process's view of a segment's process table. It is safe for
// use by many goroutines at once.
type Table struct {
	id  uint64   // identifies the segment within this process's registry
	f   *os.File // this process's own open of the segment file
	v   layout.View
	n   int
	gen []*atomic.Uint32
}

// mine holds the slots that this process has claimed, by segment id. Where
// locks belong to the process rather than to an open (classic POSIX locks),
// the kernel cannot tell two of our own opens apart, so we must.
var mine struct {
	sync.Mutex
	m map[mineKey]bool
}

type mineKey struct {
	id   uint64
	slot int
}

// New returns a view of the n-slot table in v for the segment that f opens.
// id names the segment uniquely among those this process has open (shm uses
// the random id in its header). f must be this process's own open of the
// file: see the package doc.
func New(id uint64, f *os.File, v layout.View, n int) (*Table, error) {
	if n <= 0 || n > MaxSlots {
		return nil, fmt.Errorf("liveness: %d slots: want 1 to %d", n, MaxSlots)
	}
	if uint64(v.Len()) < uint64(n)*SlotSize {
		return nil, fmt.Errorf("liveness: table of %d slots in %d bytes: %w", n, v.Len(), layout.ErrOutOfBounds)
	}
	t := &Table{id: id, f: f, v: v, n: n, gen: make([]*atomic.Uint32, n)}
	for i := range n {
		g, err := v.Uint32(uint64(i)*SlotSize + offGen)
		if err != nil {
			return nil, err
		}
		t.gen[i] = g
	}
	return t, nil
}

// Len is the number of slots.
func (t *Table) Len() int { return t.n }

func (t *Table) word32(slot int, off uint64) *atomic.Uint32 {
	w, err := t.v.Uint32(uint64(slot)*SlotSize + off)
	if err != nil {
		panic("liveness: table view shrank: " + err.Error()) // checked in New
	}
	return w
}

func (t *Table) word64(slot int, off uint64) *atomic.Uint64 {
	w, err := t.v.Uint64(uint64(slot)*SlotSize + off)
	if err != nil {
		panic("liveness: table view shrank: " + err.Error()) // checked in New
	}
	return w
}

// Claim takes a slot that is free or whose owner is dead, and returns the
// token that names this process's claim. It returns ErrFull when every slot
// belongs to a live process.
func (t *Table) Claim() (Token, error) {
	mine.Lock()
	defer mine.Unlock()
	for slot := range t.n {
		if mine.m[mineKey{t.id, slot}] {
			continue
		}
		err := sys.TryLockByte(t.f, LockBase+int64(slot))
		if errors.Is(err, sys.ErrLocked) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("liveness: claim slot %d: %w", slot, err)
		}
		// The slot is ours: its last owner, if any, is gone.
		g := t.gen[slot]
		next := g.Load()%MaxGen + 1
		g.Store(next)
		t.word32(slot, offPid).Store(uint32(os.Getpid()))
		t.word64(slot, offAttached).Store(uint64(time.Now().UnixNano()))
		t.word32(slot, offState).Store(StateAttached)
		if mine.m == nil {
			mine.m = make(map[mineKey]bool)
		}
		mine.m[mineKey{t.id, slot}] = true
		return MakeToken(slot, next), nil
	}
	return 0, ErrFull
}

// Release gives up a claim cleanly. Every token of the claim is dead from
// then on.
func (t *Table) Release(tok Token) error {
	slot := tok.Slot()
	if slot >= t.n || tok.Gen() == 0 {
		return ErrBadToken
	}
	mine.Lock()
	defer mine.Unlock()
	if !mine.m[mineKey{t.id, slot}] {
		return fmt.Errorf("%w: %v is not held here", ErrBadToken, tok)
	}
	// The slot is ours by its lock whatever its words say: let it go even
	// if someone wrote over our generation, then say so.
	t.word32(slot, offState).Store(StateDetached)
	delete(mine.m, mineKey{t.id, slot})
	err := sys.UnlockByte(t.f, LockBase+int64(slot))
	if g := t.gen[slot].Load(); g != tok.Gen() && err == nil {
		err = fmt.Errorf("%w: slot %d generation is %d, ours was %d", ErrBadToken, slot, g, tok.Gen())
	}
	return err
}

// Alive reports whether the process that made the claim tok is still alive
// and attached. It returns ErrBadToken for a token that cannot name a claim
// of this table (a zero generation, or a slot beyond the table), so that a
// corrupted owner word is an error, not a guess.
func (t *Table) Alive(tok Token) (bool, error) {
	slot := tok.Slot()
	if slot >= t.n || tok.Gen() == 0 {
		return false, fmt.Errorf("%w: %v in a table of %d", ErrBadToken, tok, t.n)
	}
	g := t.gen[slot]
	if g.Load() != tok.Gen() {
		return false, nil
	}
	mine.Lock()
	own := mine.m[mineKey{t.id, slot}]
	mine.Unlock()
	locked := own
	if !own {
		var err error
		locked, err = sys.ByteLocked(t.f, LockBase+int64(slot))
		if err != nil {
			return false, err
		}
	}
	return locked && g.Load() == tok.Gen(), nil
}

// SlotInfo describes one slot, for people.
type SlotInfo struct {
	Slot     int
	Gen      uint32
	Pid      int
	Attached time.Time
	State    uint32
	Alive    bool
}

// Slots describes every slot that has ever been claimed.
func (t *Table) Slots() ([]SlotInfo, error) {
	var out []SlotInfo
	for slot := range t.n {
		gen := t.gen[slot].Load()
		if gen == 0 {
			continue
		}
		// A generation no claim can have (written by a bug or another
		// program) is a dead slot, not a reason to fail the listing.
		alive := false
		if gen <= MaxGen {
			var err error
			if alive, err = t.Alive(MakeToken(slot, gen)); err != nil {
				return nil, err
			}
		}
		out = append(out, SlotInfo{
			Slot:     slot,
			Gen:      gen,
			Pid:      int(t.word32(slot, offPid).Load()),
			Attached: time.Unix(0, int64(t.word64(slot, offAttached).Load())),
			State:    t.word32(slot, offState).Load(),
			Alive:    alive,
		})
	}
	return out, nil
}

// AnyAlive reports whether any process holds a slot of the table.
func (t *Table) AnyAlive() (bool, error) {
	s, err := t.Slots()
	if err != nil {
		return false, err
	}
	for _, si := range s {
		if si.Alive {
			return true, nil
		}
	}
	return false, nil
}
