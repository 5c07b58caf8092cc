package stacks

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/redisha/redisha/internal/config"
	"github.com/redisha/redisha/internal/deployment"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
)

// checkers returns the properties of the health-checker functions of a
// template: the functions whose environment names an expected role, but
// not the writable endpoint (the same binary, serving its function URL).
func checkers(tp assertions.Template) []map[string]any {
	var out []map[string]any
	for _, f := range functionsWith(tp, config.EnvExpectRole) {
		if serve(f) != config.ServeWritableURL {
			out = append(out, f)
		}
	}
	return out
}

// writableEndpoints returns the properties of the writable endpoint
// functions of a template (CHECKER_SERVE=writable-url).
func writableEndpoints(tp assertions.Template) []map[string]any {
	var out []map[string]any
	for _, f := range functionsWith(tp, config.EnvServe) {
		if serve(f) == config.ServeWritableURL {
			out = append(out, f)
		}
	}
	return out
}

// serve is what a function's environment says invokes it (CHECKER_SERVE).
func serve(f map[string]any) config.Serve {
	env, _ := f["Environment"].(map[string]any)
	vars, _ := env["Variables"].(map[string]any)
	v, _ := vars[config.EnvServe].(string)
	return config.Serve(v)
}

// functionsWith returns the properties of the functions of a template whose
// environment sets the variable name.
func functionsWith(tp assertions.Template, name string) []map[string]any {
	var out []map[string]any
	for _, f := range resources(tp, "AWS::Lambda::Function") {
		env, _ := f["Environment"].(map[string]any)
		vars, _ := env["Variables"].(map[string]any)
		if vars[name] != nil {
			out = append(out, f)
		}
	}
	return out
}

// Reserved concurrency fails in accounts with a small quota: none by
// default, the number given when opted in, on the checker and on the
// writable endpoint (where it also bounds what a flood of requests to the
// public URL can cost).
func TestReservedConcurrencyIsOptIn(t *testing.T) {
	_, tpl := synth(t)
	s := build(t, map[string]any{"reservedConcurrency": "2"})
	for _, stack := range []string{"primary", "secondary"} {
		for kind, of := range map[string]func(assertions.Template) []map[string]any{"checker": checkers, "writable endpoint": writableEndpoints} {
			fns := of(tpl[stack])
			if len(fns) != 1 {
				t.Fatalf("%s: %d %ss", stack, len(fns), kind)
			}
			if v, ok := fns[0]["ReservedConcurrentExecutions"]; ok {
				t.Errorf("%s: %s ReservedConcurrentExecutions = %v by default, want none", stack, kind, v)
			}
			if fns := of(s.tpl[stack]); len(fns) != 1 || fns[0]["ReservedConcurrentExecutions"] != float64(2) {
				t.Errorf("%s: with reservedConcurrency=2, %s %v", stack, kind, fns)
			}
		}
	}
}

// Paging arrives: each alarm topic is encrypted with a customer-managed key
// whose policy lets CloudWatch (this account's alarms) use it.
func TestAlarmTopicKeyLetsCloudWatchPublish(t *testing.T) {
	_, tpl := synth(t)
	for _, stack := range []string{"primary", "secondary"} {
		has(t, tpl[stack], jsii.String("AWS::KMS::Key"), obj(map[string]any{
			"EnableKeyRotation": true,
			"KeyPolicy": map[string]any{"Statement": assertions.Match_ArrayWith(&[]interface{}{map[string]any{
				"Sid": "CloudWatchAlarmsPublishToTheTopic", "Effect": "Allow",
				"Principal": map[string]any{"Service": "cloudwatch.amazonaws.com"},
				"Action":    []any{"kms:Decrypt", "kms:GenerateDataKey*"}, "Resource": "*",
				"Condition": map[string]any{"StringEquals": map[string]any{"aws:SourceAccount": "123456789012"}},
			}})},
		}))
		topics := resources(tpl[stack], "AWS::SNS::Topic")
		if len(topics) != 1 {
			t.Fatalf("%s: %d topics", stack, len(topics))
		}
		key := jsonOf(topics[0]["KmsMasterKeyId"])
		if !strings.Contains(key, `"Fn::GetAtt":["AlarmTopicKey`) || strings.Contains(key, "alias/aws/sns") {
			t.Errorf("%s: topic key %s, want the stack's AlarmTopicKey", stack, key)
		}
		// Every alarm notifies that topic, except the writable alarms: they
		// are DNS plumbing, and the secondary's is in ALARM in steady state.
		for _, a := range resources(tpl[stack], "AWS::CloudWatch::Alarm") {
			name := jsonOf(a["AlarmName"])
			writable := strings.HasSuffix(strings.Trim(name, `"`), "-writable")
			if notifies := strings.Contains(jsonOf(a["AlarmActions"]), `"Ref":"Alarms`); notifies == writable {
				t.Errorf("%s: alarm %s notifies the topic: %v, want %v", stack, name, notifies, !writable)
			}
		}
		// The topic policy lets CloudWatch publish (a topic policy replaces
		// SNS's default one, and EnforceSSL writes one): this account's
		// alarms in this region only.
		tpl[stack].HasResourceProperties(jsii.String("AWS::SNS::TopicPolicy"), assertions.Match_ObjectLike(&map[string]any{
			"PolicyDocument": assertions.Match_ObjectLike(&map[string]any{"Statement": assertions.Match_ArrayWith(&[]any{
				assertions.Match_ObjectLike(&map[string]any{
					"Sid": "CloudWatchAlarmsPublish", "Effect": "Allow", "Action": "sns:Publish",
					"Principal": map[string]any{"Service": "cloudwatch.amazonaws.com"},
					"Condition": assertions.Match_ObjectLike(&map[string]any{
						"StringEquals": map[string]any{"aws:SourceAccount": "123456789012"},
						"ArnLike":      assertions.Match_AnyValue(),
					}),
				}),
			})}),
		}))
	}
}

