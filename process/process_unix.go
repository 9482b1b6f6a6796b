//go:build unix

package process

import (
	"os"
	"syscall"
)

var terminateSignal os.Signal = syscall.SIGTERM

func supported() error { return nil }

func exitCode(ps *os.ProcessState) int {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return -int(ws.Signal())
	}
	return ps.ExitCode()
}

// closeOnExec keeps inherited descriptors from leaking into our own
// children: ExtraFiles arrive without close-on-exec.
func closeOnExec(files ...*os.File) {
	for _, f := range files {
		syscall.CloseOnExec(int(f.Fd()))
	}
}
