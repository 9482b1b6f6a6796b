package sys

import (
	"fmt"
	"io/fs"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

func shmDir() string { return "/dev/shm" }

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

func memfdCreate(name string) (*os.File, error) {
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, &fs.PathError{Op: "memfd_create", Path: name, Err: err}
	}
	return os.NewFile(uintptr(fd), "memfd:"+name), nil
}

func reopen(f *os.File) (*os.File, error) {
	// Opening /proc/self/fd/N makes a new open file description of the same
	// file, memfd included; dup(2) would share the old one.
	path := "/proc/self/fd/" + strconv.Itoa(int(f.Fd()))
	for {
		fd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "reopen", Path: f.Name(), Err: err}
		}
		return os.NewFile(uintptr(fd), f.Name()), nil
	}
}

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
	_, err := lockCmd(f, unix.F_OFD_SETLK, unix.F_WRLCK, off)
	switch err {
	case nil:
		return nil
	case unix.EAGAIN, unix.EACCES:
		return ErrLocked
	}
	return &fs.PathError{Op: "lock", Path: f.Name(), Err: fmt.Errorf("byte %d: %w", off, err)}
}

func unlockByte(f *os.File, off int64) error {
	if _, err := lockCmd(f, unix.F_OFD_SETLK, unix.F_UNLCK, off); err != nil {
		return &fs.PathError{Op: "unlock", Path: f.Name(), Err: fmt.Errorf("byte %d: %w", off, err)}
	}
	return nil
}

func byteLocked(f *os.File, off int64) (bool, error) {
	lk, err := lockCmd(f, unix.F_OFD_GETLK, unix.F_WRLCK, off)
	if err != nil {
		return false, &fs.PathError{Op: "getlk", Path: f.Name(), Err: fmt.Errorf("byte %d: %w", off, err)}
	}
	return lk.Type != unix.F_UNLCK, nil
}

func fallocate(f *os.File, size int64) error {
	for {
		err := unix.Fallocate(int(f.Fd()), 0, 0, size)
		switch err {
		case unix.EINTR:
			continue
		case nil, unix.EOPNOTSUPP:
			return nil
		}
		return &fs.PathError{Op: "fallocate", Path: f.Name(), Err: err}
	}
}

func sealSize(f *os.File) error {
	_, err := unix.FcntlInt(f.Fd(), unix.F_ADD_SEALS, unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_SEAL)
	if err != nil {
		return &fs.PathError{Op: "seal", Path: f.Name(), Err: err}
	}
	return nil
}