// healthCheckIDs returns the logical ids of the DNS stack's health checks
// and the health check each failover record uses (PRIMARY, SECONDARY).
func healthCheckIDs(t *testing.T, tp assertions.Template) (ids []string, uses map[string]string) {
	t.Helper()
	for id := range *tp.FindResources(jsii.String("AWS::Route53::HealthCheck"), nil) {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	uses = map[string]string{}
	for _, r := range resources(tp, "AWS::Route53::RecordSet") {
		if r["Type"] != "CNAME" {
			continue // a witness
		}
		ref, _ := r["HealthCheckId"].(map[string]any)
		uses[r["Failover"].(string)], _ = ref["Ref"].(string)
	}
	return ids, uses
}

// With alarm checks (dnsHealthCheck=alarm), Route 53 keeps its own copy of
// each alarm's settings: changing them (alarmPeriod,
// alarmEvaluationPeriods) creates new health checks, which copy the new
// settings, and moves both records to them. The alarms' names do not
// change, so no cross-stack value has to.
func TestHealthCheckFollowsAlarmSettings(t *testing.T) {
	before, uses := healthCheckIDs(t, buildShared(t, alarmChecks).tpl["dns"])
	if len(before) != 2 || uses["PRIMARY"] == uses["SECONDARY"] || !slices.Contains(before, uses["PRIMARY"]) || !slices.Contains(before, uses["SECONDARY"]) {
		t.Fatalf("health checks %v, records use %v: want one each", before, uses)
	}
	for _, region := range []string{"us-east-1", "us-west-2"} {
		has(t, buildShared(t, alarmChecks).tpl["dns"], jsii.String("AWS::Route53::HealthCheck"), obj(map[string]any{
			"HealthCheckConfig": map[string]any{"AlarmIdentifier": map[string]any{"Name": "redisha-" + region + "-writable", "Region": region}},
			"HealthCheckTags": assertions.Match_ArrayWith(&[]interface{}{map[string]any{
				"Key": "redisha:alarm", "Value": "Custom/Redis WritableStatus(Minimum) over 60s, 2 periods < 1, missing breaching"}}),
		}))
	}
	for _, ctx := range []map[string]any{{"alarmPeriod": "120"}, {"alarmEvaluationPeriods": "3"}} {
		s := build(t, with(alarmChecks, ctx))
		after, uses := healthCheckIDs(t, s.tpl["dns"])
		if len(after) != 2 || slices.Contains(after, before[0]) || slices.Contains(after, before[1]) ||
			!slices.Contains(after, uses["PRIMARY"]) || !slices.Contains(after, uses["SECONDARY"]) {
			t.Errorf("with %v: health checks %v (before %v), records use %v: want new health checks the records use", ctx, after, before, uses)
		}
		for stack, region := range map[string]string{"primary": "us-east-1", "secondary": "us-west-2"} {
			has(t, s.tpl[stack], jsii.String("AWS::CloudWatch::Alarm"), obj(map[string]any{"AlarmName": "redisha-" + region + "-writable"}))
		}
	}
	// Settings Route 53 does not copy leave the health checks as they are.
	s := build(t, with(alarmChecks, map[string]any{"recordTtl": "10"}))
	if after, _ := healthCheckIDs(t, s.tpl["dns"]); !slices.Equal(after, before) {
		t.Errorf("recordTtl changed the health checks: %v, before %v", after, before)
	}
}

// If the first deploy refuses an AuthToken on the joining secondary,
// secondaryAuthToken=false leaves it out, with the reason recorded for
// cdk-nag.
func TestSecondaryAuthTokenCanBeLeftOut(t *testing.T) {
	s := build(t, map[string]any{"secondaryAuthToken": "false"})
	noNagErrors(t, s)
	has(t, s.tpl["secondary"], jsii.String("AWS::ElastiCache::ReplicationGroup"), obj(map[string]any{
		"GlobalReplicationGroupId": assertions.Match_AnyValue(), "AuthToken": assertions.Match_Absent(),
	}))
}

// Lifecycle: once createdWith is recorded, the replication groups keep
// their creation values, and node type and engine changes go through the
// Global Datastore resource.
func TestChangesGoThroughTheGlobalDatastore(t *testing.T) {
	_, tpl := synth(t)
	// Before anything is recorded the Global Datastore carries no change,
	// and the primary stack says what to record.
	has(t, tpl["primary"], jsii.String("AWS::ElastiCache::GlobalReplicationGroup"), obj(map[string]any{
		"CacheNodeType": assertions.Match_Absent(), "EngineVersion": assertions.Match_Absent(),
	}))
	record := (*tpl["primary"].FindOutputs(jsii.String("CreatedWith"), nil))["CreatedWith"]
	want := `{"nodeType":"cache.r7g.large","engine":"redis","engineVersion":"7.1","replicas":1,"port":6379,"primaryRegion":"us-east-1","secondaryRegion":"us-west-2",` +
		`"primaryReplicationGroupId":"redis-primary","secondaryReplicationGroupId":"redis-secondary","globalIdSuffix":"redisha"}`
	if v, _ := (*record)["Value"].(string); v != want {
		t.Fatalf("CreatedWith output %v, want %s", record, want)
	}
	// A record made before the engine setting (no "engine") means redis;
	// an upgrade within the engine carries the version alone.
	old := strings.Replace(strings.Replace(want, `"engine":"redis",`, "", 1), `"engineVersion":"7.1"`, `"engineVersion":"7.0"`, 1)
	s := build(t, map[string]any{"createdWith": old, "nodeType": "cache.r7g.xlarge", "engineVersion": "7.1", "replicas": "2"})
	has(t, s.tpl["primary"], jsii.String("AWS::ElastiCache::GlobalReplicationGroup"), obj(map[string]any{
		"CacheNodeType": "cache.r7g.xlarge", "EngineVersion": "7.1", "Engine": assertions.Match_Absent(),
	}))
	has(t, s.tpl["primary"], jsii.String("AWS::ElastiCache::ReplicationGroup"), obj(map[string]any{
		"CacheNodeType": "cache.r7g.large", "Engine": "redis", "EngineVersion": "7.0", "NumCacheClusters": 2,
	}))
	// Redis OSS to Valkey: engine and version together, on the Global
	// Datastore; the group keeps what it was created with.
	v := build(t, map[string]any{"createdWith": want, "engine": "valkey"})
	has(t, v.tpl["primary"], jsii.String("AWS::ElastiCache::GlobalReplicationGroup"), obj(map[string]any{
		"Engine": "valkey", "EngineVersion": "8.2", "CacheNodeType": assertions.Match_Absent(),
	}))
	has(t, v.tpl["primary"], jsii.String("AWS::ElastiCache::ReplicationGroup"), obj(map[string]any{"Engine": "redis", "EngineVersion": "7.1"}))
	has(t, s.tpl["secondary"], jsii.String("AWS::ElastiCache::ReplicationGroup"), obj(map[string]any{"NumCacheClusters": 2}))
	// The alarms follow the replicas changed out of band.
	nodeAlarm(t, s.tpl["secondary"], "CurrConnections", "Maximum", "redis-secondary", 3, 52000)
}

// What AWS rejects on a member, or what would need a replacement, is
// refused at synth with what to do.
func TestLifecycleRefusals(t *testing.T) {
	created := `{"nodeType":"cache.r7g.large","engineVersion":"7.1","replicas":1,"port":6379,"primaryRegion":"us-east-1","secondaryRegion":"us-west-2",` +
		`"primaryReplicationGroupId":"redis-primary","secondaryReplicationGroupId":"redis-secondary","globalIdSuffix":"redisha"}`
	for _, c := range []struct {
		ctx  map[string]any
		want []string
	}{
		{map[string]any{"port": "6380"}, []string{`"port" = 6380`, "created with 6379", "set it back to 6379"}},
		{map[string]any{"secondaryReplicationGroupId": "redis-dr"}, []string{`"secondaryReplicationGroupId" = redis-dr`, "cannot be renamed", "new Global Datastore"}},
		{map[string]any{"globalIdSuffix": "other"}, []string{`"globalIdSuffix" = other`}},
		{map[string]any{"engineVersion": "6.2"}, []string{`"engineVersion" = 6.2`, "never downgraded", "7.1 or later"}},
		{map[string]any{"createdWith": strings.Replace(created, `"engineVersion"`, `"engine":"valkey","engineVersion"`, 1), "engineVersion": "8.2"},
			[]string{`"engine" = redis`, "never back", "give valkey"}},
		{map[string]any{"createdWith": `{"nodeType":"cache.r7g.large"}`}, []string{`"createdWith"`, "every field"}},
	} {
		ctx := map[string]any{"createdWith": created}
		for k, v := range c.ctx {
			ctx[k] = v
		}
		_, err := deployment.Load(ctxOf(ctx), "123456789012")
		for _, w := range c.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%v: error %v, want %q", c.ctx, err, w)
			}
		}
	}
}

