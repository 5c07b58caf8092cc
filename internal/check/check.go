// Package check is redisha's health-check engine: one check is one pipeline
// (one network round trip on a warm connection) whose result is data. Redis
// being down is a Result with a reason, never a Go error. On a cluster-mode
// endpoint (ClusterChecker) every shard's primary gets that pipeline, all in
// parallel, and the result sums the shards up.
package check

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Role is a node's role, or the role a check expects of it.
type Role string

// Roles.
const (
	// Auto: learn the node's role in every check (ROLE, in the same
	// pipeline) and check it as what it is: the write check on a primary,
	// the read check on a replica.
	Auto Role = "auto"
	// Primary: the endpoint must accept writes (PING, SET, GET, DEL).
	Primary Role = "primary"
	// Replica: the endpoint must answer reads (PING, GET of the heartbeat key);
	// used for the read-only secondary region of a Global Datastore.
	Replica Role = "replica"
)

// ParseRole reads a role name; empty means Auto.
func ParseRole(s string) (Role, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "auto":
		return Auto, nil
	case "primary":
		return Primary, nil
	case "replica":
		return Replica, nil
	}
	return "", fmt.Errorf("role %q is unknown: use auto, primary or replica", s)
}

// Step names the command of a check that failed.
type Step string

// Steps of a check, in pipeline order.
const (
	StepPing      Step = "ping"
	StepRole      Step = "role"
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
	// Timeout bounds the whole check, a redial and a second pipeline after a
	// role change included; a server that has not answered by then is
	// unhealthy (stalled), never a slow success. Zero means the caller's
	// context alone bounds it. default: none here (callers pass 2 seconds)
	Timeout time.Duration
	// ExpectRole is the role the endpoint must play: Auto checks the node as
	// the role it reports. default: Auto
	ExpectRole Role
	// Heartbeat: on a primary, refresh <prefix>heartbeat (a Heartbeat: the
	// write time, Region and a sequence number); on a replica, report that
	// key's age as the replication lag, and its absence as such.
	// default: false
	Heartbeat bool
	// HeartbeatTTL is the expiry of the heartbeat key; a replica that finds
	// no heartbeat reports its lag as at least this. default: 10 minutes
	HeartbeatTTL time.Duration
	// HeartbeatSecret is the heartbeat key, held only by the checkers and
	// the promoters: with it the primary signs the heartbeat and a replica
	// check refuses an unsigned or wrongly signed one (reported as
	// missing). Never logged. default: none (unsigned, as older checkers)
	HeartbeatSecret []byte `json:"-"`
	// HeartbeatKeySource, when set, supplies HeartbeatSecret at each check
	// (a cached Secrets Manager read). Should it fail, the check still
	// runs but writes no heartbeat (HeartbeatSkipped says why): an
	// unsigned heartbeat would be refused anyway, and failing the write
	// check would tell the promoters the primary is down.
	HeartbeatKeySource func(ctx context.Context) ([]byte, error) `json:"-"`
	// Region names the writer in the heartbeat (e.g. the AWS region).
	// default: none ("-" on the wire)
	Region string
	// Now is the clock (tests only). default: time.Now
	Now func() time.Time `json:"-"`

	// tag is the hash tag of the shard a cluster check writes to: its keys
	// carry "{tag}" so that they hash to that shard. Empty on one node.
	tag string
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
		o.ExpectRole = Auto
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
	if o.Prefix != "" { // empty: the default
		if err := ValidatePrefix(o.Prefix); err != nil {
			return err
		}
	}
	if strings.ContainsAny(o.Region, " \t\r\n") {
		return fmt.Errorf("region %q has white space: use e.g. us-east-1", o.Region)
	}
	return nil
}

// ValidatePrefix is the one rule for a key prefix a user gives (a flag, a
// variable): not empty, since check keys need a namespace of their own, and
// no white space.
func ValidatePrefix(p string) error {
	if p == "" {
		return errors.New("key prefix is empty: check keys need a namespace of their own, e.g. healthcheck:")
	}
	if strings.ContainsAny(p, " \t\r\n") {
		return fmt.Errorf("key prefix %q has white space: use e.g. healthcheck:", p)
	}
	return nil
}

