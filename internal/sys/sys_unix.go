//go:build unix && !linux

package sys

import (
	"errors"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

func shmDir() string { return os.TempDir() }

// Classic POSIX locks belong to the process, not to the open: see the
// package doc for what that costs.
const (
	setlk = unix.F_SETLK
	getlk = unix.F_GETLK
)

// memfdCreate makes an anonymous file the portable way: create a file that
// nobody else can have opened, then remove its name at once.
func memfdCreate(name string) (*os.File, error) {
	f, err := os.CreateTemp(shmDir(), Prefix+"anon-*")
	if err != nil {
		return nil, err
	}
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

func reopen(f *os.File) (*os.File, error) {
	return nil, &fs.PathError{Op: "reopen", Path: f.Name(), Err: errors.ErrUnsupported}
}

func fallocate(f *os.File, size int64) error { return nil }

func sealSize(f *os.File) error { return nil }
