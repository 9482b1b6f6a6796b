package process

import (
	"bytes"
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"reflect"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shmkit/shmkit/shm"
)

// Options tunes Start. The zero value (or nil) means the defaults.
type Options struct {
	// Name is the process's name; empty means "Process-N", or
	// "PARENT:N" in a child named PARENT, as Python names them.
	Name string
	// Stdin is the child's standard input; nil means none (the null
	// device), as Python gives its children.
	Stdin io.Reader
	// Stdout and Stderr receive the child's output; nil means this
	// process's own (the child inherits the descriptors).
	Stdout, Stderr io.Writer
	// Env is added to the child's environment.
	Env []string
	// Segments are passed to the child besides those found in the
	// argument, so that handles to their objects resolve there.
	Segments []*shm.Segment
}

// Carrier is implemented by values that hold shared objects, so that Start
// passes the segments they live in to the child. *shm.Segment and
// *shm.Object are found without it.
type Carrier interface {
	ShmObjects() []*shm.Object
}

// Process is a child process started by Start. Its methods may be called
// from many goroutines at once.
type Process struct {
	name     string
	pid      int
	cmd      *exec.Cmd
	lifeline *os.File // the parent's end of the bootstrap pipe

	done     chan struct{}
	exitCode int   // valid once done is closed
	err      error // valid once done is closed
}

var (
	counter atomic.Int64
	active  struct {
		sync.Mutex
		m map[*Process]struct{}
	}
)

// Start runs f(ctx, arg) in a new process and returns once the child is
// running and has been sent its argument. arg is encoded with encoding/gob;
// the segments of the shared objects in it (and opts.Segments) are passed
// as inherited descriptors and mapped in the child before f runs.
//
// As with exec.CommandContext, the child is killed if ctx is done before it
// exits; pass context.Background() for a child that outlives ctx.
func Start[A any](ctx context.Context, f *Func[A], arg A, opts *Options) (*Process, error) {
	if f == nil || f.name == "" {
		return nil, fmt.Errorf("start: %w", ErrNotRegistered)
	}
	if _, ok := lookup(f.name); !ok {
		return nil, fmt.Errorf("start %q: %w", f.name, ErrNotRegistered)
	}
	if opts == nil {
		opts = &Options{}
	}
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(arg); err != nil {
		return nil, fmt.Errorf("start %q: %w: encode %T: %w", f.name, ErrArgument, arg, err)
	}
	segs := newSegmentSet()
	for _, s := range opts.Segments {
		if err := segs.addSegment(s); err != nil {
			return nil, fmt.Errorf("start %q: %w", f.name, err)
		}
	}
	if err := segs.walk(reflect.ValueOf(&arg)); err != nil {
		return nil, fmt.Errorf("start %q: %w", f.name, err)
	}
	return start(ctx, f.name, buf.Bytes(), segs, opts)
}

// segmentSet collects the segments to pass, once each.
type segmentSet struct {
	ids   []uint64
	files []*os.File
	seen  map[uint64]bool
	ptrs  map[uintptr]bool
}

func newSegmentSet() *segmentSet {
	return &segmentSet{seen: map[uint64]bool{}, ptrs: map[uintptr]bool{}}
}

func (s *segmentSet) add(id uint64, f *os.File) {
	if !s.seen[id] {
		s.seen[id] = true
		s.ids = append(s.ids, id)
		s.files = append(s.files, f)
	}
}

func (s *segmentSet) addSegment(seg *shm.Segment) error {
	f, err := seg.File()
	if err != nil {
		return fmt.Errorf("%w: segment: %w", ErrArgument, err)
	}
	s.add(seg.ID(), f)
	return nil
}

func (s *segmentSet) addObject(o *shm.Object) error {
	f, err := o.File()
	if err != nil {
		return fmt.Errorf("%w: object: %w", ErrArgument, err)
	}
	s.add(o.SegmentID(), f)
	return nil
}

var (
	segmentType = reflect.TypeFor[*shm.Segment]()
	objectType  = reflect.TypeFor[*shm.Object]()
	carrierType = reflect.TypeFor[Carrier]()
)