// adoptCtx adopts an existing Global Datastore in existing VPCs.
var adoptCtx = map[string]any{
	"existingGlobalDatastoreId": "ldgnf-prod", "primaryReplicationGroupId": "prod-east", "secondaryReplicationGroupId": "prod-west",
	"primaryEndpoint":             "master.prod-east.abc123.use1.cache.amazonaws.com:6379",
	"secondaryEndpoint":           "master.prod-west.def456.usw2.cache.amazonaws.com:6379",
	"authSecretArn":               "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod-redis-token-AbCdEf",
	"primaryCacheSecurityGroupId": "sg-0aaa1111bbb22222c", "secondaryCacheSecurityGroupId": "sg-0ddd3333eee44444f",
	"primaryVpcId": "vpc-0abc12345def67890", "primarySubnetIds": "subnet-0aaa1111bbb22222c,subnet-0ddd3333eee44444f",
	"secondaryVpcId": "vpc-0fed98765cba43210", "secondarySubnetIds": "subnet-0123456789abcdef0,subnet-0fedcba987654321f",
	"vpcEgress": true, // the promoter reaches DynamoDB, ElastiCache and SNS through the owner's NAT or endpoints
}

// An existing datastore is adopted by id: nothing of it is created, and the
// checkers, alarms and failover name are built around it.
func TestAdoptExistingDatastore(t *testing.T) {
	s := build(t, adoptCtx)
	noNagErrors(t, s)
	for _, stack := range []string{"primary", "secondary"} {
		for _, typ := range []string{"AWS::ElastiCache::ReplicationGroup", "AWS::ElastiCache::GlobalReplicationGroup",
			"AWS::ElastiCache::SubnetGroup", "AWS::EC2::VPC"} {
			countIs(t, s.tpl[stack], jsii.String(typ), jsii.Number(0))
		}
	}
	// Only the heartbeat key, which is the checkers' own, not the datastore's.
	countIs(t, s.tpl["primary"], jsii.String("AWS::SecretsManager::Secret"), jsii.Number(1))
	has(t, s.tpl["primary"], jsii.String("AWS::SecretsManager::Secret"), obj(map[string]any{
		"Description": assertions.Match_StringLikeRegexp(jsii.String("heartbeat")),
	}))
	countIs(t, s.tpl["secondary"], jsii.String("AWS::SecretsManager::Secret"), jsii.Number(0))
	for stack, want := range map[string][2]string{
		"primary":   {"master.prod-east.abc123.use1.cache.amazonaws.com:6379", "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod-redis-token-AbCdEf"},
		"secondary": {"master.prod-west.def456.usw2.cache.amazonaws.com:6379", "arn:aws:secretsmanager:us-west-2:123456789012:secret:prod-redis-token-AbCdEf"},
	} {
		has(t, s.tpl[stack], jsii.String("AWS::Lambda::Function"), obj(map[string]any{
			"Environment": map[string]any{"Variables": assertions.Match_ObjectLike(&map[string]interface{}{
				"REDIS_ADDR": want[0], "REDIS_AUTH_SECRET_ARN": want[1], "REDIS_TLS_SERVER_NAME": strings.Split(want[0], ":")[0],
			})},
		}))
		// The existing cache's security group lets the checker in.
		has(t, s.tpl[stack], jsii.String("AWS::EC2::SecurityGroupIngress"), obj(map[string]any{
			"GroupId": map[string]string{"primary": "sg-0aaa1111bbb22222c", "secondary": "sg-0ddd3333eee44444f"}[stack], "FromPort": 6379,
			"SourceSecurityGroupId": map[string]any{"Fn::GetAtt": []any{assertions.Match_StringLikeRegexp(jsii.String("^CheckerSG")), "GroupId"}},
		}))
	}
	nodeAlarm(t, s.tpl["primary"], "EngineCPUUtilization", "Maximum", "prod-east", 2, 80)
	has(t, s.tpl["dns"], jsii.String("AWS::Route53::RecordSet"), obj(map[string]any{
		"Failover": "PRIMARY", "ResourceRecords": []any{"master.prod-east.abc123.use1.cache.amazonaws.com"},
	}))
	has(t, s.tpl["dns"], jsii.String("AWS::Route53::RecordSet"), obj(map[string]any{
		"Failover": "SECONDARY", "ResourceRecords": []any{"master.prod-west.def456.usw2.cache.amazonaws.com"},
	}))
	out := (*s.tpl["primary"].FindOutputs(jsii.String("GlobalDatastoreId"), nil))["GlobalDatastoreId"]
	if (*out)["Value"] != "ldgnf-prod" {
		t.Errorf("GlobalDatastoreId output %v", out)
	}
}

// Adoption needs its keys; each missing one is named.
func TestAdoptRefusals(t *testing.T) {
	for key, want := range map[string]string{
		"primaryEndpoint":               "host:port",
		"authSecretArn":                 "secret holding the AUTH token in us-east-1",
		"secondaryCacheSecurityGroupId": "security group of the existing replication group",
		"primaryVpcId":                  "existing VPCs",
	} {
		ctx := map[string]any{}
		for k, v := range adoptCtx {
			if k != key && !(key == "primaryVpcId" && k == "primarySubnetIds") {
				ctx[k] = v
			}
		}
		_, err := deployment.Load(ctxOf(ctx), "123456789012")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("without %s: error %v, want %q", key, err, want)
		}
	}
}

