//go:build !linux

package sys

import (
	"errors"
	"fmt"
)

func schedSetaffinity(cpu int) error {
	return fmt.Errorf("sched_setaffinity: %w", errors.ErrUnsupported)
}
