package stacks

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/redisha/redisha/internal/deployment"
)

// writableEndpointIDs returns the logical ids of a region stack's writable
// endpoint function and of its function URL, failing unless there is
// exactly one of each.
func writableEndpointIDs(t *testing.T, tp assertions.Template) (fn, url string) {
	t.Helper()
	for id, r := range *tp.FindResources(jsii.String("AWS::Lambda::Function"), nil) {
		p, _ := (*r)["Properties"].(map[string]any)
		if serve(p) == "writable-url" {
			if fn != "" {
				t.Fatalf("two writable endpoint functions: %s and %s", fn, id)
			}
			fn = id
		}
	}
	urls := *tp.FindResources(jsii.String("AWS::Lambda::Url"), nil)
	if fn == "" || len(urls) != 1 {
		t.Fatalf("writable endpoint function %q and %d function URLs, want one of each", fn, len(urls))
	}
	for id := range urls {
		url = id
	}
	return fn, url
}

// urlOf is the value a template gives for a function URL resource's URL.
func urlOf(url string) map[string]any { return map[string]any{"Fn::GetAtt": []any{url, "FunctionUrl"}} }

// hostOf is the host of a URL value (https://<host>/), as the templates
// take it.
func hostOf(url any) map[string]any {
	return map[string]any{"Fn::Select": []any{2, map[string]any{"Fn::Split": []any{"/", url}}}}
}

// Each region has one public function URL, on its writable endpoint
// function and on nothing else: Route 53's health checkers cannot sign
// requests. The region's output names the URL's host.
func TestWritableEndpointHasAPublicFunctionURL(t *testing.T) {
	_, tpl := synth(t)
	for _, stack := range []string{"primary", "secondary"} {
		fn, url := writableEndpointIDs(t, tpl[stack])
		arn := map[string]any{"Fn::GetAtt": []any{fn, "Arn"}}
		has(t, tpl[stack], jsii.String("AWS::Lambda::Url"), obj(map[string]any{"AuthType": "NONE", "TargetFunctionArn": arn}))
		// Anyone may invoke it, through the URL only.
		public := 0
		for _, p := range resources(tpl[stack], "AWS::Lambda::Permission") {
			if p["Principal"] != "*" {
				continue
			}
			public++
			viaURL := p["Action"] == "lambda:InvokeFunctionUrl" && p["FunctionUrlAuthType"] == "NONE" ||
				p["Action"] == "lambda:InvokeFunction" && p["InvokedViaFunctionUrl"] == true
			if jsonOf(p["FunctionName"]) != jsonOf(arn) || !viaURL {
				t.Errorf("%s: a public permission %v, want the writable endpoint's, through its URL", stack, p)
			}
		}
		if public != 2 {
			t.Errorf("%s: %d public permissions, want InvokeFunctionUrl and InvokeFunction through the URL", stack, public)
		}
		out := (*tpl[stack].FindOutputs(jsii.String(deployment.WritableEndpointOutput), nil))[deployment.WritableEndpointOutput]
		if out == nil || jsonOf((*out)["Value"]) != jsonOf(hostOf(urlOf(url))) {
			t.Errorf("%s: %s output %v, want the host of %s", stack, deployment.WritableEndpointOutput, out, url)
		}
	}
}

// The writable endpoint's own role grants exactly: its log streams, the
// AUTH token (never the heartbeat key: it does not write the heartbeat),
// the fence's DescribeGlobalReplicationGroups, and the VPC ENI actions,
// which its code is denied; no PutMetricData, even when the checker
// publishes through the API.
func TestWritableEndpointRoleIsLeastPrivilege(t *testing.T) {
	for name, s := range checkerVariants(t) {
		for _, stack := range []string{"primary", "secondary"} {
			grants := map[string]string{} // action → resource, as JSON
			denies := 0
			for _, st := range roleStatements(s.tpl[stack], "WritableEndpointRole") {
				if st["Effect"] != "Allow" {
					denies++
					if st["Sid"] != "DenyEniChangesFromFunctionCode" {
						t.Errorf("%s/%s: statement %v", name, stack, st)
					}
					continue
				}
				actions, ok := st["Action"].([]any)
				if !ok {
					actions = []any{st["Action"]}
				}
				for _, a := range actions {
					grants[a.(string)] = jsonOf(st["Resource"])
				}
			}
			want := map[string]string{
				"logs:CreateLogStream":                        `"WritableEndpointLogs`,
				"logs:PutLogEvents":                           `"WritableEndpointLogs`,
				"secretsmanager:GetSecretValue":               "AuthToken",
				"elasticache:DescribeGlobalReplicationGroups": ":globalreplicationgroup:",
			}
			eni := []string{"ec2:DescribeNetworkInterfaces", "ec2:CreateNetworkInterface", "ec2:DeleteNetworkInterface",
				"ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"}
			for action, res := range grants {
				switch {
				case slices.Contains(eni, action):
					if res != `"*"` {
						t.Errorf("%s/%s: %s on %s", name, stack, action, res)
					}
				case want[action] == "":
					t.Errorf("%s/%s: the writable endpoint may %s on %s, which it does not need", name, stack, action, res)
				case !strings.Contains(res, want[action]) || strings.Contains(res, `"*"`) || strings.Contains(res, "HeartbeatKey"):
					t.Errorf("%s/%s: %s on %s, want only %s", name, stack, action, res, want[action])
				}
			}
			for _, action := range append(eni, "logs:PutLogEvents", "secretsmanager:GetSecretValue", "elasticache:DescribeGlobalReplicationGroups") {
				if _, ok := grants[action]; !ok {
					t.Errorf("%s/%s: the writable endpoint may not %s", name, stack, action)
				}
			}
			if denies != 1 {
				t.Errorf("%s/%s: %d Deny statements, want the one on ENI changes from the function's code", name, stack, denies)
			}
		}
	}
}

