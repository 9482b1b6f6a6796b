package pool

// How a pool runs (all of it in the parent, under Pool.mu):
//
//	calls ──chunks──> pending (FIFO) ──feeder of worker w──> w's task queue ──> worker w
//	                                                                              │
//	calls <──chunk done── reader <──────────── the result queue (shared) <────────┘
//	                        ^
//	                        └── "worker w died" notices, put by w's watcher
//
// A chunk is, at any time, in exactly one of: pending, some worker's
// inflight set, or delivered to its call's done channel (once). Every move
// is made under Pool.mu, so a chunk is delivered once whoever races for it
// (a result, a death, Terminate).
//
// Each worker has a feeder goroutine, which moves chunks from pending to the
// worker's own task queue while the worker holds at most Options.Prefetch
// of them, and a watcher
// goroutine, which waits for the process to exit, marks the worker dead,
// and puts a kindDied notice on the result queue. Since a ring delivers
// records in claim order, the reader sees every result the worker committed
// before that notice; only then does it take the chunks the worker still
// held, requeue them (Options.Retries, or a worker that retired after
// MaxTasks) or fail them with a *WorkerError, and start a replacement with
// a fresh task queue. A worker killed inside a queue operation leaves its
// own task queue behind (nobody uses it again) and, on the result queue, at
// most an uncommitted claim, which the ring skips once it finds the
// claimant dead.
//
// A call's done channel has room for every chunk the call has outstanding,
// so the reader never blocks on a caller; a call that ends early (error,
// cancellation, break) drops its pending chunks and lets the others land
// in the channel unread.
//
// By default (Prefetch 0) a worker gets its next chunk only once its result
// is read. Sending one ahead saves the worker a round trip between chunks,
// but that chunk then waits behind a long task while another worker idles
// (ImapUnordered no longer yields in completion order), and a dead worker
// takes it down too. Chunks make the round trip cheap.
//
// Simpler designs that would be wrong: one task queue shared by the
// workers (the parent could not know which chunks a dead worker held, and a
// worker killed inside Get of the shared queue could leave a message that
// is delivered twice); failing a dead worker's chunks as soon as Wait
// returns (its last results may still be in the result queue, unread).

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"sync"

	"github.com/shmkit/shmkit/process"
	"github.com/shmkit/shmkit/ringbuf"
)

const (
	maxIdleDeaths        = 3       // see died
	DefaultQueueCapacity = 1 << 20 // see Options.QueueCapacity
)

// Options configures a pool. The zero value (or nil) means the defaults.
type Options struct {
	// Init is run once in every worker before its first task, including
	// in replacement workers; the zero Init runs nothing.
	Init Init
	// MaxTasks is the number of chunks a worker runs before it exits and
	// is replaced (Python's maxtasksperchild: a task is a chunk). Zero
	// means no limit; negative is an error.
	MaxTasks int
	// ChunkSize is the number of items sent to a worker at once, for calls
	// that do not set their own (see ChunkSize). Zero means Python's
	// defaults: ⌈len/(4·workers)⌉ for Map and Starmap, 1 for Imap and
	// ImapUnordered.
	ChunkSize int
	// Window bounds the chunks a streaming call (Imap, ImapUnordered) has
	// sent and not yet yielded, for calls that do not set their own (see
	// Window). Zero means 4 per worker.
	Window int
	// Prefetch is how many chunks a worker is sent ahead of the one it
	// runs. Zero means none: a worker gets a chunk when it has returned the
	// last, so no chunk waits behind a long task while another worker is
	// idle. One or two save tiny tasks a round trip per chunk; a worker
	// that dies takes the chunks sent ahead down with it (see Retries).
	// Negative is an error.
	Prefetch int
	// Retries is how many times a chunk held by a worker that died is run
	// again on another worker before its items fail with a *WorkerError.
	// Zero means none: the items fail at once. Negative is an error.
	Retries int
	// QueueCapacity is the size in bytes of the result queue's ring (a
	// power of two, at least 256 KiB); each worker's task queue gets a
	// quarter of it. A chunk whose arguments take more than half a task
	// queue is split; a message larger than half a queue (one big
	// argument, a chunk's results) travels in pieces. Zero means
	// DefaultQueueCapacity. The queues are zeroed when made: bigger ones
	// cost start-up time.
	QueueCapacity int
	// Stdout and Stderr receive the workers' output; nil means this
	// process's own.
	Stdout, Stderr io.Writer
}

