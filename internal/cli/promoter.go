package cli

import (
	"context"
	"fmt"
	"os"
	"os/user"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/redisha/redisha/internal/check"
	"github.com/redisha/redisha/internal/promoter"
)

// newPromoterCmd is `redisha promoter mode|pause|resume`: the promoters'
// mode at run time, kept in their state tables, which every run reads.
func newPromoterCmd(env Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "promoter",
		Short: "Set the promoters' mode at run time, without a redeploy: mode, pause, resume",
		Long: `promoter changes what the deployed promoters do, without a redeploy: the mode is kept in each
promoter's state table (the latch item), which every run reads, and it stays until 'resume' brings back
the mode the promoter was deployed with. Each change takes the promoter's next epoch, so a run that read
the state before acts on nothing; the decision log and the pages name who set the mode, and
'redisha status' shows it.

  redisha promoter pause  --datastore ID --region us-west-2             # every region: off (decide, log, no page)
  redisha promoter mode advise --datastore ID --region us-west-2 --in us-west-2
  redisha promoter resume --datastore ID --region us-west-2             # the deployed mode again

An operator's own 'redisha failover --apply' is not affected: the command is the decision.`,
		Args: noArgs,
	}
	cmd.AddCommand(
		newPromoterModeCmd(env, "mode MODE", "Set the promoters' mode (off, advise or auto) until resumed", ""),
		newPromoterModeCmd(env, "pause", "Set the promoters' mode to off until resumed: they decide and log, and neither page nor act", promoter.ModeOff),
		newPromoterModeCmd(env, "resume", "Bring back the mode each promoter was deployed with", "resume"),
	)
	return cmd
}

func newPromoterModeCmd(env Env, use, short string, fixed promoter.Mode) *cobra.Command {
	var (
		in []string
		by string
	)
	cmd := &cobra.Command{
		Use:   use + " --datastore ID [--in REGION]... [flags]",
		Short: short,
		Args:  noArgs,
	}
	if fixed == "" {
		// Counted in RunE, after the flags are validated.
		cmd.Args = cobra.ArbitraryArgs
	}
	// The mode lives in the promoters' tables: AWS flags only, no Redis
	// endpoint to reach.
	g := &gdsFlags{cmd: cmd, noRedis: true, prefix: check.DefaultPrefix}
	fs := cmd.Flags()
	fs.StringVar(&g.datastore, "datastore", "", "the Global Datastore's full `id` (required), e.g. ldgnf-redisha")
	fs.StringVar(&g.region, "region", "", "the `region` whose ElastiCache endpoint to ask for the members (default: AWS_REGION)")
	fs.StringVar(&g.latchTable, "latch-table", "", "the promoters' DynamoDB `table` (default: the deployed one, redisha-latch-<datastore>, in each region)")
	fs.DurationVar(&g.timeout, "timeout", 5*time.Second, "deadline of each AWS call")
	durationRange(fs, "timeout", 10*time.Millisecond, 5*time.Minute, "")
	fs.StringSliceVar(&in, "in", nil, "the `region` whose promoter to change, repeatable (default: every member's)")
	fs.StringVar(&by, "by", "", "who makes the change, kept with the mode and logged with every decision (default: user@host)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if fixed == "" && len(args) != 1 {
			return usagef("give one mode: off, advise or auto (e.g. %s auto)", cmd.CommandPath())
		}
		mode := fixed
		switch {
		case fixed == "resume":
			mode = ""
		case fixed == "":
			m, err := promoter.ParseMode(args[0])
			if err != nil || strings.TrimSpace(args[0]) == "" {
				return usagef("mode %q: give off, advise or auto", args[0])
			}
			mode = m
		}
		if by == "" {
			by = whoami()
		}
		d, err := g.open(cmd.Context(), env)
		if err != nil {
			return err
		}
		var regions []string
		for _, m := range d.members {
			regions = append(regions, m.Region)
		}
		for _, r := range in {
			if !slices.Contains(regions, r) {
				return usagef("--in %s: not a member's region; the datastore's are %s", r, strings.Join(regions, ", "))
			}
		}
		if len(in) > 0 {
			regions = in
		}
		var failed []string
		for _, r := range regions {
			// A read and a conditional write, tried again on a conflict.
			ctx, cancel := context.WithTimeout(cmd.Context(), 5*g.timeout)
			rec, err := promoter.SetMode(ctx, d.store(r), mode, by, time.Now())
			cancel()
			if err != nil {
				failed = append(failed, r)
				fmt.Fprintf(env.Stderr, "%s: the promoter's mode was not changed: %v\n", r, err)
				continue
			}
			now := "the deployed mode (resumed)"
			if mode != "" {
				now = string(mode) + " until resumed"
			}
			fmt.Fprintf(env.Stdout, "%s: promoter mode %s, set by %s (epoch %d)\n", r, now, by, rec.State.Epoch)
		}
		if len(failed) > 0 {
			return findingf("the mode was not changed in %s", strings.Join(failed, ", "))
		}
		return nil
	}
	return cmd
}

// whoami names the person at this terminal for the audit trail.
func whoami() string {
	name := "unknown"
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		name += "@" + h
	}
	return name
}
