package sys

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"golang.org/x/sys/windows"
)

func shmDir() string { return os.TempDir() }

func openShm(path string, create bool) (*os.File, error) {
	flag := os.O_RDWR
	if create {
		flag |= os.O_CREATE | os.O_EXCL
	}
	return os.OpenFile(path, flag, 0o600)
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
