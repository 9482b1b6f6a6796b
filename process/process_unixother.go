//go:build unix && !linux

package process

import "syscall"

// sysProcAttr has no parent-death signal here: the lifeline pipe does the
// job.
func sysProcAttr() *syscall.SysProcAttr { return nil }
