package process

import (
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"

	"github.com/shmkit/shmkit/shm"
)

// current describes this process.
var current = struct {
	name  string
	child bool
}{name: "MainProcess"}

// CurrentName is this process's name: "MainProcess", or the name its
// parent gave it.
func CurrentName() string { return current.name }

// IsChild reports whether this process was started by Start.
func IsChild() bool { return current.child }

// Main turns this process into the child that Start asked for, if it is
// one: it runs the registered function and exits. Otherwise it returns at
// once. Call it first thing in main, and in TestMain for tests that start
// processes.
func Main() {
	if os.Getenv(envMarker) == "" {
		return
	}
	os.Exit(runChild())
}

func runChild() int {
	marker := os.Getenv(envMarker)
	os.Unsetenv(envMarker)
	if marker == prestartMarker {
		return runPrestarted()
	}
	res := os.NewFile(fdResult, "result")
	report := func(r result) int {
		if res != nil {
			gob.NewEncoder(res).Encode(&r) // nothing to do on failure: the status tells
			res.Close()
		}
		return reported(r)
	}
	if marker != wireVersion {
		return report(result{Code: resultBootstrap, Message: fmt.Sprintf("parent speaks protocol %q, this binary %q", marker, wireVersion)})
	}
	boot := os.NewFile(fdBoot, "bootstrap")
	if boot == nil || res == nil {
		return report(result{Code: resultBootstrap, Message: "bootstrap descriptors missing"})
	}
	closeOnExec(boot, res)
	var b bootstrap
	if err := gob.NewDecoder(boot).Decode(&b); err != nil {
		return report(result{Code: resultBootstrap, Message: "read bootstrap: " + err.Error()})
	}
	files := make([]*os.File, len(b.Segments))
	for i, id := range b.Segments {
		f := os.NewFile(uintptr(fdSegments+i), fmt.Sprintf("segment %016x", id))
		if f == nil {
			return report(result{Code: resultBootstrap, Message: fmt.Sprintf("segment descriptor %d missing", fdSegments+i)})
		}
		closeOnExec(f)
		files[i] = f
	}
	return serve(&b, boot, files, report)
}

// reported ends a child's report: it says on standard error why a child
// could not run its function, and returns the exit status for r.
func reported(r result) int {
	if r.Code != resultOK && r.Code != resultError && r.Code != resultPanic {
		fmt.Fprintf(os.Stderr, "shmkit process: %s\n", r.Message)
	}
	return exitStatus(r.Code)
}

// serve runs the function a bootstrap names, in a child whose parent holds
// the other end of lifeline (end of file there means the parent died) and
// passed files, one per segment of b.Segments.
func serve(b *bootstrap, lifeline io.Reader, files []*os.File, report func(result) int) int {
	if os.Getppid() != b.ParentPid {
		// The parent died before we could watch it.
		return report(result{Code: resultBootstrap, Message: "parent is gone"})
	}
	go func() {
		io.Copy(io.Discard, lifeline)
		os.Exit(exitParentDied)
	}()
	current.name, current.child = b.Name, true

	var segs []*shm.Segment
	defer func() {
		for _, s := range segs {
			s.Close()
		}
	}()
	for i, id := range b.Segments {
		s, err := shm.Inherit(files[i])
		if err != nil {
			return report(result{Code: resultBootstrap, Message: fmt.Sprintf("segment %016x: %v", id, err)})
		}
		segs = append(segs, s)
		if s.ID() != id {
			return report(result{Code: resultBootstrap, Message: fmt.Sprintf("descriptor %d holds segment %016x, want %016x", i, s.ID(), id)})
		}
	}
	e, ok := lookup(b.Func)
	if !ok {
		return report(result{Code: resultNotRegistered, Message: fmt.Sprintf("%v: %q in %s", ErrNotRegistered, b.Func, os.Args[0])})
	}
	return report(call(e, b.Arg))
}

// exitParentDied is the status of a child whose parent died; nobody reads
// it unless the child was adopted by a subreaper.
const exitParentDied = 1

// call runs the function, turning a panic into a result.
func call(e entry, arg []byte) (r result) {
	defer func() {
		if p := recover(); p != nil {
			r = result{Code: resultPanic, Message: fmt.Sprint(p), Stack: string(debug.Stack())}
		}
	}()
	err := e.run(context.Background(), arg)
	var ae *argError
	switch {
	case err == nil:
		return result{Code: resultOK}
	case errors.As(err, &ae):
		return result{Code: resultArgument, Message: err.Error()}
	}
	return result{Code: resultError, Message: err.Error()}
}
