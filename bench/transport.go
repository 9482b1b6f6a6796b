package bench

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/shmkit/shmkit/condvar"
	"github.com/shmkit/shmkit/pipe"
	"github.com/shmkit/shmkit/process"
	"github.com/shmkit/shmkit/ringbuf"
	"github.com/shmkit/shmkit/semaphore"
	"github.com/shmkit/shmkit/shm"
)

// Group sorts transports in a report: what a row is compared with depends on
// it.
type Group string

// The groups, in the order a report lists them.
const (
	Floor     Group = "floor"      // written here on raw shared memory: the best this machine does
	Shmkit    Group = "shmkit"     // shmkit's own types
	Kernel    Group = "kernel"     // os pipes, sockets
	InProcess Group = "in-process" // goroutines of one process: no process boundary at all
	Python    Group = "python"     // Python's multiprocessing, run by python3
)

var groupOrder = []Group{Floor, Shmkit, Kernel, InProcess, Python}

// Conn is one end of a two-way message link, used by one goroutine at a
// time. Messages have a size both ends know.
type Conn interface {
	// Send sends one message of n bytes, which fill writes, in place where
	// the transport allows.
	Send(n int, fill func([]byte)) error
	// Recv receives one message, which must be n bytes long, and hands it
	// to use, in place where the transport allows, before letting it go.
	Recv(n int, use func([]byte)) error
	// Close lets go of this end.
	Close() error
}

// Locker is one process's handle on a lock shared between processes.
type Locker interface {
	Lock(ctx context.Context) error
	Unlock() error
	Close() error
}

// LinkOptions says what a link must carry.
type LinkOptions struct {
	// MaxMsg is the largest message, in bytes.
	MaxMsg int
	// Multi asks for a link that several processes send on and receive
	// from at once (Transport.Multi).
	Multi bool
	// Spin is how long a spinning transport spins before it sleeps.
	Spin time.Duration
}

// LinkArgs is what a partner process needs to open its end of a link: it
// travels to the child through process.Start, so the shared objects in it
// arrive opened. A transport uses the fields it needs.
type LinkArgs struct {
	Object  *shm.Object
	Rings   []*ringbuf.Ring
	Queues  []*ringbuf.Queue[[]byte]
	Lock    *semaphore.Lock
	Event   *condvar.Event
	Pipe    *pipe.End
	Network string
	Address string
}

// Link is what Transport.Open makes in the parent: the parent's end, the
// partner's arguments, and how to let go of both.
type Link struct {
	// Args is passed to the partner process, whose Transport.Dial or
	// DialLock opens its end from it.
	Args LinkArgs
	// Proc adds to the partner's process.Options (a pipe's descriptors).
	Proc *process.Options
	// Started, if not nil, runs once the partner has started (to close
	// the partner's copy of a descriptor).
	Started func()
	// Here returns the parent's end once the partner has started; nil for
	// transports that only lock.
	Here func(ctx context.Context) (Conn, error)
	// Local returns an end for an in-process partner (side 1), or for
	// more of them in N×M (side 0 sends like the parent, side 1 receives
	// like the partner). Only for Transport.InProcess.
	Local func(side int) (Conn, error)
	// LocalLock returns a lock handle for an in-process partner.
	LocalLock func() (Locker, error)
	// Close releases what Open made, once every end is closed.
	Close func() error
}

// Transport is one way for two processes (or goroutines) to exchange
// messages or share a lock. Register one with Register; every scenario that
// can use it then does. The zero value is not useful.
type Transport struct {
	// Name is the transport's row label, unique.
	Name string
	// Group is what kind of transport it is.
	Group Group
	// Floor names the transport whose results this one's are divided by
	// in the "vs floor" column; empty for none.
	Floor string
	// About says in one line what is measured.
	About string
	// MaxMsg is the largest message the transport carries; 0 means any.
	MaxMsg int
	// Multi is true when several processes may send and receive on one
	// link at once (the N×M scenario).
	Multi bool
	// InProcess is true when the partner is a goroutine of this process:
	// Link.Local then gives its end, and Dial is not used.
	InProcess bool
	// Only, if not nil, lists the scenarios the transport takes part in.
	Only []string
	// Open makes a link in the parent (message transports).
	Open func(ctx context.Context, o LinkOptions) (*Link, error)
	// Dial opens an end in a partner process from the link's arguments:
	// side 1 is the partner's end, side 0 one like the parent's.
	Dial func(ctx context.Context, a LinkArgs, o LinkOptions, side int) (Conn, error)
	// OpenLock makes a shared lock in the parent (lock transports).
	OpenLock func(ctx context.Context, o LinkOptions) (*Link, error)
	// DialLock opens the lock in a partner process.
	DialLock func(ctx context.Context, a LinkArgs, o LinkOptions) (Locker, error)
	// OpenPool starts a pool of workers (pool transports, for the pool
	// scenario): this process's goroutines, or worker processes the pool
	// starts itself.
	OpenPool func(ctx context.Context, workers int) (TaskPool, error)
	// PrepPool, if set, runs untimed before each pool of the start+stop
	// row is opened, and such a transport has no Map row (its Map is its
	// pool's).
	PrepPool func(ctx context.Context, workers int) error
}

