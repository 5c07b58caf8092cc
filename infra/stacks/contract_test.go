package stacks

import (
	"github.com/redisha/redisha/internal/deployment"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/redisha/redisha/internal/check"
	"github.com/redisha/redisha/internal/config"
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

// Every checker's environment, as synthesized, passes the runtime's own
// validation (config.FromEnv) and reads back as the configuration the stack
// meant: the same contract on both sides.
func TestCheckerEnvironmentPassesTheRuntimeValidation(t *testing.T) {
	variants := map[string]synthesized{}
	synth(t)
	variants["defaults"] = defaults
	variants["api metrics, 1500ms"] = build(t, map[string]any{"metricsMode": "api", "checkTimeout": "1500ms"})
	for name, s := range variants {
		// Both checkers are role-aware: the promoted region's checker must
		// write (WritableStatus 1), or DNS never follows a promotion.
		for stack, role := range map[string]check.Role{"primary": check.Auto, "secondary": check.Auto} {
			fns := checkers(s.tpl[stack])
			if len(fns) != 1 {
				t.Fatalf("%s/%s: %d checkers", name, stack, len(fns))
			}
			vars := fns[0]["Environment"].(map[string]any)["Variables"].(map[string]any)
			env := map[string]string{}
			for k, v := range vars {
				if !slices.Contains(config.EnvNames(), k) {
					t.Errorf("%s/%s: %s is not a variable the checker reads", name, stack, k)
				}
				env[k] = standIn(t, s.tpl[stack], v)
			}
			env[config.EnvAWSRegion] = map[string]string{"primary": "us-east-1", "secondary": "us-west-2"}[stack] // Lambda sets it
			c, err := config.FromEnv(func(k string) string { return env[k] })
			if err != nil {
				t.Errorf("%s/%s: the checker would refuse its environment %v:\n%v", name, stack, env, err)
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
