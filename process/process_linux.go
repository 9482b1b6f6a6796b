package process

import "syscall"

// sysProcAttr asks the kernel to kill the child when the thread that
// started it (the spawner's, which never exits) goes, that is, with the
// parent.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// recvFlags makes the descriptors a prestarted child receives close-on-exec
// as they arrive.
const recvFlags = syscall.MSG_CMSG_CLOEXEC
