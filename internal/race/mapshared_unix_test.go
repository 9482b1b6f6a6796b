//go:build linux || darwin || freebsd

package race_test

import "syscall"

// mapShared maps size bytes of anonymous shared memory, which the race
// detector cannot see, and returns them with a function that unmaps them.
func mapShared(size int) ([]byte, func() error, error) {
	mem, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_SHARED)
	if err != nil {
		return nil, nil, err
	}
	return mem, func() error { return syscall.Munmap(mem) }, nil
}
