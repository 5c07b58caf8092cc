package stacks

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/redisha/redisha/internal/check"
	"github.com/redisha/redisha/internal/config"
	"github.com/redisha/redisha/internal/deployment"
	"github.com/redisha/redisha/internal/metrics"
)

// standIn resolves a template value to the string it has at deploy, with
// stand-ins of the right shape for what only deploy knows: a secret's ARN
// for a Ref to a secret, a port number for an endpoint's port, a host name
// for any other attribute.
func standIn(t *testing.T, tp assertions.Template, v any) string {
	t.Helper()
	switch x := v.(type) {
	case string:
		return x
	case map[string]any:
		if ref, ok := x["Ref"].(string); ok {
			if _, ok := (*tp.FindResources(jsii.String("AWS::SecretsManager::Secret"), nil))[ref]; ok {
				return "arn:aws:secretsmanager:us-east-1:123456789012:secret:standin-AbCdEf"
			}
			if _, ok := (*tp.FindResources(jsii.String("AWS::SNS::Topic"), nil))[ref]; ok {
				return "arn:aws:sns:us-east-1:123456789012:standin"
			}
			return "standin"
		}
		if att, ok := x["Fn::GetAtt"].([]any); ok {
			if strings.HasSuffix(att[1].(string), ".Port") {
				return "6379"
			}
			return "standin.cache.amazonaws.com"
		}
		if join, ok := x["Fn::Join"].([]any); ok {
			var parts []string
			for _, p := range join[1].([]any) {
				parts = append(parts, standIn(t, tp, p))
			}
			return strings.Join(parts, join[0].(string))
		}
		return "standin"
	}
	t.Fatalf("unexpected template value %v", v)
	return ""
}

// checkerVariants are the synths whose checker environments are read back:
// the defaults, and the CloudWatch API with a shorter check timeout.
func checkerVariants(t *testing.T) map[string]synthesized {
	t.Helper()
	synth(t)
	return map[string]synthesized{
		"defaults":            defaults,
		"api metrics, 1500ms": buildShared(t, map[string]any{"metricsMode": "api", "checkTimeout": "1500ms"}),
	}
}

// loadChecker reads a function's environment as the checker binary does
// (config.FromEnv, with AWS_REGION as Lambda sets it), after asserting that
// each variable is one the binary reads.
func loadChecker(t *testing.T, tp assertions.Template, f map[string]any, region string) (config.Config, error) {
	t.Helper()
	env := map[string]string{config.EnvAWSRegion: region}
	for k, v := range f["Environment"].(map[string]any)["Variables"].(map[string]any) {
		if !slices.Contains(config.EnvNames(), k) {
			t.Errorf("%s: %s is not a variable the checker binary reads", region, k)
		}
		if k == config.EnvAWSRegion {
			t.Errorf("%s: the template sets %s, which Lambda reserves", region, k)
		}
		env[k] = standIn(t, tp, v)
	}
	c, err := config.FromEnv(func(k string) string { return env[k] })
	if err != nil {
		return c, fmt.Errorf("%v\n%w", env, err)
	}
	return c, nil
}

