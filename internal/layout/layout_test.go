package layout_test

import (
	"errors"
	"math"
	"testing"

	"github.com/shmkit/shmkit/internal/layout"
)

func TestBounds(t *testing.T) {
	b := unsafeBytes(make([]uint64, 8)) // 64 bytes, 8-aligned
	v := layout.Of(b)
	tests := []struct {
		name string
		call func() error
		want error
	}{
		{"sub whole", func() error { _, err := v.Sub(0, 64); return err }, nil},
		{"sub empty at end", func() error { _, err := v.Sub(64, 0); return err }, nil},
		{"sub past end", func() error { _, err := v.Sub(60, 8); return err }, layout.ErrOutOfBounds},
		{"sub offset past end", func() error { _, err := v.Sub(65, 0); return err }, layout.ErrOutOfBounds},
		{"sub overflow", func() error { _, err := v.Sub(8, math.MaxUint64); return err }, layout.ErrOutOfBounds},
		{"sub huge offset", func() error { _, err := v.Sub(math.MaxUint64, 2); return err }, layout.ErrOutOfBounds},
		{"u32 last", func() error { _, err := v.Uint32(60); return err }, nil},
		{"u32 past", func() error { _, err := v.Uint32(64); return err }, layout.ErrOutOfBounds},
		{"u32 misaligned", func() error { _, err := v.Uint32(2); return err }, layout.ErrMisaligned},
		{"u64 misaligned", func() error { _, err := v.Uint64(4); return err }, layout.ErrMisaligned},
		{"u64 past", func() error { _, err := v.Uint64(64); return err }, layout.ErrOutOfBounds},
		{"bytes", func() error { _, err := v.UnsafeBytes(3, 61); return err }, nil},
		{"bytes past", func() error { _, err := v.UnsafeBytes(3, 62); return err }, layout.ErrOutOfBounds},
		{"slice overflow", func() error { _, err := layout.UnsafeSlice[uint64](v, 0, math.MaxUint64/4); return err }, layout.ErrOutOfBounds},
		{"slice past", func() error { _, err := layout.UnsafeSlice[uint64](v, 8, 8); return err }, layout.ErrOutOfBounds},
		{"slice misaligned", func() error { _, err := layout.UnsafeSlice[uint64](v, 4, 2); return err }, layout.ErrMisaligned},
		{"slice empty", func() error { _, err := layout.UnsafeSlice[uint64](v, 64, 0); return err }, nil},
		{"pointer", func() error { _, err := layout.UnsafePointer[[2]uint32](v, 56); return err }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestViewsShareMemory(t *testing.T) {
	words := make([]uint64, 4)
	b := unsafeBytes(words)
	v := layout.Of(b)
	sub, err := v.Sub(8, 16)
	if err != nil {
		t.Fatal(err)
	}
	w, err := sub.Uint64(8)
	if err != nil {
		t.Fatal(err)
	}
	w.Store(0x0102030405060708)
	if words[2] != 0x0102030405060708 {
		t.Errorf("store through a sub-view landed elsewhere: %x", words)
	}
	s, err := layout.UnsafeSlice[uint64](v, 0, 4)
	if err != nil {
		t.Fatal(err)
	}
	s[3] = 9
	if words[3] != 9 || len(s) != 4 {
		t.Errorf("UnsafeSlice does not alias: %v", words)
	}
}
