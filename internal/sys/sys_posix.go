//go:build unix

package sys

import (
	"fmt"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

func openShm(path string, create bool) (*os.File, error) {
	flags := unix.O_RDWR | unix.O_CLOEXEC | unix.O_NOFOLLOW
	if create {
		flags |= unix.O_CREAT | unix.O_EXCL
	}
	for {
		fd, err := unix.Open(path, flags, 0o600)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "open", Path: path, Err: err}
		}
		return os.NewFile(uintptr(fd), path), nil
	}
}

// unlinkShm is os.Remove: unlink(2) frees the name at once.
func unlinkShm(path string) error { return os.Remove(path) }

func lockCmd(f *os.File, cmd int, typ int16, off int64) (*unix.Flock_t, error) {
	lk := unix.Flock_t{Type: typ, Whence: 0, Start: off, Len: 1}
	for {
		err := unix.FcntlFlock(f.Fd(), cmd, &lk)
		if err == unix.EINTR {
			continue
		}
		return &lk, err
	}
}

func tryLockByte(f *os.File, off int64) error {
	_, err := lockCmd(f, setlk, unix.F_WRLCK, off)
	switch err {
	case nil:
		return nil
	case unix.EAGAIN, unix.EACCES:
		return ErrLocked
	}
	return &fs.PathError{Op: "lock", Path: f.Name(), Err: fmt.Errorf("byte %d: %w", off, err)}
}

func unlockByte(f *os.File, off int64) error {
	if _, err := lockCmd(f, setlk, unix.F_UNLCK, off); err != nil {
		return &fs.PathError{Op: "unlock", Path: f.Name(), Err: fmt.Errorf("byte %d: %w", off, err)}
	}
	return nil
}

func byteLocked(f *os.File, off int64) (bool, error) {
	lk, err := lockCmd(f, getlk, unix.F_WRLCK, off)
	if err != nil {
		return false, &fs.PathError{Op: "getlk", Path: f.Name(), Err: fmt.Errorf("byte %d: %w", off, err)}
	}
	return lk.Type != unix.F_UNLCK, nil
}
