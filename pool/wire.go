package pool

// The messages between a pool and its workers. They travel on ringbuf
// queues of []byte (one task queue per worker, one result queue shared by
// all) and are framed here, little-endian, so that a message from another
// version, or a corrupt one, gives an error and never a panic.
//
// Task message (parent -> one worker):
//
//	0   kind     u8   kindTask
//	1   zero     u8
//	2   nameLen  u16  length of the function's registered name
//	4   zero     u32
//	8   chunk    u64  the chunk's id, unique in the pool
//	16  name     nameLen bytes
//	..  args     the rest: gob of []In
//
// Result message (a worker, or the pool itself, -> the pool):
//
//	0   kind     u8   kindResult, kindFailed, kindDied or kindInitFailed
//	1   zero     7 bytes
//	8   worker   u64  the worker's id, unique in the pool (never reused)
//	16  chunk    u64  the chunk's id (0 for kindDied and kindInitFailed)
//	24  payload  the rest: gob of a wireResult[Out] (kindResult), or the
//	             error's text (kindFailed, kindInitFailed); empty for
//	             kindDied
//
// kindDied is put by the pool itself, once it has reaped the worker: since
// records come out of a ring in claim order, every result the dead worker
// committed is read before the notice of its death, so a chunk is declared
// lost only when its result can no longer come.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/shmkit/shmkit/ringbuf"
)

const (
	kindTask       = 1
	kindResult     = 1
	kindFailed     = 2
	kindDied       = 3
	kindInitFailed = 4

	taskHeader   = 16
	resultHeader = 24
	maxName      = 1 << 10
)

var errMessage = errors.New("pool: malformed message")

// appendTask frames a task message.
func appendTask(dst []byte, chunk uint64, name string, args []byte) []byte {
	var h [taskHeader]byte
	h[0] = kindTask
	binary.LittleEndian.PutUint16(h[2:], uint16(len(name)))
	binary.LittleEndian.PutUint64(h[8:], chunk)
	dst = append(dst, h[:]...)
	dst = append(dst, name...)
	return append(dst, args...)
}

// setTaskChunk sets the chunk id of a task message framed by appendTask.
func setTaskChunk(msg []byte, chunk uint64) {
	binary.LittleEndian.PutUint64(msg[8:], chunk)
}

// parseTask reads a task message; name and args alias b.
func parseTask(b []byte) (chunk uint64, name string, args []byte, err error) {
	if len(b) < taskHeader {
		return 0, "", nil, fmt.Errorf("%w: task of %d bytes", errMessage, len(b))
	}
	if b[0] != kindTask || b[1] != 0 || binary.LittleEndian.Uint32(b[4:]) != 0 {
		return 0, "", nil, fmt.Errorf("%w: task kind %d", errMessage, b[0])
	}
	n := int(binary.LittleEndian.Uint16(b[2:]))
	if n == 0 || n > maxName || n > len(b)-taskHeader {
		return 0, "", nil, fmt.Errorf("%w: name of %d bytes in a task of %d", errMessage, n, len(b))
	}
	return binary.LittleEndian.Uint64(b[8:]), string(b[taskHeader : taskHeader+n]), b[taskHeader+n:], nil
}

// appendResult frames a result message.
func appendResult(dst []byte, kind byte, worker, chunk uint64, payload []byte) []byte {
	var h [resultHeader]byte
	h[0] = kind
	binary.LittleEndian.PutUint64(h[8:], worker)
	binary.LittleEndian.PutUint64(h[16:], chunk)
	dst = append(dst, h[:]...)
	return append(dst, payload...)
}

// parseResult reads a result message; payload aliases b.
func parseResult(b []byte) (kind byte, worker, chunk uint64, payload []byte, err error) {
	if len(b) < resultHeader {
		return 0, 0, 0, nil, fmt.Errorf("%w: result of %d bytes", errMessage, len(b))
	}
	kind = b[0]
	if kind < kindResult || kind > kindInitFailed {
		return 0, 0, 0, nil, fmt.Errorf("%w: result kind %d", errMessage, kind)
	}
	for _, z := range b[1:8] {
		if z != 0 {
			return 0, 0, 0, nil, fmt.Errorf("%w: result header", errMessage)
		}
	}
	return kind, binary.LittleEndian.Uint64(b[8:]), binary.LittleEndian.Uint64(b[16:]), b[resultHeader:], nil
}

// A message larger than a queue's records travels as fragments, in order
// (one producer's records come out of a ring in its order):
//
//	0   kindFragment  u8   0xff
//	1   last          u8   1 on the message's last fragment, else 0
//	2   zero          6 bytes
//	8   from          u64  the producer: a worker's id on the result queue,
//	                       0 on a task queue (it has one producer)
//	16  piece         the next bytes of the message
//
// The receiver keeps the pieces per producer until the last one, then
// reads the whole as a message. The pieces of a worker that dies are
// dropped with it.
const (
	kindFragment = 0xff
	fragHeader   = 16
)

// putMessage puts msg on q, in fragments if it is larger than a record of q.
func putMessage(ctx context.Context, q *ringbuf.Queue[[]byte], from uint64, msg []byte) error {
	limit := q.MaxMessage()
	if len(msg) <= limit {
		return q.Put(ctx, msg)
	}
	piece := limit - fragHeader
	rec := make([]byte, 0, limit)
	for off := 0; off < len(msg); off += piece {
		end := min(off+piece, len(msg))
		rec = append(rec[:0], make([]byte, fragHeader)...)
		rec[0] = kindFragment
		if end == len(msg) {
			rec[1] = 1
		}
		binary.LittleEndian.PutUint64(rec[8:], from)
		rec = append(rec, msg[off:end]...)
		if err := q.Put(ctx, rec); err != nil {
			return err
		}
	}
	return nil
}

// assembler puts fragmented messages back together, per producer.
type assembler struct {
	parts map[uint64][]byte
}

// add takes one record from a queue: a whole message is returned as it is;
// a fragment is kept, and the whole message returned with its last one.
// ok is false while a message is incomplete.
func (a *assembler) add(rec []byte) (msg []byte, ok bool, err error) {
	if len(rec) == 0 || rec[0] != kindFragment {
		return rec, true, nil
	}
	if len(rec) < fragHeader || rec[1] > 1 {
		return nil, false, fmt.Errorf("%w: fragment of %d bytes", errMessage, len(rec))
	}
	for _, z := range rec[2:8] {
		if z != 0 {
			return nil, false, fmt.Errorf("%w: fragment header", errMessage)
		}
	}
	from := binary.LittleEndian.Uint64(rec[8:])
	if a.parts == nil {
		a.parts = make(map[uint64][]byte)
	}
	whole := append(a.parts[from], rec[fragHeader:]...)
	if rec[1] == 0 {
		a.parts[from] = whole
		return nil, false, nil
	}
	delete(a.parts, from)
	return whole, true, nil
}

// drop forgets the pieces from a producer that is gone.
func (a *assembler) drop(from uint64) { delete(a.parts, from) }
