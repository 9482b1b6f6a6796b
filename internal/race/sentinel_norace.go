//go:build !race

package race

// Sentinel stands for one shared object in this process, for the race
// detector; without it, it is empty and its methods do nothing.
type Sentinel struct{}

// For returns the sentinel of the object at offset off of segment seg.
func For(seg, off uint64) Sentinel { return Sentinel{} }

// Acquire does nothing without the race detector.
func (Sentinel) Acquire() {}

// Release does nothing without the race detector.
func (Sentinel) Release() {}

// ReleaseMerge does nothing without the race detector.
func (Sentinel) ReleaseMerge() {}
