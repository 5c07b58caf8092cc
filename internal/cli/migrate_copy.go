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
		o    migrate.CopyOptions
		mode string
		cf   copyFlags
	)
	cmd := &cobra.Command{
		Use:   "copy --from HOST:PORT --to HOST:PORT [flags]",
		Short: "Copy every key from the source to the target (DUMP/RESTORE, TTLs kept, resumable)",
		Long: `Scans every master of the source and copies each key to the target with DUMP + PTTL and
RESTORE ... REPLACE in pipelined batches, several batches at once; a cluster target gets each key on the
node that owns its slot. TTLs travel as absolute expiry times (PEXPIRETIME, RESTORE ... ABSTTL) when the
source runs 7.0+ and both servers' clocks agree (checked with TIME), else as PTTL, exact to within one
batch's round trip and never late; a key is never made persistent.

Before writing, both sides are named by address and by the servers' identity (run id); one deployment
reached under two addresses (localhost and 127.0.0.1, two nodes of one cluster) is refused, and so is a
target database that already holds keys unless --allow-nonempty-target (the application's dual-write
fills it). A standalone source is copied in every non-empty database (db N into db N) unless --from-db
picks one. The target's evicted_keys is read before and after: evictions are reported, not hidden.

The target is never emptied: a key is only ever replaced by its copy. A target older than the source
(its RESTORE cannot read newer DUMP payloads) is detected from both versions before anything is copied:
--mode auto then copies type by type (strings, hashes, lists, sets, sorted sets), --mode dump refuses.
Keys larger than --big-key-bytes are copied in chunks under a temporary key, so no value is held whole
in memory (streams are DUMPed whole). Keys that cannot be copied are listed, not fatal.

--checkpoint FILE records the SCAN position per shard; run the same command again after an interruption
(Ctrl-C, a lost connection) and it continues where it stopped. --follow also follows the source's
keyspace notifications during and after the copy (see 'migrate follow'), until Ctrl-C, whatever problems
the copy had; resumed with --follow, every key is copied again and (when the target held nothing else at
the start) keys the source deleted meanwhile are deleted on the target, so changes made while nothing
followed are not lost.

A live line on stderr shows keys copied, keys/s, the ETA (from DBSIZE) and errors.
Exit 0 when every key was copied, 1 when some were not, the target evicted keys, the copy was interrupted
or follow may have missed changes, 2 on bad usage or a refused pair of sides.`,
		Args: noArgs,
	}
	conn := addMigrateConn(cmd, env, 8)
	fs := cmd.Flags()
	fs.StringVar(&mode, "mode", "auto", "how values travel: auto, dump (DUMP/RESTORE only) or typed (type by type)")
	fs.StringVar(&o.Match, "match", "*", "SCAN MATCH `pattern` of the keys to copy")
	fs.IntVar(&o.ScanCount, "scan-count", 1000, "SCAN COUNT: keys per page and per batch")
	fs.Float64Var(&o.MaxRate, "max-rate", 0, "at most this many `keys/s` (0: no limit), to protect a production source")
	fs.Int64Var(&o.BigKeyBytes, "big-key-bytes", 8<<20, "keys larger than these `bytes` (MEMORY USAGE) are copied in chunks; -1 turns the probe off")
	fs.Int64Var(&o.BatchBytes, "batch-bytes", 16<<20, "DUMP payload `bytes` held at once per batch")
	fs.IntVar(&o.Chunk, "chunk", 1000, "`elements` (KiB of a string) per round trip of a chunked copy")
	intRange(fs, "scan-count", 1, 1e6, "")
	floatRange(fs, "max-rate", 0.001, 1e9, "no limit")
	intRangeOr(fs, "big-key-bytes", 1, 1<<40, -1, "the size probe off")
	intRange(fs, "batch-bytes", 1, 1<<40, "")
	intRange(fs, "chunk", 1, 1e6, "")
	fs.StringVar(&o.Checkpoint, "checkpoint", "", "`file` recording progress; an existing one for the same source resumes the copy")
	fs.BoolVar(&cf.follow, "follow", false, "also follow keyspace notifications during and after the copy, until Ctrl-C")
	fs.BoolVar(&cf.resync, "resync-after-reconnect", false, "with --follow: after a lost subscription, copy every key of that master again")
	fs.BoolVar(&cf.noConfig, "no-config", false, "with --follow: do not try CONFIG SET notify-keyspace-events (set it in the parameter group)")
	fs.BoolVar(&cf.allowNonEmpty, "allow-nonempty-target", false, "copy into a target database that already holds keys (e.g. filled by dualwrite); without it such a target is refused")
	fs.BoolVar(&cf.asJSON, "json", false, "print the result as JSON")

	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		m, err := migrate.ParseMode(mode)
		if err != nil {
			return usagef("--mode: %w", err)
		}
		if o.ScanCount <= 0 || o.Chunk <= 0 || o.BatchBytes <= 0 || o.MaxRate < 0 {
			return usagef("--scan-count, --chunk and --batch-bytes must be positive and --max-rate not negative")
		}
		o.Mode, o.Workers = m, conn.workers
		return conn.with(cmd.Context(), func(pairs []sidePair) error {
			return runCopy(cmd.Context(), env, pairs, o, cf)
		})
	}
	return cmd
}

