package clusterfront_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redisha/redisha/internal/check"
	"github.com/redisha/redisha/internal/redisconn"
	"github.com/redisha/redisha/internal/sim/clusterfront"
	"github.com/redisha/redisha/internal/sim/redisserver"
	"github.com/redisha/redisha/internal/testbed/redistest"
)

func TestMain(m *testing.M) { redistest.Main(m) }

// region is one replication group of shards × 2 nodes behind fronts.
type region struct {
	cluster *clusterfront.Cluster
	servers [][2]*redisserver.Server
	fronts  [][2]*clusterfront.Front
}

// startRegion starts a region whose shard primaries replicate from
// upstream's (nil: a primary region).
func startRegion(t *testing.T, shards int, upstream *region) *region {
	t.Helper()
	r := &region{cluster: clusterfront.NewCluster(clusterfront.EvenSlots(shards))}
	t.Cleanup(r.cluster.Close)
	for i := range shards {
		// A full sync starts at once instead of waiting 5 s for more replicas.
		cfg := []string{"repl-diskless-sync-delay 0"}
		if upstream != nil {
			h, p, _ := net.SplitHostPort(upstream.servers[i][0].Addr)
			cfg = append(cfg, "replicaof "+h+" "+p)
		}
		primary := redistest.Start(t, redisserver.Options{Config: cfg})
		h, p, _ := net.SplitHostPort(primary.Addr)
		replica := redistest.Start(t, redisserver.Options{Config: []string{"repl-diskless-sync-delay 0", "replicaof " + h + " " + p}})
		r.servers = append(r.servers, [2]*redisserver.Server{primary, replica})
		var fr [2]*clusterfront.Front
		for j, s := range []*redisserver.Server{primary, replica} {
			f, err := r.cluster.Serve(i, s.Addr, "127.0.0.1:"+strconv.Itoa(freePort(t)), "127.0.0.1:"+strconv.Itoa(freePort(t)))
			if err != nil {
				t.Fatal(err)
			}
			fr[j] = f
		}
		r.fronts = append(r.fronts, fr)
	}
	for _, s := range r.servers {
		redistest.WaitReplicaLink(t, s[1].Addr, "")
		if upstream != nil {
			redistest.WaitReplicaLink(t, s[0].Addr, "")
		}
	}
	return r
}