// HeartbeatKey is the key that carries the primary's write time.
func (o Options) HeartbeatKey() string {
	if o.tag != "" {
		return o.withDefaults().Prefix + "heartbeat:{" + o.tag + "}"
	}
	return o.withDefaults().Prefix + "heartbeat"
}

// keyPrefix is what a probe key starts with: the prefix, and on a cluster
// the shard's hash tag.
func (o Options) keyPrefix() string {
	if o.tag != "" {
		return o.Prefix + "{" + o.tag + "}"
	}
	return o.Prefix
}

// Result is the outcome of one check.
type Result struct {
	// Healthy is true when every step answered as expected in time.
	Healthy bool `json:"healthy"`
	// Role is the node's role as it answered ROLE in this check; when it
	// did not answer, the role the check was run as.
	Role Role `json:"role"`
	// Expect is the configured role when it is fixed; empty in Auto.
	Expect Role `json:"expect_role,omitempty"`
	// Writable is true when this check proved a write: the write check ran
	// and passed. A replica, or a primary that refused or stalled the write,
	// is not writable.
	Writable bool `json:"writable"`
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
	// Redialed is true when the warm connection answered READONLY or was
	// dropped, so the endpoint had likely moved (failover): that connection
	// was closed and what this result says is a fresh connection's answer,
	// dialed and resolved again within the same deadline.
	Redialed bool `json:"redialed,omitempty"`
	// RedialReason is what the warm connection met (readonly or reset).
	RedialReason Reason `json:"redial_reason,omitempty"`
	// Remote is the ip:port the last dial reached, when known.
	Remote string `json:"remote,omitempty"`
	// HeartbeatAge is the replica's view of the heartbeat's age, when read;
	// when the heartbeat is missing, its TTL: a lower bound of the lag.
	HeartbeatAge *time.Duration `json:"-"`
	// HeartbeatMissing is true when a replica check expected a heartbeat
	// and found none: replication has been broken for longer than the
	// heartbeat's TTL, or no primary checker writes it.
	HeartbeatMissing bool `json:"heartbeat_missing,omitempty"`
	// HeartbeatWritten is the write time of the heartbeat a primary check
	// wrote (zero when none was written): published as the
	// HeartbeatWritten metric, the primary's last writable moment.
	HeartbeatWritten time.Time `json:"-"`
	// HeartbeatSkipped says why no heartbeat was written or read (the
	// heartbeat key could not be read); empty otherwise.
	HeartbeatSkipped string `json:"heartbeat_skipped,omitempty"`
	// HeartbeatAgeSeconds is HeartbeatAge in seconds, for JSON.
	HeartbeatAgeSeconds *float64 `json:"heartbeat_age_seconds,omitempty"`
	// Shards holds one result per shard of a cluster-mode endpoint, in slot
	// order; nil on one node. The fields above then sum them up: healthy
	// and writable only when every shard is, the first failing shard's step
	// and reason, every failing shard in Error, the worst shard's lag.
	Shards []ShardResult `json:"shards,omitempty"`
}

// Milliseconds is d in milliseconds, to the microsecond: the one conversion
// every result, log line and metric uses.
func Milliseconds(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// TimeLayout is how results print times: UTC, to the millisecond.
const TimeLayout = "2006-01-02T15:04:05.000Z07:00"

func (r *Result) fail(step Step, reason Reason, err error) {
	r.Healthy = false
	r.Writable = false
	r.Step = step
	r.Reason = reason
	if err != nil {
		r.Error = err.Error()
	}
}

// Check runs one check against c with the options. c is typically a
// *redis.Client built by redisconn; a cluster client works for the replica
// role and for primaries where the key's slot is local. In Auto it checks
// the node as a primary first and, when ROLE says otherwise, once more as
// what it is; a Checker remembers the role so a warm check stays one round
// trip.
func Check(ctx context.Context, c redis.Cmdable, o Options) Result {
	o = o.withDefaults()
	start := o.Now()
	if o.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Timeout)
		defer cancel()
	}
	role := o.ExpectRole
	if role == Auto {
		role = Primary
	}
	hb := Heartbeat{Region: o.Region}
	r, seen := attempt(ctx, c, o, role, hb)
	if o.ExpectRole == Auto && seen != "" && seen != role && ctx.Err() == nil {
		r, _ = attempt(ctx, c, o, seen, hb)
	}
	r.Start = start
	r.finish(ctx, o.Now())
	return r
}

