package shm

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"weak"

	"github.com/shmkit/shmkit/internal/layout"
	"github.com/shmkit/shmkit/internal/liveness"
	"github.com/shmkit/shmkit/internal/sys"
)

const (
	slotSize = liveness.SlotSize
	maxSlots = liveness.MaxSlots
)

// DefaultOpenWait is how long Open waits for a segment's creator to finish
// setting it up when Options.OpenWait is zero.
const DefaultOpenWait = 2 * time.Second

// Options tunes Create, Open and New. The zero value (or a nil *Options)
// means the defaults.
type Options struct {
	// Slots is the number of process-table slots, that is, how many
	// processes may have the segment attached at once. Zero means
	// DefaultSlots; at most liveness.MaxSlots (1024). Create and New only.
	Slots int

	// OpenWait bounds how long Open waits for the creator to store the
	// ready word. Zero means DefaultOpenWait; negative means do not wait.
	OpenWait time.Duration

	// Lazy skips reserving the segment's pages at creation. Creating a
	// large segment that will be touched sparsely is then cheaper, but a
	// full /dev/shm shows up as SIGBUS when a page is first touched
	// instead of as ErrNoSpace from Create. Create and New only.
	Lazy bool

	// Observe opens without taking a slot of the process table: the
	// process can read the segment and ask who is alive but cannot own a
	// lock. For tools such as shmkit ls. Open only.
	Observe bool
}

func (o *Options) slots() (int, error) {
	if o == nil || o.Slots == 0 {
		return DefaultSlots, nil
	}
	if o.Slots < 0 || o.Slots > maxSlots {
		return 0, fmt.Errorf("%w: %d slots, want 1 to %d", ErrSize, o.Slots, maxSlots)
	}
	return o.Slots, nil
}

// Token names one process's attachment to one segment, for owner words in
// shared memory. See internal/liveness.
type Token = liveness.Token

// Segment is one process's reference to a mapped shared-memory segment.
//
// Create, Open and New make one; it must not be copied. Its methods may be
// called from many goroutines at once. Close lets go of this reference: the
// mapping stays while Objects taken from the segment are open. After Close,
// methods return ErrClosed.
//
// When the process dies, the kernel unmaps the segment and frees its slot
// of the process table, so other processes see it as gone; a named segment's
// file stays until someone calls Remove (shmkit gc finds such files).
type Segment struct {
	_      noCopy
	m      *mapping
	closed atomic.Bool
}

// noCopy makes go vet report copies (see sync.noCopy).
type noCopy struct{}

func (*noCopy) Lock()   {}
func (*noCopy) Unlock() {}

// mapping is what every reference to one attachment of a segment in this
// process shares.
type mapping struct {
	name  string   // full name, "" if anonymous
	f     *os.File // this process's own open of the file
	data  []byte
	view  layout.View
	id    uint64
	size  uint64
	anon  bool
	table *liveness.Table
	self  Token // this attachment's slot, 0 for an observer

	cursor    *atomic.Uint64
	allocLock *atomic.Uint32
	allocMu   sync.Mutex // held with allocLock: see lockAlloc
	objects   *atomic.Uint32
	dirty     *atomic.Uint64 // see Alloc
	created   time.Time
	creator   int

	refs    atomic.Int64
	cleanup runtime.Cleanup
}

// registry holds this process's attachments by segment id, so that handles
// of anonymous segments passed to this process resolve, and so that a
// handle of a segment already open here reuses its mapping.
//
// It holds weak pointers, so that a mapping nobody refers to any more can be
// found by the garbage collector and torn down by its cleanup.
var registry struct {
	sync.Mutex
	byID map[uint64]weak.Pointer[mapping]
}

func register(m *mapping) {
	registry.Lock()
	defer registry.Unlock()
	if registry.byID == nil {
		registry.byID = make(map[uint64]weak.Pointer[mapping])
	}
	if old := registry.byID[m.id].Value(); old == nil || old.refs.Load() <= 0 {
		registry.byID[m.id] = weak.Make(m)
	}
}

// lookupID returns a new reference to an attachment of segment id in this
// process, or nil.
func lookupID(id uint64) *mapping {
	registry.Lock()
	defer registry.Unlock()
	m := registry.byID[id].Value()
	if m == nil || !m.ref() {
		return nil
	}
	return m
}

