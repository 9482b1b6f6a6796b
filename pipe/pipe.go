package pipe

// A pipe is one or two rings and a control object beside them in one
// segment (shm.KindPipe, layout version 1, 64 bytes). Every word is
// little-endian and reached only through sync/atomic:
//
//	off  size  field
//	0    8     ring0    offset of the object header of the ring end 0 receives from (set at creation)
//	8    8     ring1    offset of the ring end 1 receives from; 0 in a one-way pipe (set at creation)
//	16   4     flags    bit 0: one-way (end 0 only receives, end 1 only sends; both use ring0)
//	20   4     reserved, zero
//	24   4     owner0   token of the process that holds end 0 (shm process table); 0: nobody yet
//	28   4     owner1   token of the process that holds end 1
//	32   4     state0   bit 0: end 0 was closed by its holder
//	36   4     state1   bit 0: end 1 was closed by its holder
//	40   24    reserved, zero
//
//	   end 0                                      end 1
//	   Recv ◀──────── ring0 (end 1 → end 0) ◀──────── Send
//	   Send ────────▶ ring1 (end 0 → end 1) ────────▶ Recv   (duplex only)
//
// The messages, and the hand-over of their bytes, are the rings' (see the
// top of ringbuf/ring.go): a send claims, copies in and commits; a receive
// takes, copies out (or decodes) and releases.
//
// Who holds an end: the process that made the pipe holds both; a process
// that opens an end (Open, or GobDecode when the end arrives as an
// argument of process.Start) stores its own token in the end's owner word,
// and holds it from then on. Only the holder's Close ends the end for its
// peer: it sets the closed bit, then shuts both rings down (Ring.Shutdown),
// which wakes every waiter; the peer's receives then drain what was sent
// and return io.EOF, its sends fail with ErrPeerClosed. A handle that has
// been encoded (GobEncode, to hand the end to another process) no longer
// speaks for the end: its Close only lets go of this process's mapping, so
// that a parent may close its copy of the child's end at once after Start,
// as Python programs do, even before the child has opened it.
//
// A holder that dies cannot close: its peer finds it dead. A peer looks at
// the other end's closed bit (one atomic load) on every call, and, at most
// every peerCheck, asks the segment's process table whether the owner
// token is alive (a system call). A call that waits does so in steps of
// peerCheck (a context whose deadline is the step's end, passed to the
// ring, whose own sleeps are bounded by its poll interval), checking
// between steps; so a dead peer is noticed within about peerCheck plus one
// poll interval. The survivor then shuts the rings down itself, and sees
// what a Close would have shown it.
//
// Why not simpler:
//
//   - Closing by the rule "whoever closes ends it" breaks the pattern
//     pipe-start-close: the parent's Close of the child's end would end the
//     pipe before the child has used it. Hence owner words and the encoded
//     flag.
//   - Checking the peer's liveness on every call costs a system call per
//     message; never checking makes a send to a dead peer succeed until
//     the ring fills. The time-based check costs one clock read per call.
//   - A receive waits in steps of peerCheck, shut ring or not: the ring
//     adds up one process's waits across calls before it looks for a dead
//     sender's claim at its head (ringbuf's stall), so short steps still
//     get past it.
//   - The pipe ends' rings are multi-producer and multi-consumer, not
//     single: a ring is shut down by the side that does not produce into
//     it, which needs the producer claim lock, and an end may be used by
//     several goroutines.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shmkit/shmkit/internal/layout"
	"github.com/shmkit/shmkit/internal/wait"
	"github.com/shmkit/shmkit/ringbuf"
	"github.com/shmkit/shmkit/shm"
)

const (
	pOffRing0    = 0
	pOffRing1    = 8
	pOffFlags    = 16
	pOffOwner0   = 24
	pOffState0   = 32
	pPayloadSize = 64

	pipeVersion = 1

	flagOneWay = 1 << 0
	stClosed   = 1 << 0
)

// peerCheck is how often a call asks whether the peer's process lives.
const peerCheck = 10 * time.Millisecond

