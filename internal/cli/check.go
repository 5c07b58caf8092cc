package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"

	"github.com/redisha/redisha/internal/check"
	"github.com/redisha/redisha/internal/probe"
	"github.com/redisha/redisha/internal/redisconn"
)

// checkFlags are the flags that shape a check.
type checkFlags struct {
	timeout   time.Duration
	role      string
	heartbeat bool
	prefix    string
	keyTTL    time.Duration
}

func (c *checkFlags) register(cmd *cobra.Command, defTimeout time.Duration) {
	fs := cmd.Flags()
	fs.DurationVar(&c.timeout, "timeout", defTimeout, "deadline of one check, dial included; a server that has not answered by then is unhealthy")
	fs.StringVar(&c.role, "expect-role", "primary", "`role` the endpoint must play: primary (PING+SET+GET+DEL) or replica (PING+GET)")
	fs.BoolVar(&c.heartbeat, "heartbeat", false, "primary: refresh <prefix>heartbeat; replica: report its age as the replication lag")
	fs.StringVar(&c.prefix, "prefix", check.DefaultPrefix, "key `prefix` for health-check keys (keep it apart from application keys)")
	fs.DurationVar(&c.keyTTL, "key-ttl", check.DefaultKeyTTL, "expiry of each probe key, so an interrupted check leaves nothing behind")
	durationRange(fs, "timeout", time.Millisecond, 10*time.Minute, "")
	durationRange(fs, "key-ttl", time.Second, 24*time.Hour, "")
}

func (c *checkFlags) options() (check.Options, error) {
	role, err := check.ParseRole(c.role)
	if err != nil {
		return check.Options{}, usagef("--expect-role: %w", err)
	}
	if err := validPrefix(c.prefix); err != nil {
		return check.Options{}, err
	}
	o := check.Options{Prefix: c.prefix, KeyTTL: c.keyTTL, Timeout: c.timeout, ExpectRole: role, Heartbeat: c.heartbeat}
	if err := o.Validate(); err != nil {
		return o, usagef("%w", err)
	}
	return o, nil
}

// validPrefix checks --prefix by check.ValidatePrefix, the one rule for
// every command and the Lambda: not empty (the keys need a namespace) and
// no white space.
func validPrefix(p string) error {
	if err := check.ValidatePrefix(p); err != nil {
		return usagef("--prefix: %w", err)
	}
	return nil
}

func newCheckCmd(env Env) *cobra.Command {
	var (
		conn     *connFlags
		cf       checkFlags
		count    int
		interval time.Duration
		asJSON   bool
		cluster  string
	)
	cmd := &cobra.Command{
		Use:   "check --addr HOST:PORT [flags]",
		Short: "Run health checks against one endpoint, as the Lambda does",
		Long: `Runs the health checker's check: one pipeline of PING, SET <unique key> <token> PX <ttl> NX,
GET, DEL (replica role: PING, GET of the heartbeat key). --count N runs N checks on one client
(0: until Ctrl-C); --json prints one JSON object per check. After a failure a quick retry cannot fix
(auth, noperm, maxclients, tls, cluster) the next check waits at least 250ms, whatever --interval says.
A cluster-mode endpoint (--cluster auto, the Lambda's CLUSTER_MODE default, asks INFO cluster once per
connection) is checked shard by shard, every shard's primary in parallel with keys of its own slot: healthy
only when every shard is, each shard on a line of its own (in --json, "shards").
Exit 0 when every check was healthy, 1 when one was not, 2 on bad usage.`,
		Args: noArgs,
	}
	conn = addConnFlags(cmd)
	cf.register(cmd, check.DefaultTimeout)
	fs := cmd.Flags()
	fs.IntVar(&count, "count", 1, "number of checks on one client (0: until Ctrl-C)")
	fs.DurationVar(&interval, "interval", time.Second, "pause between checks when --count is not 1")
	fs.BoolVar(&asJSON, "json", false, "print one JSON object per check")
	fs.StringVar(&cluster, "cluster", string(check.ClusterAuto), "`mode`: auto (INFO cluster once per connection), on (check every shard of a cluster) or off (one node), as the Lambda's CLUSTER_MODE")
	intRange(fs, "count", 1, 1e9, "until Ctrl-C")
	durationRange(fs, "interval", 0, 24*time.Hour, "")

	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		opts, err := cf.options()
		if err != nil {
			return err
		}
		cfg, err := conn.config(env.Getenv, cf.timeout)
		if err != nil {
			return err
		}
		mode, err := check.ParseClusterMode(cluster)
		if err != nil {
			return usagef("--cluster: %w", err)
		}
		var k interface {
			Check(context.Context) check.Result
			Close() error
		}
		if mode == check.ClusterOff {
			k = check.NewChecker(func() (*redis.Client, error) { return redisconn.New(cfg) }, opts)
		} else if k, err = check.NewCluster(cfg, opts, mode); err != nil {
			return conn.usageErr(err)
		}
		defer k.Close()

		ctx := cmd.Context()
		enc := json.NewEncoder(env.Stdout)
		hinted := false
		ran, failed := 0, 0
		pause := interval
		for i := 0; count == 0 || i < count; i++ {
			if i > 0 && pause > 0 {
				select {
				case <-ctx.Done():
				case <-time.After(pause):
				}
			}
			if ctx.Err() != nil {
				break
			}
			r := k.Check(ctx)
			pause = interval
			if !r.Healthy && probe.SlowToHeal(r.Reason) {
				// A wrong password, a missing ACL permission, a full server
				// or a certificate that does not verify: checking again at
				// once fixes nothing and costs a connection (or two: the
				// checker redials) each time.
				pause = max(interval, slowCheckPause)
			}
			ran++
			if !r.Healthy {
				failed++
			}
			if asJSON {
				_ = enc.Encode(r)
				continue
			}
			fmt.Fprintln(env.Stdout, formatResult(cfg.Addr, r))
			for _, sh := range r.Shards {
				fmt.Fprintln(env.Stdout, formatShard(sh))
			}
			if cfg.TLS && r.Reason == check.ReasonTimeout && r.Step == check.StepPing && !hinted {
				// A plain-text port never answers a TLS handshake: it looks
				// exactly like a stalled server.
				fmt.Fprintln(env.Stderr, "hint: with --tls, a timeout at the first step can also mean the port does not speak TLS")
				hinted = true
			}
		}
		if failed > 0 {
			return findingf("%d of %d checks were unhealthy", failed, ran)
		}
		return nil
	}
	return cmd
}

// slowCheckPause is the least pause after a check that failed in a way a
// quick retry cannot fix: with at most two connections a check, under 10
// new connections a second however small --interval is.
const slowCheckPause = 250 * time.Millisecond

// formatShard is the human form of one shard of a cluster's result, under
// the result's line.
func formatShard(s check.ShardResult) string {
	line := fmt.Sprintf("  shard %s at %s", s.Slots, s.Node)
	if s.Healthy {
		line += fmt.Sprintf(" healthy role=%s", s.Role)
		if s.HeartbeatAgeSeconds != nil {
			line += fmt.Sprintf(" lag=%.3fs", *s.HeartbeatAgeSeconds)
		}
		return line
	}
	return line + fmt.Sprintf(" UNHEALTHY role=%s step=%s reason=%s error=%q", s.Role, s.Step, s.Reason, s.Error)
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
