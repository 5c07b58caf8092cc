package stacks

import (
	"encoding/json"
	"fmt"
	"github.com/redisha/redisha/internal/deployment"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
)

// asset stands in for build/lambda: a directory with a bootstrap file.
var asset string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "redisha-asset-")
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, "bootstrap"), []byte("stand-in"), 0o755)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	asset = dir
	code := m.Run()
	jsii.Close() // stop the node process that runs the CDK
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// synthesized is one app's templates and annotations by stack.
type synthesized struct {
	app   *App
	tpl   map[string]assertions.Template
	annos map[string]assertions.Annotations
}

// build synthesizes the app with the given context over the defaults, as
// cdk.json and -c would give it.
func build(t *testing.T, ctx map[string]any) synthesized {
	t.Helper()
	all := map[string]any{"account": "123456789012", "lambdaAsset": asset, "promoterAsset": asset}
	for k, v := range ctx {
		all[k] = v
	}
	s, err := deployment.Load(ctxOf(all), "")
	if err != nil {
		t.Fatal(err)
	}
	app := awscdk.NewApp(&awscdk.AppProps{Context: &map[string]interface{}{
		"availability-zones:account=123456789012:region=us-east-1": []string{"us-east-1a", "us-east-1b", "us-east-1c"},
		"availability-zones:account=123456789012:region=us-west-2": []string{"us-west-2a", "us-west-2b", "us-west-2c"},
		"availability-zones:account=123456789012:region=eu-west-1": []string{"eu-west-1a", "eu-west-1b", "eu-west-1c"},
	}})
	b := Build(app, deployment.New(s))
	stacks := map[string]awscdk.Stack{"primary": b.Primary.Stack, "secondary": b.Secondary.Stack, "dns": b.DNS.Stack}
	out := synthesized{app: b, tpl: map[string]assertions.Template{}, annos: map[string]assertions.Annotations{}}
	for name, st := range stacks {
		out.tpl[name] = assertions.Template_FromStack(st, nil)
		out.annos[name] = assertions.Annotations_FromStack(st)
	}
	return out
}

var (
	defaultOnce sync.Once
	defaults    synthesized
)

// synth builds the app once with the defaults (GIVEN the design's settings)
// and returns the templates by stack.
func synth(t *testing.T) (*App, map[string]assertions.Template) {
	t.Helper()
	defaultOnce.Do(func() { defaults = build(t, nil) })
	if defaults.app == nil {
		t.Fatal("the default app did not build")
	}
	return defaults.app, defaults.tpl
}

var (
	sharedMu sync.Mutex
	shared   = map[string]synthesized{}
)

// buildShared is build, once per context for the whole test binary: a synth
// costs seconds, and several tests read the same variant.
func buildShared(t *testing.T, ctx map[string]any) synthesized {
	t.Helper()
	key := jsonOf(ctx) // encoding/json sorts map keys
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if s, ok := shared[key]; ok {
		return s
	}
	s := build(t, ctx)
	shared[key] = s
	return s
}

// alarmChecks keeps the failover records on CLOUDWATCH_METRIC health checks
// of the writable alarms (no writable endpoint, no witness).
var alarmChecks = map[string]any{"dnsHealthCheck": "alarm"}

// with is base with the keys of extra added.
func with(base map[string]any, extra map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range extra {
		out[k] = v
	}
	return out
}

