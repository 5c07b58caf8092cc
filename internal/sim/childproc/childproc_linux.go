// Package childproc holds what every stand-in that starts a process needs:
// a child that does not outlive the drill or the test that started it.
package childproc

import "syscall"

// DieWithParent makes the child process die with its parent even if the
// parent is killed (Linux's parent-death signal).
func DieWithParent() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
