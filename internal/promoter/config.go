package promoter

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/redisha/redisha/internal/check"
	"github.com/redisha/redisha/internal/config"
	"github.com/redisha/redisha/internal/metrics"
	"github.com/redisha/redisha/internal/redisconn"
)

// Config is the promoter Lambda's whole configuration, read from its
// environment. The Redis connection variables are the checker's
// (REDIS_ADDR, REDIS_TLS, REDIS_AUTH_SECRET_ARN, … and KEY_PREFIX), read
// with the same rules; Environment gives the variables back, so the CDK app
// builds the function's environment from a Config.
type Config struct {
	// Redis is the local replication group's primary endpoint (read-only
	// while the region is secondary). env: REDIS_* as for the checker.
	Redis         redisconn.Config
	AuthSecretARN string
	PasswordFile  string
	// HeartbeatKeySecretARN and HeartbeatKeyFile name the heartbeat key the
	// checkers sign with (env: HEARTBEAT_KEY_SECRET_ARN, HEARTBEAT_KEY_FILE,
	// as for the checker); with one, an unsigned or wrongly signed
	// heartbeat is refused. default: none
	HeartbeatKeySecretARN string
	HeartbeatKeyFile      string
	// ClusterMode says how to read the local group: on (cluster mode: every
	// shard's heartbeat, the worst decides), off (one node) or auto (INFO
	// cluster says). env: CLUSTER_MODE, as for the checker. default: auto
	ClusterMode check.ClusterMode
	// KeyPrefix is the checker's key prefix (the heartbeat is
	// <prefix>heartbeat). env: KEY_PREFIX. default: healthcheck:
	KeyPrefix string
	// Namespace of the decision metrics. env: METRIC_NAMESPACE.
	// default: Custom/Redis
	Namespace string

	// Region is the local region, the only one this promoter may promote.
	// env: AWS_REGION (set by Lambda). required
	Region string
	// DatastoreID is the Global Datastore's full id (region prefix
	// included). env: GLOBAL_DATASTORE_ID. required
	DatastoreID string
	// GroupID is the local member's replication group id.
	// env: REPLICATION_GROUP_ID. required
	GroupID string
	// PeerRegion is the other member's region. env: PEER_REGION. required
	PeerRegion string
	// PeerAlarm is the other region's "accepts writes" alarm, read in
	// PeerRegion. env: PEER_WRITABLE_ALARM. required
	PeerAlarm string
	// PeerMetricDimensions are the peer checker's metric dimensions: the
	// runner reads its HeartbeatWritten metric (the primary's last writable
	// moment) with them. env: PEER_METRIC_DIMENSIONS (Name=Value,…).
	// default: none (the data-loss guard then bounds the loss by now, and
	// refuses automatic promotion beyond MAX_DATA_LOSS)
	PeerMetricDimensions []metrics.Dimension
	// PeerWitness is the peer region's witness: a DNS name whose TXT answer
	// is Route 53's verdict on the peer's writable endpoint (DNSWitness),
	// the third observer. env: PEER_WITNESS. default: none
	PeerWitness string
	// WitnessResolver is the DNS server (host:port) the witness is asked
	// through. env: WITNESS_RESOLVER. default: the system's (in a VPC, the
	// Route 53 Resolver)
	WitnessResolver string
	// LatchTable is the DynamoDB table (in Region, partition key "pk",
	// string) that keeps the state. env: LATCH_TABLE. required
	LatchTable string
	// TopicARN receives the pages. env: SNS_TOPIC_ARN. default: none (pages
	// are logged only)
	TopicARN string

	// Mode: off, advise or auto. env: PROMOTER_MODE. default: advise
	Mode Mode
	// Bounds. env: STALL_AFTER (3m), HEARTBEAT_INTERVAL (30s),
	// MAX_DATA_LOSS (5s), COOLDOWN (1h), PEER_SEEN_WITHIN (15m),
	// SILENT_MAX_DATA_LOSS (0: a silent region waits for a person)
	Bounds Bounds
	// CallTimeout bounds each AWS and Redis call. env: CALL_TIMEOUT.
	// default: 5s
	CallTimeout time.Duration
	// PromoteTimeout bounds a promotion, call to verified write; the
	// function's timeout must exceed it by the run's other calls.
	// env: PROMOTE_TIMEOUT. default: 5m
	PromoteTimeout time.Duration
	// PollInterval is the pause between checks while promoting.
	// env: POLL_INTERVAL. default: 5s
	PollInterval time.Duration
}

