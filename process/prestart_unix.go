//go:build unix

package process

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"sync"
	"syscall"
	"time"
)

// Prestart makes sure at least n prestarted children wait idle, starting
// the missing ones (in parallel) and returning once each has come up: run
// its program's initialization and reached Main, where it waits for a
// function. Start then hands its function to one of them, which costs a
// message on a socket instead of a program's start (BenchmarkStartJoin
// times the latter; the pool's BenchmarkStartStopPython both). It is
// Python's forkserver idea without fork: the cost of a
// start is paid when the program chooses (at its own start, say, while it
// does other work), not when it needs the process.
//
// A prestarted child has the environment, arguments, standard output and
// standard error this process had at Prestart; Start uses one only when
// its Options leave Stdin, Stdout, Stderr and Env unset. A child used is
// not replaced: call Prestart again. Idle children exit when this process
// does (they hold the same lifeline as any child) and when
// StopPrestarted ends them; one that dies idle is passed over. If ctx ends
// first, the children not yet up are killed and ctx's error returned.
//
// Prestart and Start may be called from many goroutines at once.
func Prestart(ctx context.Context, n int) error {
	if err := supported(); err != nil {
		return fmt.Errorf("prestart: %w", err)
	}
	if n < 0 {
		return fmt.Errorf("prestart: %d children: must be at least 0", n)
	}
	prestarted.Lock()
	missing := n - prestarted.prune()
	gen := prestarted.gen
	prestarted.Unlock()
	if missing <= 0 {
		return nil
	}
	errs := make([]error, missing)
	var wg sync.WaitGroup
	for i := range missing {
		wg.Go(func() {
			sp, err := spawnPrestarted(ctx)
			if err != nil {
				errs[i] = err
				return
			}
			prestarted.Lock()
			stopped := prestarted.gen != gen
			if !stopped {
				prestarted.idle = append(prestarted.idle, sp)
			}
			prestarted.Unlock()
			if stopped {
				sp.drop() // StopPrestarted ran while it came up
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("prestart: %w", err)
	}
	return nil
}

// Prestarted is the number of prestarted children waiting idle.
func Prestarted() int {
	prestarted.Lock()
	defer prestarted.Unlock()
	return prestarted.prune()
}

// StopPrestarted kills the idle prestarted children and waits until they
// have exited; children a Prestart is still starting are killed as they
// come up. Children already handed a function are not touched.
func StopPrestarted() {
	prestarted.Lock()
	idle := prestarted.idle
	prestarted.idle = nil
	prestarted.gen++
	prestarted.Unlock()
	for _, sp := range idle {
		sp.drop()
	}
}

// prestarted holds the idle children, the oldest first.
var prestarted spares

type spares struct {
	sync.Mutex
	idle []*spare
	gen  uint64 // StopPrestarted calls: children that come up after one are dropped
}

// prune forgets the idle children that have died, and returns how many
// are left. The caller holds the lock.
func (s *spares) prune() int {
	live := s.idle[:0]
	for _, sp := range s.idle {
		if sp.gone() {
			sp.sock.Close()
		} else {
			live = append(live, sp)
		}
	}
	clear(s.idle[len(live):])
	s.idle = live
	return len(live)
}

// spare is a prestarted child waiting for a function.
type spare struct {
	cmd    *exec.Cmd
	sock   *os.File      // this process's end of the socket pair
	exited chan struct{} // closed once cmd.Wait has returned
	werr   error         // what cmd.Wait returned, once exited is closed
}

func (sp *spare) gone() bool {
	select {
	case <-sp.exited:
		return true
	default:
		return false
	}
}

// drop kills sp, waits for it and closes its socket.
func (sp *spare) drop() {
	sp.cmd.Process.Kill()
	<-sp.exited
	sp.sock.Close()
}

// spawnPrestarted starts one prestarted child and waits until it has said
// it is ready.
func spawnPrestarted(ctx context.Context) (*spare, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	// Under ForkLock, as os and net make descriptors: a child started
	// between the socketpair and the close-on-exec would inherit both
	// ends, and hold this child's lifeline open.
	syscall.ForkLock.RLock()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err == nil {
		syscall.CloseOnExec(fds[0])
		syscall.CloseOnExec(fds[1])
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return nil, fmt.Errorf("socket pair: %w", err)
	}
	// Non-blocking, so that this end's reads wait in the poller, with
	// deadlines.
	if err := syscall.SetNonblock(fds[0], true); err != nil {
		syscall.Close(fds[0])
		syscall.Close(fds[1])
		return nil, err
	}
	sock := os.NewFile(uintptr(fds[0]), "prestart")
	theirs := os.NewFile(uintptr(fds[1]), "prestart child")
	cmd := exec.Command(exe, os.Args[1:]...)
	cmd.Env = append(os.Environ(), envMarker+"="+prestartMarker)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.ExtraFiles = []*os.File{theirs}
	cmd.SysProcAttr = sysProcAttr()
	err = startOnSpawner(cmd)
	theirs.Close()
	if err != nil {
		sock.Close()
		return nil, err
	}
	sp := &spare{cmd: cmd, sock: sock, exited: make(chan struct{})}
	go func() {
		sp.werr = cmd.Wait()
		close(sp.exited)
	}()
	// Wait for the ready byte; ctx ending or the child exiting ends the
	// wait (a deadline in the past), and the deadline is cleared only once
	// nothing can set it any more.
	read, watched := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(watched)
		select {
		case <-ctx.Done():
		case <-sp.exited:
		case <-read:
			return
		}
		sock.SetReadDeadline(time.Now())
	}()
	var b [1]byte
	_, err = io.ReadFull(sock, b[:])
	close(read)
	<-watched
	sock.SetReadDeadline(time.Time{})
	if err == nil && b[0] != readyByte {
		err = fmt.Errorf("it sent %q, not the ready byte", b[0])
	}
	if err != nil {
		exited := sp.gone()
		sp.drop()
		switch {
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case exited || errors.Is(err, io.EOF):
			err = fmt.Errorf("%w: it exited before it was ready (does its main call process.Main first?): %v", ErrBootstrap, sp.werr)
		}
		return nil, fmt.Errorf("prestarted child %d: %w", cmd.Process.Pid, err)
	}
	return sp, nil
}

// takePrestarted takes an idle prestarted child for a Start with opts
// that passes files segments and an encoded argument of argSize bytes, or
// returns nil if there is none or it cannot serve them.
func takePrestarted(opts *Options, files, argSize int) *spare {
	if opts.Stdin != nil || opts.Stdout != nil || opts.Stderr != nil || len(opts.Env) > 0 || files > maxRights || argSize > maxBootstrap/2 {
		return nil
	}
	prestarted.Lock()
	defer prestarted.Unlock()
	if prestarted.prune() == 0 {
		return nil
	}
	sp := prestarted.idle[0]
	prestarted.idle = slices.Delete(prestarted.idle, 0, 1)
	return sp
}

// handOver sends b and the segments' files to sp and returns its Process.
// On failure (sp died) sp has been dropped.
func (sp *spare) handOver(ctx context.Context, name string, b bootstrap, files []*os.File) (*Process, error) {
	var buf bytes.Buffer
	buf.Write(make([]byte, 4))
	if err := gob.NewEncoder(&buf).Encode(&b); err != nil {
		sp.drop()
		return nil, err
	}
	msg := buf.Bytes()
	binary.LittleEndian.PutUint32(msg, uint32(len(msg)-4))
	fds := make([]int, len(files))
	for i, f := range files {
		fds[i] = int(f.Fd())
	}
	err := sendWithRights(sp.sock, msg, syscall.UnixRights(fds...))
	runtime.KeepAlive(files)
	if err != nil {
		sp.drop()
		return nil, err
	}
	p := newProcess(name, sp.cmd, sp.sock)
	// As for a child Start starts: killed if ctx ends before it exits.
	stop := context.AfterFunc(ctx, func() { sp.cmd.Process.Kill() })
	go p.wait(sp.sock, func() error {
		<-sp.exited
		stop()
		return sp.werr
	})
	return p, nil
}

// sendWithRights writes msg on the socket f with oob attached to its first
// bytes.
func sendWithRights(f *os.File, msg, oob []byte) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var n int
	var serr error
	err = rc.Write(func(fd uintptr) bool {
		n, serr = syscall.SendmsgN(int(fd), msg, oob, nil, 0)
		return serr != syscall.EAGAIN
	})
	if err == nil {
		err = serr
	}
	if err == nil && n < len(msg) {
		_, err = f.Write(msg[n:])
	}
	return err
}

// runPrestarted is a prestarted child: it says it is ready, waits for a
// function and runs it.
func runPrestarted() int {
	sock := os.NewFile(fdBoot, "prestart")
	if sock == nil {
		return reported(result{Code: resultBootstrap, Message: "prestart socket missing"})
	}
	closeOnExec(sock)
	report := func(r result) int {
		// Not closed: the lifeline reads on it until this process exits.
		gob.NewEncoder(sock).Encode(&r)
		return reported(r)
	}
	warmGob()
	if _, err := sock.Write([]byte{readyByte}); err != nil {
		return exitParentDied
	}
	msg, files, err := receiveHandOver(int(sock.Fd()))
	if errors.Is(err, io.EOF) {
		return exitParentDied // dropped idle, or the parent is gone
	}
	if err != nil {
		return report(result{Code: resultBootstrap, Message: "receive bootstrap: " + err.Error()})
	}
	var b bootstrap
	if err := gob.NewDecoder(bytes.NewReader(msg)).Decode(&b); err != nil {
		return report(result{Code: resultBootstrap, Message: "read bootstrap: " + err.Error()})
	}
	if len(files) != len(b.Segments) {
		return report(result{Code: resultBootstrap, Message: fmt.Sprintf("%d segment descriptors for %d segments", len(files), len(b.Segments))})
	}
	return serve(&b, sock, files, report)
}

// receiveHandOver reads a hand-over from the socket fd: the bootstrap's
// bytes and the descriptors that came with them.
func receiveHandOver(fd int) (msg []byte, files []*os.File, err error) {
	buf := make([]byte, 64<<10)
	oob := make([]byte, syscall.CmsgSpace(4*maxRights))
	var n, oobn, flags int
	for {
		n, oobn, flags, _, err = syscall.Recvmsg(fd, buf, oob, recvFlags)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		return nil, nil, err
	}
	if n == 0 {
		return nil, nil, io.EOF
	}
	if flags&syscall.MSG_CTRUNC != 0 {
		return nil, nil, errors.New("descriptors cut short")
	}
	cmsgs, err := syscall.ParseSocketControlMessage(oob[:oobn])
	if err != nil {
		return nil, nil, err
	}
	for i := range cmsgs {
		fds, err := syscall.ParseUnixRights(&cmsgs[i])
		if err != nil {
			return nil, nil, err
		}
		for _, d := range fds {
			syscall.CloseOnExec(d)
			files = append(files, os.NewFile(uintptr(d), "segment"))
		}
	}
	got := buf[:n]
	if len(got) >= 4 && binary.LittleEndian.Uint32(got) > maxBootstrap {
		return nil, nil, fmt.Errorf("a bootstrap of %d bytes", binary.LittleEndian.Uint32(got))
	}
	for len(got) < 4 || len(got) < 4+int(binary.LittleEndian.Uint32(got)) {
		if len(got) == cap(got) {
			got = append(got, 0)[:len(got)]
		}
		m, err := syscall.Read(fd, got[len(got):cap(got)])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		if m == 0 {
			return nil, nil, io.ErrUnexpectedEOF
		}
		got = got[:len(got)+m]
	}
	size := int(binary.LittleEndian.Uint32(got))
	if len(got) != 4+size {
		return nil, nil, fmt.Errorf("%d bytes after a bootstrap of %d", len(got)-4-size, size)
	}
	return got[4:], files, nil
}

// warmGob has encoding/gob build what it keeps for the bootstrap and the
// result types, while this child is idle rather than in a Start.
func warmGob() {
	var buf bytes.Buffer
	enc, dec := gob.NewEncoder(&buf), gob.NewDecoder(&buf)
	enc.Encode(&bootstrap{Segments: []uint64{1}, Arg: []byte{1}})
	enc.Encode(&result{Message: "x"})
	dec.Decode(&bootstrap{})
	dec.Decode(&result{})
}
