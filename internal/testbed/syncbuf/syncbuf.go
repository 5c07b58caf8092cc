// Package syncbuf is a buffer one goroutine (or a child process's output
// copier) writes while another reads it, as tests do with a program's
// output.
package syncbuf

import (
	"bytes"
	"sync"
)

// Buffer collects writes; it is safe for concurrent use. The zero value is
// an empty buffer ready to use.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
