package sys

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/windows"
)

func shmDir() string { return os.TempDir() }

// openShm opens with FILE_SHARE_DELETE, so that Remove works while
// processes have the segment open, as unlink does on Unix.
func openShm(path string, create bool) (*os.File, error) {
	p, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	disposition := uint32(windows.OPEN_EXISTING)
	if create {
		disposition = windows.CREATE_NEW
	}
	h, err := windows.CreateFile(p, windows.GENERIC_READ|windows.GENERIC_WRITE,
		windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE|windows.FILE_SHARE_DELETE,
		nil, disposition, windows.FILE_ATTRIBUTE_NORMAL, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	return os.NewFile(uintptr(h), path), nil
}

// memfdCreate makes an anonymous file the nearest way Windows has: a new
// file in os.TempDir() opened delete-on-close, so that the system deletes
// it when the last handle to it closes, however its process ends. Its name
// stays visible while it is open (deleting a name at once needs POSIX
// delete semantics, which not every file system or Wine has), so it starts
// with "~shmkit-anon-" rather than Prefix: listings of segments and leak
// checks pass it over. Every open shares delete access, as delete-on-close
// requires of later opens. The handle is not inheritable.
//
// FILE_ATTRIBUTE_TEMPORARY asks the cache manager to keep the pages in
// memory rather than write them out, which is what shared memory wants.
func memfdCreate(name string) (*os.File, error) {
	var b [8]byte
	for range 100 {
		if _, err := rand.Read(b[:]); err != nil {
			return nil, &fs.PathError{Op: "memfd_create", Path: name, Err: err}
		}
		path := filepath.Join(shmDir(), "~"+Prefix+"anon-"+hex.EncodeToString(b[:]))
		p, err := windows.UTF16PtrFromString(path)
		if err != nil {
			return nil, &fs.PathError{Op: "memfd_create", Path: name, Err: err}
		}
		h, err := windows.CreateFile(p, windows.GENERIC_READ|windows.GENERIC_WRITE|windows.DELETE,
			windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE|windows.FILE_SHARE_DELETE,
			nil, windows.CREATE_NEW, windows.FILE_ATTRIBUTE_TEMPORARY|windows.FILE_FLAG_DELETE_ON_CLOSE, 0)
		if err == windows.ERROR_FILE_EXISTS {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "memfd_create", Path: path, Err: err}
		}
		return os.NewFile(uintptr(h), path), nil
	}
	return nil, &fs.PathError{Op: "memfd_create", Path: name, Err: fs.ErrExist}
}

// reopen is unsupported: nothing passes files to child processes on
// Windows yet (see process), so there is no inherited handle to replace.
func reopen(f *os.File) (*os.File, error) {
	return nil, &fs.PathError{Op: "reopen", Path: f.Name(), Err: errors.ErrUnsupported}
}

func tryLockByte(f *os.File, off int64) error {
	ol := windows.Overlapped{Offset: uint32(off), OffsetHigh: uint32(off >> 32)}
	err := windows.LockFileEx(windows.Handle(f.Fd()), windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, &ol)
	switch err {
	case nil:
		return nil
	case windows.ERROR_LOCK_VIOLATION, windows.ERROR_IO_PENDING:
		return ErrLocked
	}
	return &fs.PathError{Op: "lock", Path: f.Name(), Err: fmt.Errorf("byte %d: %w", off, err)}
}

func unlockByte(f *os.File, off int64) error {
	ol := windows.Overlapped{Offset: uint32(off), OffsetHigh: uint32(off >> 32)}
	if err := windows.UnlockFileEx(windows.Handle(f.Fd()), 0, 1, 0, &ol); err != nil {
		return &fs.PathError{Op: "unlock", Path: f.Name(), Err: fmt.Errorf("byte %d: %w", off, err)}
	}
	return nil
}

// byteLocked has no test-without-taking on Windows: take a shared lock and
// give it back at once.
func byteLocked(f *os.File, off int64) (bool, error) {
	ol := windows.Overlapped{Offset: uint32(off), OffsetHigh: uint32(off >> 32)}
	h := windows.Handle(f.Fd())
	err := windows.LockFileEx(h, windows.LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, &ol)
	switch err {
	case nil:
		windows.UnlockFileEx(h, 0, 1, 0, &ol)
		return false, nil
	case windows.ERROR_LOCK_VIOLATION, windows.ERROR_IO_PENDING:
		return true, nil
	}
	return false, &fs.PathError{Op: "getlk", Path: f.Name(), Err: fmt.Errorf("byte %d: %w", off, err)}
}

func fallocate(f *os.File, size int64) error { return nil }

func sealSize(f *os.File) error { return nil }
