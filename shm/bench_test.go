package shm_test

import (
	"errors"
	"strconv"
	"testing"

	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/shm"
)

// BenchmarkSegment measures segment create+map+close beside
// os.CreateTemp+mmap. shmkit also reserves the pages (fallocate), writes
// the header and claims a slot of the process table.
func BenchmarkSegment(b *testing.B) {
	if err := tempMmap(4096); errors.Is(err, errors.ErrUnsupported) {
		shmtest.SkipUnsupported(b, "the baseline, os.CreateTemp+syscall.Mmap")
	}
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
