package verify_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/redisha/redisha/internal/testbed/verifylocal"
	"github.com/redisha/redisha/internal/verify"
)

var creds = credentials.NewStaticCredentialsProvider("AKIDLOCAL", "local-secret", "")

// region starts the two local endpoints of one region and returns a Member
// with real SDK clients pointed at them.
func region(t *testing.T, name, groupID, role string, e *verifylocal.ElastiCache, c *verifylocal.CloudWatch) verify.Member {
	t.Helper()
	es, cs := httptest.NewServer(e), httptest.NewServer(c)
	for _, srv := range []*httptest.Server{es, cs} {
		t.Cleanup(func() { srv.CloseClientConnections(); srv.Close() }) // a stalled handler ends with its connection
	}
	noRetry := retry.NewStandard(func(o *retry.StandardOptions) { o.MaxAttempts = 1 })
	return verify.Member{Region: name, GroupID: groupID, Role: role,
		ElastiCache: elasticache.New(elasticache.Options{Region: name, BaseEndpoint: aws.String(es.URL), Credentials: creds, Retryer: noRetry}),
		CloudWatch:  cloudwatch.New(cloudwatch.Options{Region: name, BaseEndpoint: aws.String(cs.URL), Credentials: creds, Retryer: noRetry}),
	}
}

func byCheck(rs []verify.Result) map[string]verify.Result {
	out := map[string]verify.Result{}
	for _, r := range rs {
		out[r.Region+" "+r.Check] = r
	}
	return out
}

func TestHealthyDeploymentPasses(t *testing.T) {
	pe := &verifylocal.ElastiCache{Groups: map[string]verifylocal.Group{"redis-primary": verifylocal.Good("redis-primary", "ldgnf-redisha", "PRIMARY")}}
	se := &verifylocal.ElastiCache{Groups: map[string]verifylocal.Group{"redis-secondary": verifylocal.Good("redis-secondary", "ldgnf-redisha", "SECONDARY")}}
	target := verify.Target{GlobalID: "ldgnf-redisha", Nodes: 2, Members: []verify.Member{
		region(t, "us-east-1", "redis-primary", "PRIMARY", pe, &verifylocal.CloudWatch{Metrics: verifylocal.HealthyMetrics("redis-primary", 2, false)}),
		region(t, "us-west-2", "redis-secondary", "SECONDARY", se, &verifylocal.CloudWatch{Metrics: verifylocal.HealthyMetrics("redis-secondary", 2, true)}),
	}}
	rs := verify.Run(context.Background(), target)
	if verify.Failed(rs) != 0 || len(rs) != 15 {
		for _, r := range rs {
			t.Log(r)
		}
		t.Fatalf("%d of %d checks failed, want 15 checks, none failed", verify.Failed(rs), len(rs))
	}
	if got := pe.Asked()[0].Get("ReplicationGroupId"); got != "redis-primary" {
		t.Errorf("described %q", got)
	}
}

// Each defect the first deploy can reveal fails its own check, naming the
// group and what is wrong.
func TestDefectsFailTheirCheck(t *testing.T) {
	noAuth := verifylocal.Good("redis-secondary", "ldgnf-redisha", "SECONDARY")
	noAuth.Auth, noAuth.MultiAZ = false, "disabled"
	otherGDS := verifylocal.Good("redis-primary", "ldgnf-redisha", "SECONDARY") // failed over
	missingNode := verifylocal.HealthyMetrics("redis-secondary", 2, false)[2:]  // node -001 absent, no lag metric
	target := verify.Target{GlobalID: "ldgnf-redisha", Nodes: 2, Members: []verify.Member{
		region(t, "us-east-1", "redis-primary", "PRIMARY", &verifylocal.ElastiCache{Groups: map[string]verifylocal.Group{"redis-primary": otherGDS}},
			&verifylocal.CloudWatch{Metrics: verifylocal.HealthyMetrics("redis-primary", 2, false)[:4]}), // no checker metric
		region(t, "us-west-2", "redis-secondary", "SECONDARY", &verifylocal.ElastiCache{Groups: map[string]verifylocal.Group{"redis-secondary": noAuth}},
			&verifylocal.CloudWatch{Metrics: missingNode}),
	}}
	got := byCheck(verify.Run(context.Background(), target))
	for key, want := range map[string]string{
		"us-east-1 global datastore member": "redis-primary is SECONDARY in ldgnf-redisha, want PRIMARY",
		"us-east-1 checker metric":          "no Custom/Redis HealthCheckStatus{ReplicationGroup=redis-primary}",
		"us-east-1 writable metric":         "no Custom/Redis WritableStatus{ReplicationGroup=redis-primary}",
		"us-west-2 auth token":              "redis-secondary AuthTokenEnabled=false",
		"us-west-2 multi-az and failover":   "MultiAZ=disabled",
		"us-west-2 node metrics":            "for redis-secondary-001",
		"us-west-2 cross-region lag metric": "no GlobalDatastoreReplicationLag",
	} {
		r, ok := got[key]
		if !ok || r.OK || !strings.Contains(r.Detail, want) {
			t.Errorf("%s: %+v, want a failure saying %q", key, r, want)
		}
	}
	for _, key := range []string{"us-east-1 auth token", "us-east-1 node metrics", "us-west-2 encryption"} {
		if !got[key].OK {
			t.Errorf("%s failed: %+v", key, got[key])
		}
	}
}

