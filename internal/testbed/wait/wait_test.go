package wait

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

func TestUntil(t *testing.T) {
	t.Parallel()
	var n atomic.Int32
	if !Until(context.Background(), time.Second, func() bool { return n.Add(1) == 3 }) {
		t.Fatal("a condition that comes true was not seen")
	}
	start := time.Now()
	if Until(context.Background(), 20*time.Millisecond, func() bool { return false }) {
		t.Fatal("a condition that never holds was reported true")
	}
	if el := time.Since(start); el < 20*time.Millisecond {
		t.Errorf("gave up after %s, before the 20ms timeout", el)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if Until(ctx, time.Hour, func() bool { return false }) {
		t.Fatal("true after the context ended")
	}
}
