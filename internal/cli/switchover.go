package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"

	"github.com/redisha/redisha/internal/promoter"
	"github.com/redisha/redisha/internal/promoter/latch"
)

// switchoverReport is what `redisha switchover` prints with --json.
type switchoverReport struct {
	From string `json:"from"`
	To   string `json:"to"`
	// CaughtUp is how long the marker written on the old primary took to
	// reach the target.
	CaughtUp  time.Duration       `json:"caught_up_ns"`
	Promotion *promoter.Promotion `json:"promotion,omitempty"`
	// MarkerKept is true when the marker is readable on the new primary.
	MarkerKept bool   `json:"marker_kept"`
	Latched    bool   `json:"latched"`
	LatchError string `json:"latch_error,omitempty"`
}

func newSwitchoverCmd(env Env) *cobra.Command {
	var (
		to, confirm   string
		asJSON, apply bool
		catchUp, wait time.Duration
		poll          time.Duration
	)
	cmd := &cobra.Command{
		Use:   "switchover --datastore ID --addr HOST:PORT --to REGION [--apply --confirm ID] [flags]",
		Short: "Move the primary to a region in a planned way (and fail back): wait for it to catch up, promote, verify",
		Long: `switchover moves the Global Datastore's primary to REGION while the current primary is healthy:
a planned move, or the failback after a failover. It checks that the datastore is available and REGION's
member SECONDARY and associated; writes a marker on the current primary and waits until REGION's node
has it (the replica has caught up with every write acknowledged before it); calls
FailoverGlobalReplicationGroup through REGION's endpoint; waits until the datastore is available, the
member PRIMARY and a real write succeeds; checks that the marker survived; and records the promotion
in REGION's promoter table, so the promoters' latch holds.

On a cluster-mode datastore one marker is written on every shard, and every shard's must reach REGION
(each proves its own shard caught up); the write that verifies the promotion is made on every shard.

Writes that applications make after the marker are replicated as usual, but whether ElastiCache drains
the replication lag before switching roles is not documented: stop writers for the move when no write
may be lost.

Without --apply it only checks and prints the plan (which region gives up the primary, which takes it, and
what will run). With --apply it acts only when --confirm repeats the datastore's id: a planned move is
still a move of every application's writes, and a region typed wrong must not start one. Exit codes: 0
moved and verified (or the plan holds), 1 not (the message says which step), 2 bad usage.`,
		Args: noArgs,
	}
	g := addGDSFlags(cmd)
	fs := cmd.Flags()
	fs.StringVar(&to, "to", "", "the `region` to move the primary to (required)")
	fs.DurationVar(&catchUp, "catch-up", time.Minute, "how long to wait for the target to catch up")
	fs.DurationVar(&wait, "wait", promoter.DefaultPromoteTimeout, "how long to wait for the promotion to be verified")
	fs.DurationVar(&poll, "poll", promoter.DefaultPollInterval, "pause between checks while promoting")
	durationRange(fs, "catch-up", time.Second, time.Hour, "")
	durationRange(fs, "wait", time.Second, time.Hour, "")
	durationRange(fs, "poll", 10*time.Millisecond, 5*time.Minute, "")
	fs.BoolVar(&apply, "apply", false, "move the primary (default: print the plan only)")
	fs.StringVar(&confirm, "confirm", "", "with --apply: the datastore's `id` again, to confirm the move")
	fs.BoolVar(&asJSON, "json", false, "print the result as one JSON object")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if to == "" {
			return usagef("--to is required: give the region to move the primary to, e.g. --to us-east-1")
		}
		if catchUp <= 0 || wait <= 0 || poll <= 0 {
			return usagef("--catch-up, --wait and --poll must be positive durations")
		}
		if apply && confirm != g.datastore {
			return usagef("--apply moves the primary of %s to %s: confirm with --confirm %s", g.datastore, to, g.datastore)
		}
		ctx := cmd.Context()
		d, target, err := g.openTarget(ctx, env, to)
		if err != nil {
			return err
		}
		from, ok := d.member(d.primaryRegion)
		switch {
		case !strings.EqualFold(d.dsStatus, promoter.StatusAvailable):
			return findingf("the Global Datastore is %s, not available: wait and run again", d.dsStatus)
		case strings.EqualFold(target.Role, promoter.RolePrimary):
			return findingf("%s is already the primary", to)
		case !ok:
			return findingf("the Global Datastore has no primary member")
		case !strings.EqualFold(target.Status, promoter.MemberAssociated):
			return findingf("%s's member is %s, not associated", to, target.Status)
		}
		if !apply {
			fmt.Fprintf(env.Stdout, "plan: move the primary of %s from %s (%s) to %s (%s): write a marker on %s and wait up to %s until %s has it, "+
				"call FailoverGlobalReplicationGroup through %s, wait up to %s until %s is PRIMARY and takes a write, record the promotion in %s's latch.\n"+
				"Nothing was changed: run again with --apply --confirm %s\n",
				g.datastore, from.Region, from.Group, to, target.Group, from.Region, catchUp, to, to, wait, to, to, g.datastore)
			return nil
		}
		src, err := d.redis(from)
		if err != nil {
			return err
		}
		defer src.Close()
		dst, err := d.redis(target)
		if err != nil {
			return err
		}
		defer dst.Close()

		// One marker a shard (on one node, one): every shard's must reach
		// the target, each proving its own shard caught up.
		srcEP, ep := d.endpoint(from, src), d.endpoint(target, dst)
		defer srcEP.Close()
		defer ep.Close()
		rep := switchoverReport{From: from.Region, To: to}
		key, token := g.prefix+"switchover", randomToken()
		caught, err := waitCaughtUp(ctx, srcEP, ep, key, token, catchUp, g.timeout)
		if err != nil {
			return err
		}
		rep.CaughtUp = caught
		fmt.Fprintf(env.Stderr, "%s caught up with %s in %s; promoting\n", to, from.Region, caught.Round(time.Millisecond))

		r := d.runner(target, ep, env.Stderr)
		r.PromoteTimeout, r.PollInterval = wait, poll
		p := r.Promote(ctx)
		rep.Promotion = &p
		if p.Err == "" {
			c, cancel := context.WithTimeout(ctx, g.timeout)
			rep.MarkerKept = ep.EachShard(c, markerThere(c, key, token)) == nil
			cancel()
			if err := recordPromotion(ctx, d.store(to), p.Started, g.timeout); err != nil {
				rep.LatchError = err.Error()
			} else {
				rep.Latched = true
			}
		}
		if asJSON {
			printJSON(env.Stdout, rep)
		} else {
			fmt.Fprintf(env.Stdout, "switchover %s -> %s: caught up in %s\n", rep.From, rep.To, rep.CaughtUp.Round(time.Millisecond))
			if p.Err == "" {
				fmt.Fprintf(env.Stdout, "promoted: call accepted after %s, PRIMARY after %s, a write succeeded after %s; marker kept: %v; latch recorded: %v\n",
					p.Called.Sub(p.Started).Round(time.Millisecond), p.Primary.Sub(p.Started).Round(time.Millisecond),
					p.Writable.Sub(p.Started).Round(time.Millisecond), rep.MarkerKept, rep.Latched)
			}
		}
		switch {
		case p.Err != "":
			return findingf("promotion of %s: %s", to, p.Err)
		case !rep.MarkerKept:
			return findingf("the marker written on %s before the move is not on %s: a write was lost", from.Region, to)
		case !rep.Latched:
			return findingf("promoted, but the promoters' latch was not recorded: %s", rep.LatchError)
		}
		return nil
	}
	return cmd
}

func randomToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// markerKey is the catch-up marker's key on a shard (tag "" on one node).
func markerKey(key, tag string) string {
	if tag == "" {
		return key
	}
	return key + ":{" + tag + "}"
}

// errMarkerNotYet is a marker not (yet) on a node.
var errMarkerNotYet = errors.New("the marker is not there yet")

// markerThere checks that a node holds the marker of its shard.
func markerThere(ctx context.Context, key, token string) func(tag string, c *redis.Client) error {
	return func(tag string, c *redis.Client) error {
		v, err := c.Get(ctx, markerKey(key, tag)).Result()
		switch {
		case errors.Is(err, redis.Nil) || (err == nil && v != token):
			return errMarkerNotYet
		case err != nil:
			return err
		}
		return nil
	}
}

// waitCaughtUp writes token under key on the primary, one marker a shard
// of a cluster, and waits until the replica returns every one: every write
// acknowledged before them has arrived, on every shard.
func waitCaughtUp(ctx context.Context, src, dst *promoter.ClusterEndpoint, key, token string, limit, timeout time.Duration) (time.Duration, error) {
	start := time.Now()
	c, cancel := context.WithTimeout(ctx, timeout)
	err := src.EachShard(c, func(tag string, n *redis.Client) error {
		return n.Set(c, markerKey(key, tag), token, 10*time.Minute).Err()
	})
	cancel()
	if err != nil {
		return 0, fmt.Errorf("write the catch-up marker on the primary: %w", err)
	}
	ctx, cancel = context.WithTimeout(ctx, limit)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		c, cancelGet := context.WithTimeout(ctx, timeout)
		err := dst.EachShard(c, markerThere(c, key, token))
		cancelGet()
		if err == nil {
			return time.Since(start), nil
		}
		if ctx.Err() == nil || last == nil {
			last = err // a poll the limit cut short says less than the one before
		}
		select {
		case <-ctx.Done():
			if errors.Is(last, errMarkerNotYet) {
				return 0, fmt.Errorf("the target did not catch up within %s: replication is behind or broken (%w)", limit, last)
			}
			return 0, fmt.Errorf("the target did not catch up within %s (last error: %w)", limit, last)
		case <-tick.C:
		}
	}
}

// recordPromotion marks a promotion at at in the target's promoter table,
// so the latch holds for the automatic promoters too.
func recordPromotion(ctx context.Context, st *latch.Store, at time.Time, timeout time.Duration) error {
	var err error
	for range 3 { // a promoter run may record between our load and save
		c, cancel := context.WithTimeout(ctx, timeout)
		var rec promoter.Record
		if rec, err = st.Load(c); err == nil {
			prev := rec.State.Epoch
			rec.State.Epoch++
			rec.State.PromotedAt = at
			rec.LastAction, rec.LastRefused, rec.LastAt = promoter.ActPromote, "", time.Now()
			err = st.Save(c, prev, rec)
		}
		cancel()
		if !errors.Is(err, promoter.ErrConflict) {
			return err
		}
	}
	return err
}