const (
	running = iota
	closed
	terminated
)

// Pool is a set of worker processes that run registered functions
// (Register) on the inputs of calls (Map, Imap, ImapUnordered, Starmap,
// Apply and their async forms): Python's multiprocessing.Pool.
//
// Make one with New; the zero Pool is not usable. A Pool must not be
// copied. Its methods, and the calls on it, may be used from any number of
// goroutines of the process that made it, at once; it cannot be passed to
// another process. Only values cross to the workers: a task sees its
// argument, encoded when the call sent it, and none of the caller's memory;
// a call returns a result only after the task that made it has returned.
//
// A worker that dies (a signal, the OOM killer, os.Exit in a task) is
// noticed as soon as it is reaped, and replaced; the items of the chunks
// it held fail with a *WorkerError naming its exit status, or are run again
// on another worker (Options.Retries). No call waits for a dead worker.
//
// Close lets the calls in progress finish and then stops the workers;
// Terminate stops them at once; Join waits for them. Calls made after
// Close or Terminate fail with ErrClosed. If this process dies, the
// workers die with it (see package process).
type Pool struct {
	_       noCopy
	n       int
	opts    Options
	ctx     context.Context // ends with Terminate: kills every worker
	cancel  context.CancelFunc
	results *ringbuf.Queue[[]byte]
	maxTask int            // the largest record of a task queue; set under mu
	bg      sync.WaitGroup // reader, feeders, watchers, starters

	mu         sync.Mutex
	cond       sync.Cond // on mu: pending, a worker's load or the state changed
	state      int
	broken     error // why the pool no longer runs work (ErrBroken)
	stopped    bool  // closed and idle: the task queues are shut down
	pending    []*chunk
	workers    map[uint64]*worker
	starting   int
	calls      int // calls begun and not ended
	idleDeaths int // workers in a row that exited with a status > 0 before any work
	nextChunk  uint64
	nextWorker uint64
	gone       chan struct{} // closed once stopped with no worker left
	goneClosed bool
	finishOnce sync.Once
	finishErr  error
}

type noCopy struct{}

func (*noCopy) Lock()   {}
func (*noCopy) Unlock() {}

// worker is one worker process and what the pool knows of it.
type worker struct {
	id       uint64
	proc     *process.Process
	tasks    *ringbuf.Queue[[]byte]
	ctx      context.Context // ends when the worker is found dead
	cancel   context.CancelFunc
	users    sync.WaitGroup // goroutines using tasks: the feeder, a Shutdown; the watcher closes tasks after them
	sent     int            // chunks sent, for MaxTasks
	inflight map[uint64]*chunk
	dead     bool
	exit     *process.ExitError // why it died, nil for status 0
	finished int                // chunks it completed
}

