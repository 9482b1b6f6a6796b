package pipe

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// Errors returned by this package, for use with errors.Is. The end of a
// stream is io.EOF, as for any io.Reader.
var (
	// ErrPeerClosed: the other end was closed, or its process died, so a
	// Send has nobody to deliver to (Python's BrokenPipeError). It is
	// io.ErrClosedPipe, which io.Pipe returns for the same thing.
	ErrPeerClosed = io.ErrClosedPipe
	// ErrClosed: this end was closed in this process (Python's "handle is
	// closed").
	ErrClosed = os.ErrClosed
	// ErrReadOnly: Send on the receiving end of a one-way pipe (Python's
	// "connection is read-only").
	ErrReadOnly = errors.New("pipe: connection is read-only")
	// ErrWriteOnly: Recv or Poll on the sending end of a one-way pipe
	// (Python's "connection is write-only").
	ErrWriteOnly = errors.New("pipe: connection is write-only")
	// ErrTooLarge: a message larger than the connection carries (see
	// Connection.MaxMessage); on a socket, a received length prefix above
	// the limit, which leaves the connection unusable.
	ErrTooLarge = errors.New("pipe: message too large")
	// ErrBufferTooShort: RecvBytesInto was given a buffer smaller than the
	// message. The error is a *BufferTooShortError carrying the size.
	ErrBufferTooShort = errors.New("pipe: buffer too short")
	// ErrAuthentication: the authentication handshake failed: a wrong or
	// missing key, a malformed challenge or answer, or a peer that did not
	// finish it in time (Python's AuthenticationError).
	ErrAuthentication = errors.New("pipe: authentication failed")
	// ErrBroken: a socket connection whose byte stream can no longer be
	// cut into messages (a length prefix above the limit or malformed,
	// or a receive cut short inside a message by its context), or whose
	// sends can no longer be (a send cut short inside a message by its
	// context). Every later receive, or send, fails with it.
	ErrBroken = errors.New("pipe: connection broken")
)

// BufferTooShortError is returned by RecvBytesInto when the message does
// not fit the buffer (Python's BufferTooShort). The message is not lost:
// it stays first in line, for the next receive with a large enough buffer.
type BufferTooShortError struct {
	Size int // the message's length in bytes
}

// Error names the size the buffer needed.
func (e *BufferTooShortError) Error() string {
	return fmt.Sprintf("pipe: buffer too short for a message of %d bytes", e.Size)
}

// Is makes errors.Is(err, ErrBufferTooShort) true.
func (e *BufferTooShortError) Is(target error) bool { return target == ErrBufferTooShort }