// A broken checker, promoter or loop pages (Lambda Errors, failed or timed
// out executions), and the latch table has a fixed name per datastore, so a
// redeploy and the operator commands find it.
func TestRunnersArePagedAndTheLatchIsFound(t *testing.T) {
	_, tpl := synth(t)
	for stack, region := range map[string]string{"primary": "us-east-1", "secondary": "us-west-2"} {
		for _, name := range []string{"checkererrors", "promotererrors", "loop-failures"} {
			has(t, tpl[stack], jsii.String("AWS::CloudWatch::Alarm"), obj(map[string]any{
				"AlarmName":    "redisha-" + region + "-" + name,
				"AlarmActions": assertions.Match_ArrayWith(&[]any{map[string]any{"Ref": assertions.Match_StringLikeRegexp(jsii.String("^Alarms"))}}),
			}))
		}
		tables := resources(tpl[stack], "AWS::DynamoDB::Table")
		if len(tables) != 1 || !strings.Contains(jsonOf(tables[0]["TableName"]), `"redisha-latch-"`) {
			t.Errorf("%s: latch table name %s, want redisha-latch-<datastore id>", stack, jsonOf(tables[0]["TableName"]))
		}
	}
}

// With alarm checks, promoterMode=auto gives each VPC the app creates one
// NAT gateway, with a default route from the cache subnets: the promoter's
// path to the other region's CloudWatch. With endpoint checks (the default)
// the witness gives the promoter its view from outside: no NAT by default.
func TestAutoGetsARouteToThePeersCloudWatch(t *testing.T) {
	s := build(t, with(alarmChecks, map[string]any{"promoterMode": "auto"}))
	noNagErrors(t, s)
	for _, stack := range []string{"primary", "secondary"} {
		countIs(t, s.tpl[stack], jsii.String("AWS::EC2::NatGateway"), jsii.Number(1))
		countIs(t, s.tpl[stack], jsii.String("AWS::EC2::InternetGateway"), jsii.Number(1))
		has(t, s.tpl[stack], jsii.String("AWS::EC2::Subnet"), obj(map[string]any{"CidrBlock": map[string]string{
			"primary": "10.0.255.0/24", "secondary": "10.1.255.0/24"}[stack], "MapPublicIpOnLaunch": false}))
		has(t, s.tpl[stack], jsii.String("AWS::EC2::Route"), obj(map[string]any{
			"DestinationCidrBlock": "0.0.0.0/0", "NatGatewayId": assertions.Match_AnyValue()}))
	}
	e := buildShared(t, autoMode)
	noNagErrors(t, e)
	for _, stack := range []string{"primary", "secondary"} {
		countIs(t, e.tpl[stack], jsii.String("AWS::EC2::NatGateway"), jsii.Number(0))
		countIs(t, e.tpl[stack], jsii.String("AWS::EC2::InternetGateway"), jsii.Number(0))
		if fns := promoters(e.tpl[stack]); len(fns) != 1 || fns[0]["Environment"].(map[string]any)["Variables"].(map[string]any)["PEER_WITNESS"] == nil {
			t.Errorf("%s: auto without a NAT and without a witness to read: %v", stack, fns)
		}
	}
}

// roleStatements returns the statements of the policies attached to the
// role whose logical id starts with role.
func roleStatements(tp assertions.Template, role string) []map[string]any {
	var out []map[string]any
	for _, p := range resources(tp, "AWS::IAM::Policy") {
		attached := false
		for _, r := range p["Roles"].([]any) {
			ref, _ := r.(map[string]any)["Ref"].(string)
			attached = attached || strings.HasPrefix(ref, role)
		}
		if !attached {
			continue
		}
		for _, st := range p["PolicyDocument"].(map[string]any)["Statement"].([]any) {
			out = append(out, st.(map[string]any))
		}
	}
	return out
}

// Guard rails a bank expects: protected stacks, a retained datastore,
// endpoint and trust policies that name this account, the failover through
// the promoter's own region, ENI changes denied to function code.
func TestDeployGuardRails(t *testing.T) {
	b, tpl := synth(t)
	for _, st := range []*bool{b.Primary.TerminationProtection(), b.Secondary.TerminationProtection(), b.DNS.TerminationProtection()} {
		if st == nil || !*st {
			t.Error("a stack without termination protection")
		}
	}
	hasResource(t, tpl["primary"], jsii.String("AWS::ElastiCache::GlobalReplicationGroup"), obj(map[string]any{"DeletionPolicy": "Retain"}))
	for stack, region := range map[string]string{"primary": "us-east-1", "secondary": "us-west-2"} {
		for _, e := range resources(tpl[stack], "AWS::EC2::VPCEndpoint") {
			if !strings.Contains(jsonOf(e["PolicyDocument"]), `"aws:ResourceAccount"`) {
				t.Errorf("%s: endpoint %s without a policy naming this account", stack, jsonOf(e["ServiceName"]))
			}
		}
		for _, r := range resources(tpl[stack], "AWS::IAM::Role") {
			trust := jsonOf(r["AssumeRolePolicyDocument"])
			for _, svc := range []string{"states.amazonaws.com", "events.amazonaws.com", "vpc-flow-logs.amazonaws.com"} {
				if strings.Contains(trust, svc) && (!strings.Contains(trust, "aws:SourceAccount") || !strings.Contains(trust, "aws:SourceArn")) {
					t.Errorf("%s: the %s role trusts it without aws:SourceAccount and aws:SourceArn: %s", stack, svc, trust)
				}
			}
		}
		policies := ""
		for _, p := range resources(tpl[stack], "AWS::IAM::Policy") {
			policies += jsonOf(p["PolicyDocument"])
		}
		if !strings.Contains(policies, `"Action":"elasticache:FailoverGlobalReplicationGroup","Condition":{"StringEquals":{"aws:RequestedRegion":"`+region+`"}}`) {
			t.Errorf("%s: the failover is not bound to the promoter's region", stack)
		}
		// Each function in the VPC: the checker, the promoter and the
		// writable endpoint.
		if strings.Count(policies, `"Sid":"DenyEniChangesFromFunctionCode"`) != 3 {
			t.Errorf("%s: the checker, the promoter and the writable endpoint must deny ENI changes to their own code", stack)
		}
		for _, role := range []string{"CheckerRole", "PromoterRole", "WritableEndpointRole"} {
			if sts := jsonOf(roleStatements(tpl[stack], role)); !strings.Contains(sts, `"Sid":"DenyEniChangesFromFunctionCode"`) {
				t.Errorf("%s: %s does not deny ENI changes to its function's code: %s", stack, role, sts)
			}
		}
		if strings.Contains(policies, "cloudwatch:PutMetricData") {
			t.Errorf("%s: PutMetricData granted although the checker publishes EMF", stack)
		}
	}
}

