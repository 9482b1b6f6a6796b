package pool

import (
	"bytes"
	"encoding/gob"
	"slices"
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
	ok, _ := appendResultPayload(nil, []int{1, 4, 9}, []wireErr{{I: 1, Msg: "bad"}})
	f.Add(byte(kindResult), uint8(3), ok)
	wrongLen, _ := appendResultPayload(nil, []int{1}, []wireErr{{I: -5}, {I: 99}})
	f.Add(byte(kindResult), uint8(2), wrongLen)
	noErrs, _ := appendResultPayload(nil, []int{1, 2}, nil)
	f.Add(byte(kindResult), uint8(2), noErrs)
	f.Add(byte(kindFailed), uint8(2), append([]byte{failNotRegistered}, "not here"...))
	f.Add(byte(kindFailed), uint8(1), []byte{200})
	f.Add(byte(kindFailed), uint8(1), []byte{})
	f.Fuzz(func(t *testing.T, kind byte, n uint8, payload []byte) {
		if kind != kindResult {
			kind = kindFailed
		}
		c := &chunk{call: &call{fn: "f"}, index: 10, n: int(n), kind: kind, payload: payload}
		var seen []int
		var fatal error
		var scratch []int
		cont := emitChunk(c, &scratch, nil, func(i int, v int, err error) bool {
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
		// Stored into a call's results (Map): errors only are emitted.
		into := make([]int, 10+int(n)+3)
		nerrs := 0
		if !emitChunk(c, &scratch, into, func(i int, v int, err error) bool {
			if err == nil || i < 10 || i >= 10+int(n) {
				t.Fatalf("emitChunk into results emitted %d, %v", i, err)
			}
			nerrs++
			return true
		}, &fatal) || fatal != nil {
			t.Fatalf("emitChunk into results ended the call: %v", fatal)
		}
		if into[len(into)-1] != 0 || into[9] != 0 {
			t.Fatalf("emitChunk wrote outside its chunk: %v", into)
		}
	})
}

// Slice payloads: any bytes decode to a slice or an error, never a panic;
// what appendSlice makes decodes to the same slice.
func FuzzSlice(f *testing.F) {
	raw, _ := appendSlice(nil, []int{1, -2, 3})
	f.Add(raw, false)
	viaGob, _ := appendSlice(nil, []string{"a", "b"})
	f.Add(viaGob, true)
	f.Add([]byte{sliceRaw, 1, 2, 3}, false)
	f.Add([]byte{}, true)
	f.Fuzz(func(t *testing.T, b []byte, strings bool) {
		if strings {
			var s []string
			if decodeSlice(b, &s) == nil {
				again, err := appendSlice(nil, s)
				var s2 []string
				if err != nil || decodeSlice(again, &s2) != nil || !slices.Equal(s, s2) {
					t.Fatalf("%q does not round-trip: %v", s, err)
				}
			}
			return
		}
		var s []int
		if decodeSlice(b, &s) == nil {
			again, err := appendSlice(nil, s)
			var s2 []int
			if err != nil || decodeSlice(again, &s2) != nil || !slices.Equal(s, s2) {
				t.Fatalf("%v does not round-trip: %v", s, err)
			}
		}
	})
}

// Every raw element type round-trips.
func TestSliceRoundTrip(t *testing.T) {
	roundTrip(t, []int{0, -1, 1 << 62})
	roundTrip(t, []int64{-5, 7})
	roundTrip(t, []uint{0, 1<<64 - 1})
	roundTrip(t, []uint64{3})
	roundTrip(t, []int32{-1 << 31, 1})
	roundTrip(t, []uint32{1<<32 - 1})
	roundTrip(t, []float64{1.5, -0.25})
	roundTrip(t, []float32{2.5})
	roundTrip(t, []bool{true, false, true})
	roundTrip(t, []string{"x", ""})
	roundTrip(t, []struct{ A, B int }{{1, 2}})
	roundTrip(t, []int{})
}

func roundTrip[T comparable](t *testing.T, s []T) {
	t.Helper()
	b, err := appendSlice(nil, s)
	if err != nil {
		t.Fatal(err)
	}
	var got []T
	if err := decodeSlice(b, &got); err != nil || !slices.Equal(got, s) {
		t.Errorf("%T %v came back as %v, %v", s, s, got, err)
	}
}

// Fragments: any sequence of records gives whole messages or errors, never
// a panic; a message cut by putMessage's framing comes back whole.
func FuzzAssembler(f *testing.F) {
	f.Add([]byte("hello, world"), uint8(5), []byte{kindFragment, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 'x'})
	f.Add([]byte{}, uint8(1), []byte{kindFragment})
	f.Fuzz(func(t *testing.T, msg []byte, piece uint8, junk []byte) {
		var a assembler
		a.add(junk) // whatever it does, it must not panic
		a.drop(0)
		p := int(piece)%32 + 1
		var got []byte
		done := false
		for off := 0; off < len(msg) || off == 0; off += p {
			end := min(off+p, len(msg))
			rec := make([]byte, fragHeader)
			rec[0] = kindFragment
			if end == len(msg) {
				rec[1] = 1
			}
			rec = append(rec, msg[off:end]...)
			m, ok, err := a.add(rec)
			if err != nil {
				t.Fatal(err)
			}
			if ok {
				got, done = m, true
			}
			if end == len(msg) {
				break
			}
		}
		if !done || !bytes.Equal(got, msg) {
			t.Fatalf("fragments of %q came back as %q (%v)", msg, got, done)
		}
	})
}
