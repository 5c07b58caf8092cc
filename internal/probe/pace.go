package probe

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/redisha/redisha/internal/check"
)

// Back-off of a series while the same failure repeats. The first failure
// is retried at once, the next ones after 1, 2, 4, 8 ms and so on, up to a
// cap, jittered between half the cap and the cap (so that two probes or
// two series do not dial in step).
//
// Failures a failover or restart heals within moments (refused, reset,
// timeout, READONLY, LOADING, ...) cap at 20 ms: under ~100 checks, and so
// ~100 new connections, a second per series; the first check after the
// fault clears starts at most 20 ms late, inside the ±20 ms the probe is
// held to. Without a back-off, thousands: ephemeral ports run out and, with
// TLS, every one is a handshake.
//
// Failures a quick retry cannot fix (see SlowToHeal: a wrong password, a
// user lacking a command, a full server, a certificate that does not
// verify) cap at 150–250 ms per connection the check opened (the write
// check redials once after a connection failure): at most ~7 new
// connections a second per series, under 20 for the probe after the first
// second. Hammering a full server keeps
// it full; a wrong password fills the server's log. A window of these
// failures therefore ends up to 250 ms late.
const (
	backoffBase    = time.Millisecond
	backoffCap     = 20 * time.Millisecond
	slowBackoffMin = 150 * time.Millisecond
	slowBackoffCap = 250 * time.Millisecond
)

// SlowToHeal says whether a failure outlasts a quick retry: it needs a
// person (a password, an ACL, a certificate, the slot layout) or the
// server's other clients to leave (maxclients). Retrying it at once costs
// a connection each time and fixes nothing.
func SlowToHeal(r check.Reason) bool {
	switch r {
	case check.ReasonAuth, check.ReasonNoPerm, check.ReasonMaxClients, check.ReasonTLS, check.ReasonCluster:
		return true
	}
	return false
}

// outcome is what pacing needs to know of a check.
type outcome struct {
	ok     bool
	reason check.Reason
	took   time.Duration
	dials  int64 // connections the check opened
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
	slow := SlowToHeal(o.reason)
	if o.ok || !costsConnection(o.reason) && !slow {
		p.last, p.repeat = "", 0
		return p.interval
	}
	if o.reason != p.last {
		p.last, p.repeat = o.reason, 0
		return p.interval // a new failure: re-dial at once
	}
	p.repeat++
	lo, hi := backoffCap/2, backoffCap
	if slow {
		lo, hi = slowBackoffMin, slowBackoffCap
	}
	b := hi
	if p.repeat < 10 {
		b = min(hi, backoffBase<<(p.repeat-1))
	}
	if b >= lo {
		j := p.jitter
		if j == nil {
			j = rand.Float64
		}
		b = lo + time.Duration(j()*float64(hi-lo))
		if slow && o.dials > 1 {
			b *= time.Duration(o.dials) // space connections, not checks
		}
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