// GIVEN a private zone of the owner's (already associated with their VPCs),
// THEN the app creates no zone and writes the failover records into it;
// the zone must come with imported VPCs, which the app cannot associate it
// with otherwise, and without extraVpcs.
func TestExistingZone(t *testing.T) {
	ctx := map[string]any{"existingZoneId": "Z0123456789ABCDEFGHIJ", "zoneName": "corp.example", "recordName": "redis.corp.example"}
	for k, v := range adoptCtx {
		ctx[k] = v
	}
	s := build(t, ctx)
	noNagErrors(t, s)
	countIs(t, s.tpl["dns"], jsii.String("AWS::Route53::HostedZone"), jsii.Number(0))
	for _, failover := range []string{"PRIMARY", "SECONDARY"} {
		has(t, s.tpl["dns"], jsii.String("AWS::Route53::RecordSet"), obj(map[string]any{
			"Failover": failover, "HostedZoneId": "Z0123456789ABCDEFGHIJ", "Name": "redis.corp.example",
		}))
	}
	out := (*s.tpl["dns"].FindOutputs(jsii.String("HostedZoneId"), nil))["HostedZoneId"]
	if (*out)["Value"] != "Z0123456789ABCDEFGHIJ" {
		t.Errorf("HostedZoneId output %v", out)
	}
	if st, err := deployment.Load(ctxOf(ctx), "123456789012"); err != nil || deployment.New(st).DNS.ZoneID != "Z0123456789ABCDEFGHIJ" {
		t.Errorf("the model does not name the existing zone: %v", err)
	}

	for _, c := range []struct {
		edit map[string]any
		drop []string
		want string
	}{
		{map[string]any{"existingZoneId": "/hostedzone/Z0123"}, nil, "without /hostedzone/"},
		{nil, []string{"primaryVpcId", "primarySubnetIds"}, "give primaryVpcId and secondaryVpcId, VPCs already associated with the zone"},
		{map[string]any{"extraVpcs": []any{map[string]any{"vpcId": "vpc-0e1234567", "region": "us-east-1"}}}, nil, "associate these VPCs with your zone yourself"},
	} {
		bad := map[string]any{}
		for k, v := range ctx {
			if !slices.Contains(c.drop, k) {
				bad[k] = v
			}
		}
		for k, v := range c.edit {
			bad[k] = v
		}
		if _, err := deployment.Load(ctxOf(bad), "123456789012"); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v without %v: error %v, want %q", c.edit, c.drop, err, c.want)
		}
	}
}

// existingGroup is a replication group as `aws elasticache
// describe-replication-groups --query 'ReplicationGroups[0]'` prints it
// (trimmed): one that can become a Global Datastore's primary.
const existingGroup = `{
  "ReplicationGroupId": "prod-east", "Status": "available", "Engine": "redis",
  "MemberClusters": ["prod-east-001", "prod-east-002"],
  "NodeGroups": [{"NodeGroupId": "0001", "Status": "available",
    "PrimaryEndpoint": {"Address": "master.prod-east.abc123.use1.cache.amazonaws.com", "Port": 6380}}],
  "AutomaticFailover": "enabled", "MultiAZ": "enabled", "ClusterEnabled": false,
  "CacheNodeType": "cache.r6g.large", "AuthTokenEnabled": true,
  "TransitEncryptionEnabled": true, "AtRestEncryptionEnabled": true
}`

var existingCtx = map[string]any{
	"existingPrimaryGroup": existingGroup, "engineVersion": "7.1", "secondaryReplicationGroupId": "prod-west",
	"authSecretArn":               "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod-redis-token-AbCdEf",
	"primaryCacheSecurityGroupId": "sg-0aaa1111bbb22222c",
	"primaryVpcId":                "vpc-0abc12345def67890", "primarySubnetIds": "subnet-0aaa1111bbb22222c,subnet-0ddd3333eee44444f",
	"secondaryVpcId": "vpc-0fed98765cba43210", "secondarySubnetIds": "subnet-0123456789abcdef0,subnet-0fedcba987654321f",
	"vpcEgress": true,
}

// GIVEN one existing replication group and no Global Datastore, THEN the
// app creates the Global Datastore around it and the secondary that joins
// it, and nothing of the group itself; the checkers reach the group at its
// endpoint with its token.
func TestBuildAroundAnExistingGroup(t *testing.T) {
	s := build(t, existingCtx)
	noNagErrors(t, s)
	countIs(t, s.tpl["primary"], jsii.String("AWS::ElastiCache::ReplicationGroup"), jsii.Number(0))
	countIs(t, s.tpl["primary"], jsii.String("AWS::ElastiCache::SubnetGroup"), jsii.Number(0))
	// Only the heartbeat key: the AUTH token is the owner's.
	countIs(t, s.tpl["primary"], jsii.String("AWS::SecretsManager::Secret"), jsii.Number(1))
	hasResource(t, s.tpl["primary"], jsii.String("AWS::ElastiCache::GlobalReplicationGroup"), obj(map[string]any{
		"Properties": map[string]any{"Members": []any{map[string]any{
			"ReplicationGroupId": "prod-east", "ReplicationGroupRegion": "us-east-1", "Role": "PRIMARY"}}},
		"DeletionPolicy": "Retain",
	}))
	has(t, s.tpl["secondary"], jsii.String("AWS::ElastiCache::ReplicationGroup"), obj(map[string]any{
		"ReplicationGroupId": "prod-west", "NumCacheClusters": 2, "Port": 6380,
	}))
	for stack, want := range map[string][2]string{
		"primary":   {"master.prod-east.abc123.use1.cache.amazonaws.com:6380", "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod-redis-token-AbCdEf"},
		"secondary": {"", "arn:aws:secretsmanager:us-west-2:123456789012:secret:prod-redis-token-AbCdEf"},
	} {
		vars := map[string]interface{}{"REDIS_AUTH_SECRET_ARN": want[1]}
		if want[0] != "" {
			vars["REDIS_ADDR"] = want[0]
		}
		has(t, s.tpl[stack], jsii.String("AWS::Lambda::Function"), obj(map[string]any{
			"Environment": map[string]any{"Variables": assertions.Match_ObjectLike(&vars)},
		}))
	}
	has(t, s.tpl["primary"], jsii.String("AWS::EC2::SecurityGroupIngress"), obj(map[string]any{"GroupId": "sg-0aaa1111bbb22222c", "FromPort": 6380}))
	nodeAlarm(t, s.tpl["primary"], "EngineCPUUtilization", "Maximum", "prod-east", 2, 80)
}

