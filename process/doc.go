// Package process starts Go functions in child processes, the way Python's
// multiprocessing.Process does, and hands them shared objects.
//
// A function is registered by name, with a typed argument, at package level
// so that every copy of the program knows it:
//
//	var worker = process.MustRegister("worker", func(ctx context.Context, a Args) error {
//		...
//	})
//
//	func main() {
//		process.Main() // in a child, runs the function and exits
//		...
//		p, err := process.Start(ctx, worker, Args{Seg: seg}, nil)
//		...
//		err = p.Join(ctx)
//	}
//
// Start re-executes os.Executable() with a marker in the environment. Main,
// called first thing in main (and in TestMain), sees the marker, reads the
// function's name and its gob-encoded argument from a pipe the parent passed
// down, maps the segments the argument refers to (passed as inherited
// descriptors), runs the function, and exits. Shared objects in the argument
// (a *shm.Segment, a *shm.Object, or anything implementing Carrier) arrive as
// working objects, attached to the same memory.
//
// # Prestarted children
//
// A start costs a program's start: most of it the runtime's and the
// packages' initialization, which grows with the binary and is tens of
// times a hand-over's cost (BenchmarkStartJoin, and the pool's
// BenchmarkStartStopPython, cold and prestarted). Prestart(ctx, n)
// pays that ahead of time: it starts n children that run the program's
// initialization, reach Main and wait; Start hands its function to one of
// them over a Unix socket (the argument, and the segments' descriptors
// attached). It is Python's
// forkserver idea, without fork. Nothing else changes: the child runs the
// function once and exits, Join reports its status, and it dies with its
// parent as any child does. A child is used once and not replaced; call
// Prestart again. StopPrestarted ends the idle ones. A Start that asks
// for its own Stdin, Stdout, Stderr or Env starts a process of its own.
//
// # Exit status
//
// ExitCode follows Python's exitcode: 0 when the function returned nil, 1
// when it returned an error, 2 when it panicked (Go's own status for a
// panic), the code given to os.Exit, and minus the signal number when a
// signal ended it (-15 after Terminate, -9 after Kill). Join returns an
// *ExitError for every status but 0, carrying the child's error or panic
// message.
//
// # When the parent dies
//
// A child exits when its parent dies. On Linux the kernel kills it at once
// (PR_SET_PDEATHSIG, set from one OS thread that never exits, since the
// signal follows the thread that started the child, not the process); on
// every system the child also watches a pipe whose other end only the parent
// holds, and exits when it reads end of file.
//
// # What differs from Python, and why
//
//   - One start method: fork-and-exec of the same binary, which is Python's
//     spawn. Go cannot fork a running runtime, and spawn's rules (the
//     function and its arguments must be reachable by name and encodable)
//     are what registration and gob give.
//   - Join returns the child's error instead of None, since Go callers
//     check errors; ExitCode is there for Python's use.
//   - No daemon flag and no joining of children at exit: Go has no exit
//     hooks. Children die with the parent (see above), which is what
//     Python's daemonic children do.
//   - Start is not a method of a Process value, so "start twice" cannot
//     happen; a Process is what Start returns.
//   - Windows: not yet supported (Start returns an error wrapping
//     errors.ErrUnsupported); descriptors are passed differently there.
//
// Blocking: Join blocks only the calling goroutine; every Process has one
// goroutine that waits for the child.
package process
