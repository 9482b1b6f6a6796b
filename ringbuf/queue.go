package ringbuf

// A queue is a Ring plus a small control object beside it in the same
// segment (shm.KindQueue, KindJoinableQueue or KindSimpleQueue, layout
// version 2). Every word is little-endian and reached only through
// sync/atomic:
//
//	off  size  field
//	0    8     ring          offset of the ring's object header in the segment (set at creation)
//	8    4     maxsize       0: unbounded; else the most messages Put may have in flight (set at creation)
//	12   4     used          maxsize only: places held, as counted (see Places below)
//	16   4     slotSeq       futex word of Puts waiting for a place; bumped when a Get gives one back
//	20   4     slotSleepers  Puts asleep, or about to sleep, on slotSeq
//	24   4     reserved, zero (version 1: unfinished)
//	28   4     joinSeq       futex word of Joins; bumped when unfinished reaches 0
//	32   4     joinSleepers  Joins asleep, or about to sleep, on joinSeq
//	36   4     placeLock     maxsize or joinable: the place lock (internal/robust): owner token | waiter bit
//	40   8     tasks         JoinableQueue: bits 0-31 unfinished, tasks put and not yet done;
//	                         bit 32 pending, the Put holding the place lock has counted its task
//	48   8     putPos        JoinableQueue: where that Put claimed, plus 1; 0 before its claim
//	56   8     reserved, zero
//
// The messages themselves, and the hand-over of their bytes, are the
// ring's (see the top of ring.go): Put claims, encodes in place (or
// copies an encoding in) and commits; Get takes, decodes or copies out,
// and releases before it returns. Releasing before returning is what
// makes a message delivered to one Get only, and a consumer killed before
// Get returns loses nothing: the ring delivers its record again.
//
// The ring is placed first and the control object, which names it by
// offset, second: an opener that finds the control object finds a whole
// ring (OpenHandle checks that the offset holds an object of KindRing).
//
// Places (maxsize only): a message holds a place from the moment its Put
// claims it until the Get that reads it gives it back. Put takes the place
// lock, takes a place (used + 1) while used is below maxsize, and claims,
// then unlocks and writes and commits: every claim on the ring is made
// under the lock. A Get gives the place back (used - 1, never below zero)
// after it has read the message and before it releases the record, then
// wakes a waiting Put; a Get of a record taken over from a dead consumer
// (Record.again reports it) gives nothing back, since the first Get may have.
//
// used can only be too high, never too low: a death can make a place
// counted that nothing holds (below), never the reverse. A Put that finds
// used at maxsize therefore recounts, at most once a poll interval per
// process (recountDue): under the lock it walks the records between free
// and tail (Ring.held) and stores how many are CLAIMED, COMMITTED or
// READING. No claim is made while it walks and records only lose places,
// and a Get gives its place back while its record is READING, so a Get's
// decrement that the store overwrites was for a record the walk counted:
// the recount is never below the truth either. So no Put goes past
// maxsize, and a place lost to a death comes back within a poll interval
// of a Put needing it.
//
// A process that dies:
//
//   - holding the place lock, after it added to used and before its claim
//     was published: used counts a place nobody holds, until a recount
//     (the next locker takes the lock over: internal/robust).
//   - between its claim and its commit: the place stays counted; a
//     consumer skips its CLAIMED record after a poll interval (see
//     ring.go), and the next recount after that gives the place back.
//   - inside Get, before it gave the place back: the record is READING
//     and is delivered again, as again, so its place stays counted until
//     a recount after that Get.
//   - after it gave the place back, before Release: the record is
//     delivered again, as again, which gives nothing back a second time.
//   - before it woke a waiting Put: that Put looks again within its poll
//     interval.
//
// Layout version 1 had the same counter without the recount: each place
// counted that nothing held was lost for good, and maxsize such deaths
// wedged the queue.
//
// Tasks (JoinableQueue): a joinable queue's Put runs whole under the
// place lock. It counts its task (unfinished + 1) and sets pending in one
// compare-and-swap on tasks, before its message can be taken (as Python's
// put does), so a TaskDone never sees unfinished below what was taken;
// after its claim it stores putPos; after its commit it clears pending
// (and a Put that failed takes its count back in the same step). TaskDone
// takes one away with a compare-and-swap that refuses to go below zero;
// the step to zero bumps joinSeq and wakes every Join.
//
// A Put that dies in between leaves pending set under a dead owner of the
// place lock. Whoever takes the lock next (the next Put, or a Join that has
// waited a poll interval and finds pending set) finishes it: if putPos
// names a record that was committed (COMMITTED, READING or DONE: no claim
// can have reused its space, claims need the lock) the task stays counted,
// otherwise (no claim yet, or a CLAIMED record a consumer will skip) the
// count goes back down. So a producer killed inside Put leaves no task
// that never finishes. A consumer killed between Get and TaskDone does, as
// in Python.
//
// The race detector sees none of this (see the end of ring.go's essay):
// each queue has a sentinel per process, which TaskDone releases (merging)
// before its decrement and Join acquires after it sees zero. The messages'
// own hand-over is annotated by the ring.
//
// Waits follow the ring's rule (no lost wake-up): the waiter adds itself
// to the sleepers word, loads the sequence word, checks its condition and
// sleeps only while the sequence word is unchanged, for at most the poll
// interval; the waker changes the state, then, if the sleepers word is not
// zero, bumps the sequence word and wakes. A process killed asleep leaves
// a sleepers word one too high, which costs later wakers a needless
// system call, nothing else. A Get wakes one waiting Put; a Put woken
// after its context ended does not pass the wake-up on, and the next
// waiter finds the place within its poll interval.
//
// Why not simpler:
//
//   - Bounding by the ring's Len (Put waits while Len ≥ maxsize) lets n
//     producers that look at once put maxsize + n - 1 messages: the check
//     and the commit are not one step. Here the check and the claim are
//     one step under the place lock.
//   - A Get that gives its place back after Release could be overwritten
//     by a recount that did not count the released record: the place
//     would be freed twice, and maxsize passed. Giving it back before
//     Release, while the record is READING, makes every such decrement one
//     the recount counted. Giving it back again for a redelivered record
//     would free it twice too, hence Record.again.
//   - Recounting every time the count says full would walk the ring (about
//     maxsize records) for every Put of a full queue whose consumer keeps
//     up: 36 µs a Put at maxsize 10 000 (BenchmarkQueueFull, an earlier
//     draft). Once a poll interval is enough to find lost places.