// shutWait bounds how long a Close or a survivor waits for the producer
// claim lock of a ring it shuts down (held for a moment by a live producer,
// taken over from a dead one).
const shutWait = 5 * time.Second

// DefaultCapacity is the data area of each ring of a pipe when
// Options.Capacity is zero: messages of up to half of it fit
// (End.MaxMessage).
const DefaultCapacity = 1 << 20

// Options configures a pipe. The zero value (or nil) means the defaults: a
// duplex pipe with rings of DefaultCapacity.
type Options struct {
	// OneWay (New only) makes a one-way pipe, like Python's
	// Pipe(duplex=False): the first end only receives, the second only
	// sends. False makes a duplex pipe, where both ends do both.
	OneWay bool
	// Capacity (New only) is the data area of each ring in bytes, a power
	// of two; zero means DefaultCapacity. A message may take at most half
	// of it.
	Capacity int
	// Ring tunes this process's waits (Spin, Poll); SingleProducer and
	// SingleConsumer are ignored.
	Ring ringbuf.Options
}

type noCopy struct{}

func (*noCopy) Lock()   {}
func (*noCopy) Unlock() {}

// End is one end of a pipe over shared memory, like one of the two
// Connection objects Python's multiprocessing.Pipe returns. New makes a
// pair; Open opens one end by name; an *End passed to process.Start
// arrives in the child as the same end, held by the child from then on.
// It must not be copied after first use.
//
// Its methods may be called from any goroutine of the process that holds
// it: sends may run at once (each message is whole, in some order), and so
// may receives (each message goes to one of them). A send synchronizes
// before the receive that returns its message, in the sense of
// [the Go memory model].
//
// Close by the holder ends the end for its peer: the peer's receives return
// what was sent and then io.EOF, its sends fail with ErrPeerClosed. A holder
// process that dies is treated the same way within a few tens of
// milliseconds (it is looked for every 10 ms). Messages sent before are
// never lost while the receiving end is open; a message being received when
// its receiver dies is delivered again to the next receive (see
// ringbuf.Ring); one being sent when its sender dies is skipped. After Close, methods fail with ErrClosed.
// Close while another goroutine of this process waits in a method of the
// same end makes that method return ErrClosed within about 10 ms.
//
// A goroutine that waits in an End sleeps in the kernel (futex) and holds
// an OS thread while it does.
//
// [the Go memory model]: https://go.dev/ref/mem
type End struct {
	_    noCopy
	obj  *shm.Object
	side int
	in   *ringbuf.Ring // nil: send only
	out  *ringbuf.Ring // nil: receive only
	self shm.Token

	myOwner, peerOwner, myState, peerState *atomic.Uint32

	epoch     time.Time
	lastCheck atomic.Int64 // time since epoch of the last liveness check

	given  atomic.Bool // encoded for another process: Close only detaches
	closed atomic.Bool

	use sync.RWMutex // held for reading by every send, for writing by Close

	rmu        sync.Mutex // receives, and the fields below
	pending    ringbuf.Record
	hasPending bool
	rstep      stepCtx

	stream streamReader
}

