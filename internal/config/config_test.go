package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redisha/redisha/internal/check"
	"github.com/redisha/redisha/internal/metrics"
)

func env(kv map[string]string) func(string) string {
	return func(k string) string { return kv[k] }
}

func TestDefaults(t *testing.T) {
	c, err := FromEnv(env(map[string]string{EnvAddr: "redis.internal:6379"}))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Redis.TLS {
		t.Error("TLS must default to on")
	}
	if c.Check.Timeout != 2*time.Second || c.Redis.DialTimeout != 2*time.Second || c.Redis.IOTimeout != 2*time.Second {
		t.Errorf("timeouts: check %s dial %s io %s, want 2s", c.Check.Timeout, c.Redis.DialTimeout, c.Redis.IOTimeout)
	}
	// Auto role and heartbeats: a checker needs no role of its own, and a
	// replica checker always has a lag to report.
	if c.Check.Prefix != "healthcheck:" || c.Check.KeyTTL != check.DefaultKeyTTL || !c.Check.Heartbeat ||
		c.Check.ExpectRole != check.Auto || c.Check.Region != "" {
		t.Errorf("check options: %+v", c.Check)
	}
	if c.SecretTimeout != 2*time.Second || c.PublishTimeout != 1500*time.Millisecond || c.FunctionTimeout != 0 {
		t.Errorf("budgets: secret %s publish %s function %s", c.SecretTimeout, c.PublishTimeout, c.FunctionTimeout)
	}
	if c.MetricsMode != MetricsAPI || c.Namespace != "Custom/Redis" || c.HighResolution || len(c.Dimensions) != 0 {
		t.Errorf("metrics: %s %s %v %v", c.MetricsMode, c.Namespace, c.HighResolution, c.Dimensions)
	}
	// Auto cluster mode: the endpoint says whether it is a cluster.
	if c.ClusterMode != check.ClusterAuto {
		t.Errorf("cluster mode %q, want auto", c.ClusterMode)
	}
	// The loop, as every checker ran before writable-url existed.
	if c.Serve != ServeLoop {
		t.Errorf("serve %q, want loop", c.Serve)
	}
}

// A writable endpoint's function timeout need only fit its one check
// (CHECK_TIMEOUT, at most 1.5s) and the margin: it reads the token within
// the check and publishes nothing.
func TestWritableURLBudget(t *testing.T) {
	for _, tc := range []struct {
		checkTimeout, functionTimeout string
		want                          time.Duration
	}{
		{"2s", "2s", 1700 * time.Millisecond},
		{"1s", "2s", 1200 * time.Millisecond},
	} {
		c, err := FromEnv(env(map[string]string{EnvAddr: "redis.internal:6379", EnvServe: "writable-url",
			EnvCheckTimeout: tc.checkTimeout, EnvFunctionTimeout: tc.functionTimeout}))
		if err != nil {
			t.Fatalf("CHECK_TIMEOUT=%s FUNCTION_TIMEOUT=%s: %v", tc.checkTimeout, tc.functionTimeout, err)
		}
		if c.Serve != ServeWritableURL || c.Budget() != tc.want || c.WritableCheckTimeout() > MaxWritableCheck {
			t.Errorf("CHECK_TIMEOUT=%s: serve %q, budget %s (want %s), check %s", tc.checkTimeout, c.Serve, c.Budget(), tc.want, c.WritableCheckTimeout())
		}
	}
}

