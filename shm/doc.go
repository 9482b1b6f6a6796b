// Package shm gives shared-memory segments that processes map at once, and
// places objects in them: the ground every other shmkit package stands on.
// It is the Go counterpart of Python's multiprocessing.shared_memory and
// multiprocessing.heap.
//
// A segment is either named, a file in /dev/shm (os.TempDir() outside Linux)
// whose name starts with "shmkit-", that unrelated processes open by name;
// or anonymous (New), a memfd that the kernel frees with its last mapping and
// descriptor, which reaches child processes through the process package.
//
// # Layout
//
// Every segment starts with a header (magic, layout version, size, a ready
// word stored last by its creator), then a process table in which every
// attached process holds a slot that the kernel frees when the process dies
// (see internal/liveness), then objects placed one after another by Alloc.
// Each object has a header of its own (kind, version, sizes, a type hash and
// an optional name), so that processes find objects by name (Lookup) or by
// Handle. docs/layout.md gives every byte; a test pins it.
//
// Shared memory is input from another program: Open and every walk of the
// objects check every field before using it, and a corrupted segment gives an
// error, never a panic or a fault.
//
// # Lifetime
//
// Close lets go of this process's reference; the mapping goes when the
// segment and every Object taken from it are closed, so an Object never
// points into unmapped memory while it is open. Remove deletes the name for
// everyone (Python's unlink); processes that have the segment mapped keep it.
// Opening never schedules a removal.
//
// # What we don't hide
//
//   - A named segment is a file anyone with the same uid can truncate. A
//     process that touches a page beyond the new end gets SIGBUS; anonymous
//     segments are sealed against shrinking on Linux, named ones cannot be.
//   - Pages are reserved when a segment is created (fallocate on Linux), so
//     a full /dev/shm is an error at Create rather than a SIGBUS later; the
//     memory is committed from the start, and creating a large segment
//     costs the zeroing of its pages. Options.Lazy trades that safety for
//     speed.
//   - Outside Linux, named segments are files in os.TempDir(). On the other
//     Unix systems byte-range locks belong to the process: opening one
//     segment twice in one process and closing one of them drops the other's
//     claim too.
//   - On Windows an anonymous segment is a delete-on-close file in
//     os.TempDir(), named "~shmkit-anon-" and random hex, which the system
//     deletes with its last handle. It cannot reach child processes yet:
//     process.Start is not supported there.
//   - On Windows, removing a named segment that is still open frees its
//     name at once only where DeleteFile has POSIX semantics (NTFS on recent
//     Windows 10 and later). Elsewhere, Wine included, the name stays until
//     the last handle to it closes, and creating it again fails until then.
package shm
