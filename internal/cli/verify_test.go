package cli

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/redisha/redisha/internal/testbed/verifylocal"
	"github.com/redisha/redisha/internal/verify"
)

// localAWS points the process's AWS configuration at local ElastiCache and
// CloudWatch endpoints (both regions share them) with static credentials.
func localAWS(t *testing.T, groups map[string]verifylocal.Group, metrics []verifylocal.Metric, topics map[string][]verifylocal.Subscription) {
	t.Helper()
	es := httptest.NewServer(&verifylocal.ElastiCache{Groups: groups})
	cs := httptest.NewServer(&verifylocal.CloudWatch{Metrics: metrics})
	ss := httptest.NewServer(&verifylocal.SNS{Topics: topics})
	rs := httptest.NewServer(&verifylocal.Route53{Status: map[string][]string{
		"hc-primary": {"Success: the alarm is OK"}, "hc-secondary": {"Failure: the alarm is in ALARM"}}})
	t.Cleanup(rs.Close)
	cf := httptest.NewServer(&verifylocal.CloudFormation{Stacks: map[string]map[string]string{
		"RedishaPrimary":   {"GlobalDatastoreId": "ldgnf-redisha", "AlarmTopicArn": "arn:aws:sns:us-east-1:123456789012:alarms"},
		"RedishaSecondary": {"AlarmTopicArn": "arn:aws:sns:us-west-2:123456789012:alarms-west"},
		// As the cdk package's constructs name them: prefixed and hashed.
		"RedishaDns": {"RedisNameHealthCheckIdABCDEF12": "hc-primary", "RedisNameSecondaryHealthCheckId12345678": "hc-secondary"},
	}})
	t.Cleanup(cf.Close)
	t.Cleanup(es.Close)
	t.Cleanup(cs.Close)
	t.Cleanup(ss.Close)
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": "AKIDLOCAL", "AWS_SECRET_ACCESS_KEY": "local-secret", "AWS_SESSION_TOKEN": "",
		"AWS_PROFILE": "", "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", "AWS_EC2_METADATA_DISABLED": "true",
		"AWS_ENDPOINT_URL_ELASTICACHE": es.URL, "AWS_ENDPOINT_URL_CLOUDWATCH": cs.URL, "AWS_ENDPOINT_URL_SNS": ss.URL, "AWS_ENDPOINT_URL_ROUTE_53": rs.URL,
		"AWS_ENDPOINT_URL_CLOUDFORMATION": cf.URL, "AWS_MAX_ATTEMPTS": "1",
	} {
		t.Setenv(k, v)
	}
}

func TestVerifyCommand(t *testing.T) {
	groups := map[string]verifylocal.Group{
		"redis-primary":   verifylocal.Good("redis-primary", "ldgnf-redisha", "PRIMARY"),
		"redis-secondary": verifylocal.Good("redis-secondary", "ldgnf-redisha", "SECONDARY"),
	}
	metrics := append(verifylocal.HealthyMetrics("redis-primary", 2, false), verifylocal.HealthyMetrics("redis-secondary", 2, true)...)
	topics := map[string][]verifylocal.Subscription{
		"arn:aws:sns:us-east-1:123456789012:alarms": {{Protocol: "email", Endpoint: "oncall@example.com", Confirmed: true}},
	}
	localAWS(t, groups, metrics, topics)

	code, out, errs := run(t, nil, "verify", "--global-id", "ldgnf-redisha", "--primary-topic-arn", "arn:aws:sns:us-east-1:123456789012:alarms")
	if code != ExitOK || strings.Count(out, "\n") != 16 || strings.Contains(out, "FAIL") {
		t.Fatalf("exit %d, stdout:\n%s\nstderr: %s", code, out, errs)
	}
	if !strings.Contains(out, "ok   us-west-2      auth token: redis-secondary AuthTokenEnabled=true") {
		t.Errorf("no auth token line for the secondary:\n%s", out)
	}

	// A secondary without the AUTH token is a finding, in JSON too.
	g := groups["redis-secondary"]
	g.Auth = false
	groups["redis-secondary"] = g
	localAWS(t, groups, metrics, topics)
	code, out, errs = run(t, nil, "verify", "--json")
	var rs []verify.Result
	if err := json.Unmarshal([]byte(out), &rs); err != nil {
		t.Fatalf("--json output %q: %v", out, err)
	}
	if code != ExitUnhealthy || verify.Failed(rs) != 1 || !strings.Contains(errs, "redisha verify: 1 of 15 checks failed") {
		t.Errorf("exit %d, %d failed, stderr %q", code, verify.Failed(rs), errs)
	}
}

