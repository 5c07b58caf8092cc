// Package check is redisha's health-check engine: one check is one pipeline
// (one network round trip on a warm connection) whose result is data. Redis
// being down is a Result with a reason, never a Go error.
package check

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Role is the role a check expects of the endpoint.
type Role string

// Roles.
const (
	// Primary: the endpoint must accept writes (PING, SET, GET, DEL).
	Primary Role = "primary"
	// Replica: the endpoint must answer reads (PING, GET of the heartbeat key);
	// used for the read-only secondary region of a Global Datastore.
	Replica Role = "replica"
)

// ParseRole reads a role name; empty means Primary.
func ParseRole(s string) (Role, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "primary":
		return Primary, nil
	case "replica":
		return Replica, nil
	}
	return "", fmt.Errorf("role %q is unknown: use primary or replica", s)
}

// Step names the command of a check that failed.
type Step string

// Steps of a check, in pipeline order.
const (
	StepPing      Step = "ping"
	StepSet       Step = "set"
	StepGet       Step = "get"
	StepDel       Step = "del"
	StepHeartbeat Step = "heartbeat"
)

// Defaults.
const (
	DefaultPrefix       = "healthcheck:"
	DefaultKeyTTL       = 30 * time.Second
	DefaultHeartbeatTTL = 10 * time.Minute
	DefaultTimeout      = 2 * time.Second
)

// Options shape one check.
type Options struct {
	// Prefix of every key the check touches. Keep it apart from application
	// keys (and out of any eviction or keyspace policy that matters).
	// default: "healthcheck:"
	Prefix string
	// KeyTTL is the expiry of the probe key, so a check cut off half-way
	// leaves nothing behind for long. default: 30 seconds
	KeyTTL time.Duration
	// Timeout bounds the whole check; a server that has not answered by then
	// is unhealthy (stalled), never a slow success. Zero means the caller's
	// context alone bounds it. default: none here (callers pass 2 seconds)
	Timeout time.Duration
	// ExpectRole is the role the endpoint must play. default: Primary
	ExpectRole Role
	// Heartbeat: on a primary, refresh <prefix>heartbeat with the write time;
	// on a replica, report that key's age as the replication lag.
	// default: false
	Heartbeat bool
	// HeartbeatTTL is the expiry of the heartbeat key. default: 10 minutes
	HeartbeatTTL time.Duration
	// Now is the clock (tests only). default: time.Now
	Now func() time.Time
}

func (o Options) withDefaults() Options {
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if o.KeyTTL <= 0 {
		o.KeyTTL = DefaultKeyTTL
	}
	if o.HeartbeatTTL <= 0 {
		o.HeartbeatTTL = DefaultHeartbeatTTL
	}
	if o.ExpectRole == "" {
		o.ExpectRole = Primary
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Validate names the first option that cannot work.
func (o Options) Validate() error {
	if _, err := ParseRole(string(o.ExpectRole)); err != nil {
		return fmt.Errorf("expect role: %w", err)
	}
	if o.KeyTTL < 0 || o.HeartbeatTTL < 0 || o.Timeout < 0 {
		return errors.New("key TTL, heartbeat TTL and timeout must not be negative")
	}
	if o.KeyTTL > 0 && o.KeyTTL < time.Millisecond {
		return errors.New("key TTL is under 1ms: use at least a few seconds")
	}
	if strings.ContainsAny(o.Prefix, " \r\n") {
		return fmt.Errorf("key prefix %q has white space: use e.g. healthcheck:", o.Prefix)
	}
	return nil
}

// HeartbeatKey is the key that carries the primary's write time.
func (o Options) HeartbeatKey() string {
	return o.withDefaults().Prefix + "heartbeat"
}

// Result is the outcome of one check.
type Result struct {
	// Healthy is true when every step answered as expected in time.
	Healthy bool `json:"healthy"`
	// Role is the role the check expected.
	Role Role `json:"role"`
	// Start is when the check began.
	Start time.Time `json:"time"`
	// Latency is the wall time of the check, dial included on a cold client.
	Latency time.Duration `json:"-"`
	// LatencyMS is Latency in milliseconds, for JSON.
	LatencyMS float64 `json:"latency_ms"`
	// Step is the first step that failed; empty when healthy.
	Step Step `json:"failed_step,omitempty"`
	// Reason classifies the failure; empty when healthy.
	Reason Reason `json:"reason,omitempty"`
	// Error is the failure as text, without secrets; empty when healthy.
	Error string `json:"error,omitempty"`
	// HeartbeatAge is the replica's view of the heartbeat's age, when read.
	HeartbeatAge *time.Duration `json:"-"`
	// HeartbeatAgeSeconds is HeartbeatAge in seconds, for JSON.
	HeartbeatAgeSeconds *float64 `json:"heartbeat_age_seconds,omitempty"`
}

func (r *Result) finish(now time.Time) {
	r.Latency = now.Sub(r.Start)
	r.LatencyMS = float64(r.Latency.Microseconds()) / 1000
	if r.HeartbeatAge != nil {
		s := r.HeartbeatAge.Seconds()
		r.HeartbeatAgeSeconds = &s
	}
}

func (r *Result) fail(step Step, reason Reason, err error) {
	r.Healthy = false
	r.Step = step
	r.Reason = reason
	if err != nil {
		r.Error = err.Error()
	}
}

// Check runs one check against c with the options. c is typically a
// *redis.Client built by redisconn; a cluster client works for the replica
// role and for primaries where the key's slot is local.
func Check(ctx context.Context, c redis.Cmdable, o Options) Result {
	o = o.withDefaults()
	r := Result{Role: o.ExpectRole, Start: o.Now()}
	if o.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Timeout)
		defer cancel()
	}
	switch o.ExpectRole {
	case Replica:
		checkReplica(ctx, c, o, &r)
	default:
		checkPrimary(ctx, c, o, &r)
	}
	r.finish(o.Now())
	return r
}

