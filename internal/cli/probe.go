package cli

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/redisha/redisha/internal/check"
	"github.com/redisha/redisha/internal/probe"
)

// probeLong is probe's help: what it measures and how to read it.
const probeLong = `Measures downtime to the millisecond during an engine upgrade, failover or drill. Two series run side by
side, each on its own connection:
  write  SET <prefix><random> <token> NX PX <key-ttl>, GET, DEL: one pipeline, nothing left behind
  read   GET of a probe key written at start (expires within minutes if the probe is killed outright)
Neither series retries: each measures what an application without retries sees. A connection that fails
under a check (a kill, a reset, READONLY) fails that check in both series, even when the write check's own
redial on a new connection then succeeds; one killed while idle between two checks is replaced by the
client's check of idle connections without a failure, in both series, as in an application.
A window opens at the START of a series' first failed check and closes when its first successful check gets
its ANSWER (a check sent into a stall succeeds the moment the server resumes). Timestamps are taken around
each check, to the microsecond, and reported in ms. A check with no answer within --timeout is a failure.
Every connection error or READONLY drops the connection and the next check dials at once, resolving the
name again, so an endpoint that moves (failover, CNAME flip) is followed; while the same failure repeats,
the redial backs off to 10-20 ms (jittered): at most ~100 new connections/s per series, windows still
accurate to ~20 ms; for failures a quick retry cannot fix (auth, noperm, maxclients, tls, cluster) to
150-250 ms per connection: at most 20 new connections/s after the first second, such windows up to 250 ms late. Each new connection records the server's role, run id and IP, and changes are listed
under the windows they fall in. A read probe key missing for a second is lost data (FLUSHALL, a restart
without persistence, a failover to a replica that lacked it): a finding of its own, whatever the windows say.
A cluster-mode endpoint (a configuration endpoint, or the name that follows one; --cluster auto asks INFO
cluster at start) is probed shard by shard: the write series checks every shard's primary in parallel, each
with keys of its own slot, and the read series reads a probe key per shard from the node serving it, so a
window names the one shard that was down. Each shard is named by its slots at start and followed through
the keys of its first slot: a failover or a resharding shows as a change of that shard's primary.
Reasons: refused, reset, timeout, readonly, loading, busy, masterdown, oom, auth, noperm, tls, dns, cluster,
and paused_writes (a write timed out while reads were answered: CLIENT PAUSE WRITE, a failover's pause).
Logs stay small however long an outage lasts: every state change (down, a new reason, up, server changes)
is written at once; repeated failures are counted and written once per --sample per series as a
still_down line with counts per reason.
--out keeps one run: a directory that holds an earlier run's events.jsonl or summary.json is refused
unless --force (which removes them first), and one another run is writing to is refused even with --force
(the run locks it; a run killed outright leaves its own events.jsonl and no summary.json). summary.json is
written whole or not at all (temp file + rename). No output path is followed through a symbolic link:
--out and --seed-logs must not be links, and a link where a file goes is refused (--force removes one
where events.jsonl goes), as it is for sweep --log.
A write to --out or --seed-logs that fails (disk full) is reported on stderr at once; probing goes on,
and the run ends with exit 1.
Ctrl-C (or SIGTERM, or SIGHUP when the terminal goes away) ends the run cleanly: checks in flight finish
within --timeout, the probe key is deleted, the summary is printed (and written).
Exit 0 when no window opened and no data was lost, 1 when one was (or --out could not be written),
2 on bad usage.`