// noNagErrors fails on every AwsSolutions error left unsuppressed.
func noNagErrors(t *testing.T, s synthesized) {
	t.Helper()
	for name, a := range s.annos {
		errs := a.FindError(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*")))
		for _, e := range *errs {
			t.Errorf("%s: %v %v", name, *e.Id, e.Entry.Data)
		}
	}
}

func obj(m map[string]any) *map[string]interface{} { return (*map[string]interface{})(&m) }

// has asserts that the template has a resource of type typ whose properties
// match props; a mismatch is a test error (the assertion library throws).
func has(t *testing.T, tp assertions.Template, typ *string, props *map[string]interface{}) {
	t.Helper()
	defer assertionError(t)
	tp.HasResourceProperties(typ, props)
}

// hasResource is has for the whole resource (DeletionPolicy, …).
func hasResource(t *testing.T, tp assertions.Template, typ *string, props *map[string]interface{}) {
	t.Helper()
	defer assertionError(t)
	tp.HasResource(typ, props)
}

func countIs(t *testing.T, tp assertions.Template, typ *string, n *float64) {
	t.Helper()
	defer assertionError(t)
	tp.ResourceCountIs(typ, n)
}

func assertionError(t *testing.T) {
	t.Helper()
	if r := recover(); r != nil {
		t.Error(r)
	}
}

// definition is a state machine's definition with every CloudFormation
// token (function ARNs) replaced by "<token>", parsed.
func definition(t *testing.T, tp assertions.Template) map[string]any {
	t.Helper()
	machines := tp.FindResources(jsii.String("AWS::StepFunctions::StateMachine"), nil)
	if len(*machines) != 1 {
		t.Fatalf("%d state machines, want 1", len(*machines))
	}
	for _, m := range *machines {
		def := (*m)["Properties"].(map[string]any)["DefinitionString"]
		var text strings.Builder
		switch d := def.(type) {
		case string:
			text.WriteString(d)
		case map[string]any:
			for _, part := range d["Fn::Join"].([]any)[1].([]any) {
				if s, ok := part.(string); ok {
					text.WriteString(s)
				} else {
					text.WriteString("<token>")
				}
			}
		}
		var out map[string]any
		if err := json.Unmarshal([]byte(text.String()), &out); err != nil {
			t.Fatalf("definition %q: %v", text.String(), err)
		}
		return out
	}
	return nil
}

func TestPrimaryReplicationGroupAndGlobalDatastore(t *testing.T) {
	_, tpl := synth(t)
	// THEN the primary group is the design's: encrypted, Multi-AZ, failover.
	has(t, tpl["primary"], jsii.String("AWS::ElastiCache::ReplicationGroup"), obj(map[string]any{
		"ReplicationGroupId": "redis-primary", "Engine": "redis", "EngineVersion": "7.1",
		"CacheNodeType": "cache.r7g.large", "NumCacheClusters": 2, "AutomaticFailoverEnabled": true,
		"MultiAZEnabled": true, "AtRestEncryptionEnabled": true, "TransitEncryptionEnabled": true, "Port": 6379,
	}))
	// …kept as a snapshot when the stack is deleted.
	hasResource(t, tpl["primary"], jsii.String("AWS::ElastiCache::ReplicationGroup"), obj(map[string]any{
		"DeletionPolicy": "Snapshot", "UpdateReplacePolicy": "Snapshot",
	}))
	// …and the Global Datastore is created with it as its only member.
	has(t, tpl["primary"], jsii.String("AWS::ElastiCache::GlobalReplicationGroup"), obj(map[string]any{
		"GlobalReplicationGroupIdSuffix": "redisha",
		"Members": []any{map[string]any{"ReplicationGroupRegion": "us-east-1", "Role": "PRIMARY",
			"ReplicationGroupId": map[string]any{"Ref": assertions.Match_AnyValue()}}},
	}))
	hasResource(t, tpl["primary"], jsii.String("AWS::ElastiCache::GlobalReplicationGroup"), obj(map[string]any{"DeletionPolicy": "Retain"}))
	// The AUTH token is a Secrets Manager reference, replicated for the secondary region's checker.
	has(t, tpl["primary"], jsii.String("AWS::ElastiCache::ReplicationGroup"), obj(map[string]any{
		"AuthToken": map[string]any{"Fn::Join": []any{"", []any{"{{resolve:secretsmanager:", assertions.Match_AnyValue(), ":SecretString:::}}"}}},
	}))
	has(t, tpl["primary"], jsii.String("AWS::SecretsManager::Secret"), obj(map[string]any{
		"ReplicaRegions": []any{map[string]any{"Region": "us-west-2"}},
	}))
}

func TestSecondaryJoinsTheGlobalDatastore(t *testing.T) {
	_, tpl := synth(t)
	props := tpl["secondary"].FindResources(jsii.String("AWS::ElastiCache::ReplicationGroup"), nil)
	if len(*props) != 1 {
		t.Fatalf("%d replication groups in the secondary stack", len(*props))
	}
	for _, r := range *props {
		p := (*r)["Properties"].(map[string]any)
		if p["GlobalReplicationGroupId"] == nil {
			t.Error("the secondary does not name the Global Datastore")
		}
		// Inherited from the Global Datastore: setting them is rejected.
		// The AUTH token: from the secret's replica in the secondary's region.
		if tok := jsonOf(p["AuthToken"]); !strings.HasPrefix(tok, `{"Fn::Join":["",["{{resolve:secretsmanager:arn:",`) ||
			!strings.Contains(tok, `":secretsmanager:us-west-2:"`) || !strings.HasSuffix(tok, `":SecretString:::}}"]]}`) {
			t.Errorf("secondary AuthToken %s, want a dynamic reference to the secret's replica in us-west-2", tok)
		}
		for _, k := range []string{"Engine", "EngineVersion", "AtRestEncryptionEnabled", "TransitEncryptionEnabled",
			"CacheNodeType", "CacheParameterGroupName", "AutomaticFailoverEnabled", "SnapshotArns", "SnapshotName"} {
			if _, ok := p[k]; ok {
				t.Errorf("the secondary sets %s, which it must inherit", k)
			}
		}
	}
}

// thirtySecondLoop is the loop of the slower design: two checks a minute,
// with the stall bound it needs (three check intervals at least).
var thirtySecondLoop = map[string]any{"checkInterval": "30", "promoterStallAfter": "3m"}

// loopStates is the Step Functions loop for a check every interval: check i
// (CheckNow, CheckAfter<offset>s), the promoter started after it
// (PromoterNow, PromoterAfter<offset>s), a Wait before each check but the
// first (Wait<interval>s, then numbered: state names are unique), and Done.
func loopStates(interval time.Duration) []string {
	iv := int(interval.Seconds())
	var out []string
	for i := 0; i < int(time.Minute/interval); i++ {
		switch i {
		case 0:
			out = append(out, "CheckNow", "PromoterNow")
			continue
		case 1:
			out = append(out, fmt.Sprintf("Wait%ds", iv))
		default:
			out = append(out, fmt.Sprintf("Wait%ds%d", iv, i))
		}
		out = append(out, fmt.Sprintf("CheckAfter%ds", i*iv), fmt.Sprintf("PromoterAfter%ds", i*iv))
	}
	return append(out, "Done")
}

// Every minute, EventBridge starts an Express loop: a check every
// checkInterval (10 s by default: six a minute), each followed by an
// asynchronous start of the promoter; 30 s keeps the two-check loop.
func TestCheckerLambdaScheduleAndLoop(t *testing.T) {
	_, tpl := synth(t)
	for _, c := range []struct {
		name     string
		tpl      map[string]assertions.Template
		interval time.Duration
		checks   int
	}{
		{"default", tpl, 10 * time.Second, 6},
		{"checkInterval=30", buildShared(t, thirtySecondLoop).tpl, 30 * time.Second, 2},
	} {
		for _, stack := range []string{"primary", "secondary"} {
			has(t, c.tpl[stack], jsii.String("AWS::Lambda::Function"), obj(map[string]any{
				"Runtime": "provided.al2023", "Architectures": []any{"arm64"}, "Handler": "bootstrap", "Timeout": 10,
				"VpcConfig": assertions.Match_ObjectLike(&map[string]interface{}{"SubnetIds": assertions.Match_AnyValue()}),
				"Environment": map[string]any{"Variables": assertions.Match_ObjectLike(&map[string]interface{}{
					"EXPECT_ROLE": "auto", "HEARTBEAT": "true", "REDIS_TLS": "true", "METRICS_MODE": "emf",
					"METRIC_NAMESPACE": "Custom/Redis", "CHECK_TIMEOUT": "2s",
					"REDIS_AUTH_SECRET_ARN": assertions.Match_AnyValue(),
				})},
			}))
			has(t, c.tpl[stack], jsii.String("AWS::Events::Rule"), obj(map[string]any{"ScheduleExpression": "rate(1 minute)"}))
			has(t, c.tpl[stack], jsii.String("AWS::StepFunctions::StateMachine"), obj(map[string]any{"StateMachineType": "EXPRESS"}))
			def := definition(t, c.tpl[stack])
			states, _ := def["States"].(map[string]any)
			// The chain from StartAt, following Next, is the loop.
			want := loopStates(c.interval)
			var got []string
			for name, _ := def["StartAt"].(string); name != "" && len(got) <= len(states); name, _ = states[name].(map[string]any)["Next"].(string) {
				if states[name] == nil {
					t.Fatalf("%s/%s: no state %s in %v", c.name, stack, name, def)
				}
				got = append(got, name)
			}
			if !slices.Equal(got, want) || len(states) != len(want) {
				t.Errorf("%s/%s: loop %v (%d states), want %v", c.name, stack, got, len(states), want)
				continue
			}
			checks := 0
			for i, name := range want {
				st := states[name].(map[string]any)
				next := "Done"
				if i+1 < len(want) {
					next = want[i+1]
				}
				switch {
				case strings.HasPrefix(name, "Wait"):
					if st["Type"] != "Wait" || st["Seconds"] != c.interval.Seconds() {
						t.Errorf("%s/%s: wait state %s %v, want a %v Wait before the next check", c.name, stack, name, st, c.interval)
					}
					continue
				case name == "Done":
					if st["Type"] != "Succeed" {
						t.Errorf("%s/%s: Done %v", c.name, stack, st)
					}
					continue
				}
				// A failed check still leads to the promoter and then on; a
				// failed start of the promoter does not stop the loop.
				// Nothing fails the execution.
				catch, _ := st["Catch"].([]any)
				if st["Type"] != "Task" || len(catch) != 1 || jsonOf(catch[0]) != `{"ErrorEquals":["States.ALL"],"Next":"`+next+`","ResultPath":null}` {
					t.Errorf("%s/%s: %s catches %v, want every error to go on to %s", c.name, stack, name, catch, next)
				}
				if strings.HasPrefix(name, "Promoter") {
					// Started, not awaited: a decision may last a whole promotion.
					if p := st["Parameters"].(map[string]any); p["InvocationType"] != "Event" {
						t.Errorf("%s/%s: %s invokes %v, want the promoter, asynchronously", c.name, stack, name, p)
					}
					continue
				}
				checks++
				// Service errors of a check are retried once, briefly.
				retry, _ := st["Retry"].([]any)
				if len(retry) != 1 || retry[0].(map[string]any)["MaxAttempts"] != float64(1) ||
					!strings.Contains(jsonOf(retry[0]), "Lambda.TooManyRequestsException") || strings.Contains(jsonOf(retry[0]), "States.ALL") {
					t.Errorf("%s/%s: %s retries %v, want one retry of Lambda service errors only", c.name, stack, name, retry)
				}
			}
			if checks != c.checks || strings.Count(fmt.Sprint(def), "lambda:invoke") != 2*c.checks {
				t.Errorf("%s/%s: %d checks, want %d, and a Lambda invocation for each check and promoter start in %v", c.name, stack, checks, c.checks, def)
			}
			// The promoter expects a heartbeat every check.
			for _, f := range promoters(c.tpl[stack]) {
				if env := f["Environment"].(map[string]any)["Variables"].(map[string]any); env["HEARTBEAT_INTERVAL"] != c.interval.String() {
					t.Errorf("%s/%s: promoter HEARTBEAT_INTERVAL %v, want %v", c.name, stack, env["HEARTBEAT_INTERVAL"], c.interval)
				}
			}
		}
	}
}

// The checker's role grants exactly: its log streams, its two secrets (the
// AUTH token and the heartbeat key), PutMetricData in its namespace, and the
// VPC ENI actions.
func TestCheckerRoleIsLeastPrivilege(t *testing.T) {
	_, tpl := synth(t)
	has(t, tpl["primary"], jsii.String("AWS::IAM::Policy"), obj(map[string]any{
		"PolicyDocument": map[string]any{"Statement": []any{
			map[string]any{"Action": []any{"logs:CreateLogStream", "logs:PutLogEvents"}, "Effect": "Allow", "Resource": assertions.Match_AnyValue()},
			map[string]any{"Action": "secretsmanager:GetSecretValue", "Effect": "Allow", "Resource": []any{
				map[string]any{"Ref": assertions.Match_StringLikeRegexp(jsii.String("AuthToken"))},
				map[string]any{"Ref": assertions.Match_StringLikeRegexp(jsii.String("HeartbeatKey"))},
			}},
			// The fence: which member is the datastore's primary.
			map[string]any{"Action": "elasticache:DescribeGlobalReplicationGroups", "Effect": "Allow", "Resource": assertions.Match_AnyValue()},
			// No PutMetricData: the checker publishes EMF (metricsMode=emf).
			map[string]any{"Action": []any{"ec2:DescribeNetworkInterfaces", "ec2:CreateNetworkInterface", "ec2:DeleteNetworkInterface",
				"ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"}, "Effect": "Allow", "Resource": "*"},
			map[string]any{"Action": []any{"ec2:CreateNetworkInterface", "ec2:DeleteNetworkInterface",
				"ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"}, "Effect": "Deny", "Resource": "*",
				"Sid": "DenyEniChangesFromFunctionCode", "Condition": map[string]any{"Null": map[string]any{"lambda:SourceFunctionArn": "false"}}},
		}},
	}))
}

// With dnsHealthCheck=alarm, the failover records follow CLOUDWATCH_METRIC
// health checks on each region's writable alarm, and nothing of the
// endpoint design is created.
func TestRoute53AlarmHealthCheckAndRecords(t *testing.T) {
	_, tpl := synth(t)
	alarm := buildShared(t, alarmChecks).tpl
	// The alarms are the same with either kind of health check: the
	// promoters read the writable alarms too.
	for _, tpl := range []map[string]assertions.Template{tpl, alarm} {
		// The design's health alarm, standard resolution, in each region under
		// the region's name: it pages whichever role the region plays.
		has(t, tpl["primary"], jsii.String("AWS::CloudWatch::Alarm"), obj(map[string]any{
			"AlarmName": "redisha-us-east-1-unhealthy", "Namespace": "Custom/Redis", "MetricName": "HealthCheckStatus",
			"Statistic": "Minimum", "Period": 60, "EvaluationPeriods": 2, "Threshold": 1,
			"ComparisonOperator": "LessThanThreshold", "TreatMissingData": "breaching",
		}))
		// A separate fast paging alarm on the high-resolution metric.
		has(t, tpl["primary"], jsii.String("AWS::CloudWatch::Alarm"), obj(map[string]any{
			"MetricName": "HealthCheckStatusHighRes", "Period": 30, "EvaluationPeriods": 1, "Threshold": 1,
		}))
		// Each region's "accepts writes" alarm, on the metric and dimensions
		// its checker publishes, with the seed's knobs.
		for stack, w := range map[string]struct{ region, group string }{"primary": {"us-east-1", "redis-primary"}, "secondary": {"us-west-2", "redis-secondary"}} {
			has(t, tpl[stack], jsii.String("AWS::CloudWatch::Alarm"), obj(map[string]any{
				"AlarmName": "redisha-" + w.region + "-writable", "Namespace": "Custom/Redis", "MetricName": "WritableStatus",
				"Dimensions": []any{map[string]any{"Name": "ReplicationGroup", "Value": w.group}},
				"Statistic":  "Minimum", "Period": 60, "EvaluationPeriods": 2, "Threshold": 1,
				"ComparisonOperator": "LessThanThreshold", "TreatMissingData": "breaching",
			}))
		}
	}
	for _, region := range []string{"us-east-1", "us-west-2"} {
		has(t, alarm["dns"], jsii.String("AWS::Route53::HealthCheck"), obj(map[string]any{
			"HealthCheckConfig": map[string]any{
				"Type":                         "CLOUDWATCH_METRIC",
				"AlarmIdentifier":              map[string]any{"Name": "redisha-" + region + "-writable", "Region": region},
				"InsufficientDataHealthStatus": "Unhealthy",
			},
		}))
	}
	countIs(t, alarm["dns"], jsii.String("AWS::Route53::HealthCheck"), jsii.Number(2))
	has(t, alarm["dns"], jsii.String("AWS::Route53::HostedZone"), obj(map[string]any{
		"Name": "internal", "VPCs": []any{
			map[string]any{"VPCId": assertions.Match_AnyValue(), "VPCRegion": "us-east-1"},
			map[string]any{"VPCId": assertions.Match_AnyValue(), "VPCRegion": "us-west-2"},
		},
	}))
	// Each record on the check of its own region's writable alarm.
	alarmOf := map[string]string{} // health check id → the alarm it follows
	for id, hc := range *alarm["dns"].FindResources(jsii.String("AWS::Route53::HealthCheck"), nil) {
		cfg := (*hc)["Properties"].(map[string]any)["HealthCheckConfig"].(map[string]any)
		alarmOf[id], _ = cfg["AlarmIdentifier"].(map[string]any)["Name"].(string)
	}
	for failover, w := range map[string]struct{ label, region string }{"PRIMARY": {"primary", "us-east-1"}, "SECONDARY": {"secondary", "us-west-2"}} {
		has(t, alarm["dns"], jsii.String("AWS::Route53::RecordSet"), obj(map[string]any{
			"Name": "redis.internal", "Type": "CNAME", "TTL": "5", "SetIdentifier": w.label, "Failover": failover,
		}))
		if _, uses := healthCheckIDs(t, alarm["dns"]); alarmOf[uses[failover]] != "redisha-"+w.region+"-writable" {
			t.Errorf("the %s record uses health check %s, which follows %q; want redisha-%s-writable", failover, uses[failover], alarmOf[uses[failover]], w.region)
		}
	}
	// No witness (only the two CNAME records), no writable endpoint, no
	// public URL.
	countIs(t, alarm["dns"], jsii.String("AWS::Route53::RecordSet"), jsii.Number(2))
	for _, stack := range []string{"primary", "secondary"} {
		if fns := writableEndpoints(alarm[stack]); len(fns) != 0 {
			t.Errorf("%s: %d writable endpoints with alarm checks", stack, len(fns))
		}
		countIs(t, alarm[stack], jsii.String("AWS::Lambda::Url"), jsii.Number(0))
		if _, ok := (*alarm[stack].FindOutputs(jsii.String(deployment.WritableEndpointOutput), nil))[deployment.WritableEndpointOutput]; ok {
			t.Errorf("%s: a %s output with alarm checks", stack, deployment.WritableEndpointOutput)
		}
	}
}

// nodeAlarm asserts an alarm on the highest value of an ElastiCache metric
// over every node of a group (both dimensions per node), by metric math.
func nodeAlarm(t *testing.T, tp assertions.Template, metric, stat, group string, nodes int, threshold float64) {
	t.Helper()
	ms := []any{map[string]any{"Id": "expr_1", "ReturnData": true, "Label": assertions.Match_AnyValue(), "Expression": assertions.Match_StringLikeRegexp(jsii.String(`^MAX\(\[m1(,m\d)*\]\)$`))}}
	for i := 1; i <= nodes; i++ {
		ms = append(ms, map[string]any{"Id": fmt.Sprintf("m%d", i), "ReturnData": false, "MetricStat": map[string]any{
			"Metric": map[string]any{"Namespace": "AWS/ElastiCache", "MetricName": metric, "Dimensions": []any{
				map[string]any{"Name": "CacheClusterId", "Value": fmt.Sprintf("%s-%03d", group, i)},
				map[string]any{"Name": "CacheNodeId", "Value": "0001"},
			}},
			"Stat": stat, "Period": 300,
		}})
	}
	has(t, tp, jsii.String("AWS::CloudWatch::Alarm"), obj(map[string]any{
		"Metrics": assertions.Match_ArrayEquals(&ms), "Threshold": threshold, "ComparisonOperator": "GreaterThanThreshold",
		"AlarmActions": assertions.Match_AnyValue(),
	}))
}

// The ElastiCache alarms watch every node of the group (the primary moves
// within the region), the cross-region lag alarm reads
// GlobalDatastoreReplicationLag in both regions (it fires in whichever is
// the secondary), and the heartbeat alarm allows for the write cadence.
func TestMonitoringAlarms(t *testing.T) {
	_, tpl := synth(t)
	for stack, group := range map[string]string{"primary": "redis-primary", "secondary": "redis-secondary"} {
		for metric, threshold := range map[string]float64{"EngineCPUUtilization": 80, "DatabaseMemoryUsagePercentage": 80, "CurrConnections": 52000, "GlobalDatastoreReplicationLag": 5} {
			nodeAlarm(t, tpl[stack], metric, "Maximum", group, 2, threshold)
		}
		nodeAlarm(t, tpl[stack], "Evictions", "Sum", group, 2, 0)
		for _, a := range resources(tpl[stack], "AWS::CloudWatch::Alarm") {
			if strings.Contains(jsonOf(a), `"MetricName":"ReplicationLag"`) || strings.Contains(jsonOf(a), `"Namespace":"AWS/ElastiCache"`) && a["Metrics"] == nil {
				t.Errorf("%s: alarm %v watches one node or the in-region ReplicationLag", stack, a["AlarmName"])
			}
		}
		countIs(t, tpl[stack], jsii.String("AWS::CloudWatch::Dashboard"), jsii.Number(1))
	}
	// The heartbeat is written once a check: the lag threshold (5 s) plus
	// two check intervals, 10 s by default and 30 s in the slower loop.
	for threshold, tpl := range map[float64]map[string]assertions.Template{25: tpl, 65: buildShared(t, thirtySecondLoop).tpl} {
		has(t, tpl["secondary"], jsii.String("AWS::CloudWatch::Alarm"), obj(map[string]any{
			"Namespace": "Custom/Redis", "MetricName": "ReplicationLagSeconds", "Statistic": "Minimum", "Period": 60,
			"Threshold": threshold, "EvaluationPeriods": 2,
			"Dimensions": []any{map[string]any{"Name": "ReplicationGroup", "Value": "redis-secondary"}},
		}))
	}
	// More replicas, more nodes watched.
	s := build(t, map[string]any{"replicas": "2"})
	nodeAlarm(t, s.tpl["primary"], "CurrConnections", "Maximum", "redis-primary", 3, 52000)
}

// cdk-nag's AwsSolutions pack runs on every synth; no unsuppressed error.
func TestNoUnsuppressedNagErrors(t *testing.T) {
	synth(t)
	noNagErrors(t, defaults)
}

// Nothing in the templates carries a secret: the AUTH token is a dynamic
// reference resolved by CloudFormation, and no function gets a password.
func TestNoSecretInTemplates(t *testing.T) {
	_, tpl := synth(t)
	for name, tp := range tpl {
		b, err := json.Marshal(tp.ToJSON())
		if err != nil {
			t.Fatal(err)
		}
		text := string(b)
		for i := strings.Index(text, `"AuthToken":`); i >= 0; {
			rest := text[i+len(`"AuthToken":`):]
			if !strings.HasPrefix(rest, `{"Fn::Join":["",["{{resolve:secretsmanager:`) {
				t.Errorf("%s: AuthToken is not a Secrets Manager reference: %.80s", name, rest)
			}
			j := strings.Index(rest, `"AuthToken":`)
			if j < 0 {
				break
			}
			i += len(`"AuthToken":`) + j
		}
		for _, bad := range []string{"REDIS_PASSWORD", "SecretString\":\"", "GenerateSecretString\":{\"SecretStringTemplate"} {
			if strings.Contains(text, bad) {
				t.Errorf("%s: template contains %s", name, bad)
			}
		}
	}
}

// ctxOf serves context values from a map, as cdk.json or -c would.
func ctxOf(m map[string]any) deployment.Context {
	return func(k string) any { return m[k] }
}