import (
	"bytes"
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"reflect"
	"sync/atomic"
	"time"

	"github.com/shmkit/shmkit/internal/layout"
	"github.com/shmkit/shmkit/internal/race"
	"github.com/shmkit/shmkit/internal/robust"
	"github.com/shmkit/shmkit/internal/wait"
	"github.com/shmkit/shmkit/shm"
)

const (
	qOffRing         = 0
	qOffMaxSize      = 8
	qOffUsed         = 12
	qOffSlotSeq      = 16
	qOffSlotSleepers = 20
	qOffTasks        = 40
	qOffPutPos       = 48
	qOffJoinSeq      = 28
	qOffJoinSleepers = 32
	qOffPlaceLock    = 36
	qPayloadSize     = 64

	queueVersion = 2
)

// DefaultQueueCapacity is the data area of a queue's ring when
// QueueOptions.Capacity is zero: messages of up to half of it fit.
const DefaultQueueCapacity = 1 << 20

// MaxQueueSize is the largest QueueOptions.MaxSize.
const MaxQueueSize = 1<<31 - 1

// Codec turns values of T into the bytes of a message and back. Every
// process using a queue must use the same codec. Append appends v's
// encoding to dst; Decode sets *v from a whole message (b dies after
// Decode returns: copy what you keep).
type Codec[T any] interface {
	Append(dst []byte, v T) ([]byte, error)
	Decode(b []byte, v *T) error
}

// GobCodec encodes with encoding/gob, one fresh encoder per message (so
// every message carries its type description: correct, not fast). It is
// the default codec for types that hold pointers, strings, slices, maps or
// interfaces.
type GobCodec[T any] struct{}

// Append appends the gob encoding of v to dst.
func (GobCodec[T]) Append(dst []byte, v T) ([]byte, error) {
	buf := bytes.NewBuffer(dst)
	if err := gob.NewEncoder(buf).Encode(&v); err != nil {
		return dst, err
	}
	return buf.Bytes(), nil
}

// Decode decodes a message that Append encoded into *v.
func (GobCodec[T]) Decode(b []byte, v *T) error {
	return gob.NewDecoder(bytes.NewReader(b)).Decode(v)
}

// BytesCodec sends a []byte as it is: the default codec of Queue[[]byte].
type BytesCodec struct{}

// Append appends v to dst.
func (BytesCodec) Append(dst []byte, v []byte) ([]byte, error) { return append(dst, v...), nil }

// Decode sets *v to a copy of b (a fresh slice, never nil).
func (BytesCodec) Decode(b []byte, v *[]byte) error {
	*v = append(make([]byte, 0, len(b)), b...)
	return nil
}

func isBytesCodec[T any](c Codec[T]) bool {
	_, ok := any(c).(BytesCodec)
	return ok
}

// QueueOptions configures a queue. The zero value (or nil) means the
// defaults.
type QueueOptions[T any] struct {
	// MaxSize (New only) bounds the number of messages in the queue, as
	// Python's maxsize does: Put waits while MaxSize messages are in it.
	// Zero means no bound but the ring's bytes.
	MaxSize int
	// Capacity (New only) is the ring's data area in bytes, a power of
	// two; zero means DefaultQueueCapacity. A message may take at most
	// half of it (Queue.MaxMessage).
	Capacity int
	// Codec turns values into messages. Nil means: the raw bytes of T when
	// T holds no pointers (shm.TypeOf accepts it; an empty message when T
	// has size zero, like struct{}), BytesCodec for []byte,
	// and GobCodec otherwise. Every process must use the same one; a queue
	// received by process.Start or GobDecode uses the default.
	Codec Codec[T]
	// Ring tunes this process's waits (Spin, Poll). SingleProducer and
	// SingleConsumer are not for queues and are ignored.
	Ring Options
}

