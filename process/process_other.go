//go:build !unix

package process

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

var terminateSignal os.Signal = os.Kill

// supported: exec.Cmd.ExtraFiles, which carries the bootstrap pipe and the
// segments, does not exist on Windows; handles will be passed there with
// SysProcAttr.AdditionalInheritedHandles.
func supported() error {
	return fmt.Errorf("start: %w on this system yet", errors.ErrUnsupported)
}

func exitCode(ps *os.ProcessState) int { return ps.ExitCode() }

func closeOnExec(files ...*os.File) {}

func sysProcAttr() *syscall.SysProcAttr { return nil }
