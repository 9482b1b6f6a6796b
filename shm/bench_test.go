//go:build unix

package shm_test

import (
	"os"
	"strconv"
	"syscall"
	"testing"

	"github.com/shmkit/shmkit/internal/shmtest"
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

// BenchmarkSegment measures segment create+map+close beside
// os.CreateTemp+mmap. shmkit also reserves the pages (fallocate), writes
// the header and claims a slot of the process table.
func BenchmarkSegment(b *testing.B) {
	for _, size := range []int{64 << 10, 1 << 20} {
		b.Run(bytesName(size)+"/anonymous", func(b *testing.B) {
			b.Logf("shm.New(%d)+Close vs os.CreateTemp+Truncate+mmap+munmap+Close+Remove", size)
			shmtest.Versus(b, 1, func() error {
				s, err := shm.New(size, nil)
				if err != nil {
					return err
				}
				return s.Close()
			}, func() error { return tempMmap(size) })
		})
		b.Run(bytesName(size)+"/anonymous-lazy", func(b *testing.B) {
			b.Logf("shm.New(%d, Lazy)+Close vs os.CreateTemp+Truncate+mmap+munmap+Close+Remove", size)
			shmtest.Versus(b, 1, func() error {
				s, err := shm.New(size, &shm.Options{Lazy: true})
				if err != nil {
					return err
				}
				return s.Close()
			}, func() error { return tempMmap(size) })
		})
		b.Run(bytesName(size)+"/named", func(b *testing.B) {
			b.Logf("shm.Create(%d)+Close+Remove vs os.CreateTemp+Truncate+mmap+munmap+Close+Remove", size)
			name := shmtest.Name(b)
			shmtest.Versus(b, 1, func() error {
				s, err := shm.Create(name, size, nil)
				if err != nil {
					return err
				}
				s.Close()
				return shm.Remove(name)
			}, func() error { return tempMmap(size) })
		})
	}
}

func bytesName(n int) string {
	if n >= 1<<20 {
		return strconv.Itoa(n>>20) + "MiB"
	}
	return strconv.Itoa(n>>10) + "KiB"
}
