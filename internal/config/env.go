package config

import (
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redisha/redisha/internal/check"
	"github.com/redisha/redisha/internal/metrics"
)

// Env is the environment FromEnv reads back into c: the inverse of FromEnv
// for every setting that comes from the environment. Deployment code (the
// CDK app) builds a Config and writes its Env, so the function is configured
// with the names and forms the runtime reads, never with copied literals.
// Settings at their default are still written when a reader would not know
// the default (role, TLS, heartbeat, metrics mode, namespace, the budgets);
// empty optional settings are left out. The password is never written, nor
// AWS_REGION (Lambda sets it): the heartbeat's region goes in
// HEARTBEAT_REGION, and the fence's is the function's own. CLUSTER_MODE is written only when it is not auto, the
// default every reader knows, and CHECKER_SERVE only when it is not loop.
func (c Config) Env() map[string]string {
	env := map[string]string{
		EnvAddr:           c.Redis.Addr,
		EnvTLS:            strconv.FormatBool(c.Redis.TLS),
		EnvCheckTimeout:   durationEnv(c.Check.Timeout, check.DefaultTimeout),
		EnvExpectRole:     string(roleOrDefault(c.Check.ExpectRole)),
		EnvHeartbeat:      strconv.FormatBool(c.Check.Heartbeat),
		EnvMetricsMode:    string(c.MetricsMode),
		EnvNamespace:      c.Namespace,
		EnvHighResolution: strconv.FormatBool(c.HighResolution),
		EnvSecretTimeout:  durationEnv(c.SecretTimeout, DefaultSecretTimeout),
		EnvPublishTimeout: durationEnv(c.PublishTimeout, DefaultPublishTimeout),
	}
	if c.MetricsMode == "" {
		env[EnvMetricsMode] = string(MetricsAPI)
	}
	if c.Namespace == "" {
		env[EnvNamespace] = metrics.DefaultNamespace
	}
	optional := map[string]string{
		EnvTLSServerName:         c.Redis.TLSServerName,
		EnvTLSCAFile:             c.Redis.TLSCAFile,
		EnvUsername:              c.Redis.Username,
		EnvAuthSecretARN:         c.AuthSecretARN,
		EnvPasswordFile:          c.PasswordFile,
		EnvHeartbeatKeySecretARN: c.HeartbeatKeySecretARN,
		EnvHeartbeatKeyFile:      c.HeartbeatKeyFile,
		EnvDimensions:            FormatDimensions(c.Dimensions),
		EnvHeartbeatRegion:       c.Check.Region,
		EnvDatastoreID:           c.Fence.DatastoreID,
		EnvFenceUnknown:          string(c.Fence.Unknown),
	}
	if c.Fence.MaxAge != 0 {
		optional[EnvFenceMaxAge] = c.Fence.MaxAge.String()
	}
	if c.ClusterMode != "" && c.ClusterMode != check.ClusterAuto {
		optional[EnvClusterMode] = string(c.ClusterMode)
	}
	if c.Serve != "" && c.Serve != ServeLoop {
		optional[EnvServe] = string(c.Serve)
	}
	if c.FunctionTimeout != 0 {
		optional[EnvFunctionTimeout] = c.FunctionTimeout.String()
	}
	if c.Redis.DB != 0 {
		optional[EnvDB] = strconv.Itoa(c.Redis.DB)
	}
	if c.Check.Prefix != "" && c.Check.Prefix != check.DefaultPrefix {
		optional[EnvKeyPrefix] = c.Check.Prefix
	}
	if c.Check.KeyTTL != 0 && c.Check.KeyTTL != check.DefaultKeyTTL {
		optional[EnvKeyTTL] = c.Check.KeyTTL.String()
	}
	for k, v := range optional {
		if v != "" {
			env[k] = v
		}
	}
	return env
}

// FormatDimensions writes dimensions in the METRIC_DIMENSIONS form
// (Name=Value,Name2=Value2) that metrics.ParseDimensions reads.
func FormatDimensions(ds []metrics.Dimension) string {
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = d.Name + "=" + d.Value
	}
	return strings.Join(parts, ",")
}

// EnvNames lists the variables FromEnv reads, sorted.
func EnvNames() []string {
	names := map[string]bool{}
	for _, n := range []string{EnvServe, EnvAddr, EnvTLS, EnvTLSServerName, EnvTLSCAFile, EnvUsername, EnvAuthSecretARN,
		EnvPasswordFile, EnvDB, EnvCheckTimeout, EnvExpectRole, EnvClusterMode, EnvHeartbeat, EnvKeyPrefix, EnvKeyTTL,
		EnvMetricsMode, EnvNamespace, EnvDimensions, EnvHighResolution, EnvHeartbeatRegion, EnvAWSRegion,
		EnvSecretTimeout, EnvPublishTimeout, EnvFunctionTimeout, EnvHeartbeatKeySecretARN, EnvHeartbeatKeyFile,
		EnvDatastoreID, EnvFenceUnknown, EnvFenceMaxAge} {
		names[n] = true
	}
	return slices.Sorted(maps.Keys(names))
}

// durationEnv writes d as a Go duration, or def when d is unset.
func durationEnv(d, def time.Duration) string {
	if d == 0 {
		d = def
	}
	return d.String()
}

// roleOrDefault is r, or check.Auto (what ParseRole gives for "").
func roleOrDefault(r check.Role) check.Role {
	if r == "" {
		return check.Auto
	}
	return r
}
