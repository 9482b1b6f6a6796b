package ringbuf

import (
	"errors"
	"os"

	"github.com/shmkit/shmkit/shm"
)

var (
	// ErrTooLarge: a record larger than the ring can ever hold (see
	// Ring.MaxRecord), or of negative length.
	ErrTooLarge = errors.New("ringbuf: record too large")
	// ErrShutdown: the ring was shut down (Ring.Shutdown) for everyone; a
	// Take returns it only once the ring is empty. Python 3.13's
	// queue.ShutDown.
	ErrShutdown = errors.New("ringbuf: ring shut down")
	// ErrCorrupt: the ring's memory holds a state that cannot be.
	ErrCorrupt = shm.ErrCorrupt
	// ErrFull: Queue.TryPut found no place or no room (Python's
	// queue.Full).
	ErrFull = errors.New("ringbuf: queue full")
	// ErrEmpty: Queue.TryGet found no message (Python's queue.Empty).
	ErrEmpty = errors.New("ringbuf: queue empty")
	// ErrTaskDone: JoinableQueue.TaskDone called more times than there
	// were messages put (Python's "task_done() called too many times").
	ErrTaskDone = errors.New("ringbuf: task done called too many times")
	// ErrClosed: the ring was closed in this process.
	ErrClosed = os.ErrClosed
)