func checkPrimary(ctx context.Context, c redis.Cmdable, o Options, r *Result) {
	key, token := newKeyToken(o.Prefix)
	// One pipeline, one round trip. The SET is NX so that a check can never
	// overwrite another value, and carries a TTL so that it expires even
	// when the DEL never runs.
	pipe := c.Pipeline()
	ping := pipe.Ping(ctx)
	set := pipe.SetArgs(ctx, key, token, redis.SetArgs{Mode: "NX", TTL: o.KeyTTL})
	get := pipe.Get(ctx, key)
	del := pipe.Del(ctx, key)
	var hb *redis.StatusCmd
	if o.Heartbeat {
		hb = pipe.Set(ctx, o.HeartbeatKey(), strconv.FormatInt(o.Now().UnixMilli(), 10), o.HeartbeatTTL)
	}
	_, execErr := pipe.Exec(ctx)
	// Each command counts as answered when it holds the reply expected of
	// it: go-redis also sets a failed pipeline's error on the commands whose
	// replies did arrive, and the failed step is the first one without its
	// reply (e.g. SET under CLIENT PAUSE WRITE, after PING answered).
	if ping.Val() != "PONG" {
		r.failCmd(StepPing, ping.Err(), execErr, fmt.Errorf("ping answered %q, want PONG", ping.Val()))
		return
	}
	if set.Val() != "OK" {
		if errors.Is(set.Err(), redis.Nil) {
			// NX refused: the random key exists. Vanishingly rare, but never
			// a success: the round trip did not prove a write.
			r.fail(StepSet, ReasonKeyExists, fmt.Errorf("key %s already exists", key))
			return
		}
		r.failCmd(StepSet, set.Err(), execErr, fmt.Errorf("set answered %q, want OK", set.Val()))
		return
	}
	if get.Val() != token {
		if errors.Is(get.Err(), redis.Nil) {
			r.fail(StepGet, ReasonMismatch, errors.New("read back nothing: the key vanished after the write"))
			return
		}
		r.failCmd(StepGet, get.Err(), execErr, errors.New("read back a value other than the one written"))
		return
	}
	if del.Val() != 1 {
		r.failCmd(StepDel, del.Err(), execErr, fmt.Errorf("del removed %d keys, want 1", del.Val()))
		return
	}
	if hb != nil && hb.Val() != "OK" {
		r.failCmd(StepHeartbeat, hb.Err(), execErr, fmt.Errorf("heartbeat set answered %q, want OK", hb.Val()))
		return
	}
	r.Healthy = true
}

func checkReplica(ctx context.Context, c redis.Cmdable, o Options, r *Result) {
	pipe := c.Pipeline()
	ping := pipe.Ping(ctx)
	get := pipe.Get(ctx, o.HeartbeatKey())
	_, execErr := pipe.Exec(ctx)
	if ping.Val() != "PONG" {
		r.failCmd(StepPing, ping.Err(), execErr, fmt.Errorf("ping answered %q, want PONG", ping.Val()))
		return
	}
	err := get.Err()
	switch {
	case errors.Is(err, redis.Nil):
		// Readable; no heartbeat yet (heartbeats off, or not replicated yet).
	case err != nil && get.Val() == "":
		r.failCmd(StepGet, err, execErr, nil)
		return
	case o.Heartbeat:
		if hb, perr := ParseHeartbeat(get.Val()); perr == nil {
			age := o.Now().Sub(hb.Written)
			if age < 0 {
				age = 0 // clocks of two hosts; a lag is never negative
			}
			r.HeartbeatAge = &age
		}
	}
	r.Healthy = true
}

// newKeyToken returns a unique key under prefix and a random value: 128
// random bits each, so that concurrent checkers never meet (the time- and
// $RANDOM-based keys of shell probes do).
func newKeyToken(prefix string) (key, token string) {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	var h [64]byte
	hex.Encode(h[:], b[:])
	return prefix + string(h[:32]), string(h[32:])
}

// failCmd records a failure at step for a command that lacks its expected
// reply: cmdErr is the command's own error; a connection that failed before
// any command ran (dial, TLS handshake or AUTH) leaves the commands without
// one and go-redis reports it only as execErr; with neither, the server
// answered something else and mismatch says what.
func (r *Result) failCmd(step Step, cmdErr, execErr, mismatch error) {
	switch {
	case cmdErr != nil:
		r.fail(step, Classify(cmdErr), cmdErr)
	case execErr != nil:
		r.fail(step, Classify(execErr), execErr)
	default:
		r.fail(step, ReasonMismatch, mismatch)
	}
}
