package cli

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/redisha/redisha/internal/deployment"
	"github.com/redisha/redisha/internal/metrics"
	"github.com/redisha/redisha/internal/promoter"
)

func slogText(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }

// parseAcceptedLoss reads --accept-data-loss: a duration, or "any".
func parseAcceptedLoss(s string) (time.Duration, error) {
	switch strings.TrimSpace(strings.ToLower(s)) {
	case "":
		return 0, nil
	case "any":
		return promoter.AnyLoss, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, usagef("--accept-data-loss %q: give a positive duration such as 2m, or any (also an unknown loss)", s)
	}
	return d, nil
}

// failoverReport is what `redisha failover` prints with --json.
type failoverReport struct {
	To        string              `json:"to"`
	Apply     bool                `json:"apply"`
	Epoch     uint64              `json:"epoch,omitempty"`
	Ready     bool                `json:"ready"`
	Guards    []promoter.Verdict  `json:"guards"`
	Promotion *promoter.Promotion `json:"promotion,omitempty"`
	Stale     bool                `json:"stale,omitempty"`
	// Overrides names the operator's overrides that changed a verdict.
	Overrides []string `json:"overrides,omitempty"`
}

func newFailoverCmd(env Env) *cobra.Command {
	var (
		to, accept  string
		apply, down bool
		ignoreLatch bool
		ignoreDS    bool
		asJSON      bool
		wait, poll  time.Duration
	)
	cmd := &cobra.Command{
		Use:   "failover --datastore ID --addr HOST:PORT --to REGION [--apply] [--accept-data-loss D] [flags]",
		Short: "Promote a region's secondary under the promoter's guards: a plan, or the promotion with --apply",
		Long: `failover evaluates the promoter's guards for promoting REGION's member of the Global Datastore
(independent evidence that the primary is down, datastore available, member SECONDARY and associated,
data-loss bound, latch) with the promoter's state from its DynamoDB table in REGION, and prints each
verdict as a plan. Nothing changes without --apply.

With --apply, when every guard holds, it records the decision in the promoter's table (so the latch
holds for the promoters too), calls FailoverGlobalReplicationGroup through REGION's endpoint, and
waits until the datastore is available, the member PRIMARY and a real write succeeds.
--accept-data-loss D accepts a replica that was up to D behind (any: also an unknown lag).
--primary-down is your word that the primary region is down, for when its CloudWatch cannot be reached
from here and the promoter never read it (no route from its VPC): you, having checked from outside both
regions, are the independent evidence. It never outweighs the primary's alarm read as OK or a heartbeat
that still advances, and it is logged with the decision.
--ignore-latch overrides the latch (the cooldown after a promotion, or an attempt that may be in
flight); --ignore-datastore-guard overrides the datastore guard (AWS accepts a failover while the
datastore is modifying). Each override is named in the decision log, in the promoter's table and in
the page; the guard's refusal stays in its reason.

For a planned move with the primary healthy, use 'redisha switchover'. Exit codes: 0 the plan holds
(or the promotion is verified), 1 a guard refuses (or the promotion failed), 2 bad usage.`,
		Args: noArgs,
	}
	g := addGDSFlags(cmd)
	fs := cmd.Flags()
	fs.StringVar(&to, "to", "", "the `region` to promote (required)")
	fs.BoolVar(&apply, "apply", false, "promote when every guard holds (default: print the plan only)")
	fs.StringVar(&accept, "accept-data-loss", "", "accept a replica up to this `duration` behind, or any")
	fs.BoolVar(&down, "primary-down", false, "confirm that the primary region is down when its CloudWatch cannot be reached (you are the independent evidence)")
	fs.BoolVar(&ignoreLatch, "ignore-latch", false, "override the latch (cooldown or an attempt in flight); audited in the log and the page")
	fs.BoolVar(&ignoreDS, "ignore-datastore-guard", false, "override the datastore guard (a modifying datastore or group); audited in the log and the page")
	fs.DurationVar(&wait, "wait", promoter.DefaultPromoteTimeout, "how long to wait for the promotion to be verified")
	fs.DurationVar(&poll, "poll", promoter.DefaultPollInterval, "pause between checks while promoting")
	durationRange(fs, "wait", time.Second, time.Hour, "")
	durationRange(fs, "poll", 10*time.Millisecond, 5*time.Minute, "")
	fs.BoolVar(&asJSON, "json", false, "print the plan (and the promotion) as one JSON object")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if to == "" {
			return usagef("--to is required: give the region to promote, e.g. --to us-west-2")
		}
		loss, err := parseAcceptedLoss(accept)
		if err != nil {
			return err
		}
		if wait <= 0 || poll <= 0 {
			return usagef("--wait and --poll must be positive durations")
		}
		ctx := cmd.Context()
		d, m, err := g.openTarget(ctx, env, to)
		if err != nil {
			return err
		}
		client, err := d.redis(m)
		if err != nil {
			return err
		}
		defer client.Close()
		ep := d.endpoint(m, client)
		defer ep.Close()
		r := d.runner(m, ep, env.Stderr)
		r.PeerMetricDimensions = d.peerMetricDimensions(m.Region)
		r.Mode, r.AcceptedLoss, r.PromoteTimeout, r.PollInterval = promoter.ModeAuto, loss, wait, poll
		r.PrimaryDownConfirmed = down
		r.IgnoreLatch, r.IgnoreDatastoreGuard = ignoreLatch, ignoreDS
		r.OperatorRun = true // this machine's route to the peer's CloudWatch is not the promoter's

		rep := failoverReport{To: to, Apply: apply}
		if apply {
			out, err := r.Run(ctx)
			rep.Epoch, rep.Ready, rep.Guards, rep.Promotion, rep.Stale = out.Decision.Epoch, out.Decision.Ready, out.Decision.Guards, out.Promotion, out.Stale
			rep.Overrides = out.Decision.Overrides
			printFailover(env.Stdout, rep, r, asJSON)
			switch {
			case err != nil && rep.Promotion == nil:
				return err
			case rep.Stale:
				return findingf("another run recorded a decision first: nothing done; run again")
			case !rep.Ready:
				return findingf("refused by: %s", strings.Join(refusedGuards(rep.Guards), ", "))
			case rep.Promotion != nil && rep.Promotion.Err != "":
				return findingf("promotion of %s: %s", to, rep.Promotion.Err)
			}
			return nil
		}
		// The plan: the promoter's view now, recorded nowhere.
		rec, err := r.Store.Load(ctx)
		if err != nil {
			return err
		}
		dec := promoter.Decide(promoter.Input{LocalRegion: to, Obs: r.Observe(ctx), Prev: rec.State, Mode: promoter.ModeAuto,
			Bounds: r.Bounds, AcceptedLoss: loss, PrimaryDownConfirmed: down, IgnoreLatch: ignoreLatch, IgnoreDatastoreGuard: ignoreDS})
		rep.Ready, rep.Guards, rep.Overrides = dec.Ready, dec.Guards, dec.Overrides
		printFailover(env.Stdout, rep, r, asJSON)
		if !rep.Ready {
			return findingf("refused by: %s", strings.Join(refusedGuards(rep.Guards), ", "))
		}
		return nil
	}
	return cmd
}