func newProbeCmd(env Env) *cobra.Command {
	var (
		conn     *connFlags
		timeout  time.Duration
		duration time.Duration
		interval time.Duration
		cycles   int
		brk      time.Duration
		outDir   string
		force    bool
		asJSON   bool
		prefix   string
		keyTTL   time.Duration
		sample   time.Duration
		seedLogs string
		quiet    bool
		cluster  string
	)
	cmd := &cobra.Command{
		Use:   "probe --addr HOST:PORT [flags]",
		Short: "Measure downtime to the millisecond during an upgrade or failover",
		Long:  probeLong,
		Args:  noArgs,
	}
	conn = addConnFlags(cmd)
	fs := cmd.Flags()
	fs.DurationVar(&timeout, "timeout", time.Second, "deadline of each check; a check that outlasts it is a failure, so a stall shows as an outage")
	fs.DurationVar(&duration, "duration", 20*time.Minute, "how long each cycle runs, a bound even with a longer --interval (0: until Ctrl-C)")
	fs.DurationVar(&interval, "interval", 0, "pause between the checks of a series (0: back to back, the seed's \"no sleep\" mode)")
	fs.IntVar(&cycles, "cycles", 1, "number of cycles, with --break between them")
	fs.DurationVar(&brk, "break", 0, "pause between cycles")
	fs.StringVar(&outDir, "out", "", "`dir` to write events.jsonl (state changes, aggregated failures, sampled successes) and summary.json")
	fs.BoolVar(&force, "force", false, "replace the events.jsonl and summary.json of an earlier run in --out (refused without it)")
	fs.BoolVar(&asJSON, "json", false, "print the summary as JSON on stdout at exit (instead of the table)")
	fs.StringVar(&prefix, "prefix", check.DefaultPrefix, "key `prefix` of the probe's keys (keep it apart from application keys)")
	fs.DurationVar(&keyTTL, "key-ttl", check.DefaultKeyTTL, "expiry of each write key, so an interrupted check leaves nothing behind")
	fs.DurationVar(&sample, "sample", time.Second, "period of the lines for what repeats: one sampled success per series, and while down one still_down line with failures counted per reason")
	fs.StringVar(&seedLogs, "seed-logs", "", "`dir` to also write redis_success.log and redis_error.log in the runbook scripts' format")
	fs.BoolVar(&quiet, "quiet", false, "no live status line")
	fs.StringVar(&cluster, "cluster", "auto", "`mode`: auto (INFO cluster at start), on (probe every shard; fail if the endpoint is one node) or off (one node)")
	durationRange(fs, "timeout", time.Millisecond, 10*time.Minute, "")
	durationRange(fs, "duration", 100*time.Millisecond, 31*24*time.Hour, "until Ctrl-C")
	durationRange(fs, "interval", 0, time.Hour, "")
	intRange(fs, "cycles", 1, 10000, "")
	durationRange(fs, "break", 0, 24*time.Hour, "")
	durationRange(fs, "key-ttl", time.Second, 24*time.Hour, "")
	durationRange(fs, "sample", 10*time.Millisecond, time.Hour, "")

	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := validPrefix(prefix); err != nil {
			return err
		}
		cfg, err := conn.config(env.Getenv, timeout)
		if err != nil {
			return err
		}
		pcfg := probe.Config{
			Conn: cfg, Timeout: timeout, Duration: duration, Interval: interval, Cycles: cycles, Break: brk,
			Prefix: prefix, KeyTTL: keyTTL, SampleEvery: sample, Cluster: check.ClusterMode(cluster),
		}
		if err := pcfg.Validate(); err != nil {
			return conn.probeUsage(err)
		}
		// Output files are opened before anything runs: a bad --out is a
		// usage error, not a run that loses its log.
		out, err := openProbeOutput(outDir, seedLogs, force, env.Stderr, cmd.CommandPath())
		if err != nil {
			return err
		}
		defer out.close()
		pcfg.Sink = out.event
		p, err := probe.New(pcfg)
		if err != nil {
			return conn.probeUsage(err)
		}
		if err := p.Prepare(cmd.Context()); err != nil {
			if pcfg.Cluster == check.ClusterOn {
				return fmt.Errorf("--cluster on: %w", err)
			}
			fmt.Fprintf(env.Stderr, "%s: could not tell whether the endpoint is a cluster (%v): probing it as one node; --cluster on probes every shard\n",
				cmd.CommandPath(), err)
		}
		what := cfg.Redacted()
		if sh := p.Shards(); sh != nil {
			what += fmt.Sprintf(", a cluster of %d shard(s): %s", len(sh), strings.Join(sh, " | "))
		}
		fmt.Fprintf(env.Stderr, "probing %s: timeout %s, %s per cycle × %d, interval %s; Ctrl-C ends the run\n",
			what, timeout, orForever(duration), cycles, interval)

		statusDone := make(chan struct{})
		var wg sync.WaitGroup
		if !quiet && isTerminal(env.Stderr) {
			wg.Add(1)
			go func() { defer wg.Done(); liveStatus(env.Stderr, p, statusDone) }()
		}
		sum := p.Run(cmd.Context())
		close(statusDone)
		wg.Wait()

		report := out.summary(sum)
		if asJSON {
			printJSON(env.Stdout, report)
		} else {
			printSummary(env.Stdout, report)
		}
		var findings []string
		if n := len(sum.Windows); n > 0 {
			findings = append(findings, fmt.Sprintf("%d outage window(s), longest %dms", n, sum.LongestMS))
		}
		if n := len(sum.DataLoss); n > 0 {
			findings = append(findings, fmt.Sprintf("data lost: the read probe key vanished %d time(s)", n))
		}
		if n := len(report.OutputErrors); n > 0 {
			findings = append(findings, "the output is incomplete: "+strings.Join(report.OutputErrors, "; "))
		}
		if len(findings) > 0 {
			return findingf("%s", strings.Join(findings, "; "))
		}
		return nil
	}
	return cmd
}

// probeFlags maps the probe.Config field a FieldError is about to its flag.
var probeFlags = map[string]string{
	probe.FieldTimeout: "timeout", probe.FieldDuration: "duration", probe.FieldInterval: "interval",
	probe.FieldCycles: "cycles", probe.FieldBreak: "break", probe.FieldPrefix: "prefix",
	probe.FieldKeyTTL: "key-ttl", probe.FieldSampleEvery: "sample", probe.FieldCluster: "cluster",
}

// probeUsage turns a probe.Config error into a usage error naming the flag;
// connection errors name theirs.
func (c *connFlags) probeUsage(err error) error {
	var fe *probe.FieldError
	if errors.As(err, &fe) {
		return probeUsage(fe)
	}
	return c.usageErr(err)
}

func probeUsage(fe *probe.FieldError) error {
	return usagef("--%s %w", probeFlags[fe.Field], fe.Err)
}

func orForever(d time.Duration) string {
	if d == 0 {
		return "until Ctrl-C"
	}
	return d.String()
}