func freePort(t *testing.T) int {
	t.Helper()
	p, err := redisserver.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func clusterClient(t *testing.T, r *region, protocol int) *redis.ClusterClient {
	t.Helper()
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{r.fronts[0][0].Addr}, Protocol: protocol,
		DialTimeout: time.Second, ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// A go-redis cluster client (RESP2 and RESP3) writes keys of every slot
// range through the primary region's fronts; each shard's keys replicate to
// the secondary's shard, where reads are served and writes refused.
func TestClusterClientAcrossRegions(t *testing.T) {
	a := startRegion(t, 3, nil)
	b := startRegion(t, 3, a)
	ctx := context.Background()
	for _, proto := range []int{2, 3} {
		ca := clusterClient(t, a, proto)
		for i := range 60 {
			if err := ca.Set(ctx, fmt.Sprintf("p%d:key:%d", proto, i), i, time.Minute).Err(); err != nil {
				t.Fatalf("RESP%d set: %v", proto, err)
			}
		}
	}
	// Every shard holds some keys, on its own servers only.
	for i, s := range a.servers {
		n, err := redistest.Admin(t, s[0].Addr, "", "").DBSize(ctx).Result()
		if err != nil || n == 0 {
			t.Fatalf("shard %d holds %d keys (%v)", i, n, err)
		}
	}
	cb := clusterClient(t, b, 2)
	deadline := time.Now().Add(10 * time.Second)
	for i := range 60 {
		for {
			v, err := cb.Get(ctx, fmt.Sprintf("p2:key:%d", i)).Result()
			if err == nil && v == strconv.Itoa(i) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("key %d on the secondary: %q %v", i, v, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if err := cb.Set(ctx, "x", 1, 0).Err(); err == nil || !strings.HasPrefix(err.Error(), "READONLY") {
		t.Fatalf("write to the secondary: %v, want READONLY", err)
	}
}

// The surface a cluster answers itself: MOVED for another shard's key (and
// on a replica without READONLY), CROSSSLOT, SELECT, INFO's cluster_enabled,
// and nothing at all from a node that is gone.
func TestClusterSurface(t *testing.T) {
	a := startRegion(t, 2, nil)
	ctx := context.Background()
	c := redistest.Admin(t, a.fronts[0][0].Addr, "", "")
	key := "{" + check.SlotTag(16000) + "}k" // shard 2's
	if err := c.Get(ctx, key).Err(); err == nil || err.Error() != "MOVED 16000 "+a.fronts[1][0].Addr {
		t.Fatalf("another shard's key: %v", err)
	}
	own := "{" + check.SlotTag(10) + "}k"
	if err := c.Set(ctx, own, "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.MGet(ctx, own, key).Err(); err == nil || !strings.HasPrefix(err.Error(), "CROSSSLOT") {
		t.Fatalf("cross-slot: %v", err)
	}
	if err := c.Do(ctx, "SELECT", "1").Err(); err == nil || !strings.Contains(err.Error(), "not allowed in cluster mode") {
		t.Fatalf("select 1: %v", err)
	}
	if info, err := c.Info(ctx, "cluster").Result(); err != nil || !check.ClusterEnabled(info) {
		t.Fatalf("INFO cluster: %q %v", info, err)
	}
	redistest.WaitReplicaLink(t, a.servers[0][1].Addr, "")
	rep := redistest.Admin(t, a.fronts[0][1].Addr, "", "")
	if err := rep.Get(ctx, own).Err(); err == nil || err.Error() != "MOVED 10 "+a.fronts[0][0].Addr {
		t.Fatalf("replica read without READONLY: %v", err)
	}
	pipe := rep.Pipeline()
	pipe.ReadOnly(ctx)
	get := pipe.Get(ctx, own)
	// Served, not redirected: the key itself may not have replicated yet.
	_, _ = pipe.Exec(ctx)
	if err := get.Err(); err != nil && !errors.Is(err, redis.Nil) {
		t.Fatalf("replica read with READONLY: %v", err)
	}
	shards, err := check.DiscoverShards(ctx, c, false, a.fronts[0][0].Addr)
	if err != nil || len(shards) != 2 || shards[1].Primary != a.fronts[1][0].Addr || shards[0].SlotsString() != "0-8191" {
		t.Fatalf("shards %+v %v", shards, err)
	}

	a.fronts[1][0].Stop()
	d := net.Dialer{Timeout: time.Second}
	if conn, err := d.Dial("tcp", a.fronts[1][0].Addr); err == nil {
		conn.Close()
		t.Fatal("a stopped node accepted a connection")
	}
}

// The checker meets the fronts as it meets ElastiCache: every shard of the
// primary region checked and its heartbeat written; the secondary's shards
// checked as replicas, the worst lag read. One shard's primary lost, then
// replaced in-region: that shard named, then checked at its new primary.
func TestCheckerOverFronts(t *testing.T) {
	a := startRegion(t, 3, nil)
	b := startRegion(t, 3, a)
	ctx := context.Background()
	newChecker := func(addr string, role check.Role) *check.ClusterChecker {
		k, err := check.NewCluster(redisconn.Config{Addr: addr, DialTimeout: time.Second, IOTimeout: time.Second},
			check.Options{Timeout: 2 * time.Second, Heartbeat: true, ExpectRole: role}, check.ClusterAuto)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = k.Close() })
		return k
	}
	ka := newChecker(a.fronts[0][0].Addr, check.Primary)
	if r := ka.Check(ctx); !r.Healthy || !r.Writable || len(r.Shards) != 3 {
		t.Fatalf("primary region: %+v", r)
	}
	kb := newChecker(b.fronts[0][0].Addr, check.Replica)
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := kb.Check(ctx)
		if r.Healthy && len(r.Shards) == 3 && !r.HeartbeatMissing && r.HeartbeatAge != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("secondary region: %+v", r)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// Shard 2's primary lost: named.
	a.fronts[1][0].Stop()
	a.servers[1][0].Kill()
	r := ka.Check(ctx)
	if r.Healthy || r.Shards[1].Healthy || !r.Shards[0].Healthy || !r.Shards[2].Healthy {
		t.Fatalf("shard 2's primary lost: %+v", r)
	}
	// In-region failover: its replica promoted, the cluster says so, the
	// secondary's shard follows it.
	if err := redistest.Admin(t, a.servers[1][1].Addr, "", "").Do(ctx, "REPLICAOF", "NO", "ONE").Err(); err != nil {
		t.Fatal(err)
	}
	a.cluster.SetPrimary(1, 1)
	h, p, _ := net.SplitHostPort(a.servers[1][1].Addr)
	if err := redistest.Admin(t, b.servers[1][0].Addr, "", "").Do(ctx, "REPLICAOF", h, p).Err(); err != nil {
		t.Fatal(err)
	}
	if r = ka.Check(ctx); !r.Healthy || r.Shards[1].Node != a.fronts[1][1].Addr {
		t.Fatalf("after the in-region failover: %+v", r)
	}
}

// Each view names the cluster at its own addresses, and a cut view times
// out while the others answer.
func TestViewsAndCut(t *testing.T) {
	a := startRegion(t, 2, nil)
	ctx := context.Background()
	f := a.fronts[0][0]
	v1 := redis.NewClient(&redis.Options{Addr: f.Addrs[1], ReadTimeout: 300 * time.Millisecond, MaxRetries: -1})
	t.Cleanup(func() { _ = v1.Close() })
	slots, err := v1.ClusterSlots(ctx).Result()
	if err != nil || len(slots) != 2 || slots[1].Nodes[0].Addr != a.fronts[1][0].Addrs[1] {
		t.Fatalf("view 1's slots %+v %v", slots, err)
	}
	key := "{" + check.SlotTag(16000) + "}k"
	if err := v1.Get(ctx, key).Err(); err == nil || err.Error() != "MOVED 16000 "+a.fronts[1][0].Addrs[1] {
		t.Fatalf("view 1's MOVED: %v", err)
	}
	f.Cut(1)
	if err := v1.Ping(ctx).Err(); err == nil || !strings.Contains(err.Error(), "timeout") {
		t.Fatalf("cut view: %v, want a timeout", err)
	}
	if err := redistest.Admin(t, f.Addrs[0], "", "").Ping(ctx).Err(); err != nil {
		t.Fatalf("view 0 while view 1 is cut: %v", err)
	}
	f.Heal(1)
	if err := v1.Ping(ctx).Err(); err != nil {
		t.Fatalf("healed view: %v", err)
	}
}