// New starts a pool of n worker processes (n zero: one per CPU this
// process may use), like Python's Pool(processes=n, ...). It returns once
// every worker is running; ctx bounds that wait.
func New(ctx context.Context, n int, opts *Options) (_ *Pool, err error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	switch {
	case n < 0:
		return nil, fmt.Errorf("pool: %d workers: the number of workers must be at least 1", n)
	case o.MaxTasks < 0:
		return nil, fmt.Errorf("pool: MaxTasks %d: must be positive, or zero for no limit", o.MaxTasks)
	case o.Retries < 0 || o.ChunkSize < 0 || o.Window < 0 || o.Prefetch < 0:
		return nil, errors.New("pool: negative Retries, ChunkSize, Window or Prefetch")
	case o.Init.err != nil:
		return nil, fmt.Errorf("pool: %w", o.Init.err)
	}
	if n == 0 {
		n = runtime.NumCPU()
	}
	if o.QueueCapacity == 0 {
		o.QueueCapacity = DefaultQueueCapacity
	}
	if o.QueueCapacity < 1<<18 || o.QueueCapacity&(o.QueueCapacity-1) != 0 {
		return nil, fmt.Errorf("pool: QueueCapacity %d: must be a power of two of at least 256 KiB", o.QueueCapacity)
	}
	if o.Window == 0 {
		o.Window = 4 * n
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	results, err := ringbuf.NewQueue[[]byte](nil, "", &ringbuf.QueueOptions[[]byte]{Capacity: o.QueueCapacity})
	if err != nil {
		return nil, fmt.Errorf("pool: result queue: %w", err)
	}
	p := &Pool{n: n, opts: o, results: results, workers: make(map[uint64]*worker), gone: make(chan struct{})}
	p.cond.L = &p.mu
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.bg.Add(1)
	go p.read()
	defer func() {
		if err != nil {
			err = errors.Join(err, p.Terminate())
		}
	}()
	stop := context.AfterFunc(ctx, p.cancel) // ctx ending kills what started
	defer stop()
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs[i] = p.startWorker() })
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("pool: starting workers: %w", err)
	}
	return p, nil
}

// Workers returns the process ids of the pool's live workers, in no
// particular order. They change as workers die or retire (MaxTasks).
func (p *Pool) Workers() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	var pids []int
	for _, w := range p.workers {
		if !w.dead {
			pids = append(pids, w.proc.Pid())
		}
	}
	return pids
}

// Size is the number of workers the pool keeps running.
func (p *Pool) Size() int { return p.n }

// startWorker starts one worker with a fresh task queue and its feeder and
// watcher.
func (p *Pool) startWorker() error {
	tasks, err := ringbuf.NewQueue[[]byte](nil, "", &ringbuf.QueueOptions[[]byte]{Capacity: p.opts.QueueCapacity / 4})
	if err != nil {
		return fmt.Errorf("task queue: %w", err)
	}
	p.mu.Lock()
	p.maxTask = tasks.MaxMessage()
	p.nextWorker++
	id := p.nextWorker
	p.mu.Unlock()
	arg := workerArg{ID: id, Tasks: tasks, Results: p.results, MaxTasks: p.opts.MaxTasks, Init: p.opts.Init.name, InitArg: p.opts.Init.arg}
	proc, err := process.Start(p.ctx, workerFunc, arg, &process.Options{
		Name:   fmt.Sprintf("PoolWorker-%d", id),
		Stdout: p.opts.Stdout,
		Stderr: p.opts.Stderr,
	})
	if err != nil {
		return errors.Join(err, tasks.Close())
	}
	w := &worker{id: id, proc: proc, tasks: tasks, inflight: make(map[uint64]*chunk)}
	w.ctx, w.cancel = context.WithCancel(p.ctx)
	p.mu.Lock()
	p.workers[id] = w
	w.users.Add(1)
	p.bg.Add(2)
	go p.feed(w)
	go p.watch(w)
	if p.stopped {
		p.shutdownLocked(w) // closed while it started: let it exit at once
	}
	p.mu.Unlock()
	return nil
}

// shutdownLocked shuts w's task queue down, so that w drains it and exits
// with status 0. Shutdown takes the queue's producer lock for a moment,
// which the feeder may hold, so it runs in a goroutine of its own.
func (p *Pool) shutdownLocked(w *worker) {
	if w.dead {
		return // the watcher may have closed the queue
	}
	w.users.Add(1)
	go func() {
		defer w.users.Done()
		w.tasks.Shutdown(p.ctx)
	}()
}

