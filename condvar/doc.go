// Package condvar gives condition variables, events and barriers that live
// in shared memory and work across processes: Cond and RCond, Event and
// Barrier, the counterparts of Python's multiprocessing Condition, Event
// and Barrier.
//
// Each object lives in a segment of package shm, as the locks of package
// semaphore do: a segment you pass, or, with a nil segment, a small
// anonymous segment of its own. An object travels to a child process as an
// argument of process.Start (it implements process.Carrier and gob's
// GobEncoder), and another process opens it by name (OpenCond and friends)
// or by handle. A Cond or RCond records its lock, which must live in the
// same segment, and opens it wherever the condition is opened.
//
// # Waiting
//
// A blocked call spins for a short while (Options.Spin), then sleeps on a
// futex word in the segment; whoever changes the word makes the wake
// system call only when a sleeper has said, in the word, that it sleeps.
// Every blocking call takes a context. A sleeper wakes at least every
// Options.Poll (10 ms by default) to look at its context, at the word
// again (whoever changed it may have died before it could wake anyone),
// and, at a barrier, at the liveness of the other parties. A goroutine
// asleep in a futex holds an OS thread; the waiters of a Cond hold one per
// process between them (the others wait on channels), while every party
// asleep at a Barrier and every waiter of an Event holds its own.
//
// # When a process dies
//
//   - A Cond's lock is a semaphore.Lock or RLock: if its holder dies, the
//     next Lock, or the Wait that takes it back, gets an error wrapping
//     ErrOwnerDead with the lock held.
//   - A process that dies while its goroutines wait on a Cond leaves a count
//     of waiters behind. Notify finds the process dead before it counts a
//     notification as given, and gives it to a live waiter instead: Notify(1)
//     with a dead and a live waiter wakes the live one.
//   - A party that dies while it waits at a Barrier breaks the barrier, as a
//     timeout does: the other waiters get ErrBrokenBarrier within about two
//     Poll intervals (20 ms by default). Python's Barrier hangs there
//     (CPython gh-123899). So does the death of the party running the
//     action.
//   - An Event has no owner: a process that dies leaves it as it was.
//
// # What we don't hide
//
//   - A Lock has no owner within a process, so a Cond accepts Wait and
//     Notify from any goroutine of the process that holds its lock. Use an
//     RCond, whose Holder names the owner, to have misuse within a process
//     reported.
//   - Wait takes the lock back without heeding its context, as Python's
//     wait does: the caller must hold the lock when Wait returns. A lock
//     held forever by a live process holds Wait forever.
//   - A Cond wakes the oldest waiters of each process first, and takes
//     processes in turn; there is no order across processes beyond that.
//   - A process that dies inside Notify, holding the lock, costs the waiter
//     it was waking up to one Poll interval, or may leave a waiter counted
//     twice, which a later Notify wakes once too often (a spurious
//     wake-up). The next locker gets ErrOwnerDead.
//   - A process that dies after a Notify woke it takes that notification
//     with it.
//   - A Barrier breaks for the death of a party in Wait only: a party that
//     dies elsewhere cannot be told from one that is late.
//   - A barrier waiter that slept through 64 cycles of other parties (only
//     possible with more goroutines than parties) and finds that a Reset
//     came meanwhile reports the barrier broken, whether or not the Reset
//     broke its cycle.
//   - Each process sets its own Barrier action: functions do not travel
//     with handles.
//   - A garbage word (another program, or a bug, wrote it) gives an error
//     wrapping shm.ErrCorrupt where it names what cannot be: a lock of
//     another kind, more parties than the barrier has, a process that
//     cannot exist.
package condvar