func TestVerifyUsage(t *testing.T) {
	for args, want := range map[string]string{
		"verify --secondary-region us-east-1": "--primary-region and --secondary-region",
		"verify --replicas 9":                 "--replicas 9",
		"verify --timeout 0s":                 "--timeout 0s is out of range",
		"verify extra":                        "extra",
	} {
		code, _, errs := run(t, nil, strings.Fields(args)...)
		if code != ExitUsage || !strings.Contains(errs, want) {
			t.Errorf("%s: exit %d, stderr %q, want 2 and %q", args, code, errs, want)
		}
	}
}

// Given both health checks, verify reads them from Route 53 and checks that
// DNS follows exactly one writer; one without the other is bad usage.
func TestVerifyHealthChecks(t *testing.T) {
	groups := map[string]verifylocal.Group{
		"redis-primary":   verifylocal.Good("redis-primary", "ldgnf-redisha", "PRIMARY"),
		"redis-secondary": verifylocal.Good("redis-secondary", "ldgnf-redisha", "SECONDARY"),
	}
	localAWS(t, groups, append(verifylocal.HealthyMetrics("redis-primary", 2, false), verifylocal.HealthyMetrics("redis-secondary", 2, true)...), nil)
	code, out, errs := run(t, nil, "verify", "--primary-health-check", "hc-primary", "--secondary-health-check", "hc-secondary")
	if code != ExitOK || !strings.Contains(out, "ok   route53        health check SECONDARY: hc-secondary is unhealthy") ||
		!strings.Contains(out, "ok   route53        dns follows one writer") {
		t.Fatalf("exit %d, stdout:\n%s\nstderr: %s", code, out, errs)
	}
	if code, _, errs := run(t, nil, "verify", "--primary-health-check", "hc-primary"); code != ExitUsage || !strings.Contains(errs, "give both") {
		t.Errorf("one health check: exit %d, %s", code, errs)
	}
}

// The topic key's policy, what the name resolves to, and the promoter's
// permissions (simulated) are one line each, against local KMS, IAM and DNS.
func TestVerifyAccessChecks(t *testing.T) {
	const (
		topic = "arn:aws:sns:us-east-1:123456789012:alarms"
		role  = "arn:aws:iam::123456789012:role/redisha-promoter"
		east  = "master.redis-primary.abc.use1.cache.amazonaws.com"
	)
	primary := verifylocal.Good("redis-primary", "ldgnf-redisha", "PRIMARY")
	primary.Endpoint = east
	groups := map[string]verifylocal.Group{"redis-primary": primary,
		"redis-secondary": verifylocal.Good("redis-secondary", "ldgnf-redisha", "SECONDARY")}
	localAWS(t, groups, append(verifylocal.HealthyMetrics("redis-primary", 2, false), verifylocal.HealthyMetrics("redis-secondary", 2, true)...),
		map[string][]verifylocal.Subscription{topic: {{Protocol: "email", Endpoint: "oncall@example.com", Confirmed: true}}})
	ks := httptest.NewServer(&verifylocal.KMS{Policies: map[string]string{"key-1": verifylocal.CloudWatchKeyPolicy(true)}})
	t.Cleanup(ks.Close)
	local := &verifylocal.IAM{Allowed: map[string][]string{role: {
		"elasticache:FailoverGlobalReplicationGroup arn:aws:elasticache::123456789012:globalreplicationgroup:ldgnf-redisha",
		"elasticache:DescribeGlobalReplicationGroups arn:aws:elasticache::123456789012:globalreplicationgroup:ldgnf-redisha",
		"dynamodb:GetItem arn:aws:dynamodb:us-east-1:123456789012:table/latch",
		"dynamodb:PutItem arn:aws:dynamodb:us-east-1:123456789012:table/latch",
		"sns:Publish " + topic,
		"cloudwatch:DescribeAlarms arn:aws:cloudwatch:us-west-2:123456789012:alarm:redisha-us-west-2-writable",
	}}}
	is := httptest.NewServer(local)
	t.Cleanup(is.Close)
	t.Setenv("AWS_ENDPOINT_URL_KMS", ks.URL)
	t.Setenv("AWS_ENDPOINT_URL_IAM", is.URL)
	d, err := verifylocal.StartDNS(map[string]string{"redis.internal": "primary.redis.internal", "primary.redis.internal": east})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)

	code, out, errs := run(t, nil, "verify", "--global-id", "ldgnf-redisha", "--primary-topic-arn", topic, "--primary-topic-key", "key-1",
		"--resolve", "redis.internal", "--dns-server", d.Addr, "--promoter-role", "us-east-1="+role, "--promoter-table", "us-east-1=latch")
	for _, want := range []string{
		"ok   us-east-1      topic key policy: key key-1 allows cloudwatch.amazonaws.com",
		"ok   dns            name resolves to primary: redis.internal resolves to " + east,
		"ok   us-east-1      promoter permissions: " + role + " is allowed all 6 actions",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no line %q", want)
		}
	}
	if code != ExitOK || t.Failed() {
		t.Fatalf("exit %d, stdout:\n%s\nstderr: %s", code, out, errs)
	}

	for args, want := range map[string]string{
		"verify --promoter-role us-east-1=" + role:                                                                          "give --global-id too",
		"verify --global-id g --promoter-role us-east-1=" + role:                                                            "--primary-topic-arn",
		"verify --promoter-role eu-west-1=" + role:                                                                          "REGION one of us-east-1, us-west-2",
		"verify --global-id g --primary-topic-arn " + topic + " --promoter-table us-east-1=t --promoter-role us-east-1=bad": "give the role's ARN",
	} {
		if code, _, errs := run(t, nil, strings.Fields(args)...); code != ExitUsage || !strings.Contains(errs, want) {
			t.Errorf("%s: exit %d, stderr %q, want 2 and %q", args, code, errs, want)
		}
	}
}

