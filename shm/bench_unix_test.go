//go:build unix

package shm_test

import (
	"os"
	"syscall"

	"github.com/shmkit/shmkit/internal/sys"
	"github.com/shmkit/shmkit/shm"
)

// tempMmap is the baseline: what a user does without shmkit. A temporary
// file in the shared-memory directory, sized, mapped, unmapped, closed and
// removed.
func tempMmap(size int) error {
	f, err := os.CreateTemp(sys.ShmDir(), shm.Prefix+"bench-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if err := f.Truncate(int64(size)); err != nil {
		return err
	}
	b, err := syscall.Mmap(int(f.Fd()), 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		return err
	}
	return syscall.Munmap(b)
}
