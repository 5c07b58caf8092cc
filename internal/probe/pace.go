package probe

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/redisha/redisha/internal/check"
)

// Back-off of a series while the same connection-costing failure repeats
// (refused, reset, READONLY, a wrong password, maxclients): the first
// failure is re-dialed at once, the next ones after 1, 2, 4, 8 ms and then
// 10–20 ms (jittered, so two probes or two series do not dial in step).
// That keeps a sustained failure under ~100 checks, and so ~100 new
// connections, a second per series (go-redis adds one background dial
// after a refused one: ~200 attempts); without it, thousands: ephemeral
// ports run out and, with TLS, every one is a handshake. The first check
// after the fault clears starts at most 20 ms late: the window's end is
// that much late at worst, inside the ±20 ms the probe is held to.
const (
	backoffBase = time.Millisecond
	backoffCap  = 20 * time.Millisecond
)

// outcome is what pacing needs to know of a check.
type outcome struct {
	ok     bool
	reason check.Reason
	took   time.Duration
}

// pacer decides the pause before a series' next check.
type pacer struct {
	interval time.Duration
	// jitter returns a number in [0, 1). default: math/rand/v2's Float64
	jitter func() float64

	last   check.Reason // reason of the failure that repeats
	repeat int          // how many times in a row it repeated
}

// costsConnection says whether a failure drops the connection, so the next
// check dials a new one.
func costsConnection(r check.Reason) bool {
	return r.Connection() || r == check.ReasonReadOnly
}

// after returns the pause after a check with outcome o.
func (p *pacer) after(o outcome) time.Duration {
	if o.ok || !costsConnection(o.reason) {
		p.last, p.repeat = "", 0
		return p.interval
	}
	if o.reason != p.last {
		p.last, p.repeat = o.reason, 0
		return p.interval // a new failure: re-dial at once
	}
	p.repeat++
	b := backoffCap
	if p.repeat < 5 {
		b = min(backoffCap, backoffBase<<(p.repeat-1))
	}
	if b == backoffCap {
		j := p.jitter
		if j == nil {
			j = rand.Float64
		}
		b = b/2 + time.Duration(j()*float64(b/2))
	}
	// The check itself already spaced the dials (a timeout takes a whole
	// --timeout): pause only for the rest.
	return max(p.interval, b-o.took)
}

// pause waits d, but not past until (zero: no bound) nor past the end of
// ctx. It reports whether the run goes on.
func pause(ctx context.Context, until time.Time, d time.Duration) bool {
	if !until.IsZero() {
		d = min(d, time.Until(until))
	}
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
		}
	}
	return running(ctx, until)
}

// running says whether a loop bounded by ctx and until goes on.
func running(ctx context.Context, until time.Time) bool {
	return ctx.Err() == nil && (until.IsZero() || time.Now().Before(until))
}

// loop runs check until ctx ends or until is reached, pausing as p says.
func loop(ctx context.Context, until time.Time, p *pacer, check func() outcome) {
	for running(ctx, until) {
		if !pause(ctx, until, p.after(check())) {
			return
		}
	}
}
