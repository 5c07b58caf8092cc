package stacks

import (
	"encoding/json"
	"github.com/redisha/redisha/internal/deployment"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/jsii-runtime-go"
)

// resources returns the properties of every resource of one type.
func resources(tp assertions.Template, typ string) []map[string]any {
	var out []map[string]any
	for _, r := range *tp.FindResources(jsii.String(typ), nil) {
		p, _ := (*r)["Properties"].(map[string]any)
		out = append(out, p)
	}
	return out
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// The cache's port is open to the checker's and the app clients' security
// groups, and to the other region's VPC range (security groups cannot name
// each other across regions); the checker reaches nothing else but Secrets
// Manager's endpoint; app clients reach this cache and the other region's.
func TestCacheReachableOnlyFromTheChecker(t *testing.T) {
	_, tpl := synth(t)
	for stack, remote := range map[string]string{"primary": "10.1.0.0/16", "secondary": "10.0.0.0/16"} {
		var toCache []map[string]any
		for _, in := range resources(tpl[stack], "AWS::EC2::SecurityGroupIngress") {
			if in["FromPort"] == float64(6379) {
				toCache = append(toCache, in)
			}
			if in["CidrIp"] != nil || in["CidrIpv6"] != nil {
				t.Errorf("%s: ingress from an address range %v", stack, in)
			}
		}
		sources := ""
		for _, in := range toCache {
			sources += jsonOf(in["SourceSecurityGroupId"])
		}
		if len(toCache) != 3 || !strings.Contains(sources, "CheckerSG") || !strings.Contains(sources, "PromoterSG") || !strings.Contains(sources, "AppClientSG") {
			t.Errorf("%s: ingress to 6379 = %v, want three: from the checker's, the promoter's and the app clients' security groups", stack, toCache)
		}
		for _, sg := range resources(tpl[stack], "AWS::EC2::SecurityGroup") {
			in := jsonOf(sg["SecurityGroupIngress"])
			if sg["SecurityGroupIngress"] != nil && (!strings.HasPrefix(jsonOf(sg["GroupDescription"]), `"ElastiCache`) ||
				in != `[{"CidrIp":"`+remote+`","Description":"clients in the other region's VPC `+remote+`","FromPort":6379,"IpProtocol":"tcp","ToPort":6379}]`) {
				t.Errorf("%s: inline ingress %s on %v, want only the other region's VPC on the cache's port", stack, in, sg["GroupDescription"])
			}
		}
		egress := map[string][]string{} // source group → port→destination group
		for _, out := range resources(tpl[stack], "AWS::EC2::SecurityGroupEgress") {
			from := jsonOf(out["GroupId"])
			from = from[strings.Index(from, `["`)+2 : strings.Index(from, `SG`)+2]
			to := jsonOf(out["DestinationSecurityGroupId"])
			to = to[strings.Index(to, `["`)+2 : strings.Index(to, `SG`)+2]
			egress[from] = append(egress[from], jsonOf(out["FromPort"])+"→"+to)
		}
		for from, want := range map[string][]string{
			"CheckerSG":   {"443→ElastiCacheEndpointSG", "443→SecretsEndpointSG", "6379→CacheSG"},
			"PromoterSG":  {"443→ElastiCacheEndpointSG", "443→SecretsEndpointSG", "443→SnsEndpointSG", "6379→CacheSG"},
			"AppClientSG": {"6379→CacheSG"},
		} {
			got := slices.Sorted(slices.Values(egress[from]))
			if !slices.Equal(got, want) {
				t.Errorf("%s: %s egress to groups %v, want %v", stack, from, got, want)
			}
		}
		// HTTPS to addresses: the promoter's only (DynamoDB's gateway endpoint).
		for _, sg := range resources(tpl[stack], "AWS::EC2::SecurityGroup") {
			if out := jsonOf(sg["SecurityGroupEgress"]); strings.Contains(out, `"CidrIp":"0.0.0.0/0"`) && sg["GroupDescription"] != "redisha promoter" {
				t.Errorf("%s: %v may reach any address: %s", stack, sg["GroupDescription"], out)
			}
		}
		has(t, tpl[stack], jsii.String("AWS::EC2::SecurityGroup"), obj(map[string]any{
			"GroupDescription":    "redisha: attach to application clients of the cache",
			"SecurityGroupEgress": []any{map[string]any{"CidrIp": remote, "FromPort": 6379, "ToPort": 6379, "IpProtocol": "tcp", "Description": "to the other region's cache"}},
		}))
		// EMF by default: no monitoring endpoint; Secrets Manager for both
		// functions, the ElastiCache API, SNS and DynamoDB for the promoter.
		var services []string
		for _, e := range resources(tpl[stack], "AWS::EC2::VPCEndpoint") {
			name := jsonOf(e["ServiceName"])
			services = append(services, name[strings.LastIndex(name, ".")+1:len(name)-1]+":"+e["VpcEndpointType"].(string))
		}
		if got := slices.Sorted(slices.Values(services)); !slices.Equal(got, []string{"dynamodb:Gateway", "elasticache:Interface", "secretsmanager:Interface", "sns:Interface"}) {
			t.Errorf("%s: endpoints %v, want Secrets Manager, ElastiCache and SNS interfaces and a DynamoDB gateway", stack, got)
		}
		// A minimal private VPC: no internet or NAT gateway.
		countIs(t, tpl[stack], jsii.String("AWS::EC2::NatGateway"), jsii.Number(0))
		countIs(t, tpl[stack], jsii.String("AWS::EC2::InternetGateway"), jsii.Number(0))
	}
}

// The two VPCs the app creates have distinct ranges and are peered across
// regions, with routes both ways: a client of either region reaches the
// endpoint the failover name leads to.
func TestCreatedVpcsArePeered(t *testing.T) {
	_, tpl := synth(t)
	has(t, tpl["primary"], jsii.String("AWS::EC2::VPC"), obj(map[string]any{"CidrBlock": "10.0.0.0/16"}))
	has(t, tpl["secondary"], jsii.String("AWS::EC2::VPC"), obj(map[string]any{"CidrBlock": "10.1.0.0/16"}))
	has(t, tpl["secondary"], jsii.String("AWS::EC2::VPCPeeringConnection"), obj(map[string]any{
		"VpcId": map[string]any{"Ref": assertions.Match_StringLikeRegexp(jsii.String("^Vpc"))}, "PeerVpcId": assertions.Match_AnyValue(), "PeerRegion": "us-east-1",
	}))
	for stack, want := range map[string]string{"secondary": "10.0.0.0/16", "dns": "10.1.0.0/16"} {
		routes := resources(tpl[stack], "AWS::EC2::Route")
		if len(routes) != 2 {
			t.Errorf("%s: %d routes, want one per subnet route table (2)", stack, len(routes))
		}
		for _, r := range routes {
			if r["DestinationCidrBlock"] != want || r["VpcPeeringConnectionId"] == nil {
				t.Errorf("%s: route %v, want %s through the peering", stack, r, want)
			}
		}
	}
	countIs(t, tpl["primary"], jsii.String("AWS::EC2::VPCPeeringConnection"), jsii.Number(0))
}

// The secondary region's functions read the secrets' replicas in their own
// region: the checker and the promoter the AUTH token and the heartbeat
// key, the writable endpoint the AUTH token only.
func TestSecondaryCheckerReadsTheReplicaSecret(t *testing.T) {
	_, tpl := synth(t)
	grants := map[string][]string{} // role → GetSecretValue resources, as JSON
	for _, role := range []string{"CheckerRole", "PromoterRole", "WritableEndpointRole"} {
		for _, st := range roleStatements(tpl["secondary"], role) {
			if st["Action"] == "secretsmanager:GetSecretValue" {
				grants[role] = append(grants[role], jsonOf(st["Resource"]))
			}
		}
		if len(grants[role]) != 1 {
			t.Fatalf("%s: GetSecretValue statements %v, want one", role, grants[role])
		}
	}
	checker, endpoint := grants["CheckerRole"][0], grants["WritableEndpointRole"][0]
	if checker != grants["PromoterRole"][0] || strings.Count(checker, ":secretsmanager:us-west-2:") != 2 ||
		!strings.Contains(checker, "AuthToken") || !strings.Contains(checker, "HeartbeatKey") {
		t.Errorf("secondary GetSecretValue on %v, want the two replicas in us-west-2 only, for the checker and the promoter", grants)
	}
	if strings.Count(endpoint, ":secretsmanager:us-west-2:") != 1 || !strings.Contains(endpoint, "AuthToken") || strings.Contains(endpoint, "HeartbeatKey") {
		t.Errorf("the writable endpoint's GetSecretValue on %s, want the AUTH token's replica in us-west-2 only", endpoint)
	}
	vars := func(f map[string]any) map[string]any {
		return f["Environment"].(map[string]any)["Variables"].(map[string]any)
	}
	for _, f := range checkers(tpl["secondary"]) {
		for _, k := range []string{"REDIS_AUTH_SECRET_ARN", "HEARTBEAT_KEY_SECRET_ARN"} {
			if v := jsonOf(vars(f)[k]); vars(f)[k] == nil || !strings.Contains(checker, v) {
				t.Errorf("checker %s %s is not a secret the role may read (%s)", k, v, checker)
			}
		}
	}
	for _, f := range writableEndpoints(tpl["secondary"]) {
		if v := jsonOf(vars(f)["REDIS_AUTH_SECRET_ARN"]); vars(f)["REDIS_AUTH_SECRET_ARN"] == nil || !strings.Contains(endpoint, v) {
			t.Errorf("writable endpoint REDIS_AUTH_SECRET_ARN %s is not the secret its role may read (%s)", v, endpoint)
		}
	}
}

func TestOutputs(t *testing.T) {
	_, tpl := synth(t)
	want := map[string][]string{
		"primary":   {"PrimaryEndpoint", "GlobalDatastoreId", "AuthTokenSecretArn", "UnhealthyAlarmName", "WritableAlarmName", "FastAlarmName", "AlarmTopicArn", "CheckerFunction", "WritableEndpointHost", "AppClientSecurityGroupId", "DashboardUrl"},
		"secondary": {"SecondaryEndpoint", "FastAlarmName", "WritableAlarmName", "AlarmTopicArn", "CheckerFunction", "WritableEndpointHost", "AppClientSecurityGroupId", "DashboardUrl"},
		"dns":       {"HostedZoneId", "HealthCheckId", "SecondaryHealthCheckId", "RecordName"},
	}
	for stack, names := range want {
		outs := *tpl[stack].FindOutputs(jsii.String("*"), nil)
		for _, n := range names {
			if _, ok := outs[n]; !ok {
				t.Errorf("%s: no output %s", stack, n)
			}
		}
	}
}

// GIVEN existing VPCs, the CloudWatch API instead of EMF, an EKS VPC, an
// application CIDR, an on-call address and two replicas.
func TestImportedVpcsAPIMetricsAndExtras(t *testing.T) {
	s := build(t, map[string]any{
		"primaryVpcId": "vpc-0abc12345def67890", "primarySubnetIds": "subnet-0aaa1111bbb22222c,subnet-0ddd3333eee44444f",
		"secondaryVpcId": "vpc-0fed98765cba43210", "secondarySubnetIds": []any{"subnet-0123456789abcdef0", "subnet-0fedcba987654321f"},
		"metricsMode": "api", "extraVpcs": []any{map[string]any{"vpcId": "vpc-0e1234567", "region": "us-east-1"}},
		"appClientCidrs": "10.20.0.0/16", "alarmEmail": "oncall@example.com", "replicas": float64(2),
		"primaryCidr":  "10.30.0.0/16", // the imported primary VPC's range: the secondary cache admits it
		"vpcEndpoints": true,           // off by default in imported VPCs (their owner's serve them)
		"vpcEgress":    true,           // the promoter's latch and APIs: the owner's NAT
	})
	noNagErrors(t, s)
	for stack, subnets := range map[string][]any{
		"primary":   {"subnet-0aaa1111bbb22222c", "subnet-0ddd3333eee44444f"},
		"secondary": {"subnet-0123456789abcdef0", "subnet-0fedcba987654321f"},
	} {
		tp := s.tpl[stack]
		// THEN no VPC is created, the given subnets are used…
		countIs(t, tp, jsii.String("AWS::EC2::VPC"), jsii.Number(0))
		has(t, tp, jsii.String("AWS::ElastiCache::SubnetGroup"), obj(map[string]any{"SubnetIds": subnets}))
		has(t, tp, jsii.String("AWS::ElastiCache::ReplicationGroup"), obj(map[string]any{"NumCacheClusters": 3}))
		// …PutMetricData goes through a monitoring endpoint…
		has(t, tp, jsii.String("AWS::Lambda::Function"), obj(map[string]any{
			"Environment": map[string]any{"Variables": assertions.Match_ObjectLike(&map[string]interface{}{"METRICS_MODE": "api"})},
		}))
		var services []string
		for _, e := range resources(tp, "AWS::EC2::VPCEndpoint") {
			services = append(services, jsonOf(e["ServiceName"]))
		}
		if len(services) != 4 || !strings.Contains(strings.Join(services, " "), `.monitoring"`) || strings.Contains(strings.Join(services, " "), "dynamodb") {
			t.Errorf("%s: endpoints %v, want monitoring, secretsmanager, elasticache and sns (no DynamoDB gateway: the route tables are not known)", stack, services)
		}
		// …the application CIDR reaches the port, and alarms mail on-call.
		ingress := []any{map[string]any{"CidrIp": "10.20.0.0/16", "FromPort": 6379, "ToPort": 6379, "IpProtocol": "tcp"}}
		if stack == "secondary" {
			ingress = append(ingress, map[string]any{"CidrIp": "10.30.0.0/16", "FromPort": 6379, "ToPort": 6379, "IpProtocol": "tcp"})
		}
		has(t, tp, jsii.String("AWS::EC2::SecurityGroup"), obj(map[string]any{"SecurityGroupIngress": ingress}))
		has(t, tp, jsii.String("AWS::SNS::Subscription"), obj(map[string]any{"Protocol": "email", "Endpoint": "oncall@example.com"}))
	}
	// Imported VPCs are connected by their owner: no peering, no routes.
	for _, stack := range []string{"secondary", "dns"} {
		countIs(t, s.tpl[stack], jsii.String("AWS::EC2::VPCPeeringConnection"), jsii.Number(0))
		countIs(t, s.tpl[stack], jsii.String("AWS::EC2::Route"), jsii.Number(0))
	}
	// The zone is in both VPCs and the EKS one.
	has(t, s.tpl["dns"], jsii.String("AWS::Route53::HostedZone"), obj(map[string]any{"VPCs": []any{
		map[string]any{"VPCId": "vpc-0abc12345def67890", "VPCRegion": "us-east-1"},
		map[string]any{"VPCId": "vpc-0fed98765cba43210", "VPCRegion": "us-west-2"},
		map[string]any{"VPCId": "vpc-0e1234567", "VPCRegion": "us-east-1"},
	}}))
}

// GIVEN VPCs that already reach AWS (their own endpoints or a NAT) and
// other regions, THEN no endpoint is created and the checker may call
// HTTPS out; everything follows the regions given.
func TestWithoutEndpointsInOtherRegions(t *testing.T) {
	s := build(t, map[string]any{"vpcEndpoints": "false", "secondaryRegion": "eu-west-1", "secondaryAzs": "eu-west-1a,eu-west-1b"})
	noNagErrors(t, s)
	for _, stack := range []string{"primary", "secondary"} {
		countIs(t, s.tpl[stack], jsii.String("AWS::EC2::VPCEndpoint"), jsii.Number(0))
		has(t, s.tpl[stack], jsii.String("AWS::EC2::SecurityGroup"), obj(map[string]any{
			"GroupDescription":    "redisha health checker",
			"SecurityGroupEgress": []any{map[string]any{"CidrIp": "0.0.0.0/0", "FromPort": 443, "ToPort": 443, "IpProtocol": "tcp"}},
		}))
	}
	if r := *s.app.Secondary.Region(); r != "eu-west-1" {
		t.Errorf("secondary stack in %s", r)
	}
	has(t, s.tpl["primary"], jsii.String("AWS::SecretsManager::Secret"), obj(map[string]any{
		"ReplicaRegions": []any{map[string]any{"Region": "eu-west-1"}},
	}))
	has(t, s.tpl["dns"], jsii.String("AWS::Route53::HostedZone"), obj(map[string]any{"VPCs": []any{
		map[string]any{"VPCId": assertions.Match_AnyValue(), "VPCRegion": "us-east-1"},
		map[string]any{"VPCId": assertions.Match_AnyValue(), "VPCRegion": "eu-west-1"},
	}}))
}

// The nag check is real: an unencrypted topic added to a stack is an error.
func TestNagReportsAnUnsuppressedError(t *testing.T) {
	s, err := deployment.Load(ctxOf(map[string]any{"account": "123456789012", "lambdaAsset": asset, "promoterAsset": asset}), "")
	if err != nil {
		t.Fatal(err)
	}
	app := awscdk.NewApp(&awscdk.AppProps{Context: &map[string]interface{}{
		"availability-zones:account=123456789012:region=us-east-1": []string{"us-east-1a", "us-east-1b"},
		"availability-zones:account=123456789012:region=us-west-2": []string{"us-west-2a", "us-west-2b"},
	}})
	b := Build(app, deployment.New(s))
	awssns.NewTopic(b.DNS.Stack, jsii.String("Plain"), nil)
	errs := assertions.Annotations_FromStack(b.DNS.Stack).FindError(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-SNS")))
	if len(*errs) == 0 {
		t.Error("cdk-nag did not report an unencrypted, non-TLS topic")
	}
}
