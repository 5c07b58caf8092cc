package cli

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redisha/redisha/internal/deployment"
	"github.com/redisha/redisha/internal/sim/eclocal"
	"github.com/redisha/redisha/internal/testbed/redistest"
)

func TestFailoverPlanThenApply(t *testing.T) {
	bd := newGDSBed(t)
	bd.heartbeat(t, 5, time.Second)
	bd.seedPromoter(t, 5, 5*time.Second)

	// The primary is healthy: the plan refuses on the evidence.
	code, out, errOut := run(t, nil, gdsArgs("failover", "--to", "us-west-2")...)
	if code != ExitUnhealthy || !strings.Contains(out, "evidence  REFUSES") || !strings.Contains(errOut, "refused by: evidence") {
		t.Fatalf("plan with a healthy primary: exit %d\n%s\n%s", code, out, errOut)
	}

	// Region A is lost: its node stops, its alarm fires, and the promoter
	// last saw the heartbeat advance five minutes ago.
	bd.a.Kill()
	bd.cw.SetAlarmState("redisha-us-east-1-writable", "ALARM")
	bd.seedPromoterAt(t, 5, 5*time.Minute)
	code, out, errOut = run(t, nil, gdsArgs("failover", "--to", "us-west-2")...)
	if code != ExitOK || !strings.Contains(out, "every guard holds: run again with --apply") {
		t.Fatalf("plan in an outage: exit %d\n%s\n%s", code, out, errOut)
	}
	for _, c := range bd.ec.Calls() {
		if c.Action == "FailoverGlobalReplicationGroup" {
			t.Fatal("the plan called the failover")
		}
	}

	code, out, errOut = run(t, nil, gdsArgs("failover", "--to", "us-west-2", "--apply", "--poll", "10ms", "--wait", "20s", "--json")...)
	if code != ExitOK {
		t.Fatalf("apply: exit %d\n%s\n%s", code, out, errOut)
	}
	var rep failoverReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if !rep.Ready || rep.Promotion == nil || rep.Promotion.Err != "" || rep.Epoch != 10 {
		t.Fatalf("apply report %+v", rep)
	}
	if d, _ := bd.ec.Datastore(gdsID); d.Members[1].Role != eclocal.RolePrimary {
		t.Fatalf("datastore %+v", d)
	}
	if err := redistest.Admin(t, bd.b.Addr, "", "").Set(context.Background(), "app:k", "v", 0).Err(); err != nil {
		t.Fatalf("write to the promoted node: %v", err)
	}
	// The latch now holds for the promoters, and for another failover.
	code, out, _ = run(t, nil, gdsArgs("failover", "--to", "us-west-2")...)
	if code != ExitUnhealthy || !strings.Contains(out, "already PRIMARY") || !strings.Contains(out, "latched") {
		t.Fatalf("after the promotion: exit %d\n%s", code, out)
	}
}

func TestFailoverStaleSecondaryNeedsAcceptedLoss(t *testing.T) {
	bd := newGDSBed(t)
	// The newest heartbeat B holds was written two minutes ago, and A's
	// last write cannot be read (no HeartbeatWritten datapoint): the loss
	// is bounded by now.
	bd.heartbeat(t, 5, 2*time.Minute)
	bd.a.Kill()
	bd.cw.SetAlarmState("redisha-us-east-1-writable", "ALARM")
	rec := bd.record(5, time.Now().Add(-5*time.Minute))
	bd.saveRecord(t, 0, rec)
	code, out, _ := run(t, nil, gdsArgs("failover", "--to", "us-west-2")...)
	if code != ExitUnhealthy || !strings.Contains(out, "stale secondary") {
		t.Fatalf("stale: exit %d\n%s", code, out)
	}
	code, out, _ = run(t, nil, gdsArgs("failover", "--to", "us-west-2", "--accept-data-loss", "3m")...)
	if code != ExitOK || !strings.Contains(out, "accepted by an operator") {
		t.Fatalf("with --accept-data-loss 3m: exit %d\n%s", code, out)
	}
}

