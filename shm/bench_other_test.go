//go:build !unix

package shm_test

import (
	"errors"
	"fmt"
)

// tempMmap is the baseline of BenchmarkSegment, which maps with
// syscall.Mmap; this system has none.
func tempMmap(size int) error {
	return fmt.Errorf("os.CreateTemp+syscall.Mmap: %w", errors.ErrUnsupported)
}
