// Package rehearsal_test holds the synthesized templates and the drill
// together: the app is synthesized into a cloud assembly as `make synth`
// does, read back as the drill reads it, compared with the model it was
// rendered from, and rehearsed; then single deployed values are changed in
// the templates and the rehearsal must follow each.
package rehearsal_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"github.com/redisha/redisha/infra/stacks"
	"github.com/redisha/redisha/internal/deployment"
	"github.com/redisha/redisha/internal/drill"
	"github.com/redisha/redisha/internal/redisconn"
	"github.com/redisha/redisha/internal/testbed/lambdatest"
	"github.com/redisha/redisha/internal/testbed/syncbuf"
)

var (
	asset     string // a stand-in Lambda asset (a directory with a bootstrap)
	bootstrap string // the checker binary built for this machine
)

func TestMain(m *testing.M) {
	redisconn.QuietGoRedisLogger()
	dir, err := os.MkdirTemp("", "redisha-rehearsal-")
	if err != nil {
		panic(err)
	}
	asset, bootstrap = filepath.Join(dir, "asset"), filepath.Join(dir, "bootstrap")
	if err := os.MkdirAll(asset, 0o755); err == nil {
		err = os.WriteFile(filepath.Join(asset, "bootstrap"), []byte("stand-in"), 0o755)
	}
	if err == nil {
		err = lambdatest.Build(bootstrap, "../../lambda")
	}
	if err != nil {
		panic(err)
	}
	code := m.Run()
	jsii.Close()
	_ = os.RemoveAll(dir)
	for _, a := range []string{assembly, alarmAssembly} {
		if a != "" {
			_ = os.RemoveAll(a)
		}
	}
	os.Exit(code)
}

var (
	once      sync.Once
	assembly  string
	model     deployment.Deployment
	synthFail error
)

// synthesize writes the default app's cloud assembly once, as make synth
// does (templates, manifest and deployment.json), and returns its folder
// and the model it was rendered from.
func synthesize(t *testing.T) (string, deployment.Deployment) {
	t.Helper()
	once.Do(func() {
		assembly, synthFail = os.MkdirTemp("", "redisha-cdk-out-")
		if synthFail != nil {
			return
		}
		model, synthFail = synthesizeInto(assembly, nil)
	})
	if synthFail != nil {
		t.Fatal(synthFail)
	}
	return assembly, model
}

var (
	alarmOnce     sync.Once
	alarmAssembly string
	alarmFail     error
)

// synthesizeAlarm writes, once, the assembly of the alarm-driven design
// (dnsHealthCheck=alarm: the records on the writable alarms, no writable
// endpoint, no witness), with the 30-s loop and 3-min stall bound it was
// built for.
func synthesizeAlarm(t *testing.T) string {
	t.Helper()
	alarmOnce.Do(func() {
		alarmAssembly, alarmFail = os.MkdirTemp("", "redisha-cdk-out-alarm-")
		if alarmFail != nil {
			return
		}
		_, alarmFail = synthesizeInto(alarmAssembly, map[string]any{"dnsHealthCheck": "alarm", "checkInterval": "30", "promoterStallAfter": "3m"})
	})
	if alarmFail != nil {
		t.Fatal(alarmFail)
	}
	return alarmAssembly
}

// synthesizeInto writes the cloud assembly of the app with the context
// given over the defaults into dir, and returns the model.
func synthesizeInto(dir string, extra map[string]any) (deployment.Deployment, error) {
	ctx := map[string]any{"account": "123456789012", "lambdaAsset": asset, "promoterAsset": asset}
	for k, v := range extra {
		ctx[k] = v
	}
	s, err := deployment.Load(func(k string) any { return ctx[k] }, "")
	if err != nil {
		return deployment.Deployment{}, err
	}
	m := deployment.New(s)
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(dir), Context: &map[string]interface{}{
		"availability-zones:account=123456789012:region=us-east-1": []string{"us-east-1a", "us-east-1b"},
		"availability-zones:account=123456789012:region=us-west-2": []string{"us-west-2a", "us-west-2b"},
	}})
	stacks.Build(app, m)
	app.Synth(nil)
	return m, m.WriteFile(filepath.Join(dir, deployment.ModelFile))
}

