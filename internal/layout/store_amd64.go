//go:build amd64 && !race

package layout

import (
	"sync/atomic"
	"unsafe"
)

// StoreRelease stores v in *p with release ordering only: every load and
// store before it in program order is visible to another CPU before v is.
// Unlike p.Store it does not order itself before later loads, so it must
// not be the store of a store-then-load handshake (a waker's change
// followed by its load of a sleepers word needs a sequentially consistent
// atomic between the two). Use it for words that one process writes and
// others only read.
//
// On amd64 every plain store is a release store (x86-TSO), and the Go
// compiler keeps memory operations in program order, so it is a plain MOV.
// p.Store compiles to XCHG, which waits for every store before it to reach
// the cache: where another CPU spins on the line being written, that wait
// costs a round trip of the line. Elsewhere, and under -race (so that the
// detector sees atomics on Go memory as atomics), it is p.Store.
func StoreRelease(p *atomic.Uint64, v uint64) {
	*(*uint64)(unsafe.Pointer(p)) = v
}

// An atomic.Uint64 is its word and nothing else.
var _ [8 - unsafe.Sizeof(atomic.Uint64{})]byte
