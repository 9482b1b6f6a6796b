//go:build unix

package pipe_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/pipe"
	"github.com/shmkit/shmkit/process"
	"github.com/shmkit/shmkit/ringbuf"
	"github.com/shmkit/shmkit/shm"
)

var sentinel = []byte("SENTINEL")

// echo is Python's _TestConnection._echo: it sends back every message
// until the sentinel, then closes its end.
var echo = process.MustRegister("pipe-echo", func(ctx context.Context, c *pipe.End) error {
	for {
		msg, err := c.RecvBytes(ctx)
		if err != nil {
			return err
		}
		if bytes.Equal(msg, sentinel) {
			return c.Close()
		}
		if err := c.SendBytes(ctx, msg); err != nil {
			return err
		}
	}
})

// TestConnection is Python's _TestConnection.test_connection.
func TestConnection(t *testing.T) {
	ctx := shmtest.Deadline(t, 60*time.Second)
	conn, child, err := pipe.New(nil, "", &pipe.Options{Capacity: 64 << 20}) // 16 MiB messages
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	p := shmtest.Start(t, ctx, echo, child)
	child.Close() // the child holds it now

	type seq struct {
		I int
		F float64
		N *int
	}
	if err := conn.Send(ctx, seq{1, 2.25, nil}); err != nil {
		t.Fatal(err)
	}
	var got seq
	if err := conn.Recv(ctx, &got); err != nil || got != (seq{1, 2.25, nil}) {
		t.Fatalf("Recv = %+v, %v", got, err)
	}
	msg := []byte("hello world")
	if err := conn.SendBytes(ctx, msg); err != nil {
		t.Fatal(err)
	}
	if b, err := conn.RecvBytes(ctx); err != nil || !bytes.Equal(b, msg) {
		t.Fatalf("RecvBytes = %q, %v", b, err)
	}
	arr := binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint32(nil, 0), 1)
	buf := make([]byte, 40)
	conn.SendBytes(ctx, arr)
	if n, err := conn.RecvBytesInto(ctx, buf); err != nil || n != len(arr) || !bytes.Equal(buf[:n], arr) || buf[n] != 0 {
		t.Fatalf("RecvBytesInto = %d, %v", n, err)
	}
	buf = make([]byte, 40)
	conn.SendBytes(ctx, arr)
	if n, err := conn.RecvBytesInto(ctx, buf[12:]); err != nil || n != len(arr) || !bytes.Equal(buf[12:12+n], arr) || buf[0] != 0 {
		t.Fatalf("RecvBytesInto at an offset = %d, %v", n, err)
	}
	long := bytes.Repeat(msg, 10)
	conn.SendBytes(ctx, long)
	var short *pipe.BufferTooShortError
	if _, err := conn.RecvBytesInto(ctx, make([]byte, 40)); !errors.As(err, &short) || short.Size != len(long) {
		t.Fatalf("RecvBytesInto(40) = %v, want BufferTooShortError{%d}", err, len(long))
	}
	if b, err := conn.RecvBytes(ctx); err != nil || !bytes.Equal(b, long) {
		t.Fatalf("RecvBytes after a short buffer = %d bytes, %v; the message must stay", len(b), err)
	}
	for _, d := range []time.Duration{0, -1, 100 * time.Millisecond} {
		if ok, err := conn.PollTimeout(d); ok || err != nil {
			t.Fatalf("PollTimeout(%v) = %v, %v; want false", d, ok, err)
		}
	}
	if err := conn.Send(ctx, 0); err != nil { // Python sends None; gob has no nil
		t.Fatal(err)
	}
	if ok, err := conn.PollTimeout(10 * time.Second); !ok || err != nil {
		t.Fatalf("PollTimeout after a send = %v, %v; want true", ok, err)
	}
	var zero int
	if err := conn.Recv(ctx, &zero); err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("X"), 16<<20)
	if err := conn.SendBytes(ctx, big); err != nil {
		t.Fatal(err)
	}
	if b, err := conn.RecvBytes(ctx); err != nil || !bytes.Equal(b, big) {
		t.Fatalf("RecvBytes of 16 MiB = %d bytes, %v", len(b), err)
	}
	conn.SendBytes(ctx, sentinel)
	if !conn.Readable() || !conn.Writable() {
		t.Fatal("duplex end not readable and writable")
	}
	if err := conn.Recv(ctx, &got); err != io.EOF {
		t.Fatalf("Recv after the child closed = %v, want io.EOF", err)
	}
	if _, err := conn.RecvBytes(ctx); err != io.EOF {
		t.Fatalf("RecvBytes after the child closed = %v, want io.EOF", err)
	}
	if err := p.Join(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestSpawnClose is Python's test_spawn_close: the parent closes the
// child's end at once after Start, before the child may have opened it.
func TestSpawnClose(t *testing.T) {
	ctx := shmtest.Deadline(t, 60*time.Second)
	for range 5 {
		conn, child, err := pipe.New(nil, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		p := shmtest.Start(t, ctx, echo, child)
		child.Close()
		if err := conn.SendBytes(ctx, []byte("hello")); err != nil {
			t.Fatal(err)
		}
		if b, err := conn.RecvBytes(ctx); err != nil || string(b) != "hello" {
			t.Fatalf("RecvBytes = %q, %v", b, err)
		}
		conn.SendBytes(ctx, sentinel)
		conn.Close()
		if err := p.Join(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

type stringsArgs struct {
	W       *pipe.End
	Strings [][]byte
	Pause   time.Duration
	Close   bool // close the end before returning, else just exit
}

// sendStrings is Python's _child_strings (and _child_dont_merge).
var sendStrings = process.MustRegister("pipe-send-strings", func(ctx context.Context, a stringsArgs) error {
	for _, s := range a.Strings {
		time.Sleep(a.Pause)
		if err := a.W.SendBytes(ctx, s); err != nil {
			return err
		}
	}
	if a.Close {
		return a.W.Close()
	}
	return nil
})

// TestOneWayChild: a one-way pipe to a child, Python's test_strings: the
// parent polls and receives every string, then end of stream, both when
// the child closes its end and when it just exits.
func TestOneWayChild(t *testing.T) {
	ctx := shmtest.Deadline(t, 60*time.Second)
	strings := [][]byte{[]byte("hello"), {}, []byte("a"), []byte("b"), {}, []byte("bye"), {}, []byte("lop")}
	for _, closes := range []bool{true, false} {
		r, w, err := pipe.New(nil, "", &pipe.Options{OneWay: true})
		if err != nil {
			t.Fatal(err)
		}
		p := shmtest.Start(t, ctx, sendStrings, stringsArgs{W: w, Strings: strings, Pause: 10 * time.Millisecond, Close: closes})
		w.Close()
		for _, s := range strings {
			for range 2000 {
				if ok, err := r.PollTimeout(10 * time.Millisecond); err != nil {
					t.Fatal(err)
				} else if ok {
					break
				}
			}
			if b, err := r.RecvBytes(ctx); err != nil || !bytes.Equal(b, s) {
				t.Fatalf("RecvBytes = %q, %v; want %q", b, err, s)
			}
		}
		if _, err := r.RecvBytes(ctx); err != io.EOF {
			t.Fatalf("close %v: RecvBytes at the end = %v, want io.EOF", closes, err)
		}
		if err := p.Join(ctx); err != nil {
			t.Fatal(err)
		}
		r.Close()
	}
}

// TestDontMerge is Python's test_dont_merge: polls do not merge or split
// messages.
func TestDontMerge(t *testing.T) {
	ctx := shmtest.Deadline(t, 60*time.Second)
	a, b, err := pipe.New(nil, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	for _, d := range []time.Duration{0, 100 * time.Millisecond} {
		if ok, _ := a.PollTimeout(d); ok {
			t.Fatalf("PollTimeout(%v) = true on an empty pipe", d)
		}
	}
	p := shmtest.Start(t, ctx, sendStrings, stringsArgs{W: b, Strings: [][]byte{[]byte("a"), []byte("b"), []byte("cd")}, Close: true})
	b.Close()
	want := func(s string) {
		t.Helper()
		if m, err := a.RecvBytes(ctx); err != nil || string(m) != s {
			t.Fatalf("RecvBytes = %q, %v; want %q", m, err, s)
		}
	}
	poll := func(d time.Duration) {
		t.Helper()
		if ok, err := a.PollTimeout(d); !ok || err != nil {
			t.Fatalf("PollTimeout(%v) = %v, %v; want true", d, ok, err)
		}
	}
	want("a")
	poll(time.Second)
	poll(time.Second)
	want("b")
	poll(time.Second)
	poll(time.Second)
	poll(0)
	want("cd")
	p.Join(ctx)
}

var pollOnce = process.MustRegister("pipe-poll-once", func(ctx context.Context, r *pipe.End) error {
	ok, err := r.PollTimeout(5 * time.Second)
	if err != nil || !ok {
		return fmt.Errorf("Poll = %v, %v", ok, err)
	}
	os.Exit(0) // exit holding the message Poll took: it must not be lost
	return nil
})

// TestBoundaries is Python's test_boundaries: a child that polls and exits
// neither takes part of a message nor loses the one it polled.
func TestBoundaries(t *testing.T) {
	ctx := shmtest.Deadline(t, 60*time.Second)
	r, w, err := pipe.New(nil, "", &pipe.Options{OneWay: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	p := shmtest.Start(t, ctx, pollOnce, r)
	time.Sleep(50 * time.Millisecond)
	for _, m := range []string{"first", "second"} {
		w.SendBytes(ctx, []byte(m))
	}
	w.Close()
	if err := p.Join(ctx); err != nil {
		t.Fatal(err)
	}
	var got []string
	for {
		m, err := r.RecvBytes(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(m))
	}
	if len(got) != 2 || got[0]+got[1] != "firstsecond" && got[0]+got[1] != "secondfirst" {
		t.Fatalf("received %q, want first and second", got)
	}
}

// TestKillPeer: a peer killed by SIGKILL is a closed peer: receives drain
// and return io.EOF, sends fail with ErrPeerClosed.
func TestKillPeer(t *testing.T) {
	ctx := shmtest.Deadline(t, 60*time.Second)
	a, b, err := pipe.New(nil, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	p := shmtest.Start(t, ctx, echo, b)
	b.Close()
	a.SendBytes(ctx, []byte("ping"))
	if m, err := a.RecvBytes(ctx); err != nil || string(m) != "ping" {
		t.Fatalf("RecvBytes = %q, %v", m, err)
	}
	errc := make(chan error, 1)
	var killed time.Time
	go func() { _, err := a.RecvBytes(ctx); errc <- err }()
	time.Sleep(30 * time.Millisecond) // the receive waits (either order is fine)
	killed = time.Now()
	p.Kill()
	if err := <-errc; err != io.EOF {
		t.Fatalf("RecvBytes across the kill = %v, want io.EOF", err)
	}
	t.Logf("end of stream %v after SIGKILL", time.Since(killed))
	if err := a.SendBytes(ctx, []byte("x")); !errors.Is(err, pipe.ErrPeerClosed) {
		t.Fatalf("SendBytes to the killed peer = %v, want ErrPeerClosed", err)
	}
}

// TestKillPeerSend: a send blocked on a full ring to a peer that is then
// killed fails with ErrPeerClosed.
func TestKillPeerSend(t *testing.T) {
	ctx := shmtest.Deadline(t, 60*time.Second)
	r, w, err := pipe.New(nil, "", &pipe.Options{OneWay: true, Capacity: 1024})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	p := shmtest.Start(t, ctx, pollOnce, r) // polls once, then exits
	r.Close()
	errc := make(chan error, 1)
	go func() {
		for {
			if err := w.SendBytes(ctx, make([]byte, 100)); err != nil {
				errc <- err
				return
			}
		}
	}()
	if err := p.Join(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; !errors.Is(err, pipe.ErrPeerClosed) {
		t.Fatalf("SendBytes to an exited reader = %v, want ErrPeerClosed", err)
	}
}

// The random messages of TestMillion: an 8-byte sequence number, then
// 0 to maxPayload bytes derived from it.
const maxPayload = 600

func millionMsg(dst []byte, dir uint64, i uint64) []byte {
	r := rand.New(rand.NewPCG(dir, i))
	n := r.IntN(maxPayload + 1)
	dst = binary.LittleEndian.AppendUint64(dst[:0], i)
	for range n {
		dst = append(dst, byte(r.Uint32()))
	}
	return dst
}

type millionArgs struct {
	C *pipe.End
	N int
}

// exchange sends n messages of direction dir through c while it receives
// n of the other direction, checking each.
func exchange(ctx context.Context, c *pipe.End, dir uint64, n int) error {
	var wg sync.WaitGroup
	var serr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		var buf []byte
		for i := range n {
			buf = millionMsg(buf, dir, uint64(i))
			if serr = c.SendBytes(ctx, buf); serr != nil {
				return
			}
		}
	}()
	rbuf := make([]byte, 8+maxPayload)
	var want []byte
	var rerr error
	for i := range n {
		k, err := c.RecvBytesInto(ctx, rbuf)
		if err != nil {
			rerr = fmt.Errorf("message %d: %w", i, err)
			break
		}
		want = millionMsg(want, 1-dir, uint64(i))
		if !bytes.Equal(rbuf[:k], want) {
			rerr = fmt.Errorf("message %d: got %d bytes (seq %d), want %d", i, k, binary.LittleEndian.Uint64(rbuf), len(want))
			break
		}
	}
	wg.Wait()
	return errors.Join(serr, rerr)
}

var millionChild = process.MustRegister("pipe-million", func(ctx context.Context, a millionArgs) error {
	return exchange(ctx, a.C, 1, a.N)
})

// TestMillion sends PIPE_MESSAGES messages (default 1 000 000, 100 000
// under the race detector) of random sizes each way at once between parent
// and child, and checks every byte and the order. The full run with the
// race detector:
//
//	PIPE_MESSAGES=1000000 go test -race -run TestMillion ./pipe/
func TestMillion(t *testing.T) {
	n := 1_000_000
	if raceEnabled {
		n = 100_000
	}
	if s := os.Getenv("PIPE_MESSAGES"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			t.Fatal(err)
		}
	}
	ctx := shmtest.Deadline(t, 10*time.Minute)
	a, b, err := pipe.New(nil, "", &pipe.Options{Capacity: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	start0 := time.Now()
	p := shmtest.Start(t, ctx, millionChild, millionArgs{b, n})
	b.Close()
	if err := exchange(ctx, a, 0, n); err != nil {
		t.Fatal(err)
	}
	if err := p.Join(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d messages each way in %v", n, time.Since(start0))
}

type dialArgs struct{ Network, Addr string }

// dialHello is Python's _TestListenerClient._test.
var dialHello = process.MustRegister("pipe-dial-hello", func(ctx context.Context, a dialArgs) error {
	c, err := pipe.Dial(ctx, a.Network, a.Addr, &pipe.NetOptions{AuthKey: []byte("key")})
	if err != nil {
		return err
	}
	if err := c.Send(ctx, "hello"); err != nil {
		return err
	}
	return c.Close()
})

// TestListenerClientProcess is Python's test_listener_client and
// test_issue14725: a child dials, sends and closes, before or after the
// parent accepts.
func TestListenerClientProcess(t *testing.T) {
	ctx := shmtest.Deadline(t, 60*time.Second)
	for _, network := range networks {
		for _, late := range []bool{false, true} {
			l := listen(t, network, &pipe.NetOptions{AuthKey: []byte("key")})
			p := shmtest.Start(t, ctx, dialHello, dialArgs{l.Addr().Network(), l.Addr().String()})
			if late {
				p.Join(ctx) // the client has come and gone
			}
			c, err := l.Accept(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var s string
			if err := c.Recv(ctx, &s); err != nil || s != "hello" {
				t.Fatalf("%s: Recv = %q, %v", network, s, err)
			}
			c.Close()
			if err := p.Join(ctx); err != nil {
				t.Fatal(err)
			}
			l.Close()
		}
	}
}

// TestWaitProcesses: Wait over a pipe and a socket, fed by children.
func TestWaitProcesses(t *testing.T) {
	ctx := shmtest.Deadline(t, 60*time.Second)
	r, w, err := pipe.New(nil, "", &pipe.Options{OneWay: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	l := listen(t, "unix", &pipe.NetOptions{AuthKey: []byte("key")})
	p1 := shmtest.Start(t, ctx, sendStrings, stringsArgs{W: w, Strings: [][]byte{[]byte("from the pipe")}, Pause: 50 * time.Millisecond, Close: true})
	w.Close()
	p2 := shmtest.Start(t, ctx, dialHello, dialArgs{"unix", l.Addr().String()})
	sc, err := l.Accept(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	got := map[pipe.Connection]int{}
	for len(got) < 2 || got[r] < 2 || got[sc] < 2 {
		ready, err := pipe.Wait(ctx, r, sc)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range ready {
			if _, err := c.RecvBytes(ctx); err != nil && err != io.EOF {
				t.Fatal(err)
			}
			got[c]++ // a message, then the end of the stream
		}
	}
	p1.Join(ctx)
	p2.Join(ctx)
}

// dieMidSend sends one message, then claims room for a second in the ring
// under its end and exits without committing it: a process killed in the
// middle of a send.
var dieMidSend = process.MustRegister("pipe-die-mid-send", func(ctx context.Context, w *pipe.End) error {
	if err := w.SendBytes(ctx, []byte("one")); err != nil {
		return err
	}
	obj, err := shm.OpenHandle(w.Handle(), shm.KindPipe)
	if err != nil {
		return err
	}
	off, err := obj.Payload().Uint64(0) // ring0: end 1 sends into it
	if err != nil {
		return err
	}
	h := obj.Handle()
	h.Offset, h.Kind = off.Load(), shm.KindRing
	r, err := ringbuf.OpenHandle(h, nil)
	if err != nil {
		return err
	}
	if _, err := r.Claim(ctx, 10); err != nil {
		return err
	}
	os.Exit(0)
	return nil
})

// TestDieMidSend: the message before arrives, then the end of the stream;
// the half-sent one is skipped.
func TestDieMidSend(t *testing.T) {
	ctx := shmtest.Deadline(t, 60*time.Second)
	r, w, err := pipe.New(nil, "", &pipe.Options{OneWay: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	p := shmtest.Start(t, ctx, dieMidSend, w)
	w.Close()
	if m, err := r.RecvBytes(ctx); err != nil || string(m) != "one" {
		t.Fatalf("RecvBytes = %q, %v", m, err)
	}
	if m, err := r.RecvBytes(ctx); err != io.EOF {
		t.Fatalf("RecvBytes after the writer died mid-send = %q, %v; want io.EOF", m, err)
	}
	p.Join(ctx)
}