// Queue is a FIFO queue of values of T between any number of processes,
// like Python's multiprocessing.Queue, over a Ring.
//
// Make one with NewQueue, or open one with OpenQueue or OpenQueueHandle; a
// *Queue passed to process.Start arrives in the child as the same queue.
// A Queue must not be copied. Its methods may be called from any goroutine
// of any process that has it open.
//
// Put is synchronous: when it returns, the message is in shared memory and
// survives the producer's exit. A value is encoded by the queue's Codec
// (see QueueOptions.Codec): a value it cannot encode makes Put fail and
// puts nothing. A Put synchronizes before the Get that returns its value,
// in the sense of [the Go memory model].
//
// Delivery: each message is returned by one Get, in the order of Puts as
// the ring orders them (one producer's messages come out in its order).
// Get copies the message out and releases it before returning, so a
// consumer killed inside Get loses nothing (another Get returns the
// message, possibly out of order), and one killed after Get returned had
// consumed it. A producer killed inside Put has put nothing. With MaxSize,
// a process killed inside Put or Get loses no place for good: a Put that
// needs it counts the places from the ring's records, at most once a poll
// interval (see the top of queue.go). Len is exact (see Ring.Len for the
// one exception).
//
// Shutdown ends the queue for everyone (Python 3.13's shutdown()): later
// Puts fail with ErrShutdown; Gets drain what is left, then fail with
// ErrShutdown. Close lets go of this process's handle (what Python's close
// and join_thread do for a feeder thread has no counterpart: there is no
// feeder); later calls fail with ErrClosed. Close while another goroutine
// is inside a method is a misuse, as it is for a Ring: a queue made with a
// nil segment unmaps its memory under that call.
//
// A goroutine blocked in a Queue sleeps in the kernel and holds an OS
// thread while it does.
//
// [the Go memory model]: https://go.dev/ref/mem
type Queue[T any] struct {
	_        noCopy
	obj      *shm.Object
	own      *shm.Segment // a segment made for this queue alone, or nil
	ring     *Ring
	codec    Codec[T]
	raw      bool // T travels as its own bytes (none if size is 0)
	joinable bool // a JoinableQueue: Put counts unfinished tasks
	size     int  // sizeof T, when raw
	opts     Options
	race     race.Sentinel // for unfinished: TaskDone before Join

	maxSize                                         uint32
	used, slotSeq, slotSleepers, joinSeq, joinSleep *atomic.Uint32
	lastWalk                                        *atomic.Int64  // maxsize only: this process's last recount, Unix ns (Go memory)
	tasks, putPos                                   *atomic.Uint64 // joinable only
	place                                           robust.Mutex   // maxsize or joinable

	closed atomic.Bool
}

// NewQueue places a new empty queue, and the ring under it, in seg under
// name ("" for none), or, with a nil seg, in an anonymous segment of its
// own.
func NewQueue[T any](seg *shm.Segment, name string, opts *QueueOptions[T]) (*Queue[T], error) {
	return newQueue(seg, name, shm.KindQueue, opts)
}

// OpenQueue opens the queue named name in seg, with opts' Codec and Ring
// (MaxSize and Capacity are the queue's own).
func OpenQueue[T any](seg *shm.Segment, name string, opts *QueueOptions[T]) (*Queue[T], error) {
	return openQueue(seg, name, shm.KindQueue, opts)
}

// OpenQueueHandle opens the queue that h names (see shm.OpenHandle).
func OpenQueueHandle[T any](h shm.Handle, opts *QueueOptions[T]) (*Queue[T], error) {
	return openQueueHandle(h, shm.KindQueue, opts)
}

// rawType reports T's size and hash if it can travel as its own bytes.
func rawType[T any]() (size uint32, hash uint64, ok bool) {
	size, hash, err := shm.TypeOf[T]()
	return size, hash, err == nil
}

