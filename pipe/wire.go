package pipe

// The socket wire format is Python's multiprocessing.connection framing:
// each message is a length prefix and the message's bytes.
//
//	+----------------+-------------------------+
//	| int32 n (big-  | n bytes of message      |    0 <= n <= 2^31 - 1
//	| endian)        |                         |
//	+----------------+-------------------------+
//	| int32 -1       | uint64 n (big-endian)   | n bytes of message   (n >= 2^31)
//	+----------------+-------------------------+----------------------+
//
// Any other negative int32 is malformed. A receiver compares n with its
// limit (Options.MaxMessage) before it allocates or reads anything, so a
// peer that announces 1 GiB costs it nothing; the connection is then
// broken, as Python's "bad message length" leaves it, since the bytes of
// the message cannot be skipped safely.

import (
	"encoding/binary"
	"fmt"
	"math"
)

const (
	shortHeader = 4
	longHeader  = 12
)

// appendHeader appends the length prefix of a message of n bytes.
func appendHeader(dst []byte, n int) []byte {
	if n <= math.MaxInt32 {
		return binary.BigEndian.AppendUint32(dst, uint32(n))
	}
	dst = binary.BigEndian.AppendUint32(dst, math.MaxUint32) // int32 -1
	return binary.BigEndian.AppendUint64(dst, uint64(n))
}

// parseHeader decodes the length prefix at the start of b. It returns the
// message length and the prefix's own length, need > 0 if b is too short
// to tell (the prefix's length), or an error for a malformed prefix or a
// length above max.
func parseHeader(b []byte, max int) (n, hdr, need int, err error) {
	if len(b) < shortHeader {
		return 0, 0, shortHeader, nil
	}
	v := int32(binary.BigEndian.Uint32(b))
	switch {
	case v >= 0:
		n, hdr = int(v), shortHeader
	case v == -1:
		if len(b) < longHeader {
			return 0, 0, longHeader, nil
		}
		l := binary.BigEndian.Uint64(b[shortHeader:])
		if l <= math.MaxInt32 || l > math.MaxInt64 {
			return 0, 0, 0, fmt.Errorf("%w: long length prefix of %d", ErrBroken, l)
		}
		if l > uint64(max) {
			return 0, 0, 0, fmt.Errorf("%w: %w: a message of %d bytes, the limit is %d", ErrBroken, ErrTooLarge, l, max)
		}
		n, hdr = int(l), longHeader
	default:
		return 0, 0, 0, fmt.Errorf("%w: negative length prefix %d", ErrBroken, v)
	}
	if n > max {
		return 0, 0, 0, fmt.Errorf("%w: %w: a message of %d bytes, the limit is %d", ErrBroken, ErrTooLarge, n, max)
	}
	return n, hdr, 0, nil
}
