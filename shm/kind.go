package shm

import "fmt"

// Kind says what an object in a segment is. The numbers are part of the
// layout (docs/layout.md) and never change meaning; new kinds take new
// numbers.
type Kind uint32

// The kinds of object shmkit places in segments.
const (
	KindInvalid          Kind = 0
	KindBytes            Kind = 1  // raw bytes, for the caller to use
	KindLock             Kind = 2  // semaphore.Lock
	KindRLock            Kind = 3  // semaphore.RLock
	KindSemaphore        Kind = 4  // semaphore.Counting
	KindBoundedSemaphore Kind = 5  // semaphore.Bounded
	KindCond             Kind = 6  // condvar.Cond
	KindEvent            Kind = 7  // condvar.Event
	KindBarrier          Kind = 8  // condvar.Barrier
	KindValue            Kind = 9  // value.Of
	KindArray            Kind = 10 // array.Of
	KindRing             Kind = 11 // ringbuf ring
	KindQueue            Kind = 12 // ringbuf.Queue
	KindJoinableQueue    Kind = 13 // ringbuf.JoinableQueue
	KindSimpleQueue      Kind = 14 // ringbuf.SimpleQueue
	KindPipe             Kind = 15 // pipe.New
)

var kindNames = [...]string{
	KindInvalid:          "invalid",
	KindBytes:            "bytes",
	KindLock:             "lock",
	KindRLock:            "rlock",
	KindSemaphore:        "semaphore",
	KindBoundedSemaphore: "bounded-semaphore",
	KindCond:             "cond",
	KindEvent:            "event",
	KindBarrier:          "barrier",
	KindValue:            "value",
	KindArray:            "array",
	KindRing:             "ring",
	KindQueue:            "queue",
	KindJoinableQueue:    "joinable-queue",
	KindSimpleQueue:      "simple-queue",
	KindPipe:             "pipe",
}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint32(k))
}