// feed moves chunks from pending to w's task queue while w may hold more.
func (p *Pool) feed(w *worker) {
	defer p.bg.Done()
	defer w.users.Done()
	max := p.opts.MaxTasks
	perWorker := 1 + p.opts.Prefetch
	for {
		p.mu.Lock()
		for !w.dead && !p.stopped && p.state != terminated &&
			(p.broken != nil || len(p.pending) == 0 || len(w.inflight) >= perWorker || (max > 0 && w.sent >= max)) {
			p.cond.Wait()
		}
		if w.dead || p.stopped || p.state == terminated {
			p.mu.Unlock()
			return
		}
		c := p.pending[0]
		p.pending[0] = nil
		p.pending = p.pending[1:]
		if c.call.ctx.Err() != nil { // the call has ended: drop its chunk
			p.mu.Unlock()
			continue
		}
		w.inflight[c.id] = c
		w.sent++
		c.refs.Add(1) // under mu: nobody can have delivered c yet
		p.mu.Unlock()
		err := putMessage(w.ctx, w.tasks, 0, c.msg)
		c.unref()
		if err != nil {
			if w.ctx.Err() != nil {
				return // w is dead, or the pool terminated: they handle c
			}
			p.mu.Lock()
			_, ok := w.inflight[c.id]
			delete(w.inflight, c.id)
			p.cond.Broadcast()
			p.mu.Unlock()
			if ok {
				c.fail(fmt.Errorf("pool: sending a chunk of %s: %w", c.call.fn, err))
			}
		}
	}
}

// watch waits for w to exit, marks it dead and tells the reader, then
// closes w's task queue once its feeder has returned.
func (p *Pool) watch(w *worker) {
	defer p.bg.Done()
	<-w.proc.Done()
	var exit *process.ExitError
	errors.As(w.proc.Join(context.Background()), &exit)
	p.mu.Lock()
	w.dead = true
	w.exit = exit
	w.cancel()
	p.cond.Broadcast()
	p.mu.Unlock()
	// Fails only once Terminate or Join has shut the result queue, when
	// nobody waits for w's chunks any more.
	_ = p.results.Put(context.Background(), appendResult(nil, kindDied, w.id, 0, nil))
	w.users.Wait() // no user is added once w is dead
	w.tasks.Close()
}

// read routes the result queue's messages: results to their calls, death
// notices to died. It returns when the result queue is shut down.
func (p *Pool) read() {
	defer p.bg.Done()
	var frags assembler
	for {
		buf := getBuf()
		err := p.results.GetInto(context.Background(), buf)
		if errors.Is(err, ringbuf.ErrShutdown) || errors.Is(err, ringbuf.ErrClosed) {
			return
		}
		if err != nil {
			p.breakPool(fmt.Errorf("%w: result queue: %w", ErrBroken, err))
			return
		}
		msg, ok, err := frags.add(*buf)
		if len(msg) == 0 || &msg[0] != &(*buf)[0] {
			// A fragment, copied into the assembler, or a whole message
			// assembled there: buf holds nothing that is still needed.
			putBuf(buf)
			buf = nil
		}
		if err != nil {
			p.breakPool(fmt.Errorf("%w: %w", ErrBroken, err))
			continue
		}
		if !ok {
			continue
		}
		kind, wid, cid, payload, err := parseResult(msg)
		if err != nil {
			putBuf(buf)
			p.breakPool(fmt.Errorf("%w: %w", ErrBroken, err))
			continue
		}
		switch kind {
		case kindResult, kindFailed:
			p.complete(wid, cid, kind, payload, buf)
			continue
		case kindDied:
			frags.drop(wid)
			p.died(wid)
		case kindInitFailed:
			pid := 0
			p.mu.Lock()
			if w := p.workers[wid]; w != nil {
				pid = w.proc.Pid()
			}
			p.mu.Unlock()
			p.breakPool(fmt.Errorf("%w: initializer %q failed in worker %d: %s", ErrBroken, p.opts.Init.name, pid, payload))
		}
		putBuf(buf)
	}
}

