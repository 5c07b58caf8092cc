package promoter_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redisha/redisha/internal/check"
	"github.com/redisha/redisha/internal/promoter"
	"github.com/redisha/redisha/internal/redisconn"
	"github.com/redisha/redisha/internal/sim/redisserver"
	"github.com/redisha/redisha/internal/testbed/redistest"
)

// clusterEndpoint is the promoter's view of a cluster seeded at addr, with
// the heartbeat key hbKey, closed at cleanup.
func clusterEndpoint(t *testing.T, addr string, hbKey []byte, mode check.ClusterMode) *promoter.ClusterEndpoint {
	t.Helper()
	cfg := redisconn.Config{Addr: addr, DialTimeout: time.Second, IOTimeout: time.Second}
	seed, err := redisconn.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ep := &promoter.ClusterEndpoint{
		Seed:     promoter.RedisEndpoint{Client: seed, Key: func(context.Context) ([]byte, error) { return hbKey, nil }},
		SeedAddr: addr, Mode: mode,
		Node: func(a string) (*redis.Client, error) {
			c := cfg
			c.Addr = a
			return redisconn.New(c)
		},
	}
	t.Cleanup(func() { _ = ep.Close(); _ = seed.Close() })
	return ep
}

// A cluster's heartbeat is its worst shard's: the oldest when all have one,
// none when a shard has none, an error naming the shard when a shard's is
// not a checker's or its node does not answer. Over three real
// cluster-mode redis-server processes, heartbeats written by the checker.
func TestClusterEndpointReadsTheWorstShard(t *testing.T) {
	servers := redistest.StartCluster(t, 3, redisserver.Options{})
	key := []byte("0123456789abcdef0123456789abcdef")
	writer, err := check.NewCluster(redisconn.Config{Addr: servers[0].Addr},
		check.Options{Timeout: 2 * time.Second, Heartbeat: true, HeartbeatSecret: key, Region: "us-east-1"}, check.ClusterOn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = writer.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for range 2 {
		if r := writer.Check(ctx); !r.Healthy {
			t.Fatalf("the checker's check failed: %+v", r)
		}
	}
	shards := writer.Shards()
	if len(shards) != 3 {
		t.Fatalf("%d shards, want 3", len(shards))
	}
	ep := clusterEndpoint(t, servers[0].Addr, key, check.ClusterAuto)

	// Every shard holds the second check's heartbeat (one sequence number
	// per check, written to every shard).
	hb := ep.Heartbeat(ctx)
	if hb.Err != "" || !hb.Present || hb.Value.Region != "us-east-1" {
		t.Fatalf("every shard has a heartbeat: got %+v", hb)
	}
	last := hb.Value.Seq
	admin := func(i int) *redis.Client { return redistest.Admin(t, servers[i].Addr, "", "") }
	for i, s := range shards {
		v, err := admin(i).Get(ctx, s.HeartbeatKey(check.DefaultPrefix)).Result()
		if h, perr := check.VerifyHeartbeat(v, key); err != nil || perr != nil || h.Seq != last {
			t.Fatalf("shard %s: heartbeat %q (%v, %v), want seq %d", s.SlotsString(), v, err, perr, last)
		}
	}

	// One shard lags (its replication stalled a check earlier): it decides.
	stale := check.Heartbeat{Written: time.Now().Add(-time.Minute), Region: "us-east-1", Seq: last - 1}
	if err := admin(1).Set(ctx, shards[1].HeartbeatKey(check.DefaultPrefix), stale.Signed(key), time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	if hb := ep.Heartbeat(ctx); hb.Err != "" || !hb.Present || hb.Value.Seq != last-1 {
		t.Fatalf("shard %s a check behind: got %+v, want its heartbeat", shards[1].SlotsString(), hb)
	}

	// A shard's heartbeat is not a checker's: nothing is evidence, and the
	// error names the shard.
	if err := admin(2).Set(ctx, shards[2].HeartbeatKey(check.DefaultPrefix), "1700000000000 us-east-1 9 forged", time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	if hb := ep.Heartbeat(ctx); hb.Present || !strings.Contains(hb.Err, "shard "+shards[2].SlotsString()) {
		t.Fatalf("a forged heartbeat on shard %s: got %+v, want an error naming it", shards[2].SlotsString(), hb)
	}

	// A shard without a heartbeat: none for the datastore.
	if err := admin(2).Del(ctx, shards[2].HeartbeatKey(check.DefaultPrefix)).Err(); err != nil {
		t.Fatal(err)
	}
	if hb := ep.Heartbeat(ctx); hb.Err != "" || hb.Present {
		t.Fatalf("shard %s has no heartbeat: got %+v, want none", shards[2].SlotsString(), hb)
	}

	// The promotion's proof: a write on every shard.
	if err := ep.Write(ctx); err != nil {
		t.Fatalf("write on every shard: %v", err)
	}
	for i, s := range shards {
		n, err := admin(i).Keys(ctx, check.DefaultPrefix+"promoter:write:*").Result()
		if err != nil || len(n) != 1 {
			t.Errorf("shard %s: promoter write keys %v (%v), want one", s.SlotsString(), n, err)
		}
	}

	// A stalled node: its shard is named, within the call's deadline.
	if err := servers[1].Pause(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = servers[1].Resume() })
	short, cancelShort := context.WithTimeout(ctx, 1500*time.Millisecond)
	defer cancelShort()
	if hb := ep.Heartbeat(short); hb.Present || !strings.Contains(hb.Err, "shard "+shards[1].SlotsString()) {
		t.Fatalf("shard %s stalled: got %+v, want an error naming it", shards[1].SlotsString(), hb)
	}
	if err := ep.Write(short); err == nil || !strings.Contains(err.Error(), "shard "+shards[1].SlotsString()) {
		t.Fatalf("shard %s stalled: write error %v, want one naming it", shards[1].SlotsString(), err)
	}
}

// On one node (cluster mode off, found by INFO in auto) the endpoint reads
// the plain heartbeat, as RedisEndpoint does.
func TestClusterEndpointOnOneNode(t *testing.T) {
	a := redistest.Start(t, redisserver.Options{})
	key := []byte("0123456789abcdef0123456789abcdef")
	hb := check.Heartbeat{Written: time.Now(), Region: "us-east-1", Seq: 7}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := redistest.Admin(t, a.Addr, "", "").Set(ctx, check.DefaultPrefix+"heartbeat", hb.Signed(key), time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []check.ClusterMode{check.ClusterAuto, check.ClusterOff} {
		got := clusterEndpoint(t, a.Addr, key, mode).Heartbeat(ctx)
		if got.Err != "" || !got.Present || got.Value.Seq != 7 {
			t.Errorf("%s: got %+v, want seq 7", mode, got)
		}
	}
}
