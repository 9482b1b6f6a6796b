// Package semaphore gives locks and semaphores that live in shared memory
// and work across processes: Lock, RLock, Counting and Bounded, the
// counterparts of Python's multiprocessing Lock, RLock, Semaphore and
// BoundedSemaphore.
//
// Each object lives in a segment of package shm: a segment you pass (an
// anonymous one, to reach children through process.Start, or a named one,
// which unrelated processes open by name), or, with a nil segment, a small
// anonymous segment of its own. An object travels to a child process as an
// argument of process.Start (it implements process.Carrier and gob's
// GobEncoder), and another process opens it by name (OpenLock and friends)
// or by handle.
//
// # Waiting
//
// A blocked call spins for a short while (Options.Spin), then sleeps on a
// futex word in the segment. Whoever releases makes the wake system call
// only when a sleeper has said, in the word, that it sleeps. Every blocking
// call takes a context; a sleeper also wakes every Options.Poll to look at
// its context and at the liveness of the holder it waits for. A goroutine
// asleep in a futex holds an OS thread, so thousands of goroutines blocked
// at once hold thousands of threads.
//
// # When a process dies
//
// Lock and RLock record their owner: the token of its process's
// attachment to the segment (see package shm), which the kernel lets go
// when the process dies. A waiter, or a TryLock, that finds the owner dead
// takes the lock over and returns an error wrapping ErrOwnerDead with the
// lock held, as pthread's robust mutexes return EOWNERDEAD: the caller
// repairs what the lock protects, and the lock then works as before.
// Sleepers notice a death within Options.Poll (10 ms by default).
//
// Counting semaphores do not record who took a unit, since a unit taken in
// one process is often given back by another (a producer signals, a
// consumer waits): the units a dead process took are lost, as in Python.
// Bounded semaphores do record, per process, how many units each holds;
// when a waiter finds the count at zero it gives back the units of dead
// holders, so a crash does not shrink the bound.
//
// # What we don't hide
//
//   - A release by a process other than the one that acquired is allowed
//     (as in Python) and is recorded against the releaser, or against some
//     holder when the releaser holds nothing; a Bounded semaphore recovers
//     units by holder, so after such hand-offs a dead process may be
//     credited with units another process took. The count never exceeds
//     the bound.
//   - A process killed between the two atomic steps of a Bounded acquire
//     (the count, then its holding) or release (the holding, then the
//     count) may lose one unit; it never creates one.
//   - "Dead" means detached: a process that closes its last reference to
//     the segment while it holds a lock lets others take the lock over, as
//     if it had died. On Unix systems other than Linux, where byte-range
//     locks belong to the process, opening one named segment twice and
//     closing one of them detaches both (see package shm).
//   - A garbage state word (another program, or a bug, wrote it) gives an
//     error wrapping shm.ErrCorrupt when the owner it names cannot exist; an
//     owner that could exist but is dead is taken over as above.
package semaphore
