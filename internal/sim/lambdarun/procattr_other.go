//go:build !linux

package lambdarun

import "syscall"

// dieWithParent has no parent-death signal to use outside Linux (the CLI is
// built for macOS too): a child outlives a parent that is killed, and is
// stopped only on the parent's orderly exit.
func dieWithParent() *syscall.SysProcAttr { return &syscall.SysProcAttr{} }
