package timescale_test

import (
	"context"
	"testing"
	"time"

	"github.com/redisha/redisha/internal/sim/timescale"
)

func TestMapping(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c, err := timescale.NewAt(start, 30)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.At(start.Add(2 * time.Second)); !got.Equal(start.Add(time.Minute)) {
		t.Errorf("At(+2s) = %s, want +1m", got.Sub(start))
	}
	if got := c.WallAt(start.Add(time.Minute)); !got.Equal(start.Add(2 * time.Second)) {
		t.Errorf("WallAt(+1m) = %s, want +2s", got.Sub(start))
	}
	if got := c.Wall(10 * time.Second); got != 10*time.Second/30 {
		t.Errorf("Wall(10s) = %s", got)
	}
	if got := c.Scale(time.Second); got != 30*time.Second {
		t.Errorf("Scale(1s) = %s", got)
	}
}

func TestSpeedBounds(t *testing.T) {
	for _, s := range []float64{0, 0.5, 1001} {
		if _, err := timescale.New(s); err == nil {
			t.Errorf("speed %g accepted", s)
		}
	}
}

func TestSleepIsScaled(t *testing.T) {
	c, err := timescale.New(100)
	if err != nil {
		t.Fatal(err)
	}
	wall := time.Now()
	if err := c.Sleep(context.Background(), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(wall); el < 50*time.Millisecond {
		t.Errorf("5 scenario seconds at speed 100 lasted %s, want ≥ 50ms", el)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Sleep(ctx, time.Hour); err == nil {
		t.Error("Sleep ignored a cancelled context")
	}
}
