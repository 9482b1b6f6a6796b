package shm

import (
	"fmt"
	"hash/fnv"
	"reflect"
	"strconv"
	"strings"
)

// TypeInfo checks that values of t can live in shared memory and returns
// what typed objects record about it: its size and a hash of its layout.
//
// A type can live in shared memory when it holds no Go pointers: booleans,
// integers, floats, complex numbers, and arrays and structs of those. A
// string, slice, map, pointer, interface, channel or function (anywhere
// inside t) is refused with an error wrapping ErrType that names where it
// is, as in "Point.Tags: string". A type of size zero is refused too.
//
// The hash covers the layout: the kind, size and offset of every field,
// recursively, and the names of struct fields, but not the name or package
// of t itself, so that two programs that declare the same struct in
// different packages agree. int and uint hash as the integer of their size
// on this platform.
func TypeInfo(t reflect.Type) (size uint32, hash uint64, err error) {
	var b strings.Builder
	if err := describe(&b, t, t.String()); err != nil {
		return 0, 0, err
	}
	if t.Size() == 0 {
		return 0, 0, fmt.Errorf("%w: %v has size zero", ErrType, t)
	}
	if t.Size() > MaxSize {
		return 0, 0, fmt.Errorf("%w: %v has size %d", ErrType, t, t.Size())
	}
	h := fnv.New64a()
	h.Write([]byte(b.String()))
	return uint32(t.Size()), h.Sum64(), nil
}

// TypeOf is TypeInfo for T.
func TypeOf[T any]() (size uint32, hash uint64, err error) {
	return TypeInfo(reflect.TypeFor[T]())
}

// describe writes a canonical description of t's layout to b, or returns
// an error naming the path to the first part that cannot be shared.
func describe(b *strings.Builder, t reflect.Type, path string) error {
	switch k := t.Kind(); k {
	case reflect.Bool:
		b.WriteString("b")
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		b.WriteString("i" + strconv.Itoa(int(t.Size())))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		b.WriteString("u" + strconv.Itoa(int(t.Size())))
	case reflect.Float32, reflect.Float64:
		b.WriteString("f" + strconv.Itoa(int(t.Size())))
	case reflect.Complex64, reflect.Complex128:
		b.WriteString("c" + strconv.Itoa(int(t.Size())))
	case reflect.Array:
		b.WriteString("[" + strconv.Itoa(t.Len()) + "]")
		return describe(b, t.Elem(), path+"[0]")
	case reflect.Struct:
		b.WriteString("{")
		for i := range t.NumField() {
			f := t.Field(i)
			b.WriteString(f.Name + "@" + strconv.Itoa(int(f.Offset)) + ":")
			if err := describe(b, f.Type, path+"."+f.Name); err != nil {
				return err
			}
			b.WriteString(";")
		}
		b.WriteString("}" + strconv.Itoa(int(t.Size())))
	default:
		return fmt.Errorf("%w: %s: %v cannot live in shared memory (it is or holds a Go pointer)", ErrType, path, k)
	}
	return nil
}
