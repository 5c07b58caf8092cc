package stacks

import (
	"fmt"
	"strings"
	"time"

	"github.com/redisha/redisha/internal/check"
	"github.com/redisha/redisha/internal/config"
	"github.com/redisha/redisha/internal/metrics"
	"github.com/redisha/redisha/internal/promoter"
	"github.com/redisha/redisha/internal/redisconn"
)

// The contract between the stacks and the checker they deploy: the
// function's environment is a config.Config written with Config.Env, the
// runtime's own names and forms, and every value the context controls is
// validated at synth by config.FromEnv, the runtime's own validation.

// checkerTimeout is the checker function's timeout.
const checkerTimeout = 10 * time.Second

// loopInterval is the time between the two checks of each minute's loop.
const loopInterval = 30 * time.Second

// checkerDimensions are the dimensions of every metric a checker publishes
// (METRIC_DIMENSIONS) and that its alarms read: one contract for both.
func checkerDimensions(groupID string) []metrics.Dimension {
	return []metrics.Dimension{{Name: "ReplicationGroup", Value: groupID}}
}

// checkerTarget is what one checker checks; its fields may be CloudFormation
// tokens (endpoint, secret ARN) resolved at deploy.
type checkerTarget struct {
	Addr       string // host:port of the replication group's primary endpoint
	ServerName string // name in the certificate
	SecretARN  string // the AUTH token's secret in the checker's region
	Role       check.Role
	GroupID    string // replication group id: the metrics' dimension
	Region     string // the checker's region
}

// checkerConfig is the runtime configuration of one checker.
func checkerConfig(s Settings, t checkerTarget) config.Config {
	return config.Config{
		Redis:         redisconn.Config{Addr: t.Addr, TLS: true, TLSServerName: t.ServerName},
		AuthSecretARN: t.SecretARN,
		Check:         check.Options{Timeout: s.CheckTimeout, ExpectRole: t.Role, Heartbeat: true},
		MetricsMode:   s.MetricsMode,
		Namespace:     metrics.DefaultNamespace,
		Dimensions:    checkerDimensions(t.GroupID),
		// The fast paging alarm reads HealthCheckStatusHighRes.
		HighResolution: true,
		// The function's real timeout: the runtime refuses budgets that do
		// not fit in it, at start and, through runtimeRefusals, at synth.
		FunctionTimeout: checkerTimeout,
	}
}

// lambdaEnv is a Config's environment in the form awslambda takes.
func lambdaEnv(c config.Config) *map[string]*string { return stringMap(c.Env()) }

// contextKeyOf names the context key behind each variable the context
// controls, for refusals.
var contextKeyOf = map[string]string{
	config.EnvCheckTimeout: "checkTimeout",
	// The function's timeout is fixed; the check timeout is what the
	// context changes to fit in it.
	config.EnvFunctionTimeout: "checkTimeout",
	config.EnvMetricsMode:     "metricsMode",
	config.EnvDimensions:      "primaryReplicationGroupId/secondaryReplicationGroupId",
	config.EnvAddr:            "port",
}

// runtimeRefusals runs both checkers' environments through config.FromEnv,
// with stand-ins for what only deploy knows (endpoints, secret ARNs), and
// returns each refusal under the context key that caused it. raw holds the
// values as given in the context, to quote them.
func runtimeRefusals(s Settings, raw map[string]string) []error {
	var errs []error
	seen := map[string]bool{}
	for _, t := range []checkerTarget{
		{Role: check.Primary, GroupID: s.PrimaryRGID, Region: s.PrimaryRegion},
		{Role: check.Replica, GroupID: s.SecondaryRGID, Region: s.SecondaryRegion},
	} {
		t.Addr = fmt.Sprintf("master.%s.standin.cache.amazonaws.com:%d", t.GroupID, s.Port)
		t.SecretARN = "arn:aws:secretsmanager:" + t.Region + ":" + s.Account + ":secret:standin"
		env := checkerConfig(s, t).Env()
		_, err := config.FromEnv(func(k string) string { return env[k] })
		if err == nil {
			continue
		}
		for _, line := range strings.Split(err.Error(), "\n") {
			name, _, _ := strings.Cut(line, "=")
			key := contextKeyOf[name]
			if key == "" {
				key = name
			}
			v, ok := raw[key]
			if !ok {
				v = env[name]
			}
			msg := fmt.Sprintf("context %q = %v: the checker refuses it at start: %s", key, v, line)
			if !seen[msg] {
				seen[msg] = true
				errs = append(errs, fmt.Errorf("%s", msg))
			}
		}
	}
	return errs
}

// promoterRefusals runs both promoters' environments through
// promoter.ConfigFromEnv, the runtime's own validation, with stand-ins for
// what only deploy knows, and checks that the function's timeout (above
// PROMOTE_TIMEOUT) is one Lambda allows.
func promoterRefusals(s Settings) []error {
	var errs []error
	for _, t := range []promoterTarget{
		{GroupID: s.PrimaryRGID, Region: s.PrimaryRegion, PeerRegion: s.SecondaryRegion},
		{GroupID: s.SecondaryRGID, Region: s.SecondaryRegion, PeerRegion: s.PrimaryRegion},
	} {
		t.Addr = fmt.Sprintf("master.%s.standin.cache.amazonaws.com:%d", t.GroupID, s.Port)
		t.SecretARN = "arn:aws:secretsmanager:" + t.Region + ":" + s.Account + ":secret:standin"
		t.DatastoreID, t.LatchTable = "standin-"+s.GlobalIDSuffix, "standin-latch"
		t.TopicARN = "arn:aws:sns:" + t.Region + ":" + s.Account + ":standin"
		c := promoterConfig(s, t)
		env := c.Environment()
		env[promoter.EnvRegion] = t.Region // Lambda sets it
		if _, err := promoter.ConfigFromEnv(func(k string) string { return env[k] }); err != nil {
			errs = append(errs, fmt.Errorf("the promoter in %s refuses its environment: %v", t.Region, err))
		}
		if d := promoterFunctionTimeout(c); d > maxLambdaTimeout {
			errs = append(errs, fmt.Errorf("the promoter's timeout %v (PROMOTE_TIMEOUT %v and its calls) is over Lambda's %v: lower PROMOTE_TIMEOUT",
				d, c.PromoteTimeout, maxLambdaTimeout))
		}
	}
	return errs
}
