package ringbuf

// A JoinableQueue is a Queue whose control object (shm.KindJoinableQueue;
// layout at the top of queue.go) also counts unfinished tasks: Put adds
// one before its message can be taken, TaskDone takes one away, and Join
// waits on joinSeq for the count to reach zero. A Put that dies midway is
// finished by the next holder of the place lock (see the top of
// queue.go).

import (
	"context"

	"github.com/shmkit/shmkit/internal/wait"
	"github.com/shmkit/shmkit/shm"
)

// JoinableQueue is a Queue that also counts unfinished tasks, like
// Python's multiprocessing.JoinableQueue: every Put adds a task, every
// TaskDone finishes one, and Join waits until all are finished.
//
// Make one with NewJoinableQueue, or open one with OpenJoinableQueue or
// OpenJoinableQueueHandle; a *JoinableQueue passed to process.Start
// arrives in the child as the same queue. It must not be copied. Its
// methods may be called from any goroutine of any process that has it
// open.
//
// The Queue's guarantees hold, and the count's are these: a Put that
// fails leaves it as it was; a TaskDone synchronizes before the Join it
// lets return, in the sense of [the Go memory model]. A producer killed
// inside Put leaves a task only if its message was committed; the next Put,
// or a Join within a poll interval, finds that out. A consumer killed
// between Get and TaskDone leaves its task unfinished, as in Python.
//
// Its Puts run one at a time, each whole under a lock (the copy into the
// ring included), so that the count and the message go in together.
//
// [the Go memory model]: https://go.dev/ref/mem
type JoinableQueue[T any] struct {
	Queue[T]
}

// NewJoinableQueue places a new empty joinable queue in seg under name,
// as NewQueue does.
func NewJoinableQueue[T any](seg *shm.Segment, name string, opts *QueueOptions[T]) (*JoinableQueue[T], error) {
	q, err := newQueue(seg, name, shm.KindJoinableQueue, opts)
	return joinable(q, err)
}

// OpenJoinableQueue opens the joinable queue named name in seg.
func OpenJoinableQueue[T any](seg *shm.Segment, name string, opts *QueueOptions[T]) (*JoinableQueue[T], error) {
	q, err := openQueue(seg, name, shm.KindJoinableQueue, opts)
	return joinable(q, err)
}

// OpenJoinableQueueHandle opens the joinable queue that h names.
func OpenJoinableQueueHandle[T any](h shm.Handle, opts *QueueOptions[T]) (*JoinableQueue[T], error) {
	q, err := openQueueHandle(h, shm.KindJoinableQueue, opts)
	return joinable(q, err)
}

func joinable[T any](q *Queue[T], err error) (*JoinableQueue[T], error) {
	if err != nil {
		return nil, err
	}
	j := &JoinableQueue[T]{}
	j.moveFrom(q)
	return j, nil
}

// TaskDone finishes one task: a consumer calls it once per message it got,
// when it is done with it. It fails with ErrTaskDone when there is no
// unfinished task (Python raises ValueError). The last one wakes every
// Join.
func (j *JoinableQueue[T]) TaskDone() error {
	if j.closed.Load() {
		return ErrClosed
	}
	if !j.taskDone() {
		return ErrTaskDone
	}
	return nil
}

// Unfinished is the number of tasks put and not yet done.
func (j *JoinableQueue[T]) Unfinished() int {
	if j.closed.Load() {
		return 0
	}
	return int(uint32(j.tasks.Load()))
}

// Join waits, while ctx allows, until every task put is done (the count
// reaches zero; it may rise again afterwards). It returns ctx.Err() if ctx
// ends first.
func (j *JoinableQueue[T]) Join(ctx context.Context) error {
	for {
		if j.closed.Load() {
			return ErrClosed
		}
		j.joinSleep.Add(1)
		seq := j.joinSeq.Load()
		if uint32(j.tasks.Load()) == 0 {
			j.joinSleep.Add(^uint32(0))
			j.race.Acquire()
			return nil
		}
		if err := wait.CtxErr(ctx); err != nil {
			j.joinSleep.Add(^uint32(0))
			return err
		}
		polled, err := wait.Sleep(ctx, j.joinSeq, seq, j.ring.poll)
		j.joinSleep.Add(^uint32(0))
		if err != nil {
			return err
		}
		if polled && j.tasks.Load()&taskPending != 0 {
			j.finishDeadPut()
		}
	}
}

// finishDeadPut finishes the task of a Put that died holding the place
// lock, if its owner is dead: TryLock takes a dead owner's lock over.
func (j *JoinableQueue[T]) finishDeadPut() {
	self, err := j.ring.self()
	if err != nil {
		return
	}
	if ok, _, err := j.place.TryLock(self); err == nil && ok {
		j.finishDead()
		j.place.Unlock()
	}
}

// GobEncode encodes the queue's handle, so that a *JoinableQueue can be an
// argument of process.Start; GobDecode opens it again.
func (j *JoinableQueue[T]) GobEncode() ([]byte, error) { return j.obj.GobEncode() }

// GobDecode opens the joinable queue whose handle GobEncode encoded, with
// default QueueOptions.
func (j *JoinableQueue[T]) GobDecode(data []byte) error {
	var h shm.Handle
	if err := h.UnmarshalBinary(data); err != nil {
		return err
	}
	q, err := openQueueHandle[T](h, shm.KindJoinableQueue, nil)
	if err != nil {
		return err
	}
	j.moveFrom(q)
	return nil
}
