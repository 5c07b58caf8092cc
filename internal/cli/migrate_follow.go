package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

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
redisha makes there, and only because the source made it. One key is copied by one worker at a time,
and a change arriving meanwhile is copied after it: the last change of a key always wins.

Notifications must be on: follow sets notify-keyspace-events to KA with CONFIG SET where allowed, and
again after every reconnect (a restarted server forgets it); on ElastiCache, where CONFIG is blocked,
set the parameter notify-keyspace-events to KEA in the cluster's parameter group first (--no-config skips
the attempt). Every 10 s each master is checked: a master that changes data without sending events
(follow is deaf), that is no longer a master (a failover) or that ran FLUSHDB/FLUSHALL/SWAPDB (no event
says what they removed) is warned about. Changes made while the subscription is down are missed (a
warning says when): run 'migrate compare' afterwards. Start follow
before 'migrate copy' (or use 'migrate copy --follow', which also re-copies keys changed during the copy).

A standalone source is followed in every non-empty database unless --from-db picks one.
A live line on stderr shows events, keys copied and deleted, keys pending and the lag. Runs until
Ctrl-C; exit 0 then, 1 when changes may have been missed (lost subscription, deaf or cut-off master, a
flush) or the source cannot be subscribed, 2 on bad usage.`,
		Args: noArgs,
	}
	conn := addMigrateConn(cmd, env, 4)
	fs := cmd.Flags()
	fs.StringVar(&o.Match, "match", "*", "`pattern` of the keys to follow")
	fs.StringVar(&mode, "mode", "auto", "how values travel: auto, dump or typed (as for copy)")
	fs.IntVar(&o.Batch, "batch", 500, "changed `keys` per pipeline")
	fs.Int64Var(&o.BigKeyBytes, "big-key-bytes", 8<<20, "keys larger than these `bytes` (MEMORY USAGE) are copied in chunks; -1 turns the probe off")
	fs.IntVar(&o.Chunk, "chunk", 1000, "`elements` (KiB of a string) per round trip of a chunked copy")
	intRange(fs, "batch", 1, 1e6, "")
	intRangeOr(fs, "big-key-bytes", 1, 1<<40, -1, "the size probe off")
	intRange(fs, "chunk", 1, 1e6, "")
	fs.BoolVar(&o.Resync, "resync-after-reconnect", false, "after a lost subscription, copy every key of that master again (a full copy of the shard) so changes made meanwhile are not missed")
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
		return conn.with(cmd.Context(), func(pairs []sidePair) error {
			line := newLiveLine(env.Stderr)
			var mu sync.Mutex
			for _, p := range pairs {
				fmt.Fprintln(env.Stderr, describeSide(p.src))
				fmt.Fprintln(env.Stderr, describeSide(p.dst))
			}
			fs := make([]*follower, len(pairs))
			for i, p := range pairs {
				fo := o
				fo.OnSubscribed = func() {
					fmt.Fprintln(env.Stderr, label(pairs, p, fmt.Sprintf("following %d source masters; Ctrl-C to stop", len(p.src.Shards))))
				}
				fs[i] = startFollower(cmd.Context(), env, line, &mu, pairs, p, fo, "")
			}
			for _, f := range fs {
				if err := f.waitSubscribed(); err != nil {
					stopFollowers(fs)
					return err
				}
			}
			return endFollowers(env, line, pairs, fs, nil)
		})
	}
	return cmd
}

// follower is one migrate.Follow running in the background.
type follower struct {
	subscribed chan struct{}
	done       chan struct{}
	cancel     context.CancelFunc
	stats      migrate.FollowStats
	err        error
}

// startFollower runs Follow for one database; its warnings and live line
// share stderr (under mu) with whatever else runs. prefix starts its line.
func startFollower(ctx context.Context, env Env, line liveLine, mu *sync.Mutex, pairs []sidePair, p sidePair, o migrate.FollowOptions, prefix string) *follower {
	ctx, cancel := context.WithCancel(ctx)
	f := &follower{subscribed: make(chan struct{}), done: make(chan struct{}), cancel: cancel}
	onSub := o.OnSubscribed
	o.OnSubscribed = func() {
		if onSub != nil {
			onSub()
		}
		close(f.subscribed)
	}
	o.OnWarning = func(s string) {
		mu.Lock()
		defer mu.Unlock()
		line.end()
		fmt.Fprintln(env.Stderr, "warning:", label(pairs, p, s))
	}
	o.OnStats = func(s migrate.FollowStats) {
		mu.Lock()
		defer mu.Unlock()
		line.show(prefix + label(pairs, p, s.String()))
	}
	go func() {
		defer close(f.done)
		f.stats, f.err = migrate.Follow(ctx, p.src, p.dst, o)
	}()
	return f
}

// waitSubscribed returns once f is subscribed, or its error.
func (f *follower) waitSubscribed() error {
	select {
	case <-f.subscribed:
		return nil
	case <-f.done:
		return fmt.Errorf("follow: %w", f.err)
	}
}

// stopFollowers ends every follower and waits for them.
func stopFollowers(fs []*follower) {
	for _, f := range fs {
		f.cancel()
	}
	for _, f := range fs {
		<-f.done
	}
}

// endFollowers waits until the followers end (Ctrl-C), prints their final
// stats and turns what they may have missed, or an earlier finding, into
// the command's error.
func endFollowers(env Env, line liveLine, pairs []sidePair, fs []*follower, earlier error) error {
	for _, f := range fs {
		<-f.done
	}
	line.end()
	var missed []string
	var ferr error
	for i, f := range fs {
		fmt.Fprintln(env.Stdout, label(pairs, pairs[i], "follow: "+f.stats.String()))
		if f.err != nil && !errors.Is(f.err, context.Canceled) && ferr == nil {
			ferr = f.err
		}
		if s := f.stats; s.MayHaveMissed() {
			missed = append(missed, label(pairs, pairs[i], fmt.Sprintf("reconnects %d, deaf %d, demoted %d, flushed %d", s.Reconnects, s.Silent, s.Demoted, s.Flushed)))
		}
	}
	switch {
	case ferr != nil:
		return ferr
	case earlier != nil:
		return earlier
	case len(missed) > 0:
		return findingf("follow may have missed changes (%s): run migrate compare, and copy the differing keys", strings.Join(missed, "; "))
	}
	return nil // Ctrl-C is how follow ends
}