// finish measures the latency and tells a cancelled check (Ctrl-C) from
// one that ran out of time.
func (r *Result) finish(ctx context.Context, now time.Time) {
	r.Latency = now.Sub(r.Start)
	r.LatencyMS = Milliseconds(r.Latency)
	if r.HeartbeatAge != nil {
		s := r.HeartbeatAge.Seconds()
		r.HeartbeatAgeSeconds = &s
	}
	if !r.Healthy && r.Reason == ReasonTimeout && errors.Is(ctx.Err(), context.Canceled) {
		r.Reason = ReasonCanceled
	}
}

// attempt sends one pipeline shaped for role, with ROLE in it, and returns
// the result and the role the node reported ("" when ROLE did not answer).
func attempt(ctx context.Context, c redis.Cmdable, o Options, role Role, hb Heartbeat) (Result, Role) {
	r := Result{Role: role}
	if o.ExpectRole != Auto {
		r.Expect = o.ExpectRole
	}
	if o.Heartbeat && o.HeartbeatKeySource != nil {
		// Every path (one node, a shard of a cluster) comes through here.
		key, err := o.HeartbeatKeySource(ctx)
		if err != nil {
			o.Heartbeat, r.HeartbeatSkipped = false, err.Error()
		}
		o.HeartbeatSecret = key
	}
	pipe := c.Pipeline()
	ping := pipe.Ping(ctx)
	roleCmd := pipe.Do(ctx, "ROLE")
	var verify func(execErr error) bool
	if role == Replica {
		verify = queueReplica(ctx, pipe, o, &r)
	} else {
		key, token := newKeyToken(o.keyPrefix())
		verify = queuePrimary(ctx, pipe, o, &r, key, token, hb)
	}
	_, execErr := pipe.Exec(ctx)
	// Each command counts as answered when it holds the reply expected of
	// it: go-redis also sets a failed pipeline's error on the commands whose
	// replies did arrive, and the failed step is the first one without its
	// reply (e.g. SET under CLIENT PAUSE WRITE, after PING answered).
	if ping.Val() != "PONG" {
		r.failCmd(StepPing, ping.Err(), execErr, fmt.Errorf("ping answered %q, want PONG", ping.Val()))
		return r, ""
	}
	seen := parseRole(roleCmd)
	if seen != "" {
		r.Role = seen
	} else if o.ExpectRole == Auto {
		// Without its role the node cannot be checked as what it is.
		err := roleCmd.Err()
		if err == nil {
			err = fmt.Errorf("role answered %v, want master or slave", roleCmd.Val())
		}
		r.failCmd(StepRole, fmt.Errorf("%w (grant the ACL user +role, or set the expected role)", err), execErr, nil)
		return r, ""
	}
	r.Healthy = verify(execErr)
	r.Writable = r.Healthy && role != Replica
	return r, seen
}

// parseRole reads ROLE's reply: master → Primary, slave → Replica. Redis
// OSS and Valkey (through 8.x) both answer master and slave; primary and
// replica are read too, the names Valkey uses everywhere else (HELLO,
// CLUSTER SHARDS), should ROLE ever follow.
func parseRole(cmd *redis.Cmd) Role {
	// Val, not Slice: go-redis sets a failed pipeline's error on commands
	// whose replies did arrive too.
	v, _ := cmd.Val().([]interface{})
	if len(v) == 0 {
		return ""
	}
	switch s, _ := v[0].(string); s {
	case "master", "primary":
		return Primary
	case "slave", "replica":
		return Replica
	}
	return ""
}

