package deployment

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/redisha/redisha/internal/config"
	"github.com/redisha/redisha/internal/promoter"
)

// ctxOf serves context values from a map, as cdk.json or -c would.
func ctxOf(m map[string]any) Context {
	return func(k string) any { return m[k] }
}

func TestLoadDefaultsFollowTheDesign(t *testing.T) {
	s, err := Load(ctxOf(nil), "123456789012")
	if err != nil {
		t.Fatalf("Load with no context: %v", err)
	}
	want := Settings{Name: "redisha", TerminationProtection: true, CheckInterval: 10 * time.Second, StallAfter: time.Minute, WritableStatistic: "Minimum",
		DNSHealthCheck: "endpoint", HealthCheckInterval: 10, HealthCheckFailureThreshold: 1, SilentMaxDataLoss: 40 * time.Second,
		Account: "123456789012", PrimaryRegion: "us-east-1", SecondaryRegion: "us-west-2",
		PrimaryAZs: []string{"us-east-1a", "us-east-1b"}, SecondaryAZs: []string{"us-west-2a", "us-west-2b"},
		NodeType: "cache.r7g.large", Engine: "redis", EngineVersion: "7.1", Replicas: 1, Shards: 1, Port: 6379,
		GlobalIDSuffix: "redisha", PrimaryRGID: "redis-primary", SecondaryRGID: "redis-secondary",
		ZoneName: "internal", RecordName: "redis.internal", RecordTTL: 5,
		AlarmPeriod: 60, AlarmEvaluations: 2, FastAlarmPeriod: 30, CheckTimeout: 2 * time.Second, MetricsMode: config.MetricsEMF,
		MaxConnections: 52000, ReplicationLag: 5, LambdaAsset: "build/lambda", VpcEndpoints: true,
		PromoterAsset: "build/promoter", PromoterMode: promoter.ModeAdvise,
		PrimaryCidr: "10.0.0.0/16", SecondaryCidr: "10.1.0.0/16", SecondaryAuthToken: true,
	}
	if !reflect.DeepEqual(s, want) {
		t.Errorf("defaults:\n got %+v\nwant %+v", s, want)
	}
}

func TestLoadReadsContextForms(t *testing.T) {
	// cdk.json gives JSON numbers and lists; -c key=value gives strings.
	s, err := Load(ctxOf(map[string]any{
		"account":          "210987654321",
		"replicas":         "2",
		"recordTtl":        float64(5),
		"primaryAzs":       "us-east-1a, us-east-1c",
		"secondaryAzs":     []any{"us-west-2b", "us-west-2c"},
		"primaryVpcId":     "vpc-0abc12345def67890",
		"primarySubnetIds": []any{"subnet-0aaa1111bbb22222c", "subnet-0ddd3333eee44444f"},
		"extraVpcs":        `[{"vpcId":"vpc-0e1234567","region":"us-east-1"}]`,
		"appClientCidrs":   "10.20.0.0/16",
		"metricsMode":      "api",
		"vpcEgress":        "true",
	}), "")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if s.Account != "210987654321" || s.Replicas != 2 || s.RecordTTL != 5 || s.MetricsMode != config.MetricsAPI {
		t.Errorf("scalars: %+v", s)
	}
	if !reflect.DeepEqual(s.PrimaryAZs, []string{"us-east-1a", "us-east-1c"}) ||
		!reflect.DeepEqual(s.SecondaryAZs, []string{"us-west-2b", "us-west-2c"}) {
		t.Errorf("zones: %v %v", s.PrimaryAZs, s.SecondaryAZs)
	}
	if len(s.PrimarySubnetIDs) != 2 || s.PrimaryVpcID != "vpc-0abc12345def67890" {
		t.Errorf("imported VPC: %q %v", s.PrimaryVpcID, s.PrimarySubnetIDs)
	}
	if !reflect.DeepEqual(s.ExtraVpcs, []ExtraVpc{{VpcID: "vpc-0e1234567", Region: "us-east-1"}}) {
		t.Errorf("extraVpcs: %+v", s.ExtraVpcs)
	}
	if !reflect.DeepEqual(s.AppClientCidrs, []string{"10.20.0.0/16"}) {
		t.Errorf("appClientCidrs: %v", s.AppClientCidrs)
	}
}

