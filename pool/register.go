package pool

import (
	"bytes"
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
)

// Func is a task function registered under a name, taking an In and
// returning an Out: what Map, Imap, Apply and the others run in the
// workers. Register makes one, at package level, so that every copy of the
// program (the workers are copies) knows it. The zero Func is not
// registered. A Func may be used by any number of goroutines and pools at
// once.
//
// In and Out travel a chunk at a time: numbers (int, int32, int64, the
// unsigned ones, float32, float64) and bool as their bytes, any other type
// through encoding/gob. Then exported fields travel, and a value gob cannot
// encode (a func, a chan, an interface holding an unregistered type, a
// struct without exported fields such as struct{}) is an error at the
// caller (a *TaskError wrapping ErrEncode for a result).
type Func[In, Out any] struct {
	name string
}

// Name is the name the function was registered under.
func (f *Func[In, Out]) Name() string {
	if f == nil {
		return ""
	}
	return f.name
}

// Args2 is the argument of a function of two arguments registered with
// Register2: Starmap's tuples, where Go allows them.
type Args2[A, B any] struct {
	A A
	B B
}

// Initializer is a function run once in every worker before its first task
// (also in the workers that replace others), taking an argument of type A:
// Python's Pool(initializer=..., initargs=...). RegisterInitializer makes
// one, at package level; With binds its argument for Options.Init.
type Initializer[A any] struct {
	name string
}

// Init is an Initializer bound to its argument, for Options.Init. The zero
// Init runs nothing.
type Init struct {
	name string
	arg  []byte
	err  error // from encoding the argument; New returns it
}

// With binds arg to the initializer: every worker runs i(ctx, arg). An arg
// that gob cannot encode makes New fail.
func (i *Initializer[A]) With(arg A) Init {
	if i == nil {
		return Init{err: fmt.Errorf("%w: nil initializer", ErrNotRegistered)}
	}
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(&arg); err != nil {
		return Init{name: i.name, err: fmt.Errorf("initializer %q: %w: %w", i.name, ErrEncode, err)}
	}
	return Init{name: i.name, arg: buf.Bytes()}
}

// runner runs one chunk in a worker: args is the slice payload of a []In;
// it appends the result payload (see codec.go) to dst. A chunk-level
// failure (the arguments do not decode, the results do not encode) is an
// error, and dst comes back as it was.
type runner func(ctx context.Context, args, dst []byte) ([]byte, error)

// wireResult is what a worker computes for a chunk: one value per input
// (the zero value where the task failed) and the failures.
type wireResult[Out any] struct {
	Vals []Out
	Errs []wireErr
}

// wireErr is a task's failure as it travels: its place in the chunk and
// its message.
type wireErr struct {
	I     int
	Msg   string
	Panic bool
	Stack string
}

var registry struct {
	sync.Mutex
	funcs map[string]runner
	inits map[string]func(ctx context.Context, arg []byte) error
}

func lookupFunc(name string) (runner, bool) {
	registry.Lock()
	defer registry.Unlock()
	r, ok := registry.funcs[name]
	return r, ok
}

func lookupInit(name string) (func(context.Context, []byte) error, bool) {
	registry.Lock()
	defer registry.Unlock()
	r, ok := registry.inits[name]
	return r, ok
}

// Register registers fn under name as a task function. Every copy of the
// program must register the same functions, so do it at package level:
//
//	var square = pool.MustRegister("square", func(ctx context.Context, x int) (int, error) {
//		return x * x, nil
//	})
//
// Registering a name twice fails with ErrDuplicate. In a worker, ctx is the
// worker's: it ends when the worker is told to stop, not when the caller's
// context does.
func Register[In, Out any](name string, fn func(ctx context.Context, in In) (Out, error)) (*Func[In, Out], error) {
	if name == "" || fn == nil {
		return nil, fmt.Errorf("%w: empty name or nil function %q", ErrNotRegistered, name)
	}
	if len(name) > maxName {
		return nil, fmt.Errorf("%w: name of %d bytes (at most %d)", ErrNotRegistered, len(name), maxName)
	}
	registry.Lock()
	defer registry.Unlock()
	if _, ok := registry.funcs[name]; ok {
		return nil, fmt.Errorf("%w: %q", ErrDuplicate, name)
	}
	if registry.funcs == nil {
		registry.funcs = make(map[string]runner)
	}
	// The worker runs one chunk at a time: the slices of one chunk are
	// reused for the next (the lock is for tests that call the runner).
	var scratch struct {
		sync.Mutex
		in   []In
		vals []Out
	}
	registry.funcs[name] = func(ctx context.Context, args, dst []byte) ([]byte, error) {
		scratch.Lock()
		defer scratch.Unlock()
		if err := decodeSlice(args, &scratch.in); err != nil {
			return dst, fmt.Errorf("%w: decode []%T: %v", ErrEncode, *new(In), err)
		}
		in := scratch.in
		res := wireResult[Out]{Vals: reuse(scratch.vals, len(in))}
		clear(res.Vals)
		scratch.vals = res.Vals
		for i := 0; i < len(in); {
			i = runFrom(ctx, fn, in, i, &res)
		}
		out, err := appendResultPayload(dst, res.Vals, res.Errs)
		if err != nil {
			return dst, fmt.Errorf("%w: result of %s: %v", ErrEncode, name, err)
		}
		return out, nil
	}
	return &Func[In, Out]{name: name}, nil
}

