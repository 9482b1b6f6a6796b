// Package sys is the only package that speaks to the operating system for
// shmkit: it creates and opens the files behind segments, maps them, and takes
// the byte-range locks that prove a process is alive. It is the only importer
// of golang.org/x/sys and github.com/edsrzf/mmap-go.
//
// Names keep the OS spelling where they wrap one call (MemfdCreate, Ftruncate)
// so the code can be read against the man pages.
//
// What we don't hide:
//   - On Linux, named segments live in /dev/shm, as shm_open(3) puts them;
//     elsewhere they are files in os.TempDir(), mapped the same way.
//   - Byte-range locks are open-file-description locks on Linux (F_OFD_SETLK):
//     they belong to one open of the file and die with the last descriptor of
//     it. On other Unix systems they are classic POSIX locks, which belong to
//     the process: two opens of one file in one process share them, and
//     closing either drops both. On Windows they are LockFileEx locks, which
//     belong to the handle.
//   - On Windows an anonymous file (MemfdCreate) is a delete-on-close file
//     in os.TempDir() whose name, "~shmkit-anon-" and random hex, stays
//     visible until its last handle closes. Removing a named segment that
//     is still open frees its name at once: with POSIX delete semantics
//     where the file system has them (NTFS on Windows 10 1709 and later),
//     and elsewhere (Wine, FAT, older Windows) by renaming the file to
//     "~shmkit-removed-" and random hex and deleting that name, which stays
//     visible until every handle to the file is closed. A process that dies
//     between the rename and the delete leaves that file behind.
package sys

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/edsrzf/mmap-go"
)

// Prefix starts the name of every named segment shmkit creates, so that
// listings and leak checks find exactly ours.
const Prefix = "shmkit-"

// ShmPath is the file that backs the named segment name.
func ShmPath(name string) string { return filepath.Join(shmDir(), name) }

// ShmDir is the directory that holds named segments.
func ShmDir() string { return shmDir() }

// OpenShm opens the file behind the named segment name for reading and
// writing. With create it creates the file, failing with fs.ErrExist if it
// exists, with permissions 0600. It never follows a symbolic link. The name
// is checked by the caller.
func OpenShm(name string, create bool) (*os.File, error) {
	if strings.ContainsRune(name, '/') || name == "" || name == "." || name == ".." {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	return openShm(ShmPath(name), create)
}

// UnlinkShm removes the name of a named segment (shm_unlink(3)). Processes
// that have it mapped keep their mapping, and the name is free at once: Open
// of it fails with fs.ErrNotExist and Create of it succeeds, even while the
// old segment is still open. Errors are *fs.PathError with Op "remove".
func UnlinkShm(name string) error {
	if strings.ContainsRune(name, '/') || name == "" || name == "." || name == ".." {
		return &fs.PathError{Op: "remove", Path: name, Err: fs.ErrInvalid}
	}
	return unlinkShm(ShmPath(name))
}

// MemfdCreate returns a new anonymous file of size zero, named name only for
// debugging, that disappears with its last descriptor and mapping
// (memfd_create(2) on Linux; a delete-on-close temporary file on Windows; an
// unlinked temporary file elsewhere). Its descriptor is close-on-exec; pass
// it to a child through exec.Cmd.ExtraFiles.
func MemfdCreate(name string) (*os.File, error) { return memfdCreate(name) }

// Reopen returns a new open of the same file as f, with its own open file
// description, so that locks taken through it are not shared with whoever
// shares f's description (a parent that passed f down, for one). Where the
// system has no way to reopen an anonymous file, it returns an error
// wrapping errors.ErrUnsupported.
func Reopen(f *os.File) (*os.File, error) { return reopen(f) }

// Ftruncate sets the size of f.
func Ftruncate(f *os.File, size int64) error { return f.Truncate(size) }

// Map maps the first size bytes of f shared, for reading and writing.
func Map(f *os.File, size int) ([]byte, error) {
	if size <= 0 {
		return nil, fmt.Errorf("map %s: size %d: %w", f.Name(), size, fs.ErrInvalid)
	}
	m, err := mmap.MapRegion(f, size, mmap.RDWR, 0, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "mmap", Path: f.Name(), Err: err}
	}
	return m, nil
}

// Unmap undoes Map. b must be exactly what Map returned.
func Unmap(b []byte) error {
	m := mmap.MMap(b)
	return m.Unmap()
}

// ErrLocked is returned by TryLockByte when another open of the file holds
// the lock.
var ErrLocked = errors.New("sys: byte locked by another open")

// TryLockByte takes an exclusive lock on the single byte at off of f without
// waiting. It returns ErrLocked if another holder has it. off may lie beyond
// the end of the file. The lock lasts until UnlockByte or until the last
// descriptor of f's open file description closes, which happens when the
// process dies.
func TryLockByte(f *os.File, off int64) error { return tryLockByte(f, off) }

// UnlockByte releases a lock taken with TryLockByte.
func UnlockByte(f *os.File, off int64) error { return unlockByte(f, off) }

// ByteLocked reports whether some other open of the file (another process,
// or another open in this process where locks belong to opens) holds a lock
// on the byte at off.
func ByteLocked(f *os.File, off int64) (bool, error) { return byteLocked(f, off) }

// Fallocate reserves the pages of the first size bytes of f, so that running
// out of memory is an error now rather than a SIGBUS when a page is first
// touched. Where the system cannot reserve, it does nothing.
func Fallocate(f *os.File, size int64) error { return fallocate(f, size) }

// SealSize forbids any later change of f's size, where the system can
// (memfd seals on Linux); elsewhere it does nothing.
func SealSize(f *os.File) error { return sealSize(f) }

// SchedSetaffinity binds the calling OS thread to one CPU, numbered from 0,
// as sched_setaffinity(2) with pid 0 does; the caller locks its goroutine
// to the thread (runtime.LockOSThread) first. Benchmarks use it to place
// two processes on chosen cores. Outside Linux it returns an error wrapping
// errors.ErrUnsupported.
func SchedSetaffinity(cpu int) error { return schedSetaffinity(cpu) }