// ref takes a reference unless the mapping is already gone.
func (m *mapping) ref() bool {
	for {
		n := m.refs.Load()
		if n <= 0 {
			return false
		}
		if m.refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// unref drops a reference, tearing the mapping down with the last one.
func (m *mapping) unref() error {
	if m.refs.Add(-1) != 0 {
		return nil
	}
	registry.Lock()
	if registry.byID[m.id].Value() == m {
		delete(registry.byID, m.id)
	}
	registry.Unlock()
	m.cleanup.Stop()
	return m.teardown()
}

func (m *mapping) teardown() error {
	var errs []error
	if m.self != 0 {
		errs = append(errs, m.table.Release(m.self))
	}
	errs = append(errs, sys.Unmap(m.data), m.f.Close())
	return errors.Join(errs...)
}

// newSegment wraps a fresh mapping with one reference, registers it, and
// arranges for the mapping to go if every reference is dropped unclosed.
func newSegment(m *mapping) *Segment {
	m.refs.Store(1)
	register(m)
	s := &Segment{m: m}
	return s
}

// Create creates the named segment with size bytes in all (header and
// process table included) and attaches this process to it. It fails with an
// error wrapping ErrExist if the name is taken. The file has permissions
// 0600. name gets the Prefix if it lacks it.
func Create(name string, size int, opts *Options) (_ *Segment, err error) {
	full, err := fullName(name)
	if err != nil {
		return nil, err
	}
	slots, err := opts.slots()
	if err != nil {
		return nil, err
	}
	if err := checkSize(size, slots); err != nil {
		return nil, err
	}
	f, err := sys.OpenShm(full, true)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			if rerr := sys.UnlinkShm(full); rerr != nil {
				err = fmt.Errorf("%w; cleanup also failed: %v", err, rerr)
			}
		}
	}()
	return create(f, full, size, slots, opts != nil && opts.Lazy)
}

// New creates an anonymous segment with size bytes in all and attaches this
// process to it. Nobody can open it by name; it reaches child processes as an
// argument of process.Start, and the kernel frees it when the last process
// lets go of it. Like Python's shared memory from multiprocessing.heap.
func New(size int, opts *Options) (*Segment, error) {
	slots, err := opts.slots()
	if err != nil {
		return nil, err
	}
	if err := checkSize(size, slots); err != nil {
		return nil, err
	}
	f, err := sys.MemfdCreate("shmkit")
	if err != nil {
		return nil, err
	}
	return create(f, "", size, slots, opts != nil && opts.Lazy)
}

func checkSize(size, slots int) error {
	if size <= 0 || uint64(size) < minSize(slots) {
		return fmt.Errorf("%w: %d bytes; with %d slots the least is %d", ErrSize, size, slots, minSize(slots))
	}
	if uint64(size) > MaxSize {
		return fmt.Errorf("%w: %d bytes; the most is %d", ErrSize, size, uint64(MaxSize))
	}
	return nil
}

// create sizes, maps and formats the new file f, then publishes it by
// storing the ready word. It owns f: on failure it closes it.
func create(f *os.File, name string, size, slots int, lazy bool) (_ *Segment, err error) {
	var data []byte
	defer func() {
		if err != nil {
			if data != nil {
				sys.Unmap(data)
			}
			f.Close()
		}
	}()
	if err := sys.Ftruncate(f, int64(size)); err != nil {
		return nil, noSpace(err, size)
	}
	if !lazy {
		if err := sys.Fallocate(f, int64(size)); err != nil {
			return nil, noSpace(err, size)
		}
	}
	if name == "" {
		if err := sys.SealSize(f); err != nil {
			return nil, err
		}
	}
	data, err = sys.Map(f, size)
	if err != nil {
		return nil, noSpace(err, size)
	}
	id, err := randomID()
	if err != nil {
		return nil, err
	}
	// Nobody reads the header before the ready word, stored last, so plain
	// writes are enough until then.
	h := data[:HeaderSize]
	copy(h[offMagic:], magic)
	le.PutUint32(h[offVersion:], Version)
	le.PutUint64(h[offSize:], uint64(size))
	le.PutUint32(h[offTableOff:], HeaderSize)
	le.PutUint32(h[offSlots:], uint32(slots))
	le.PutUint64(h[offID:], id)
	le.PutUint32(h[offCreatorPid:], uint32(os.Getpid()))
	if name == "" {
		le.PutUint32(h[offFlags:], flagAnonymous)
	}
	le.PutUint64(h[offCreated:], uint64(time.Now().UnixNano()))
	le.PutUint64(h[offDataOff:], dataOffset(slots))
	le.PutUint64(h[offCursor:], dataOffset(slots))
	m, err := attach(f, name, data, false)
	if err != nil {
		return nil, err
	}
	ready, _ := m.view.Uint32(offReady) // in bounds: checked by attach
	ready.Store(readyValue)
	return newSegment(m), nil
}

