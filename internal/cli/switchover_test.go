package cli

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redisha/redisha/internal/check"
	"github.com/redisha/redisha/internal/deployment"
	"github.com/redisha/redisha/internal/drill"
	"github.com/redisha/redisha/internal/promoter/latch"
	"github.com/redisha/redisha/internal/sim/ddblocal"
	"github.com/redisha/redisha/internal/sim/eclocal"
	"github.com/redisha/redisha/internal/sim/redisserver"
	"github.com/redisha/redisha/internal/testbed/gdslocal"
	"github.com/redisha/redisha/internal/testbed/redistest"
)

// A planned move to us-west-2 and the failback to us-east-1: each waits for
// the target to catch up, promotes through the target's endpoint, verifies
// a write and the marker, and latches the target's promoter.
func TestSwitchoverAndFailback(t *testing.T) {
	bd := newGDSBed(t)
	ctx := context.Background()
	for i, to := range []string{"us-west-2", "us-east-1"} {
		code, out, errOut := run(t, nil, gdsArgs("switchover", "--to", to, "--poll", "10ms", "--wait", "20s", "--apply", "--confirm", gdsID)...)
		if code != ExitOK || !strings.Contains(out, "marker kept: true; latch recorded: true") {
			t.Fatalf("switchover to %s: exit %d\n%s\n%s", to, code, out, errOut)
		}
		d, _ := bd.ec.Datastore(gdsID)
		if p, _ := d.Primary(); p.Region != to {
			t.Fatalf("after switchover %d the primary is %s, want %s", i, p.Region, to)
		}
		newP, oldP := bd.b, bd.a
		if to == "us-east-1" {
			newP, oldP = bd.a, bd.b
		}
		if err := redistest.Admin(t, newP.Addr, "", "").Set(ctx, "app:k", to, 0).Err(); err != nil {
			t.Fatalf("write to the new primary %s: %v", to, err)
		}
		redistest.WaitReplicaLink(t, oldP.Addr, "")
		st := latch.New(ddblocal.NewClient(bd.ddb.URL(), to, 2), deployment.LatchTable(gdsID), deployment.LatchKey(gdsID, to))
		rec, err := st.Load(ctx)
		if err != nil || rec.State.PromotedAt.IsZero() || time.Since(rec.State.PromotedAt) > time.Minute {
			t.Fatalf("latch of %s: %+v, %v", to, rec, err)
		}
	}
	// The primary is already there: a finding, nothing called.
	before := len(bd.ec.Calls())
	if code, _, errOut := run(t, nil, gdsArgs("switchover", "--to", "us-east-1")...); code != ExitUnhealthy || !strings.Contains(errOut, "already the primary") {
		t.Fatalf("switchover to the primary: exit %d %s", code, errOut)
	}
	for _, c := range bd.ec.Calls()[before:] {
		if c.Action == "FailoverGlobalReplicationGroup" {
			t.Fatal("a failover was called")
		}
	}
}

func TestSwitchoverRefusesWhileModifying(t *testing.T) {
	bd := newGDSBed(t)
	bd.ec.SetStatus(gdsID, eclocal.StatusModifying)
	if code, _, errOut := run(t, nil, gdsArgs("switchover", "--to", "us-west-2")...); code != ExitUnhealthy || !strings.Contains(errOut, "modifying, not available") {
		t.Fatalf("switchover while modifying: exit %d %s", code, errOut)
	}
}

// A switchover plans by default and moves the primary only with --apply and
// the datastore's id repeated: a typo in --to or --datastore starts nothing.
func TestSwitchoverPlansUnlessConfirmed(t *testing.T) {
	bd := newGDSBed(t)
	code, out, errOut := run(t, nil, gdsArgs("switchover", "--to", "us-west-2")...)
	if code != ExitOK || !strings.Contains(out, "plan: move the primary of "+gdsID+" from us-east-1") || !strings.Contains(out, "Nothing was changed") {
		t.Fatalf("plan: exit %d\n%s\n%s", code, out, errOut)
	}
	for _, args := range [][]string{{"--apply"}, {"--apply", "--confirm", "ldgnf-other"}} {
		code, _, errOut := run(t, nil, gdsArgs("switchover", append([]string{"--to", "us-west-2"}, args...)...)...)
		if code != ExitUsage || !strings.Contains(errOut, "confirm with --confirm "+gdsID) {
			t.Fatalf("%v: exit %d %s", args, code, errOut)
		}
	}
	d, _ := bd.ec.Datastore(gdsID)
	if p, _ := d.Primary(); p.Region != "us-east-1" {
		t.Fatalf("the primary moved to %s without a confirmed --apply", p.Region)
	}
}

