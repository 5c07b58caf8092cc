package cli

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/spf13/cobra"

	"github.com/redisha/redisha/internal/migrate"
)

func newMigrateCopyCmd(env Env) *cobra.Command {
	var (
		o      migrate.CopyOptions
		mode   string
		follow bool
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "copy --from HOST:PORT --to HOST:PORT [flags]",
		Short: "Copy every key from the source to the target (DUMP/RESTORE, TTLs kept, resumable)",
		Long: `Scans every master of the source and copies each key to the target with DUMP + PTTL and
RESTORE ... REPLACE in pipelined batches, several batches at once; a cluster target gets each key on the
node that owns its slot. TTLs travel as absolute expiry times (PEXPIRETIME, RESTORE ... ABSTTL) when the
source runs 7.0+ and both servers' clocks agree (checked with TIME), else as PTTL, exact to within one
batch's round trip and never late; a key is never made persistent.

The target is never emptied: a key is only ever replaced by its copy. A target older than the source
(its RESTORE cannot read newer DUMP payloads) is detected from both versions before anything is copied:
--mode auto then copies type by type (strings, hashes, lists, sets, sorted sets), --mode dump refuses.
Keys larger than --big-key-bytes are copied in chunks, so no value is held whole in memory. Keys that
cannot be copied (a module type the target lacks, a stream for an older target) are listed, not fatal.

--checkpoint FILE records the SCAN position per shard; run the same command again after an interruption
(Ctrl-C, a lost connection) and it continues where it stopped. --follow also follows the source's
keyspace notifications during and after the copy (see 'migrate follow'), until Ctrl-C.

A live line on stderr shows keys copied, keys/s, the ETA (from DBSIZE) and errors.
Exit 0 when every key was copied, 1 when some were not or the copy was interrupted, 2 on bad usage.`,
		Args: noArgs,
	}
	conn := addMigrateConn(cmd, 8)
	fs := cmd.Flags()
	fs.StringVar(&mode, "mode", "auto", "how values travel: auto, dump (DUMP/RESTORE only) or typed (type by type)")
	fs.StringVar(&o.Match, "match", "*", "SCAN MATCH `pattern` of the keys to copy")
	fs.IntVar(&o.ScanCount, "scan-count", 1000, "SCAN COUNT: keys per page and per batch")
	fs.Float64Var(&o.MaxRate, "max-rate", 0, "at most this many `keys/s` (0: no limit), to protect a production source")
	fs.Int64Var(&o.BigKeyBytes, "big-key-bytes", 8<<20, "keys larger than these `bytes` (MEMORY USAGE) are copied in chunks; -1 turns the probe off")
	fs.Int64Var(&o.BatchBytes, "batch-bytes", 16<<20, "DUMP payload `bytes` held at once per batch")
	fs.IntVar(&o.Chunk, "chunk", 1000, "`elements` (KiB of a string) per round trip of a chunked copy")
	fs.StringVar(&o.Checkpoint, "checkpoint", "", "`file` recording progress; an existing one for the same source resumes the copy")
	fs.BoolVar(&follow, "follow", false, "also follow keyspace notifications during and after the copy, until Ctrl-C")
	fs.BoolVar(&asJSON, "json", false, "print the result as JSON")

	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		m, err := migrate.ParseMode(mode)
		if err != nil {
			return usagef("--mode: %w", err)
		}
		if o.ScanCount <= 0 || o.Chunk <= 0 || o.BatchBytes <= 0 || o.MaxRate < 0 {
			return usagef("--scan-count, --chunk and --batch-bytes must be positive and --max-rate not negative")
		}
		o.Mode, o.Workers = m, conn.workers
		return conn.with(cmd.Context(), func(src, dst *migrate.Side) error {
			return runCopy(cmd.Context(), env, src, dst, o, follow, asJSON)
		})
	}
	return cmd
}

// runCopy runs the copy, and with follow the follower around it.
func runCopy(ctx context.Context, env Env, src, dst *migrate.Side, o migrate.CopyOptions, follow, asJSON bool) error {
	fmt.Fprintln(env.Stderr, describeSide(src))
	fmt.Fprintln(env.Stderr, describeSide(dst))
	line := newLiveLine(env.Stderr)
	var mu sync.Mutex // the copy's and the follower's lines share stderr
	o.OnProgress = func(p migrate.Progress) {
		mu.Lock()
		defer mu.Unlock()
		line.show(p.String())
	}

	var followDone chan error
	var stopFollow context.CancelFunc = func() {}
	if follow {
		copyDone := make(chan struct{})
		defer func() {
			select {
			case <-copyDone:
			default:
				close(copyDone)
			}
		}()
		fctx, cancel := context.WithCancel(ctx)
		stopFollow = cancel
		subscribed := make(chan struct{})
		followDone = make(chan error, 1)
		go func() {
			_, err := migrate.Follow(fctx, src, dst, migrate.FollowOptions{Mode: o.Mode, BigKeyBytes: o.BigKeyBytes, Chunk: o.Chunk, CopyDone: copyDone,
				OnSubscribed: func() { close(subscribed) },
				OnWarning: func(s string) {
					mu.Lock()
					defer mu.Unlock()
					fmt.Fprintln(env.Stderr, "\nwarning:", s)
				},
				OnStats: func(s migrate.FollowStats) {
					mu.Lock()
					defer mu.Unlock()
					line.show("follow: " + s.String())
				}})
			followDone <- err
		}()
		select {
		case <-subscribed:
		case err := <-followDone:
			return fmt.Errorf("follow: %w", err)
		}
		defer func() { stopFollow(); <-followDone }()
		o.OnProgress = func(p migrate.Progress) {
			mu.Lock()
			defer mu.Unlock()
			line.show("copy: " + p.String())
		}
		res, err := migrate.Copy(ctx, src, dst, o)
		close(copyDone)
		if perr := reportCopy(env, line, res, err, asJSON); perr != nil {
			return perr
		}
		fmt.Fprintln(env.Stderr, "copy done; following changes until Ctrl-C")
		<-ctx.Done()
		line.end()
		return nil
	}
	res, err := migrate.Copy(ctx, src, dst, o)
	return reportCopy(env, line, res, err, asJSON)
}

// reportCopy prints the plan, the problems and the result, and turns the
// outcome into the command's error.
func reportCopy(env Env, line liveLine, res migrate.CopyResult, err error, asJSON bool) error {
	line.end()
	if res.Plan.Mode == "" && err != nil {
		return err // refused before anything was copied
	}
	if asJSON {
		printJSON(env.Stdout, res)
	} else {
		fmt.Fprintf(env.Stdout, "plan: %s (%s)\nttl: %s\n", res.Plan.Mode, res.Plan.Reason, res.Plan.TTL)
		if res.Resumed {
			fmt.Fprintln(env.Stdout, "resumed from the checkpoint")
		}
		for _, p := range res.Problems {
			fmt.Fprintf(env.Stdout, "problem: %s key %q on %s: %s\n", p.Kind, p.Key, p.Shard, p.Err)
		}
		fmt.Fprintln(env.Stdout, res.Progress.String())
	}
	switch {
	case errors.Is(err, migrate.ErrInterrupted):
		return findingf("%v", err)
	case err != nil:
		return err
	case res.Progress.Failed > 0:
		return findingf("%d keys were not copied (listed above)", res.Progress.Failed)
	}
	return nil
}
