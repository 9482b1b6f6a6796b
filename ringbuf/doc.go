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
// To answer a record read in place (a request taken from one ring, its
// answer claimed in another), commit the answer before releasing the
// request. A Release ends with a locked instruction, which waits until the
// answer's bytes written so far reach the cache; the other side, spinning
// on the answer's first line, then takes that line back, and Commit has to
// fetch it once more. Between two processes on near cores of a 2-core AMD
// EPYC (Zen 5), that order made an 8-byte round trip through two rings
// 292 ns instead of 323 (medians of more than 20 runs each).
//
// The batch forms, ClaimBatch and TakeBatch, do the same for several
// records with one round of a claim lock and at most one wake-up: a batch
// is committed all at once (a producer that dies before Commit delivers
// none of it) and released all at once. A range loop over a batch's All
// goes through its records without a call per record:
//
//	c, err := r.ClaimBatch(ctx, sizes)
//	...
//	for i, b := range c.All() {
//		fill(b, i)
//	}
//	c.Commit()
//
// A process that dies at any point of either leaves the ring working for
// the others: a claim it never committed is skipped, a record it took and
// did not release is delivered to another consumer, and the locks it held
// are taken over. The algorithm and the layout are described at the top of
// ring.go.
//
// On top of the ring, Queue, JoinableQueue and SimpleQueue are Python's
// multiprocessing queues for values of a Go type T:
//
//	q, err := ringbuf.NewQueue[Job](nil, "", &ringbuf.QueueOptions[Job]{MaxSize: 100})
//	err = q.Put(ctx, job) // in shared memory when Put returns
//	job, err := q.Get(ctx)
//
// A T without pointers travels as its own bytes; []byte as it is; any
// other T through encoding/gob (or QueueOptions.Codec). Get copies the
// message out and releases it before it returns, so a message goes to one
// Get only; GetInto does the same into the caller's variable, reusing a
// []byte's buffer, so that a loop of Put and GetInto allocates nothing. Shutdown ends a queue for everyone (Puts fail, Gets drain);
// Close, as everywhere in shmkit, lets go of this process's handle. The
// control words are described at the top of queue.go.
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
//   - A consumer killed after Get returned has consumed the message; one
//     killed before a JoinableQueue's TaskDone leaves its task unfinished,
//     as in Python. (A process killed inside a Put or Get loses no place of
//     a queue with a MaxSize, and leaves no task of a JoinableQueue whose
//     message it did not commit: see queue.go.)
//   - Queue codecs are per process: every process must use the same one,
//     and a queue passed to a child uses the default.
//   - A batch (ClaimBatch, TakeBatch) is placed like one record: all its
//     records together take at most MaxRecord() + 8 bytes of the ring.
//   - A ring made with Options.SingleConsumer has one consumer process at
//     a time: the first to take keeps the ring until it closes its Ring or
//     dies, and a Take in another process waits until then. What it took
//     and did not release goes, in order, to the next one.
package ringbuf
