//go:build race

package race

import (
	"runtime"
	"unsafe"
)

// Enabled reports whether the race detector is on (the race build tag).
const Enabled = true

// Acquire records that the calling goroutine has observed everything
// published by earlier Release and ReleaseMerge calls on addr. addr must
// point to Go memory.
func Acquire(addr unsafe.Pointer) { runtime.RaceAcquire(addr) }

// Release publishes the calling goroutine's earlier writes to a later
// Acquire on addr, replacing what earlier Release calls on addr published.
// addr must point to Go memory.
func Release(addr unsafe.Pointer) { runtime.RaceRelease(addr) }

// ReleaseMerge is like Release but adds to, rather than replaces, what
// earlier Release calls on addr published: use it when several publishers
// each hand off to the same later Acquire, as semaphore posts do.
func ReleaseMerge(addr unsafe.Pointer) { runtime.RaceReleaseMerge(addr) }