// Variable names of the promoter's own settings.
const (
	EnvRegion      = "AWS_REGION"
	EnvDatastoreID = "GLOBAL_DATASTORE_ID"
	EnvGroupID     = "REPLICATION_GROUP_ID"
	EnvPeerRegion  = "PEER_REGION"
	EnvPeerAlarm   = "PEER_WRITABLE_ALARM"
	// EnvPeerMetricDimensions: the peer checker's metric dimensions, in
	// the METRIC_DIMENSIONS form (Name=Value,…).
	EnvPeerMetricDimensions = "PEER_METRIC_DIMENSIONS"
	EnvPeerWitness          = "PEER_WITNESS"
	EnvWitnessResolver      = "WITNESS_RESOLVER"
	EnvSilentMaxDataLoss    = "SILENT_MAX_DATA_LOSS"
	EnvLatchTable           = "LATCH_TABLE"
	EnvTopicARN             = "SNS_TOPIC_ARN"
	EnvMode                 = "PROMOTER_MODE"
	EnvStallAfter           = "STALL_AFTER"
	EnvHeartbeatInterval    = "HEARTBEAT_INTERVAL"
	EnvMaxDataLoss          = "MAX_DATA_LOSS"
	EnvCooldown             = "COOLDOWN"
	EnvPeerSeenWithin       = "PEER_SEEN_WITHIN"
	EnvCallTimeout          = "CALL_TIMEOUT"
	EnvPromoteTimeout       = "PROMOTE_TIMEOUT"
	EnvPollInterval         = "POLL_INTERVAL"
)