// The drill's world is the templates', and the templates are the model:
// field by field, every setting the rehearsal uses.
func TestTemplatesAreTheModel(t *testing.T) {
	dir, want := synthesize(t)
	got, err := deployment.FromTemplates(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range deployment.Diff(want, got) {
		t.Error(d)
	}
	for _, key := range []string{"us-east-1 checker", "us-west-2 promoter", "record PRIMARY", "loop"} {
		if !strings.Contains(got.Source[key], ".template.json ") {
			t.Errorf("source of %s: %q, want a template and a resource", key, got.Source[key])
		}
	}
}

// edit copies the assembly and changes it: fn gets every template.
func edit(t *testing.T, dir string, fn func(file string, tpl map[string]any)) string {
	t.Helper()
	out := t.TempDir()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(e.Name(), ".template.json") {
			var tpl map[string]any
			if err := json.Unmarshal(b, &tpl); err != nil {
				t.Fatal(err)
			}
			fn(e.Name(), tpl)
			if b, err = json.Marshal(tpl); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(out, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// each calls fn on every resource of a type in a template.
func each(tpl map[string]any, typ string, fn func(props map[string]any)) {
	res, _ := tpl["Resources"].(map[string]any)
	for _, r := range res {
		m, _ := r.(map[string]any)
		if m["Type"] == typ {
			props, _ := m["Properties"].(map[string]any)
			fn(props)
		}
	}
}

// envOf is a function's environment variables.
func envOf(props map[string]any) map[string]any {
	env, _ := props["Environment"].(map[string]any)
	vars, _ := env["Variables"].(map[string]any)
	return vars
}

// rehearse runs region-lost on an assembly, as make drill does (the on-call
// reacts a minute after the page).
func rehearse(t *testing.T, dir string) *drill.Report { return rehearseScenario(t, dir, "region-lost") }

// rehearseScenario runs one scenario on the templates in dir at 60×.
func rehearseScenario(t *testing.T, dir, scenario string) *drill.Report {
	t.Helper()
	dep, err := deployment.FromTemplates(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	logs := &syncbuf.Buffer{}
	dashboards, err := deployment.Dashboards(dir)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := drill.Run(ctx, drill.Config{Bootstrap: bootstrap, Deployment: dep, Speed: 60, OperatorReaction: time.Minute, Logs: logs,
		Dashboard: dashboards[dep.Regions[1].Name]}, drill.Scenarios[scenario], filepath.Join(t.TempDir(), scenario+".svg"))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	rep.WriteTable(&b)
	if !rep.Passed {
		b.WriteString("drill log:\n" + logs.String())
	}
	t.Log(b.String())
	return rep
}

// make drill's headline, on the synthesized templates: region A lost, B
// promoted, redis.internal on B, every application writes again, nothing
// acknowledged lost; the report names the template of each setting.
func TestRehearseTheTemplates(t *testing.T) {
	dir, _ := synthesize(t)
	rep := rehearse(t, dir)
	if !rep.Passed {
		t.Fatalf("region-lost on the deployed templates: %v", rep.Problems)
	}
	for _, a := range rep.Apps {
		if a.Lost > 0 {
			t.Errorf("app %s lost %d acknowledged writes", a.Region, a.Lost)
		}
	}
	// The deployed dashboard, drawn from the drill's CloudWatch and the
	// promoter's log: both regions' writability plotted, the promoter's
	// decisions listed, what the drill lacks named.
	svg, err := os.ReadFile(rep.Dashboard)
	if err != nil {
		t.Fatalf("dashboard picture: %v", err)
	}
	for _, want := range []string{"Takes writes (1 yes, 0 no), both regions", "us-east-1 takes writes (redis-primary)", "<polyline",
		"The promoter&#39;s last decisions", ">action<", ">mode<", ">advise<", "— ElastiCache", "WritableAlarm"} {
		if !strings.Contains(string(svg), want) {
			t.Errorf("the dashboard picture lacks %q", want)
		}
	}
	if strings.Contains(string(svg), "no decision logged") {
		t.Error("the dashboard picture shows no decision of the promoter")
	}
	if !strings.Contains(strings.Join(rep.Sources, "\n"), "RedishaSecondary.template.json") {
		t.Errorf("the report does not say which template the settings came from: %v", rep.Sources)
	}
	// The fence and the signed heartbeat, as the templates deploy them,
	// reached the rehearsal: the PRIMARY record's region fails closed.
	sources := strings.Join(rep.Sources, "\n")
	for _, want := range []string{"HEARTBEAT=true (signed)", "fence FENCE_UNKNOWN=not-writable", "fence FENCE_UNKNOWN=node-role"} {
		if !strings.Contains(sources, want) {
			t.Errorf("the rehearsed settings lack %q:\n%s", want, sources)
		}
	}
}

// The templates as they were before the model (the secondary's checker
// fixed to replica) fail, naming the cause, where the records follow the
// writable alarms (the writable endpoint learns its role from the node).
func TestFixedReplicaRoleFails(t *testing.T) {
	dir := synthesizeAlarm(t)
	old := edit(t, dir, func(file string, tpl map[string]any) {
		if !strings.HasPrefix(file, "RedishaSecondary") {
			return
		}
		each(tpl, "AWS::Lambda::Function", func(p map[string]any) {
			if env := envOf(p); env["EXPECT_ROLE"] != nil {
				env["EXPECT_ROLE"] = "replica"
			}
		})
	})
	rep := rehearse(t, old)
	if rep.Passed || !strings.Contains(strings.Join(rep.Problems, " "), "never reported writable") {
		t.Fatalf("with the secondary's checker fixed to replica the rehearsal passed or did not name the cause: %v", rep.Problems)
	}
}

// A health check that counts insufficient data as healthy keeps a silent
// region's record healthy: the name never leaves the lost region.
func TestInsufficientDataHealthyKeepsTheNameOnALostRegion(t *testing.T) {
	dir := synthesizeAlarm(t)
	changed := edit(t, dir, func(file string, tpl map[string]any) {
		each(tpl, "AWS::Route53::HealthCheck", func(p map[string]any) {
			p["HealthCheckConfig"].(map[string]any)["InsufficientDataHealthStatus"] = "Healthy"
		})
	})
	rep := rehearse(t, changed)
	if rep.Passed || rep.DNSEnd != "a" {
		t.Fatalf("with InsufficientDataHealthStatus=Healthy the name moved (%s) or the rehearsal passed: %v", rep.DNSEnd, rep.Problems)
	}
}

// Every other deployed value reaches the rehearsal: the alarm's metric,
// statistic, period and N, the record's TTL and the promoter's stall bound
// each change what the drill builds and predicts.
func TestRehearsalFollowsEachValue(t *testing.T) {
	endpoint, _ := synthesize(t)
	alarmDir := synthesizeAlarm(t)
	alarm := func(fn func(p map[string]any)) func(string, map[string]any) {
		return func(_ string, tpl map[string]any) {
			each(tpl, "AWS::CloudWatch::Alarm", func(p map[string]any) {
				if strings.HasSuffix(p["AlarmName"].(string), "-writable") {
					fn(p)
				}
			})
		}
	}
	check := func(fn func(c map[string]any)) func(string, map[string]any) {
		return func(_ string, tpl map[string]any) {
			each(tpl, "AWS::Route53::HealthCheck", func(p map[string]any) { fn(p["HealthCheckConfig"].(map[string]any)) })
		}
	}
	for _, c := range []struct {
		name   string
		alarm  bool // a value of the alarm-driven records
		change func(string, map[string]any)
		show   func(d deployment.Deployment, p drill.Predicted) bool
	}{
		{"endpoint check's interval", false, check(func(c map[string]any) { c["RequestInterval"] = 30.0 }),
			func(d deployment.Deployment, p drill.Predicted) bool {
				return d.DNS.Records[0].HealthCheck.Endpoint.RequestInterval == 30*time.Second && p.DetectEndpointMax == 34
			}},
		{"endpoint check's threshold", false, check(func(c map[string]any) { c["FailureThreshold"] = 3.0 }),
			func(d deployment.Deployment, p drill.Predicted) bool {
				return d.DNS.Witnesses[1].HealthCheck.Endpoint.FailureThreshold == 3 && p.DetectEndpointMin == 20
			}},
		{"metric", false, alarm(func(p map[string]any) { p["MetricName"] = "HealthCheckStatus" }),
			func(d deployment.Deployment, _ drill.Predicted) bool {
				return d.Regions[1].Writable.Metric == "HealthCheckStatus"
			}},
		{"statistic", true, alarm(func(p map[string]any) { p["Statistic"] = "Maximum" }),
			func(d deployment.Deployment, _ drill.Predicted) bool {
				return d.DNS.Records[1].HealthCheck.Alarm.Statistic == "Maximum"
			}},
		{"period", true, alarm(func(p map[string]any) { p["Period"] = 120.0 }),
			func(_ deployment.Deployment, p drill.Predicted) bool { return p.DetectFailingMax == 2*120+30 }},
		{"N", true, alarm(func(p map[string]any) { p["EvaluationPeriods"] = 3.0 }),
			func(_ deployment.Deployment, p drill.Predicted) bool { return p.DetectFailingMin == 2*60 }},
		{"TTL", false, func(_ string, tpl map[string]any) {
			each(tpl, "AWS::Route53::RecordSet", func(p map[string]any) { p["TTL"] = "60" })
		}, func(_ deployment.Deployment, p drill.Predicted) bool { return p.TTL == 60 }},
		{"stall bound", false, func(file string, tpl map[string]any) {
			each(tpl, "AWS::Lambda::Function", func(p map[string]any) {
				if env := envOf(p); env["STALL_AFTER"] != nil {
					env["STALL_AFTER"] = "10m0s"
				}
			})
		}, func(_ deployment.Deployment, p drill.Predicted) bool { return p.PromoteMin >= 600 }},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := endpoint
			if c.alarm {
				dir = alarmDir
			}
			base, err := deployment.FromTemplates(dir)
			if err != nil {
				t.Fatal(err)
			}
			dep, err := deployment.FromTemplates(edit(t, dir, c.change))
			if err != nil {
				t.Fatal(err)
			}
			cfg := drill.Config{Bootstrap: bootstrap, Deployment: dep}
			if !c.show(dep, drill.Predict(cfg)) {
				t.Errorf("the rehearsal did not follow the changed %s: %+v", c.name, drill.Predict(cfg))
			}
			if c.show(base, drill.Predict(drill.Config{Bootstrap: bootstrap, Deployment: base})) {
				t.Errorf("the unchanged templates already show the change of %s: the test proves nothing", c.name)
			}
		})
	}
}

// Start where they are: one replication group of the owner's (no Global
// Datastore yet), their VPCs and their private zone. The templates built
// around them are the model, and the rehearsal of region A lost on them
// passes: the owner's group is the primary, the records are in their zone.
func TestBuildAroundAnExistingGroup(t *testing.T) {
	dir := t.TempDir()
	want, err := synthesizeInto(dir, map[string]any{
		"existingPrimaryGroup": `{"ReplicationGroupId": "prod-east", "Status": "available", "Engine": "redis",
			"MemberClusters": ["prod-east-001", "prod-east-002"], "CacheNodeType": "cache.r6g.large",
			"NodeGroups": [{"PrimaryEndpoint": {"Address": "master.prod-east.abc123.use1.cache.amazonaws.com", "Port": 6380}}],
			"AutomaticFailover": "enabled", "MultiAZ": "enabled", "ClusterEnabled": false,
			"AuthTokenEnabled": true, "TransitEncryptionEnabled": true, "AtRestEncryptionEnabled": true}`,
		"engineVersion": "7.1", "secondaryReplicationGroupId": "prod-west",
		"authSecretArn":               "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod-redis-token-AbCdEf",
		"primaryCacheSecurityGroupId": "sg-0aaa1111bbb22222c",
		"primaryVpcId":                "vpc-0abc12345def67890", "primarySubnetIds": "subnet-0aaa1111bbb22222c,subnet-0ddd3333eee44444f",
		"secondaryVpcId": "vpc-0fed98765cba43210", "secondarySubnetIds": "subnet-0123456789abcdef0,subnet-0fedcba987654321f",
		"vpcEgress": true, "existingZoneId": "Z0123456789ABCDEFGHIJ", "zoneName": "corp.example", "recordName": "redis.corp.example",
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := deployment.FromTemplates(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range deployment.Diff(want, got) {
		t.Error(d)
	}
	if got.DNS.ZoneID != "Z0123456789ABCDEFGHIJ" || got.DNS.Zone != "corp.example" || got.Regions[0].GroupID != "prod-east" {
		t.Errorf("read back: zone %s (%s), primary group %s", got.DNS.ZoneID, got.DNS.Zone, got.Regions[0].GroupID)
	}
	if rep := rehearse(t, dir); !rep.Passed {
		t.Errorf("region-lost around the existing group: %v", rep.Problems)
	}
}

// The deployed dashboards read back from the templates as the drill draws
// them: the regions' writability (each line in its own region), the
// promoter's decisions query, the alarms.
func TestDashboardsReadBack(t *testing.T) {
	dir, _ := synthesize(t)
	ds, err := deployment.Dashboards(dir)
	if err != nil {
		t.Fatal(err)
	}
	w := ds["us-west-2"]
	if len(w) < 4 || w[0].Type != "metric" || len(w[0].Metrics) != 2 {
		t.Fatalf("us-west-2's dashboard: %+v", w)
	}
	for i, region := range []string{"us-east-1", "us-west-2"} {
		if m := w[0].Metrics[i]; m.Name != "WritableStatus" || m.Region != region || m.Stat != "Minimum" || m.Period != time.Minute {
			t.Errorf("line %d: %+v", i, m)
		}
	}
	var query string
	var alarms []string
	for _, x := range w {
		if x.Type == "log" {
			query = x.Query
		}
		if x.Type == "alarm" {
			alarms = x.Alarms
		}
	}
	if !strings.HasPrefix(query, `filter message = "promoter decision"`) {
		t.Errorf("query %q", query)
	}
	if len(alarms) == 0 || !strings.HasPrefix(alarms[0], "WritableAlarm") {
		t.Errorf("alarms %v", alarms)
	}
}

// Three shards a member, synthesized: the templates are still the model
// (shards, cluster mode, CLUSTER_MODE=on for the checkers and promoters),
// and the drill rehearses them shard by shard. Region A lost: B promoted,
// nothing acknowledged lost. Region A stalled: the on-call's failover needs
// the group's last writable moment (HeartbeatWritten), which a cluster check
// once left unpublished, so the stall was never failed over. One shard's
// primary crashed: that shard fails over in its region, no cross-region
// promotion.
func TestRehearseShardedTemplates(t *testing.T) {
	dir := t.TempDir()
	want, err := synthesizeInto(dir, map[string]any{"shards": "3"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := deployment.FromTemplates(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range deployment.Diff(want, got) {
		t.Error(d)
	}
	if m := got.Settings.Members(); !m.ClusterMode || m.Shards != 3 {
		t.Fatalf("the templates read back as %d shards, cluster mode %v", m.Shards, m.ClusterMode)
	}
	for _, scenario := range []string{"region-lost", "region-stalled", "primary-crash"} {
		rep := rehearseScenario(t, dir, scenario)
		if !rep.Passed {
			t.Errorf("%s on the sharded templates: %v", scenario, rep.Problems)
		}
		if !strings.Contains(strings.Join(rep.Sources, "\n"), "cluster mode: 3 shards a member") {
			t.Errorf("%s: the report does not say the shards were rehearsed: %v", scenario, rep.Sources)
		}
		if scenario == "primary-crash" && rep.InRegionFailovers == 0 {
			t.Errorf("primary-crash: no in-region failover")
		}
		for _, a := range rep.Apps {
			if a.Lost > 0 {
				t.Errorf("%s: app %s lost %d acknowledged writes", scenario, a.Name(), a.Lost)
			}
		}
	}
}
