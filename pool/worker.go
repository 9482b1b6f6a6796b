package pool

import (
	"context"
	"errors"
	"fmt"

	"github.com/shmkit/shmkit/process"
	"github.com/shmkit/shmkit/ringbuf"
)

// workerArg is what a worker process is started with: its own task queue,
// the pool's result queue (both arrive opened), and its instructions.
type workerArg struct {
	ID       uint64
	Tasks    *ringbuf.Queue[[]byte]
	Results  *ringbuf.Queue[[]byte]
	MaxTasks int
	Init     string
	InitArg  []byte
}

// Codes of a kindFailed payload's first byte: which sentinel the chunk's
// failure wraps.
const (
	failOther byte = iota
	failEncode
	failNotRegistered
)

var failSentinels = [...]error{failOther: nil, failEncode: ErrEncode, failNotRegistered: ErrNotRegistered}

func failCode(err error) byte {
	for code, s := range failSentinels {
		if s != nil && errors.Is(err, s) {
			return byte(code)
		}
	}
	return failOther
}

// workerFunc is the worker process: it runs the initializer, then chunks
// from its task queue until the queue is shut down (Close) or it has run
// MaxTasks of them, putting each chunk's result on the result queue.
var workerFunc = process.MustRegister("shmkit/pool.worker", runWorker)

func runWorker(ctx context.Context, a workerArg) error {
	if a.Tasks == nil || a.Results == nil {
		return errors.New("pool worker: missing queues")
	}
	defer a.Tasks.Close()
	defer a.Results.Close()
	if a.Init != "" {
		err := fmt.Errorf("%w: initializer %q", ErrNotRegistered, a.Init)
		if fn, ok := lookupInit(a.Init); ok {
			err = fn(ctx, a.InitArg)
		}
		if err != nil {
			msg := appendResult(nil, kindInitFailed, a.ID, 0, []byte(err.Error()))
			if perr := a.Results.Put(ctx, msg); perr != nil {
				return errors.Join(err, perr)
			}
			return fmt.Errorf("initializer %q: %w", a.Init, err)
		}
	}
	var in, out []byte // reused: nothing keeps them past a chunk
	var frags assembler
	for done := 0; a.MaxTasks <= 0 || done < a.MaxTasks; {
		err := a.Tasks.GetInto(ctx, &in)
		rec := in
		if errors.Is(err, ringbuf.ErrShutdown) {
			return nil
		}
		if err != nil {
			return err
		}
		msg, ok, err := frags.add(rec)
		if err != nil {
			return err // the pool fails the chunk when it sees this worker die
		}
		if !ok {
			continue
		}
		done++
		chunk, name, args, err := parseTask(msg)
		if err != nil {
			return err
		}
		out, err = runChunk(ctx, name, args, appendResult(out[:0], kindResult, a.ID, chunk, nil))
		if err != nil {
			out = appendResult(out[:0], kindFailed, a.ID, chunk, append([]byte{failCode(err)}, err.Error()...))
		}
		if err := putMessage(ctx, a.Results, a.ID, out); err != nil {
			return err
		}
	}
	return nil
}

// runChunk runs a chunk of the function registered as name, appending its
// result payload to dst.
func runChunk(ctx context.Context, name string, args, dst []byte) ([]byte, error) {
	r, ok := lookupFunc(name)
	if !ok {
		return dst, fmt.Errorf("%w: %q in the worker", ErrNotRegistered, name)
	}
	return r(ctx, args, dst)
}