func newQueue[T any](seg *shm.Segment, name string, kind shm.Kind, opts *QueueOptions[T]) (_ *Queue[T], err error) {
	if opts == nil {
		opts = &QueueOptions[T]{}
	}
	if opts.MaxSize < 0 || opts.MaxSize > MaxQueueSize {
		return nil, fmt.Errorf("ringbuf: %w: maxsize %d, want 0 to %d", shm.ErrSize, opts.MaxSize, MaxQueueSize)
	}
	capacity := opts.Capacity
	if capacity == 0 {
		capacity = DefaultQueueCapacity
	}
	var own *shm.Segment
	if seg == nil {
		if name != "" {
			return nil, fmt.Errorf("%w: a named %v needs a segment", shm.ErrName, kind)
		}
		if capacity < MinCapacity || capacity > MaxCapacity {
			return nil, fmt.Errorf("ringbuf: %w: capacity %d", shm.ErrSize, capacity)
		}
		if own, err = shm.New(dataOffset+capacity+128<<10, nil); err != nil {
			return nil, err
		}
		seg = own
		defer func() {
			if err != nil {
				own.Close()
			}
		}()
	}
	if name != "" {
		// Fail before placing the ring, which would stay in the segment:
		// objects are never freed. (Two creators racing for the name
		// still both place a ring; the loser's is wasted.)
		if o, err := seg.Lookup(name, shm.KindInvalid); err == nil {
			o.Close()
			return nil, fmt.Errorf("new %v %q: %w", kind, name, shm.ErrObjectExist)
		}
	}
	ropts := opts.Ring
	ropts.SingleProducer, ropts.SingleConsumer = false, false
	r, err := New(seg, "", capacity, &ropts)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			r.Close()
		}
	}()
	spec := shm.Spec{Kind: kind, Version: queueVersion, Name: name, Size: qPayloadSize, Align: 64}
	if opts.Codec == nil {
		if size, hash, ok := rawType[T](); ok {
			spec.ElemSize, spec.TypeHash = size, hash
		}
	}
	ringOff := r.Handle().Offset
	obj, err := seg.Alloc(spec, func(p layout.View) error {
		ro, err := p.Uint64(qOffRing)
		if err != nil {
			return err
		}
		ms, err := p.Uint32(qOffMaxSize)
		if err != nil {
			return err
		}
		ro.Store(ringOff)
		ms.Store(uint32(opts.MaxSize))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("new %v: %w", kind, err)
	}
	q, err := wrapQueue(obj, r, opts)
	if err != nil {
		obj.Close()
		return nil, err
	}
	q.own = own
	return q, nil
}

func openQueue[T any](seg *shm.Segment, name string, kind shm.Kind, opts *QueueOptions[T]) (*Queue[T], error) {
	obj, err := seg.Lookup(name, kind)
	if err != nil {
		return nil, err
	}
	return finishQueue(obj, opts)
}

func openQueueHandle[T any](h shm.Handle, kind shm.Kind, opts *QueueOptions[T]) (*Queue[T], error) {
	obj, err := shm.OpenHandle(h, kind)
	if err != nil {
		return nil, err
	}
	return finishQueue(obj, opts)
}

// finishQueue opens the ring obj names and wraps both; it owns obj and
// closes it on failure.
func finishQueue[T any](obj *shm.Object, opts *QueueOptions[T]) (_ *Queue[T], err error) {
	defer func() {
		if err != nil {
			obj.Close()
		}
	}()
	if opts == nil {
		opts = &QueueOptions[T]{}
	}
	if obj.Version() != queueVersion {
		return nil, fmt.Errorf("%w: %v of layout version %d, this code knows %d", shm.ErrVersion, obj.Kind(), obj.Version(), queueVersion)
	}
	ro, err := obj.Payload().Uint64(qOffRing)
	if err != nil {
		return nil, fmt.Errorf("%w: %v control words: %w", ErrCorrupt, obj.Kind(), err)
	}
	h := obj.Handle()
	h.Offset, h.Kind = ro.Load(), shm.KindRing
	ropts := opts.Ring
	r, err := OpenHandle(h, &ropts)
	if err != nil {
		return nil, fmt.Errorf("%v's ring: %w", obj.Kind(), err)
	}
	q, err := wrapQueue(obj, r, opts)
	if err != nil {
		r.Close()
		return nil, err
	}
	return q, nil
}

// wrapQueue makes the Queue of obj and r; it closes neither on failure.
func wrapQueue[T any](obj *shm.Object, r *Ring, opts *QueueOptions[T]) (*Queue[T], error) {
	p := obj.Payload()
	var errs []error
	u32 := func(off uint64) *atomic.Uint32 {
		w, err := p.Uint32(off)
		errs = append(errs, err)
		return w
	}
	h := obj.Handle()
	q := &Queue[T]{obj: obj, ring: r, codec: opts.Codec, opts: opts.Ring, joinable: obj.Kind() == shm.KindJoinableQueue,
		race: race.For(h.Segment, h.Offset)}
	ms := u32(qOffMaxSize)
	q.used, q.slotSeq, q.slotSleepers = u32(qOffUsed), u32(qOffSlotSeq), u32(qOffSlotSleepers)
	q.joinSeq, q.joinSleep = u32(qOffJoinSeq), u32(qOffJoinSleepers)
	q.lastWalk = new(atomic.Int64)
	placeLock := u32(qOffPlaceLock)
	u64 := func(off uint64) *atomic.Uint64 {
		w, err := p.Uint64(off)
		errs = append(errs, err)
		return w
	}
	q.tasks, q.putPos = u64(qOffTasks), u64(qOffPutPos)
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("%w: %v control words: %w", ErrCorrupt, obj.Kind(), err)
	}
	q.maxSize = ms.Load()
	if q.maxSize > MaxQueueSize {
		return nil, fmt.Errorf("%w: %v maxsize %d", ErrCorrupt, obj.Kind(), q.maxSize)
	}
	q.place = robust.Mutex{State: placeLock, Obj: obj, Spin: r.spin, Poll: r.poll, Race: q.race, MergeRelease: true}
	if q.codec == nil {
		if size, hash, ok := rawType[T](); ok {
			if err := obj.CheckType(size, hash); err != nil {
				return nil, err
			}
			q.raw, q.size = true, int(size)
		} else if reflect.TypeFor[T]().Size() == 0 {
			q.raw = true // struct{} and the like: empty messages
		} else if c, ok := any(BytesCodec{}).(Codec[T]); ok {
			q.codec = c
		} else {
			q.codec = GobCodec[T]{}
		}
	}
	return q, nil
}

