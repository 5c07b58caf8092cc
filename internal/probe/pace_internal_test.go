package probe

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/redisha/redisha/internal/check"
)

// The back-off on the fake clock: a failure that repeats is redialed at
// once, then after 1, 2, 4, 8 ms, then 10–20 ms; a new reason or a success
// starts over.
func TestPacerBacksOffWhileTheSameFailureRepeats(t *testing.T) {
	p := &pacer{jitter: func() float64 { return 0.5 }}
	refused := outcome{reason: check.ReasonRefused}
	var got []time.Duration
	for range 7 {
		got = append(got, p.after(refused))
	}
	want := []time.Duration{0, 1, 2, 4, 8, 15, 15}
	for i := range want {
		if got[i] != want[i]*time.Millisecond {
			t.Fatalf("pauses %v, want %v ms", got, want)
		}
	}
	if d := p.after(outcome{reason: check.ReasonReadOnly}); d != 0 {
		t.Errorf("a new reason waited %s", d)
	}
	if d := p.after(outcome{ok: true}); d != 0 {
		t.Errorf("a success waited %s", d)
	}
	// A failure that is no connection's fault (OOM) keeps the connection:
	// no back-off.
	for range 3 {
		if d := p.after(outcome{reason: check.ReasonOOM}); d != 0 {
			t.Errorf("oom waited %s", d)
		}
	}
	// A check that took the whole back-off already (a timeout) waits no more.
	p = &pacer{interval: 0}
	for range 10 {
		if d := p.after(outcome{reason: check.ReasonTimeout, took: time.Second}); d != 0 {
			t.Errorf("a timeout waited %s more", d)
		}
	}
}

// A failure a quick retry cannot fix (a wrong password, a missing ACL
// permission, a full server, TLS) backs off to 150–250 ms, whether or not it
// costs a connection (NOPERM keeps it, but hammering it is no use either).
func TestPacerBacksOffFurtherWhenARetryCannotHelp(t *testing.T) {
	for _, r := range []check.Reason{check.ReasonAuth, check.ReasonNoPerm, check.ReasonMaxClients, check.ReasonTLS} {
		p := &pacer{jitter: func() float64 { return 0.5 }}
		var got []time.Duration
		for range 11 {
			got = append(got, p.after(outcome{reason: r}))
		}
		want := []time.Duration{0, 1, 2, 4, 8, 16, 32, 64, 128, 200, 200}
		for i := range want {
			if got[i] != want[i]*time.Millisecond {
				t.Fatalf("%s: pauses %v, want %v ms", r, got, want)
			}
		}
		// A check that opened two connections (the write check redials
		// once) waits twice as long: the back-off spaces connections.
		if d := p.after(outcome{reason: r, dials: 2}); d != 400*time.Millisecond {
			t.Errorf("%s: after a check with two dials, %s, want 400ms", r, d)
		}
	}
}

// A fault that fails fast for 2 s: the loop makes at most ~100 checks a
// second once backed off, and the first check after the fault clears
// starts at most backoffCap late, so the window's end is that accurate.
func TestLoopRateAndEdgeOnTheFakeClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		clears := start.Add(2 * time.Second)
		var checks int
		var firstOK time.Time
		p := &pacer{}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		loop(ctx, start.Add(3*time.Second), p, func() outcome {
			now := time.Now()
			if now.Before(clears) {
				checks++
				return outcome{reason: check.ReasonRefused}
			}
			if firstOK.IsZero() {
				firstOK = now
			}
			// A healthy check takes a little time (the clock moves only
			// when every goroutine waits).
			time.Sleep(time.Millisecond)
			return outcome{ok: true}
		})
		if rate := float64(checks) / 2; rate > 110 || rate < 40 {
			t.Errorf("%.0f failed checks/s while backed off", rate)
		}
		if late := firstOK.Sub(clears); late < 0 || late > backoffCap {
			t.Errorf("first check after the fault cleared started %s late, want ≤ %s", late, backoffCap)
		}
	})
}

// pause never outlasts the cycle's bound nor the context.
func TestPauseIsBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		if pause(context.Background(), start.Add(500*time.Millisecond), 4*time.Second) {
			t.Error("pause past until: still running")
		}
		if el := time.Since(start); el != 500*time.Millisecond {
			t.Errorf("paused %s, want 500ms", el)
		}
		ctx, cancel := context.WithCancel(context.Background())
		go func() { time.Sleep(100 * time.Millisecond); cancel() }()
		start = time.Now()
		if pause(ctx, time.Time{}, time.Hour) {
			t.Error("pause after cancel: still running")
		}
		if el := time.Since(start); el != 100*time.Millisecond {
			t.Errorf("paused %s after a cancel at 100ms", el)
		}
	})
}