// copyFlags are the copy command's switches beyond CopyOptions.
type copyFlags struct {
	follow, asJSON, allowNonEmpty, noConfig, resync bool
}

// checkpointFor is the checkpoint file of one database: the given path for
// the first, path.dbN for the others.
func checkpointFor(path string, pairs []sidePair, p sidePair) string {
	if path == "" || p.db == pairs[0].db {
		return path
	}
	return fmt.Sprintf("%s.db%d", path, p.db)
}

// runCopy names both sides, refuses a target that holds data unless told,
// and runs the copy of every database, and with --follow the followers
// around it. A copy with problems does not stop the followers: the
// problems are listed and the exit status says so at the end.
func runCopy(ctx context.Context, env Env, pairs []sidePair, o migrate.CopyOptions, cf copyFlags) error {
	resuming := map[int]bool{}  // a checkpoint is resumed
	reconcile := map[int]bool{} // resumed, and the target held nothing but the copy's keys
	hadKeys := map[int]bool{}
	for _, p := range pairs {
		fmt.Fprintln(env.Stderr, describeSide(p.src))
		fmt.Fprintln(env.Stderr, describeSide(p.dst))
		if cp := checkpointFor(o.Checkpoint, pairs, p); cp != "" {
			if c, err := migrate.LoadCheckpoint(cp); err != nil {
				return err
			} else if c != nil {
				resuming[p.db], reconcile[p.db] = true, !c.TargetHadKeys
			}
		}
		if !resuming[p.db] {
			n, err := p.dst.DBSize(ctx)
			if err != nil {
				return err
			}
			hadKeys[p.db] = n > 0
		}
		if err := checkTargetEmpty(ctx, p, cf.allowNonEmpty || resuming[p.db]); err != nil {
			return err
		}
	}
	line := newLiveLine(env.Stderr)
	var mu sync.Mutex // the copy's and the followers' lines share stderr
	var fs []*follower
	copyDone := make(chan struct{})
	if cf.follow {
		for _, p := range pairs {
			fo := migrate.FollowOptions{Mode: o.Mode, BigKeyBytes: o.BigKeyBytes, Chunk: o.Chunk, NoConfig: cf.noConfig, Resync: cf.resync,
				CopyDone: copyDone, Reconcile: reconcile[p.db]}
			fs = append(fs, startFollower(ctx, env, line, &mu, pairs, p, fo, "follow: "))
		}
		for _, f := range fs {
			if err := f.waitSubscribed(); err != nil {
				stopFollowers(fs)
				return err
			}
		}
	}
	var finding error
	for _, p := range pairs {
		po := o
		po.Checkpoint = checkpointFor(o.Checkpoint, pairs, p)
		po.TargetHadKeys = hadKeys[p.db]
		switch {
		case cf.follow && reconcile[p.db]:
			// Nothing followed the source while the copy was down: keys
			// already copied may have changed or gone since. Copy them all
			// again; the follower deletes what the source deleted.
			po.Rescan = true
			fmt.Fprintln(env.Stderr, label(pairs, p, "resuming with --follow: every key is copied again and keys the source deleted meanwhile are deleted on the target, so changes made while the copy was down are not lost"))
		case cf.follow && resuming[p.db]:
			po.Rescan = true
			fmt.Fprintln(env.Stderr, label(pairs, p, "resuming with --follow: every key is copied again; keys the source deleted meanwhile are NOT deleted on the target, which held other keys when the copy began (dual-write mirrors deletions; the gate lists the rest as extra)"))
		}
		po.OnProgress = func(pr migrate.Progress) {
			mu.Lock()
			defer mu.Unlock()
			line.show(label(pairs, p, "copy: "+pr.String()))
		}
		res, err := migrate.Copy(ctx, p.src, p.dst, po)
		mu.Lock()
		err = reportCopy(env, line, pairs, p, res, err, cf.asJSON)
		mu.Unlock()
		var fe *FindingError
		switch {
		case err == nil:
		case errors.As(err, &fe) && !errors.Is(ctx.Err(), context.Canceled):
			if finding == nil {
				finding = err
			}
		default:
			if cf.follow {
				stopFollowers(fs)
				fmt.Fprintln(env.Stderr, "following stopped")
			}
			return err
		}
	}
	close(copyDone)
	if !cf.follow {
		return finding
	}
	if finding != nil {
		fmt.Fprintf(env.Stderr, "copy done with problems (%v); following changes until Ctrl-C, exit status 1 at the end\n", finding)
	} else {
		fmt.Fprintln(env.Stderr, "copy done; following changes until Ctrl-C")
	}
	return endFollowers(env, line, pairs, fs, finding)
}