// peerMetricDimensions are the dimensions of the primary region's checker
// metrics, as the promoter in region is deployed to read them (the
// deployment's model), or those of the primary member's group: the plan
// measures the possible loss as the promoter does.
func (d *gds) peerMetricDimensions(region string) []metrics.Dimension {
	if m := d.flags.model; m != nil {
		if r, ok := m.Region(region); ok && len(r.Promoter.PeerMetricDimensions) > 0 {
			return r.Promoter.PeerMetricDimensions
		}
	}
	if p, ok := d.member(d.primaryRegion); ok && p.Group != "" {
		return deployment.CheckerDimensions(p.Group)
	}
	return nil
}

func refusedGuards(vs []promoter.Verdict) []string {
	var out []string
	for _, v := range vs {
		if !v.OK {
			out = append(out, v.Guard)
		}
	}
	return out
}

func printFailover(w io.Writer, rep failoverReport, r *promoter.Runner, asJSON bool) {
	if asJSON {
		printJSON(w, rep)
		return
	}
	what := "plan"
	if rep.Apply {
		what = fmt.Sprintf("decision (epoch %d)", rep.Epoch)
	}
	fmt.Fprintf(w, "Promote %s (%s) of %s, primary now %s — %s:\n", r.GroupID, rep.To, r.DatastoreID, r.PeerRegion, what)
	if len(rep.Overrides) > 0 {
		fmt.Fprintf(w, "  OVERRIDES: %s (named in the decision log and the page)\n", strings.Join(rep.Overrides, ", "))
	}
	for _, v := range rep.Guards {
		if v.Guard == promoter.GuardMode {
			continue // an operator's command is the mode
		}
		mark := "REFUSES"
		if v.OK {
			mark = "holds"
		}
		fmt.Fprintf(w, "  %-9s %-7s %s\n", v.Guard, mark, v.Reason)
	}
	switch p := rep.Promotion; {
	case rep.Stale:
		fmt.Fprintln(w, "another run recorded a decision first: nothing done")
	case p != nil && p.Err == "":
		fmt.Fprintf(w, "promoted: call accepted after %s, PRIMARY after %s, a write succeeded after %s\n",
			p.Called.Sub(p.Started).Round(time.Millisecond), p.Primary.Sub(p.Started).Round(time.Millisecond), p.Writable.Sub(p.Started).Round(time.Millisecond))
	case p != nil:
		fmt.Fprintf(w, "promotion failed: %s\n", p.Err)
	case rep.Ready && !rep.Apply:
		fmt.Fprintln(w, "every guard holds: run again with --apply to promote")
	}
}
