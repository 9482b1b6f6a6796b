package race_test

import (
	"os"
	"syscall"
	"unsafe"
)

// mapShared maps size bytes of a page-file section, Windows' anonymous
// shared memory, which the race detector cannot see, and returns them with
// a function that unmaps them.
func mapShared(size int) ([]byte, func() error, error) {
	h, err := syscall.CreateFileMapping(syscall.InvalidHandle, nil, syscall.PAGE_READWRITE, 0, uint32(size), nil)
	if err != nil {
		return nil, nil, os.NewSyscallError("CreateFileMapping", err)
	}
	addr, err := syscall.MapViewOfFile(h, syscall.FILE_MAP_WRITE, 0, 0, uintptr(size))
	if err != nil {
		syscall.CloseHandle(h)
		return nil, nil, os.NewSyscallError("MapViewOfFile", err)
	}
	// Sound: addr is the start of a view of size bytes that the system
	// keeps mapped, outside Go's heap, until UnmapViewOfFile; reading the
	// uintptr through a pointer keeps vet from mistaking it for a Go
	// pointer that was hidden from the garbage collector.
	mem := unsafe.Slice((*byte)(*(*unsafe.Pointer)(unsafe.Pointer(&addr))), size)
	return mem, func() error {
		err := syscall.UnmapViewOfFile(addr)
		if cerr := syscall.CloseHandle(h); err == nil {
			err = cerr
		}
		return err
	}, nil
}
