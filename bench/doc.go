// Package bench measures how fast processes on this machine talk to each
// other, through shmkit's transports and through the usual alternatives, side
// by side in one run: the library under `shmkit bench`.
//
// A run is a list of scenarios (ping-pong round trip, streaming throughput,
// N producers × M consumers, wake-up of a sleeping waiter, contended lock,
// worker pool) over a list of transports: shmkit's queue (spinning and
// sleeping), its zero-copy ring, its pipe, Lock, Event and worker pool;
// floors written here (a spin and a futex handoff over raw shared memory, a
// raw SPSC ring, a spin lock); os pipes, Unix sockets (stream and seqpacket),
// TCP loopback; a Go channel and a pool of goroutines in one process; and
// Python's multiprocessing through an embedded script when python3 is on the
// PATH. Every measurement starts fresh child processes (process.Start of
// functions registered here), and every message is written and read whole by
// the program: the sender fills every byte, the receiver reads every byte.
//
// Each scenario is bracketed by a cross-core probe (a spin ping-pong on one
// shared word between two processes), so a reader can tell a machine that
// moved its cores from a real difference. Rows carry a ratio to the floor
// measured in the same scenario, seconds before.
//
// # Adding to it
//
// A transport is one call to Register with a Transport: its name, its group,
// its floor, and how to open each end of a link (Open in the parent, Dial in
// the child, Local for an in-process partner), of a lock (OpenLock,
// DialLock, LocalLock) or a pool of workers (OpenPool). Every scenario that
// can use it then does. A scenario
// is one call to RegisterScenario. Python's rows come from
// python/mp.py, one mode per scenario.
//
// # What we don't hide
//
//   - The numbers are this machine's, now: a loaded or virtualised machine
//     moves them by several times; the probes and the floors are there to
//     say how much.
//   - Wall-clock time stamps carry the wake-up scenario's one-way latency from
//     one process to another; both read the same clock, but a clock step during
//     a run would show as an outlier.
//   - Processes are not pinned to cores unless Config.Pin says so (Linux
//     only); then only the measuring threads are bound, not the runtime's
//     others.
//   - On systems where process.Start is not supported (Windows for now), every
//     cross-process row reports "unsupported".
package bench