// runFrom runs fn on in[i:], storing results and errors in res, until it
// has run them all or one panics: then it records the panic and returns the
// index after it. (One deferred recover per run of items, not per item: it
// costs more than a tiny task.)
func runFrom[In, Out any](ctx context.Context, fn func(context.Context, In) (Out, error), in []In, i int, res *wireResult[Out]) (next int) {
	defer func() {
		if r := recover(); r != nil {
			res.Errs = append(res.Errs, wireErr{I: i, Msg: fmt.Sprint(r), Panic: true, Stack: string(debug.Stack())})
			next = i + 1
		}
	}()
	for ; i < len(in); i++ {
		v, err := fn(ctx, in[i])
		if err != nil {
			res.Errs = append(res.Errs, wireErr{I: i, Msg: err.Error()})
			continue
		}
		res.Vals[i] = v
	}
	return i
}

// MustRegister is Register for package-level variables: it panics where
// Register returns an error.
func MustRegister[In, Out any](name string, fn func(ctx context.Context, in In) (Out, error)) *Func[In, Out] {
	f, err := Register(name, fn)
	if err != nil {
		panic(err)
	}
	return f
}

// Register2 registers a function of two arguments, for Starmap: it takes
// an Args2[A, B] in the workers and calls fn(ctx, a.A, a.B).
func Register2[A, B, Out any](name string, fn func(ctx context.Context, a A, b B) (Out, error)) (*Func[Args2[A, B], Out], error) {
	if fn == nil {
		return nil, fmt.Errorf("%w: nil function %q", ErrNotRegistered, name)
	}
	return Register(name, func(ctx context.Context, a Args2[A, B]) (Out, error) { return fn(ctx, a.A, a.B) })
}

// MustRegister2 is Register2 for package-level variables: it panics where
// Register2 returns an error.
func MustRegister2[A, B, Out any](name string, fn func(ctx context.Context, a A, b B) (Out, error)) *Func[Args2[A, B], Out] {
	f, err := Register2(name, fn)
	if err != nil {
		panic(err)
	}
	return f
}

// RegisterInitializer registers fn under name as a worker initializer (see
// Initializer). Names are separate from task functions'. An initializer that
// fails or panics breaks the pool (see ErrBroken): Python would start
// replacement workers that fail the same way, for ever.
func RegisterInitializer[A any](name string, fn func(ctx context.Context, arg A) error) (*Initializer[A], error) {
	if name == "" || fn == nil {
		return nil, fmt.Errorf("%w: empty name or nil initializer %q", ErrNotRegistered, name)
	}
	registry.Lock()
	defer registry.Unlock()
	if _, ok := registry.inits[name]; ok {
		return nil, fmt.Errorf("%w: initializer %q", ErrDuplicate, name)
	}
	if registry.inits == nil {
		registry.inits = make(map[string]func(context.Context, []byte) error)
	}
	registry.inits[name] = func(ctx context.Context, b []byte) (err error) {
		var arg A
		if err := gob.NewDecoder(bytes.NewReader(b)).Decode(&arg); err != nil {
			return fmt.Errorf("%w: decode %T: %v", ErrEncode, arg, err)
		}
		defer func() {
			if r := recover(); r != nil {
				err = errors.New("panic: " + fmt.Sprint(r))
			}
		}()
		return fn(ctx, arg)
	}
	return &Initializer[A]{name: name}, nil
}

// MustRegisterInitializer is RegisterInitializer for package-level
// variables: it panics where RegisterInitializer returns an error.
func MustRegisterInitializer[A any](name string, fn func(ctx context.Context, arg A) error) *Initializer[A] {
	i, err := RegisterInitializer(name, fn)
	if err != nil {
		panic(err)
	}
	return i
}
