package drill

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redisha/redisha/internal/check"
	"github.com/redisha/redisha/internal/redisconn"
)

// clusterOf is a go-redis cluster client of the region's group, seeded at
// its configuration endpoint.
func clusterOf(t *testing.T, topo *Topology, region string) *redis.ClusterClient {
	t.Helper()
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{topo.Region(region).ConfigEndpoint.Addr}, Protocol: 2,
		DialTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second, MaxRedirects: 3})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// observerChecker is the region's checker as the drill runs it: seeded at
// the observers' path, every shard checked.
func observerChecker(t *testing.T, topo *Topology, region string, role check.Role) *check.ClusterChecker {
	t.Helper()
	k, err := check.NewCluster(redisconn.Config{Addr: topo.Region(region).Observed.Addr, DialTimeout: 300 * time.Millisecond,
		IOTimeout: 300 * time.Millisecond}, check.Options{Timeout: time.Second, Heartbeat: true, ExpectRole: role}, check.ClusterOn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k.Close() })
	return k
}

// eventually checks until the result satisfies ok (10 s at most).
func eventually(t *testing.T, k *check.ClusterChecker, what string, ok func(check.Result) bool) check.Result {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := k.Check(context.Background())
		if ok(r) {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: last check %+v", what, r)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Three shards a region: every shard replicates across the link, the
// checkers see them through the observers' path, one shard's primary fails
// over in-region (named, then followed), a partition of the observers cuts
// the checker and not the applications, and a region lost is survived by
// the other's shards once the datastore fails over.
func TestShardedTopology(t *testing.T) {
	if testing.Short() {
		t.Skip("twelve redis-servers: skipped under -short; make test runs it")
	}
	topo := startShardedTopo(t, 3)
	ctx := context.Background()
	if !topo.Sharded() || len(topo.Region("a").Shards) != 3 || topo.Primary("b").Name != "b1.1" {
		t.Fatalf("topology: sharded %v, %d shards, b's primary %s", topo.Sharded(), len(topo.Region("a").Shards), topo.Primary("b").Name)
	}
	ca := clusterOf(t, topo, "a")
	for i := range 30 {
		if err := ca.Set(ctx, fmt.Sprintf("k%d", i), i, 0).Err(); err != nil {
			t.Fatalf("write through region a: %v", err)
		}
	}
	cb := clusterOf(t, topo, "b")
	for i := range 30 {
		deadline := time.Now().Add(10 * time.Second)
		for cb.Get(ctx, fmt.Sprintf("k%d", i)).Val() != fmt.Sprint(i) {
			if time.Now().After(deadline) {
				t.Fatalf("key k%d never reached region b", i)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if err := cb.Set(ctx, "x", 1, 0).Err(); err == nil || !strings.HasPrefix(err.Error(), "READONLY") {
		t.Fatalf("write to region b: %v", err)
	}

	ka := observerChecker(t, topo, "a", check.Primary)
	kb := observerChecker(t, topo, "b", check.Replica)
	eventually(t, ka, "region a healthy", func(r check.Result) bool { return r.Healthy && len(r.Shards) == 3 })
	r := eventually(t, kb, "region b healthy", func(r check.Result) bool {
		return r.Healthy && len(r.Shards) == 3 && r.HeartbeatAge != nil && !r.HeartbeatMissing
	})
	if !strings.HasPrefix(r.Shards[1].Node, "127.0.101.31:") {
		t.Fatalf("the observers were told of a node outside their view: %+v", r.Shards[1])
	}

	// Shard 2's primary lost in region a, then its replica promoted.
	lost := topo.CrashShardPrimary("a", 1)
	eventually(t, ka, "shard 2 named", func(r check.Result) bool { return !r.Healthy && !r.Shards[1].Healthy && r.Shards[0].Healthy })
	if err := topo.FailoverShardInRegion(ctx, "a", 1); err != nil {
		t.Fatal(err)
	}
	next := topo.ShardPrimary("a", 1)
	if next == lost {
		t.Fatal("the shard's primary did not change")
	}
	eventually(t, ka, "shard 2 at its new primary", func(r check.Result) bool {
		return r.Healthy && r.Shards[1].Node == next.front.Addrs[viewObservers]
	})
	// The client meets the dead node until it reloads the layout (on its
	// own schedule, or asked, as an application's error handling would).
	for deadline := time.Now().Add(10 * time.Second); ; {
		err := ca.Set(ctx, "after-shard-failover", 1, 0).Err()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("write after the shard's failover: %v", err)
		}
		ca.ReloadState(ctx)
		time.Sleep(50 * time.Millisecond)
	}
	eventually(t, kb, "region b follows the new shard primary", func(r check.Result) bool { return r.Healthy })

	// The observers partitioned: the checker fails, the applications write.
	if err := topo.PartitionObservers("a"); err != nil {
		t.Fatal(err)
	}
	if r := ka.Check(ctx); r.Healthy {
		t.Fatalf("checker through a partition: %+v", r)
	}
	if err := ca.Set(ctx, "during-partition", 1, 0).Err(); err != nil {
		t.Fatalf("application write during the observers' partition: %v", err)
	}
	if err := topo.HealObservers("a"); err != nil {
		t.Fatal(err)
	}
	eventually(t, ka, "region a healthy after the partition", func(r check.Result) bool { return r.Healthy })

	// The shard's write has reached region b (replication is
	// asynchronous: a write not yet there when the region is lost is lost).
	for deadline := time.Now().Add(10 * time.Second); cb.Get(ctx, "after-shard-failover").Val() != "1"; {
		if time.Now().After(deadline) {
			t.Fatal("the write after the shard's failover never reached region b")
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Region a lost; the datastore fails over to b: every shard writable.
	topo.StopRegion("a")
	if err := topo.FailoverGlobal(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	kbw := observerChecker(t, topo, "b", check.Primary)
	eventually(t, kbw, "region b writable", func(r check.Result) bool { return r.Healthy && r.Writable && len(r.Shards) == 3 })
	// Replicated before the region was lost: kept by the promoted region.
	if v := cb.Get(ctx, "after-shard-failover").Val(); v != "1" {
		t.Fatalf("a write acknowledged before the region was lost: %q", v)
	}
	// Region a back, demoted: it replicates from b.
	if err := topo.RestoreRegion(ctx, "a", true); err != nil {
		t.Fatal(err)
	}
	if err := cb.Set(ctx, "after-restore", 1, 0).Err(); err != nil {
		t.Fatal(err)
	}
	kar := observerChecker(t, topo, "a", check.Replica)
	eventually(t, kar, "region a a replica again", func(r check.Result) bool { return r.Healthy && len(r.Shards) == 3 })
}
