package probe

import (
	"time"

	"github.com/redisha/redisha/internal/check"
	"github.com/redisha/redisha/internal/fielderr"
	"github.com/redisha/redisha/internal/redisconn"
)

// Config shapes a probe run. The zero value of a field means its default;
// Validate refuses what cannot work, so no configuration runs forever
// unless asked to (Duration 0 with one cycle: until the context ends).
type Config struct {
	// Conn is the endpoint.
	Conn redisconn.Config
	// Cluster says whether the endpoint is a cluster whose every shard is
	// probed (a write and a read series per shard, each with keys that hash
	// to it). default: check.ClusterAuto (INFO cluster, asked by Prepare)
	Cluster check.ClusterMode
	// Timeout bounds each check; a check that outlasts it is a failure, so a
	// stall shows as an outage. default: 1 second
	Timeout time.Duration
	// Duration of each cycle: a bound, never overrun by more than one
	// check in flight. 0 runs until the context ends (one cycle only).
	Duration time.Duration
	// Interval between the checks of one series; 0 runs them back to back.
	Interval time.Duration
	// Cycles to run, with Break between them. default: 1
	Cycles int
	// Break between cycles.
	Break time.Duration
	// Prefix of the probe's keys. default: healthcheck:
	Prefix string
	// KeyTTL of each write key, at least 1 second. default: 30 seconds
	KeyTTL time.Duration
	// SampleEvery is how often what repeats is written to the event log: a
	// sampled success per series, and while a series is down a still_down
	// event with the failures counted per reason. State changes are always
	// written at once. default: 1 second
	SampleEvery time.Duration
	// Sink receives every event as it happens (may be nil). It is called
	// from the probe's goroutines, one call at a time.
	Sink func(Event)
}

// FieldError is a Config field that cannot work (Field is one of the
// Field constants).
type FieldError = fielderr.Error

// Config fields a FieldError can be about.
const (
	FieldTimeout     = "timeout"
	FieldDuration    = "duration"
	FieldInterval    = "interval"
	FieldCycles      = "cycles"
	FieldBreak       = "break"
	FieldPrefix      = "prefix"
	FieldKeyTTL      = "key ttl"
	FieldSampleEvery = "sample every"
	FieldCluster     = "cluster"
)

var fieldErr = fielderr.New

func (c Config) withDefaults() Config {
	if c.Timeout == 0 {
		c.Timeout = time.Second
	}
	if c.Cycles == 0 {
		c.Cycles = 1
	}
	if c.Prefix == "" {
		c.Prefix = check.DefaultPrefix
	}
	if c.KeyTTL == 0 {
		c.KeyTTL = check.DefaultKeyTTL
	}
	if c.SampleEvery == 0 {
		c.SampleEvery = time.Second
	}
	if m, err := check.ParseClusterMode(string(c.Cluster)); err == nil {
		c.Cluster = m // "" is auto; "true" is on
	}
	return c
}

// Validate reports the first field that cannot work: a *FieldError for the
// probe's own fields, redisconn's error for Conn. Zero values stand for
// the defaults and are valid.
func (c Config) Validate() error {
	c = c.withDefaults()
	switch {
	case c.Timeout < 0:
		return fieldErr(FieldTimeout, "must be positive, e.g. 1s")
	case c.Duration < 0:
		return fieldErr(FieldDuration, "must not be negative (0 runs until the context ends)")
	case c.Interval < 0:
		return fieldErr(FieldInterval, "must not be negative (0 runs checks back to back)")
	case c.Cycles < 1:
		return fieldErr(FieldCycles, "must be at least 1")
	case c.Break < 0:
		return fieldErr(FieldBreak, "must not be negative")
	case c.KeyTTL < time.Second:
		return fieldErr(FieldKeyTTL, "must be at least 1s, e.g. 30s")
	case c.SampleEvery < 0:
		return fieldErr(FieldSampleEvery, "must be positive, e.g. 1s")
	case c.Duration == 0 && c.Cycles > 1:
		return fieldErr(FieldCycles, "needs a duration: a cycle without one never ends")
	}
	if err := check.ValidatePrefix(c.Prefix); err != nil {
		return &FieldError{Field: FieldPrefix, Err: err}
	}
	if _, err := check.ParseClusterMode(string(c.Cluster)); err != nil {
		return &FieldError{Field: FieldCluster, Err: err}
	}
	return c.Conn.Validate()
}