// ConfigFromEnv reads and validates the configuration; getenv is os.Getenv
// in production. Every problem is reported, one per line, naming the
// variable and the fix.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	var errs []error
	conn, err := config.FromEnv(getenv)
	if err != nil {
		errs = append(errs, err)
	}
	c := Config{
		Redis: conn.Redis, AuthSecretARN: conn.AuthSecretARN, PasswordFile: conn.PasswordFile,
		HeartbeatKeySecretARN: conn.HeartbeatKeySecretARN, HeartbeatKeyFile: conn.HeartbeatKeyFile,
		KeyPrefix: conn.Check.Prefix, Namespace: conn.Namespace, ClusterMode: conn.ClusterMode,
		Region: strings.TrimSpace(getenv(EnvRegion)), DatastoreID: strings.TrimSpace(getenv(EnvDatastoreID)),
		GroupID: strings.TrimSpace(getenv(EnvGroupID)), PeerRegion: strings.TrimSpace(getenv(EnvPeerRegion)),
		PeerAlarm: strings.TrimSpace(getenv(EnvPeerAlarm)), LatchTable: strings.TrimSpace(getenv(EnvLatchTable)),
		TopicARN:    strings.TrimSpace(getenv(EnvTopicARN)),
		PeerWitness: strings.TrimSpace(getenv(EnvPeerWitness)), WitnessResolver: strings.TrimSpace(getenv(EnvWitnessResolver)),
	}
	if r := c.WitnessResolver; r != "" {
		if _, _, err := net.SplitHostPort(r); err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: give the DNS server as host:port, e.g. 10.0.0.2:53", EnvWitnessResolver, r))
		}
	}
	if v := strings.TrimSpace(getenv(EnvPeerMetricDimensions)); v != "" {
		ds, err := metrics.ParseDimensions(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: %v: give Name=Value pairs, e.g. ReplicationGroupId=redis-primary", EnvPeerMetricDimensions, v, err))
		}
		c.PeerMetricDimensions = ds
	}
	for _, req := range []struct{ name, val, example string }{
		{EnvRegion, c.Region, "us-west-2 (Lambda sets it)"},
		{EnvDatastoreID, c.DatastoreID, "ldgnf-redisha"},
		{EnvGroupID, c.GroupID, "redis-secondary"},
		{EnvPeerRegion, c.PeerRegion, "us-east-1"},
		{EnvPeerAlarm, c.PeerAlarm, "redisha-us-east-1-writable"},
		{EnvLatchTable, c.LatchTable, "redisha-latch-ldgnf-redisha"},
	} {
		if req.val == "" {
			errs = append(errs, fmt.Errorf("%s is not set: give it, e.g. %s", req.name, req.example))
		}
	}
	if c.Region != "" && c.Region == c.PeerRegion {
		errs = append(errs, fmt.Errorf("%s=%q is the local region: give the other member's region", EnvPeerRegion, c.PeerRegion))
	}
	if c.TopicARN != "" && !strings.HasPrefix(c.TopicARN, "arn:") {
		errs = append(errs, fmt.Errorf("%s=%q: give the topic's ARN, arn:aws:sns:REGION:ACCOUNT:NAME", EnvTopicARN, c.TopicARN))
	}
	if c.Mode, err = ParseMode(getenv(EnvMode)); err != nil {
		errs = append(errs, fmt.Errorf("%s=%q: use off, advise or auto", EnvMode, getenv(EnvMode)))
	}
	dur := func(name string, def time.Duration) time.Duration {
		v := strings.TrimSpace(getenv(name))
		if v == "" {
			return def
		}
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			errs = append(errs, fmt.Errorf("%s=%q: use a positive Go duration such as %s", name, v, def))
			return def
		}
		return d
	}
	c.Bounds = Bounds{
		StallAfter:        dur(EnvStallAfter, DefaultStallAfter),
		HeartbeatInterval: dur(EnvHeartbeatInterval, DefaultHeartbeatInterval),
		MaxDataLoss:       dur(EnvMaxDataLoss, DefaultMaxDataLoss),
		Cooldown:          dur(EnvCooldown, DefaultCooldown),
		PeerSeenWithin:    dur(EnvPeerSeenWithin, DefaultPeerSeenWithin),
	}
	if v := strings.TrimSpace(getenv(EnvSilentMaxDataLoss)); v != "" {
		d, err := time.ParseDuration(v)
		switch {
		case err != nil || d < 0:
			errs = append(errs, fmt.Errorf("%s=%q: use a Go duration such as 45s, or 0 to leave a silent region to a person", EnvSilentMaxDataLoss, v))
		case d > 0 && c.PeerWitness == "":
			errs = append(errs, fmt.Errorf("%s=%s needs %s: only the witness dates a silent region's last write; set it, or %s=0",
				EnvSilentMaxDataLoss, d, EnvPeerWitness, EnvSilentMaxDataLoss))
		default:
			c.Bounds.SilentMaxDataLoss = d
		}
	}
	c.CallTimeout = dur(EnvCallTimeout, DefaultCallTimeout)
	c.PromoteTimeout = dur(EnvPromoteTimeout, DefaultPromoteTimeout)
	c.PollInterval = dur(EnvPollInterval, DefaultPollInterval)
	if c.Bounds.StallAfter <= c.Bounds.HeartbeatInterval {
		// Between two heartbeats the value does not change: a bound at or
		// under the interval would read every healthy gap as a stall.
		errs = append(errs, fmt.Errorf("%s=%s is not over %s=%s: the heartbeat does not advance between writes; use at least %s",
			EnvStallAfter, c.Bounds.StallAfter, EnvHeartbeatInterval, c.Bounds.HeartbeatInterval, 3*c.Bounds.HeartbeatInterval))
	}
	if c.Bounds.PeerSeenWithin < 2*c.Bounds.HeartbeatInterval {
		// The promoter reads the peer's alarm once a run (every 30 s): a
		// shorter window would discard a route that works.
		errs = append(errs, fmt.Errorf("%s=%s is under two heartbeat intervals (%s=%s): a working route to the peer's CloudWatch "+
			"would not count; use at least %s (default %s)", EnvPeerSeenWithin, c.Bounds.PeerSeenWithin, EnvHeartbeatInterval,
			c.Bounds.HeartbeatInterval, 2*c.Bounds.HeartbeatInterval, DefaultPeerSeenWithin))
	}
	return c, errors.Join(errs...)
}

