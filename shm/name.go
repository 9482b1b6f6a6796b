package shm

import (
	"fmt"
	"strings"

	"github.com/shmkit/shmkit/internal/sys"
)

// Prefix starts the file name of every named segment. Create and Open add
// it to a name that lacks it, so "jobs" and "shmkit-jobs" are one segment;
// Segment.Name returns the name with the prefix, which is also what Python's
// multiprocessing.shared_memory.SharedMemory(name=...) takes.
const Prefix = sys.Prefix

// MaxName is the longest segment name, prefix included.
const MaxName = 255

// fullName checks a segment name and returns it with the prefix.
func fullName(name string) (string, error) {
	if name == "" {
		return "", fmt.Errorf("%w: empty", ErrName)
	}
	if !strings.HasPrefix(name, Prefix) {
		name = Prefix + name
	}
	switch {
	case len(name) > MaxName:
		return "", fmt.Errorf("%w: %d bytes, at most %d", ErrName, len(name), MaxName)
	case strings.ContainsAny(name, "/\x00\\"):
		return "", fmt.Errorf("%w: %q holds '/', '\\' or NUL", ErrName, name)
	case name == Prefix:
		return "", fmt.Errorf("%w: only the prefix", ErrName)
	}
	return name, nil
}

// checkObjectName checks the name of an object in a segment; "" means
// unnamed.
func checkObjectName(name string) error {
	switch {
	case len(name) > MaxObjectName:
		return fmt.Errorf("%w: object name of %d bytes, at most %d", ErrName, len(name), MaxObjectName)
	case strings.IndexByte(name, 0) >= 0:
		return fmt.Errorf("%w: object name %q holds NUL", ErrName, name)
	}
	return nil
}