// New makes a pipe and returns its two ends: a duplex pipe (both ends send
// and receive) or, with Options.OneWay, a one-way pipe whose first end
// only receives and second end only sends. The rings and control object go
// in seg, under name ("" for none), or, with a nil seg, in an anonymous
// segment of the pipe's own. Hand an end to a child process as an argument
// of process.Start, and Close this process's copy of it.
func New(seg *shm.Segment, name string, opts *Options) (a, b *End, err error) {
	if opts == nil {
		opts = &Options{}
	}
	capacity := opts.Capacity
	if capacity == 0 {
		capacity = DefaultCapacity
	}
	if capacity < ringbuf.MinCapacity || capacity > ringbuf.MaxCapacity {
		return nil, nil, fmt.Errorf("pipe: %w: capacity %d", shm.ErrSize, capacity)
	}
	rings := 2
	if opts.OneWay {
		rings = 1
	}
	if seg == nil {
		if name != "" {
			return nil, nil, fmt.Errorf("%w: a named pipe needs a segment", shm.ErrName)
		}
		own, err := shm.New(rings*(capacity+1024)+128<<10, nil)
		if err != nil {
			return nil, nil, err
		}
		// The objects placed below keep the mapping; this reference is
		// not needed past New.
		defer own.Close()
		seg = own
	}
	if name != "" {
		if o, err := seg.Lookup(name, shm.KindInvalid); err == nil {
			o.Close()
			return nil, nil, fmt.Errorf("new pipe %q: %w", name, shm.ErrObjectExist)
		}
	}
	var offs [2]uint64
	for i := range rings {
		r, err := ringbuf.New(seg, "", capacity, nil)
		if err != nil {
			return nil, nil, err
		}
		offs[i] = r.Handle().Offset
		// The ends open rings of their own; the ring stays in the segment.
		r.Close()
	}
	var flags uint32
	if opts.OneWay {
		flags |= flagOneWay
	}
	obj, err := seg.Alloc(shm.Spec{Kind: shm.KindPipe, Version: pipeVersion, Name: name, Size: pPayloadSize, Align: 64},
		func(p layout.View) error {
			r0, err0 := p.Uint64(pOffRing0)
			r1, err1 := p.Uint64(pOffRing1)
			f, err2 := p.Uint32(pOffFlags)
			if err := errors.Join(err0, err1, err2); err != nil {
				return err
			}
			r0.Store(offs[0])
			r1.Store(offs[1])
			f.Store(flags)
			return nil
		})
	if err != nil {
		return nil, nil, fmt.Errorf("new pipe: %w", err)
	}
	obj2, err := shm.OpenHandle(obj.Handle(), shm.KindPipe)
	if err != nil {
		obj.Close()
		return nil, nil, err
	}
	if a, err = openEnd(obj, 0, opts); err != nil {
		obj2.Close()
		return nil, nil, err
	}
	if b, err = openEnd(obj2, 1, opts); err != nil {
		a.Close()
		return nil, nil, err
	}
	return a, b, nil
}

// Open opens end side (0 or 1) of the pipe named name in seg, and makes
// this process its holder. Of Options, only Ring is used.
func Open(seg *shm.Segment, name string, side int, opts *Options) (*End, error) {
	obj, err := seg.Lookup(name, shm.KindPipe)
	if err != nil {
		return nil, err
	}
	return openEnd(obj, side, opts)
}

// OpenHandle opens end side of the pipe whose control object h names (see
// End.Handle), as Open does.
func OpenHandle(h shm.Handle, side int, opts *Options) (*End, error) {
	obj, err := shm.OpenHandle(h, shm.KindPipe)
	if err != nil {
		return nil, err
	}
	return openEnd(obj, side, opts)
}

