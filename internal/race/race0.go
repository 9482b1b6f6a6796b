//go:build !race

package race

import "unsafe"

// Enabled reports whether the race detector is on (the race build tag).
const Enabled = false

// Acquire does nothing without the race detector; see race.go.
func Acquire(addr unsafe.Pointer) {}

// Release does nothing without the race detector; see race.go.
func Release(addr unsafe.Pointer) {}

// ReleaseMerge does nothing without the race detector; see race.go.
func ReleaseMerge(addr unsafe.Pointer) {}