// walk finds the shared objects reachable from v through what gob
// encodes: exported fields, elements, map entries, pointers, interfaces.
func (s *segmentSet) walk(v reflect.Value) error {
	if !v.IsValid() {
		return nil
	}
	t := v.Type()
	switch {
	case t == segmentType:
		if v.IsNil() {
			return nil
		}
		return s.addSegment(v.Interface().(*shm.Segment))
	case t == objectType:
		if v.IsNil() {
			return nil
		}
		return s.addObject(v.Interface().(*shm.Object))
	case t.Implements(carrierType) && v.CanInterface():
		if (t.Kind() == reflect.Pointer || t.Kind() == reflect.Interface) && v.IsNil() {
			return nil
		}
		for _, o := range v.Interface().(Carrier).ShmObjects() {
			if err := s.addObject(o); err != nil {
				return err
			}
		}
		return nil
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() || s.ptrs[v.Pointer()] {
			return nil
		}
		s.ptrs[v.Pointer()] = true
		return s.walk(v.Elem())
	case reflect.Interface:
		return s.walk(v.Elem())
	case reflect.Struct:
		for i := range v.NumField() {
			if t.Field(i).IsExported() {
				if err := s.walk(v.Field(i)); err != nil {
					return err
				}
			}
		}
	case reflect.Slice, reflect.Array:
		if !mayHold(t.Elem()) {
			return nil
		}
		for i := range v.Len() {
			if err := s.walk(v.Index(i)); err != nil {
				return err
			}
		}
	case reflect.Map:
		if !mayHold(t.Key()) && !mayHold(t.Elem()) {
			return nil
		}
		for it := v.MapRange(); it.Next(); {
			if err := s.walk(it.Key()); err != nil {
				return err
			}
			if err := s.walk(it.Value()); err != nil {
				return err
			}
		}
	}
	return nil
}

// mayHold reports whether a value of type t can reach a shared object, so
// that walk can skip a million float64s.
func mayHold(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Pointer, reflect.Interface, reflect.Struct, reflect.Slice, reflect.Array, reflect.Map:
		return true
	}
	return false
}

