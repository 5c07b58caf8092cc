// Package config reads the health-checker Lambda's settings from its
// environment, applies the documented defaults and validates them before
// anything runs, naming the variable and the fix in every error.
package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redisha/redisha/internal/check"
	"github.com/redisha/redisha/internal/fence"
	"github.com/redisha/redisha/internal/metrics"
	"github.com/redisha/redisha/internal/redisconn"
)

// MetricsMode says how results reach CloudWatch.
type MetricsMode string

// Metrics modes.
const (
	// MetricsAPI calls PutMetricData (needs a monitoring VPC endpoint or NAT).
	MetricsAPI MetricsMode = "api"
	// MetricsEMF prints Embedded Metric Format lines on stdout; CloudWatch
	// Logs extracts the metrics. No API call, no endpoint.
	MetricsEMF MetricsMode = "emf"
)

// Serve says what invokes the checker binary, and so what one invocation
// does.
type Serve string

// Serve modes.
const (
	// ServeLoop: the Step Functions loop (or a schedule) invokes the
	// checker; each invocation checks, publishes the metrics and returns
	// the result (package handler).
	ServeLoop Serve = "loop"
	// ServeWritableURL: a Lambda function URL invokes it for Route 53's
	// HTTPS health checks; each request proves one write through the
	// endpoint and answers 200 or 503, publishing nothing (package
	// writeprobe).
	ServeWritableURL Serve = "writable-url"
)

// MaxWritableCheck bounds the check of one writable-url request: Route 53
// counts an HTTPS endpoint healthy only when it answers 2xx or 3xx within
// two seconds after connecting, so a stalled server must yield a 503
// before then.
const MaxWritableCheck = 1500 * time.Millisecond

// Config is the whole configuration of the health checker.
type Config struct {
	// Serve: loop (the Step Functions loop invokes the checker) or
	// writable-url (a function URL does, for Route 53's HTTPS health
	// checks). env: CHECKER_SERVE. default: loop
	Serve Serve
	// Redis is the endpoint to check. Redis.Password is filled at start from
	// AuthSecretARN or PasswordFile, never from the environment itself.
	Redis redisconn.Config
	// AuthSecretARN is the Secrets Manager secret holding the AUTH token.
	// env: REDIS_AUTH_SECRET_ARN. default: none
	AuthSecretARN string
	// PasswordFile holds the AUTH token, for local runs.
	// env: REDIS_PASSWORD_FILE. default: none
	PasswordFile string
	// HeartbeatKeySecretARN is the Secrets Manager secret holding the
	// heartbeat key (an HMAC key only the checkers and the promoters hold):
	// the primary's checker signs the heartbeat with it and every reader
	// refuses an unsigned or wrongly signed one. env:
	// HEARTBEAT_KEY_SECRET_ARN. default: none (unsigned heartbeats)
	HeartbeatKeySecretARN string
	// HeartbeatKeyFile holds the heartbeat key, for local runs.
	// env: HEARTBEAT_KEY_FILE. default: none
	HeartbeatKeyFile string
	// Check shapes each check (timeout, role, heartbeat, key prefix, TTL).
	Check check.Options
	// Fence keeps a master node out of "writable" when the Global
	// Datastore's primary is another region (see package fence); its Region
	// is AWS_REGION. env: GLOBAL_DATASTORE_ID (empty: no fence), FENCE_UNKNOWN
	// (not-writable or node-role; default not-writable), FENCE_MAX_AGE
	// (default 5m).
	Fence fence.Options
	// ClusterMode: auto (read cluster_enabled once per connection), on (a
	// cluster-mode endpoint: check every shard) or off (one node, never
	// asked). env: CLUSTER_MODE. default: auto
	ClusterMode check.ClusterMode
	// MetricsMode: api or emf. env: METRICS_MODE. default: api
	MetricsMode MetricsMode
	// Namespace of the metrics. env: METRIC_NAMESPACE. default: Custom/Redis
	Namespace string
	// Dimensions of every metric. env: METRIC_DIMENSIONS (Name=Value,...).
	// default: none
	Dimensions []metrics.Dimension
	// HighResolution also publishes HealthCheckStatusHighRes at 1-second
	// resolution. env: METRIC_HIGH_RESOLUTION. default: false
	HighResolution bool
	// SecretTimeout bounds the AUTH token read from Secrets Manager within
	// an invocation. env: SECRET_TIMEOUT. default: 2s
	SecretTimeout time.Duration
	// PublishTimeout bounds the metrics publish (PutMetricData, retries
	// included) within an invocation. env: PUBLISH_TIMEOUT. default: 1.5s
	PublishTimeout time.Duration
	// FunctionTimeout is the Lambda function's timeout, when the template
	// passes it: the budgets above and CHECK_TIMEOUT must fit in it.
	// env: FUNCTION_TIMEOUT. default: none (checked per invocation only)
	FunctionTimeout time.Duration
}

