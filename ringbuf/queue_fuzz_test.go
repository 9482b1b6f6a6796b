package ringbuf_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/shmkit/shmkit/ringbuf"
)

// FuzzQueueOps runs a sequence of TryPut, TryGet and Shutdown on a queue of
// maxsize 5 and compares every result with a slice. Messages are at most
// 100 bytes, so five of them and the padding at the wrap always fit the
// 1024-byte ring: a TryPut fails exactly when five are in.
func FuzzQueueOps(f *testing.F) {
	f.Add([]byte{0, 10, 0, 20, 1, 1, 1})
	f.Add([]byte{0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 1, 0, 7, 1, 1, 1, 1, 1, 1})
	f.Add([]byte{0, 99, 0, 99, 0, 99, 1, 0, 99, 1, 0, 99, 1, 0, 99, 1, 0, 99, 1, 0, 99, 1, 0, 99, 1, 1, 1, 1, 1, 1})
	f.Add([]byte{0, 5, 0, 6, 2, 0, 7, 1, 1, 1})
	f.Fuzz(func(t *testing.T, ops []byte) {
		q, err := ringbuf.NewQueue(nil, "", &ringbuf.QueueOptions[[]byte]{MaxSize: 5, Capacity: 1024})
		if err != nil {
			t.Fatal(err)
		}
		defer q.Close()
		var model [][]byte
		shut := false
		for i := 0; i < len(ops); i++ {
			switch ops[i] % 3 {
			case 0: // TryPut of a message of the next byte's length (mod 101)
				n := 0
				if i+1 < len(ops) {
					i++
					n = int(ops[i]) % 101
				}
				msg := bytes.Repeat([]byte{byte(i)}, n)
				err := q.TryPut(msg)
				var want error
				switch {
				case shut:
					want = ringbuf.ErrShutdown
				case len(model) == 5:
					want = ringbuf.ErrFull
				default:
					model = append(model, msg)
				}
				if !errors.Is(err, want) || (want == nil) != (err == nil) {
					t.Fatalf("op %d: TryPut(%d bytes) = %v, want %v", i, n, err, want)
				}
			case 1:
				got, err := q.TryGet()
				switch {
				case len(model) > 0:
					if err != nil || !bytes.Equal(got, model[0]) {
						t.Fatalf("op %d: TryGet() = %d bytes, %v; want %d bytes", i, len(got), err, len(model[0]))
					}
					model = model[1:]
				case shut:
					if !errors.Is(err, ringbuf.ErrShutdown) {
						t.Fatalf("op %d: TryGet() = %v, want ErrShutdown", i, err)
					}
				default:
					if !errors.Is(err, ringbuf.ErrEmpty) {
						t.Fatalf("op %d: TryGet() = %v, want ErrEmpty", i, err)
					}
				}
			case 2:
				if err := q.Shutdown(t.Context()); err != nil {
					t.Fatal(err)
				}
				shut = true
			}
			if q.Len() != len(model) || q.Full() != (len(model) == 5) || q.Empty() != (len(model) == 0) {
				t.Fatalf("op %d: Len %d Full %v Empty %v; model holds %d", i, q.Len(), q.Full(), q.Empty(), len(model))
			}
		}
	})
}
