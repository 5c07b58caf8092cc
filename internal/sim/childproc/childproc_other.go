//go:build !linux

// Package childproc holds what every stand-in that starts a process needs:
// a child that does not outlive the drill or the test that started it.
package childproc

import "syscall"

// DieWithParent has no parent-death signal to use outside Linux (the CLI is
// built for macOS too): a child outlives a parent that is killed, and is
// stopped only on the parent's orderly exit.
func DieWithParent() *syscall.SysProcAttr { return &syscall.SysProcAttr{} }
