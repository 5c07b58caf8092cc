// Package localaws holds what the loopback AWS endpoints (eclocal, ddblocal,
// snslocal, cwlocal) share: serving on a free loopback port, the queue of
// failures a test injects, a "something changed" signal that test helpers
// wait on instead of sleeping, and the settings of
// the real SDK clients pointed at them (static credentials, a standard
// retryer with short backoff).
package localaws

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// Serve starts h on a free port of 127.0.0.1. Like httptest.NewServer it
// panics when it cannot listen; name says which endpoint in that message.
func Serve(name string, h http.HandlerFunc) *httptest.Server {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(fmt.Sprintf("%s: listen on loopback: %v", name, err))
	}
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: h}}
	srv.Start()
	return srv
}

// Failures is the queue of answers a server's FailNext injects: each
// request takes the next one, in order. The zero value is empty; it is safe
// for concurrent use.
type Failures[F any] struct {
	mu sync.Mutex
	q  []F
}

// Add queues f after the failures already queued.
func (q *Failures[F]) Add(f ...F) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.q = append(q.q, f...)
}

// Next takes the next failure, if one is queued.
func (q *Failures[F]) Next() (F, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	var f F
	if len(q.q) == 0 {
		return f, false
	}
	f, q.q = q.q[0], q.q[1:]
	return f, true
}

// Signal wakes waiters when state changes. The zero value is ready.
type Signal struct {
	mu sync.Mutex
	ch chan struct{}
}

func (s *Signal) channel() chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	return s.ch
}

// Notify wakes every waiter.
func (s *Signal) Notify() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch != nil {
		close(s.ch)
	}
	s.ch = make(chan struct{})
}

// Wait returns true as soon as done() is true, checking it now and after
// every Notify, or false after timeout.
func (s *Signal) Wait(timeout time.Duration, done func() bool) bool {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		ch := s.channel() // before done(): a Notify in between is not lost
		if done() {
			return true
		}
		select {
		case <-ch:
		case <-timer.C:
			return done()
		}
	}
}

// Credentials are the static test credentials of the local clients.
var Credentials = credentials.NewStaticCredentialsProvider("AKIDLOCAL", "local-secret", "")

// Retryer is the SDK's standard retryer allowing maxAttempts attempts per
// call (at least 1), with backoff capped at 20 ms so tests stay quick.
func Retryer(maxAttempts int) aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = max(maxAttempts, 1)
		o.MaxBackoff = 20 * time.Millisecond
	})
}