// Defaults of the invocation's budgets.
const (
	DefaultSecretTimeout  = 2 * time.Second
	DefaultPublishTimeout = 1500 * time.Millisecond
	// maxBudget bounds each of CHECK_TIMEOUT, SECRET_TIMEOUT, PUBLISH_TIMEOUT.
	maxBudget = 60 * time.Second
	// InvocationMargin is kept after the last budget so a failed invocation
	// still reports its error before Lambda's own timeout.
	InvocationMargin = 200 * time.Millisecond
)

// Variable names, in the order the README documents them.
const (
	// EnvServe says what invokes the checker (see Config.Serve).
	EnvServe         = "CHECKER_SERVE"
	EnvAddr          = "REDIS_ADDR"
	EnvTLS           = "REDIS_TLS"
	EnvTLSServerName = "REDIS_TLS_SERVER_NAME"
	EnvTLSCAFile     = "REDIS_TLS_CA_FILE"
	EnvUsername      = "REDIS_USERNAME"
	EnvAuthSecretARN = "REDIS_AUTH_SECRET_ARN"
	EnvPasswordFile  = "REDIS_PASSWORD_FILE"
	// EnvHeartbeatKeySecretARN and EnvHeartbeatKeyFile name the heartbeat
	// key (see Config).
	EnvHeartbeatKeySecretARN = "HEARTBEAT_KEY_SECRET_ARN"
	EnvHeartbeatKeyFile      = "HEARTBEAT_KEY_FILE"
	EnvDB                    = "REDIS_DB"
	EnvCheckTimeout          = "CHECK_TIMEOUT"
	EnvExpectRole            = "EXPECT_ROLE"
	EnvClusterMode           = "CLUSTER_MODE"
	EnvHeartbeat             = "HEARTBEAT"
	// EnvHeartbeatRegion names the writer in the heartbeat; default AWS_REGION.
	EnvHeartbeatRegion = "HEARTBEAT_REGION"
	EnvAWSRegion       = "AWS_REGION"
	EnvKeyPrefix       = "KEY_PREFIX"
	EnvKeyTTL          = "KEY_TTL"
	EnvMetricsMode     = "METRICS_MODE"
	EnvNamespace       = "METRIC_NAMESPACE"
	EnvDimensions      = "METRIC_DIMENSIONS"
	EnvHighResolution  = "METRIC_HIGH_RESOLUTION"
	EnvSecretTimeout   = "SECRET_TIMEOUT"
	EnvPublishTimeout  = "PUBLISH_TIMEOUT"
	EnvFunctionTimeout = "FUNCTION_TIMEOUT"
	// EnvDatastoreID, EnvFenceUnknown and EnvFenceMaxAge set the fence.
	EnvDatastoreID  = "GLOBAL_DATASTORE_ID"
	EnvFenceUnknown = "FENCE_UNKNOWN"
	EnvFenceMaxAge  = "FENCE_MAX_AGE"
	// EnvPassword is refused: a token in the environment ends up in
	// templates and consoles. It is named here only to say so.
	EnvPassword = "REDIS_PASSWORD"
)

