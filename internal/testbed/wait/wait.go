// Package wait is the one way tests wait for something to happen: For
// checks a condition until it holds or a deadline passes, then fails the
// test saying what never happened. Tests wait on events this way instead of
// sleeping for a guessed time, so they are as fast as the machine allows and
// as patient as a loaded one needs (after consul's retry.Run and
// tailscale's tstest.WaitFor).
package wait

import (
	"context"
	"testing"
	"time"
)

// Poll is how often For checks its condition: short enough to add little
// to a test's time, long enough not to busy a shared machine.
const Poll = 5 * time.Millisecond

// For checks cond every Poll until it returns true, and fails the test with
// "<what> after <timeout>" when timeout passes first. It returns at once
// when cond already holds.
func For(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	if !Until(context.Background(), timeout, cond) {
		t.Fatalf("still waiting for %s after %s", what, timeout)
	}
}

// Until checks cond every Poll until it returns true (true), timeout
// passes or ctx ends (false). For the rare test that goes on either way.
func Until(ctx context.Context, timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(Poll)
	defer tick.Stop()
	for {
		if cond() {
			return true
		}
		if !time.Now().Before(deadline) {
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-tick.C:
		}
	}
}
