package shm_test

import (
	"fmt"
	"strings"

	"github.com/shmkit/shmkit/shm"
)

// Two attachments of one named segment, as two unrelated processes would
// have: one places a named object, the other finds it by name.
func Example() {
	name := fmt.Sprintf("example-%d", exampleID())
	creator, err := shm.Create(name, 1<<16, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer shm.Remove(name) // Python's unlink: the name goes, mappings stay
	defer creator.Close()

	greeting, err := creator.AllocBytes("greeting", 32)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer greeting.Close()
	copy(greeting.UnsafeBytes(), "hello, other process")

	// Elsewhere: open by name, find the object by name.
	other, err := shm.Open(name, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer other.Close()
	found, err := other.Lookup("greeting", shm.KindBytes)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer found.Close()
	fmt.Println(strings.TrimRight(string(found.UnsafeBytes()), "\x00"))

	alive, _ := other.Alive(creator.Self())
	fmt.Println("creator alive:", alive)
	// Output:
	// hello, other process
	// creator alive: true
}

func exampleID() uint64 {
	s, err := shm.New(4096, &shm.Options{Slots: 1})
	if err != nil {
		return 0
	}
	defer s.Close()
	return s.ID() // random, so that runs do not collide
}
