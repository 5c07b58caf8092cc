package check_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redisha/redisha/internal/check"
	"github.com/redisha/redisha/internal/redisconn"
	"github.com/redisha/redisha/internal/sim/redisserver"
	"github.com/redisha/redisha/internal/testbed/redistest"
)

// clusterChecker returns a cluster checker seeded with addr, closed at
// cleanup.
func clusterChecker(t testing.TB, addr string, o check.Options, mode check.ClusterMode) *check.ClusterChecker {
	t.Helper()
	k, err := check.NewCluster(redisconn.Config{Addr: addr}, o, mode)
	if err != nil {
		t.Fatalf("new cluster checker: %v", err)
	}
	t.Cleanup(func() { _ = k.Close() })
	return k
}

// wantShards fails the test unless r has one healthy, writable result per
// slot range in want.
func wantShards(t *testing.T, r check.Result, want ...string) {
	t.Helper()
	var got []string
	for _, s := range r.Shards {
		got = append(got, s.Slots)
		if !s.Healthy || !s.Writable || s.Role != check.Primary {
			t.Errorf("shard %s at %s: healthy=%v writable=%v role=%s reason=%s error=%q",
				s.Slots, s.Node, s.Healthy, s.Writable, s.Role, s.Reason, s.Error)
		}
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("shards %v, want %v", got, want)
	}
	if !r.Healthy || !r.Writable {
		t.Fatalf("want healthy and writable, got %+v", r)
	}
}

func TestClusterEveryShardChecked(t *testing.T) {
	servers := redistest.StartCluster(t, 3, redisserver.Options{})
	o := check.Options{Timeout: 2 * time.Second, Heartbeat: true, Region: "us-east-1"}
	// Auto finds the cluster by itself (INFO cluster, once per connection).
	k := clusterChecker(t, servers[0].Addr, o, check.ClusterAuto)
	for range 2 { // cold, then warm
		r := k.Check(context.Background())
		wantShards(t, r, "0-5460", "5461-10921", "10922-16383")
	}
	// Each shard holds its own heartbeat, in a slot of its own, and no probe
	// key is left behind.
	for i, s := range k.Shards() {
		hbKey := s.HeartbeatKey("healthcheck:")
		if want := "healthcheck:heartbeat:{" + check.SlotTag(s.Slots[0].Start) + "}"; hbKey != want {
			t.Fatalf("shard %s: heartbeat key %q, want %q", s.SlotsString(), hbKey, want)
		}
		admin := redistest.Admin(t, servers[i].Addr, "", "")
		v, err := admin.Get(context.Background(), hbKey).Result()
		if err != nil {
			t.Fatalf("shard %s: heartbeat %s on %s: %v", s.SlotsString(), hbKey, servers[i].Addr, err)
		}
		if hb, err := check.ParseHeartbeat(v); err != nil || hb.Region != "us-east-1" {
			t.Fatalf("shard %s: heartbeat %q: %v", s.SlotsString(), v, err)
		}
		wantNoClusterKeys(t, admin, "healthcheck:", hbKey)
	}
}

func TestClusterAutoOnOneNodeIsTheOneNodeCheck(t *testing.T) {
	srv := redistest.Start(t, redisserver.Options{})
	k := clusterChecker(t, srv.Addr, check.Options{Timeout: 2 * time.Second}, check.ClusterAuto)
	r := k.Check(context.Background())
	wantHealthy(t, r)
	if r.Shards != nil || !r.Writable {
		t.Fatalf("one node checked as a cluster: %+v", r)
	}
	// On purpose: a cluster check of a node that is no cluster says so.
	r = clusterChecker(t, srv.Addr, check.Options{Timeout: 2 * time.Second}, check.ClusterOn).Check(context.Background())
	wantFailure(t, r, check.StepTopology, check.ReasonError)
	if !strings.Contains(r.Error, "cluster support disabled") {
		t.Fatalf("error %q does not say the node is no cluster", r.Error)
	}
}

