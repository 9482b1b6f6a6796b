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

// appendSlice appends the slice payload of s to dst.
func appendSlice[T any](dst []byte, s []T) ([]byte, error) {
	le := binary.LittleEndian
	dst = slices.Grow(dst, 1+8*len(s)) // enough for every raw type
	switch s := any(s).(type) {
	case []int:
		dst = append(dst, sliceRaw)
		for _, v := range s {
			dst = le.AppendUint64(dst, uint64(v))
		}
	case []int64:
		dst = append(dst, sliceRaw)
		for _, v := range s {
			dst = le.AppendUint64(dst, uint64(v))
		}
	case []uint:
		dst = append(dst, sliceRaw)
		for _, v := range s {
			dst = le.AppendUint64(dst, uint64(v))
		}
	case []uint64:
		dst = append(dst, sliceRaw)
		for _, v := range s {
			dst = le.AppendUint64(dst, v)
		}
	case []int32:
		dst = append(dst, sliceRaw)
		for _, v := range s {
			dst = le.AppendUint32(dst, uint32(v))
		}
	case []uint32:
		dst = append(dst, sliceRaw)
		for _, v := range s {
			dst = le.AppendUint32(dst, v)
		}
	case []float64:
		dst = append(dst, sliceRaw)
		for _, v := range s {
			dst = le.AppendUint64(dst, math.Float64bits(v))
		}
	case []float32:
		dst = append(dst, sliceRaw)
		for _, v := range s {
			dst = le.AppendUint32(dst, math.Float32bits(v))
		}
	case []bool:
		dst = append(dst, sliceRaw)
		for _, v := range s {
			b := byte(0)
			if v {
				b = 1
			}
			dst = append(dst, b)
		}
	default:
		buf := bytes.NewBuffer(append(dst, sliceGob))
		if err := gob.NewEncoder(buf).Encode(s); err != nil {
			return dst, err
		}
		dst = buf.Bytes()
	}
	return dst, nil
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
	le := binary.LittleEndian
	count := func(width int) (int, error) {
		if len(b)%width != 0 {
			return 0, fmt.Errorf("%w: %d bytes of %d-byte elements", errMessage, len(b), width)
		}
		return len(b) / width, nil
	}
	var err error
	var n int
	switch s := any(s).(type) {
	case *[]int:
		if n, err = count(8); err == nil {
			*s = reuse(*s, n)
			for i := range *s {
				(*s)[i] = int(le.Uint64(b[8*i:]))
			}
		}
	case *[]int64:
		if n, err = count(8); err == nil {
			*s = reuse(*s, n)
			for i := range *s {
				(*s)[i] = int64(le.Uint64(b[8*i:]))
			}
		}
	case *[]uint:
		if n, err = count(8); err == nil {
			*s = reuse(*s, n)
			for i := range *s {
				(*s)[i] = uint(le.Uint64(b[8*i:]))
			}
		}
	case *[]uint64:
		if n, err = count(8); err == nil {
			*s = reuse(*s, n)
			for i := range *s {
				(*s)[i] = le.Uint64(b[8*i:])
			}
		}
	case *[]int32:
		if n, err = count(4); err == nil {
			*s = reuse(*s, n)
			for i := range *s {
				(*s)[i] = int32(le.Uint32(b[4*i:]))
			}
		}
	case *[]uint32:
		if n, err = count(4); err == nil {
			*s = reuse(*s, n)
			for i := range *s {
				(*s)[i] = le.Uint32(b[4*i:])
			}
		}
	case *[]float64:
		if n, err = count(8); err == nil {
			*s = reuse(*s, n)
			for i := range *s {
				(*s)[i] = math.Float64frombits(le.Uint64(b[8*i:]))
			}
		}
	case *[]float32:
		if n, err = count(4); err == nil {
			*s = reuse(*s, n)
			for i := range *s {
				(*s)[i] = math.Float32frombits(le.Uint32(b[4*i:]))
			}
		}
	case *[]bool:
		*s = reuse(*s, len(b))
		for i := range *s {
			(*s)[i] = b[i] != 0
		}
	default:
		return fmt.Errorf("%w: raw payload for %T", errMessage, s)
	}
	return err
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