// --stack-outputs takes the datastore's id, the topics and the health
// checks from the deployed stacks (by the deployment's name), so every check
// runs without copying an output by hand; a flag given wins.
func TestVerifyStackOutputs(t *testing.T) {
	groups := map[string]verifylocal.Group{
		"redis-primary":   verifylocal.Good("redis-primary", "ldgnf-redisha", "PRIMARY"),
		"redis-secondary": verifylocal.Good("redis-secondary", "ldgnf-redisha", "SECONDARY"),
	}
	topics := map[string][]verifylocal.Subscription{
		"arn:aws:sns:us-east-1:123456789012:alarms":      {{Protocol: "email", Endpoint: "oncall@example.com", Confirmed: true}},
		"arn:aws:sns:us-west-2:123456789012:alarms-west": {{Protocol: "email", Endpoint: "oncall@example.com", Confirmed: false}},
	}
	localAWS(t, groups, append(verifylocal.HealthyMetrics("redis-primary", 2, false), verifylocal.HealthyMetrics("redis-secondary", 2, true)...), topics)
	code, out, errs := run(t, nil, "verify", "--stack-outputs")
	if code != ExitUnhealthy || !strings.Contains(out, "FAIL us-west-2      paging subscription: 1 of 1 subscriptions not confirmed") ||
		!strings.Contains(out, "ok   us-east-1      paging subscription") || !strings.Contains(out, "hc-primary is healthy") || !strings.Contains(out, "hc-secondary is unhealthy") {
		t.Fatalf("exit %d (want 1: the west topic's subscription is not confirmed)\n%s\n%s", code, out, errs)
	}
	// A flag given wins over the output.
	code, out, errs = run(t, nil, "verify", "--stack-outputs", "--secondary-topic-arn", "arn:aws:sns:us-west-2:123456789012:alarms-west-2")
	if strings.Contains(out, "1 of 1 subscriptions not confirmed") || !strings.Contains(out, "FAIL us-west-2      paging subscription") {
		t.Errorf("the flag did not win: exit %d\n%s\n%s", code, out, errs)
	}
	// A deployment whose stacks do not exist is named.
	code, _, errs = run(t, nil, "verify", "--stack-outputs", "--name", "payments")
	if code == ExitOK || !strings.Contains(errs, "read stack PaymentsPrimary in us-east-1") {
		t.Errorf("exit %d: %s", code, errs)
	}
}

func TestOutputValue(t *testing.T) {
	outs := map[string]string{"RedisNameHealthCheckIdABCDEF12": "p", "RedisNameSecondaryHealthCheckId12345678": "s", "AlarmTopicArn": "t"}
	for key, want := range map[string]string{"HealthCheckId": "p", "SecondaryHealthCheckId": "s", "AlarmTopicArn": "t", "GlobalDatastoreId": ""} {
		if got, _ := outputValue(outs, key); got != want {
			t.Errorf("%s: %q, want %q", key, got, want)
		}
	}
}