// A group that does not exist, and a CloudWatch that does not answer within
// the call timeout, fail their checks with the call named; nothing hangs.
func TestMissingGroupAndStalledCloudWatch(t *testing.T) {
	target := verify.Target{Nodes: 1, CallTimeout: 200 * time.Millisecond, Members: []verify.Member{
		region(t, "us-east-1", "nope", "PRIMARY", &verifylocal.ElastiCache{Groups: map[string]verifylocal.Group{}}, &verifylocal.CloudWatch{Stall: time.Minute}),
	}}
	start := time.Now()
	got := byCheck(verify.Run(context.Background(), target))
	if time.Since(start) > 20*time.Second {
		t.Errorf("took %v", time.Since(start))
	}
	if r := got["us-east-1 replication group"]; r.OK || !strings.Contains(r.Detail, "ReplicationGroupNotFoundFault") {
		t.Errorf("missing group: %+v", r)
	}
	if r := got["us-east-1 node metrics"]; r.OK || !strings.Contains(r.Detail, "ListMetrics AWS/ElastiCache EngineCPUUtilization") {
		t.Errorf("stalled CloudWatch: %+v", r)
	}
}

// The alarm topic must have subscribers, all confirmed: an unconfirmed
// e-mail subscription receives nothing.
func TestPagingSubscription(t *testing.T) {
	topic := "arn:aws:sns:us-east-1:123456789012:redisha-alarms"
	for _, c := range []struct {
		subs []verifylocal.Subscription
		ok   bool
		want string
	}{
		{[]verifylocal.Subscription{{Protocol: "email", Endpoint: "oncall@example.com", Confirmed: true}}, true, "1 confirmed subscription(s)"},
		{[]verifylocal.Subscription{{Protocol: "email", Endpoint: "oncall@example.com", Confirmed: true}, {Protocol: "email", Endpoint: "new@example.com", Confirmed: false}}, false, "1 of 2 subscriptions not confirmed (email:new@example.com)"},
		{nil, false, "no subscriber"},
	} {
		sn := httptest.NewServer(&verifylocal.SNS{Topics: map[string][]verifylocal.Subscription{topic: c.subs}})
		m := region(t, "us-east-1", "redis-primary", "PRIMARY",
			&verifylocal.ElastiCache{Groups: map[string]verifylocal.Group{"redis-primary": verifylocal.Good("redis-primary", "ldgnf-redisha", "PRIMARY")}},
			&verifylocal.CloudWatch{Metrics: verifylocal.HealthyMetrics("redis-primary", 1, false)})
		m.TopicARN = topic
		m.SNS = sns.New(sns.Options{Region: "us-east-1", BaseEndpoint: aws.String(sn.URL), Credentials: creds,
			Retryer: retry.NewStandard(func(o *retry.StandardOptions) { o.MaxAttempts = 1 })})
		r := byCheck(verify.Run(context.Background(), verify.Target{Nodes: 1, Members: []verify.Member{m}}))["us-east-1 paging subscription"]
		sn.Close()
		if r.OK != c.ok || !strings.Contains(r.Detail, c.want) {
			t.Errorf("%v: %+v, want ok=%v and %q", c.subs, r, c.ok, c.want)
		}
	}
}

func TestResultLine(t *testing.T) {
	r := verify.Result{Check: "auth token", Region: "us-west-2", Detail: "redis-secondary AuthTokenEnabled=false"}
	if got := r.String(); got != "FAIL us-west-2      auth token: redis-secondary AuthTokenEnabled=false" {
		t.Errorf("%q", got)
	}
}

// The failover records' health checks, read through the real Route 53
// client (REST-XML): DNS must follow exactly one writer.
func TestHealthChecksFollowOneWriter(t *testing.T) {
	r53 := &verifylocal.Route53{Status: map[string][]string{
		"hc-primary":   {"Success: the alarm is OK", "Success: the alarm is OK", "Success: the alarm is OK"},
		"hc-secondary": {"Failure: the alarm is in ALARM", "Failure: the alarm is in ALARM", "Failure: the alarm is in ALARM"},
		"hc-down":      {"Failure: the alarm is in ALARM"},
	}}
	srv := httptest.NewServer(r53)
	t.Cleanup(func() { srv.CloseClientConnections(); srv.Close() })
	client := route53.New(route53.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), Credentials: creds,
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) { o.MaxAttempts = 1 })})
	run := func(primary, secondary string) map[string]verify.Result {
		return byCheck(verify.Run(context.Background(), verify.Target{Route53: client,
			HealthChecks: []verify.HealthCheck{{Record: "PRIMARY", ID: primary}, {Record: "SECONDARY", ID: secondary}}}))
	}
	got := run("hc-primary", "hc-secondary")
	for key, want := range map[string]string{
		"route53 health check PRIMARY":   "hc-primary is healthy (3 of 3",
		"route53 health check SECONDARY": "hc-secondary is unhealthy (0 of 3",
		"route53 dns follows one writer": "exactly one failover record is healthy",
	} {
		if r := got[key]; !r.OK || !strings.Contains(r.Detail, want) {
			t.Errorf("%s: %+v, want ok saying %q", key, r, want)
		}
	}
	got = run("hc-down", "hc-secondary")
	if r := got["route53 dns follows one writer"]; r.OK || !strings.Contains(r.Detail, "both failover records are unhealthy") {
		t.Errorf("no writer: %+v", r)
	}
	got = run("hc-primary", "hc-primary")
	if r := got["route53 dns follows one writer"]; r.OK || !strings.Contains(r.Detail, "both failover records are healthy") {
		t.Errorf("two writers: %+v", r)
	}
	got = run("hc-gone", "hc-secondary")
	if r := got["route53 health check PRIMARY"]; r.OK || !strings.Contains(r.Detail, "NoSuchHealthCheck") {
		t.Errorf("unknown health check: %+v", r)
	}
	if _, ok := got["route53 dns follows one writer"]; ok {
		t.Error("the DNS verdict needs both health checks read")
	}
}