// Each check AWS makes when a Global Datastore is created around a group,
// and each value the group decides, is made at synth, naming the key and
// the fix.
func TestExistingGroupRefusals(t *testing.T) {
	edit := func(from, to string) map[string]any {
		return map[string]any{"existingPrimaryGroup": strings.Replace(existingGroup, from, to, 1)}
	}
	for _, c := range []struct {
		name string
		edit map[string]any
		drop string
		want string
	}{
		{"not JSON", map[string]any{"existingPrimaryGroup": "prod-east"}, "", "as `aws elasticache describe-replication-groups"},
		{"in a datastore already", edit(`"Engine"`, `"GlobalReplicationGroupInfo": {"GlobalReplicationGroupId": "ldgnf-prod"}, "Engine"`), "", "already a member of the Global Datastore ldgnf-prod"},
		{"cluster mode", edit(`"ClusterEnabled": false`, `"ClusterEnabled": true`), "", "cluster mode is enabled"},
		{"small node", edit(`cache.r6g.large`, `cache.t4g.medium`), "", "cannot be in a Global Datastore"},
		{"one node", edit(`"prod-east-001", "prod-east-002"`, `"prod-east-001"`), "", "replication must be enabled"},
		{"no Multi-AZ", edit(`"MultiAZ": "enabled"`, `"MultiAZ": "disabled"`), "", "--multi-az-enabled"},
		{"no TLS", edit(`"TransitEncryptionEnabled": true`, `"TransitEncryptionEnabled": false`), "", "enable in-transit encryption"},
		{"not encrypted at rest", edit(`"AtRestEncryptionEnabled": true`, `"AtRestEncryptionEnabled": false`), "", "redisha migrate"},
		{"no AUTH", edit(`"AuthTokenEnabled": true`, `"AuthTokenEnabled": false`), "", "set an AUTH token"},
		{"modifying", edit(`"Status": "available"`, `"Status": "modifying"`), "", "wait until the group is available"},
		{"old engine", map[string]any{"engineVersion": "4.0.10"}, "", "not offered by ElastiCache for a Global Datastore"},
		{"another engine", map[string]any{"engine": "valkey"}, "", "the existing group runs redis"},
		{"engine version unsaid", nil, "engineVersion", "give the group's engine version"},
		{"secondary id unsaid", nil, "secondaryReplicationGroupId", "no default when building around an existing group"},
		{"another node type", map[string]any{"nodeType": "cache.r7g.large"}, "", "the existing group's node type is cache.r6g.large"},
		{"another port", map[string]any{"port": float64(6379)}, "", "the existing group listens on 6380"},
		{"other replicas", map[string]any{"replicas": float64(2)}, "", "the existing group has 1 replica(s)"},
		{"secret elsewhere", map[string]any{"authSecretArn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:x"}, "", "in us-east-1"},
		{"no security group", nil, "primaryCacheSecurityGroupId", "the existing group's security group"},
		{"no VPC", nil, "primaryVpcId", "lives in an existing VPC"},
		{"and a datastore", map[string]any{"existingGlobalDatastoreId": "ldgnf-prod"}, "", "not both"},
	} {
		ctx := map[string]any{}
		for k, v := range existingCtx {
			if k != c.drop && !(c.drop == "primaryVpcId" && k == "primarySubnetIds") {
				ctx[k] = v
			}
		}
		for k, v := range c.edit {
			ctx[k] = v
		}
		if _, err := deployment.Load(ctxOf(ctx), "123456789012"); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
		}
	}
	// The whole describe-replication-groups answer is taken too.
	ctx := map[string]any{}
	for k, v := range existingCtx {
		ctx[k] = v
	}
	ctx["existingPrimaryGroup"] = `{"ReplicationGroups": [` + existingGroup + `]}`
	if s, err := deployment.Load(ctxOf(ctx), "123456789012"); err != nil || s.Existing == nil || s.PrimaryRGID != "prod-east" || s.Port != 6380 || s.Replicas != 1 {
		t.Errorf("the whole answer: %v %+v", err, s.Existing)
	}
}

// Each region's dashboard answers an on-call's first questions: which
// region takes writes (both regions' WritableStatus, each from its own
// region), what the promoter last decided (its JSON log lines, through the
// promoter's own query), the replication lag, and which alarms fire.
func TestDashboardShowsWritabilityDecisionsAndLag(t *testing.T) {
	_, tpl := synth(t)
	for stack, group := range map[string]string{"primary": "redis-primary", "secondary": "redis-secondary"} {
		dashboards := resources(tpl[stack], "AWS::CloudWatch::Dashboard")
		if len(dashboards) != 1 {
			t.Fatalf("%s: %d dashboards", stack, len(dashboards))
		}
		body := jsonOf(dashboards[0]["DashboardBody"])
		for _, want := range []string{
			`Takes writes (1 yes, 0 no), both regions`,
			`\"WritableStatus\",\"ReplicationGroup\",\"redis-primary\",{\"label\":\"us-east-1 takes writes (redis-primary)\",\"region\":\"us-east-1\"`,
			`\"WritableStatus\",\"ReplicationGroup\",\"redis-secondary\",{\"label\":\"us-west-2 takes writes (redis-secondary)\",\"region\":\"us-west-2\"`,
			`The promoter's last decisions`, `filter message = \\\"promoter decision\\\"`, `PromoterLogs`,
			`Replication lag (s)`, `\"ReplicationLagSeconds\",\"ReplicationGroup\",\"` + group + `\"`, `GlobalDatastoreReplicationLag`,
			`\"type\":\"alarm\"`, `WritableAlarm`,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("%s dashboard lacks %s:\n%s", stack, want, body)
			}
		}
		has(t, tpl[stack], jsii.String("AWS::Lambda::Function"), obj(map[string]any{
			"Description":   assertions.Match_StringLikeRegexp(jsii.String("guarded promoter")),
			"LoggingConfig": assertions.Match_ObjectLike(&map[string]interface{}{"LogFormat": "JSON"}),
		}))
	}
}