// Environment returns the variables that give c back through ConfigFromEnv
// (defaults included, so the template shows every value), except
// AWS_REGION, which Lambda reserves and sets to the function's region.
func (c Config) Environment() map[string]string {
	env := map[string]string{
		config.EnvAddr:       c.Redis.Addr,
		config.EnvTLS:        strconv.FormatBool(c.Redis.TLS),
		EnvDatastoreID:       c.DatastoreID,
		EnvGroupID:           c.GroupID,
		EnvPeerRegion:        c.PeerRegion,
		EnvPeerAlarm:         c.PeerAlarm,
		EnvLatchTable:        c.LatchTable,
		EnvMode:              string(c.Mode),
		EnvStallAfter:        c.Bounds.StallAfter.String(),
		EnvHeartbeatInterval: c.Bounds.HeartbeatInterval.String(),
		EnvMaxDataLoss:       c.Bounds.MaxDataLoss.String(),
		EnvCooldown:          c.Bounds.Cooldown.String(),
		EnvPeerSeenWithin:    c.Bounds.PeerSeenWithin.String(),
		EnvCallTimeout:       c.CallTimeout.String(),
		EnvPromoteTimeout:    c.PromoteTimeout.String(),
		EnvPollInterval:      c.PollInterval.String(),
		EnvSilentMaxDataLoss: c.Bounds.SilentMaxDataLoss.String(),
	}
	for name, v := range map[string]string{
		config.EnvTLSServerName: c.Redis.TLSServerName, config.EnvTLSCAFile: c.Redis.TLSCAFile,
		config.EnvUsername: c.Redis.Username, config.EnvAuthSecretARN: c.AuthSecretARN,
		config.EnvPasswordFile: c.PasswordFile, config.EnvKeyPrefix: c.KeyPrefix,
		config.EnvHeartbeatKeySecretARN: c.HeartbeatKeySecretARN, config.EnvHeartbeatKeyFile: c.HeartbeatKeyFile,
		config.EnvNamespace: c.Namespace, EnvTopicARN: c.TopicARN,
		EnvPeerWitness: c.PeerWitness, EnvWitnessResolver: c.WitnessResolver,
	} {
		if v != "" {
			env[name] = v
		}
	}
	if c.Redis.DB != 0 {
		env[config.EnvDB] = strconv.Itoa(c.Redis.DB)
	}
	if c.ClusterMode != "" && c.ClusterMode != check.ClusterAuto {
		env[config.EnvClusterMode] = string(c.ClusterMode)
	}
	if len(c.PeerMetricDimensions) > 0 {
		env[EnvPeerMetricDimensions] = config.FormatDimensions(c.PeerMetricDimensions)
	}
	// AWS_REGION is left out: Lambda reserves and sets it.
	return env
}

// Deps are a Runner's clients: what differs between the Lambda (the real
// AWS clients of its region and the peer's), the operator's commands and a
// rehearsal (clients of the stand-ins).
type Deps struct {
	ElastiCache ElastiCacheAPI
	Alarms      AlarmsAPI
	Redis       Endpoint
	Store       StateStore
	SNS         PublishAPI // nil: pages are logged only
	Metrics     io.Writer  // nil: no decision metrics
	Log         *slog.Logger
}

// Runner is the runner c configures, with deps as its clients: every
// setting comes from c, so the Lambda and a rehearsal of it decide alike.
func (c Config) Runner(deps Deps) *Runner {
	r := &Runner{
		Region: c.Region, DatastoreID: c.DatastoreID, GroupID: c.GroupID,
		PeerRegion: c.PeerRegion, PeerAlarm: c.PeerAlarm, PeerMetricDimensions: c.PeerMetricDimensions,
		Mode: c.Mode, Bounds: c.Bounds,
		ElastiCache: deps.ElastiCache, Alarms: deps.Alarms, Redis: deps.Redis, Store: deps.Store,
		TopicARN: c.TopicARN, Metrics: deps.Metrics, Namespace: c.Namespace, Log: deps.Log,
		CallTimeout: c.CallTimeout, PromoteTimeout: c.PromoteTimeout, PollInterval: c.PollInterval,
	}
	if c.TopicARN != "" && deps.SNS != nil {
		r.SNS = deps.SNS
	}
	if c.PeerWitness != "" {
		r.Observer = DNSWitness(c.PeerWitness, c.WitnessResolver)
	}
	return r
}
