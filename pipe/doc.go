// Package pipe gives connections that carry whole messages between two
// processes: Python's multiprocessing.Pipe and multiprocessing.connection
// for Go. A pipe (New) is a pair of ends over shared-memory rings in one
// segment, for a parent and the child it hands an end to, or for any two
// processes that map the segment; a Listener and Dial connect processes
// that share nothing, over a Unix or TCP socket, with mutual HMAC-SHA256
// authentication. Both kinds are a Connection, so code written against it
// does not care which it got.
//
//	a, b, err := pipe.New(nil, "", nil)  // duplex; Options.OneWay for Pipe(duplex=False)
//	p, err := process.Start(ctx, worker, b, nil)
//	b.Close()                            // the child holds b now
//	err = a.Send(ctx, job)               // encoding/gob
//	err = a.Recv(ctx, &result)           // io.EOF once the child closed b, or died
//
// # Messages
//
// Each SendBytes is one RecvBytes on the other side, in order, whatever its
// length (up to MaxMessage). Send and Recv carry Go values with
// encoding/gob, SendValue and RecvValue with any ringbuf.Codec; neither
// ever decodes code, unlike Python's pickle. RecvBytesInto with a buffer that
// is too short returns a *BufferTooShortError with the size needed and keeps
// the message. Read and Write view a connection as a byte stream.
//
// # Ends of a pipe, and processes that die
//
// An end belongs to the process that holds it: the one that made the pipe,
// or the one that opened the end (an *End passed to process.Start arrives
// in the child opened, held by the child). When the holder closes the end,
// or dies, the other end's receives return what was sent and then io.EOF,
// and its sends fail with ErrPeerClosed, as Python's do when a socket
// closes; a death is noticed within a few tens of milliseconds (the ends
// look every 10 ms). A parent may close its copy of the child's end at once
// after Start: an end encoded for another process no longer speaks for it.
//
// # Sockets and authentication
//
// Listen accepts and authenticates in the background, many clients at once,
// so that a client that says nothing holds up nobody; NetOptions bounds the
// handshake's time and every message's size, so a length prefix of 1 GiB
// costs the receiver nothing. The handshake and the framing are those of
// Python 3.12's multiprocessing.connection, with SHA-256 only (see
// DeliverChallenge), and the handshake ends before any message is decoded.
// So a Go program and a Python 3.12 or later one connect either way and
// exchange bytes (SendBytes, RecvBytes; Python's send_bytes, recv_bytes):
// TestPythonInterop checks it. Send and Recv use gob, not pickle.
//
// # What we don't hide
//
//   - A pipe's messages are at most half a ring (Options.Capacity, 1 MiB by
//     default, so 512 KiB less 8 bytes); larger ones fail with ErrTooLarge
//     rather than being split. Write splits a stream at MaxMessage.
//   - The rings take 2 × Capacity of shared memory from New on.
//   - A goroutine waiting on a pipe end sleeps in the kernel (futex) and
//     holds an OS thread; Wait uses one goroutine per connection.
//   - An end handed to a child that dies before it opened it stays held by
//     the parent: the other end sees it alive until the parent dies. The
//     parent's Close of an end it handed on cannot end it (the child may
//     still be about to open it, as after the usual Start and Close); it
//     only lets go of the mapping.
//   - A message a Poll found is kept by this process for its next receive;
//     Close consumes it.
//   - Without an AuthKey, a Listener serves whoever connects, as Python's
//     does without an authkey.
//   - Read and Write wait without a deadline (use the context methods for
//     bounded waits).
package pipe
