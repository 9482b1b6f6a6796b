package shm_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/shmkit/shmkit/shm"
)

type point struct {
	X, Y float64
	Tag  [4]byte
}

type samePoint struct { // another declaration of the same layout
	X, Y float64
	Tag  [4]byte
}

type renamed struct {
	A, B float64
	Tag  [4]byte
}

type withString struct {
	N    int32
	Name string
}

type nested struct {
	P     [2]point
	Inner struct{ S []int }
}

func TestTypeInfo(t *testing.T) {
	size, h1, err := shm.TypeOf[point]()
	if err != nil || size != 24 {
		t.Fatalf("TypeOf[point] = %d, %v", size, err)
	}
	if _, h2, _ := shm.TypeOf[samePoint](); h2 != h1 {
		t.Errorf("two declarations of one layout hash differently")
	}
	if _, h3, _ := shm.TypeOf[renamed](); h3 == h1 {
		t.Errorf("renamed fields hash the same")
	}
	_, hi32, _ := shm.TypeOf[int32]()
	_, hu32, _ := shm.TypeOf[uint32]()
	_, hf32, _ := shm.TypeOf[float32]()
	if hi32 == hu32 || hi32 == hf32 || hu32 == hf32 {
		t.Errorf("int32, uint32, float32 share a hash")
	}
	for _, tt := range []struct {
		t    reflect.Type
		path string
	}{
		{reflect.TypeFor[withString](), "withString.Name: string"},
		{reflect.TypeFor[nested](), "nested.Inner.S: slice"},
		{reflect.TypeFor[*int](), "*int: ptr"},
		{reflect.TypeFor[map[int]int](), "map"},
		{reflect.TypeFor[any](), "interface"},
		{reflect.TypeFor[chan int](), "chan"},
		{reflect.TypeFor[func()](), "func"},
		{reflect.TypeFor[[3]*int](), "[3]*int[0]: ptr"},
		{reflect.TypeFor[struct{}](), "size zero"},
	} {
		_, _, err := shm.TypeInfo(tt.t)
		if !errors.Is(err, shm.ErrType) || !strings.Contains(err.Error(), tt.path) {
			t.Errorf("TypeInfo(%v) = %v, want ErrType naming %q", tt.t, err, tt.path)
		}
	}
}
