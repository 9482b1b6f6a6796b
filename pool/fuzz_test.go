package pool

import (
	"bytes"
	"encoding/gob"
	"testing"
)

// Task messages: parseTask never panics, and what it accepts frames back
// to the same bytes.
func FuzzParseTask(f *testing.F) {
	var args bytes.Buffer
	gob.NewEncoder(&args).Encode([]int{1, 2, 3})
	f.Add(appendTask(nil, 7, "square", args.Bytes()))
	f.Add(appendTask(nil, 1<<63, "x", nil))
	f.Add([]byte{})
	f.Add(make([]byte, taskHeader))
	f.Add(append(appendTask(nil, 1, "ab", nil)[:2], 0xff, 0xff))
	f.Fuzz(func(t *testing.T, b []byte) {
		chunk, name, payload, err := parseTask(b)
		if err != nil {
			return
		}
		if again := appendTask(nil, chunk, name, payload); !bytes.Equal(again, b) {
			t.Fatalf("parseTask(%x) = %d, %q, %x, which frames as %x", b, chunk, name, payload, again)
		}
	})
}

// Result messages: parseResult never panics, and what it accepts frames
// back to the same bytes.
func FuzzParseResult(f *testing.F) {
	f.Add(appendResult(nil, kindResult, 3, 9, []byte("payload")))
	f.Add(appendResult(nil, kindDied, 3, 0, nil))
	f.Add(appendResult(nil, kindFailed, 1, 2, append([]byte{failEncode}, "no"...)))
	f.Add(appendResult(nil, kindInitFailed, 1, 0, []byte("init")))
	f.Add([]byte{9})
	f.Fuzz(func(t *testing.T, b []byte) {
		kind, worker, chunk, payload, err := parseResult(b)
		if err != nil {
			return
		}
		if again := appendResult(nil, kind, worker, chunk, payload); !bytes.Equal(again, b) {
			t.Fatalf("parseResult(%x) frames back as %x", b, again)
		}
	})
}

// A chunk's result payload, as the caller decodes it: any bytes give
// exactly one result or error per item of the chunk, never a panic.
func FuzzChunkResult(f *testing.F) {
	var ok bytes.Buffer
	gob.NewEncoder(&ok).Encode(&wireResult[int]{Vals: []int{1, 4, 9}, Errs: []wireErr{{I: 1, Msg: "bad"}}})
	f.Add(byte(kindResult), uint8(3), ok.Bytes())
	var wrongLen bytes.Buffer
	gob.NewEncoder(&wrongLen).Encode(&wireResult[int]{Vals: []int{1}, Errs: []wireErr{{I: -5}, {I: 99}}})
	f.Add(byte(kindResult), uint8(2), wrongLen.Bytes())
	f.Add(byte(kindFailed), uint8(2), append([]byte{failTooLarge}, "too large"...))
	f.Add(byte(kindFailed), uint8(1), []byte{200})
	f.Add(byte(kindFailed), uint8(1), []byte{})
	f.Fuzz(func(t *testing.T, kind byte, n uint8, payload []byte) {
		if kind != kindResult {
			kind = kindFailed
		}
		c := &chunk{call: &call{fn: "f"}, index: 10, n: int(n), kind: kind, payload: payload}
		var seen []int
		var fatal error
		cont := emitChunk(nil, c, func(i int, v int, err error) bool {
			seen = append(seen, i)
			return true
		}, &fatal)
		if !cont || fatal != nil {
			t.Fatalf("emitChunk ended the call: %v", fatal)
		}
		if len(seen) != int(n) {
			t.Fatalf("emitChunk emitted %d results for %d items", len(seen), n)
		}
		for j, i := range seen {
			if i != 10+j {
				t.Fatalf("emitChunk emitted index %d as result %d", i, j)
			}
		}
	})
}