func noSpace(err error, size int) error {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.ENOMEM) || errors.Is(err, syscall.EFBIG) {
		return fmt.Errorf("%w: %d bytes in %s: %w", ErrNoSpace, size, sys.ShmDir(), err)
	}
	return err
}

func randomID() (uint64, error) {
	var b [8]byte
	for {
		if _, err := io.ReadFull(rand.Reader, b[:]); err != nil {
			return 0, err
		}
		if id := binary.LittleEndian.Uint64(b[:]); id != 0 {
			return id, nil
		}
	}
}

// attach builds the mapping of a checked header: views of its words, the
// process table and, unless observing, a slot of it. It does not own f or
// data.
func attach(f *os.File, name string, data []byte, observe bool) (*mapping, error) {
	h := decodeHeader(data)
	v := layout.Of(data)
	m := &mapping{
		name:    name,
		f:       f,
		data:    data,
		view:    v,
		id:      h.id,
		size:    h.size,
		anon:    h.flags&flagAnonymous != 0,
		created: time.Unix(0, h.created),
		creator: int(h.creatorPid),
	}
	var err error
	if m.cursor, err = v.Uint64(offCursor); err != nil {
		return nil, err
	}
	if m.allocLock, err = v.Uint32(offAllocLock); err != nil {
		return nil, err
	}
	if m.objects, err = v.Uint32(offObjects); err != nil {
		return nil, err
	}
	if m.dirty, err = v.Uint64(offDirty); err != nil {
		return nil, err
	}
	tv, err := v.Sub(HeaderSize, uint64(h.slots)*slotSize)
	if err != nil {
		return nil, err
	}
	if m.table, err = liveness.New(h.id, f, tv, int(h.slots)); err != nil {
		return nil, err
	}
	if !observe {
		if m.self, err = m.table.Claim(); err != nil {
			return nil, fmt.Errorf("attach %s: %w", m.displayName(), err)
		}
	}
	// A safety net for a Segment dropped without Close: the slot and the
	// mapping go when the garbage collector finds nothing refers to it.
	m.cleanup = runtime.AddCleanup(m, func(t *teardownArgs) { t.run() }, &teardownArgs{table: m.table, self: m.self, data: data, f: f})
	return m, nil
}

// teardownArgs is what the cleanup of an unreachable mapping needs; it must
// not refer to the mapping itself.
type teardownArgs struct {
	table *liveness.Table
	self  Token
	data  []byte
	f     *os.File
}

func (t *teardownArgs) run() {
	if t.self != 0 {
		t.table.Release(t.self)
	}
	sys.Unmap(t.data)
	t.f.Close()
}

func (m *mapping) displayName() string {
	if m.name == "" {
		return fmt.Sprintf("anonymous segment %016x", m.id)
	}
	return m.name
}

// Open attaches this process to the named segment. It fails with an error
// wrapping ErrNotExist if there is none, ErrNotShmkit if the file is not a
// segment, ErrVersion, ErrTruncated or ErrCorrupt if its header is wrong,
// and ErrNotReady if its creator has not finished within opts.OpenWait.
// name gets the Prefix if it lacks it.
func Open(name string, opts *Options) (_ *Segment, err error) {
	full, err := fullName(name)
	if err != nil {
		return nil, err
	}
	f, err := sys.OpenShm(full, false)
	if err != nil {
		return nil, err
	}
	wait := DefaultOpenWait
	observe := false
	if opts != nil {
		if opts.OpenWait != 0 {
			wait = opts.OpenWait
		}
		observe = opts.Observe
	}
	m, err := openFile(f, full, time.Now().Add(wait), observe)
	if err != nil {
		return nil, err
	}
	return newSegment(m), nil
}