// A cluster-mode datastore: status reads the secondary's heartbeat shard by
// shard and shows the worst shard's. Two real three-shard clusters stand for
// the members (each shard's heartbeat written as replication would carry
// it), which do not replicate: switchover's markers never reach the target,
// so it does not move the primary.
func TestClusterStatusAndSwitchover(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two three-shard clusters; make test runs it")
	}
	a := redistest.StartCluster(t, 3, redisserver.Options{})
	b := redistest.StartCluster(t, 3, redisserver.Options{})
	w := gdslocal.Start(t, gdslocal.Options{Datastore: gdsID,
		Primary:   gdslocal.Region{Name: "us-east-1", Group: "redis-primary", Endpoint: a[0].Addr},
		Secondary: gdslocal.Region{Name: "us-west-2", Group: "redis-secondary", Endpoint: b[0].Addr}})
	w.Setenv(t)
	t.Setenv("AWS_MAX_ATTEMPTS", "2")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	shards, err := check.DiscoverShards(ctx, redistest.Admin(t, b[0].Addr, "", ""), false, b[0].Addr)
	if err != nil || len(shards) != 3 {
		t.Fatalf("shards of the secondary: %v %v", shards, err)
	}
	for i, s := range shards {
		seq := uint64(40)
		if i == 1 {
			seq = 39 // this shard's replication is a check behind
		}
		hb := check.Heartbeat{Written: time.Now().Add(-time.Duration(41-seq) * time.Second), Region: "us-east-1", Seq: seq}
		if err := redistest.Admin(t, s.Primary, "", "").Set(ctx, s.HeartbeatKey(check.DefaultPrefix), hb.String(), time.Hour).Err(); err != nil {
			t.Fatal(err)
		}
	}
	env := map[string]string{"AWS_REGION": "us-west-2"}
	code, out, errOut := run(t, env, gdsArgs("status")...)
	if !strings.Contains(out, "seq 39 from us-east-1") {
		t.Fatalf("status of a cluster: exit %d, want the worst shard's heartbeat (seq 39)\n%s\n%s", code, out, errOut)
	}
	code, _, errOut = run(t, nil, gdsArgs("switchover", "--to", "us-west-2", "--apply", "--confirm", gdsID, "--catch-up", "5s")...)
	// (Which error the last poll met depends on the machine's load: a
	// shard's marker missing, or a read cut by the limit.)
	if code != ExitUnhealthy || !strings.Contains(errOut, "the target did not catch up within 5s") {
		t.Fatalf("switchover of a cluster that does not replicate: exit %d %s", code, errOut)
	}
	d, _ := w.EC.Datastore(gdsID)
	if p, _ := d.Primary(); p.Region != "us-east-1" {
		t.Fatalf("the primary moved to %s", p.Region)
	}
}

// A cluster-mode datastore (three shards a member, each replicating across
// regions; the drill's topology) is switched over and back: one marker a
// shard, each caught up on the target, every shard's kept after the move.
func TestSwitchoverCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("twelve redis-servers: skipped under -short; make test runs it")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	topo, err := drill.StartShardedTopology(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(topo.Close)
	w := gdslocal.Start(t, gdslocal.Options{Datastore: gdsID,
		Primary:       gdslocal.Region{Name: "us-east-1", Group: "redis-primary", Endpoint: topo.Region("a").ConfigEndpoint.Addr},
		Secondary:     gdslocal.Region{Name: "us-west-2", Group: "redis-secondary", Endpoint: topo.Region("b").ConfigEndpoint.Addr},
		FailoverDelay: 20 * time.Millisecond,
		OnFailover: func(f eclocal.Failover) error {
			c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			to := map[string]string{"us-east-1": "a", "us-west-2": "b"}[f.To.Region]
			return topo.FailoverGlobal(c, to)
		}})
	w.Setenv(t)
	t.Setenv("AWS_MAX_ATTEMPTS", "2")
	for _, to := range []string{"us-west-2", "us-east-1"} {
		code, out, errOut := run(t, nil, gdsArgs("switchover", "--to", to, "--poll", "10ms", "--wait", "20s", "--apply", "--confirm", gdsID)...)
		if code != ExitOK || !strings.Contains(out, "marker kept: true; latch recorded: true") {
			t.Fatalf("switchover to %s: exit %d\n%s\n%s", to, code, out, errOut)
		}
		label := map[string]string{"us-east-1": "a", "us-west-2": "b"}[to]
		for i := range topo.Region(label).Shards {
			n := topo.ShardPrimary(label, i)
			keys, err := redistest.Admin(t, n.Addr, "", "").Keys(ctx, check.DefaultPrefix+"switchover:*").Result()
			if err != nil || len(keys) != 1 {
				t.Fatalf("shard %d of %s (%s): markers %v %v, want its own", i+1, to, n.Name, keys, err)
			}
		}
	}
}