func TestClusterShardPrimaryKilled(t *testing.T) {
	servers := redistest.StartCluster(t, 3, redisserver.Options{})
	k := clusterChecker(t, servers[0].Addr, check.Options{Timeout: faultTimeout, Heartbeat: true}, check.ClusterOn)
	wantShards(t, k.Check(context.Background()), "0-5460", "5461-10921", "10922-16383")

	servers[1].Kill()
	r := boundedClusterCheck(t, k)
	if r.Healthy || r.Writable || r.Reason != check.ReasonRefused {
		t.Fatalf("one shard down: want unhealthy, not writable, refused; got %+v", r)
	}
	want := "1 of 3 shards failed: shard 5461-10921 at " + servers[1].Addr + ": refused at ping"
	if !strings.HasPrefix(r.Error, want) {
		t.Fatalf("error %q, want it to start %q", r.Error, want)
	}
	for i, s := range r.Shards {
		if s.Healthy != (i != 1) {
			t.Errorf("shard %s at %s: healthy=%v reason=%s", s.Slots, s.Node, s.Healthy, s.Reason)
		}
	}
	// The shard is named in the JSON a Lambda returns, too.
	b, _ := json.Marshal(r)
	if !strings.Contains(string(b), `"slots":"5461-10921","node":"`+servers[1].Addr+`"`) {
		t.Fatalf("JSON does not name the failing shard: %s", b)
	}
}

// boundedClusterCheck is boundedCheck for a cluster checker.
func boundedClusterCheck(t *testing.T, k *check.ClusterChecker) check.Result {
	t.Helper()
	start := time.Now()
	r := k.Check(context.Background())
	if took := time.Since(start); took > k.Options().Timeout+slack {
		t.Fatalf("result after %s, want within timeout %s + slack %s: %+v", took, k.Options().Timeout, slack, r)
	}
	return r
}

