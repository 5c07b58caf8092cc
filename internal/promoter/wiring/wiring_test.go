package wiring_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redisha/redisha/internal/cwlocal"
	"github.com/redisha/redisha/internal/ddblocal"
	"github.com/redisha/redisha/internal/eclocal"
	"github.com/redisha/redisha/internal/latch"
	"github.com/redisha/redisha/internal/promoter"
	"github.com/redisha/redisha/internal/promoter/wiring"
	"github.com/redisha/redisha/internal/redisserver"
	"github.com/redisha/redisha/internal/redistest"
	"github.com/redisha/redisha/internal/snslocal"
)

// TestBuildReachesEveryEndpointFromTheEnvironment builds the runner as the
// Lambda does, with AWS_ENDPOINT_URL_<SERVICE> pointing at the local
// endpoints, and runs one decision.
func TestBuildReachesEveryEndpointFromTheEnvironment(t *testing.T) {
	a := redistest.Start(t, redisserver.Options{})
	ec := eclocal.New(eclocal.Options{})
	t.Cleanup(ec.Close)
	ec.PutDatastore(eclocal.Datastore{ID: "ldgnf-redisha", Members: []eclocal.Member{
		{ReplicationGroupID: "redis-primary", Region: "us-east-1", Role: eclocal.RolePrimary},
		{ReplicationGroupID: "redis-secondary", Region: "us-west-2", Role: eclocal.RoleSecondary},
	}})
	ec.PutGroup(eclocal.Group{ID: "redis-secondary", Region: "us-west-2"})
	cw := cwlocal.New()
	t.Cleanup(cw.Close)
	cw.SetAlarmState("redisha-us-east-1-writable", "ALARM")
	ddb := ddblocal.New()
	t.Cleanup(ddb.Close)
	ddb.CreateTable("redisha-promoter", latch.KeyAttribute)
	sn := snslocal.New()
	t.Cleanup(sn.Close)

	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL_ELASTICACHE": ec.URL(), "AWS_ENDPOINT_URL_CLOUDWATCH": cw.URL(),
		"AWS_ENDPOINT_URL_DYNAMODB": ddb.URL(), "AWS_ENDPOINT_URL_SNS": sn.URL(),
		"AWS_ACCESS_KEY_ID": "AKIDLOCAL", "AWS_SECRET_ACCESS_KEY": "local-secret", "AWS_REGION": "us-west-2",
		"AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", "AWS_EC2_METADATA_DISABLED": "true",
		"REDIS_ADDR": a.Addr, "REDIS_TLS": "false", "GLOBAL_DATASTORE_ID": "ldgnf-redisha",
		"REPLICATION_GROUP_ID": "redis-secondary", "PEER_REGION": "us-east-1", "PEER_WRITABLE_ALARM": "redisha-us-east-1-writable",
		"LATCH_TABLE": "redisha-promoter", "SNS_TOPIC_ARN": "arn:aws:sns:us-west-2:1:pages",
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
	if it, ok := ddb.Item("redisha-promoter", wiring.LatchKey("ldgnf-redisha", "us-west-2")); !ok || it["epoch"]["N"] != "1" {
		t.Fatalf("latch item %v", it)
	}
	if !strings.Contains(stdout.String(), `"PromoterAction":0`) {
		t.Fatalf("no metric line on stdout: %q", stdout.String())
	}
	if calls := ec.Calls(); len(calls) == 0 || calls[0].Region != "us-west-2" {
		t.Fatalf("ElastiCache calls %+v, want them through us-west-2", calls)
	}
}
