//go:build !amd64 || race

package layout

import "sync/atomic"

// StoreRelease stores v in *p with release ordering (see store_amd64.go):
// here a sequentially consistent store.
func StoreRelease(p *atomic.Uint64, v uint64) { p.Store(v) }