// Two deployments live in one account: synthesized into one app, no name
// AWS holds per account and region is used twice (stacks, replication and
// subnet groups, Global Datastore, latch tables, alarms, dashboards); and a
// second deployment must name its groups and datastore itself.
func TestTwoDeploymentsInOneAccount(t *testing.T) {
	app := awscdk.NewApp(&awscdk.AppProps{Context: &map[string]interface{}{
		"availability-zones:account=123456789012:region=us-east-1": []string{"us-east-1a", "us-east-1b"},
		"availability-zones:account=123456789012:region=us-west-2": []string{"us-west-2a", "us-west-2b"},
	}})
	var stacksOf []awscdk.Stack
	for _, extra := range []map[string]any{nil, {"name": "orders", "primaryReplicationGroupId": "orders-east",
		"secondaryReplicationGroupId": "orders-west", "globalIdSuffix": "orders"}} {
		ctx := map[string]any{"account": "123456789012", "lambdaAsset": asset, "promoterAsset": asset}
		for k, v := range extra {
			ctx[k] = v
		}
		s, err := deployment.Load(ctxOf(ctx), "")
		if err != nil {
			t.Fatal(err)
		}
		b := Build(app, deployment.New(s))
		stacksOf = append(stacksOf, b.Primary.Stack, b.Secondary.Stack, b.DNS.Stack)
	}
	named := []string{"ReplicationGroupId", "CacheSubnetGroupName", "GlobalReplicationGroupIdSuffix", "TableName", "AlarmName", "DashboardName"}
	seen := map[string]string{} // region/type/name → stack
	for _, st := range stacksOf {
		tpl := assertions.Template_FromStack(st, nil)
		all := (*tpl.ToJSON())["Resources"].(map[string]any)
		for id, res := range all {
			props, _ := res.(map[string]any)["Properties"].(map[string]any)
			for _, k := range named {
				v, ok := props[k].(string)
				if !ok {
					continue
				}
				key := *st.Region() + "/" + res.(map[string]any)["Type"].(string) + "/" + v
				if other, dup := seen[key]; dup {
					t.Errorf("%s: %s %s in %s and %s", *st.Region(), k, v, other, *st.StackName()+"/"+id)
				}
				seen[key] = *st.StackName() + "/" + id
			}
		}
	}
	if len(seen) < 40 {
		t.Errorf("only %d named resources found: %v", len(seen), seen)
	}
	_, err := deployment.Load(ctxOf(map[string]any{"name": "orders"}), "123456789012")
	for _, k := range []string{"primaryReplicationGroupId", "secondaryReplicationGroupId", "globalIdSuffix"} {
		if err == nil || !strings.Contains(err.Error(), `context "`+k+`" = (not set): a deployment named orders needs its own`) {
			t.Errorf("a second deployment without %s: %v", k, err)
		}
	}
}

// GIVEN an SNS topic of the owner's in each region, THEN the alarms and the
// promoters' pages go there: no topic or key is created, and the promoter
// may publish to the topic and use its key when it has one.
func TestOwnersAlarmTopics(t *testing.T) {
	east, west := "arn:aws:sns:us-east-1:123456789012:oncall-east", "arn:aws:sns:us-west-2:123456789012:oncall-west"
	key := "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	s := build(t, map[string]any{"primaryAlarmTopicArn": east, "secondaryAlarmTopicArn": west, "primaryAlarmTopicKeyArn": key})
	noNagErrors(t, s)
	for stack, topic := range map[string]string{"primary": east, "secondary": west} {
		countIs(t, s.tpl[stack], jsii.String("AWS::SNS::Topic"), jsii.Number(0))
		has(t, s.tpl[stack], jsii.String("AWS::CloudWatch::Alarm"), obj(map[string]any{"AlarmActions": []any{topic}}))
		has(t, s.tpl[stack], jsii.String("AWS::Lambda::Function"), obj(map[string]any{
			"Environment": map[string]any{"Variables": assertions.Match_ObjectLike(&map[string]interface{}{"SNS_TOPIC_ARN": topic})},
		}))
		policies := jsonOf(resources(s.tpl[stack], "AWS::IAM::Policy"))
		if !strings.Contains(policies, `"Action":"sns:Publish","Effect":"Allow","Resource":"`+topic+`"`) {
			t.Errorf("%s: the promoter may not publish to %s", stack, topic)
		}
		if strings.Contains(policies, key) != (stack == "primary") {
			t.Errorf("%s: the topic key in the policies: %v", stack, strings.Contains(policies, key))
		}
	}
	countIs(t, s.tpl["primary"], jsii.String("AWS::KMS::Key"), jsii.Number(0))

	for _, c := range []struct {
		ctx  map[string]any
		want string
	}{
		{map[string]any{"primaryAlarmTopicArn": east}, "give a topic for both regions"},
		{map[string]any{"primaryAlarmTopicArn": west, "secondaryAlarmTopicArn": west}, "an SNS topic in us-east-1"},
		{map[string]any{"primaryAlarmTopicKeyArn": key}, "with the topic"},
	} {
		if _, err := deployment.Load(ctxOf(c.ctx), "123456789012"); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want %q", c.ctx, err, c.want)
		}
	}
}

// engine=valkey deploys Valkey, at the newest version a Global Datastore
// takes unless told; the secondary inherits the engine from the datastore,
// and the record names it.
func TestValkeyEngine(t *testing.T) {
	s := build(t, map[string]any{"engine": "valkey"})
	has(t, s.tpl["primary"], jsii.String("AWS::ElastiCache::ReplicationGroup"), obj(map[string]any{"Engine": "valkey", "EngineVersion": "8.2"}))
	has(t, s.tpl["secondary"], jsii.String("AWS::ElastiCache::ReplicationGroup"), obj(map[string]any{
		"Engine": assertions.Match_Absent(), "EngineVersion": assertions.Match_Absent(),
	}))
	record := (*s.tpl["primary"].FindOutputs(jsii.String("CreatedWith"), nil))["CreatedWith"]
	if v, _ := (*record)["Value"].(string); !strings.Contains(v, `"engine":"valkey","engineVersion":"8.2"`) {
		t.Fatalf("CreatedWith output %v does not record valkey 8.2", record)
	}
}

