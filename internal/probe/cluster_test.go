package probe_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/redisha/redisha/internal/check"
	"github.com/redisha/redisha/internal/probe"
	"github.com/redisha/redisha/internal/redisconn"
	"github.com/redisha/redisha/internal/sim/redisserver"
	"github.com/redisha/redisha/internal/testbed/redistest"
)

// startedCluster runs a probe of the cluster at seed in the background and
// waits until every shard's write and read series have answered; stop ends
// the run and returns the summary.
func startedCluster(t *testing.T, seed string, mode check.ClusterMode) (w *watch, p *probe.Probe, stop func() *probe.Summary) {
	t.Helper()
	w = newWatch()
	cfg := probe.Config{Conn: redisconn.Config{Addr: seed}, Timeout: 500 * time.Millisecond, Interval: 10 * time.Millisecond,
		Cluster: mode, Sink: w.sink}
	p, err := probe.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Prepare(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	done := make(chan struct{})
	var sum *probe.Summary
	go func() { sum = p.Run(ctx); close(done) }()
	stop = func() *probe.Summary {
		cancel()
		<-done
		return sum
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			w.log(t)
		}
	})
	shards := p.Shards()
	w.until(t, "an answer on every shard", func(es []probe.Event) bool {
		seen := map[probe.Kind]map[string]bool{probe.Write: {}, probe.Read: {}}
		for _, e := range es {
			if e.Type == probe.EventOK {
				seen[e.Series][e.Shard] = true
			}
		}
		return len(seen[probe.Write]) == len(shards) && len(seen[probe.Read]) == len(shards)
	})
	return w, p, stop
}

// One shard's primary killed and replaced by its replica: that shard, and
// only it, has a write and a read window, with the new primary named; its
// read key, replicated before, is not lost.
func TestClusterProbeNamesTheShardThatFailed(t *testing.T) {
	if testing.Short() {
		t.Skip("a cluster failover scenario: skipped under -short; make test runs it")
	}
	c := redistest.StartClusterWithReplicas(t, 3, 1, redisserver.Options{Config: []string{"cluster-require-full-coverage no"}})
	w, p, stop := startedCluster(t, c.Primaries[0].Addr, check.ClusterAuto)
	if got := p.Shards(); !slices.Equal(got, []string{"0-5460", "5461-10921", "10922-16383"}) {
		t.Fatalf("shards %v", got)
	}
	// The shard's read key reached its replica before the primary dies
	// (replication is asynchronous: a key not there yet would be lost).
	replica := redistest.Admin(t, c.Replicas[1][0].Addr, "", "")
	for deadline := time.Now().Add(10 * time.Second); ; {
		if keys, _ := replica.Keys(context.Background(), check.DefaultPrefix+"probe:*").Result(); len(keys) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the shard's read probe key never reached its replica")
		}
		time.Sleep(20 * time.Millisecond)
	}

	c.Primaries[1].Kill()
	// Both series down before the replica takes over: a takeover seen
	// within one write check is followed by the check itself (no window).
	w.until(t, "the shard's write and read windows", func(es []probe.Event) bool {
		down := map[probe.Kind]bool{}
		for _, e := range es {
			if e.Type == probe.EventDown && e.Shard == "5461-10921" {
				down[e.Series] = true
			}
		}
		return down[probe.Write] && down[probe.Read]
	})
	redistest.ClusterFailover(t, c.Replicas[1][0], []*redisserver.Server{c.Primaries[0], c.Primaries[2], c.Replicas[1][0]}, "")
	// Generous: under the race detector, with other packages' clusters on
	// the same two cores, a check can wait seconds for the CPU.
	w.within(t, 30*time.Second, "the shard back", func(es []probe.Event) bool {
		up := map[probe.Kind]bool{}
		for _, e := range es {
			if e.Type == probe.EventUp && e.Shard == "5461-10921" {
				up[e.Series] = true
			}
		}
		return up[probe.Write] && up[probe.Read]
	})
	sum := stop()
	if len(sum.Shards) != 3 {
		t.Fatalf("shard summaries %+v", sum.Shards)
	}
	for _, w := range sum.Windows {
		if w.Shard != "5461-10921" {
			t.Errorf("window on another shard: %+v", w)
		}
		if w.Open {
			t.Errorf("window still open: %+v", w)
		}
	}
	if s := sum.Shards[1]; s.Write.Windows == 0 || s.Read.Windows == 0 || s.Shard != "5461-10921" {
		t.Errorf("the failed shard's summary: %+v", s)
	}
	for _, i := range []int{0, 2} {
		if s := sum.Shards[i]; s.Write.Windows != 0 || s.Read.Windows != 0 || s.Write.Availability != 1 {
			t.Errorf("shard %s: %+v", s.Shard, s)
		}
	}
	if sum.Series[probe.Write].Windows == 0 || sum.Series[probe.Write].Checks == 0 {
		t.Errorf("write totals %+v", sum.Series[probe.Write])
	}
	if len(sum.DataLoss) != 0 {
		t.Errorf("data loss %+v", sum.DataLoss)
	}
	want := probe.Change{Series: probe.Write, Shard: "5461-10921", Field: probe.ChangePrimary, From: c.Primaries[1].Addr, To: c.Replicas[1][0].Addr}
	if !slices.ContainsFunc(sum.Changes, func(ch probe.Change) bool { ch.Time = probe.Time{}; return ch == want }) {
		t.Errorf("changes %+v, want %+v", sum.Changes, want)
	}
}

// A resharding under the probe (slots moving, ASK then MOVED) is no outage:
// the shard whose first slot moved is followed to its new primary.
func TestClusterProbeResharding(t *testing.T) {
	if testing.Short() {
		t.Skip("a resharding scenario: skipped under -short; make test runs it")
	}
	servers := redistest.StartCluster(t, 2, redisserver.Options{})
	w, _, stop := startedCluster(t, servers[0].Addr, check.ClusterOn)
	// Move shard 2's first slots (its read key's slot among them) to shard 1.
	redistest.MigrateSlots(t, servers[1], servers[0], 8192, 8300, servers, "", func(int) { time.Sleep(time.Millisecond) })
	w.until(t, "shard 2's keys served by the other node", func(es []probe.Event) bool {
		return slices.ContainsFunc(es, func(e probe.Event) bool {
			return e.Type == probe.EventServer && e.Shard == "8192-16383"
		})
	})
	sum := stop()
	if len(sum.Windows) != 0 || len(sum.DataLoss) != 0 {
		w.log(t)
		t.Fatalf("resharding: windows %+v, data loss %+v", sum.Windows, sum.DataLoss)
	}
}

// --cluster on against one node is an error worth stopping for; auto
// probes it as one node.
func TestClusterOnOneNode(t *testing.T) {
	srv := redistest.Start(t, redisserver.Options{})
	p, err := probe.New(probe.Config{Conn: redisconn.Config{Addr: srv.Addr}, Duration: time.Second, Cluster: check.ClusterOn})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Prepare(context.Background()); !errors.Is(err, probe.ErrNotCluster) {
		t.Fatalf("prepare: %v, want ErrNotCluster", err)
	}
	p, err = probe.New(probe.Config{Conn: redisconn.Config{Addr: srv.Addr}, Duration: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Prepare(context.Background()); err != nil || p.Shards() != nil {
		t.Fatalf("auto on one node: %v, shards %v", err, p.Shards())
	}
	if _, err := probe.New(probe.Config{Conn: redisconn.Config{Addr: srv.Addr}, Cluster: "sharded"}); err == nil {
		t.Fatal("cluster mode sharded accepted")
	}
}
