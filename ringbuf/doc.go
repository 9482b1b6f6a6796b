// Package ringbuf gives a ring of variable-length records in shared memory,
// for any number of producers and consumers in any number of processes: the
// transport under the queues (Python's multiprocessing.Queue,
// JoinableQueue and SimpleQueue) and pipes.
//
// A producer claims space, writes the record in place and commits it; a
// consumer takes the next record, reads it in place and releases it:
//
//	c, err := r.Claim(ctx, len(msg))
//	if err != nil { ... }
//	copy(c.Bytes(), msg)
//	err = c.Commit()
//
//	rec, err := r.Take(ctx)
//	if err != nil { ... }
//	use(rec.Bytes())
//	err = rec.Release()
//
// A process that dies at any point of either leaves the ring working for
// the others: a claim it never committed is skipped, a record it took and
// did not release is delivered to another consumer, and the locks it held
// are taken over. The algorithm and the layout are described at the top of
// ring.go.
//
// What we don't hide:
//   - A record whose consumer died before Release is delivered again, to
//     another consumer and possibly out of order: callers that must not
//     act twice release before they act (the queues do).
//   - Records are at most half the ring; larger ones fail with ErrTooLarge.
//   - Records come out in claim order, so a slow producer between Claim
//     and Commit holds up the records claimed after it.
//   - A blocked goroutine sleeps in the kernel (futex) and holds an OS
//     thread while it does; sleeps last at most Options.Poll.
//   - Len is a counter in shared memory: exact, except that a process
//     killed between a commit or take and the counter's update leaves it
//     off by one while the ring holds records (an empty ring says 0).
//   - Batch forms (one lock and one wake-up for several records) are not
//     there yet.
package ringbuf
