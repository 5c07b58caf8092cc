package lambdarun

import "syscall"

// dieWithParent makes the child process die with its parent even if the
// parent is killed (Linux's parent-death signal).
func dieWithParent() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
