package verify_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/redisha/redisha/internal/testbed/verifylocal"
	"github.com/redisha/redisha/internal/verify"
)

var noRetry = retry.NewStandard(func(o *retry.StandardOptions) { o.MaxAttempts = 1 })

// member is a healthy one-node member with the given primary endpoint, on
// local endpoints.
func member(t *testing.T, regionName, id, role, endpoint string) verify.Member {
	g := verifylocal.Good(id, "ldgnf-redisha", role)
	g.Endpoint = endpoint
	return region(t, regionName, id, role, &verifylocal.ElastiCache{Groups: map[string]verifylocal.Group{id: g}},
		&verifylocal.CloudWatch{Metrics: verifylocal.HealthyMetrics(id, 1, role == "SECONDARY")})
}

func serve(t *testing.T, h http.Handler) string {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// The alarm topic's key must let CloudWatch publish: kms:Decrypt and
// kms:GenerateDataKey* allowed to the service cloudwatch.amazonaws.com.
func TestTopicKeyPolicy(t *testing.T) {
	denied := `{"Statement":[{"Effect":"Allow","Principal":{"Service":["cloudwatch.amazonaws.com"]},"Action":"kms:*","Resource":"*"},` +
		`{"Effect":"Deny","Principal":{"Service":"cloudwatch.amazonaws.com"},"Action":"kms:Decrypt","Resource":"*"}]}`
	url := serve(t, &verifylocal.KMS{Policies: map[string]string{
		"key-good": verifylocal.CloudWatchKeyPolicy(true), "key-admin-only": verifylocal.CloudWatchKeyPolicy(false), "key-denied": denied}})
	client := kms.New(kms.Options{Region: "us-east-1", BaseEndpoint: aws.String(url), Credentials: creds, Retryer: noRetry})
	for key, want := range map[string]string{
		"key-good":       "ok: key key-good allows cloudwatch.amazonaws.com",
		"key-admin-only": "FAIL: key key-admin-only does not allow the service cloudwatch.amazonaws.com kms:Decrypt, kms:GenerateDataKey",
		"key-denied":     "FAIL: key key-denied does not allow the service cloudwatch.amazonaws.com kms:Decrypt:",
		"key-missing":    "FAIL: GetKeyPolicy key-missing: ",
	} {
		m := member(t, "us-east-1", "redis-primary", "PRIMARY", "")
		m.TopicKey, m.KMS = key, client
		r := byCheck(verify.Run(context.Background(), verify.Target{Nodes: 1, Members: []verify.Member{m}}))["us-east-1 topic key policy"]
		got := map[bool]string{true: "ok: ", false: "FAIL: "}[r.OK] + r.Detail
		if !strings.HasPrefix(got, want) {
			t.Errorf("%s: %q, want %q…", key, got, want)
		}
	}
}

// The name the applications use must end, through its CNAME chain, at the
// endpoint of the member that is PRIMARY now, whichever region that is.
func TestNameResolvesToPrimary(t *testing.T) {
	const west = "master.redis-secondary.abc.usw2.cache.amazonaws.com"
	d, err := verifylocal.StartDNS(map[string]string{
		"redis.internal":         "primary.redis.internal",
		"primary.redis.internal": "master.redis-primary.abc.use1.cache.amazonaws.com",
		"stale.internal":         west,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	for _, c := range []struct {
		name string
		ok   bool
		want string
	}{
		{"redis.internal", true, "redis.internal resolves to master.redis-primary.abc.use1.cache.amazonaws.com, the primary's endpoint"},
		{"stale.internal", false, "stale.internal resolves to " + west + ", but the primary is master.redis-primary"},
	} {
		target := verify.Target{Nodes: 1, Resolve: c.name, Resolver: d.Resolver(), Members: []verify.Member{
			member(t, "us-east-1", "redis-primary", "PRIMARY", "master.redis-primary.abc.use1.cache.amazonaws.com"),
			member(t, "us-west-2", "redis-secondary", "SECONDARY", west),
		}}
		r := byCheck(verify.Run(context.Background(), target))["dns name resolves to primary"]
		if r.OK != c.ok || !strings.Contains(r.Detail, c.want) {
			t.Errorf("%s: %+v, want ok=%v and %q", c.name, r, c.ok, c.want)
		}
	}
}

// The promoter's permissions are simulated (a dry run), action by action
// on its resource; one not allowed fails the check, naming it.
func TestPromoterPermissions(t *testing.T) {
	const role = "arn:aws:iam::123456789012:role/redisha-promoter"
	global := "arn:aws:elasticache::123456789012:globalreplicationgroup:ldgnf-redisha"
	perms := []verify.Permission{
		{Action: "elasticache:FailoverGlobalReplicationGroup", Resource: global},
		{Action: "elasticache:DescribeGlobalReplicationGroups", Resource: global},
		{Action: "sns:Publish", Resource: "*"},
	}
	local := &verifylocal.IAM{Allowed: map[string][]string{role: {
		"elasticache:FailoverGlobalReplicationGroup " + global, "elasticache:DescribeGlobalReplicationGroups " + global}}}
	client := iam.New(iam.Options{Region: "us-east-1", BaseEndpoint: aws.String(serve(t, local)), Credentials: creds, Retryer: noRetry})
	m := member(t, "us-east-1", "redis-primary", "PRIMARY", "")
	m.PromoterRole, m.Permissions, m.IAM = role, perms, client
	r := byCheck(verify.Run(context.Background(), verify.Target{Nodes: 1, Members: []verify.Member{m}}))["us-east-1 promoter permissions"]
	if r.OK || !strings.Contains(r.Detail, "is not allowed sns:Publish on *: implicitDeny") {
		t.Errorf("%+v, want sns:Publish implicitDeny", r)
	}
	if want := "elasticache:FailoverGlobalReplicationGroup " + global; !slices.Contains(local.Asked(), want) {
		t.Errorf("asked %v, want %q", local.Asked(), want)
	}
	local.Allowed[role] = append(local.Allowed[role], "sns:Publish *")
	r = byCheck(verify.Run(context.Background(), verify.Target{Nodes: 1, Members: []verify.Member{m}}))["us-east-1 promoter permissions"]
	if !r.OK || !strings.Contains(r.Detail, "allowed all 3 actions") {
		t.Errorf("%+v, want all allowed", r)
	}
	m.PromoterRole = "arn:aws:iam::123456789012:role/gone"
	r = byCheck(verify.Run(context.Background(), verify.Target{Nodes: 1, Members: []verify.Member{m}}))["us-east-1 promoter permissions"]
	if r.OK || !strings.Contains(r.Detail, "NoSuchEntity") {
		t.Errorf("%+v, want NoSuchEntity", r)
	}
}
