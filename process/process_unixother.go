//go:build unix && !linux

package process

import "syscall"

// sysProcAttr has no parent-death signal here: the lifeline pipe does the
// job.
func sysProcAttr() *syscall.SysProcAttr { return nil }

// recvFlags: without MSG_CMSG_CLOEXEC, a prestarted child sets
// close-on-exec on what it receives itself (it starts nothing meanwhile).
const recvFlags = 0
