package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/redisha/redisha/internal/migrate"
)

func newMigrateCompareCmd(env Env) *cobra.Command {
	var (
		o      migrate.CompareOptions
		asJSON bool
		repair bool
	)
	cmd := &cobra.Command{
		Use:   "compare --from HOST:PORT --to HOST:PORT [flags]",
		Short: "Compare source and target key by key: missing, extra, type, value and TTL differences",
		Long: `Compares every key of the source with the target (or --sample N random keys): type, value and TTL.
Values are compared by per-type digests computed as they stream in (HSCAN/SSCAN/ZSCAN/LRANGE/GETRANGE for
big values; streams by entries, last id and consumer groups), so equal data compares equal across versions
and encodings and no big value is held whole. A full compare also scans the target for keys the source
lacks (extra). A standalone source is compared in every non-empty database unless --from-db picks one.

Each difference found is looked at once more after the pass, so writes in flight do not show up
(--no-recheck turns that off). For a hash whose value differs the fields that differ are named:
"modified_time" (different value), "-f" (only on the source), "+f" (only on the target).

This is the gate before cut-over. With --quiet-window D the source's keyspace notifications are watched
from before the pass; after it, once the source has had no change for D (writes paused for the cut-over),
every key changed since the pass began is compared again, until a window passes with no change: the
report then describes both sides as they are at its end.

Exit 0 when no key differs (and, with --quiet-window, the window was reached), 1 otherwise, 2 on bad usage.`,
		Args: noArgs,
	}
	conn := addMigrateConn(cmd, env, 4)
	fs := cmd.Flags()
	fs.StringVar(&o.Match, "match", "*", "SCAN MATCH `pattern` of the keys to compare")
	fs.IntVar(&o.Sample, "sample", 0, "compare `N` random source keys instead of all (0: all); extra keys are then not looked for")
	fs.DurationVar(&o.TTLTolerance, "ttl-tolerance", 1e9, "how far apart the two TTLs of a key may be")
	fs.Int64Var(&o.BigKeyBytes, "big-key-bytes", 1<<20, "values larger than these `bytes` are hashed chunk by chunk")
	fs.IntVar(&o.MaxDiffs, "max-diffs", 1000, "`N` differences listed (all are counted)")
	intRange(fs, "sample", 1, 1e9, "all keys")
	durationRange(fs, "ttl-tolerance", time.Millisecond, 24*time.Hour, "")
	intRange(fs, "big-key-bytes", 1, 1<<40, "")
	intRange(fs, "max-diffs", 1, 1e7, "")
	fs.BoolVar(&o.NoRecheck, "no-recheck", false, "report differences from the first look, without a second one")
	fs.DurationVar(&o.QuietWindow, "quiet-window", 0, "the cut-over gate: after the pass, wait for the source to be quiet this `long`, compare every key changed meanwhile again, repeat until quiet (0: off)")
	fs.DurationVar(&o.QuietTimeout, "quiet-timeout", 2*time.Minute, "with --quiet-window: give up waiting for a quiet source after this `long` (the gate then fails)")
	durationRange(fs, "quiet-window", time.Millisecond, time.Hour, "off")
	durationRange(fs, "quiet-timeout", time.Second, 24*time.Hour, "")
	fs.BoolVar(&repair, "repair", false, "copy the differing keys again from the source (deleting those it lacks) and compare once more")
	fs.BoolVar(&asJSON, "json", false, "print the report as JSON")

	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if o.Sample < 0 || o.TTLTolerance < 0 || o.MaxDiffs < 0 || o.QuietWindow < 0 || o.QuietTimeout <= 0 {
			return usagef("--sample, --ttl-tolerance, --max-diffs and --quiet-window must not be negative, --quiet-timeout must be positive")
		}
		if o.Sample > 0 && o.Match != "*" {
			return usagef("--sample picks random keys and cannot be combined with --match: drop one")
		}
		o.Workers = conn.workers
		return conn.with(cmd.Context(), func(pairs []sidePair) error {
			reports, err := compareAll(cmd.Context(), env, pairs, o, asJSON)
			if err != nil {
				return err
			}
			if repair && differ(reports) > 0 {
				for i, p := range pairs {
					keys := make([]string, len(reports[i].Diffs))
					for j, d := range reports[i].Diffs {
						keys[j] = d.Key
					}
					if len(keys) == 0 {
						continue
					}
					res, err := migrate.CopyKeys(cmd.Context(), p.src, p.dst, keys, migrate.CopyOptions{Workers: conn.workers})
					if err != nil {
						return err
					}
					fmt.Fprintln(env.Stdout, label(pairs, p, fmt.Sprintf("repair: copied %d keys again, deleted %d the source lacks, %d not copied", res.Progress.Copied, res.Progress.Vanished, res.Progress.Failed)))
					if n := reports[i].Differences(); n > int64(len(keys)) {
						fmt.Fprintln(env.Stdout, label(pairs, p, fmt.Sprintf("repair: only the %d listed of %d differences were copied: raise --max-diffs", len(keys), n)))
					}
				}
				if reports, err = compareAll(cmd.Context(), env, pairs, o, asJSON); err != nil {
					return err
				}
			}
			if n := differ(reports); n > 0 {
				return findingf("%d keys differ", n)
			}
			for _, r := range reports {
				if !r.GatePassed() {
					return findingf("no quiet window of %s within %s: the source is still being written; pause the writes and run again", o.QuietWindow, o.QuietTimeout)
				}
			}
			return nil
		})
	}
	return cmd
}

func differ(reports []migrate.CompareReport) (n int64) {
	for _, r := range reports {
		n += r.Differences()
	}
	return n
}

// compareAll compares every database and prints the reports.
func compareAll(ctx context.Context, env Env, pairs []sidePair, o migrate.CompareOptions, asJSON bool) ([]migrate.CompareReport, error) {
	line := newLiveLine(env.Stderr)
	var reports []migrate.CompareReport
	for _, p := range pairs {
		o.OnProgress = func(n int64) { line.show(label(pairs, p, fmt.Sprintf("compared %d keys", n))) }
		rep, err := migrate.Compare(ctx, p.src, p.dst, o)
		line.end()
		if err != nil {
			return nil, err
		}
		reports = append(reports, rep)
		if asJSON {
			continue
		}
		if len(pairs) > 1 {
			fmt.Fprintf(env.Stdout, "db %d:\n", p.db)
		}
		if err := rep.WriteTable(env.Stdout); err != nil {
			return nil, err
		}
	}
	if asJSON {
		if len(reports) == 1 {
			printJSON(env.Stdout, reports[0])
		} else {
			printJSON(env.Stdout, reports)
		}
	}
	return reports, nil
}
