package pool

// The payloads of chunks: the arguments of a chunk (a []In) and its results
// (a []Out and the failures). A slice of a fixed-size number type or bool
// travels as its little-endian bytes; any other element type through
// encoding/gob, with one fresh encoder per chunk (so each chunk carries its
// type description).
//
//	slice payload:   tag u8 (sliceRaw or sliceGob), then the elements
//	                 (sliceRaw: count·width bytes; int and uint as 8)
//	result payload:  valsLen u32, a slice payload of valsLen bytes, then
//	                 the failures, gob of []wireErr, if any bytes are left

import (
	"bytes"
	"encoding/binary"
	"encoding/gob"
	"fmt"
	"math"
	"slices"
)

const (
	sliceGob = 1
	sliceRaw = 2
)

// le is the byte order of raw slices.
var le = binary.LittleEndian

// appendSlice appends the slice payload of s to dst.
func appendSlice[T any](dst []byte, s []T) ([]byte, error) {
	if rawWidth[T]() == 0 {
		buf := bytes.NewBuffer(append(dst, sliceGob))
		if err := gob.NewEncoder(buf).Encode(s); err != nil {
			return dst, err
		}
		return buf.Bytes(), nil
	}
	dst = slices.Grow(append(dst, sliceRaw), rawWidth[T]()*len(s))
	switch s := any(s).(type) {
	case []int:
		for _, v := range s {
			dst = le.AppendUint64(dst, uint64(v))
		}
		return dst, nil
	case []uint:
		for _, v := range s {
			dst = le.AppendUint64(dst, uint64(v))
		}
		return dst, nil
	}
	return binary.Append(dst, le, s) // fixed-size elements
}

// rawWidth is the size on the wire of one element of a []T that travels
// as raw bytes (int and uint as 8), or 0 for one that goes through gob.
func rawWidth[T any]() int {
	var z T
	switch any(z).(type) {
	case int, uint, int64, uint64, float64:
		return 8
	case int32, uint32, float32:
		return 4
	case bool:
		return 1
	}
	return 0
}

// reuse returns s resliced to n elements if it has the room, else a new
// slice.
func reuse[T any](s []T, n int) []T {
	if cap(s) >= n {
		return s[:n]
	}
	return make([]T, n)
}

// decodeSlice sets *s from a slice payload made by appendSlice[T], reusing
// *s's array when it is large enough.
func decodeSlice[T any](b []byte, s *[]T) error {
	if len(b) == 0 {
		return fmt.Errorf("%w: empty slice payload", errMessage)
	}
	tag, b := b[0], b[1:]
	if tag == sliceGob {
		// Not into *s's old elements: gob leaves the fields it does not
		// send (the zero ones) as they were.
		*s = nil
		return gob.NewDecoder(bytes.NewReader(b)).Decode(s)
	}
	if tag != sliceRaw {
		return fmt.Errorf("%w: slice tag %d", errMessage, tag)
	}
	w := rawWidth[T]()
	if w == 0 {
		return fmt.Errorf("%w: raw payload for %T", errMessage, *s)
	}
	if len(b)%w != 0 {
		return fmt.Errorf("%w: %d bytes of %d-byte elements", errMessage, len(b), w)
	}
	*s = reuse(*s, len(b)/w)
	switch v := any(*s).(type) {
	case []int:
		for i := range v {
			v[i] = int(le.Uint64(b[8*i:]))
		}
	case []uint:
		for i := range v {
			v[i] = uint(le.Uint64(b[8*i:]))
		}
	default:
		if _, err := binary.Decode(b, le, v); err != nil {
			return fmt.Errorf("%w: %w", errMessage, err)
		}
	}
	return nil
}

// appendResultPayload appends a chunk's result payload.
func appendResultPayload[Out any](dst []byte, vals []Out, errs []wireErr) ([]byte, error) {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	dst, err := appendSlice(dst, vals)
	if err != nil {
		return dst[:start], err
	}
	n := len(dst) - start - 4
	if n > math.MaxUint32 {
		return dst[:start], fmt.Errorf("results of %d bytes (at most 4 GiB a chunk)", n)
	}
	binary.LittleEndian.PutUint32(dst[start:], uint32(n))
	if len(errs) > 0 {
		buf := bytes.NewBuffer(dst)
		if err := gob.NewEncoder(buf).Encode(errs); err != nil {
			return dst[:start], err
		}
		dst = buf.Bytes()
	}
	return dst, nil
}

// decodeResultPayload reads a payload made by appendResultPayload[Out];
// vals reuses the array of the vals passed in when it is large enough.
func decodeResultPayload[Out any](b []byte, vals []Out) (_ []Out, errs []wireErr, err error) {
	if len(b) < 4 {
		return nil, nil, fmt.Errorf("%w: result payload of %d bytes", errMessage, len(b))
	}
	n := uint64(binary.LittleEndian.Uint32(b))
	if n > uint64(len(b)-4) {
		return nil, nil, fmt.Errorf("%w: %d bytes of results in a payload of %d", errMessage, n, len(b))
	}
	if err := decodeSlice(b[4:4+n], &vals); err != nil {
		return nil, nil, err
	}
	if rest := b[4+n:]; len(rest) > 0 {
		if err := gob.NewDecoder(bytes.NewReader(rest)).Decode(&errs); err != nil {
			return nil, nil, err
		}
	}
	return vals, errs, nil
}
