package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redisha/redisha/internal/check"
	"github.com/redisha/redisha/internal/redisconn"
)

// checkFlags are the flags that shape a check, shared by check and probe.
type checkFlags struct {
	timeout   time.Duration
	role      string
	heartbeat bool
	prefix    string
	keyTTL    time.Duration
}

func (c *checkFlags) register(fs *flag.FlagSet, defTimeout time.Duration) {
	fs.DurationVar(&c.timeout, "timeout", defTimeout, "deadline of one check, dial included; a server that has not answered by then is unhealthy")
	fs.StringVar(&c.role, "expect-role", "primary", "`role` the endpoint must play: primary (PING+SET+GET+DEL) or replica (PING+GET)")
	fs.BoolVar(&c.heartbeat, "heartbeat", false, "primary: refresh <prefix>heartbeat; replica: report its age as the replication lag")
	fs.StringVar(&c.prefix, "prefix", check.DefaultPrefix, "key `prefix` for health-check keys (keep it apart from application keys)")
	fs.DurationVar(&c.keyTTL, "key-ttl", check.DefaultKeyTTL, "expiry of each probe key, so an interrupted check leaves nothing behind")
}

func (c *checkFlags) options() (check.Options, error) {
	if c.timeout <= 0 {
		return check.Options{}, errors.New("--timeout must be positive, e.g. --timeout 2s")
	}
	role, err := check.ParseRole(c.role)
	if err != nil {
		return check.Options{}, fmt.Errorf("--expect-role: %w", err)
	}
	if c.keyTTL < time.Second {
		return check.Options{}, errors.New("--key-ttl must be at least 1s, e.g. --key-ttl 30s")
	}
	o := check.Options{Prefix: c.prefix, KeyTTL: c.keyTTL, Timeout: c.timeout, ExpectRole: role, Heartbeat: c.heartbeat}
	if err := o.Validate(); err != nil {
		return o, fmt.Errorf("--prefix: %w", err)
	}
	return o, nil
}

func runCheck(ctx context.Context, env Env, args []string) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	var (
		conn     connFlags
		cf       checkFlags
		count    int
		interval time.Duration
		asJSON   bool
	)
	conn.register(fs)
	cf.register(fs, check.DefaultTimeout)
	fs.IntVar(&count, "count", 1, "number of checks on one client (0: until Ctrl-C)")
	fs.DurationVar(&interval, "interval", time.Second, "pause between checks when --count is not 1")
	fs.BoolVar(&asJSON, "json", false, "print one JSON object per check")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: redisha check --addr HOST:PORT [flags]\n\n"+
			"Runs the health checker's check: one pipeline of PING, SET <unique key> <token> PX <ttl> NX,\n"+
			"GET, DEL (replica role: PING, GET of the heartbeat key). Exit 0 when every check was healthy,\n"+
			"1 when one was not, 2 on bad usage.\n\nFlags:")
		fs.PrintDefaults()
	}
	if rc := parseFlags(fs, env, args); rc >= 0 {
		return rc
	}
	if count < 0 {
		return usageError(env, "check", errors.New("--count must be 0 (forever) or more"))
	}
	if interval < 0 {
		return usageError(env, "check", errors.New("--interval must not be negative"))
	}
	opts, err := cf.options()
	if err != nil {
		return usageError(env, "check", err)
	}
	cfg, err := conn.config(env, cf.timeout)
	if err != nil {
		return usageError(env, "check", err)
	}
	k := check.NewChecker(func() (*redis.Client, error) { return redisconn.New(cfg) }, opts)
	defer k.Close()

	rc := ExitOK
	enc := json.NewEncoder(env.Stdout)
	hinted := false
	for i := 0; count == 0 || i < count; i++ {
		if i > 0 && interval > 0 {
			select {
			case <-ctx.Done():
				return rc
			case <-time.After(interval):
			}
		}
		if ctx.Err() != nil {
			return rc
		}
		r := k.Check(ctx)
		if !r.Healthy {
			rc = ExitUnhealthy
		}
		if asJSON {
			_ = enc.Encode(r)
		} else {
			fmt.Fprintln(env.Stdout, formatResult(cfg.Addr, r))
			if cfg.TLS && r.Reason == check.ReasonTimeout && r.Step == check.StepPing && !hinted {
				// A plain-text port never answers a TLS handshake: it looks
				// exactly like a stalled server.
				fmt.Fprintln(env.Stderr, "hint: with --tls, a timeout at the first step can also mean the port does not speak TLS")
				hinted = true
			}
		}
	}
	return rc
}

// formatResult is the one-line human form of a result.
func formatResult(addr string, r check.Result) string {
	ts := r.Start.UTC().Format("2006-01-02T15:04:05.000Z07:00")
	if r.Healthy {
		s := fmt.Sprintf("%s %s healthy role=%s latency=%.3fms", ts, addr, r.Role, r.LatencyMS)
		if r.HeartbeatAgeSeconds != nil {
			s += fmt.Sprintf(" lag=%.3fs", *r.HeartbeatAgeSeconds)
		}
		return s
	}
	return fmt.Sprintf("%s %s UNHEALTHY role=%s latency=%.3fms step=%s reason=%s error=%q",
		ts, addr, r.Role, r.LatencyMS, r.Step, r.Reason, r.Error)
}