// MaxSize is the queue's bound on messages, 0 for none.
func (q *Queue[T]) MaxSize() int { return int(q.maxSize) }

// MaxMessage is the largest encoded message the queue holds, in bytes.
func (q *Queue[T]) MaxMessage() int { return q.ring.MaxRecord() }

// Len is the number of messages in the queue (Python's qsize): exact, see
// Ring.Len. With MaxSize, messages being put or got are not counted.
func (q *Queue[T]) Len() int {
	if q.closed.Load() {
		return 0
	}
	return q.ring.Len()
}

// Empty reports whether Len is 0.
func (q *Queue[T]) Empty() bool { return q.Len() == 0 }

// Full reports whether a Put would wait for a place (MaxSize messages are
// in the queue or on their way in). Without MaxSize it is false. Like
// Python's full() it may be out of date when it returns; after a process
// died inside Put or Get it may say full for up to a poll interval while
// a place is in fact free (see the top of queue.go).
func (q *Queue[T]) Full() bool {
	if q.maxSize == 0 || q.closed.Load() {
		return false
	}
	if q.used.Load() < q.maxSize {
		return false
	}
	self, err := q.ring.self()
	if err != nil {
		return false
	}
	ok, _, err := q.place.TryLock(self)
	if err != nil || !ok {
		return true
	}
	defer q.place.Unlock()
	q.finishDead()
	if !q.recountDue() {
		return true
	}
	n, err := q.recount()
	return err != nil || n >= q.maxSize
}

// Put puts v at the end of the queue, waiting while ctx allows for a place
// (MaxSize) and for room in the ring. It fails with ErrShutdown after
// Shutdown, ErrTooLarge (naming the limit) if v's encoding is larger than
// MaxMessage, the codec's error if v cannot be encoded, and ctx.Err() if
// ctx ends first; in every such case nothing was put.
func (q *Queue[T]) Put(ctx context.Context, v T) error {
	return q.put(ctx, v, true)
}

// TryPut puts v if there is a place and room now, and fails with ErrFull
// (Python's queue.Full) otherwise. "Now" includes up to the ring's spin
// for another Put to leave a lock it holds; so ErrFull also comes when
// another Put of a queue with a MaxSize, or of a JoinableQueue, holds the
// queue's place lock for longer (it waits there for room in the ring).
// Other errors are those of Put (ErrShutdown, ErrCorrupt, ...). Unlike
// shmkit's other Try methods it returns an error, not a bool, so that an
// encoding error reaches the caller; ErrFull is a sentinel, so a full
// queue costs no allocation.
func (q *Queue[T]) TryPut(v T) error {
	return q.put(nil, v, false)
}

func (q *Queue[T]) put(ctx context.Context, v T, block bool) (err error) {
	if q.closed.Load() {
		return ErrClosed
	}
	if q.ring.IsShutdown() {
		return ErrShutdown
	}
	var msg []byte
	n := q.size
	if !q.raw {
		if b, ok := any(v).([]byte); ok && isBytesCodec(q.codec) {
			// BytesCodec's encoding is the slice itself: copy it
			// straight into the claim below, without an encoding copy.
			msg = b
		} else if msg, err = q.codec.Append(nil, v); err != nil {
			return fmt.Errorf("ringbuf: put: encode %T: %w", v, err)
		}
		n = len(msg)
	}
	if n > q.ring.MaxRecord() {
		return fmt.Errorf("ringbuf: put: %w: a message of %d bytes, this queue holds at most %d", ErrTooLarge, n, q.ring.MaxRecord())
	}
	locked := q.maxSize != 0 || q.joinable
	if locked {
		// Under the place lock (see the top of this file): a bounded
		// queue's place and claim, a joinable queue's whole Put.
		if err := q.reserve(ctx, block); err != nil {
			return err
		}
	}
	if q.joinable {
		q.countTask()
	}
	var c Claim
	if block {
		c, err = q.ring.Claim(ctx, n)
	} else {
		c, err = q.ring.tryClaim(n)
		err = q.tryErr(err, ErrFull)
	}
	if err != nil {
		if q.maxSize != 0 {
			q.used.Add(^uint32(0)) // no record holds the place
		}
		if q.joinable {
			q.endTask(false)
		}
		if locked {
			q.place.Unlock()
		}
		return err
	}
	if q.joinable {
		q.putPos.Store(c.pos + 1)
	} else if locked {
		q.place.Unlock()
	}
	if q.raw && q.size > 0 {
		// The payload is 8-aligned (record headers are 8 bytes at
		// 8-aligned positions) and T holds no pointers: rawType checked.
		if p, perr := layout.UnsafePointer[T](layout.Of(c.Bytes()), 0); perr == nil {
			*p = v
		} else {
			// Cannot be; commit what we have (a zero message) rather than
			// stall the ring, and report it.
			clear(c.Bytes())
			err = fmt.Errorf("%w: ringbuf: put: %w", ErrCorrupt, perr)
		}
	} else {
		copy(c.Bytes(), msg)
	}
	cerr := c.Commit()
	if q.joinable {
		q.endTask(cerr == nil)
		q.place.Unlock()
	}
	return errors.Join(err, cerr)
}

