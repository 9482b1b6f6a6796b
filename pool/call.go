package pool

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"sync"
	"sync/atomic"
)

// chunk is a run of consecutive items of one call, sent to one worker in
// one message.
type chunk struct {
	id       uint64
	call     *call
	index    int          // the first item's place in the call's input
	n        int          // items
	msg      []byte       // the task message; submit sets its chunk id
	msgBuf   *[]byte      // what msg lies in, given back when refs reaches 0
	refs     atomic.Int32 // the call's reference to msg, and a feeder's while it puts it
	attempts int          // workers that died holding it

	// Set once, by whoever delivers the chunk to call.done:
	kind    byte    // kindResult or kindFailed, when err is nil
	payload []byte  // the result message's payload
	buf     *[]byte // what payload lies in: see release
	pid     int     // the worker that ran it
	err     error   // a failure of the whole chunk: *WorkerError, ErrTerminated, ErrBroken
}

// release is the call's last use of c, once its result is decoded: it
// gives the result's buffer back, and drops the call's reference to the
// task message.
func (c *chunk) release() {
	putBuf(c.buf)
	c.buf, c.payload = nil, nil
	c.unref()
}

// unref drops a reference to c's task message; the last one gives its
// buffer back. The call holds one from submit until it has the result, a
// feeder one while it puts the message (a retry puts it again; Terminate
// may fail the chunk while a feeder still copies it).
func (c *chunk) unref() {
	if c.refs.Add(-1) == 0 && c.msgBuf != nil {
		*c.msgBuf = c.msg[:0]
		putBuf(c.msgBuf)
		c.msgBuf, c.msg = nil, nil
	}
}

// bufs holds the buffers of task messages and of the results the reader
// receives. A Map of small items makes a few large messages each way; a
// fresh buffer for each is a large allocation whose pages fault in and
// get cleared every time, which cost the Map of 100 000 tiny tasks a third
// of its time.
var bufs = sync.Pool{New: func() any { return new([]byte) }}

func getBuf() *[]byte { return bufs.Get().(*[]byte) }

// putBuf gives b back to bufs; nil is ignored. Nothing may use *b
// afterwards.
func putBuf(b *[]byte) {
	if b != nil {
		bufs.Put(b)
	}
}

// fail delivers c with err. It never blocks (see the top of pool.go).
func (c *chunk) fail(err error) {
	c.err = err
	c.call.done <- c
}

// call is one Map, Imap, ... in progress.
type call struct {
	fn   string
	ctx  context.Context // ends when the call does: its pending chunks are dropped
	done chan *chunk     // room for every outstanding chunk
}

// CallOption tunes one call.
type CallOption func(*callConfig)

type callConfig struct {
	chunk, window int
}

// ChunkSize sets the number of items sent to a worker at once (Python's
// chunksize); it overrides Options.ChunkSize. Bigger chunks make tiny tasks
// cheap; smaller ones spread uneven work better, and lose less when a worker
// dies.
func ChunkSize(n int) CallOption { return func(c *callConfig) { c.chunk = n } }

// Window bounds the chunks a streaming call has sent to the workers and not
// yet yielded (its backpressure); it overrides Options.Window.
func Window(n int) CallOption { return func(c *callConfig) { c.window = n } }

func (p *Pool) config(opts []CallOption) callConfig {
	c := callConfig{chunk: p.opts.ChunkSize, window: p.opts.Window}
	for _, o := range opts {
		o(&c)
	}
	return c
}

// Map runs f on every item of in in the pool's workers and returns the
// results in the order of in, like Python's Pool.map. The first error
// (a *TaskError, a *WorkerError, an encoding error, ctx's) fails the call;
// the chunks not yet sent are dropped, and the results of those running are
// discarded when they come. The default chunk size is Python's,
// ⌈len(in)/(4·workers)⌉.
func Map[In, Out any](ctx context.Context, p *Pool, f *Func[In, Out], in []In, opts ...CallOption) ([]Out, error) {
	if err := p.beginCall(); err != nil {
		return nil, err
	}
	defer p.endCall()
	return mapBegun(ctx, p, f, in, p.config(opts))
}