// openFile checks and maps the segment in f, waiting until deadline for its
// ready word. It owns f: on failure it closes it.
func openFile(f *os.File, name string, deadline time.Time, observe bool) (_ *mapping, err error) {
	var data []byte
	defer func() {
		if err != nil {
			if data != nil {
				sys.Unmap(data)
			}
			f.Close()
			err = fmt.Errorf("open %s: %w", displayName(name), err)
		}
	}()
	var h header
	var fileSize int64
	for {
		h, fileSize, err = readHeader(f)
		if err == nil {
			err = h.validate(fileSize)
		}
		// A header of zeros, or a file not yet sized, may be a creator
		// at work: wait for it, within reason.
		creating := errors.Is(err, ErrNotReady) ||
			(errors.Is(err, ErrNotShmkit) && h.magic == [8]byte{})
		if err == nil || !creating {
			break
		}
		if !time.Now().Before(deadline) {
			if !errors.Is(err, ErrNotReady) {
				err = fmt.Errorf("%w: header all zero", ErrNotReady)
			}
			break
		}
		time.Sleep(time.Millisecond)
	}
	if err != nil {
		return nil, err
	}
	data, err = sys.Map(f, int(h.size))
	if err != nil {
		return nil, err
	}
	// Check again what we mapped: the file may have changed under us.
	if h2 := decodeHeader(data); h2 != h {
		if err := h2.validate(int64(len(data))); err != nil {
			return nil, err
		}
		if h2.id != h.id || h2.size != h.size || h2.slots != h.slots {
			return nil, fmt.Errorf("%w: header changed while opening", ErrCorrupt)
		}
	}
	return attach(f, name, data, observe)
}

func displayName(name string) string {
	if name == "" {
		return "anonymous segment"
	}
	return name
}

// readHeader reads the header of the file with pread, without mapping it.
// A file shorter than a header is a creator at work if it is empty or all
// zero (ErrNotReady), a cut segment if it starts with the magic
// (ErrTruncated), and something else otherwise (ErrNotShmkit).
func readHeader(f *os.File) (header, int64, error) {
	st, err := f.Stat()
	if err != nil {
		return header{}, 0, err
	}
	var b [HeaderSize]byte
	n, err := f.ReadAt(b[:], 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return header{}, 0, err
	}
	h := decodeHeader(b[:])
	if n < HeaderSize {
		m := min(n, len(magic))
		switch {
		case b == [HeaderSize]byte{}:
			return h, st.Size(), fmt.Errorf("%w: %d bytes", ErrNotReady, n)
		case string(b[:m]) == magic[:m]:
			return h, st.Size(), fmt.Errorf("%w: %d bytes, less than a header", ErrTruncated, n)
		}
		return h, st.Size(), ErrNotShmkit
	}
	return h, st.Size(), nil
}

// Inherit attaches this process to the segment whose file f another process
// passed down (process.Start does this for anonymous segments). It takes an
// open of the file of its own, so that its claim dies with this process and
// the passer's does not live on through f, and closes f.
func Inherit(f *os.File) (*Segment, error) {
	own, err := sys.Reopen(f)
	switch {
	case err == nil:
		f.Close()
	case errors.Is(err, errors.ErrUnsupported):
		// Locks belong to the process here: f is as good as our own.
		own = f
	default:
		f.Close()
		return nil, err
	}
	m, err := openFile(own, "", time.Now(), false)
	if err != nil {
		return nil, err
	}
	if !m.anon {
		// A named segment passed as a descriptor: keep it anonymous to
		// us; it is still reached by its id.
		m.anon = true
	}
	return newSegment(m), nil
}

// Remove deletes the named segment's name, as Python's
// SharedMemory.unlink does. Processes that have it mapped keep it until they
// close it; a later Open of the name fails. name gets the Prefix if it lacks
// it.
func Remove(name string) error {
	full, err := fullName(name)
	if err != nil {
		return err
	}
	return sys.UnlinkShm(full)
}

// use returns the mapping with a reference taken for one call, so that a
// Close in another goroutine cannot unmap it under the call; the caller
// drops it with unref.
func (s *Segment) use() (*mapping, error) {
	if s == nil || s.m == nil || s.closed.Load() || !s.m.ref() {
		return nil, ErrClosed
	}
	return s.m, nil
}

// Close lets go of this reference to the segment. The mapping goes once
// every Object taken from it is closed too. A second Close returns
// ErrClosed. Close does not remove a named segment: see Remove.
func (s *Segment) Close() error {
	if s == nil || s.m == nil || !s.closed.CompareAndSwap(false, true) {
		return ErrClosed
	}
	return s.m.unref()
}