// openEnd makes end side of the pipe whose control object is obj, and
// records this process as its holder. It owns obj and closes it on
// failure.
func openEnd(obj *shm.Object, side int, opts *Options) (_ *End, err error) {
	var rings []*ringbuf.Ring
	defer func() {
		if err != nil {
			for _, r := range rings {
				r.Close()
			}
			obj.Close()
		}
	}()
	if opts == nil {
		opts = &Options{}
	}
	if side != 0 && side != 1 {
		return nil, fmt.Errorf("pipe: side %d, want 0 or 1", side)
	}
	if obj.Version() != pipeVersion {
		return nil, fmt.Errorf("%w: pipe of layout version %d, this code knows %d", shm.ErrVersion, obj.Version(), pipeVersion)
	}
	self := obj.Self()
	if self == 0 {
		return nil, shm.ErrObserver
	}
	p := obj.Payload()
	var errs []error
	u32 := func(off uint64) *atomic.Uint32 {
		w, err := p.Uint32(off)
		errs = append(errs, err)
		return w
	}
	r0, err0 := p.Uint64(pOffRing0)
	r1, err1 := p.Uint64(pOffRing1)
	errs = append(errs, err0, err1)
	flags := u32(pOffFlags)
	e := &End{obj: obj, side: side, self: self, epoch: time.Now()}
	e.myOwner, e.peerOwner = u32(pOffOwner0+4*uint64(side)), u32(pOffOwner0+4*uint64(1-side))
	e.myState, e.peerState = u32(pOffState0+4*uint64(side)), u32(pOffState0+4*uint64(1-side))
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("%w: pipe control words: %w", shm.ErrCorrupt, err)
	}
	oneWay := flags.Load()&flagOneWay != 0
	if flags.Load()&^flagOneWay != 0 || r0.Load() == 0 || oneWay != (r1.Load() == 0) {
		return nil, fmt.Errorf("%w: pipe flags %#x, rings at %d and %d", shm.ErrCorrupt, flags.Load(), r0.Load(), r1.Load())
	}
	ropts := opts.Ring
	ropts.SingleProducer, ropts.SingleConsumer = false, false
	open := func(off uint64) (*ringbuf.Ring, error) {
		h := obj.Handle()
		h.Offset, h.Kind = off, shm.KindRing
		r, err := ringbuf.OpenHandle(h, &ropts)
		if err != nil {
			return nil, fmt.Errorf("pipe's ring: %w", err)
		}
		rings = append(rings, r)
		return r, nil
	}
	ring0, err := open(r0.Load())
	if err != nil {
		return nil, err
	}
	switch {
	case oneWay && side == 0:
		e.in = ring0
	case oneWay:
		e.out = ring0
	default:
		ring1, err := open(r1.Load())
		if err != nil {
			return nil, err
		}
		if ring0.Cap() != ring1.Cap() {
			return nil, fmt.Errorf("%w: pipe rings of %d and %d bytes", shm.ErrCorrupt, ring0.Cap(), ring1.Cap())
		}
		e.in, e.out = ring0, ring1
		if side == 1 {
			e.in, e.out = ring1, ring0
		}
	}
	if e.myState.Load()&stClosed != 0 {
		return nil, fmt.Errorf("pipe: open end %d: %w", side, ErrClosed)
	}
	e.myOwner.Store(uint32(self))
	return e, nil
}

// Handle names the pipe's control object for other processes (see
// OpenHandle).
func (e *End) Handle() shm.Handle { return e.obj.Handle() }

// Side is this end's number: 0 for the first end New returns, 1 for the
// second.
func (e *End) Side() int { return e.side }

// MaxMessage is the largest message the pipe carries, in bytes: half a
// ring, less a record header.
func (e *End) MaxMessage() int {
	if e.in != nil {
		return e.in.MaxRecord()
	}
	return e.out.MaxRecord()
}

// Readable reports whether this end receives (Python's readable).
func (e *End) Readable() bool { return e.in != nil }

// Writable reports whether this end sends (Python's writable).
func (e *End) Writable() bool { return e.out != nil }

// Closed reports whether Close has been called on this handle.
func (e *End) Closed() bool { return e.closed.Load() }

// ShmObjects tells process.Start which segment to pass along with the end.
func (e *End) ShmObjects() []*shm.Object { return []*shm.Object{e.obj} }

// GobEncode encodes the end (the pipe's handle and the side), so that an
// *End can be an argument of process.Start; GobDecode opens it again, in
// the receiving process, which then holds it. From then on this handle no
// longer speaks for the end: its Close only lets go of the mapping.
func (e *End) GobEncode() ([]byte, error) {
	if e.closed.Load() {
		return nil, ErrClosed
	}
	h, err := e.obj.Handle().MarshalBinary()
	if err != nil {
		return nil, err
	}
	e.given.Store(true)
	return append([]byte{byte(e.side)}, h...), nil
}

