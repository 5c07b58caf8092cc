// Package timescale runs a scenario faster than real time. A Clock with
// speed 30 makes one wall second stand for 30 seconds of the scenario: a
// 60-second alarm period lasts 2 s, a 30-second checker loop 1 s, a 10-second
// DNS TTL a third of a second. Everything that keeps time in a drill (the
// schedule, alarm periods, TTLs, measurements) reads the same Clock, so they
// scale together and results can be reported at real scale.
package timescale

import (
	"context"
	"fmt"
	"time"
)

// Clock maps wall time to scenario ("real-scale") time. Both start at the
// same instant; from then on scenario time runs speed times faster.
type Clock struct {
	start time.Time
	speed float64
}

// New returns a clock starting now. speed must be at least 1.
func New(speed float64) (*Clock, error) {
	return NewAt(time.Now(), speed)
}

// NewAt returns a clock whose scenario time equals start at wall time start.
func NewAt(start time.Time, speed float64) (*Clock, error) {
	if speed < 1 || speed > 1000 {
		return nil, fmt.Errorf("timescale: speed %g: use 1 (real time) to 1000", speed)
	}
	return &Clock{start: start, speed: speed}, nil
}

// Speed is how many scenario seconds pass per wall second.
func (c *Clock) Speed() float64 { return c.speed }

// Start is the instant where wall and scenario time coincide.
func (c *Clock) Start() time.Time { return c.start }

// Now is the scenario time now.
func (c *Clock) Now() time.Time { return c.At(time.Now()) }

// At is the scenario time of a wall instant.
func (c *Clock) At(wall time.Time) time.Time {
	return c.start.Add(c.Scale(wall.Sub(c.start)))
}

// WallAt is the wall instant of a scenario time.
func (c *Clock) WallAt(t time.Time) time.Time {
	return c.start.Add(c.Wall(t.Sub(c.start)))
}

// Wall is how long a scenario duration lasts on the wall clock.
func (c *Clock) Wall(d time.Duration) time.Duration {
	return time.Duration(float64(d) / c.speed)
}

// Scale is the scenario duration of a wall duration.
func (c *Clock) Scale(wall time.Duration) time.Duration {
	return time.Duration(float64(wall) * c.speed)
}

// Since is the scenario time elapsed since the scenario instant t.
func (c *Clock) Since(t time.Time) time.Duration { return c.Now().Sub(t) }

// SleepUntil waits until scenario time t or until ctx ends.
func (c *Clock) SleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(c.WallAt(t))
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Sleep waits for a scenario duration or until ctx ends.
func (c *Clock) Sleep(ctx context.Context, d time.Duration) error {
	return c.SleepUntil(ctx, c.Now().Add(d))
}