// queuePrimary queues the write check and returns its verdict, to call
// after the pipeline ran.
func queuePrimary(ctx context.Context, pipe redis.Pipeliner, o Options, r *Result, key, token string, hb Heartbeat) func(execErr error) bool {
	// The SET is NX so that a check can never overwrite another value, and
	// carries a TTL so that it expires even when the DEL never runs.
	set := pipe.SetArgs(ctx, key, token, redis.SetArgs{Mode: "NX", TTL: o.KeyTTL})
	get := pipe.Get(ctx, key)
	del := pipe.Del(ctx, key)
	var hbCmd *redis.StatusCmd
	if o.Heartbeat {
		hb.Written = o.Now()
		hbCmd = pipe.Set(ctx, o.HeartbeatKey(), hb.Signed(o.HeartbeatSecret), o.HeartbeatTTL)
	}
	return func(execErr error) bool {
		if set.Val() != "OK" {
			if errors.Is(set.Err(), redis.Nil) {
				// NX refused: the random key exists. Vanishingly rare, but never
				// a success: the round trip did not prove a write.
				r.fail(StepSet, ReasonKeyExists, fmt.Errorf("key %s already exists", key))
				return false
			}
			r.failCmd(StepSet, set.Err(), execErr, fmt.Errorf("set answered %q, want OK", set.Val()))
			return false
		}
		if get.Val() != token {
			if errors.Is(get.Err(), redis.Nil) {
				r.fail(StepGet, ReasonMismatch, errors.New("read back nothing: the key vanished after the write"))
				return false
			}
			r.failCmd(StepGet, get.Err(), execErr, errors.New("read back a value other than the one written"))
			return false
		}
		if del.Val() != 1 {
			r.failCmd(StepDel, del.Err(), execErr, fmt.Errorf("del removed %d keys, want 1", del.Val()))
			return false
		}
		if hbCmd != nil && hbCmd.Val() != "OK" {
			r.failCmd(StepHeartbeat, hbCmd.Err(), execErr, fmt.Errorf("heartbeat set answered %q, want OK", hbCmd.Val()))
			return false
		}
		if hbCmd != nil {
			r.HeartbeatWritten = hb.Written.Truncate(time.Millisecond)
		}
		return true
	}
}

// queueReplica queues the read check and returns its verdict. With a
// heartbeat key, a value that is not a checker's signed write counts as
// missing. (The read stays one GET, within the documented ACL of a checker;
// the promoter, whose decision rests on the value, reads it capped.)
func queueReplica(ctx context.Context, pipe redis.Pipeliner, o Options, r *Result) func(execErr error) bool {
	get := pipe.Get(ctx, o.HeartbeatKey())
	return func(execErr error) bool {
		err := get.Err()
		if err != nil && !errors.Is(err, redis.Nil) && !isWrongType(err) {
			r.failCmd(StepGet, err, execErr, nil)
			return false
		}
		if !o.Heartbeat {
			return true
		}
		hb, perr := VerifyHeartbeat(get.Val(), o.HeartbeatSecret)
		if err != nil || perr != nil {
			// Expected and absent (or not a checker's write): the primary
			// has not written for longer than the key's TTL (or not at
			// all). The lag is at least that, and saying so keeps a lag
			// alarm breaching.
			age := o.HeartbeatTTL
			r.HeartbeatAge, r.HeartbeatMissing = &age, true
			return true
		}
		age := max(o.Now().Sub(hb.Written), 0) // clocks of two hosts; a lag is never negative
		r.HeartbeatAge = &age
		return true
	}
}

// isWrongType reports a WRONGTYPE reply: the key holds another type (an
// application wrote it), which is no failure of the node.
func isWrongType(err error) bool {
	return err != nil && strings.HasPrefix(err.Error(), "WRONGTYPE")
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
