package sys

import (
	"io/fs"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

func shmDir() string { return "/dev/shm" }

// Open-file-description locks: they belong to one open of the file, not
// to the process (see the package doc).
const (
	setlk = unix.F_OFD_SETLK
	getlk = unix.F_OFD_GETLK
)

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

func schedSetaffinity(cpu int) error {
	var set unix.CPUSet
	if cpu < 0 || cpu >= 1024 { // CPU_SETSIZE
		return os.NewSyscallError("sched_setaffinity", unix.EINVAL)
	}
	set.Set(cpu)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		return os.NewSyscallError("sched_setaffinity", err)
	}
	return nil
}
