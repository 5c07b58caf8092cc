package cli

import (
	"context"
	"encoding/json"
	"github.com/redisha/redisha/internal/deployment"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redisha/redisha/internal/check"
	"github.com/redisha/redisha/internal/promoter"
	"github.com/redisha/redisha/internal/promoter/latch"
	"github.com/redisha/redisha/internal/sim/cwlocal"
	"github.com/redisha/redisha/internal/sim/ddblocal"
	"github.com/redisha/redisha/internal/sim/eclocal"
	"github.com/redisha/redisha/internal/sim/redisserver"
	"github.com/redisha/redisha/internal/testbed/gdslocal"
	"github.com/redisha/redisha/internal/testbed/redistest"
)

const gdsID = "ldgnf-redisha"

// gdsBed is a Global Datastore on loopback: redis-server A (us-east-1,
// primary) and B (us-west-2, replicating A), the local ElastiCache (whose
// failover re-points them with REPLICAOF), CloudWatch and DynamoDB
// endpoints, and the AWS variables that point the SDK at them.
type gdsBed struct {
	a, b *redisserver.Server
	ec   *eclocal.Server
	cw   *cwlocal.Server
	ddb  *ddblocal.Server
	// hb is the last heartbeat written on A.
	hb check.Heartbeat
}

func newGDSBed(t *testing.T) *gdsBed {
	t.Helper()
	a := redistest.Start(t, redisserver.Options{})
	b := redistest.StartReplica(t, a, "")
	adminA, adminB := redistest.Admin(t, a.Addr, "", ""), redistest.Admin(t, b.Addr, "", "")
	bd := &gdsBed{a: a, b: b}
	w := gdslocal.Start(t, gdslocal.Options{Datastore: gdsID,
		Primary:       gdslocal.Region{Name: "us-east-1", Group: "redis-primary", Endpoint: a.Addr},
		Secondary:     gdslocal.Region{Name: "us-west-2", Group: "redis-secondary", Endpoint: b.Addr},
		FailoverDelay: 20 * time.Millisecond,
		OnFailover: func(f eclocal.Failover) error {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			newP, oldP, port := adminB, adminA, b.Port
			if f.To.Region == "us-east-1" {
				newP, oldP, port = adminA, adminB, a.Port
			}
			if err := newP.Do(ctx, "REPLICAOF", "NO", "ONE").Err(); err != nil {
				return err
			}
			// The old primary follows when it is reachable; a lost region is not.
			_ = oldP.Do(ctx, "REPLICAOF", "127.0.0.1", strconv.Itoa(port)).Err()
			return nil
		}})
	bd.ec, bd.cw, bd.ddb = w.EC, w.CW, w.DDB
	bd.cw.SetAlarmState("redisha-us-west-2-writable", "ALARM")
	w.Setenv(t)
	t.Setenv("AWS_MAX_ATTEMPTS", "2")
	return bd
}

