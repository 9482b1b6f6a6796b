package array_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/shmkit/shmkit/array"
	"github.com/shmkit/shmkit/shm"
)

// FuzzOpen writes arbitrary words into an array's payload header (the lock
// offset and the length), as a bug or another program might, and opens it:
// Open must return an error or a working array, never panic or fault.
func FuzzOpen(f *testing.F) {
	f.Add(uint64(0), uint64(16))
	f.Add(uint64(0), uint64(17))
	f.Add(uint64(0), uint64(0))
	f.Add(uint64(0), ^uint64(0))
	f.Add(uint64(64), uint64(8))
	f.Add(uint64(2240), uint64(16)) // the offset of some object, not a lock
	f.Add(uint64(1<<40), uint64(16))
	seg, err := shm.New(1<<16, &shm.Options{Slots: 4})
	if err != nil {
		f.Fatal(err)
	}
	defer seg.Close()
	orig, err := array.New[int64](seg, "a", 16, nil)
	if err != nil {
		f.Fatal(err)
	}
	defer orig.Close()
	objs := orig.ShmObjects()
	payload := objs[len(objs)-1].Payload()
	lockW, _ := payload.Uint64(0)
	lenW, _ := payload.Uint64(8)
	lock0, len0 := lockW.Load(), lenW.Load()
	f.Fuzz(func(t *testing.T, lockOff, length uint64) {
		lockW.Store(lockOff)
		lenW.Store(length)
		defer func() { lockW.Store(lock0); lenW.Store(len0) }()
		a, err := array.Open[int64](seg, "a", nil)
		if (a == nil) == (err == nil) {
			t.Fatalf("Open = %v, %v: want exactly one of them", a, err)
		}
		if err != nil {
			if !errors.Is(err, shm.ErrCorrupt) && !errors.Is(err, shm.ErrKind) && !errors.Is(err, shm.ErrObjectNotExist) {
				t.Errorf("Open with lock %d length %d = %v: want a corruption error", lockOff, length, err)
			}
			return
		}
		defer a.Close()
		if a.Len() != int(length) || a.Len() > 16 {
			t.Errorf("Len = %d with length word %d in room for 16", a.Len(), length)
		}
		for i := range a.UnsafeSlice() {
			a.UnsafeSlice()[i]++
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		defer cancel()
		a.Get(ctx, 0)
	})
}