func TestFailoverOverridesTheLatchOnlyWhenAsked(t *testing.T) {
	bd := newGDSBed(t)
	bd.heartbeat(t, 5, time.Second)
	bd.a.Kill()
	bd.cw.SetAlarmState("redisha-us-east-1-writable", "ALARM")
	// A promotion was accepted ten minutes ago (then failed back by hand):
	// the latch holds for the cooldown.
	rec := bd.record(5, time.Now().Add(-5*time.Minute))
	rec.State.PromotedAt = time.Now().Add(-10 * time.Minute)
	bd.saveRecord(t, 0, rec)
	code, out, _ := run(t, nil, gdsArgs("failover", "--to", "us-west-2")...)
	if code != ExitUnhealthy || !strings.Contains(out, "latch     REFUSES latched") {
		t.Fatalf("without the override: exit %d\n%s", code, out)
	}
	code, out, errOut := run(t, nil, gdsArgs("failover", "--to", "us-west-2", "--ignore-latch", "--apply", "--poll", "10ms", "--wait", "20s")...)
	if code != ExitOK || !strings.Contains(out, "OVERRIDES: ignore-latch") || !strings.Contains(out, "OVERRIDDEN by an operator (--ignore-latch): latched") {
		t.Fatalf("with --ignore-latch: exit %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(errOut, "overrides=ignore-latch") {
		t.Fatalf("the override is not in the decision log:\n%s", errOut)
	}
}

// TestFailoverPlansWithTheDeployedBounds: the plan measures against the
// deployment's MAX_DATA_LOSS, not the default.
func TestFailoverPlansWithTheDeployedBounds(t *testing.T) {
	bd := newGDSBed(t)
	bd.heartbeat(t, 5, 2*time.Minute)
	bd.a.Kill()
	bd.cw.SetAlarmState("redisha-us-east-1-writable", "ALARM")
	bd.saveRecord(t, 0, bd.record(5, time.Now().Add(-5*time.Minute)))
	s, err := deployment.Load(func(string) any { return nil }, "123456789012")
	if err != nil {
		t.Fatal(err)
	}
	d := deployment.New(s)
	r, ok := d.Region("us-west-2")
	if !ok {
		t.Fatalf("no us-west-2 in the default deployment: %+v", d.Regions)
	}
	for i := range d.Regions {
		if d.Regions[i].Name == r.Name {
			d.Regions[i].Promoter.Bounds.MaxDataLoss = 3 * time.Minute
		}
	}
	path := filepath.Join(t.TempDir(), deployment.ModelFile)
	if err := d.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	code, out, _ := run(t, nil, gdsArgs("failover", "--to", "us-west-2")...)
	if code != ExitUnhealthy || !strings.Contains(out, "over the 5s bound") {
		t.Fatalf("default bounds: exit %d\n%s", code, out)
	}
	code, out, errOut := run(t, nil, gdsArgs("failover", "--to", "us-west-2", "--deployment", path)...)
	if code != ExitOK || !strings.Contains(out, "within 3m0s (configured)") {
		t.Fatalf("deployed bounds: exit %d\n%s\n%s", code, out, errOut)
	}
}

// redisha promoter pause|mode|resume keeps the mode in the promoter's table
// (every run reads it), names who set it, and status shows it.
func TestPromoterModeAtRunTime(t *testing.T) {
	bd := newGDSBed(t)
	bd.heartbeat(t, 77, 2*time.Second)
	bd.seedPromoter(t, 77, 10*time.Second)
	env := map[string]string{"AWS_REGION": "us-west-2"}
	code, out, errOut := run(t, env, "promoter", "pause", "--datastore", gdsID, "--timeout", "2s", "--in", "us-west-2", "--by", "ops@example")
	if code != ExitOK || !strings.Contains(out, "us-west-2: promoter mode off until resumed, set by ops@example (epoch 10)") {
		t.Fatalf("pause: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = run(t, env, gdsArgs("status")...)
	if code != ExitOK || !strings.Contains(out, "off (set by ops@example") {
		t.Fatalf("status after pause: exit %d\n%s\n%s", code, out, errOut)
	}
	for _, bad := range [][]string{{"promoter", "mode", "sometimes"}, {"promoter", "mode"}, {"promoter", "pause", "--in", "eu-west-1"}} {
		if code, _, errOut := run(t, env, append(bad, "--datastore", gdsID, "--timeout", "2s")...); code != ExitUsage {
			t.Errorf("%v: exit %d, want %d\n%s", bad, code, ExitUsage, errOut)
		}
	}
	code, out, errOut = run(t, env, "promoter", "resume", "--datastore", gdsID, "--timeout", "2s", "--in", "us-west-2", "--by", "ops@example")
	if code != ExitOK || !strings.Contains(out, "the deployed mode (resumed)") {
		t.Fatalf("resume: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, _ = run(t, env, gdsArgs("status")...)
	if code != ExitOK || strings.Contains(out, "set by ops@example") {
		t.Fatalf("status after resume still shows the override:\n%s", out)
	}
}
