package redistest

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redisha/redisha/internal/sim/redisserver"
)

// Cluster is a cluster-mode topology of real servers: shards with their
// primaries and replicas, as StartClusterWithReplicas made it. A failover
// or a slot migration changes the cluster, not these fields: ask the
// servers (Primary) for the current roles.
type Cluster struct {
	// Primaries are the shards' first primaries, in slot order.
	Primaries []*redisserver.Server
	// Replicas[i] are the replicas first attached to Primaries[i].
	Replicas [][]*redisserver.Server

	password string
}

// All returns every server of the cluster, primaries first.
func (c *Cluster) All() []*redisserver.Server {
	all := append([]*redisserver.Server(nil), c.Primaries...)
	for _, rs := range c.Replicas {
		all = append(all, rs...)
	}
	return all
}

// StartClusterWithReplicas starts shards cluster-mode primaries as
// StartCluster does and gives each replicas replicas (CLUSTER MEET, then
// CLUSTER REPLICATE), waiting until every node knows every other, every
// replica's link is up and the cluster is ok. Every server stops at cleanup.
func StartClusterWithReplicas(t testing.TB, shards, replicas int, o redisserver.Options) *Cluster {
	t.Helper()
	c := &Cluster{Primaries: StartCluster(t, shards, o), Replicas: make([][]*redisserver.Server, shards), password: o.Password}
	if replicas == 0 {
		return c
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	o.Cluster = true
	seed := Admin(t, c.Primaries[0].Addr, o.Password, "")
	for i, p := range c.Primaries {
		// A full sync starts at once instead of waiting 5 s for more replicas.
		if err := Admin(t, p.Addr, o.Password, "").ConfigSet(ctx, "repl-diskless-sync-delay", "0").Err(); err != nil {
			t.Fatalf("%s: config set repl-diskless-sync-delay: %v", p.Addr, err)
		}
		id := NodeID(t, p, o.Password)
		for range replicas {
			r := Start(t, o)
			if err := seed.Do(ctx, "CLUSTER", "MEET", "127.0.0.1", r.Port, r.BusPort).Err(); err != nil {
				t.Fatalf("cluster meet %s: %v", r.Addr, err)
			}
			ra := Admin(t, r.Addr, o.Password, "")
			// REPLICATE needs the primary to be known to the new node first.
			waitCluster(ctx, t, r.Addr+" learns "+p.Addr, func() bool {
				nodes, _ := ra.ClusterNodes(ctx).Result()
				return strings.Contains(nodes, id)
			})
			if err := ra.Do(ctx, "CLUSTER", "REPLICATE", id).Err(); err != nil {
				t.Fatalf("%s: cluster replicate %s: %v", r.Addr, id, err)
			}
			c.Replicas[i] = append(c.Replicas[i], r)
		}
	}
	all := c.All()
	for _, rs := range c.Replicas {
		for _, r := range rs {
			WaitReplicaLink(t, r.Addr, o.Password)
		}
	}
	WaitClusterOK(t, all, o.Password)
	return c
}

// WaitClusterOK waits up to 30 s until every server reports cluster_state:ok
// and knows all the others.
func WaitClusterOK(t testing.TB, servers []*redisserver.Server, password string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	want := "cluster_known_nodes:" + strconv.Itoa(len(servers)) + "\r\n"
	for _, s := range servers {
		a := Admin(t, s.Addr, password, "")
		waitCluster(ctx, t, s.Addr+" cluster ok with "+strconv.Itoa(len(servers))+" nodes", func() bool {
			info, _ := a.Do(ctx, "CLUSTER", "INFO").Text()
			return strings.Contains(info, "cluster_state:ok") && strings.Contains(info, want)
		})
	}
}

// NodeID is the cluster node id of s (CLUSTER MYID).
func NodeID(t testing.TB, s *redisserver.Server, password string) string {
	t.Helper()
	id, err := Admin(t, s.Addr, password, "").Do(context.Background(), "CLUSTER", "MYID").Text()
	if err != nil {
		t.Fatalf("%s: cluster myid: %v", s.Addr, err)
	}
	return id
}

// MigrateSlots moves the slots lo..hi, with their keys, from one primary to
// another as redis-cli --cluster reshard does: per slot, SETSLOT IMPORTING
// on the target and MIGRATING on the source, MIGRATE of the keys in
// batches, then SETSLOT NODE on the target, the source and every other
// server in all. between, when set, runs after each slot's keys moved and
// before its ownership does (the window in which the source answers ASK).
func MigrateSlots(t testing.TB, from, to *redisserver.Server, lo, hi int, all []*redisserver.Server, password string, between func(slot int)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	src, dst := Admin(t, from.Addr, password, ""), Admin(t, to.Addr, password, "")
	srcID, dstID := NodeID(t, from, password), NodeID(t, to, password)
	must := func(c *redis.Client, args ...any) {
		t.Helper()
		if err := c.Do(ctx, args...).Err(); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
	}
	for slot := lo; slot <= hi; slot++ {
		must(dst, "CLUSTER", "SETSLOT", slot, "IMPORTING", srcID)
		must(src, "CLUSTER", "SETSLOT", slot, "MIGRATING", dstID)
		for {
			keys, err := src.ClusterGetKeysInSlot(ctx, slot, 100).Result()
			if err != nil {
				t.Fatalf("%s: cluster getkeysinslot %d: %v", from.Addr, slot, err)
			}
			if len(keys) == 0 {
				break
			}
			args := []any{"MIGRATE", "127.0.0.1", to.Port, "", 0, 5000}
			if password != "" {
				args = append(args, "AUTH", password)
			}
			args = append(args, "KEYS")
			for _, k := range keys {
				args = append(args, k)
			}
			must(src, args...)
		}
		if between != nil {
			between(slot)
		}
		must(dst, "CLUSTER", "SETSLOT", slot, "NODE", dstID)
		must(src, "CLUSTER", "SETSLOT", slot, "NODE", dstID)
		for _, s := range all {
			if s != from && s != to {
				must(Admin(t, s.Addr, password, ""), "CLUSTER", "SETSLOT", slot, "NODE", dstID)
			}
		}
	}
}

// ClusterFailover promotes replica in its shard (CLUSTER FAILOVER TAKEOVER)
// and waits up to 30 s until every server in all sees it as a primary. A
// takeover needs no election: a plain CLUSTER FAILOVER needs the votes of a
// majority of primaries within 5 s, which a loaded 2-core machine does not
// always deliver, and the checker meets the same new topology either way
// (the old primary answers ROLE slave and MOVED).
func ClusterFailover(t testing.TB, replica *redisserver.Server, all []*redisserver.Server, password string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r := Admin(t, replica.Addr, password, "")
	if err := r.Do(ctx, "CLUSTER", "FAILOVER", "TAKEOVER").Err(); err != nil {
		t.Fatalf("%s: cluster failover takeover: %v", replica.Addr, err)
	}
	id := NodeID(t, replica, password)
	for _, s := range all {
		a := Admin(t, s.Addr, password, "")
		waitCluster(ctx, t, s.Addr+" sees "+replica.Addr+" as primary", func() bool {
			nodes, _ := a.ClusterNodes(ctx).Result()
			for _, line := range strings.Split(nodes, "\n") {
				if strings.HasPrefix(line, id+" ") {
					return strings.Contains(line, "master") && !strings.Contains(line, "fail")
				}
			}
			return false
		})
	}
}

// waitCluster polls cond every 20 ms until it holds or ctx ends.
func waitCluster(ctx context.Context, t testing.TB, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("%s: not after %v", what, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}
