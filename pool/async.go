package pool

import (
	"context"
	"slices"
)

// Result is the outcome of an async call (MapAsync, StarmapAsync,
// ApplyAsync), like Python's AsyncResult: Get waits for it. Its methods may
// be called from any goroutine, any number of times.
type Result[T any] struct {
	done chan struct{}
	v    T
	err  error
}

func newResult[T any]() *Result[T] { return &Result[T]{done: make(chan struct{})} }

func (r *Result[T]) set(v T, err error) {
	r.v, r.err = v, err
	close(r.done)
}

// Get waits, while ctx allows, for the call to end and returns its value or
// its error. If ctx ends first it returns ctx.Err() and the call goes on
// (Python's TimeoutError).
func (r *Result[T]) Get(ctx context.Context) (T, error) {
	select {
	case <-r.done:
		return r.v, r.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

// Wait waits, while ctx allows, for the call to end; it returns ctx.Err()
// if ctx ends first, and nil otherwise, whether the call succeeded or not.
func (r *Result[T]) Wait(ctx context.Context) error {
	select {
	case <-r.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Done is closed when the call has ended.
func (r *Result[T]) Done() <-chan struct{} { return r.done }

// Ready reports whether the call has ended.
func (r *Result[T]) Ready() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// Successful reports whether the call ended without an error; before it
// has ended it fails with ErrNotReady (Python raises ValueError).
func (r *Result[T]) Successful() (bool, error) {
	if !r.Ready() {
		return false, ErrNotReady
	}
	return r.err == nil, nil
}

// MapAsync is Map, returning at once; ctx bounds the call (cancel it to
// stop the call). The call is registered with the pool before MapAsync
// returns, so a Close after it lets it finish. in is copied.
func MapAsync[In, Out any](ctx context.Context, p *Pool, f *Func[In, Out], in []In, opts ...CallOption) *Result[[]Out] {
	r := newResult[[]Out]()
	if err := p.beginCall(); err != nil {
		r.set(nil, err)
		return r
	}
	in = slices.Clone(in)
	cfg := p.config(opts)
	go func() {
		defer p.endCall()
		r.set(mapBegun(ctx, p, f, in, cfg))
	}()
	return r
}

// StarmapAsync is Starmap, returning at once (see MapAsync).
func StarmapAsync[A, B, Out any](ctx context.Context, p *Pool, f *Func[Args2[A, B], Out], in []Args2[A, B], opts ...CallOption) *Result[[]Out] {
	return MapAsync(ctx, p, f, in, opts...)
}

// ApplyAsync is Apply, returning at once (see MapAsync).
func ApplyAsync[In, Out any](ctx context.Context, p *Pool, f *Func[In, Out], in In) *Result[Out] {
	r := newResult[Out]()
	if err := p.beginCall(); err != nil {
		var zero Out
		r.set(zero, err)
		return r
	}
	go func() {
		defer p.endCall()
		out, err := mapBegun(ctx, p, f, []In{in}, callConfig{chunk: 1})
		var v Out
		if err == nil {
			v = out[0]
		}
		r.set(v, err)
	}()
	return r
}
