//go:build !unix && !windows

package sys

import (
	"errors"
	"io/fs"
	"os"
)

func shmDir() string { return os.TempDir() }

func openShm(path string, create bool) (*os.File, error) {
	return nil, &fs.PathError{Op: "open", Path: path, Err: errors.ErrUnsupported}
}

func unlinkShm(path string) error {
	return &fs.PathError{Op: "remove", Path: path, Err: errors.ErrUnsupported}
}

func memfdCreate(name string) (*os.File, error) {
	return nil, &fs.PathError{Op: "memfd_create", Path: name, Err: errors.ErrUnsupported}
}

func reopen(f *os.File) (*os.File, error) {
	return nil, &fs.PathError{Op: "reopen", Path: f.Name(), Err: errors.ErrUnsupported}
}

func tryLockByte(f *os.File, off int64) error {
	return &fs.PathError{Op: "lock", Path: f.Name(), Err: errors.ErrUnsupported}
}

func unlockByte(f *os.File, off int64) error {
	return &fs.PathError{Op: "unlock", Path: f.Name(), Err: errors.ErrUnsupported}
}

func byteLocked(f *os.File, off int64) (bool, error) {
	return false, &fs.PathError{Op: "getlk", Path: f.Name(), Err: errors.ErrUnsupported}
}

func fallocate(f *os.File, size int64) error { return nil }

func sealSize(f *os.File) error { return nil }