// A resharding moves slots, keys and the shard's own check keys from one
// primary to another while checks run: the checks follow ASK and MOVED and
// never report a failure, including a check that runs exactly while the
// shard's first slot is half-migrated (its keys moved, its ownership not).
// 64 slots by default (a few seconds); REDISHA_RESHARD_SLOTS=N moves N
// (up to 8190: all but one slot of the first shard) for a longer soak.
func TestClusterReshardingIsNoFailure(t *testing.T) {
	moved := 64
	if v := os.Getenv("REDISHA_RESHARD_SLOTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 8190 {
			t.Fatalf("REDISHA_RESHARD_SLOTS=%q: use a number of slots from 1 to 8190", v)
		}
		moved = n
	}
	servers := redistest.StartCluster(t, 2, redisserver.Options{})
	ctx := context.Background()
	cc := redistest.ClusterClient(t, servers, "", "")
	for i := range 200 { // application keys, some in the slots that move
		if err := cc.Set(ctx, "user:"+string(rune('a'+i%26))+string(rune('a'+i/26)), i, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	o := check.Options{Timeout: 2 * time.Second, Heartbeat: true}
	k := clusterChecker(t, servers[0].Addr, o, check.ClusterOn)
	wantShards(t, k.Check(ctx), "0-8191", "8192-16383")

	var (
		mu     sync.Mutex
		bad    []check.Result
		checks int
	)
	record := func(r check.Result) {
		mu.Lock()
		defer mu.Unlock()
		checks++
		if !r.Healthy || !r.Writable {
			bad = append(bad, r)
		}
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { // a checker looping as the Step Functions loop does, faster
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			record(k.Check(ctx))
		}
	}()
	askWindow := false
	redistest.MigrateSlots(t, servers[0], servers[1], 0, moved-1, servers, "", func(slot int) {
		if slot == 0 { // slot 0 is the first shard's tag: its keys are gone, ASK it is
			r := k.Check(ctx)
			record(r)
			for _, s := range r.Shards {
				if s.Slots == "0-8191" && s.Tag != check.SlotTag(0) {
					askWindow = true // checked on another of its slots
				}
			}
		}
	})
	close(stop)
	<-done
	r := k.Check(ctx)
	record(r)
	wantShards(t, r, fmt.Sprintf("0-%d,8192-16383", moved-1), fmt.Sprintf("%d-8191", moved))
	if len(bad) > 0 {
		t.Fatalf("%d of %d checks failed during the resharding, first: %+v", len(bad), checks, bad[0])
	}
	if !askWindow {
		t.Fatalf("the check in the ASK window did not move to another slot of the shard")
	}
	t.Logf("%d checks during the migration of %d slots, none failed", checks, moved)
}

// CLUSTER FAILOVER on a replica: the old primary answers ROLE slave and
// MOVED; the check learns the new topology and checks the new primary,
// within the same deadline.
func TestClusterFailoverFollowed(t *testing.T) {
	if testing.Short() {
		t.Skip("a 6 s cluster scenario: skipped under -short; make test runs it")
	}
	c := redistest.StartClusterWithReplicas(t, 2, 1, redisserver.Options{})
	ctx := context.Background()
	k := clusterChecker(t, c.Primaries[0].Addr, check.Options{Timeout: 2 * time.Second, Heartbeat: true}, check.ClusterOn)
	r := k.Check(ctx)
	wantShards(t, r, "0-8191", "8192-16383")
	if r.Shards[1].Node != c.Primaries[1].Addr {
		t.Fatalf("shard 2 at %s, want %s", r.Shards[1].Node, c.Primaries[1].Addr)
	}

	redistest.ClusterFailover(t, c.Replicas[1][0], c.All(), "")
	r = k.Check(ctx)
	wantShards(t, r, "0-8191", "8192-16383")
	if r.Shards[1].Node != c.Replicas[1][0].Addr {
		t.Fatalf("after the failover shard 2 was checked at %s, want the promoted %s", r.Shards[1].Node, c.Replicas[1][0].Addr)
	}
}

// The replica side (the secondary region of a Global Datastore) reads every
// shard's heartbeat and publishes the worst shard's lag.
func TestClusterReplicaSideWorstLag(t *testing.T) {
	if testing.Short() {
		t.Skip("a 4 s cluster scenario: skipped under -short; make test runs it")
	}
	servers := redistest.StartCluster(t, 3, redisserver.Options{})
	ctx := context.Background()
	now := time.UnixMilli(time.Now().UnixMilli()) // the heartbeat's precision
	writer := clusterChecker(t, servers[0].Addr, check.Options{Timeout: 2 * time.Second, Heartbeat: true,
		Now: func() time.Time { return now }}, check.ClusterOn)
	w := writer.Check(ctx)
	wantShards(t, w, "0-5460", "5461-10921", "10922-16383")
	// The group's last writable moment, published as HeartbeatWritten (the
	// promoter's data-loss bound reads it): every shard took its heartbeat.
	if !w.HeartbeatWritten.Equal(now) {
		t.Fatalf("HeartbeatWritten %v, want %v", w.HeartbeatWritten, now)
	}

	later := now.Add(3 * time.Second)
	reader := clusterChecker(t, servers[2].Addr, check.Options{Timeout: 2 * time.Second, Heartbeat: true,
		ExpectRole: check.Replica, Now: func() time.Time { return later }}, check.ClusterOn)
	r := reader.Check(ctx)
	if !r.Healthy || r.HeartbeatAge == nil || *r.HeartbeatAge != 3*time.Second || r.HeartbeatMissing || len(r.Shards) != 3 {
		t.Fatalf("replica side: want healthy, lag 3s on 3 shards, got %+v", r)
	}
	// One shard's heartbeat gone: that shard's lag (the TTL, a lower bound)
	// is the worst, and it is what the group publishes.
	key := "healthcheck:heartbeat:{" + check.SlotTag(5461) + "}"
	if err := redistest.Admin(t, servers[1].Addr, "", "").Del(ctx, key).Err(); err != nil {
		t.Fatal(err)
	}
	r = reader.Check(ctx)
	if !r.Healthy || !r.HeartbeatMissing || *r.HeartbeatAge != check.DefaultHeartbeatTTL || !r.Shards[1].HeartbeatMissing {
		t.Fatalf("one heartbeat missing: want the TTL as the worst lag, got %+v", r)
	}
}

func TestSlotTagsHashToTheirSlots(t *testing.T) {
	for slot := range check.SlotCount {
		if got := check.KeySlot("healthcheck:{" + check.SlotTag(slot) + "}x"); got != slot {
			t.Fatalf("tag %q of slot %d hashes to %d", check.SlotTag(slot), slot, got)
		}
	}
	// The server agrees (CLUSTER KEYSLOT), on a sample.
	srv := redistest.StartCluster(t, 1, redisserver.Options{})[0]
	admin := redistest.Admin(t, srv.Addr, "", "")
	for _, key := range []string{"foo", "123456789", "{user1000}.following", "{}x", "a{b", "healthcheck:heartbeat:{" + check.SlotTag(16383) + "}"} {
		want, err := admin.ClusterKeySlot(context.Background(), key).Result()
		if err != nil {
			t.Fatal(err)
		}
		if got := check.KeySlot(key); got != int(want) {
			t.Errorf("KeySlot(%q) = %d, server says %d", key, got, want)
		}
	}
}

func TestParseClusterMode(t *testing.T) {
	for in, want := range map[string]check.ClusterMode{"": check.ClusterAuto, "AUTO": check.ClusterAuto, "on": check.ClusterOn, "off": check.ClusterOff, "true": check.ClusterOn} {
		if got, err := check.ParseClusterMode(in); err != nil || got != want {
			t.Errorf("ParseClusterMode(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := check.ParseClusterMode("sharded"); err == nil || err.Error() != `cluster mode "sharded" is unknown: use auto, on or off` {
		t.Fatalf("error %v", err)
	}
}

// wantNoClusterKeys fails the test when a key under prefix other than keep
// is on the cluster node behind admin (database 0 only: a cluster has no
// other).
func wantNoClusterKeys(t *testing.T, admin *redis.Client, prefix string, keep ...string) {
	t.Helper()
	keys, err := admin.Keys(context.Background(), prefix+"*").Result()
	if err != nil {
		t.Fatalf("keys %s*: %v", prefix, err)
	}
	for _, k := range keys {
		if !slices.Contains(keep, k) {
			t.Errorf("key %s left behind", k)
		}
	}
}

// A server without CLUSTER SHARDS (Redis OSS 6, or an ACL that denies it)
// is asked CLUSTER SLOTS instead.
func TestClusterSlotsFallback(t *testing.T) {
	servers := redistest.StartCluster(t, 2, redisserver.Options{Config: []string{"user checker on >checker-pw ~* +@all -cluster|shards"}})
	k, err := check.NewCluster(redisconn.Config{Addr: servers[1].Addr, Username: "checker", Password: "checker-pw"},
		check.Options{Timeout: 2 * time.Second, Heartbeat: true}, check.ClusterOn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k.Close() })
	wantShards(t, k.Check(context.Background()), "0-8191", "8192-16383")
}

// The seed (the configured endpoint) is the node that died: the shards are
// learnt again from the other primaries, and only the dead one's shard
// fails.
func TestClusterSeedKilled(t *testing.T) {
	servers := redistest.StartCluster(t, 3, redisserver.Options{})
	k := clusterChecker(t, servers[0].Addr, check.Options{Timeout: faultTimeout, Heartbeat: true}, check.ClusterOn)
	wantShards(t, k.Check(context.Background()), "0-5460", "5461-10921", "10922-16383")

	servers[0].Kill()
	r := boundedClusterCheck(t, k)
	if r.Healthy || r.Writable || len(r.Shards) != 3 || r.Shards[0].Healthy || !r.Shards[1].Healthy || !r.Shards[2].Healthy {
		t.Fatalf("seed down: want only shard 0-5460 failing, got %+v", r)
	}
	if want := "1 of 3 shards failed: shard 0-5460 at " + servers[0].Addr + ": refused"; !strings.HasPrefix(r.Error, want) {
		t.Fatalf("error %q, want it to start %q", r.Error, want)
	}
}

// A shard's primary dies and the cluster fails over by itself (its replica
// is elected by a majority of the other primaries after
// cluster-node-timeout): the checks name the shard while it has no primary,
// then find the promoted replica without being told. With
// cluster-require-full-coverage no the other shards stay writable
// throughout (with yes, every shard answers CLUSTERDOWN until the failover
// ends, and the checks say so).
func TestClusterAutomaticFailoverFollowed(t *testing.T) {
	if testing.Short() {
		t.Skip("a 6 s cluster scenario: skipped under -short; make test runs it")
	}
	// A node timeout of 2 s, not 1: under the race detector, with other
	// packages' clusters on the same two cores, a 1-s timeout let the
	// survivors mark each other failing, and no election won in 30 s
	// (seen once in a fresh-clone run).
	c := redistest.StartClusterWithReplicas(t, 3, 1, redisserver.Options{
		Config: []string{"cluster-node-timeout 2000", "cluster-require-full-coverage no"}})
	k := clusterChecker(t, c.Primaries[0].Addr, check.Options{Timeout: faultTimeout, Heartbeat: true}, check.ClusterOn)
	wantShards(t, k.Check(context.Background()), "0-5460", "5461-10921", "10922-16383")

	c.Primaries[1].Kill()
	r := boundedClusterCheck(t, k)
	if r.Healthy || r.Writable || r.Shards[1].Healthy || r.Shards[1].Node != c.Primaries[1].Addr {
		t.Fatalf("primary of 5461-10921 killed: want that shard failing, got %+v", r)
	}
	deadline := time.Now().Add(60 * time.Second)
	for !r.Healthy {
		if time.Now().After(deadline) {
			t.Fatalf("no healthy check 60s after the primary died: %+v", r)
		}
		if !r.Shards[0].Healthy || !r.Shards[2].Healthy {
			t.Fatalf("another shard failed meanwhile: %+v", r)
		}
		r = boundedClusterCheck(t, k)
	}
	wantShards(t, r, "0-5460", "5461-10921", "10922-16383")
	if r.Shards[1].Node != c.Replicas[1][0].Addr {
		t.Fatalf("after the failover the shard was checked at %s, want the promoted %s", r.Shards[1].Node, c.Replicas[1][0].Addr)
	}
}

// On one node, auto asks INFO once per connection: warm checks stay one
// round trip, also for an ACL user without +info (the README's minimal
// checker user), who is checked as one node.
func TestClusterAutoOnOneNodeIsOneRoundTrip(t *testing.T) {
	for name, user := range map[string]string{"default user": "", "user without +info": "checker"} {
		t.Run(name, func(t *testing.T) {
			srv := redistest.Start(t, redisserver.Options{Config: []string{"user checker on >checker-pw ~healthcheck:* +ping +role +set +get +del"}})
			var writes, dials atomic.Int64
			cfg := countingConfig(srv.Addr, 0, &writes, &dials)
			if user != "" {
				cfg.Username, cfg.Password = user, "checker-pw"
			}
			k, err := check.NewCluster(cfg, check.Options{Timeout: 2 * time.Second}, check.ClusterAuto)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = k.Close() })
			wantHealthy(t, k.Check(context.Background()))
			before := writes.Load()
			for range 5 {
				if r := k.Check(context.Background()); !r.Healthy || r.Shards != nil {
					t.Fatalf("warm check: %+v", r)
				}
			}
			if got := writes.Load() - before; got != 5 {
				t.Fatalf("5 warm checks made %d writes, want 5 (INFO asked once per connection)", got)
			}
			if dials.Load() != 1 {
				t.Fatalf("dialed %d times, want 1", dials.Load())
			}
		})
	}
}