// Remove deletes the segment's name (see the package function Remove). It
// fails with ErrName for an anonymous segment.
func (s *Segment) Remove() error {
	m, err := s.use()
	if err != nil {
		return err
	}
	defer m.unref()
	if m.name == "" {
		return fmt.Errorf("%w: anonymous segment has no name to remove", ErrName)
	}
	return sys.UnlinkShm(m.name)
}

// Name is the segment's name with the Prefix, or "" for an anonymous one.
func (s *Segment) Name() string { return s.m.name }

// ID is the random number that tells this segment from every other.
func (s *Segment) ID() uint64 { return s.m.id }

// Size is the segment's size in bytes, header and process table included.
func (s *Segment) Size() int { return int(s.m.size) }

// Anonymous reports whether the segment has no name.
func (s *Segment) Anonymous() bool { return s.m.anon }

// File returns the segment's open file, for passing to a child process
// (process.Start does it). It stays owned by the segment: do not close it.
func (s *Segment) File() (*os.File, error) {
	m, err := s.use()
	if err != nil {
		return nil, err
	}
	defer m.unref()
	return m.f, nil
}

// Slots is the number of slots in the segment's process table.
func (s *Segment) Slots() int { return s.m.table.Len() }

// Self is the token of this process's attachment, or 0 for an observer.
func (s *Segment) Self() Token { return s.m.self }

// Alive reports whether the attachment named by tok is alive: its process
// has not died or detached. A token that cannot name a slot of this segment
// is an error.
func (s *Segment) Alive(tok Token) (bool, error) {
	m, err := s.use()
	if err != nil {
		return false, err
	}
	defer m.unref()
	return m.table.Alive(tok)
}

// Info describes a segment, for people and tools.
type Info struct {
	Name       string
	ID         uint64
	Size       int
	Anonymous  bool
	Created    time.Time
	CreatorPid int
	Used       int // bytes up to the end of the last object
	Objects    int
	Slots      int
	Processes  []liveness.SlotInfo // every slot ever claimed
}

// Info describes the segment as it is now.
func (s *Segment) Info() (Info, error) {
	m, err := s.use()
	if err != nil {
		return Info{}, err
	}
	defer m.unref()
	procs, err := m.table.Slots()
	if err != nil {
		return Info{}, err
	}
	return Info{
		Name:       m.name,
		ID:         m.id,
		Size:       int(m.size),
		Anonymous:  m.anon,
		Created:    m.created,
		CreatorPid: m.creator,
		Used:       int(m.cursor.Load()),
		Objects:    int(m.objects.Load()),
		Slots:      m.table.Len(),
		Processes:  procs,
	}, nil
}

// InUse reports whether any live process has the segment attached, this
// one included unless it opened the segment to observe.
func (s *Segment) InUse() (bool, error) {
	m, err := s.use()
	if err != nil {
		return false, err
	}
	defer m.unref()
	return m.table.AnyAlive()
}

// GobEncode encodes a reference to the segment (its id and name), so that a
// *Segment can be an argument of process.Start or travel inside a message.
func (s *Segment) GobEncode() ([]byte, error) {
	m, err := s.use()
	if err != nil {
		return nil, err
	}
	defer m.unref()
	return Handle{Segment: m.id, Name: m.name}.MarshalBinary()
}

// GobDecode makes s a new reference to the segment encoded by GobEncode:
// the attachment this process already has, or, for a named segment, a new
// one by Open. An anonymous segment that was not passed to this process
// fails with ErrHandle.
func (s *Segment) GobDecode(b []byte) error {
	if s.m != nil {
		return fmt.Errorf("%w: decoding into a segment in use", ErrHandle)
	}
	var h Handle
	if err := h.UnmarshalBinary(b); err != nil {
		return err
	}
	if h.Segment == 0 {
		return fmt.Errorf("%w: zero segment id", ErrHandle)
	}
	if m := lookupID(h.Segment); m != nil {
		s.m = m
		return nil
	}
	if h.Name == "" {
		return fmt.Errorf("%w: anonymous segment %016x is not attached in this process", ErrHandle, h.Segment)
	}
	o, err := Open(h.Name, nil)
	if err != nil {
		return err
	}
	if o.m.id != h.Segment {
		o.Close()
		return fmt.Errorf("%w: %s was removed and created again", ErrHandle, h.Name)
	}
	s.m = o.m // o's reference passes to s
	return nil
}