// complete delivers a chunk's result to its call. payload lies in buf,
// which the call gives back (putBuf) once it has decoded it.
func (p *Pool) complete(wid, cid uint64, kind byte, payload []byte, buf *[]byte) {
	p.mu.Lock()
	w := p.workers[wid]
	var c *chunk
	if w != nil {
		c = w.inflight[cid]
		delete(w.inflight, cid)
		w.finished++
		p.idleDeaths = 0
		p.cond.Broadcast()
	}
	p.mu.Unlock()
	if c == nil {
		putBuf(buf)
		return // failed already (Terminate, a broken pool)
	}
	c.kind, c.payload, c.buf, c.pid = kind, payload, buf, w.proc.Pid()
	c.call.done <- c
}

// died handles the death of worker wid, once every result it committed has
// been read: its chunks are requeued or failed, and it is replaced.
func (p *Pool) died(wid uint64) {
	p.mu.Lock()
	w := p.workers[wid]
	if w == nil {
		p.mu.Unlock()
		return
	}
	delete(p.workers, wid)
	code, _ := w.proc.ExitCode()
	lost := make([]*chunk, 0, len(w.inflight))
	for _, c := range w.inflight {
		lost = append(lost, c)
	}
	clear(w.inflight)
	slices.SortFunc(lost, func(a, b *chunk) int { return cmp.Compare(a.id, b.id) })
	var failed []*chunk
	var requeue []*chunk
	for _, c := range lost {
		if code != 0 {
			c.attempts++
		}
		if p.state != terminated && p.broken == nil && c.call.ctx.Err() == nil && (code == 0 || c.attempts <= p.opts.Retries) {
			requeue = append(requeue, c)
		} else {
			failed = append(failed, c)
		}
	}
	p.pending = append(requeue, p.pending...)
	// A worker that exits with a status above 0 before it has completed
	// or taken any chunk could not start (it could not map the queues, or
	// the program fails before process.Main): replacing it for ever would
	// be Python's initializer loop, so a few such in a row break the pool.
	// (A signal is not counted: the chaos test kills idle workers.)
	if code > 0 && w.finished == 0 && len(lost) == 0 {
		p.idleDeaths++
		if p.idleDeaths >= maxIdleDeaths && p.broken == nil && p.state != terminated {
			msg := ""
			if w.exit != nil {
				msg = w.exit.Error()
			}
			p.breakLocked(fmt.Errorf("%w: %d workers in a row exited before any work: %s", ErrBroken, p.idleDeaths, msg))
		}
	}
	if p.state != terminated && p.broken == nil && !p.stopped {
		p.starting++
		p.bg.Add(1)
		go p.replace()
	}
	p.checkGone()
	p.cond.Broadcast()
	p.mu.Unlock()
	for _, c := range failed {
		e := &WorkerError{Func: c.call.fn, Index: c.index, Pid: w.proc.Pid(), ExitCode: code, Attempts: c.attempts}
		if w.exit != nil {
			e.Message = w.exit.Message
		}
		c.fail(e)
	}
}

// replace starts a worker in place of one that exited.
func (p *Pool) replace() {
	defer p.bg.Done()
	err := p.startWorker()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.starting--
	if err != nil && p.state != terminated && !p.stopped && p.broken == nil {
		p.breakLocked(fmt.Errorf("%w: starting a worker in place of one that exited: %w", ErrBroken, err))
	}
	p.checkGone()
}

// breakPool marks the pool broken and fails all its work.
func (p *Pool) breakPool(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.broken == nil {
		p.breakLocked(err)
	}
}

