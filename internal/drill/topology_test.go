package drill

import (
	"context"
	"net"
	"syscall"
	"testing"
	"time"
)

func startTopo(t *testing.T) *Topology { return startShardedTopo(t, 1) }

// startShardedTopo starts a topology of shards shards a region and, at
// cleanup, closes it and checks every redis-server it started is gone.
func startShardedTopo(t *testing.T, shards int) *Topology {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	topo, err := StartShardedTopology(ctx, shards)
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, r := range topo.Regions {
		for _, n := range r.nodes() {
			pids = append(pids, n.PID())
		}
	}
	t.Cleanup(func() {
		topo.Close()
		for _, pid := range pids {
			if syscall.Kill(pid, 0) == nil {
				t.Errorf("pid %d still running after Close", pid)
			}
		}
	})
	return topo
}

func set(t *testing.T, addr, key string) {
	t.Helper()
	c := adminClient(addr)
	defer c.Close()
	if err := c.Set(context.Background(), key, "v", 0).Err(); err != nil {
		t.Fatalf("set %s on %s: %v", key, addr, err)
	}
}

// arrives waits up to within for key on addr and reports whether it came.
func arrives(addr, key string, within time.Duration) bool {
	c := adminClient(addr)
	defer c.Close()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		n, err := c.Exists(ctx, key).Result()
		cancel()
		if err == nil && n == 1 {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

func role(t *testing.T, addr string) string {
	t.Helper()
	r, err := Role(context.Background(), addr)
	if err != nil {
		t.Fatalf("role of %s: %v", addr, err)
	}
	return r
}

func TestTopologyReplicatesAcrossRegions(t *testing.T) {
	topo := startTopo(t)
	a, b := topo.Region("a"), topo.Region("b")
	if role(t, a.Nodes[0].Addr) != "master" || role(t, b.Nodes[0].Addr) != "slave" {
		t.Fatal("a1 must be master, b1 a replica")
	}
	set(t, topo.Primary("a").Addr, "k1")
	for _, n := range []*Node{a.Nodes[1], b.Nodes[0], b.Nodes[1]} {
		if !arrives(n.Addr, "k1", 5*time.Second) {
			t.Errorf("k1 did not reach %s", n.Name)
		}
	}
	if ip, _, _ := net.SplitHostPort(b.Nodes[1].Addr); ip != "127.0.0.32" || topo.Primary("b").Name != "b1" {
		t.Errorf("b2 at %s, B's primary %s", ip, topo.Primary("b").Name)
	}
}

func TestTopologyBreakLinkAndPartitionObservers(t *testing.T) {
	topo := startTopo(t)
	if err := topo.BreakLink(); err != nil {
		t.Fatal(err)
	}
	set(t, topo.Primary("a").Addr, "cut")
	if arrives(topo.Primary("b").Addr, "cut", 500*time.Millisecond) {
		t.Fatal("a write crossed a broken link")
	}
	if err := topo.HealLink(); err != nil {
		t.Fatal(err)
	}
	if !arrives(topo.Primary("b").Addr, "cut", 15*time.Second) {
		t.Fatal("replication did not resume after the link healed")
	}

	if err := topo.PartitionObservers("a"); err != nil {
		t.Fatal(err)
	}
	if _, err := Role(context.Background(), topo.Region("a").Observed.Addr); err == nil {
		t.Error("observers reached the primary through a partition")
	}
	if role(t, topo.Primary("a").Addr) != "master" {
		t.Error("the primary itself must stay reachable")
	}
	if err := topo.HealObservers("a"); err != nil {
		t.Fatal(err)
	}
	if role(t, topo.Region("a").Observed.Addr) != "master" {
		t.Error("observers' path not healed")
	}
}

func TestTopologyInRegionFailover(t *testing.T) {
	topo := startTopo(t)
	var moved net.IP
	topo.OnEndpointMove = func(region string, ip net.IP) { moved = ip }
	topo.CrashPrimary("a")
	if err := topo.FailoverInRegion(context.Background(), "a"); err != nil {
		t.Fatal(err)
	}
	if p := topo.Primary("a"); p.Name != "a2" || role(t, p.Addr) != "master" || moved.String() != "127.0.0.22" {
		t.Fatalf("A's primary %s, endpoint moved to %s", p.Name, moved)
	}
	if topo.PrimaryRegion() != "a" {
		t.Fatal("an in-region failover changed the datastore's primary region")
	}
	set(t, topo.Primary("a").Addr, "after")
	if !arrives(topo.Primary("b").Addr, "after", 15*time.Second) {
		t.Error("B does not replicate from A's new primary")
	}
	if role(t, topo.Region("a").Observed.Addr) != "master" {
		t.Error("the observers' path does not lead to the new primary")
	}
}

func TestTopologyRegionLostThenGlobalFailoverAndRestore(t *testing.T) {
	topo := startTopo(t)
	ctx := context.Background()
	topo.StopRegion("a")
	if err := topo.FailoverGlobal(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if topo.PrimaryRegion() != "b" || role(t, topo.Primary("b").Addr) != "master" {
		t.Fatal("B not promoted")
	}
	set(t, topo.Primary("b").Addr, "in-b")
	if err := topo.RestoreRegion(ctx, "a", true); err != nil {
		t.Fatal(err)
	}
	for _, n := range topo.Region("a").Nodes {
		if !arrives(n.Addr, "in-b", 15*time.Second) {
			t.Errorf("restored %s does not replicate from B", n.Name)
		}
	}
	if role(t, topo.Primary("a").Addr) != "slave" {
		t.Error("A came back as a primary: two writers")
	}
}

func TestTopologyStall(t *testing.T) {
	topo := startTopo(t)
	if err := topo.StallRegion("a"); err != nil {
		t.Fatal(err)
	}
	if _, err := Role(context.Background(), topo.Primary("a").Addr); err == nil {
		t.Error("a stalled primary answered")
	}
	if err := topo.ResumeRegion(context.Background(), "a", true); err != nil {
		t.Fatal(err)
	}
	if role(t, topo.Primary("a").Addr) != "master" {
		t.Error("not back after resume")
	}
}

// A region the control plane could not reach when B was promoted comes back,
// undemoted, as a second master (a stalled one too), or demoted on request.
func TestTopologyUndemotedReturn(t *testing.T) {
	topo := startTopo(t)
	ctx := context.Background()
	topo.StopRegion("a")
	if err := topo.FailoverGlobal(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if err := topo.RestoreRegion(ctx, "a", false); err != nil {
		t.Fatal(err)
	}
	if role(t, topo.Primary("a").Addr) != "master" || role(t, topo.Primary("b").Addr) != "master" {
		t.Fatal("A did not come back a master beside B")
	}

	// Stalled through B's promotion back to A... then resumed: still B's
	// node a master, until a demoting resume.
	if err := topo.StallRegion("b"); err != nil {
		t.Fatal(err)
	}
	if err := topo.FailoverGlobal(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if err := topo.ResumeRegion(ctx, "b", false); err != nil {
		t.Fatal(err)
	}
	if role(t, topo.Primary("b").Addr) != "master" {
		t.Fatal("a stalled old primary was demoted while the control plane could not reach it")
	}
	if err := topo.StallRegion("b"); err != nil {
		t.Fatal(err)
	}
	if err := topo.ResumeRegion(ctx, "b", true); err != nil {
		t.Fatal(err)
	}
	if role(t, topo.Primary("b").Addr) != "slave" {
		t.Fatal("a demoting resume left B a master")
	}
}