// heartbeat writes a heartbeat on A written ago, and waits until B has it.
func (bd *gdsBed) heartbeat(t *testing.T, seq uint64, ago time.Duration) {
	t.Helper()
	admin := redistest.Admin(t, bd.a.Addr, "", "")
	ctx := context.Background()
	hb := check.Heartbeat{Written: time.Now().Add(-ago).Truncate(time.Millisecond), Region: "us-east-1", Seq: seq}
	bd.hb = hb
	if err := admin.Set(ctx, check.DefaultPrefix+"heartbeat", hb.String(), 10*time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := admin.Do(ctx, "WAIT", 1, 5000).Int(); err != nil || n != 1 {
		t.Fatalf("heartbeat not replicated: %d %v", n, err)
	}
}

// record is a us-west-2 promoter state at epoch 9 that last saw heartbeat
// seq advance at seen, 1 s old then.
func (bd *gdsBed) record(seq uint64, seen time.Time) promoter.Record {
	return promoter.Record{State: promoter.State{Epoch: 9, HeartbeatSeq: seq, HeartbeatWritten: bd.hb.Written, HeartbeatAdvanced: seen, HealthyAt: seen,
		HealthyAge: time.Second, PrimaryRegion: "us-east-1"}, LastAction: promoter.ActNone, LastRefused: "evidence", LastAt: seen, Mode: promoter.ModeAdvise}
}

// seedPromoter stores record(seq, now - stalled) as the first record.
func (bd *gdsBed) seedPromoter(t *testing.T, seq uint64, stalled time.Duration) {
	t.Helper()
	bd.saveRecord(t, 0, bd.record(seq, time.Now().Add(-stalled)))
}

// seedPromoterAt replaces the record stored by seedPromoter.
func (bd *gdsBed) seedPromoterAt(t *testing.T, seq uint64, stalled time.Duration) {
	t.Helper()
	bd.saveRecord(t, 9, bd.record(seq, time.Now().Add(-stalled)))
}

func (bd *gdsBed) saveRecord(t *testing.T, prev uint64, rec promoter.Record) {
	t.Helper()
	st := latch.New(ddblocal.NewClient(bd.ddb.URL(), "us-west-2", 2), deployment.LatchTable(gdsID), deployment.LatchKey(gdsID, "us-west-2"))
	if err := st.Save(context.Background(), prev, rec); err != nil {
		t.Fatal(err)
	}
}

func gdsArgs(cmd string, extra ...string) []string {
	return append([]string{cmd, "--datastore", gdsID, "--addr", "localhost:6379", "--timeout", "2s"}, extra...)
}

func TestStatus(t *testing.T) {
	bd := newGDSBed(t)
	bd.heartbeat(t, 77, 2*time.Second)
	bd.seedPromoter(t, 77, 10*time.Second)
	env := map[string]string{"AWS_REGION": "us-west-2"}

	code, out, errOut := run(t, env, gdsArgs("status")...)
	if code != ExitOK {
		t.Fatalf("status: exit %d\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{"Global Datastore ldgnf-redisha: available, primary us-east-1", "redis-primary", "redis-secondary",
		"PRIMARY", "SECONDARY", "master", "slave", "seq 77 from us-east-1", "redisha-us-west-2-writable ALARM",
		"advise, epoch 9: none (refused: evidence)", "localhost:6379 resolves here to"} {
		if !strings.Contains(out, want) {
			t.Errorf("status does not show %q:\n%s", want, out)
		}
	}

	code, out, _ = run(t, env, gdsArgs("status", "--json")...)
	var rep statusReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != ExitOK {
		t.Fatalf("status --json: exit %d, %v\n%s", code, err, out)
	}
	if len(rep.Regions) != 2 || !rep.Regions[0].Writable || rep.Regions[1].Writable || rep.Regions[1].HeartbeatSeq != 77 ||
		rep.Regions[1].HeartbeatAgeS < 1 || rep.Regions[0].AlarmState != "OK" || len(rep.Resolves) == 0 {
		t.Fatalf("status --json: %+v", rep)
	}

	// No writable region is a finding.
	bd.a.Kill()
	if code, _, errOut := run(t, env, gdsArgs("status")...); code != ExitUnhealthy || !strings.Contains(errOut, "no region's endpoint is writable") {
		t.Fatalf("status with the primary down: exit %d, %s", code, errOut)
	}
}

func TestGDSUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"status", "--addr", "h:1"}, "redisha status: --datastore is required"},
		{[]string{"status", "--addr", "h:1", "--datastore", "x"}, "redisha status: --region is required when AWS_REGION is not set"},
		{[]string{"status", "--addr", "h:1", "--datastore", "x", "--endpoint", "us-east-1=nohostport"}, "redisha status: --endpoint us-east-1=nohostport"},
		{[]string{"failover", "--addr", "h:1", "--datastore", "x"}, "redisha failover: --to is required"},
		{[]string{"failover", "--addr", "h:1", "--datastore", "x", "--to", "us-west-2", "--accept-data-loss", "lots"}, `redisha failover: --accept-data-loss "lots"`},
		{[]string{"switchover", "--addr", "h:1", "--datastore", "x"}, "redisha switchover: --to is required"},
		{[]string{"switchover", "--datastore", "x", "--to", "us-east-1"}, "redisha switchover: --addr is required"},
	} {
		if code, _, errOut := run(t, nil, tc.args...); code != ExitUsage || !strings.HasPrefix(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tc.args, code, errOut, tc.want)
		}
	}
	for _, cmd := range []string{"status", "failover", "switchover"} {
		if code, out, _ := run(t, nil, cmd, "--help"); code != ExitOK || !strings.Contains(out, "--datastore") {
			t.Errorf("%s --help: exit %d\n%s", cmd, code, out)
		}
	}
}