func (p *Pool) breakLocked(err error) {
	p.broken = err
	failed := p.takeAllLocked()
	p.cond.Broadcast()
	// Delivering never blocks (see the top of this file), so it may be
	// done under mu.
	for _, c := range failed {
		c.fail(err)
	}
}

// takeAllLocked removes every chunk from pending and from the workers.
func (p *Pool) takeAllLocked() []*chunk {
	all := p.pending
	p.pending = nil
	for _, w := range p.workers {
		for _, c := range w.inflight {
			all = append(all, c)
		}
		clear(w.inflight)
	}
	return all
}

// checkGone closes gone once the pool is stopped and no worker is left.
func (p *Pool) checkGone() {
	if p.stopped && len(p.workers) == 0 && p.starting == 0 && !p.goneClosed {
		p.goneClosed = true
		close(p.gone)
	}
}

// beginCall registers a call, failing if the pool no longer takes work.
func (p *Pool) beginCall() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state != running {
		return ErrClosed
	}
	if p.broken != nil {
		return p.broken
	}
	p.calls++
	return nil
}

// endCall ends a call begun by beginCall; the last one after Close stops
// the workers.
func (p *Pool) endCall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls--
	p.maybeStopLocked()
}

func (p *Pool) maybeStopLocked() {
	if p.state != closed || p.calls > 0 || p.stopped {
		return
	}
	p.stopped = true
	p.pending = nil // only chunks of ended calls can be left
	for _, w := range p.workers {
		p.shutdownLocked(w)
	}
	p.cond.Broadcast()
	p.checkGone()
}

// submit queues a chunk for the workers.
func (p *Pool) submit(c *chunk) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.state == terminated:
		return ErrTerminated
	case p.broken != nil:
		return p.broken
	}
	p.nextChunk++
	c.id = p.nextChunk
	setTaskChunk(c.msg, c.id)
	p.pending = append(p.pending, c)
	p.cond.Broadcast()
	return nil
}

// Close stops the pool taking new calls; the calls in progress go on (a
// streaming call may still read its input), and once the last has ended
// the workers finish what they hold and exit. Like Python's close. Use Join
// to wait for them. Close after Close or Terminate does nothing.
func (p *Pool) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state == running {
		p.state = closed
		p.maybeStopLocked()
	}
	return nil
}

// Terminate stops the pool at once, like Python's terminate: the workers
// are killed (SIGKILL), the calls in progress fail with ErrTerminated, and
// Terminate returns once every worker has been reaped and the pool's
// goroutines have returned. It may be called at any time, more than once.
func (p *Pool) Terminate() error {
	p.mu.Lock()
	if p.state != terminated {
		p.state = terminated
		for _, c := range p.takeAllLocked() {
			c.fail(ErrTerminated)
		}
		p.cond.Broadcast()
	}
	p.mu.Unlock()
	p.cancel() // kills the workers: they were started with p.ctx
	return p.finish()
}

// Join waits until every worker has exited after Close, while ctx allows,
// and then releases the pool's queues. Called before Close or Terminate it
// fails with ErrRunning, as Python's join does. It may be called more than
// once.
func (p *Pool) Join(ctx context.Context) error {
	p.mu.Lock()
	state := p.state
	p.mu.Unlock()
	switch state {
	case running:
		return ErrRunning
	case closed:
		select {
		case <-p.gone:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return p.finish()
}

// finish shuts the result queue (the reader returns once it is drained),
// waits for the pool's goroutines (the watchers wait for their workers) and
// closes the result queue. Every worker has exited or been killed before.
func (p *Pool) finish() error {
	p.finishOnce.Do(func() {
		var errs []error
		if err := p.results.Shutdown(context.Background()); err != nil && !errors.Is(err, ringbuf.ErrShutdown) {
			errs = append(errs, err)
		}
		p.bg.Wait()
		p.cancel()
		errs = append(errs, p.results.Close())
		p.finishErr = errors.Join(errs...)
	})
	return p.finishErr
}