// GobDecode opens the end that GobEncode encoded, with default Options,
// and makes this process its holder.
func (e *End) GobDecode(data []byte) error {
	if len(data) < 1 {
		return fmt.Errorf("pipe: decode end: %w", shm.ErrHandle)
	}
	var h shm.Handle
	if err := h.UnmarshalBinary(data[1:]); err != nil {
		return err
	}
	p, err := OpenHandle(h, int(data[0]), nil)
	if err != nil {
		return err
	}
	// Move p's fields, not p, into e: the value's noCopy is only for vet,
	// and the locks and atomics of both are still zero.
	e.obj, e.side, e.in, e.out, e.self, e.epoch = p.obj, p.side, p.in, p.out, p.self, p.epoch
	e.myOwner, e.peerOwner, e.myState, e.peerState = p.myOwner, p.peerOwner, p.myState, p.peerState
	return nil
}

// stepCtx is a context whose deadline is also until: a wait the ring does
// with it returns at the end of the step, for the pipe to look at its peer.
// Err is the parent's, so a step that ran out is told from the parent's end
// by wait.CtxErr(parent).
type stepCtx struct {
	context.Context
	until time.Time
}

func (s *stepCtx) Deadline() (time.Time, bool) {
	if d, ok := s.Context.Deadline(); ok && d.Before(s.until) {
		return d, true
	}
	return s.until, true
}

// stepOver reports whether err is the end of a step and not of ctx.
func stepOver(ctx context.Context, err error) bool {
	return errors.Is(err, context.DeadlineExceeded) && wait.CtxErr(ctx) == nil
}

// peerGone reports whether the peer end was closed by its holder or, at
// most every peerCheck, whether the holder's process is gone.
func (e *End) peerGone() (bool, error) {
	if e.peerState.Load()&stClosed != 0 {
		return true, nil
	}
	now := int64(time.Since(e.epoch))
	if last := e.lastCheck.Load(); now-last < int64(peerCheck) && last != 0 {
		return false, nil
	}
	e.lastCheck.Store(now)
	owner := shm.Token(e.peerOwner.Load())
	if owner == 0 {
		return false, nil // cannot be once New returned; count it alive
	}
	alive, err := e.obj.Alive(owner)
	if err != nil {
		if errors.Is(err, shm.ErrClosed) {
			return false, ErrClosed
		}
		return false, fmt.Errorf("%w: pipe: owner %v of end %d: %w", shm.ErrCorrupt, owner, 1-e.side, err)
	}
	return !alive, nil
}

// shutRings shuts down this end's rings, for the peer (Close) or because
// the peer is gone.
func (e *End) shutRings() error {
	ctx, cancel := context.WithTimeout(context.Background(), shutWait)
	defer cancel()
	var errs []error
	for _, r := range []*ringbuf.Ring{e.in, e.out} {
		if r != nil && !r.IsShutdown() {
			errs = append(errs, r.Shutdown(ctx))
		}
	}
	return errors.Join(errs...)
}

func (e *End) canSend() error {
	switch {
	case e.closed.Load():
		return ErrClosed
	case e.out == nil:
		return ErrReadOnly
	}
	return nil
}

func (e *End) canRecv() error {
	switch {
	case e.closed.Load():
		return ErrClosed
	case e.in == nil:
		return ErrWriteOnly
	}
	return nil
}

// claim claims space for a message of n bytes, with e.use held for reading.
func (e *End) claim(ctx context.Context, n int) (ringbuf.Claim, error) {
	if n > e.out.MaxRecord() {
		return ringbuf.Claim{}, fmt.Errorf("%w: a message of %d bytes, this pipe carries at most %d", ErrTooLarge, n, e.out.MaxRecord())
	}
	for first := true; ; first = false {
		gone, err := e.peerGone()
		if err != nil {
			return ringbuf.Claim{}, err
		}
		if gone {
			e.shutRings()
			return ringbuf.Claim{}, ErrPeerClosed
		}
		if first {
			if c, ok := e.out.TryClaim(n); ok {
				return c, nil
			}
		}
		if e.closed.Load() {
			return ringbuf.Claim{}, ErrClosed
		}
		if err := wait.CtxErr(ctx); err != nil {
			return ringbuf.Claim{}, err
		}
		c, err := e.out.Claim(&stepCtx{ctx, time.Now().Add(peerCheck)}, n)
		switch {
		case err == nil:
			return c, nil
		case errors.Is(err, ringbuf.ErrShutdown):
			if e.closed.Load() {
				return ringbuf.Claim{}, ErrClosed
			}
			return ringbuf.Claim{}, ErrPeerClosed
		case errors.Is(err, ringbuf.ErrClosed):
			return ringbuf.Claim{}, ErrClosed
		case stepOver(ctx, err):
			continue
		}
		return ringbuf.Claim{}, err
	}
}

