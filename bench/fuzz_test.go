package bench_test

import (
	"math"
	"testing"

	"github.com/shmkit/shmkit/bench"
)

// FuzzParsePython feeds arbitrary lines to the parser of the Python
// script's output: it must return a row or an error, never panic, and a row
// it returns has finite, non-negative numbers.
func FuzzParsePython(f *testing.F) {
	for _, seed := range []string{
		`{"transport": "python Pipe", "size": 16, "samples_ns": [35000, 36000, 120000]}`,
		`{"transport": "python Queue", "size": 64, "count": 5408, "seconds": 0.137}`,
		`{"transport": "python Queue", "size": 64, "procs": "2\u00d72", "count": 10, "seconds": 0.5}`,
		`{"transport": "python Lock", "procs": "2", "count": 184928, "seconds": 0.06}`,
		`{"transport": "python Lock", "procs": "2", "error": "1 operations, counter 2"}`,
		`{"transport": "python Pool", "op": "map", "procs": "2", "count": 100000, "seconds": 0.11}`,
		`{"transport": "python Pool", "op": "start+stop", "procs": "2", "count": 1, "seconds": 0.09}`,
		`{"transport": "python Pool", "op": "a very long operation name", "count": 1, "seconds": 1}`,
		`{"transport": "python Pipe", "size": 16, "samples_ns": [-1]}`,
		`{"transport": "python Pipe", "size": 16, "samples_ns": []}`,
		`{"transport": "python Pipe", "count": 1, "seconds": 1e400}`,
		`{"transport": "go", "count": 1, "seconds": 1}`,
		`{"transport": "python Pipe"} {}`,
		`{"unknown": 1}`,
		``,
	} {
		for _, unit := range []string{"latency", "throughput", "rate", "tasks"} {
			f.Add([]byte(seed), unit)
		}
	}
	f.Fuzz(func(t *testing.T, line []byte, unit string) {
		row, err := bench.ParsePython(line, unit)
		if (row == nil) == (err == nil) {
			t.Fatalf("ParsePython(%q) = %v, %v: want a row or an error", line, row, err)
		}
		if row == nil || row.Err != "" {
			return
		}
		for _, v := range []float64{row.P50, row.P90, row.P99, row.P999, row.Max, row.PerSec, row.BytesPerSec, row.Seconds} {
			if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
				t.Fatalf("ParsePython(%q) = %+v: a number out of range", line, row)
			}
		}
		if unit == "latency" && !(row.P50 > 0 && row.P50 <= row.Max) {
			t.Fatalf("ParsePython(%q) = %+v: percentiles out of order", line, row)
		}
	})
}

// FuzzHeader reads arbitrary bytes as a message: header must return an
// error exactly when the message is too short for a sequence number, and
// read back what Fill wrote.
func FuzzHeader(f *testing.F) {
	f.Add([]byte{}, uint64(0), int64(0))
	f.Add(make([]byte, 8), uint64(1), int64(2))
	f.Add(make([]byte, 64), ^uint64(0), int64(-1))
	f.Fuzz(func(t *testing.T, b []byte, seq uint64, stamp int64) {
		if _, _, err := bench.Header(b); (err != nil) != (len(b) < 8) {
			t.Fatalf("Header(%d bytes): %v", len(b), err)
		}
		if len(b) < 8 {
			return
		}
		bench.Fill(b, len(b), seq, stamp)
		gs, gt, err := bench.Header(b)
		wantT := stamp
		if len(b) < 16 {
			wantT = 0
		}
		if err != nil || gs != seq || gt != wantT {
			t.Fatalf("Header(Fill(%d bytes, %d, %d)) = %d, %d, %v", len(b), seq, stamp, gs, gt, err)
		}
	})
}