// Each bad value is reported with its context key and what to do instead.
func TestLoadRejectsBadContext(t *testing.T) {
	cases := []struct {
		name    string
		ctx     map[string]any
		account string
		want    []string // substrings of the error
	}{
		{"no account", nil, "", []string{`"account" is not set`, "-c account=123456789012"}},
		{"account shape", map[string]any{"account": "12345"}, "", []string{`"account" = 12345`, "12-digit"}},
		{"region", map[string]any{"primaryRegion": "virginia"}, "1", []string{`"primaryRegion" = virginia`, "such as us-east-1"}},
		{"same regions", map[string]any{"secondaryRegion": "us-east-1"}, "1", []string{`"secondaryRegion"`, "must differ from primaryRegion"}},
		{"one zone", map[string]any{"primaryAzs": "us-east-1a"}, "1", []string{`"primaryAzs"`, "at least two availability zones"}},
		{"foreign zone", map[string]any{"secondaryAzs": []any{"us-east-1a", "us-east-1b"}}, "1", []string{`"secondaryAzs"`, "zones of us-west-2"}},
		{"vpc id", map[string]any{"primaryVpcId": "my-vpc", "primarySubnetIds": "subnet-0aaa1111,subnet-0bbb2222"}, "1", []string{`"primaryVpcId" = my-vpc`, "vpc-0abc12345def67890"}},
		{"vpc without subnets", map[string]any{"secondaryVpcId": "vpc-0abc1234"}, "1", []string{`"secondarySubnetIds"`, "at least two private subnet ids"}},
		{"subnets without vpc", map[string]any{"primarySubnetIds": "subnet-0aaa1111,subnet-0bbb2222"}, "1", []string{`"primarySubnetIds"`, "need primaryVpcId too"}},
		{"subnet id", map[string]any{"primaryVpcId": "vpc-0abc1234", "primarySubnetIds": "subnet-0aaa1111,sn-2"}, "1", []string{`"primarySubnetIds"`, "subnet-0abc12345def67890"}},
		{"extra vpcs json", map[string]any{"extraVpcs": "vpc-1"}, "1", []string{`"extraVpcs"`, `"vpcId":"vpc-0abc1234"`}},
		{"extra vpcs entry", map[string]any{"extraVpcs": []any{map[string]any{"vpcId": "vpc-0abc1234"}}}, "1", []string{`"extraVpcs"`, `needs "vpcId"`}},
		{"cidr", map[string]any{"appClientCidrs": "10.0.0.0"}, "1", []string{`"appClientCidrs"`, "10.20.0.0/16"}},
		{"overlapping vpcs", map[string]any{"secondaryCidr": "10.0.128.0/17"}, "1", []string{`"secondaryCidr" = 10.0.128.0/17`, "must not overlap primaryCidr (10.0.0.0/16)"}},
		{"vpc cidr shape", map[string]any{"primaryCidr": "10.0.0.1/16"}, "1", []string{`"primaryCidr" = 10.0.0.1/16`, "IPv4 CIDR block"}},
		{"vpc too small", map[string]any{"primaryCidr": "10.0.0.0/24"}, "1", []string{`"primaryCidr" = 10.0.0.0/24`, "/16 to /22"}},
		{"node type", map[string]any{"nodeType": "r7g.large"}, "1", []string{`"nodeType" = r7g.large`, "cache.r7g.large"}},
		{"t nodes", map[string]any{"nodeType": "cache.t4g.medium"}, "1", []string{`"nodeType"`, "no T-family"}},
		{"engine", map[string]any{"engineVersion": "4.0"}, "1", []string{`"engineVersion" = 4.0`, "not offered", "5.0.6, 6.0, 6.2, 7.0, 7.1"}},
		{"engine below 5.0.6", map[string]any{"engineVersion": "5.0.5"}, "1", []string{`"engineVersion" = 5.0.5`, "not offered"}},
		{"engine text", map[string]any{"engineVersion": "seven"}, "1", []string{`"engineVersion" = seven`, "not offered"}},
		{"redis 7.2", map[string]any{"engineVersion": "7.2"}, "1", []string{`"engineVersion" = 7.2`, "use engine valkey"}},
		{"valkey 7.1", map[string]any{"engine": "valkey", "engineVersion": "7.1"}, "1", []string{`"engineVersion" = 7.1`, "Valkey starts at 7.2"}},
		{"engine name", map[string]any{"engine": "memcached"}, "1", []string{`"engine" = memcached`, "redis (Redis OSS, the default) or valkey"}},
		{"replicas zero", map[string]any{"replicas": float64(0)}, "1", []string{`"replicas" = 0`, "at least one replica"}},
		{"replicas text", map[string]any{"replicas": "one"}, "1", []string{`"replicas" = one`, "whole number"}},
		{"replicas fraction", map[string]any{"replicas": 1.5}, "1", []string{`"replicas" = 1.5`, "whole number"}},
		{"port", map[string]any{"port": float64(80)}, "1", []string{`"port" = 80`, "1024 to 65535"}},
		{"suffix", map[string]any{"globalIdSuffix": "-x"}, "1", []string{`"globalIdSuffix"`, "starting with a letter"}},
		{"group id", map[string]any{"primaryReplicationGroupId": "redis--primary"}, "1", []string{`"primaryReplicationGroupId"`, "single hyphens"}},
		{"zone", map[string]any{"zoneName": "Internal_"}, "1", []string{`"zoneName"`, "DNS name"}},
		{"record outside zone", map[string]any{"recordName": "redis.example.com"}, "1", []string{`"recordName"`, "inside zoneName"}},
		{"record at apex", map[string]any{"recordName": "internal"}, "1", []string{`"recordName"`, "zone apex"}},
		{"ttl", map[string]any{"recordTtl": float64(0)}, "1", []string{`"recordTtl" = 0`, "1 to 300"}},
		{"high-resolution route 53 alarm", map[string]any{"alarmPeriod": float64(30)}, "1", []string{`"alarmPeriod" = 30`, "standard-resolution"}},
		{"evaluations", map[string]any{"alarmEvaluationPeriods": float64(0)}, "1", []string{`"alarmEvaluationPeriods" = 0`, "1 to 10"}},
		{"fast period", map[string]any{"fastAlarmPeriod": float64(60)}, "1", []string{`"fastAlarmPeriod" = 60`, "10, 20 or 30"}},
		{"check timeout", map[string]any{"checkTimeout": "2"}, "1", []string{`"checkTimeout" = 2`, "Go duration"}},
		// The runtime's own refusal, in its own words, under the context key.
		{"check timeout the checker refuses", map[string]any{"checkTimeout": "90s"}, "1", []string{`"checkTimeout" = 90s`, "the checker refuses it at start", `CHECK_TIMEOUT="1m30s"`, "at most 60s"}},
		{"check timeout beyond the function", map[string]any{"checkTimeout": "9s"}, "1", []string{`"checkTimeout" = 9s`, "the checker refuses it at start", "FUNCTION_TIMEOUT=10s is shorter than", "= 12.7s"}},
		{"check timeout zero", map[string]any{"checkTimeout": "0s"}, "1", []string{`"checkTimeout" = 0s`, "positive Go duration"}},
		{"promoter mode", map[string]any{"promoterMode": "yolo"}, "1", []string{`"promoterMode" = yolo`, "off, advise"}},
		{"metrics mode", map[string]any{"metricsMode": "statsd"}, "1", []string{`"metricsMode" = statsd`, "emf"}},
		{"email", map[string]any{"alarmEmail": "ops"}, "1", []string{`"alarmEmail" = ops`, "email address"}},
		{"connections", map[string]any{"maxConnections": float64(0)}, "1", []string{`"maxConnections"`, "positive"}},
		{"lag", map[string]any{"replicationLagSeconds": float64(-1)}, "1", []string{`"replicationLagSeconds"`, "positive"}},
		{"vpc endpoints", map[string]any{"vpcEndpoints": "maybe"}, "1", []string{`"vpcEndpoints" = maybe`, "true or false"}},
		{"string expected", map[string]any{"nodeType": float64(3)}, "1", []string{`"nodeType" = 3`, "give a string"}},
		{"list expected", map[string]any{"primaryAzs": float64(3)}, "1", []string{`"primaryAzs" = 3`, "list of strings"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			account := c.account
			if account == "1" {
				account = "123456789012"
			}
			_, err := Load(ctxOf(c.ctx), account)
			if err == nil {
				t.Fatalf("Load(%v) = nil error, want one naming %q", c.ctx, c.want)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
		})
	}
}

// The documented minimum engine and the usual versions are accepted, of
// both engines; each engine's default is its newest.
func TestLoadAcceptsEngineVersions(t *testing.T) {
	for _, v := range []string{"5.0.6", "6.2", "7.0", "7.1"} {
		if _, err := Load(ctxOf(map[string]any{"engineVersion": v}), "123456789012"); err != nil {
			t.Errorf("engineVersion %s: %v", v, err)
		}
	}
	for _, v := range []string{"7.2", "8.0", "8.2"} {
		if _, err := Load(ctxOf(map[string]any{"engine": "valkey", "engineVersion": v}), "123456789012"); err != nil {
			t.Errorf("valkey %s: %v", v, err)
		}
	}
	for e, want := range map[string]string{"": "7.1", "redis": "7.1", "valkey": "8.2", "Valkey": "8.2"} {
		s, err := Load(ctxOf(map[string]any{"engine": e}), "123456789012")
		if err != nil || s.EngineVersion != want {
			t.Errorf("engine %q: version %q, %v; want %s", e, s.EngineVersion, err, want)
		}
	}
}

// All problems are reported at once, not one per run.
func TestLoadReportsEveryProblem(t *testing.T) {
	_, err := Load(ctxOf(map[string]any{"recordTtl": float64(0), "port": float64(1)}), "123456789012")
	if err == nil || !strings.Contains(err.Error(), "recordTtl") || !strings.Contains(err.Error(), "port") {
		t.Fatalf("want both recordTtl and port in the error, got %v", err)
	}
}

// auto must be able to read the other region's CloudWatch: a NAT in the
// VPCs the app creates (the default with auto), or a declared route out of
// imported ones. Imported VPCs get no interface endpoints unless asked.
func TestAutoNeedsARouteAndImportedVpcsKeepTheirEndpoints(t *testing.T) {
	imported := map[string]any{"primaryVpcId": "vpc-0abc12345", "primarySubnetIds": "subnet-0aaa11112,subnet-0bbb22223",
		"secondaryVpcId": "vpc-0def67890", "secondarySubnetIds": "subnet-0ccc33334,subnet-0ddd44445"}
	with := func(base map[string]any, kv ...any) map[string]any {
		m := map[string]any{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	for _, c := range []struct {
		name   string
		ctx    map[string]any
		refuse string // a key the refusal names; "" when it synthesizes
		nat    bool
		ends   bool
	}{
		{"advise, created VPCs", nil, "", false, true},
		// The witness gives auto its view from outside: no NAT needed.
		{"auto, created VPCs: the witness, no NAT by default", map[string]any{"promoterMode": "auto"}, "", false, true},
		{"auto on alarm checks, created VPCs: a NAT by default", map[string]any{"promoterMode": "auto", "dnsHealthCheck": "alarm"}, "", true, true},
		{"auto on alarm checks without the NAT", map[string]any{"promoterMode": "auto", "dnsHealthCheck": "alarm", "natGateway": false}, `"promoterMode"`, false, true},
		{"imported VPCs: no endpoints by default", with(imported, "vpcEgress", true), "", false, false},
		{"imported VPCs: the promoter needs a declared way out", imported, `"vpcEgress"`, false, false},
		{"auto in imported VPCs without a route", with(imported, "promoterMode", "auto"), `"promoterMode"`, false, false},
		{"auto in imported VPCs with their NAT", with(imported, "promoterMode", "auto", "vpcEgress", true), "", false, false},
		{"a NAT in imported VPCs", with(imported, "natGateway", true, "vpcEgress", true), `"natGateway"`, true, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := Load(ctxOf(c.ctx), "123456789012")
			if c.refuse != "" {
				if err == nil || !strings.Contains(err.Error(), c.refuse) {
					t.Fatalf("err = %v, want a refusal naming %s", err, c.refuse)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.NatGateway != c.nat || s.VpcEndpoints != c.ends {
				t.Errorf("natGateway %v, vpcEndpoints %v; want %v, %v", s.NatGateway, s.VpcEndpoints, c.nat, c.ends)
			}
		})
	}
}

// The faster knobs: a check every 10–30 s (a whole number a minute), a stall
// bound that stays above an in-region failover and three checks, Minimum or
// Maximum on the writable alarms; each reaches the model.
func TestFasterKnobs(t *testing.T) {
	s, err := Load(ctxOf(map[string]any{"checkInterval": "10", "promoterStallAfter": "90s", "writableStatistic": "Maximum", "dnsHealthCheck": "alarm"}), "123456789012")
	if err != nil {
		t.Fatal(err)
	}
	d := New(s)
	if d.Loop.Interval != 10*time.Second || d.Regions[1].Promoter.Bounds.StallAfter != 90*time.Second ||
		d.Regions[1].Promoter.Bounds.HeartbeatInterval != 10*time.Second || d.Regions[0].Writable.Statistic != "Maximum" ||
		d.Regions[0].Unhealthy.Statistic != "Minimum" || d.DNS.Records[1].HealthCheck.Alarm.Statistic != "Maximum" {
		t.Errorf("the knobs did not reach the model: %+v", d.Loop)
	}
	for key, v := range map[string]any{"checkInterval": "25", "promoterStallAfter": "20s", "writableStatistic": "Average"} {
		if _, err := Load(ctxOf(map[string]any{key: v}), "123456789012"); err == nil || !strings.Contains(err.Error(), `"`+key+`"`) {
			t.Errorf("%s=%v: err %v, want a refusal naming it", key, v, err)
		}
	}
}

// The endpoint design's knobs reach the model: each record and witness on
// its region's HTTPS check, each promoter reading the other region's
// witness with the silent-region acceptance; alarm checks have none.
func TestEndpointChecksReachTheModel(t *testing.T) {
	s, err := Load(ctxOf(map[string]any{"healthCheckInterval": "30", "healthCheckFailureThreshold": "3"}), "123456789012")
	if err != nil {
		t.Fatal(err)
	}
	if want := 5*time.Second + 20*time.Second + 90*time.Second + 5*time.Second; s.SilentMaxDataLoss != want {
		t.Errorf("silentMaxDataLoss %s, want the witness's resolution %s", s.SilentMaxDataLoss, want)
	}
	d := New(s)
	for i, r := range d.Regions {
		e := d.DNS.Records[i].HealthCheck.Endpoint
		if e == nil || e.Region != r.Name || e.RequestInterval != 30*time.Second || e.FailureThreshold != 3 || e.Path != WritableEndpointPath {
			t.Errorf("record %d: %+v", i, e)
		}
		if w := d.DNS.Witnesses[i]; w.Name != WitnessName("redis.internal", r.Name) || w.HealthCheck.Endpoint == nil {
			t.Errorf("witness %d: %+v", i, w)
		}
		if r.WritableEndpoint == nil || r.WritableEndpoint.Serve != config.ServeWritableURL || r.WritableEndpoint.Check.Heartbeat {
			t.Errorf("region %s's writable endpoint: %+v", r.Name, r.WritableEndpoint)
		}
		peer := d.Peer(r)
		if r.Promoter.PeerWitness != WitnessName("redis.internal", peer.Name) || r.Promoter.Bounds.SilentMaxDataLoss != s.SilentMaxDataLoss {
			t.Errorf("region %s's promoter: witness %q, silent loss %s", r.Name, r.Promoter.PeerWitness, r.Promoter.Bounds.SilentMaxDataLoss)
		}
	}
	if _, err := Load(ctxOf(map[string]any{"dnsHealthCheck": "alarm", "silentMaxDataLoss": "45s"}), "123456789012"); err == nil ||
		!strings.Contains(err.Error(), `"silentMaxDataLoss"`) {
		t.Errorf("a silent-region acceptance without a witness: %v", err)
	}
	a, err := Load(ctxOf(map[string]any{"dnsHealthCheck": "alarm"}), "123456789012")
	if err != nil {
		t.Fatal(err)
	}
	if d := New(a); d.DNS.Witnesses[0].Name != "" || d.Regions[0].WritableEndpoint != nil || d.Regions[1].Promoter.PeerWitness != "" ||
		d.DNS.Records[0].HealthCheck.Alarm.Name == "" {
		t.Errorf("alarm checks: %+v", d.DNS)
	}
	for key, v := range map[string]any{"dnsHealthCheck": "http", "healthCheckInterval": "20", "healthCheckFailureThreshold": "11", "silentMaxDataLoss": "soon"} {
		if _, err := Load(ctxOf(map[string]any{key: v}), "123456789012"); err == nil || !strings.Contains(err.Error(), `"`+key+`"`) {
			t.Errorf("%s=%v: err %v, want a refusal naming it", key, v, err)
		}
	}
}
