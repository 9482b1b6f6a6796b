// Package race tells the race detector about happens-before edges that it
// cannot see: those made by atomics on shared memory mapped from the OS. It
// is real under -race (the race build tag) and compiles to nothing otherwise,
// like the raceAcquire/raceReleaseMerge hooks in golang.org/x/sys/unix.
//
// The race detector tracks only Go memory. An atomic store to a word in a
// mapping, and the atomic load that observes it, create no edge it knows
// about, so a handoff that is correct under the memory model is reported as a
// data race on the Go memory around it. Annotating the mapped address does
// not help either: the detector ignores addresses outside Go's heap and data.
//
// So every shmkit primitive keeps a sentinel in Go memory, one per object per
// process, shared by all handles to that object in this process (handles
// opened separately must find the same one, for example through a table
// keyed by segment and offset). It calls Release
// on the sentinel just before it publishes (unlock, post, commit) and Acquire
// on it just after it observes (lock, wait, read):
//
//	data = 42                 // plain Go memory
//	race.Release(sentinel)    // just before the publishing atomic
//	flag.Store(1)             // *atomic.Uint32 in the mapping
//
//	for flag.Load() == 0 { … } // the observing atomic
//	race.Acquire(sentinel)     // just after it
//	_ = data                   // no report
//
// These calls are part of the algorithm and are reviewed with it: a missing
// Release hides nothing from the detector, but a spurious one hides real
// races. They only describe edges inside one process; another process's
// detector sees its own side.
//
// What we don't hide:
//   - A sentinel is per process. Two handles that reach the same object
//     through different sentinels get no edge between them.
//   - Under -race, child processes re-executed from the test binary are
//     instrumented too, each with its own detector.
package race