// The failover records follow Route 53 HTTPS health checks on each region's
// writable endpoint: the primary's host through an import of the primary
// stack's export (same region), the secondary's through the cross-region
// reader of what the secondary stack writes. Each region's witness is a
// TXT failover pair on the same check: PRIMARY "writable" with it,
// SECONDARY "not-writable" without.
func TestRecordsAndWitnessesFollowTheWritableEndpoints(t *testing.T) {
	_, tpl := synth(t)
	// What the DNS stack must name as each region's URL.
	_, primaryURL := writableEndpointIDs(t, tpl["primary"])
	var exported string
	for _, o := range *tpl["primary"].FindOutputs(jsii.String("*"), nil) {
		if jsonOf((*o)["Value"]) == jsonOf(urlOf(primaryURL)) {
			exported, _ = (*o)["Export"].(map[string]any)["Name"].(string)
		}
	}
	_, secondaryURL := writableEndpointIDs(t, tpl["secondary"])
	var written string
	for _, w := range resources(tpl["secondary"], "Custom::CrossRegionExportWriter") {
		props := w["WriterProps"].(map[string]any)
		for name, v := range props["exports"].(map[string]any) {
			if jsonOf(v) == jsonOf(urlOf(secondaryURL)) && props["region"] == "us-east-1" {
				written = name
			}
		}
	}
	var reader string
	for id, r := range *tpl["dns"].FindResources(jsii.String("Custom::CrossRegionExportReader"), nil) {
		imports := (*r)["Properties"].(map[string]any)["ReaderProps"].(map[string]any)["imports"].(map[string]any)
		if _, ok := imports[written]; ok && written != "" {
			reader = id
		}
	}
	if exported == "" || written == "" || reader == "" {
		t.Fatalf("the primary's URL exported as %q, the secondary's written as %q and read by %q", exported, written, reader)
	}
	hosts := map[string]string{ // region → the host its check must probe, as JSON
		"us-east-1": jsonOf(hostOf(map[string]any{"Fn::ImportValue": exported})),
		"us-west-2": jsonOf(hostOf(map[string]any{"Fn::GetAtt": []any{reader, written}})),
	}
	checkOf := map[string]string{} // region → health check id
	for id, hc := range *tpl["dns"].FindResources(jsii.String("AWS::Route53::HealthCheck"), nil) {
		cfg := (*hc)["Properties"].(map[string]any)["HealthCheckConfig"].(map[string]any)
		for region, host := range hosts {
			if jsonOf(cfg["FullyQualifiedDomainName"]) == host {
				checkOf[region] = id
			}
		}
		delete(cfg, "FullyQualifiedDomainName")
		want := fmt.Sprintf(`{"EnableSNI":true,"FailureThreshold":%d,"Port":443,"RequestInterval":10,"ResourcePath":"/writable","Type":"HTTPS"}`,
			deployment.DefaultHealthCheckFailureThreshold)
		if got := jsonOf(cfg); got != want {
			t.Errorf("health check %s: %s, want HTTPS GET /writable on port 443 with SNI, every 10 s, the default threshold: %s", id, got, want)
		}
	}
	if len(checkOf) != 2 || checkOf["us-east-1"] == checkOf["us-west-2"] {
		t.Fatalf("health checks by region %v, want one on each region's writable endpoint", checkOf)
	}
	countIs(t, tpl["dns"], jsii.String("AWS::Route53::HealthCheck"), jsii.Number(2))
	ref := func(region string) map[string]any { return map[string]any{"Ref": checkOf[region]} }
	for failover, w := range map[string]struct{ label, region string }{"PRIMARY": {"primary", "us-east-1"}, "SECONDARY": {"secondary", "us-west-2"}} {
		has(t, tpl["dns"], jsii.String("AWS::Route53::RecordSet"), obj(map[string]any{
			"Name": "redis.internal", "Type": "CNAME", "TTL": "5", "SetIdentifier": w.label, "Failover": failover,
			"HealthCheckId": ref(w.region),
		}))
	}
	witnesses := map[string]int{}
	for _, r := range resources(tpl["dns"], "AWS::Route53::RecordSet") {
		if r["Type"] == "TXT" {
			witnesses[r["Name"].(string)]++
		}
	}
	for _, region := range []string{"us-east-1", "us-west-2"} {
		name := region + ".witness.redis.internal"
		if witnesses[name] != 2 {
			t.Errorf("%d TXT records named %s, want a failover pair", witnesses[name], name)
		}
		has(t, tpl["dns"], jsii.String("AWS::Route53::RecordSet"), obj(map[string]any{
			"Name": name, "Type": "TXT", "TTL": "5", "Failover": "PRIMARY", "SetIdentifier": "writable",
			"ResourceRecords": []any{`"writable"`}, "HealthCheckId": ref(region), "HostedZoneId": assertions.Match_AnyValue(),
		}))
		has(t, tpl["dns"], jsii.String("AWS::Route53::RecordSet"), obj(map[string]any{
			"Name": name, "Type": "TXT", "TTL": "5", "Failover": "SECONDARY", "SetIdentifier": "not-writable",
			"ResourceRecords": []any{`"not-writable"`}, "HealthCheckId": assertions.Match_Absent(), "HostedZoneId": assertions.Match_AnyValue(),
		}))
	}
	if len(witnesses) != 2 {
		t.Errorf("TXT records %v, want the two regions' witnesses only", witnesses)
	}
}