// countTask counts the task of the Put that holds the place lock, and
// marks it pending (see the top of this file).
func (q *Queue[T]) countTask() {
	q.putPos.Store(0)
	for {
		t := q.tasks.Load()
		if q.tasks.CompareAndSwap(t, (t+1)|taskPending) {
			return
		}
	}
}

// endTask ends the pending task of the Put that holds the place lock:
// still counted if its message was committed, taken back if not.
func (q *Queue[T]) endTask(committed bool) {
	for {
		t := q.tasks.Load()
		next := t &^ taskPending
		if !committed && uint32(next) > 0 {
			next--
		}
		if q.tasks.CompareAndSwap(t, next) {
			if uint32(next) == 0 && uint32(t) != 0 {
				q.wakeJoins()
			}
			break
		}
	}
	q.putPos.Store(0)
}

// finishDead ends the task of a Put that died holding the place lock, if
// one did; the caller has just taken the lock.
func (q *Queue[T]) finishDead() {
	if !q.joinable || q.tasks.Load()&taskPending == 0 {
		return
	}
	pp := q.putPos.Load()
	q.endTask(pp != 0 && q.ring.committedAt(pp-1))
}

// wakeJoins wakes every Join, after unfinished reached zero.
func (q *Queue[T]) wakeJoins() {
	if q.joinSleep.Load() != 0 {
		q.joinSeq.Add(1)
		wait.Wake(q.joinSeq, 0)
	}
}

// reserve takes the place lock and, with a MaxSize, one of the places,
// waiting while ctx allows if block (a TryPut waits for the lock no longer
// than the ring's spin). It returns holding the lock, or an error without
// it.
func (q *Queue[T]) reserve(ctx context.Context, block bool) error {
	self, err := q.ring.self()
	if err != nil {
		return err
	}
	for {
		if err := q.lockPlaces(ctx, self, block); err != nil {
			return err
		}
		q.finishDead()
		if q.maxSize == 0 {
			return nil // a joinable queue's Put: the lock is all it needs
		}
		if q.used.Load() < q.maxSize {
			q.used.Add(1)
			return nil
		}
		// Full by the count: say we will sleep, then look again, so that a
		// Get giving a place back after the look wakes us (see the top of
		// ring.go for why this order loses no wake-up). Only Gets lower
		// used; we hold the lock that every raise needs.
		q.slotSleepers.Add(1)
		seq := q.slotSeq.Load()
		if q.used.Load() < q.maxSize { // a Get gave one back before it could see us
			q.slotSleepers.Add(^uint32(0))
			q.used.Add(1)
			return nil
		}
		var err error
		if q.recountDue() {
			var n uint32
			if n, err = q.recount(); err == nil && n < q.maxSize {
				q.slotSleepers.Add(^uint32(0))
				q.used.Add(1)
				if n+1 < q.maxSize {
					q.wakePut() // more places are free: the next sleeper need not wait
				}
				return nil
			}
		}
		q.place.Unlock()
		switch {
		case err != nil:
		case !block:
			err = ErrFull
		case q.closed.Load():
			err = ErrClosed
		case q.ring.IsShutdown():
			err = ErrShutdown
		default:
			err = wait.CtxErr(ctx)
		}
		if err == nil && !wait.Spin(q.ring.spin, func() bool { return q.slotSeq.Load() != seq }) {
			_, err = wait.Sleep(ctx, q.slotSeq, seq, q.ring.poll)
		}
		q.slotSleepers.Add(^uint32(0))
		if err != nil {
			if block && q.slotSeq.Load() != seq {
				q.wakePut() // we may have swallowed a wake meant for another
			}
			return err
		}
	}
}

// recountDue reports whether a Put that found the queue full by the count
// should walk the ring (recount): once a poll interval has passed since
// this process last did. The count is only ever too high because of a
// death, so that is how soon a lost place comes back.
func (q *Queue[T]) recountDue() bool {
	return time.Duration(time.Now().UnixNano()-q.lastWalk.Load()) >= q.ring.poll
}

