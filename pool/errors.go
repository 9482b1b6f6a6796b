package pool

import (
	"errors"
	"fmt"
	"os"
)

var (
	// ErrClosed: the pool was closed (Close, Terminate) before the call
	// started. Python's "ValueError: Pool not running".
	ErrClosed = os.ErrClosed
	// ErrRunning: Join was called before Close or Terminate. Python's
	// "ValueError: Pool is still running".
	ErrRunning = errors.New("pool: still running")
	// ErrTerminated: Terminate dropped the work of a call in progress.
	ErrTerminated = errors.New("pool: terminated")
	// ErrBroken: the pool can no longer run work: a worker's initializer
	// failed, workers exited again and again before doing any work, or a
	// replacement could not be started. Every call fails with an error
	// wrapping it and saying why; Close or Terminate the pool.
	ErrBroken = errors.New("pool: broken")
	// ErrNotRegistered: the function or initializer was not registered,
	// here or in the worker.
	ErrNotRegistered = errors.New("pool: function not registered")
	// ErrDuplicate: a name was registered twice.
	ErrDuplicate = errors.New("pool: function registered twice")
	// ErrEncode: an argument or a result could not be encoded or decoded
	// (Python's MaybeEncodingError).
	ErrEncode = errors.New("pool: cannot encode")
	// ErrNotReady: Result.Successful was asked before the result was
	// ready (Python raises ValueError).
	ErrNotReady = errors.New("pool: result not ready")
)

// TaskError is a task that returned an error or panicked in a worker; it
// carries the worker's message, since the error value itself cannot cross
// the process boundary.
type TaskError struct {
	Func    string // the registered name
	Index   int    // the item's place in the call's input (0 for Apply)
	Pid     int    // the worker that ran it
	Message string // the error's text, or the panic value printed
	Panic   bool   // the task panicked
	Stack   string // the panicking goroutine's stack, when Panic
	Err     error  // ErrEncode or ErrNotRegistered when the chunk failed as a whole in the worker, else nil
}

func (e *TaskError) Error() string {
	what := "error"
	if e.Panic {
		what = "panic"
	}
	return fmt.Sprintf("pool: %s[%d] in worker %d: %s: %s", e.Func, e.Index, e.Pid, what, e.Message)
}

func (e *TaskError) Unwrap() error { return e.Err }

// WorkerError is a worker that died (killed by a signal, by the OOM
// killer, or by os.Exit in a task) while it held a chunk of a call: the
// chunk's items fail with it, after Options.Retries attempts. Python's pool
// hangs for ever here (gh-66587).
type WorkerError struct {
	Func     string // the registered name of the chunk's function
	Index    int    // the chunk's first item in the call's input
	Pid      int    // the worker that died
	ExitCode int    // as process.Process.ExitCode: negative for a signal
	Message  string // the worker's error or panic message, if it sent one
	Attempts int    // how many workers died running the chunk
}

func (e *WorkerError) Error() string {
	how := fmt.Sprintf("exited with status %d", e.ExitCode)
	if e.ExitCode < 0 {
		how = fmt.Sprintf("killed by signal %d", -e.ExitCode)
	}
	s := fmt.Sprintf("pool: worker %d %s running %s[%d]", e.Pid, how, e.Func, e.Index)
	if e.Attempts > 1 {
		s += fmt.Sprintf(" (attempt %d)", e.Attempts)
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}
