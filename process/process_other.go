//go:build !unix

package process

import (
	"context"
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

// Prestart is not supported here: Start is not either.
func Prestart(ctx context.Context, n int) error {
	return fmt.Errorf("prestart: %w", supported())
}

// Prestarted is 0 here: nothing can be prestarted.
func Prestarted() int { return 0 }

// StopPrestarted does nothing here: nothing can be prestarted.
func StopPrestarted() {}

type spare struct{}

func takePrestarted(*Options, int, int) *spare { return nil }

func (*spare) handOver(context.Context, string, bootstrap, []*os.File) (*Process, error) {
	return nil, supported()
}

func runPrestarted() int {
	return reported(result{Code: resultBootstrap, Message: "prestarted children are not supported here"})
}
