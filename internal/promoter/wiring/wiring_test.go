package wiring_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redisha/redisha/internal/promoter"
	"github.com/redisha/redisha/internal/promoter/wiring"
	"github.com/redisha/redisha/internal/sim/redisserver"
	"github.com/redisha/redisha/internal/testbed/gdslocal"
	"github.com/redisha/redisha/internal/testbed/redistest"
)

// TestBuildReachesEveryEndpointFromTheEnvironment builds the runner as the
// Lambda does, with AWS_ENDPOINT_URL_<SERVICE> pointing at the local
// endpoints, and runs one decision.
func TestBuildReachesEveryEndpointFromTheEnvironment(t *testing.T) {
	a := redistest.Start(t, redisserver.Options{})
	w := gdslocal.Start(t, gdslocal.Options{})
	w.CW.SetAlarmState(gdslocal.AlarmName("us-east-1"), "ALARM")
	w.Setenv(t)
	for k, v := range map[string]string{
		"AWS_REGION": "us-west-2", "REDIS_ADDR": a.Addr, "REDIS_TLS": "false", "GLOBAL_DATASTORE_ID": w.Datastore,
		"REPLICATION_GROUP_ID": "redis-secondary", "PEER_REGION": "us-east-1", "PEER_WRITABLE_ALARM": gdslocal.AlarmName("us-east-1"),
		"LATCH_TABLE": w.LatchTable, "SNS_TOPIC_ARN": "arn:aws:sns:us-west-2:1:pages",
	} {
		t.Setenv(k, v)
	}
	cfg, err := promoter.ConfigFromEnv(func(k string) string { return strings.TrimSpace(os.Getenv(k)) })
	if err != nil {
		t.Fatal(err)
	}
	var stdout, logs bytes.Buffer
	r, closeFn, err := wiring.Build(context.Background(), cfg, &stdout, slog.New(slog.NewJSONHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = closeFn() })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := r.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// No heartbeat was ever written: the evidence guard refuses.
	if out.Decision.Action != promoter.ActNone || out.Decision.Epoch != 1 || out.Observations.Alarm.State != "ALARM" ||
		out.Observations.Datastore.LocalRole != "SECONDARY" {
		t.Fatalf("outcome %+v %+v", out.Decision, out.Observations)
	}
	if it, ok := w.DDB.Item(w.LatchTable, wiring.LatchKey(w.Datastore, "us-west-2")); !ok || it["epoch"]["N"] != "1" {
		t.Fatalf("latch item %v", it)
	}
	if !strings.Contains(stdout.String(), `"PromoterAction":0`) {
		t.Fatalf("no metric line on stdout: %q", stdout.String())
	}
	if calls := w.EC.Calls(); len(calls) == 0 || calls[0].Region != "us-west-2" {
		t.Fatalf("ElastiCache calls %+v, want them through us-west-2", calls)
	}
}
