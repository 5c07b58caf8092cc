package drill

import (
	"testing"
	"time"
)

func TestStreakCountsFromTheSecondSample(t *testing.T) {
	var s streak
	t0 := time.Unix(0, 0)
	for i, holds := range []bool{true, false, true, true, true, false, true} {
		s.add(holds, t0.Add(time.Duration(i)*time.Second))
	}
	if s.total != 2*time.Second {
		t.Fatalf("total %s, want 2s (samples 2–4)", s.total)
	}
}