// checkTargetEmpty refuses a target database that already holds keys,
// unless allowed: a wrong --to would otherwise be overwritten in silence.
func checkTargetEmpty(ctx context.Context, p sidePair, allowed bool) error {
	if allowed {
		return nil
	}
	n, err := p.dst.DBSize(ctx)
	if err != nil || n == 0 {
		return err
	}
	// How many of the target's names the source also has: values the copy
	// would replace.
	var sampled, shared int
	for _, sh := range p.dst.Shards {
		keys, _, err := sh.Client.Scan(ctx, 0, "*", 100).Result()
		if err != nil {
			return fmt.Errorf("target %s: scan: %w", sh.Addr, err)
		}
		for _, k := range keys {
			sampled++
			if e, err := p.src.Client.Exists(ctx, k).Result(); err == nil && e > 0 {
				shared++
			}
		}
	}
	return usagef("the target %s (%s) already holds %d keys in db %d, %d of %d sampled also on the source (the copy would replace them): pass --allow-nonempty-target when that is meant (the application already writes to it through dualwrite), or check --to",
		p.dst.Addr, p.dst.Identity(), n, p.db, shared, sampled)
}

// reportCopy prints the plan, the problems and the result, and turns the
// outcome into the command's error.
func reportCopy(env Env, line liveLine, pairs []sidePair, sp sidePair, res migrate.CopyResult, err error, asJSON bool) error {
	line.end()
	if res.Plan.Mode == "" && err != nil {
		return err // refused before anything was copied
	}
	if asJSON {
		printJSON(env.Stdout, res)
	} else {
		fmt.Fprintln(env.Stdout, label(pairs, sp, fmt.Sprintf("plan: %s (%s)\nttl: %s", res.Plan.Mode, res.Plan.Reason, res.Plan.TTL)))
		if res.Resumed {
			fmt.Fprintln(env.Stdout, "resumed from the checkpoint")
		}
		for _, p := range res.Problems {
			fmt.Fprintf(env.Stdout, "problem: %s key %q on %s: %s\n", p.Kind, p.Key, p.Shard, p.Err)
		}
		fmt.Fprintln(env.Stdout, label(pairs, sp, res.Progress.String()))
	}
	listed := "listed above"
	if res.Progress.Failed > int64(len(res.Problems)) {
		listed = fmt.Sprintf("the first %d listed above", len(res.Problems))
	}
	switch {
	case errors.Is(err, migrate.ErrInterrupted):
		return findingf("%v", err)
	case err != nil:
		return err
	case res.Progress.Failed > 0:
		return findingf("%d keys were not copied (%s)", res.Progress.Failed, listed)
	case res.Evicted > 0:
		return findingf("the target evicted %d keys during the copy (maxmemory-policy %s): run migrate compare", res.Evicted, res.TargetPolicy)
	}
	return nil
}
