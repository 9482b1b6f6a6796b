package process

import (
	"errors"
	"fmt"
)

var (
	// ErrDuplicate: a function was registered twice under one name.
	ErrDuplicate = errors.New("process: function registered twice")
	// ErrNotRegistered: the function was not registered (in the parent
	// or in the child).
	ErrNotRegistered = errors.New("process: function not registered")
	// ErrArgument: the argument could not be encoded or decoded.
	ErrArgument = errors.New("process: bad argument")
	// ErrBootstrap: the child could not be set up (the protocol between
	// parent and child failed).
	ErrBootstrap = errors.New("process: bootstrap failed")
)

// ExitError reports a child that did not exit with status 0.
type ExitError struct {
	Name     string // the process's name
	Pid      int
	ExitCode int    // as Process.ExitCode: negative for a signal
	Message  string // the child's error or panic message, if it sent one
	Panic    bool   // the function panicked
	Stack    string // the panicking goroutine's stack, when Panic
	Err      error  // a sentinel of this package when one applies, else nil
}

func (e *ExitError) Error() string {
	var how string
	switch {
	case e.ExitCode < 0:
		how = fmt.Sprintf("killed by signal %d", -e.ExitCode)
	default:
		how = fmt.Sprintf("exited with status %d", e.ExitCode)
	}
	s := fmt.Sprintf("process %s (pid %d) %s", e.Name, e.Pid, how)
	switch {
	case e.Panic:
		s += ": panic: " + e.Message
	case e.Message != "":
		s += ": " + e.Message
	}
	return s
}

func (e *ExitError) Unwrap() error { return e.Err }
