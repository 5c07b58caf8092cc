package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/redisha/redisha/internal/check"
	"github.com/redisha/redisha/internal/sweep"
)

func newSweepCmd(env Env) *cobra.Command {
	var (
		conn    *connFlags
		dbs     string
		rw      bool
		logFile string
		timeout time.Duration
		asJSON  bool
		prefix  string
	)
	cmd := &cobra.Command{
		Use:   "sweep --addr HOST:PORT [flags]",
		Short: "PING (and optionally write/read) every DB index, one line per DB",
		Long: `Checks every DB index of the endpoint, one line per DB: PING, and with --rw a write/read of a unique
key with a TTL that is deleted at once. In cluster mode it checks DB 0 on every shard's primary.
Meant for cron during an upgrade window, e.g.
  */5 * * * * redisha sweep --addr redis.internal:6379 --tls --log /var/log/redis_db_health.log
Exit 0 when every DB answered, 1 when one did not, 2 on bad usage.`,
		Args: noArgs,
	}
	conn = addConnFlags(cmd)
	fs := cmd.Flags()
	// The shared --db does not apply here; say so where it is listed.
	fs.Lookup(flagDB).Usage = "not used by sweep (it is refused): choose the DB `index`es with --dbs"
	fs.StringVar(&dbs, "dbs", "", "DB `indexes` to check, e.g. 0-15 or 0,3,5-7 (default: all the server has: CONFIG GET databases, or 16 where CONFIG is blocked, as on ElastiCache)")
	fs.BoolVar(&rw, "rw", false, "also write and read back a unique key (SET NX PX, GET, DEL) on each DB; nothing is left behind")
	fs.StringVar(&logFile, "log", "", "`file` to append the report to (the runbook's /var/log/redis_db_health.log format)")
	fs.DurationVar(&timeout, "timeout", 2*time.Second, "deadline of each DB's check, dial included; no answer by then is NOT RUNNING (timeout)")
	fs.BoolVar(&asJSON, "json", false, "print the report as JSON")
	fs.StringVar(&prefix, "prefix", check.DefaultPrefix, "key `prefix` of the --rw keys")
	durationRange(fs, "timeout", time.Millisecond, 10*time.Minute, "")

	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := validPrefix(prefix); err != nil {
			return err
		}
		cfg := sweep.Config{RW: rw, Timeout: timeout, Prefix: prefix}
		if dbs != "" {
			list, err := sweep.ParseDBs(dbs)
			if err != nil {
				return usagef("--dbs: %w", err)
			}
			cfg.DBs = list
		}
		if cmd.Flags().Changed(flagDB) {
			return usagef("--db does not apply: use --dbs to choose the DBs to sweep")
		}
		c, err := conn.config(env.Getenv, timeout)
		if err != nil {
			return err
		}
		c.DB = 0 // REDISHA_DB, if set, is for the other commands.
		cfg.Conn = c
		if err := cfg.Validate(); err != nil {
			return conn.sweepUsage(err)
		}
		var logw io.Writer
		if logFile != "" {
			// Never written through a link planted where the log goes.
			f, err := openNoFollow(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND)
			if err != nil {
				return usagef("--log: %w", err)
			}
			defer f.Close()
			logw = f
		}
		rep, err := sweep.Run(cmd.Context(), cfg)
		if err != nil {
			return conn.sweepUsage(err)
		}
		if asJSON {
			printJSON(env.Stdout, rep)
		} else {
			writeSweep(env.Stdout, rep)
		}
		if logw != nil {
			writeSweep(logw, rep)
		}
		if n := rep.Failed(); n > 0 {
			return findingf("%d of %d DBs did not answer", n, len(rep.Results))
		}
		return nil
	}
	return cmd
}

// sweepUsage turns a sweep.Config error into a usage error naming the flag;
// connection errors name theirs.
func (c *connFlags) sweepUsage(err error) error {
	var fe *sweep.FieldError
	if errors.As(err, &fe) {
		return usagef("--%s %w", fe.Field, fe.Err) // the fields are named as their flags
	}
	return c.usageErr(err)
}

// writeSweep prints the report in the runbook's log format, with the reason
// and latency added.
func writeSweep(w io.Writer, rep sweep.Report) {
	fmt.Fprintf(w, "===== Redis DB Health Check at %s =====\n", rep.Time.Format(runbookStamp))
	if rep.Cluster {
		fmt.Fprintln(w, "cluster mode: DB 0 on each shard's primary")
	} else if rep.DatabasesFrom == "default" {
		fmt.Fprintf(w, "CONFIG is blocked here: assuming %d DBs\n", sweep.DefaultDatabases)
	} else if rep.DatabasesFrom == "unreachable" {
		fmt.Fprintf(w, "no answer to CONFIG GET databases: assuming %d DBs\n", sweep.DefaultDatabases)
	}
	for _, r := range rep.Results {
		label := fmt.Sprintf("DB %d", r.DB)
		if rep.Cluster {
			label = "shard " + r.Target + " DB 0"
		}
		if r.OK {
			fmt.Fprintf(w, "%s: RUNNING (%.2fms)\n", label, r.LatencyMS)
		} else {
			fmt.Fprintf(w, "%s: NOT RUNNING (%s at %s: %s)\n", label, r.Reason, r.Step, r.Error)
		}
	}
	fmt.Fprintf(w, "%d of %d OK\n\n", len(rep.Results)-rep.Failed(), len(rep.Results))
}
