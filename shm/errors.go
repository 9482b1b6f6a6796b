package shm

import (
	"errors"
	"io/fs"
	"os"

	"github.com/shmkit/shmkit/internal/liveness"
)

// Errors returned by this package, for use with errors.Is. OS failures are
// *fs.PathError values naming the segment, so fs.ErrExist, fs.ErrNotExist
// and fs.ErrPermission work on them too.
var (
	// ErrExist: Create found the name taken.
	ErrExist = fs.ErrExist
	// ErrNotExist: Open found no segment by that name.
	ErrNotExist = fs.ErrNotExist
	// ErrClosed: the segment or object was closed in this process.
	ErrClosed = os.ErrClosed
	// ErrName: a segment or object name is empty, too long, or holds '/'
	// or NUL.
	ErrName = errors.New("shm: invalid name")
	// ErrSize: a size is zero, negative, too small for the header and
	// process table, or too large.
	ErrSize = errors.New("shm: invalid size")
	// ErrNotShmkit: the file does not start with a shmkit header.
	ErrNotShmkit = errors.New("shm: not a shmkit segment")
	// ErrVersion: the segment or object has a layout version this code
	// does not know.
	ErrVersion = errors.New("shm: unknown layout version")
	// ErrNotReady: the segment's creator has not finished setting it up
	// (it may have died doing so).
	ErrNotReady = errors.New("shm: segment not ready")
	// ErrTruncated: the file is shorter than its header says.
	ErrTruncated = errors.New("shm: segment truncated")
	// ErrCorrupt: a header or object header holds values that cannot be.
	ErrCorrupt = errors.New("shm: segment corrupt")
	// ErrNoSpace: the segment has no room for the object, or the system
	// has no memory for the segment.
	ErrNoSpace = errors.New("shm: no space")
	// ErrFull: every slot of the segment's process table belongs to a
	// live process.
	ErrFull = liveness.ErrFull
	// ErrKind: an object is not of the kind asked for.
	ErrKind = errors.New("shm: wrong object kind")
	// ErrType: an object's element size or type hash is not the one asked
	// for.
	ErrType = errors.New("shm: wrong object type")
	// ErrObjectExist: an object of that name is already in the segment.
	ErrObjectExist = errors.New("shm: object name taken")
	// ErrObjectNotExist: no object of that name or at that offset.
	ErrObjectNotExist = errors.New("shm: no such object")
	// ErrHandle: a handle is malformed, or names a segment this process
	// cannot reach (an anonymous segment not passed to it), or a named
	// segment that has since been removed and created anew.
	ErrHandle = errors.New("shm: bad handle")
	// ErrObserver: the segment was opened to observe and holds no slot, so
	// it cannot own anything.
	ErrObserver = errors.New("shm: segment opened as observer")
)
