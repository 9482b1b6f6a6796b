package sys

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

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

// memfdCreate has no unlink-while-open on Windows that mapping tolerates;
// anonymous segments there are not yet supported.
func memfdCreate(name string) (*os.File, error) {
	return nil, &fs.PathError{Op: "memfd_create", Path: name, Err: errors.ErrUnsupported}
}

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
