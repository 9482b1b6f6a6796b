package shm_test

import "unsafe"

// uintAddr is the address of b's first byte, for alignment checks. Test
// files may use unsafe; the package may not.
func uintAddr(b []byte) uintptr { return uintptr(unsafe.Pointer(&b[0])) }