func mapBegun[In, Out any](ctx context.Context, p *Pool, f *Func[In, Out], in []In, cfg callConfig) ([]Out, error) {
	size := cfg.chunk
	if size == 0 {
		size = max(1, (len(in)+4*p.n-1)/(4*p.n))
	}
	out := make([]Out, len(in))
	var first error
	// The results are decoded straight into out: emit sees only errors.
	err := run(ctx, p, f, slices.Values(in), size, (len(in)+size-1)/size+1, false, out, func(i int, v Out, err error) bool {
		first = err
		return false
	})
	if first == nil {
		first = err
	}
	if first != nil {
		return nil, first
	}
	return out, nil
}

// Starmap is Map for functions of two arguments (Register2), like Python's
// Pool.starmap.
func Starmap[A, B, Out any](ctx context.Context, p *Pool, f *Func[Args2[A, B], Out], in []Args2[A, B], opts ...CallOption) ([]Out, error) {
	return Map(ctx, p, f, in, opts...)
}

// Apply runs f(in) in a worker and returns its result, like Python's
// Pool.apply.
func Apply[In, Out any](ctx context.Context, p *Pool, f *Func[In, Out], in In) (Out, error) {
	out, err := Map(ctx, p, f, []In{in}, ChunkSize(1))
	if err != nil {
		var zero Out
		return zero, err
	}
	return out[0], nil
}

// Imap runs f on the items of in in the pool's workers and yields the
// results in the order of in, like Python's Pool.imap, except that in is
// read lazily: at most the call's window of chunks is sent and not yet
// yielded (backpressure), so in may be endless. A task's error is yielded
// at its place and the iteration goes on; an error that ends the call
// (ctx's, ErrTerminated, ErrBroken, an item that cannot be encoded) is
// yielded once, last. The default chunk size is 1, as in Python. Breaking
// out of the loop ends the call.
func Imap[In, Out any](ctx context.Context, p *Pool, f *Func[In, Out], in iter.Seq[In], opts ...CallOption) iter.Seq2[Out, error] {
	return imap(ctx, p, f, in, true, opts)
}

// ImapUnordered is Imap yielding results as they complete, like Python's
// Pool.imap_unordered. Results of one chunk come in the order of in.
func ImapUnordered[In, Out any](ctx context.Context, p *Pool, f *Func[In, Out], in iter.Seq[In], opts ...CallOption) iter.Seq2[Out, error] {
	return imap(ctx, p, f, in, false, opts)
}

func imap[In, Out any](ctx context.Context, p *Pool, f *Func[In, Out], in iter.Seq[In], ordered bool, opts []CallOption) iter.Seq2[Out, error] {
	return func(yield func(Out, error) bool) {
		var zero Out
		if err := p.beginCall(); err != nil {
			yield(zero, err)
			return
		}
		defer p.endCall()
		cfg := p.config(opts)
		err := run(ctx, p, f, in, max(cfg.chunk, 1), max(cfg.window, 1), ordered, nil, func(_ int, v Out, err error) bool {
			return yield(v, err)
		})
		if err != nil {
			yield(zero, err)
		}
	}
}