// shards=3: both members in cluster mode, three shards of 1+replicas nodes,
// the engine's cluster-mode default parameter group; the failover records
// follow the configuration endpoints; checkers and promoters read every
// shard; one node alarm a metric a shard, over that shard's nodes.
func TestShardedDatastore(t *testing.T) {
	s := build(t, map[string]any{"shards": "3", "replicasPerShard": "2", "engine": "valkey"})
	has(t, s.tpl["primary"], jsii.String("AWS::ElastiCache::ReplicationGroup"), obj(map[string]any{
		"Engine": "valkey", "EngineVersion": "8.2", "NumNodeGroups": 3, "ReplicasPerNodeGroup": 2,
		"CacheParameterGroupName": "default.valkey8.cluster.on", "NumCacheClusters": assertions.Match_Absent(),
	}))
	has(t, s.tpl["secondary"], jsii.String("AWS::ElastiCache::ReplicationGroup"), obj(map[string]any{
		"ReplicasPerNodeGroup": 2, "NumNodeGroups": assertions.Match_Absent(), "NumCacheClusters": assertions.Match_Absent(),
	}))
	dns, _ := json.Marshal(s.tpl["dns"].ToJSON())
	if !strings.Contains(string(dns), "PrimaryConfigurationEndPointAddress") || !strings.Contains(string(dns), "SecondaryConfigurationEndPointAddress") {
		t.Errorf("the failover records do not follow the configuration endpoints:\n%s", dns)
	}
	for _, stack := range []string{"primary", "secondary"} {
		for _, f := range append(checkers(s.tpl[stack]), promoters(s.tpl[stack])...) {
			if v := f["Environment"].(map[string]any)["Variables"].(map[string]any)["CLUSTER_MODE"]; v != "on" {
				t.Errorf("%s: a function's CLUSTER_MODE is %v, want on", stack, v)
			}
		}
	}
	group := map[string]string{"primary": "redis-primary", "secondary": "redis-secondary"}
	for stack, g := range group {
		for shard := 1; shard <= 3; shard++ {
			var ms []any
			for n := 1; n <= 3; n++ {
				ms = append(ms, assertions.Match_ObjectLike(&map[string]any{"MetricStat": map[string]any{"Metric": map[string]any{
					"MetricName": "EngineCPUUtilization", "Dimensions": []any{
						map[string]any{"Name": "CacheClusterId", "Value": fmt.Sprintf("%s-%04d-%03d", g, shard, n)},
						map[string]any{"Name": "CacheNodeId", "Value": "0001"}}}}}))
			}
			has(t, s.tpl[stack], jsii.String("AWS::CloudWatch::Alarm"), obj(map[string]any{
				"AlarmName": fmt.Sprintf("redisha-%s-EngineCPU-shard-%04d", map[string]string{"primary": "us-east-1", "secondary": "us-west-2"}[stack], shard),
				"Metrics":   assertions.Match_ArrayWith(&ms),
			}))
		}
	}
}

// Cluster mode's rules at synth: shards need it, it cannot change after
// creation, shards are added through the Global Datastore and removed out
// of band, an existing group has one shard, and the two names of the
// replica count agree.
func TestShardRules(t *testing.T) {
	created := `{"nodeType":"cache.r7g.large","engine":"redis","engineVersion":"7.1","replicas":1,"shards":3,"clusterMode":true,"port":6379,` +
		`"primaryRegion":"us-east-1","secondaryRegion":"us-west-2","primaryReplicationGroupId":"redis-primary",` +
		`"secondaryReplicationGroupId":"redis-secondary","globalIdSuffix":"redisha"}`
	s := build(t, map[string]any{"createdWith": created, "shards": "5"})
	has(t, s.tpl["primary"], jsii.String("AWS::ElastiCache::GlobalReplicationGroup"), obj(map[string]any{"GlobalNodeGroupCount": 5}))
	has(t, s.tpl["primary"], jsii.String("AWS::ElastiCache::ReplicationGroup"), obj(map[string]any{"NumNodeGroups": 3}))
	// The alarms watch the shards the deploy adds.
	has(t, s.tpl["secondary"], jsii.String("AWS::CloudWatch::Alarm"), obj(map[string]any{"AlarmName": "redisha-us-west-2-EngineCPU-shard-0005"}))
	for _, c := range []struct {
		ctx  map[string]any
		want []string
	}{
		{map[string]any{"shards": "3", "clusterMode": "false"}, []string{`"clusterMode" = false`, "shards = 3 needs cluster mode"}},
		{map[string]any{"shards": "0"}, []string{`"shards" = 0`, "use 1 to 500"}},
		{map[string]any{"replicas": "1", "replicasPerShard": "2"}, []string{`"replicasPerShard" = 2`, "give one of the two"}},
		{map[string]any{"replicasPerShard": "0"}, []string{`"replicasPerShard" = 0`, "at least one replica"}},
		{map[string]any{"createdWith": created, "shards": "2"}, []string{`"shards" = 2`, "decrease-node-groups-in-global-replication-group"}},
		{map[string]any{"createdWith": created, "shards": "1", "clusterMode": "false"}, []string{`"clusterMode" = false`, "cannot change it"}},
		{map[string]any{"existingPrimaryGroup": existingGroup, "engineVersion": "7.1", "secondaryReplicationGroupId": "prod-west",
			"authSecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod-token", "primaryCacheSecurityGroupId": "sg-0123",
			"primaryVpcId": "vpc-1", "primarySubnetIds": "subnet-1,subnet-2", "shards": "3"}, []string{`"shards" = 3`, "the existing group has one shard"}},
	} {
		_, err := deployment.Load(ctxOf(c.ctx), "123456789012")
		for _, w := range c.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%v: error %v, want %q", c.ctx, err, w)
			}
		}
	}
}

// A large cluster's nodes are graphed in several widgets, none over the
// 100 metrics CloudWatch documents for a graph, and together every node.
func TestDashboardSplitsALargeClustersNodes(t *testing.T) {
	s := build(t, map[string]any{"shards": "30", "replicasPerShard": "1"})
	for _, d := range resources(s.tpl["primary"], "AWS::CloudWatch::Dashboard") {
		join := d["DashboardBody"].(map[string]any)["Fn::Join"].([]any)
		var body strings.Builder
		for _, p := range join[1].([]any) {
			if str, ok := p.(string); ok {
				body.WriteString(str)
			} else {
				body.WriteString("token") // a reference inside a JSON string
			}
		}
		var parsed struct {
			Widgets []struct {
				Properties struct {
					Title   string  `json:"title"`
					Metrics [][]any `json:"metrics"`
				} `json:"properties"`
			} `json:"widgets"`
		}
		if err := json.Unmarshal([]byte(body.String()), &parsed); err != nil {
			t.Fatalf("dashboard body: %v\n%s", err, body.String())
		}
		cpu := map[string]bool{}
		for _, w := range parsed.Widgets {
			if n := len(w.Properties.Metrics); n > 100 {
				t.Errorf("%q graphs %d metrics, over 100", w.Properties.Title, n)
			}
			if strings.HasPrefix(w.Properties.Title, "Engine CPU and memory") {
				for _, m := range w.Properties.Metrics {
					for i, v := range m {
						if v == "CacheClusterId" && i+1 < len(m) && slices.Contains(m, any("EngineCPUUtilization")) {
							cpu[m[i+1].(string)] = true
						}
					}
				}
			}
		}
		if len(cpu) != 60 {
			t.Errorf("the CPU graphs show %d nodes, want all 60", len(cpu))
		}
		if !strings.Contains(body.String(), "Engine CPU and memory (%) (redis-primary-0026-001 to redis-primary-0030-002)") {
			t.Errorf("the second CPU graph does not name its nodes:\n%s", body.String())
		}
	}
}
