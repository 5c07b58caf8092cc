package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
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
A window opens at the START of a series' first failed check and closes when its first successful check gets
its ANSWER (a check sent into a stall succeeds the moment the server resumes). Timestamps are taken around
each check, to the microsecond, and reported in ms. A check with no answer within --timeout is a failure.
Every connection error or READONLY drops the connection and the next check dials at once, resolving the
name again, so an endpoint that moves (failover, CNAME flip) is followed; each new connection records the
server's role, run id and IP, and changes are listed under the windows they fall in.
Reasons: refused, reset, timeout, readonly, loading, busy, masterdown, oom, auth, noperm, tls, dns, cluster,
and paused_writes (a write timed out while reads were answered: CLIENT PAUSE WRITE, a failover's pause).
Ctrl-C (or SIGTERM, or SIGHUP when the terminal goes away) ends the run cleanly: checks in flight finish
within --timeout, the probe key is deleted, the summary is printed (and written).
Exit 0 when no window opened, 1 when one did, 2 on bad usage.`

func newProbeCmd(env Env) *cobra.Command {
	var (
		conn     *connFlags
		timeout  time.Duration
		duration time.Duration
		interval time.Duration
		cycles   int
		brk      time.Duration
		outDir   string
		asJSON   bool
		prefix   string
		keyTTL   time.Duration
		sample   time.Duration
		seedLogs string
		quiet    bool
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
	fs.DurationVar(&duration, "duration", 20*time.Minute, "how long each cycle runs (0: until Ctrl-C)")
	fs.DurationVar(&interval, "interval", 0, "pause between the checks of a series (0: back to back, the seed's \"no sleep\" mode)")
	fs.IntVar(&cycles, "cycles", 1, "number of cycles, with --break between them")
	fs.DurationVar(&brk, "break", 0, "pause between cycles")
	fs.StringVar(&outDir, "out", "", "`dir` to write events.jsonl (state changes, failures, sampled successes) and summary.json")
	fs.BoolVar(&asJSON, "json", false, "print the summary as JSON on stdout at exit (instead of the table)")
	fs.StringVar(&prefix, "prefix", check.DefaultPrefix, "key `prefix` of the probe's keys (keep it apart from application keys)")
	fs.DurationVar(&keyTTL, "key-ttl", check.DefaultKeyTTL, "expiry of each write key, so an interrupted check leaves nothing behind")
	fs.DurationVar(&sample, "sample", time.Second, "write at most one success per series to the logs per this period (failures are never thinned)")
	fs.StringVar(&seedLogs, "seed-logs", "", "`dir` to also write redis_success.log and redis_error.log in the runbook scripts' format")
	fs.BoolVar(&quiet, "quiet", false, "no live status line")

	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		switch {
		case timeout <= 0:
			return usagef("--timeout must be positive, e.g. --timeout 1s")
		case duration < 0:
			return usagef("--duration must not be negative (0 runs until Ctrl-C)")
		case interval < 0:
			return usagef("--interval must not be negative (0 runs checks back to back)")
		case cycles < 1:
			return usagef("--cycles must be at least 1")
		case brk < 0:
			return usagef("--break must not be negative")
		case keyTTL < time.Second:
			return usagef("--key-ttl must be at least 1s, e.g. --key-ttl 30s")
		case sample <= 0:
			return usagef("--sample must be positive, e.g. --sample 1s")
		case duration == 0 && cycles > 1:
			return usagef("--cycles needs a --duration: a cycle without one never ends")
		}
		if err := validPrefix(prefix); err != nil {
			return err
		}
		cfg, err := conn.config(env.Getenv, timeout)
		if err != nil {
			return err
		}
		// Output files are opened before anything runs: a bad --out is a
		// usage error, not a run that loses its log.
		sinks, err := openSinks(outDir, seedLogs)
		if err != nil {
			return &UsageError{Err: err}
		}
		defer sinks.close()

		p, err := probe.New(probe.Config{
			Conn: cfg, Timeout: timeout, Duration: duration, Interval: interval, Cycles: cycles, Break: brk,
			Prefix: prefix, KeyTTL: keyTTL, SampleEvery: sample, Sink: sinks.event,
		})
		if err != nil {
			return conn.usageErr(err)
		}
		fmt.Fprintf(env.Stderr, "probing %s: timeout %s, %s per cycle × %d, interval %s; Ctrl-C ends the run\n",
			cfg.Redacted(), timeout, orForever(duration), cycles, interval)

		statusDone := make(chan struct{})
		var wg sync.WaitGroup
		if !quiet && isTerminal(env.Stderr) {
			wg.Add(1)
			go func() { defer wg.Done(); liveStatus(env.Stderr, p, statusDone) }()
		}
		sum := p.Run(context.Background(), cmd.Context().Done())
		close(statusDone)
		wg.Wait()

		if outDir != "" {
			if err := writeJSON(filepath.Join(outDir, "summary.json"), sum); err != nil {
				fmt.Fprintf(env.Stderr, "%s: %v\n", cmd.CommandPath(), err)
			}
		}
		if asJSON {
			printJSON(env.Stdout, sum)
		} else {
			printSummary(env.Stdout, sum)
		}
		if n := len(sum.Windows); n > 0 {
			return findingf("%d outage window(s), longest %dms", n, sum.LongestMS)
		}
		return nil
	}
	return cmd
}

func orForever(d time.Duration) string {
	if d == 0 {
		return "until Ctrl-C"
	}
	return d.String()
}

// sinks writes events to events.jsonl and, optionally, the seed's logs.
type sinks struct {
	mu       sync.Mutex
	events   *os.File
	success  *os.File
	failures *os.File
	n        int64
}

func openSinks(outDir, seedDir string) (*sinks, error) {
	s := &sinks{}
	open := func(flag, dir, name string) (*os.File, error) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("%s: %w", flag, err)
		}
		f, err := os.OpenFile(filepath.Join(dir, name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", flag, err)
		}
		return f, nil
	}
	var err error
	if outDir != "" {
		// One run per directory: events.jsonl is started afresh.
		_ = os.Remove(filepath.Join(outDir, "events.jsonl"))
		if s.events, err = open("--out", outDir, "events.jsonl"); err != nil {
			return nil, err
		}
	}
	if seedDir != "" {
		// The runbook's logs were appended to across runs; so are these.
		if s.success, err = open("--seed-logs", seedDir, "redis_success.log"); err != nil {
			s.close()
			return nil, err
		}
		if s.failures, err = open("--seed-logs", seedDir, "redis_error.log"); err != nil {
			s.close()
			return nil, err
		}
	}
	return s, nil
}

// event is the probe's Sink: every line is written at once, so a run that
// is killed outright keeps what it saw.
func (s *sinks) event(e probe.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.events != nil {
		b, _ := json.Marshal(e)
		_, _ = s.events.Write(append(b, '\n'))
	}
	if s.success == nil {
		return
	}
	ts := time.Time(e.Time).Local().Format("2006-01-02 15:04:05.000")
	switch e.Event {
	case "ok", "up":
		s.n++
		fmt.Fprintf(s.success, "%s SUCCESS %d: Redis %s OK\n", ts, e.Seq, e.Kind)
	case "down", "fail":
		fmt.Fprintf(s.failures, "%s FAILURE %d: %s failed (%s) → Response: %s\n", ts, e.Seq, e.Kind, e.Reason, e.Error)
	case "mark":
		fmt.Fprintf(s.success, "=== %s at %s ===\n", e.Message, ts)
		fmt.Fprintf(s.failures, "=== %s at %s ===\n", e.Message, ts)
	}
}

func (s *sinks) close() {
	for _, f := range []*os.File{s.events, s.success, s.failures} {
		if f != nil {
			_ = f.Close()
		}
	}
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// liveStatus redraws one status line on the terminal four times a second.
func liveStatus(w io.Writer, p *probe.Probe, done <-chan struct{}) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	var prev probe.Status
	for {
		select {
		case <-done:
			fmt.Fprint(w, "\r\033[K")
			return
		case <-t.C:
		}
		st := p.Status()
		state := "UP"
		switch {
		case !st.WriteUp && !st.ReadUp:
			state = fmt.Sprintf("DOWN (writes+reads) for %s", st.OpenSince.Round(time.Millisecond))
		case !st.WriteUp:
			state = fmt.Sprintf("WRITES DOWN for %s", st.OpenSince.Round(time.Millisecond))
		case !st.ReadUp:
			state = fmt.Sprintf("READS DOWN for %s", st.OpenSince.Round(time.Millisecond))
		}
		// The rate over the last redraw: it drops the moment checks start
		// to wait on a stalled server.
		rate := 0.0
		if d := st.Elapsed - prev.Elapsed; d > 0 {
			rate = float64(st.Checks-prev.Checks) / d.Seconds()
		}
		prev = st
		fmt.Fprintf(w, "\r\033[K%s  %d checks (%.0f/s)  %s  windows %d, longest %dms",
			st.Elapsed.Round(time.Second), st.Checks, rate, state, st.WindowsNow, st.LongestMS)
	}
}

func printSummary(w io.Writer, s *probe.Summary) {
	bw := bufio.NewWriter(w)
	defer bw.Flush()
	fmt.Fprintf(bw, "\nrun     %s → %s (%.1fs)\n", fmtTime(s.Start), fmtTime(s.End), float64(s.ElapsedMS)/1000)
	fmt.Fprintf(bw, "checks  %d (%.0f/s)\n", s.Checks, s.ChecksPerSecond)
	fmt.Fprintf(bw, "avail.  %.4f%% (writes %.4f%%, reads %.4f%%)\n", 100*s.Availability,
		100*s.Series[probe.Write].Availability, 100*s.Series[probe.Read].Availability)
	fmt.Fprintf(bw, "down    %dms in total, longest window %dms\n", s.TotalDowntimeMS, s.LongestMS)
	if len(s.Windows) == 0 {
		fmt.Fprintln(bw, "windows none: no check failed")
		return
	}
	fmt.Fprintf(bw, "\n%-5s  %-24s  %-24s  %10s  %6s  %s\n", "kind", "start", "end", "duration", "lost", "reasons")
	for _, win := range s.Windows {
		end := fmtTime(win.End)
		if win.Open {
			end += " (open)"
		}
		fmt.Fprintf(bw, "%-5s  %-24s  %-24s  %8dms  %6d  %v\n", win.Kind, fmtTime(win.Start), end, win.DurationMS, win.ChecksLost, win.Reasons)
		for _, c := range win.Changes {
			fmt.Fprintf(bw, "       %s\n", c)
		}
	}
}

func fmtTime(t probe.Time) string {
	return time.Time(t).UTC().Format("2006-01-02T15:04:05.000Z")
}