// run sends the items of in to the workers in chunks of size, with at most
// window chunks sent and not yet emitted, and emits every item's result
// (in the order of in when ordered). With into (as long as in), the results
// are stored there instead and only errors are emitted. It returns nil when
// every item has been emitted or emit returned false, and the error that
// ended the call otherwise.
func run[In, Out any](ctx context.Context, p *Pool, f *Func[In, Out], in iter.Seq[In], size, window int, ordered bool, into []Out, emit func(i int, v Out, err error) bool) error {
	if f == nil || f.name == "" {
		return fmt.Errorf("%w: nil Func", ErrNotRegistered)
	}
	if _, ok := lookupFunc(f.name); !ok {
		return fmt.Errorf("%w: %q", ErrNotRegistered, f.name)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // drops the chunks still pending
	c := &call{fn: f.name, ctx: ctx, done: make(chan *chunk, window)}
	var (
		outstanding int // sent, not yet received from done
		next        int // ordered: the next index to emit
		held        = make(map[int]*chunk)
		fatal       error
		stop        bool
	)
	p.mu.Lock()
	maxMsg := p.maxTask
	p.mu.Unlock()

	var scratch []Out // decoded results, reused chunk after chunk
	// handle emits what ch makes ready; false ends the call.
	handle := func(ch *chunk) bool {
		if !ordered {
			return emitChunk(ch, &scratch, into, emit, &fatal)
		}
		held[ch.index] = ch
		for {
			h, ok := held[next]
			if !ok {
				return true
			}
			delete(held, next)
			if !emitChunk(h, &scratch, into, emit, &fatal) {
				return false
			}
			next += h.n
		}
	}
	receive := func() bool {
		select {
		case ch := <-c.done:
			outstanding--
			return handle(ch)
		case <-ctx.Done():
			fatal = ctx.Err()
			return false
		}
	}
	// send encodes items (splitting them while they are too large for a
	// message) and submits them, waiting for room in the window.
	var send func(items []In, index int) bool
	send = func(items []In, index int) bool {
		mb := getBuf()
		msg, err := appendSlice(appendTask((*mb)[:0], 0, f.name, nil), items)
		*mb = msg
		if err != nil {
			putBuf(mb)
			fatal = fmt.Errorf("pool: %s[%d]: argument: %w: %v", f.name, index, ErrEncode, err)
			return false
		}
		if len(msg) > maxMsg && len(items) > 1 {
			putBuf(mb)
			h := len(items) / 2
			return send(items[:h], index) && send(items[h:], index+h)
		}
		ch := &chunk{call: c, index: index, n: len(items), msg: msg, msgBuf: mb}
		ch.refs.Store(1)
		if err := p.submit(ch); err != nil {
			fatal = err
			return false
		}
		outstanding++
		// Wait for room now, before reading more of the input, so that
		// the input is read no further than the window needs.
		for outstanding+len(held) >= window {
			if !receive() {
				return false
			}
		}
		return true
	}

	items := make([]In, 0, size)
	index := 0
	for x := range in {
		items = append(items, x)
		if len(items) == size {
			if !send(items, index) {
				stop = true
				break
			}
			index += len(items)
			items = items[:0]
		}
	}
	if !stop && len(items) > 0 {
		stop = !send(items, index)
	}
	for !stop && (outstanding > 0 || len(held) > 0) {
		stop = !receive()
	}
	return fatal
}

// emitChunk emits the results of one chunk, decoding them into *scratch,
// or stores them in into (see run); false ends the call (emit returned
// false, or the chunk's failure ends the call, in *fatal).
func emitChunk[Out any](ch *chunk, scratch *[]Out, into []Out, emit func(int, Out, error) bool, fatal *error) bool {
	defer ch.release() // nothing decoded aliases the payload
	var zero Out
	fail := func(err error) bool {
		for i := range ch.n {
			if !emit(ch.index+i, zero, err) {
				return false
			}
		}
		return true
	}
	switch {
	case ch.err != nil:
		var we *WorkerError
		if errors.As(ch.err, &we) {
			return fail(ch.err)
		}
		*fatal = ch.err
		return false
	case ch.kind == kindFailed:
		te := &TaskError{Func: ch.call.fn, Index: ch.index, Pid: ch.pid}
		if len(ch.payload) > 0 {
			if code := int(ch.payload[0]); code < len(failSentinels) {
				te.Err = failSentinels[code]
			}
			te.Message = string(ch.payload[1:])
		}
		return fail(te)
	}
	dst := *scratch
	if into != nil && ch.index+ch.n <= len(into) {
		dst = into[ch.index : ch.index+ch.n : ch.index+ch.n]
	} else {
		into = nil
	}
	vals, wireErrs, err := decodeResultPayload(ch.payload, dst)
	if into == nil {
		*scratch = vals
	}
	if err == nil && len(vals) != ch.n {
		err = fmt.Errorf("%d results for %d items", len(vals), ch.n)
	}
	if err != nil {
		return fail(&TaskError{Func: ch.call.fn, Index: ch.index, Pid: ch.pid, Message: "decoding results: " + err.Error(), Err: ErrEncode})
	}
	errs := make(map[int]*TaskError, len(wireErrs))
	for _, e := range wireErrs {
		if e.I >= 0 && e.I < ch.n {
			errs[e.I] = &TaskError{Func: ch.call.fn, Index: ch.index + e.I, Pid: ch.pid, Message: e.Msg, Panic: e.Panic, Stack: e.Stack}
		}
	}
	if into != nil {
		if len(vals) > 0 && &vals[0] != &into[ch.index] { // decoded elsewhere (gob)
			copy(into[ch.index:], vals)
		}
		for i := 0; i < ch.n && len(errs) > 0; i++ {
			if e := errs[i]; e != nil && !emit(ch.index+i, zero, e) {
				return false
			}
		}
		return true
	}
	for i, v := range vals {
		var err error
		if e := errs[i]; e != nil {
			err = e
		}
		if !emit(ch.index+i, v, err) {
			return false
		}
	}
	return true
}