// Every checker's environment, as synthesized, passes the runtime's own
// validation (config.FromEnv) and reads back as the configuration the stack
// meant: the same contract on both sides.
func TestCheckerEnvironmentPassesTheRuntimeValidation(t *testing.T) {
	for name, s := range checkerVariants(t) {
		// Both checkers are role-aware: the promoted region's checker must
		// write (WritableStatus 1), or DNS never follows a promotion.
		for stack, role := range map[string]check.Role{"primary": check.Auto, "secondary": check.Auto} {
			fns := checkers(s.tpl[stack])
			if len(fns) != 1 {
				t.Fatalf("%s/%s: %d checkers", name, stack, len(fns))
			}
			c, err := loadChecker(t, s.tpl[stack], fns[0], map[string]string{"primary": "us-east-1", "secondary": "us-west-2"}[stack])
			if err != nil {
				t.Errorf("%s/%s: the checker would refuse its environment:\n%v", name, stack, err)
				continue
			}
			group := map[string]string{"primary": "redis-primary", "secondary": "redis-secondary"}[stack]
			want := map[string]any{
				"role": role, "heartbeat": true, "tls": true, "high resolution": true,
				"namespace": metrics.DefaultNamespace, "dimensions": config.FormatDimensions(deployment.CheckerDimensions(group)),
			}
			got := map[string]any{
				"role": c.Check.ExpectRole, "heartbeat": c.Check.Heartbeat, "tls": c.Redis.TLS, "high resolution": c.HighResolution,
				"namespace": c.Namespace, "dimensions": config.FormatDimensions(c.Dimensions),
			}
			for k := range want {
				if got[k] != want[k] {
					t.Errorf("%s/%s: %s = %v, want %v", name, stack, k, got[k], want[k])
				}
			}
			if c.AuthSecretARN == "" || c.Redis.TLSServerName == "" {
				t.Errorf("%s/%s: secret %q, server name %q", name, stack, c.AuthSecretARN, c.Redis.TLSServerName)
			}
			if name == "defaults" && (c.Check.Timeout != 2*time.Second || c.MetricsMode != config.MetricsEMF) {
				t.Errorf("%s/%s: timeout %v, metrics %v", name, stack, c.Check.Timeout, c.MetricsMode)
			}
			if name != "defaults" && (c.Check.Timeout != 1500*time.Millisecond || c.MetricsMode != config.MetricsAPI) {
				t.Errorf("%s/%s: timeout %v, metrics %v", name, stack, c.Check.Timeout, c.MetricsMode)
			}
		}
	}
}

// Each region's writable endpoint runs the same binary: its environment, as
// synthesized, passes the same validation and reads back as the endpoint the
// model meant: served by its function URL, one write check without the
// heartbeat (the loop's checker writes that) and without metrics at high
// resolution, within a function timeout the template passes.
func TestWritableEndpointEnvironmentPassesTheRuntimeValidation(t *testing.T) {
	for name, s := range checkerVariants(t) {
		for stack, region := range map[string]string{"primary": "us-east-1", "secondary": "us-west-2"} {
			fns := writableEndpoints(s.tpl[stack])
			if len(fns) != 1 {
				t.Fatalf("%s/%s: %d writable endpoints, want 1", name, stack, len(fns))
			}
			c, err := loadChecker(t, s.tpl[stack], fns[0], region)
			if err != nil {
				t.Errorf("%s/%s: the writable endpoint would refuse its environment:\n%v", name, stack, err)
				continue
			}
			timeout := time.Duration(fns[0]["Timeout"].(float64)) * time.Second
			group := map[string]string{"primary": "redis-primary", "secondary": "redis-secondary"}[stack]
			want := map[string]any{
				"serve": config.ServeWritableURL, "heartbeat": false, "high resolution": false, "role": check.Auto, "tls": true,
				"function timeout": timeout, "dimensions": config.FormatDimensions(deployment.CheckerDimensions(group)),
			}
			got := map[string]any{
				"serve": c.Serve, "heartbeat": c.Check.Heartbeat, "high resolution": c.HighResolution, "role": c.Check.ExpectRole,
				"tls": c.Redis.TLS, "function timeout": c.FunctionTimeout, "dimensions": config.FormatDimensions(c.Dimensions),
			}
			for k := range want {
				if got[k] != want[k] {
					t.Errorf("%s/%s: %s = %v, want %v", name, stack, k, got[k], want[k])
				}
			}
			if timeout != deployment.WritableEndpointTimeout {
				t.Errorf("%s/%s: function timeout %v, want %v", name, stack, timeout, deployment.WritableEndpointTimeout)
			}
			// The endpoint proves a write through the region's own primary
			// endpoint, with the AUTH token, fenced as the checker is.
			if c.AuthSecretARN == "" || c.Redis.Addr == "" || c.Redis.TLSServerName == "" || c.Fence.DatastoreID == "" {
				t.Errorf("%s/%s: secret %q, addr %q, server name %q, fence %q", name, stack, c.AuthSecretARN, c.Redis.Addr,
					c.Redis.TLSServerName, c.Fence.DatastoreID)
			}
			if c.HeartbeatKeySecretARN != "" {
				t.Errorf("%s/%s: the writable endpoint is given the heartbeat key %s", name, stack, c.HeartbeatKeySecretARN)
			}
		}
	}
}
