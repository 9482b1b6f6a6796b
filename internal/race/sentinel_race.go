//go:build race

package race

import (
	"sync"
	"unsafe"
)

// Sentinel stands for one shared object in this process, for the race
// detector: every handle to the object in this process gets the same one
// from For. The zero Sentinel does nothing.
type Sentinel struct{ p *byte }

var sentinels sync.Map // [2]uint64 → *byte

// For returns the sentinel of the object at offset off of segment seg.
func For(seg, off uint64) Sentinel {
	p, _ := sentinels.LoadOrStore([2]uint64{seg, off}, new(byte))
	return Sentinel{p.(*byte)}
}

// Acquire is Acquire on the sentinel.
func (s Sentinel) Acquire() {
	if s.p != nil {
		Acquire(unsafe.Pointer(s.p))
	}
}

// Release is Release on the sentinel.
func (s Sentinel) Release() {
	if s.p != nil {
		Release(unsafe.Pointer(s.p))
	}
}

// ReleaseMerge is ReleaseMerge on the sentinel.
func (s Sentinel) ReleaseMerge() {
	if s.p != nil {
		ReleaseMerge(unsafe.Pointer(s.p))
	}
}
