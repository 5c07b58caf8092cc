package config

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/redisha/redisha/internal/check"
	"github.com/redisha/redisha/internal/fence"
	"github.com/redisha/redisha/internal/metrics"
	"github.com/redisha/redisha/internal/redisconn"
)

// Env is FromEnv's inverse: what a deployment writes is read back as the
// same configuration, and passes FromEnv's validation.
func TestEnvRoundTripsThroughFromEnv(t *testing.T) {
	token := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(token, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := map[string]Config{
		"checker in AWS": {
			Redis:         redisconn.Config{Addr: "master.redis-primary.abc123.use1.cache.amazonaws.com:6379", TLS: true, TLSServerName: "master.redis-primary.abc123.use1.cache.amazonaws.com"},
			AuthSecretARN: "arn:aws:secretsmanager:us-east-1:123456789012:secret:redisha-AbCdEf",
			Check:         check.Options{Timeout: 1500 * time.Millisecond, ExpectRole: check.Replica, Heartbeat: true, Region: "us-west-2"},
			MetricsMode:   MetricsEMF, Namespace: metrics.DefaultNamespace, HighResolution: true,
			SecretTimeout: 3 * time.Second, PublishTimeout: time.Second, FunctionTimeout: 10 * time.Second,
			Dimensions: []metrics.Dimension{{Name: "ReplicationGroup", Value: "redis-secondary"}, {Name: "Region", Value: "us-west-2"}},
		},
		"local run": {
			Redis:        redisconn.Config{Addr: "127.0.0.1:6380", DB: 3, Username: "checker", TLS: false},
			PasswordFile: token,
			Check:        check.Options{Prefix: "hc:", KeyTTL: 45 * time.Second},
			MetricsMode:  MetricsAPI, Namespace: "Team/Redis",
		},
		"cluster-mode configuration endpoint": {
			Redis:       redisconn.Config{Addr: "clustercfg.redis-primary.abc123.use1.cache.amazonaws.com:6379", TLS: true},
			ClusterMode: check.ClusterOn,
		},
		"fenced checker of the PRIMARY record": {
			Redis: redisconn.Config{Addr: "master.redis-primary.abc123.use1.cache.amazonaws.com:6379", TLS: true},
			Check: check.Options{Region: "us-east-1"},
			Fence: fence.Options{DatastoreID: "ldgnf-redisha", Region: "us-east-1", Unknown: fence.NotWritable, MaxAge: 2 * time.Minute},
		},
		"one node, never asked":      {Redis: redisconn.Config{Addr: "redis.internal:6379"}, ClusterMode: check.ClusterOff},
		"zero value but the address": {Redis: redisconn.Config{Addr: "redis.internal:6379"}},
		"writable endpoint behind a function URL": {
			Redis: redisconn.Config{Addr: "master.redis-primary.abc123.use1.cache.amazonaws.com:6379", TLS: true},
			Serve: ServeWritableURL, FunctionTimeout: 3 * time.Second,
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			env := c.Env()
			got, err := FromEnv(func(k string) string {
				if k == EnvAWSRegion {
					return c.Fence.Region // Lambda sets it, Env does not
				}
				return env[k]
			})
			if err != nil {
				t.Fatalf("FromEnv(Env()) refused %v: %v", env, err)
			}
			for k := range env {
				if !slices.Contains(EnvNames(), k) {
					t.Errorf("Env writes %s, which FromEnv does not read", k)
				}
			}
			if _, ok := env[EnvPassword]; ok {
				t.Error("Env writes the password")
			}
			// The loop is every reader's default: existing functions keep
			// their environment.
			if v, ok := env[EnvServe]; ok != (c.Serve == ServeWritableURL) || (ok && v != string(ServeWritableURL)) {
				t.Errorf("Env writes %s=%q for serve %q", EnvServe, v, c.Serve)
			}
			want := c
			want.Check.Prefix = or(c.Check.Prefix, check.DefaultPrefix)
			if want.Check.KeyTTL == 0 {
				want.Check.KeyTTL = check.DefaultKeyTTL
			}
			if want.Check.Timeout == 0 {
				want.Check.Timeout = check.DefaultTimeout
			}
			if want.Check.ExpectRole == "" {
				want.Check.ExpectRole = check.Auto // what FromEnv reads for an unset EXPECT_ROLE
			}
			if want.ClusterMode == "" {
				want.ClusterMode = check.ClusterAuto
			}
			if want.Serve == "" {
				want.Serve = ServeLoop
			}
			want.MetricsMode = MetricsMode(or(string(c.MetricsMode), string(MetricsAPI)))
			want.Namespace = or(c.Namespace, metrics.DefaultNamespace)
			if want.SecretTimeout == 0 {
				want.SecretTimeout = DefaultSecretTimeout
			}
			if want.PublishTimeout == 0 {
				want.PublishTimeout = DefaultPublishTimeout
			}
			want.Redis.DialTimeout, want.Redis.IOTimeout = want.Check.Timeout, want.Check.Timeout
			if !reflect.DeepEqual(got, want) {
				t.Errorf("round trip through %v:\n got %+v\nwant %+v", env, got, want)
			}
		})
	}
}

func TestFormatDimensionsIsParseDimensionsInverse(t *testing.T) {
	ds := []metrics.Dimension{{Name: "ReplicationGroup", Value: "redis-primary"}, {Name: "Region", Value: "us-east-1"}}
	s := FormatDimensions(ds)
	if s != "ReplicationGroup=redis-primary,Region=us-east-1" {
		t.Errorf("FormatDimensions = %q", s)
	}
	back, err := metrics.ParseDimensions(s)
	if err != nil || !reflect.DeepEqual(back, ds) {
		t.Errorf("ParseDimensions(%q) = %v, %v", s, back, err)
	}
	if FormatDimensions(nil) != "" {
		t.Error("no dimensions should format as empty")
	}
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