// SendBytes sends b as one message, waiting while ctx allows for room in
// the ring. It fails with ErrTooLarge if b is longer than MaxMessage,
// ErrPeerClosed once the other end is closed or its process gone, and
// ctx.Err() if ctx ends first; in every such case nothing was sent.
func (e *End) SendBytes(ctx context.Context, b []byte) error {
	// canSend under use: a Close that ran before RLock may have unmapped
	// what claim reads.
	e.use.RLock()
	defer e.use.RUnlock()
	if err := e.canSend(); err != nil {
		return err
	}
	c, err := e.claim(ctx, len(b))
	if err != nil {
		return err
	}
	copy(c.Bytes(), b)
	return c.Commit()
}

// Send encodes v with encoding/gob and sends it, as SendBytes does.
func (e *End) Send(ctx context.Context, v any) error {
	if err := e.canSend(); err != nil {
		return err
	}
	buf := getBuf()
	defer putBuf(buf)
	if err := encodeGob(buf, v); err != nil {
		return err
	}
	return e.SendBytes(ctx, buf.Bytes())
}

// next makes e.pending the next message, waiting while ctx allows, in
// steps of step; with e.rmu held. It returns io.EOF at the end of the
// stream.
func (e *End) next(ctx context.Context, step time.Duration) error {
	if e.hasPending {
		return nil
	}
	if rec, ok := e.in.TryTake(); ok {
		e.pending, e.hasPending = rec, true
		return nil
	}
	for {
		if e.closed.Load() {
			return ErrClosed
		}
		gone, err := e.peerGone()
		if err != nil {
			return err
		}
		if gone {
			e.shutRings()
		}
		if !e.in.IsShutdown() {
			// (A shut ring's Take reports what is left, or the end of
			// the stream, even with ctx over: Poll at EOF says true.)
			if err := wait.CtxErr(ctx); err != nil {
				return err
			}
		}
		e.rstep = stepCtx{ctx, time.Now().Add(step)}
		rec, err := e.in.Take(&e.rstep)
		switch {
		case err == nil:
			e.pending, e.hasPending = rec, true
			return nil
		case errors.Is(err, ringbuf.ErrShutdown):
			if e.closed.Load() {
				return ErrClosed
			}
			return io.EOF
		case errors.Is(err, ringbuf.ErrClosed):
			return ErrClosed
		case stepOver(ctx, err):
			continue
		}
		return err
	}
}

// release consumes e.pending.
func (e *End) release() error {
	err := e.pending.Release()
	e.pending, e.hasPending = ringbuf.Record{}, false
	return err
}

// RecvBytes receives one message into a new slice, waiting while ctx
// allows. It returns io.EOF once the other end is closed or its process
// gone and every message sent before has been received, and ctx.Err() if
// ctx ends first.
func (e *End) RecvBytes(ctx context.Context) ([]byte, error) {
	if err := e.canRecv(); err != nil {
		return nil, err
	}
	e.rmu.Lock()
	defer e.rmu.Unlock()
	if err := e.next(ctx, peerCheck); err != nil {
		return nil, err
	}
	b := e.pending.Bytes()
	out := append(make([]byte, 0, len(b)), b...)
	return out, e.release()
}