var registry struct {
	sync.Mutex
	transports []*Transport
	scenarios  []*Scenario
}

// Register adds a transport to every run that selects it. It panics if the
// name is taken or the transport has none of Open, OpenLock and OpenPool;
// call it from an init function or a package-level var.
func Register(t Transport) bool {
	registry.Lock()
	defer registry.Unlock()
	if t.Name == "" || (t.Open == nil && t.OpenLock == nil && t.OpenPool == nil) {
		panic("bench: Register: a transport needs a name and Open, OpenLock or OpenPool")
	}
	if !t.InProcess && ((t.Open != nil && t.Dial == nil) || (t.OpenLock != nil && t.DialLock == nil)) {
		panic("bench: Register: " + t.Name + ": a cross-process transport needs Dial or DialLock")
	}
	for _, o := range registry.transports {
		if o.Name == t.Name {
			panic("bench: Register: transport registered twice: " + t.Name)
		}
	}
	registry.transports = append(registry.transports, &t)
	return true
}

// Transports returns the registered transports, floors first.
func Transports() []Transport {
	registry.Lock()
	defer registry.Unlock()
	var out []Transport
	for _, g := range groupOrder {
		for _, t := range registry.transports {
			if t.Group == g {
				out = append(out, *t)
			}
		}
	}
	return out
}

func transportNamed(name string) (*Transport, bool) {
	registry.Lock()
	defer registry.Unlock()
	for _, t := range registry.transports {
		if t.Name == name {
			return t, true
		}
	}
	return nil, false
}

func (t *Transport) in(scenario string) bool {
	return t.Only == nil || slices.Contains(t.Only, scenario)
}

// Messages. Every message is one or more records of the scenario's size
// (several when batched); each record starts with a little-endian sequence
// number, then (from 16 bytes) a time stamp, then a fixed pattern. The sender writes every
// byte; the receiver reads every byte (touch).

const (
	stopSeq = ^uint64(0) // the last message of a stream
	minMsg  = 8          // the sequence number; the time stamp follows where there is room
)

var pattern = func() []byte {
	b := make([]byte, 64<<10)
	for i := range b {
		b[i] = byte(i*7 + 1)
	}
	return b
}()

// fill writes records of size bytes into b, numbered from seq.
func fill(b []byte, size int, seq uint64, stamp int64) {
	for off := 0; off+size <= len(b); off += size {
		r := b[off : off+size]
		for n := 0; n < len(r); n += copy(r[n:], pattern) {
		}
		binary.LittleEndian.PutUint64(r, seq)
		if len(r) >= 16 {
			binary.LittleEndian.PutUint64(r[8:], uint64(stamp))
		}
		seq++
	}
}

// header reads the first record's sequence number and time stamp (zero in
// a record too short for one).
func header(b []byte) (seq uint64, stamp int64, err error) {
	if len(b) < minMsg {
		return 0, 0, fmt.Errorf("bench: message of %d bytes, want at least %d", len(b), minMsg)
	}
	seq = binary.LittleEndian.Uint64(b)
	if len(b) >= 16 {
		stamp = int64(binary.LittleEndian.Uint64(b[8:]))
	}
	return seq, stamp, nil
}

// touch reads every byte of b, eight at a time.
func touch(b []byte) uint64 {
	var x uint64
	for len(b) >= 8 {
		x ^= binary.LittleEndian.Uint64(b)
		b = b[8:]
	}
	for _, c := range b {
		x ^= uint64(c)
	}
	return x
}

// reader receives messages and checks them: the receiving half of every
// scenario.
type reader struct {
	sink uint64
	seq  uint64
	ts   int64
	err  error
}

func (r *reader) use(b []byte) {
	r.sink ^= touch(b)
	r.seq, r.ts, r.err = header(b)
}

func (r *reader) recv(c Conn, n int) error {
	if err := c.Recv(n, r.use); err != nil {
		return err
	}
	return r.err
}

// writer sends messages: the sending half.
type writer struct {
	size  int
	seq   uint64
	stamp bool
	ts    int64
}

func (w *writer) fill(b []byte) {
	if w.stamp {
		w.ts = time.Now().UnixNano()
	}
	fill(b, w.size, w.seq, w.ts)
}

func (w *writer) send(c Conn, n int, seq uint64) error {
	w.seq = seq
	return c.Send(n, w.fill)
}