// In auto, the INFO that finds a node to be no cluster does not make its
// connection warm: a READONLY on the first check is a failure, not a
// redial, as on a Checker.
func TestClusterAutoColdReadOnlyIsNotRedialed(t *testing.T) {
	primary := redistest.Start(t, redisserver.Options{})
	replica := redistest.StartReplica(t, primary, "")
	var writes, dials atomic.Int64
	k, err := check.NewCluster(countingConfig(replica.Addr, 0, &writes, &dials),
		check.Options{Timeout: faultTimeout, ExpectRole: check.Primary}, check.ClusterAuto)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k.Close() })
	r := boundedClusterCheck(t, k)
	wantFailure(t, r, check.StepSet, check.ReasonReadOnly)
	if r.Redialed || dials.Load() != 1 {
		t.Fatalf("cold READONLY: redialed %v after %d dials", r.Redialed, dials.Load())
	}
}

// A TLS-only cluster (tls-cluster yes, no plain port): CLUSTER SHARDS names
// each node by its tls-port, and every primary is dialed with the
// endpoint's TLS settings.
func TestClusterTLS(t *testing.T) {
	certs := redistest.NewCerts(t, "localhost")
	servers := redistest.StartCluster(t, 2, redisserver.Options{TLS: &certs.TLSFiles})
	k, err := check.NewCluster(redisconn.Config{Addr: servers[0].Addr, TLS: true, TLSCAFile: certs.CAFile, TLSServerName: "localhost"},
		check.Options{Timeout: 2 * time.Second, Heartbeat: true}, check.ClusterAuto)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k.Close() })
	r := k.Check(context.Background())
	wantShards(t, r, "0-8191", "8192-16383")
	if r.Shards[1].Node != servers[1].Addr {
		t.Fatalf("shard 2 checked at %s, want %s", r.Shards[1].Node, servers[1].Addr)
	}
}

