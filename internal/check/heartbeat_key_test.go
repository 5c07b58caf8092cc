package check_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redisha/redisha/internal/check"
	"github.com/redisha/redisha/internal/sim/redisserver"
	"github.com/redisha/redisha/internal/testbed/redistest"
)

// TestSignedHeartbeatOverRealServers: a primary checker with a key source
// signs the heartbeat and reports its write time; a replica checker with
// the same key reads the lag, and with another key reports the heartbeat
// missing; a key that cannot be read skips the heartbeat, not the check.
func TestSignedHeartbeatOverRealServers(t *testing.T) {
	a := redistest.Start(t, redisserver.Options{})
	b := redistest.StartReplica(t, a, "")
	admin := redistest.Admin(t, a.Addr, "", "")
	replica := redistest.Admin(t, b.Addr, "", "")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	key := []byte("0123456789abcdef0123456789abcdef")
	source := func(context.Context) ([]byte, error) { return key, nil }

	r := check.Check(ctx, admin, check.Options{Heartbeat: true, HeartbeatKeySource: source, Region: "us-east-1", ExpectRole: check.Primary})
	if !r.Healthy || r.HeartbeatWritten.IsZero() || r.HeartbeatSkipped != "" {
		t.Fatalf("primary check: %+v", r)
	}
	v, err := admin.Get(ctx, check.DefaultPrefix+"heartbeat").Result()
	if err != nil {
		t.Fatal(err)
	}
	if hb, err := check.VerifyHeartbeat(v, key); err != nil || !hb.Written.Equal(r.HeartbeatWritten) {
		t.Fatalf("heartbeat written: %+v %v (result says %s)", hb, err, r.HeartbeatWritten)
	}
	if n, err := admin.Do(ctx, "WAIT", 1, 5000).Int(); err != nil || n != 1 {
		t.Fatalf("not replicated: %d %v", n, err)
	}
	r = check.Check(ctx, replica, check.Options{Heartbeat: true, HeartbeatKeySource: source, ExpectRole: check.Replica})
	if !r.Healthy || r.HeartbeatMissing || r.HeartbeatAge == nil {
		t.Fatalf("replica check with the key: %+v", r)
	}
	other := func(context.Context) ([]byte, error) { return []byte("another key, thirty-two bytes!!!"), nil }
	r = check.Check(ctx, replica, check.Options{Heartbeat: true, HeartbeatKeySource: other, ExpectRole: check.Replica})
	if !r.Healthy || !r.HeartbeatMissing {
		t.Fatalf("replica check with another key: %+v", r)
	}
	broken := func(context.Context) ([]byte, error) { return nil, errors.New("get secret: AccessDenied") }
	r = check.Check(ctx, admin, check.Options{Heartbeat: true, HeartbeatKeySource: broken, ExpectRole: check.Primary})
	if !r.Healthy || !r.Writable || !r.HeartbeatWritten.IsZero() || r.HeartbeatSkipped == "" {
		t.Fatalf("primary check without its key: %+v", r)
	}
}
