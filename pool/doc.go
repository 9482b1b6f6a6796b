// Package pool farms registered Go functions out to worker processes, like
// Python's multiprocessing.Pool, over shared-memory queues, and never hangs
// when a worker dies.
//
// Go cannot send a closure to another process, so a task function is
// registered by name at package level, where every copy of the program (the
// workers are copies of it, started by package process) registers it too:
//
//	var square = pool.MustRegister("square", func(ctx context.Context, x int) (int, error) {
//		return x * x, nil
//	})
//
//	func main() {
//		process.Main() // in a worker, runs the worker and exits
//		p, err := pool.New(ctx, 4, nil)
//		...
//		defer p.Terminate()
//		squares, err := pool.Map(ctx, p, square, []int{1, 2, 3})
//	}
//
// The calls are Map, Starmap (Register2: two arguments), Apply, the
// streaming Imap and ImapUnordered (an iter.Seq2 of results, reading their
// input lazily, with a bounded window of work in flight), and MapAsync,
// StarmapAsync and ApplyAsync, which return a Result. Every blocking call
// takes a context; cancelling it ends the call.
//
// # Transport
//
// Each worker has its own task queue; all share one result queue (ringbuf
// queues in anonymous shared memory). Items travel in chunks (ChunkSize),
// so that tiny tasks cost little: a chunk of numbers (int, float64, ...) as
// their bytes, anything else through encoding/gob. The messages are
// described at the top of wire.go and codec.go, the pool's bookkeeping at
// the top of pool.go.
//
// # When a worker dies
//
// A worker killed by a signal, by the OOM killer or by os.Exit in a task
// is noticed as soon as the pool reaps it (it waits on every worker); the
// items of the chunks it held fail with a *WorkerError naming its exit
// status, or run again elsewhere (Options.Retries); a new worker, with a
// fresh task queue, takes its place. A death inside a queue operation
// leaves the result queue working (the ring skips a dead producer's claim)
// and the dead worker's task queue unused. Python's pool hangs for ever
// here (gh-66587).
//
// # What differs from Python
//
//   - Functions are registered by name (see above); an initializer too
//     (RegisterInitializer). An initializer that fails breaks the pool
//     (ErrBroken) instead of restarting failing workers for ever.
//   - A task's error comes back as a *TaskError carrying its message (and a
//     panic's stack); the error value itself does not cross processes.
//   - Map fails on the first error to arrive; Imap yields every task's
//     error at its place and goes on.
//   - Imap and ImapUnordered read their input lazily (Python's read it
//     eagerly, gh-84291).
//   - No callbacks on async calls: use Result.Done.
//   - There is no context-manager form; defer Terminate, or Close and Join.
//
// # What we don't hide
//
//   - A chunk already running when its call ends (error, cancellation,
//     break) runs to completion in its worker; its results are discarded.
//   - A chunk is the unit of failure: when a worker dies, every item of the
//     chunks it held fails (or is retried), whether or not it had run, and
//     a retried task may have run twice.
//   - A message larger than half a queue's ring (Options.QueueCapacity)
//     travels in pieces, and is put back together in memory.
//   - In and Out other than numbers go through encoding/gob: types it cannot encode
//     (functions, channels, struct{}, unregistered types in interfaces,
//     nil pointers inside slices) fail at the caller.
//   - Workers hold OS threads while they wait for work (see ringbuf), and
//     every worker is a whole copy of the program: start-up costs a
//     fork-and-exec and the program's init (New returns before that is
//     done; the first call waits for it). process.Prestart pays it ahead
//     of time: New then hands the workers to children already up
//     (BenchmarkStartStopPython measures both ways against Python's).
//   - On Windows, starting processes is not supported yet: New fails.
package pool
