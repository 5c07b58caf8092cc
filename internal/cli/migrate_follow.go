package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/redisha/redisha/internal/migrate"
)

func newMigrateFollowCmd(env Env) *cobra.Command {
	var (
		o    migrate.FollowOptions
		mode string
	)
	cmd := &cobra.Command{
		Use:   "follow --from HOST:PORT --to HOST:PORT [flags]",
		Short: "Keep the target current from the source's keyspace notifications, with the lag shown",
		Long: `Subscribes to the keyspace notifications of every source master and copies each changed key again
(DUMP/RESTORE REPLACE). A key the source deleted or expired is deleted on the target: the one deletion
redisha makes there, and only because the source made it.

Notifications must be on: follow sets notify-keyspace-events to KA with CONFIG SET where allowed; on
ElastiCache, where CONFIG is blocked, set the parameter notify-keyspace-events to KEA in the cluster's
parameter group first (--no-config skips the attempt). Changes made while the subscription is down
are missed (a warning says when): run 'migrate compare' afterwards. Start follow before 'migrate copy'
(or use 'migrate copy --follow', which also re-copies keys changed during the copy).

A live line on stderr shows events, keys copied and deleted, keys pending and the lag. Runs until
Ctrl-C; exit 0 then, 2 on bad usage, 1 when the source cannot be subscribed.`,
		Args: noArgs,
	}
	conn := addMigrateConn(cmd, 4)
	fs := cmd.Flags()
	fs.StringVar(&o.Match, "match", "*", "`pattern` of the keys to follow")
	fs.StringVar(&mode, "mode", "auto", "how values travel: auto, dump or typed (as for copy)")
	fs.IntVar(&o.Batch, "batch", 500, "changed `keys` per pipeline")
	fs.Int64Var(&o.BigKeyBytes, "big-key-bytes", 8<<20, "keys larger than these `bytes` (MEMORY USAGE) are copied in chunks; -1 turns the probe off")
	fs.IntVar(&o.Chunk, "chunk", 1000, "`elements` (KiB of a string) per round trip of a chunked copy")
	fs.BoolVar(&o.NoConfig, "no-config", false, "do not try CONFIG SET notify-keyspace-events (set it in the parameter group)")

	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		m, err := migrate.ParseMode(mode)
		if err != nil {
			return usagef("--mode: %w", err)
		}
		if o.Batch <= 0 || o.Chunk <= 0 {
			return usagef("--batch and --chunk must be at least 1")
		}
		o.Mode, o.Workers = m, conn.workers
		return conn.with(cmd.Context(), func(src, dst *migrate.Side) error {
			line := newLiveLine(env.Stderr)
			o.OnSubscribed = func() { fmt.Fprintf(env.Stderr, "following %d source masters; Ctrl-C to stop\n", len(src.Shards)) }
			o.OnWarning = func(s string) { line.end(); fmt.Fprintln(env.Stderr, "warning:", s) }
			o.OnStats = func(s migrate.FollowStats) { line.show(s.String()) }
			s, err := migrate.Follow(cmd.Context(), src, dst, o)
			line.end()
			fmt.Fprintln(env.Stdout, s.String())
			if errors.Is(err, context.Canceled) {
				return nil // Ctrl-C is how follow ends
			}
			return err
		})
	}
	return cmd
}