// FromEnv reads and validates the configuration. getenv is os.Getenv in
// production. All problems are reported together, one per line.
func FromEnv(getenv func(string) string) (Config, error) {
	var errs []error
	bad := func(name, val, fix string) {
		errs = append(errs, envErrorf(name, "%s=%q: %s", name, val, fix))
	}
	c := Config{
		Redis: redisconn.Config{
			Addr:          strings.TrimSpace(getenv(EnvAddr)),
			TLS:           true,
			TLSServerName: getenv(EnvTLSServerName),
			TLSCAFile:     getenv(EnvTLSCAFile),
			Username:      getenv(EnvUsername),
		},
		AuthSecretARN:         strings.TrimSpace(getenv(EnvAuthSecretARN)),
		PasswordFile:          getenv(EnvPasswordFile),
		HeartbeatKeySecretARN: strings.TrimSpace(getenv(EnvHeartbeatKeySecretARN)),
		HeartbeatKeyFile:      getenv(EnvHeartbeatKeyFile),
		Check: check.Options{
			Prefix:     check.DefaultPrefix,
			KeyTTL:     check.DefaultKeyTTL,
			Timeout:    check.DefaultTimeout,
			ExpectRole: check.Auto,
			Heartbeat:  true,
			Region:     strings.TrimSpace(getenv(EnvAWSRegion)),
		},
		Serve:          ServeLoop,
		ClusterMode:    check.ClusterAuto,
		MetricsMode:    MetricsAPI,
		Namespace:      metrics.DefaultNamespace,
		SecretTimeout:  DefaultSecretTimeout,
		PublishTimeout: DefaultPublishTimeout,
	}

	if v := getenv(EnvServe); v != "" {
		switch m := Serve(strings.ToLower(strings.TrimSpace(v))); m {
		case ServeLoop, ServeWritableURL:
			c.Serve = m
		default:
			bad(EnvServe, v, "use loop (the Step Functions loop invokes the checker) or writable-url (a function URL does, for Route 53's HTTPS health checks)")
		}
	}
	if c.Redis.Addr == "" {
		errs = append(errs, envErrorf(EnvAddr, "%s is not set: give the endpoint as host:port, e.g. redis.internal:6379", EnvAddr))
	}
	if v := getenv(EnvTLS); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			bad(EnvTLS, v, "use true or false")
		}
		c.Redis.TLS = b
	}
	if v := getenv(EnvDB); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			bad(EnvDB, v, "use a database index of 0 or more")
		}
		c.Redis.DB = n
	}
	if v := getenv(EnvCheckTimeout); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			bad(EnvCheckTimeout, v, "use a positive Go duration such as 2s or 1500ms")
		} else if d > 60*time.Second {
			bad(EnvCheckTimeout, v, "use at most 60s (and stay well under the function timeout)")
		}
		c.Check.Timeout = d
	}
	c.Redis.DialTimeout, c.Redis.IOTimeout = c.Check.Timeout, c.Check.Timeout
	if v := getenv(EnvExpectRole); v != "" {
		r, err := check.ParseRole(v)
		if err != nil {
			bad(EnvExpectRole, v, "use auto, primary or replica")
		}
		c.Check.ExpectRole = r
	}
	if v := getenv(EnvClusterMode); v != "" {
		m, err := check.ParseClusterMode(v)
		if err != nil {
			bad(EnvClusterMode, v, "use auto (ask the endpoint), on (a cluster-mode endpoint: check every shard) or off (one node)")
		}
		c.ClusterMode = m
	}
	if v := getenv(EnvHeartbeat); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			bad(EnvHeartbeat, v, "use true or false")
		}
		c.Check.Heartbeat = b
	}
	if v := getenv(EnvHeartbeatRegion); v != "" {
		if strings.ContainsAny(v, " \t\r\n") {
			bad(EnvHeartbeatRegion, v, "use a name without white space, e.g. us-east-1")
		}
		c.Check.Region = v
	}
	if v := getenv(EnvKeyPrefix); v != "" {
		if strings.ContainsAny(v, " \t\r\n") {
			bad(EnvKeyPrefix, v, "use a prefix without white space, e.g. healthcheck:")
		}
		c.Check.Prefix = v
	}
	if v := getenv(EnvKeyTTL); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Second {
			bad(EnvKeyTTL, v, "use a Go duration of at least 1s, e.g. 30s")
		}
		c.Check.KeyTTL = d
	}
	if v := getenv(EnvMetricsMode); v != "" {
		switch m := MetricsMode(strings.ToLower(v)); m {
		case MetricsAPI, MetricsEMF:
			c.MetricsMode = m
		default:
			bad(EnvMetricsMode, v, "use api (PutMetricData) or emf (Embedded Metric Format on stdout)")
		}
	}
	if v := getenv(EnvNamespace); v != "" {
		c.Namespace = v
	}
	if v := getenv(EnvDimensions); v != "" {
		d, err := metrics.ParseDimensions(v)
		if err != nil {
			bad(EnvDimensions, v, err.Error())
		}
		c.Dimensions = d
	}
	if v := getenv(EnvHighResolution); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			bad(EnvHighResolution, v, "use true or false")
		}
		c.HighResolution = b
	}
	c.Fence = fence.Options{DatastoreID: strings.TrimSpace(getenv(EnvDatastoreID)), Region: strings.TrimSpace(getenv(EnvAWSRegion))}
	if v := getenv(EnvFenceUnknown); v != "" {
		switch u := fence.Unknown(strings.ToLower(v)); u {
		case fence.NotWritable, fence.NodeRole:
			c.Fence.Unknown = u
		default:
			bad(EnvFenceUnknown, v, "use not-writable (the region of the PRIMARY failover record) or node-role (the SECONDARY record's)")
		}
	}
	if v := getenv(EnvFenceMaxAge); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 || d > time.Hour {
			bad(EnvFenceMaxAge, v, "use a positive Go duration of at most 1h, e.g. 5m")
		}
		c.Fence.MaxAge = d
	}
	if c.Fence.DatastoreID != "" && c.Fence.Region == "" {
		errs = append(errs, envErrorf(EnvAWSRegion, "%s is set but %s is not: the fence compares the datastore's primary region with this one; set %s (Lambda sets it)",
			EnvDatastoreID, EnvAWSRegion, EnvAWSRegion))
	}
	if c.Fence.DatastoreID == "" && (c.Fence.Unknown != "" || c.Fence.MaxAge != 0) {
		errs = append(errs, envErrorf(EnvDatastoreID, "%s or %s is set but %s is not: give the Global Datastore's id, or drop them",
			EnvFenceUnknown, EnvFenceMaxAge, EnvDatastoreID))
	}
	budget := func(name string, d *time.Duration) {
		if v := getenv(name); v != "" {
			p, err := time.ParseDuration(v)
			if err != nil || p <= 0 || p > maxBudget {
				bad(name, v, "use a positive Go duration of at most 60s, e.g. 2s or 1500ms")
			}
			*d = p
		}
	}
	budget(EnvSecretTimeout, &c.SecretTimeout)
	budget(EnvPublishTimeout, &c.PublishTimeout)
	budget(EnvFunctionTimeout, &c.FunctionTimeout)
	if need := c.Budget(); c.FunctionTimeout > 0 && c.Check.Timeout > 0 && need > c.FunctionTimeout {
		if c.Serve == ServeWritableURL {
			errs = append(errs, envErrorf(EnvFunctionTimeout, "%s=%s is shorter than min(%s, %s) + %s margin = %s: raise the function timeout",
				EnvFunctionTimeout, c.FunctionTimeout, EnvCheckTimeout, MaxWritableCheck, InvocationMargin, need))
		} else {
			errs = append(errs, envErrorf(EnvFunctionTimeout, "%s=%s is shorter than %s + %s + %s + %s margin = %s: raise the function timeout or lower the budgets",
				EnvFunctionTimeout, c.FunctionTimeout, EnvSecretTimeout, EnvCheckTimeout, EnvPublishTimeout, InvocationMargin, need))
		}
	}
	if err := (metrics.Options{Namespace: c.Namespace}).Validate(); err != nil {
		bad(EnvNamespace, c.Namespace, err.Error())
	}
	if getenv(EnvPassword) != "" {
		errs = append(errs, envErrorf(EnvPassword, "%s is set: a token in the environment is plaintext in the template; "+
			"store it in Secrets Manager and set %s, or use %s for local runs", EnvPassword, EnvAuthSecretARN, EnvPasswordFile))
	}
	if c.AuthSecretARN != "" && c.PasswordFile != "" {
		errs = append(errs, envErrorf(EnvPasswordFile, "%s and %s are both set: keep one", EnvAuthSecretARN, EnvPasswordFile))
	}
	if c.AuthSecretARN != "" && !strings.HasPrefix(c.AuthSecretARN, "arn:") {
		bad(EnvAuthSecretARN, c.AuthSecretARN, "give the secret's full ARN, arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME")
	}
	if c.HeartbeatKeySecretARN != "" && c.HeartbeatKeyFile != "" {
		errs = append(errs, envErrorf(EnvHeartbeatKeyFile, "%s and %s are both set: keep one", EnvHeartbeatKeySecretARN, EnvHeartbeatKeyFile))
	}
	if c.HeartbeatKeySecretARN != "" && !strings.HasPrefix(c.HeartbeatKeySecretARN, "arn:") {
		bad(EnvHeartbeatKeySecretARN, c.HeartbeatKeySecretARN, "give the secret's full ARN, arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME")
	}
	errs = append(errs, checkFiles(c)...)
	if c.Redis.Addr != "" {
		if err := c.Redis.Validate(); err != nil {
			errs = append(errs, envErrorf(envFor(err), "%s: %v", envFor(err), err))
		}
	}
	return c, errors.Join(errs...)
}

// envFor names the variable behind a redisconn validation error.
func envFor(err error) string {
	var fe *redisconn.FieldError
	if errors.As(err, &fe) {
		switch fe.Field {
		case redisconn.FieldTLSServerName:
			return EnvTLSServerName
		case redisconn.FieldTLSCAFile:
			return EnvTLSCAFile
		case redisconn.FieldDB:
			return EnvDB
		case redisconn.FieldTimeout:
			return EnvCheckTimeout
		}
	}
	return EnvAddr
}

// EnvError is a refusal of one variable: Name is the variable, so a caller
// (the CDK app's synth-time check) maps it to its own setting without
// parsing the message.
type EnvError struct {
	Name string
	msg  string
}

func (e *EnvError) Error() string { return e.msg }

// NewEnvError is an *EnvError of name with message msg.
func NewEnvError(name, msg string) *EnvError { return &EnvError{Name: name, msg: msg} }

// envErrorf is an *EnvError of name with a formatted message.
func envErrorf(name, format string, args ...any) error {
	return &EnvError{Name: name, msg: fmt.Sprintf(format, args...)}
}
