package migrate

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Progress is a snapshot of a running copy.
type Progress struct {
	// Elapsed is the time since the copy started.
	Elapsed time.Duration
	// Scanned is the number of keys SCAN returned.
	Scanned int64
	// Copied is the number of keys written to the target.
	Copied int64
	// Vanished counts keys that were deleted or expired on the source
	// between SCAN and the copy (nothing to copy).
	Vanished int64
	// Failed counts keys that could not be copied (see Result.Problems).
	Failed int64
	// Bytes is the payload volume copied.
	Bytes int64
	// Total is the source's key count when the copy started (DBSIZE).
	Total int64
	// Rate is keys per second over the last interval.
	Rate float64
	// ETA is the estimated time left at Rate; 0 when unknown.
	ETA time.Duration
	// Shards and ShardsDone count the source masters.
	Shards, ShardsDone int
	// Done is set on the final snapshot.
	Done bool
}

// String is the live progress line.
func (p Progress) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "copied %d", p.Copied)
	if p.Total > 0 {
		fmt.Fprintf(&b, "/%d (%.1f%%)", p.Total, 100*float64(p.Copied+p.Vanished)/float64(p.Total))
	}
	fmt.Fprintf(&b, "  %.0f keys/s  %s", p.Rate, humanBytes(p.Bytes))
	if p.ETA > 0 {
		fmt.Fprintf(&b, "  ETA %s", p.ETA.Round(time.Second))
	}
	fmt.Fprintf(&b, "  shards %d/%d  vanished %d  errors %d  elapsed %s", p.ShardsDone, p.Shards, p.Vanished, p.Failed, p.Elapsed.Round(time.Second))
	return b.String()
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// limiter spaces out work to at most rate units per second on average: each
// request starts when the cost of the ones before it has elapsed (virtual
// scheduling), so a burst is at most one request. A nil limiter never waits.
type limiter struct {
	mu   sync.Mutex
	rate float64
	next time.Time
}

func newLimiter(rate float64) *limiter {
	if rate <= 0 {
		return nil
	}
	return &limiter{rate: rate}
}

// wait blocks until n units may proceed, or ctx ends.
func (l *limiter) wait(ctx context.Context, n int) error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	now := time.Now()
	if l.next.Before(now) {
		l.next = now
	}
	d := l.next.Sub(now)
	l.next = l.next.Add(time.Duration(float64(n) / l.rate * float64(time.Second)))
	l.mu.Unlock()
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