func start(ctx context.Context, fn string, arg []byte, segs *segmentSet, opts *Options) (_ *Process, err error) {
	if err := supported(); err != nil {
		return nil, fmt.Errorf("start %q: %w", fn, err)
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("start %q: %w", fn, err)
	}
	name := opts.Name
	if name == "" {
		name = "Process-" + strconv.FormatInt(counter.Add(1), 10)
		if current.child {
			name = current.name + ":" + strconv.FormatInt(counter.Load(), 10)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("start %q: %w", fn, err)
	}
	if sp := takePrestarted(opts, len(segs.files), len(arg)); sp != nil {
		p, err := sp.handOver(ctx, name, bootstrap{Func: fn, Name: name, ParentPid: os.Getpid(), Segments: segs.ids, Arg: arg}, segs.files)
		if err == nil {
			return p, nil
		}
		// It died idle, or just now: start one as if there had been none.
	}
	bootR, bootW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	resR, resW, err := os.Pipe()
	if err != nil {
		bootR.Close()
		bootW.Close()
		return nil, err
	}
	// The child's ends are closed here once it has them; the parent's on
	// failure, or when the child exits.
	defer func() {
		bootR.Close()
		resW.Close()
		if err != nil {
			bootW.Close()
			resR.Close()
		}
	}()
	cmd := exec.CommandContext(ctx, exe, os.Args[1:]...)
	cmd.Env = append(append(os.Environ(), opts.Env...), envMarker+"="+wireVersion)
	cmd.Stdin = opts.Stdin
	cmd.Stdout, cmd.Stderr = opts.Stdout, opts.Stderr
	if cmd.Stdout == nil {
		cmd.Stdout = os.Stdout
	}
	if cmd.Stderr == nil {
		cmd.Stderr = os.Stderr
	}
	cmd.ExtraFiles = append([]*os.File{bootR, resW}, segs.files...)
	cmd.SysProcAttr = sysProcAttr()
	if err := startOnSpawner(cmd); err != nil {
		return nil, fmt.Errorf("start %q: %w", fn, err)
	}
	p := newProcess(name, cmd, bootW)
	go p.wait(resR, cmd.Wait)
	b := bootstrap{Func: fn, Name: name, ParentPid: os.Getpid(), Segments: segs.ids, Arg: arg}
	if err := gob.NewEncoder(bootW).Encode(&b); err != nil {
		// The child died before it read its bootstrap: its status will
		// say why. Report the failure and leave the rest to wait.
		p.cmd.Process.Kill()
		<-p.done
		return nil, fmt.Errorf("start %q: %w: send bootstrap: %w (child: %v)", fn, ErrBootstrap, err, p.err)
	}
	return p, nil
}

// newProcess makes the Process of a started child and counts it active.
func newProcess(name string, cmd *exec.Cmd, lifeline *os.File) *Process {
	p := &Process{name: name, pid: cmd.Process.Pid, cmd: cmd, lifeline: lifeline, done: make(chan struct{})}
	active.Lock()
	if active.m == nil {
		active.m = make(map[*Process]struct{})
	}
	active.m[p] = struct{}{}
	active.Unlock()
	return p
}

// spawner starts every child from one goroutine locked to one OS thread
// that never exits: on Linux the parent-death signal is sent when the
// thread that started the child exits, not the process, and Go retires
// threads.
var spawner struct {
	once sync.Once
	reqs chan spawnReq
}

type spawnReq struct {
	cmd  *exec.Cmd
	done chan error
}

func startOnSpawner(cmd *exec.Cmd) error {
	spawner.once.Do(func() {
		spawner.reqs = make(chan spawnReq)
		go func() {
			runtime.LockOSThread() // never unlocked: the thread lives as long as the process
			for r := range spawner.reqs {
				r.done <- r.cmd.Start()
			}
		}()
	})
	done := make(chan error, 1)
	spawner.reqs <- spawnReq{cmd, done}
	return <-done
}

// resultGrace bounds how long the parent waits for the child's result
// after the child has exited; only a grandchild that kept the pipe open
// could make it wait at all.
const resultGrace = 100 * time.Millisecond

// wait reaps the child (reap returns once it has: p.cmd.Wait, or a
// prestarted child's wait), reads its result from resR and settles the
// Process.
func (p *Process) wait(resR *os.File, reap func() error) {
	var res result
	got := make(chan bool, 1)
	go func() {
		got <- gob.NewDecoder(resR).Decode(&res) == nil
	}()
	werr := reap()
	var ok bool
	select {
	case ok = <-got:
	case <-time.After(resultGrace):
		resR.Close()
		ok = <-got
	}
	resR.Close()
	p.lifeline.Close()

	code := -1
	if ps := p.cmd.ProcessState; ps != nil {
		code = exitCode(ps)
	}
	p.exitCode = code
	if code != 0 {
		e := &ExitError{Name: p.name, Pid: p.pid, ExitCode: code}
		if ok {
			e.Message, e.Stack = res.Message, res.Stack
			e.Panic = res.Code == resultPanic
			switch res.Code {
			case resultNotRegistered:
				e.Err = ErrNotRegistered
			case resultArgument:
				e.Err = ErrArgument
			case resultBootstrap:
				e.Err = ErrBootstrap
			}
		} else if werr != nil && p.cmd.ProcessState == nil {
			e.Message = werr.Error()
		}
		p.err = e
	}
	active.Lock()
	delete(active.m, p)
	active.Unlock()
	close(p.done)
}

// Pid is the child's process id.
func (p *Process) Pid() int { return p.pid }

// Name is the process's name.
func (p *Process) Name() string { return p.name }

func (p *Process) String() string { return fmt.Sprintf("%s (pid %d)", p.name, p.pid) }

// Join waits until the child exits or ctx is done. It returns nil if the
// child exited with status 0, an *ExitError otherwise, and ctx.Err() if ctx
// was done first (the child goes on). Join may be called many times.
func (p *Process) Join(ctx context.Context) error {
	select {
	case <-p.done:
		return p.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Done is closed when the child has exited and been reaped.
func (p *Process) Done() <-chan struct{} { return p.done }

// IsAlive reports whether the child has not yet exited (and been reaped).
func (p *Process) IsAlive() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// ExitCode returns the child's exit status, as Python's exitcode: 0, the
// status it exited with, or minus the signal that ended it. ok is false
// while the child runs.
func (p *Process) ExitCode() (code int, ok bool) {
	select {
	case <-p.done:
		return p.exitCode, true
	default:
		return 0, false
	}
}

// Terminate asks the child to stop: SIGTERM, which ends a Go program at
// once unless it handles the signal (ExitCode then reports -15). On a child
// that has exited it does nothing.
func (p *Process) Terminate() error { return p.signal(terminateSignal) }

// Kill ends the child at once (SIGKILL; ExitCode then reports -9). On a
// child that has exited it does nothing.
func (p *Process) Kill() error { return p.signal(os.Kill) }

func (p *Process) signal(sig os.Signal) error {
	if !p.IsAlive() {
		return nil
	}
	// os.Process signals through a pidfd where the system has one, so a
	// reaped and reused pid is never signalled.
	err := p.cmd.Process.Signal(sig)
	if errors.Is(err, os.ErrProcessDone) {
		return nil
	}
	return err
}

// ActiveChildren returns the children started by this process that have
// not yet exited, as Python's multiprocessing.active_children.
func ActiveChildren() []*Process {
	active.Lock()
	defer active.Unlock()
	out := make([]*Process, 0, len(active.m))
	for p := range active.m {
		out = append(out, p)
	}
	return out
}