// wakePut wakes one waiting Put, if one sleeps.
func (q *Queue[T]) wakePut() {
	if q.slotSleepers.Load() != 0 {
		q.slotSeq.Add(1)
		wait.Wake(q.slotSeq, 1)
	}
}

// lockPlaces takes the place lock: waiting while ctx allows if block, else
// trying for at most the ring's spin (TryPut).
func (q *Queue[T]) lockPlaces(ctx context.Context, self shm.Token, block bool) error {
	if block {
		_, err := q.place.Lock(ctx, self)
		return err
	}
	ok, err := tryLock(&q.place, self, q.ring.spin)
	if err == nil && !ok {
		return ErrFull // another Put holds it for longer: waiting for ring space, or putting a large message
	}
	return err
}

// recount counts the places held (see the top of this file) and stores the
// count in used. The caller holds the place lock.
func (q *Queue[T]) recount() (uint32, error) {
	q.lastWalk.Store(time.Now().UnixNano())
	n, err := q.ring.held()
	if err != nil {
		return 0, err
	}
	q.used.Store(uint32(min(n, MaxQueueSize)))
	return uint32(n), nil
}

// giveBack gives a Get's place back, before the Get releases its record
// (see the top of this file), unless the record was delivered before.
func (q *Queue[T]) giveBack(rec *Record) {
	if rec.again() {
		return
	}
	for {
		u := q.used.Load()
		if u == 0 || q.used.CompareAndSwap(u, u-1) {
			return
		}
	}
}

// Get removes and returns the value at the front of the queue, waiting
// while ctx allows. It fails with ErrShutdown once the queue is shut down
// and empty, and with ctx.Err() if ctx ends first. A message the codec
// cannot decode is consumed all the same: Get returns the codec's error.
func (q *Queue[T]) Get(ctx context.Context) (T, error) {
	return q.get(ctx, true)
}

// TryGet removes and returns the value at the front of the queue if there
// is one now (waiting up to the ring's spin for another Get to leave the
// consumer lock), and fails with ErrEmpty (Python's queue.Empty)
// otherwise. It fails with ErrShutdown only once the queue is shut down
// and empty, with no message claimed before Shutdown still to be
// committed; other errors are those of Get.
func (q *Queue[T]) TryGet() (T, error) {
	return q.get(nil, false)
}

// GetInto is Get that stores the value in *v rather than returning it,
// reusing what *v holds where it can: a Queue[[]byte] with the default
// codec appends the message to (*v)[:0], so a caller that passes the same
// buffer every time copies each message once and allocates nothing once
// the buffer is large enough. A pointer-free T is copied into *v. Other
// codecs decode into *v. On an error other than the codec's, *v is
// unchanged.
func (q *Queue[T]) GetInto(ctx context.Context, v *T) error {
	return q.getInto(ctx, true, v)
}

// TryGetInto is TryGet that stores the value in *v, as GetInto does.
func (q *Queue[T]) TryGetInto(v *T) error {
	return q.getInto(nil, false, v)
}

func (q *Queue[T]) get(ctx context.Context, block bool) (v T, err error) {
	rec, err := q.take(ctx, block)
	if err != nil {
		return v, err
	}
	var derr error
	if q.raw {
		v, derr = q.decodeRaw(rec.Bytes())
	} else {
		// In a function of its own, so that v does not escape (and is
		// not allocated) on the raw path.
		v, derr = decode(q.codec, rec.Bytes())
	}
	return v, q.done(&rec, derr)
}

func (q *Queue[T]) getInto(ctx context.Context, block bool, v *T) error {
	rec, err := q.take(ctx, block)
	if err != nil {
		return err
	}
	b := rec.Bytes()
	var derr error
	switch {
	case q.raw:
		var x T
		if x, derr = q.decodeRaw(b); derr == nil {
			*v = x
		}
	default:
		if p, ok := any(v).(*[]byte); ok && isBytesCodec(q.codec) {
			*p = append((*p)[:0], b...)
			if *p == nil {
				*p = []byte{} // BytesCodec never gives nil
			}
		} else if derr = q.codec.Decode(b, v); derr != nil {
			derr = fmt.Errorf("ringbuf: get: decode %v: %w", reflect.TypeFor[T](), derr)
		}
	}
	return q.done(&rec, derr)
}

// take takes the next message's record.
func (q *Queue[T]) take(ctx context.Context, block bool) (rec Record, err error) {
	if q.closed.Load() {
		return rec, ErrClosed
	}
	if block {
		return q.ring.Take(ctx)
	}
	// The ring says ErrShutdown only once no record is left to take,
	// counting claims that are still to be committed (which Len does not).
	rec, err = q.ring.tryTake()
	return rec, q.tryErr(err, ErrEmpty)
}

// tryErr is the error of a ring's try as TryPut and TryGet report it:
// errWouldBlock becomes none (ErrFull, ErrEmpty), or ErrClosed if this
// Queue was closed meanwhile; any other error stays as it is.
func (q *Queue[T]) tryErr(err, none error) error {
	switch {
	case err != errWouldBlock:
		return err
	case q.closed.Load():
		return ErrClosed
	}
	return none
}