// RecvBytesInto receives one message into buf and returns its length, as
// RecvBytes does. If buf is shorter than the message it returns a
// *BufferTooShortError with the message's size, and the message stays
// first in line for the next receive.
func (e *End) RecvBytesInto(ctx context.Context, buf []byte) (int, error) {
	if err := e.canRecv(); err != nil {
		return 0, err
	}
	e.rmu.Lock()
	defer e.rmu.Unlock()
	if err := e.next(ctx, peerCheck); err != nil {
		return 0, err
	}
	if n := e.pending.Len(); n > len(buf) {
		return 0, &BufferTooShortError{Size: n}
	}
	n := copy(buf, e.pending.Bytes())
	return n, e.release()
}

// Recv receives one message and decodes it into v, a pointer, with
// encoding/gob. A message that does not decode is consumed all the same.
func (e *End) Recv(ctx context.Context, v any) error {
	if err := e.canRecv(); err != nil {
		return err
	}
	e.rmu.Lock()
	defer e.rmu.Unlock()
	if err := e.next(ctx, peerCheck); err != nil {
		return err
	}
	derr := decodeGob(e.pending.Bytes(), v)
	return errors.Join(derr, e.release())
}

// Poll waits, while ctx allows, until a message or the end of the stream
// is ready, and reports whether one is. A message it finds is kept for the
// next receive of this process (taken from the ring: if this process dies,
// it is delivered again). A deadline that passes is the answer false with
// a nil error; a cancelled ctx returns ctx.Err().
func (e *End) Poll(ctx context.Context) (bool, error) { return e.pollStep(ctx, peerCheck) }

// PollTimeout is Poll for at most d; d <= 0 looks without waiting.
func (e *End) PollTimeout(d time.Duration) (bool, error) { return pollTimeout(d, e.Poll) }

func (e *End) pollStep(ctx context.Context, step time.Duration) (bool, error) {
	if err := e.canRecv(); err != nil {
		return false, err
	}
	e.rmu.Lock()
	defer e.rmu.Unlock()
	switch err := e.next(ctx, step); {
	case err == nil || err == io.EOF:
		return true, nil
	case wait.CtxErr(ctx) != nil && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)):
		return false, pollErr(ctx)
	default:
		return false, err
	}
}

// Read reads the bytes of the messages in order (see Connection), waiting
// without a deadline.
func (e *End) Read(p []byte) (int, error) {
	ctx := context.Background()
	return e.stream.read(p,
		func(b []byte) (int, error) { return e.RecvBytesInto(ctx, b) },
		func() ([]byte, error) { return e.RecvBytes(ctx) })
}

// Write sends p as messages of at most MaxMessage bytes, waiting without a
// deadline.
func (e *End) Write(p []byte) (int, error) {
	if err := e.canSend(); err != nil {
		return 0, err
	}
	return write(p, e.out.MaxRecord(), func(b []byte) error { return e.SendBytes(context.Background(), b) })
}

// Close lets go of this end. If this process holds the end and has not
// handed it to another (GobEncode), Close ends it for the peer: the peer
// receives what was sent and then io.EOF, and its sends fail with
// ErrPeerClosed. A message a Poll kept for this process is consumed. A second
// Close returns ErrClosed.
func (e *End) Close() error {
	if !e.closed.CompareAndSwap(false, true) {
		return ErrClosed
	}
	var errs []error
	if !e.given.Load() && shm.Token(e.myOwner.Load()) == e.self {
		e.myState.Or(stClosed)
		errs = append(errs, e.shutRings())
	}
	// Wait for the calls in progress: they see closed within a step.
	e.use.Lock()
	e.rmu.Lock()
	if e.hasPending {
		errs = append(errs, e.release())
	}
	for _, r := range []*ringbuf.Ring{e.in, e.out} {
		if r != nil {
			errs = append(errs, r.Close())
		}
	}
	errs = append(errs, e.obj.Close())
	e.rmu.Unlock()
	e.use.Unlock()
	return errors.Join(errs...)
}