// Scaling out: a new primary takes slots from the end of a shard, so no
// check meets a redirection. A checker finds the new shard once the
// topology it holds is older than its max age, and not before.
func TestClusterScaleOutFoundAfterMaxAge(t *testing.T) {
	if testing.Short() {
		t.Skip("a 4 s cluster scenario: skipped under -short; make test runs it")
	}
	servers := redistest.StartCluster(t, 2, redisserver.Options{})
	ctx := context.Background()
	o := check.Options{Timeout: 2 * time.Second, Heartbeat: true}
	young := clusterChecker(t, servers[0].Addr, o, check.ClusterOn).WithTopologyMaxAge(time.Hour)
	aged := clusterChecker(t, servers[0].Addr, o, check.ClusterOn).WithTopologyMaxAge(time.Nanosecond)
	for _, k := range []*check.ClusterChecker{young, aged} {
		wantShards(t, k.Check(ctx), "0-8191", "8192-16383")
	}

	added := redistest.Start(t, redisserver.Options{Cluster: true})
	if err := redistest.Admin(t, servers[0].Addr, "", "").Do(ctx, "CLUSTER", "MEET", "127.0.0.1", added.Port, added.BusPort).Err(); err != nil {
		t.Fatal(err)
	}
	all := append(servers, added)
	redistest.WaitClusterOK(t, all, "")
	redistest.MigrateSlots(t, servers[1], added, 16380, 16383, all, "", nil)

	// Within its max age a checker checks the shards it knew: they all still
	// pass, and the new one is not among them.
	wantShards(t, young.Check(ctx), "0-8191", "8192-16383")
	wantShards(t, aged.Check(ctx), "0-8191", "8192-16379", "16380-16383")
}

// One shard's primary stalls (SIGSTOP): that shard times out at the
// deadline, named; the others pass in the same check.
func TestClusterShardPrimaryStalled(t *testing.T) {
	servers := redistest.StartCluster(t, 3, redisserver.Options{})
	k := clusterChecker(t, servers[0].Addr, check.Options{Timeout: faultTimeout, Heartbeat: true}, check.ClusterOn)
	wantShards(t, k.Check(context.Background()), "0-5460", "5461-10921", "10922-16383")

	if err := servers[2].Pause(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = servers[2].Resume() })
	r := boundedClusterCheck(t, k)
	wantFailure(t, r, check.StepPing, check.ReasonTimeout)
	wantAtDeadline(t, r, faultTimeout)
	if !r.Shards[0].Healthy || !r.Shards[1].Healthy || r.Shards[2].Healthy || r.Writable {
		t.Fatalf("shard 10922-16383 stalled: want only it failing, got %+v", r)
	}
	if want := "1 of 3 shards failed: shard 10922-16383 at " + servers[2].Addr + ": timeout at ping"; !strings.HasPrefix(r.Error, want) {
		t.Fatalf("error %q, want it to start %q", r.Error, want)
	}
}