// decodeRaw is the value of a message of a pointer-free T.
func (q *Queue[T]) decodeRaw(b []byte) (v T, err error) {
	if len(b) != q.size {
		return v, fmt.Errorf("%w: ringbuf: get: a message of %d bytes in a queue of %d-byte values", ErrCorrupt, len(b), q.size)
	}
	if q.size > 0 {
		// Aligned, and any bits are a valid T: see put.
		p, err := layout.UnsafePointer[T](layout.Of(b), 0)
		if err != nil {
			return v, fmt.Errorf("%w: ringbuf: get: %w", ErrCorrupt, err)
		}
		v = *p
	}
	return v, nil
}

// decode is the value c decodes from b.
func decode[T any](c Codec[T], b []byte) (v T, err error) {
	if err = c.Decode(b, &v); err != nil {
		err = fmt.Errorf("ringbuf: get: decode %v: %w", reflect.TypeFor[T](), err)
	}
	return v, err
}

// done releases a message's record once it is decoded (derr: how that
// went) and gives back its place.
func (q *Queue[T]) done(rec *Record, derr error) error {
	if q.maxSize != 0 {
		q.giveBack(rec)
	}
	if err := rec.Release(); err != nil {
		return errors.Join(derr, err)
	}
	if q.maxSize != 0 {
		q.wakePut()
	}
	return derr
}

// Shutdown ends the queue for every process, like Python 3.13's
// Queue.shutdown(): later Puts fail with ErrShutdown, Gets return what is
// left and then fail with ErrShutdown. It wakes every waiter.
func (q *Queue[T]) Shutdown(ctx context.Context) error {
	if q.closed.Load() {
		return ErrClosed
	}
	if err := q.ring.Shutdown(ctx); err != nil {
		return err
	}
	q.slotSeq.Add(1)
	wait.Wake(q.slotSeq, 0)
	return nil
}

// IsShutdown reports whether Shutdown has run.
func (q *Queue[T]) IsShutdown() bool { return !q.closed.Load() && q.ring.IsShutdown() }

// Close lets go of this process's handle to the queue; it does not end the
// queue for others (see Shutdown). Messages this process put stay in the
// queue. Later calls return ErrClosed (Len 0, Empty true).
func (q *Queue[T]) Close() error {
	if !q.closed.CompareAndSwap(false, true) {
		return ErrClosed
	}
	err := errors.Join(q.ring.Close(), q.obj.Close())
	if q.own != nil {
		err = errors.Join(err, q.own.Close()) // whatever the others said: nothing else unmaps it
	}
	return err
}

// Handle names the queue for other processes (see OpenQueueHandle).
func (q *Queue[T]) Handle() shm.Handle { return q.obj.Handle() }

// ShmObjects tells process.Start which segment to pass along with the
// queue.
func (q *Queue[T]) ShmObjects() []*shm.Object { return []*shm.Object{q.obj} }

// GobEncode encodes the queue's handle, so that a *Queue can be an
// argument of process.Start; GobDecode opens it again.
func (q *Queue[T]) GobEncode() ([]byte, error) { return q.obj.GobEncode() }

// GobDecode opens the queue whose handle GobEncode encoded, with default
// QueueOptions (and so the default codec).
func (q *Queue[T]) GobDecode(data []byte) error {
	var h shm.Handle
	if err := h.UnmarshalBinary(data); err != nil {
		return err
	}
	p, err := openQueueHandle[T](h, shm.KindQueue, nil)
	if err != nil {
		return err
	}
	q.moveFrom(p)
	return nil
}

// moveFrom moves p's fields, not p, into q: the value's noCopy is only
// for vet.
func (q *Queue[T]) moveFrom(p *Queue[T]) {
	q.obj, q.own, q.ring, q.codec, q.raw, q.joinable, q.size, q.opts, q.race = p.obj, p.own, p.ring, p.codec, p.raw, p.joinable, p.size, p.opts, p.race
	q.maxSize, q.used, q.slotSeq, q.slotSleepers, q.place = p.maxSize, p.used, p.slotSeq, p.slotSleepers, p.place
	q.tasks, q.putPos, q.joinSeq, q.joinSleep = p.tasks, p.putPos, p.joinSeq, p.joinSleep
	q.lastWalk = p.lastWalk
}

// taskDone decrements unfinished if it is above zero and wakes the Joins
// when it reaches zero; it reports false if it was zero.
func (q *Queue[T]) taskDone() bool {
	for {
		t := q.tasks.Load()
		if uint32(t) == 0 {
			return false
		}
		// The race detector cannot see the mapped word: merge this
		// goroutine's history into the sentinel that Join acquires.
		q.race.ReleaseMerge()
		if q.tasks.CompareAndSwap(t, t-1) {
			if uint32(t) == 1 {
				q.wakeJoins()
			}
			return true
		}
	}
}

// taskPending is the bit of tasks that says a Put holding the place lock
// has counted its task and not yet finished.
const taskPending = 1 << 32