func TestAllSet(t *testing.T) {
	c, err := FromEnv(env(map[string]string{
		EnvAddr: "redis.internal:6380", EnvTLS: "true", EnvTLSServerName: "master.x.use1.cache.amazonaws.com",
		EnvUsername: "checker", EnvAuthSecretARN: "arn:aws:secretsmanager:us-east-1:123456789012:secret:redis-auth",
		EnvDB: "3", EnvCheckTimeout: "1500ms", EnvExpectRole: "replica", EnvHeartbeat: "true",
		EnvKeyPrefix: "hc:", EnvKeyTTL: "45s", EnvMetricsMode: "emf", EnvNamespace: "Team/Redis",
		EnvDimensions: "ReplicationGroup=redis-primary,Region=us-east-1", EnvHighResolution: "true",
		EnvAWSRegion: "us-east-1", EnvHeartbeatRegion: "primary-east", EnvSecretTimeout: "1s",
		EnvPublishTimeout: "2s", EnvFunctionTimeout: "10s", EnvClusterMode: "on", EnvServe: "writable-url",
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := []metrics.Dimension{{Name: "ReplicationGroup", Value: "redis-primary"}, {Name: "Region", Value: "us-east-1"}}
	if len(c.Dimensions) != 2 || c.Dimensions[0] != want[0] || c.Dimensions[1] != want[1] {
		t.Errorf("dimensions %v, want %v", c.Dimensions, want)
	}
	if c.Redis.DB != 3 || c.Redis.Username != "checker" || c.Redis.TLSServerName == "" ||
		c.Check.Timeout != 1500*time.Millisecond || c.Check.ExpectRole != check.Replica || !c.Check.Heartbeat ||
		c.Check.Prefix != "hc:" || c.Check.KeyTTL != 45*time.Second || c.MetricsMode != MetricsEMF ||
		c.Namespace != "Team/Redis" || !c.HighResolution || c.Check.Region != "primary-east" ||
		c.SecretTimeout != time.Second || c.PublishTimeout != 2*time.Second || c.FunctionTimeout != 10*time.Second ||
		c.ClusterMode != check.ClusterOn || c.Serve != ServeWritableURL {
		t.Errorf("config: %+v", c)
	}
}

// Each bad value gives an error that names the variable and the fix.
func TestBadInput(t *testing.T) {
	base := map[string]string{EnvAddr: "redis.internal:6379"}
	cases := []struct {
		name string
		set  map[string]string
		want string
	}{
		{"no addr", map[string]string{EnvAddr: ""}, "REDIS_ADDR is not set: give the endpoint as host:port"},
		{"addr without port", map[string]string{EnvAddr: "redis.internal"}, `REDIS_ADDR: addr "redis.internal" is not host:port`},
		{"addr bad port", map[string]string{EnvAddr: "redis.internal:99999"}, "has no valid port: use a port from 1 to 65535"},
		{"tls not bool", map[string]string{EnvTLS: "yes please"}, `REDIS_TLS="yes please": use true or false`},
		{"server name without tls", map[string]string{EnvTLS: "false", EnvTLSServerName: "x"}, "REDIS_TLS_SERVER_NAME: tls server name is set but TLS is off"},
		{"negative db", map[string]string{EnvDB: "-1"}, `REDIS_DB="-1": use a database index of 0 or more`},
		{"timeout not duration", map[string]string{EnvCheckTimeout: "2"}, `CHECK_TIMEOUT="2": use a positive Go duration such as 2s`},
		{"timeout too long", map[string]string{EnvCheckTimeout: "5m"}, `CHECK_TIMEOUT="5m": use at most 60s`},
		{"role", map[string]string{EnvExpectRole: "master"}, `EXPECT_ROLE="master": use auto, primary or replica`},
		{"serve", map[string]string{EnvServe: "http"}, `CHECKER_SERVE="http": use loop (the Step Functions loop invokes the checker) or writable-url (a function URL does, for Route 53's HTTPS health checks)`},
		{"writable-url over the function timeout", map[string]string{EnvServe: "writable-url", EnvFunctionTimeout: "1s"},
			"FUNCTION_TIMEOUT=1s is shorter than min(CHECK_TIMEOUT, 1.5s) + 200ms margin = 1.7s: raise the function timeout"},
		{"cluster mode", map[string]string{EnvClusterMode: "sharded"}, `CLUSTER_MODE="sharded": use auto (ask the endpoint), on (a cluster-mode endpoint: check every shard) or off (one node)`},
		{"heartbeat region", map[string]string{EnvHeartbeatRegion: "us east"}, `HEARTBEAT_REGION="us east": use a name without white space`},
		{"fence unknown", map[string]string{EnvDatastoreID: "ldgnf-x", EnvAWSRegion: "us-east-1", EnvFenceUnknown: "open"}, `FENCE_UNKNOWN="open": use not-writable`},
		{"fence max age", map[string]string{EnvDatastoreID: "ldgnf-x", EnvAWSRegion: "us-east-1", EnvFenceMaxAge: "0s"}, `FENCE_MAX_AGE="0s": use a positive Go duration`},
		{"fence without a region", map[string]string{EnvDatastoreID: "ldgnf-x"}, `GLOBAL_DATASTORE_ID is set but AWS_REGION is not`},
		{"fence settings without a datastore", map[string]string{EnvFenceUnknown: "node-role"}, `FENCE_UNKNOWN or FENCE_MAX_AGE is set but GLOBAL_DATASTORE_ID is not`},
		{"secret timeout", map[string]string{EnvSecretTimeout: "0s"}, `SECRET_TIMEOUT="0s": use a positive Go duration of at most 60s`},
		{"publish timeout", map[string]string{EnvPublishTimeout: "2m"}, `PUBLISH_TIMEOUT="2m": use a positive Go duration of at most 60s`},
		{"budgets over the function timeout", map[string]string{EnvFunctionTimeout: "3s"},
			"FUNCTION_TIMEOUT=3s is shorter than SECRET_TIMEOUT + CHECK_TIMEOUT + PUBLISH_TIMEOUT + 200ms margin = 5.7s"},
		{"password file missing", map[string]string{EnvPasswordFile: "/nonexistent/redis-token"},
			`REDIS_PASSWORD_FILE="/nonexistent/redis-token": no such file or directory: give a readable file`},
		{"CA file missing", map[string]string{EnvTLSCAFile: "/nonexistent/ca.pem"},
			`REDIS_TLS_CA_FILE="/nonexistent/ca.pem": no such file or directory: give a readable PEM file`},
		{"CA file not PEM", map[string]string{EnvTLSCAFile: "config_test.go"},
			`REDIS_TLS_CA_FILE="config_test.go": the file holds no PEM certificate`},
		{"heartbeat", map[string]string{EnvHeartbeat: "on"}, `HEARTBEAT="on": use true or false`},
		{"prefix space", map[string]string{EnvKeyPrefix: "health check:"}, `KEY_PREFIX="health check:": use a prefix without white space`},
		{"key ttl short", map[string]string{EnvKeyTTL: "10ms"}, `KEY_TTL="10ms": use a Go duration of at least 1s`},
		{"metrics mode", map[string]string{EnvMetricsMode: "statsd"}, `METRICS_MODE="statsd": use api (PutMetricData) or emf`},
		{"dimensions", map[string]string{EnvDimensions: "NoEquals"}, `METRIC_DIMENSIONS="NoEquals"`},
		{"namespace", map[string]string{EnvNamespace: "AWS/ElastiCache"}, `METRIC_NAMESPACE="AWS/ElastiCache"`},
		{"high res", map[string]string{EnvHighResolution: "maybe"}, `METRIC_HIGH_RESOLUTION="maybe": use true or false`},
		{"plaintext password", map[string]string{"REDIS_PASSWORD": "hunter2hunter2hunter2"}, "REDIS_PASSWORD is set: a token in the environment is plaintext"},
		{"secret not arn", map[string]string{EnvAuthSecretARN: "redis-auth"}, `REDIS_AUTH_SECRET_ARN="redis-auth": give the secret's full ARN`},
		{"both secrets", map[string]string{EnvAuthSecretARN: "arn:aws:secretsmanager:us-east-1:1:secret:x", EnvPasswordFile: "/tmp/pw"}, "REDIS_AUTH_SECRET_ARN and REDIS_PASSWORD_FILE are both set"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			kv := map[string]string{}
			for k, v := range base {
				kv[k] = v
			}
			for k, v := range tc.set {
				kv[k] = v
			}
			_, err := FromEnv(env(kv))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("error leaks the password: %v", err)
			}
		})
	}
}

// Several problems are reported together, so one deploy fixes them all.
func TestErrorsJoined(t *testing.T) {
	_, err := FromEnv(env(map[string]string{EnvTLS: "x", EnvDB: "y"}))
	if err == nil {
		t.Fatal("want errors")
	}
	for _, name := range []string{EnvAddr, EnvTLS, EnvDB} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error %q does not name %s", err, name)
		}
	}
}

// The files the configuration names are read at init: an empty password
// file fails there too, and good files pass.
func TestFilesReadAtInit(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	good := filepath.Join(dir, "token")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(good, []byte("token-0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := FromEnv(env(map[string]string{EnvAddr: "redis.internal:6379", EnvPasswordFile: empty}))
	if err == nil || !strings.Contains(err.Error(), "REDIS_PASSWORD_FILE=") || !strings.Contains(err.Error(), "is empty") {
		t.Fatalf("empty password file: %v", err)
	}
	if _, err := FromEnv(env(map[string]string{EnvAddr: "redis.internal:6379", EnvPasswordFile: good})); err != nil {
		t.Fatalf("good password file: %v", err)
	}
}
