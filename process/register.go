package process

import (
	"bytes"
	"context"
	"encoding/gob"
	"fmt"
	"sync"
)

// Func is a function registered to run in a child process, taking an
// argument of type A. Register makes one; the zero Func is not registered.
type Func[A any] struct {
	name string
}

// Name is the name the function was registered under.
func (f *Func[A]) Name() string {
	if f == nil {
		return ""
	}
	return f.name
}

// entry is what the child needs to run a registered function from bytes.
type entry struct {
	run func(ctx context.Context, arg []byte) error
}

var funcs struct {
	sync.Mutex
	m map[string]entry
}

// Register registers fn under name, for Start. Every copy of the program
// must register the same functions, so do it at package level, before main
// runs. Registering a name twice fails with ErrDuplicate.
//
// A is passed with encoding/gob: its exported fields travel, and shared
// objects in it travel by handle (see the package doc).
func Register[A any](name string, fn func(ctx context.Context, arg A) error) (*Func[A], error) {
	if name == "" {
		return nil, fmt.Errorf("%w: empty name", ErrNotRegistered)
	}
	if fn == nil {
		return nil, fmt.Errorf("%w: nil function %q", ErrNotRegistered, name)
	}
	funcs.Lock()
	defer funcs.Unlock()
	if _, ok := funcs.m[name]; ok {
		return nil, fmt.Errorf("%w: %q", ErrDuplicate, name)
	}
	if funcs.m == nil {
		funcs.m = make(map[string]entry)
	}
	funcs.m[name] = entry{run: func(ctx context.Context, b []byte) error {
		var arg A
		if err := gob.NewDecoder(bytes.NewReader(b)).Decode(&arg); err != nil {
			return &argError{fmt.Errorf("%w: decode %T: %w", ErrArgument, arg, err)}
		}
		return fn(ctx, arg)
	}}
	return &Func[A]{name: name}, nil
}

// MustRegister is Register for package-level variables: it panics where
// Register returns an error.
func MustRegister[A any](name string, fn func(ctx context.Context, arg A) error) *Func[A] {
	f, err := Register(name, fn)
	if err != nil {
		panic(err)
	}
	return f
}

func lookup(name string) (entry, bool) {
	funcs.Lock()
	defer funcs.Unlock()
	e, ok := funcs.m[name]
	return e, ok
}

// argError marks a failure to decode the argument in the child, so that
// the child reports it as such rather than as the function's error.
type argError struct{ err error }

func (e *argError) Error() string { return e.err.Error() }
func (e *argError) Unwrap() error { return e.err }
