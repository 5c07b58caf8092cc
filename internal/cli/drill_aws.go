package cli

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/redisha/redisha/internal/drill"
	"github.com/redisha/redisha/internal/promoter"
)

// awsDrillFlags are `redisha drill --aws`'s flags: the shared datastore and
// connection flags, the confirmation, and the drill's own knobs.
type awsDrillFlags struct {
	aws                    bool
	g                      *gdsFlags
	to, confirm, trigger   string
	writers                int
	interval, warmUp       time.Duration
	observe, settle, probe time.Duration
}

// awsOnly are the flags that mean nothing without --aws.
var awsOnly = []string{"confirm", "to", "trigger", "writers", "interval", "warm-up", "observe", "settle", "probe-interval",
	"datastore", flagAddr, "region", "endpoint", "alarm"}

func (f *awsDrillFlags) add(cmd *cobra.Command) {
	f.g = addGDSFlags(cmd)
	fs := cmd.Flags()
	fs.BoolVar(&f.aws, "aws", false, "rehearse against the real test deployment (--datastore, --addr) instead of this machine")
	fs.StringVar(&f.confirm, "confirm", "", "with --aws: the datastore `id` again, to confirm the drill may fail it over")
	fs.StringVar(&f.to, "to", "", "with --aws: the `region` to promote (default: the secondary)")
	fs.StringVar(&f.trigger, "trigger", drill.TriggerPromote, "with --aws: promote (FailoverGlobalReplicationGroup) or wait (for an outage someone else causes)")
	fs.IntVar(&f.writers, "writers", 2, "with --aws: applications writing through --addr")
	fs.DurationVar(&f.interval, "interval", 100*time.Millisecond, "with --aws: pause between one application's writes")
	fs.DurationVar(&f.warmUp, "warm-up", 30*time.Second, "with --aws: measure this long before the fault")
	fs.DurationVar(&f.observe, "observe", 15*time.Minute, "with --aws: wait at most this long for the recovery")
	fs.DurationVar(&f.settle, "settle", 30*time.Second, "with --aws: keep measuring this long once writes are back")
	fs.DurationVar(&f.probe, "probe-interval", time.Second, "with --aws: pause between the probe's samples of DNS, the datastore and the alarms")
	intRange(fs, "writers", 1, 100, "")
	durationRange(fs, "interval", time.Millisecond, time.Minute, "")
	durationRange(fs, "warm-up", 0, time.Hour, "")
	durationRange(fs, "observe", time.Second, 24*time.Hour, "")
	durationRange(fs, "settle", 0, time.Hour, "")
	durationRange(fs, "probe-interval", 10*time.Millisecond, time.Minute, "")
}

// refuseLocal rejects --aws's flags on a drill on this machine.
func (f *awsDrillFlags) refuseLocal(cmd *cobra.Command) error {
	for _, name := range awsOnly {
		if cmd.Flags().Changed(name) {
			return usagef("--%s is a flag of --aws: add --aws to rehearse against a real deployment, or drop it", name)
		}
	}
	return nil
}

func (f *awsDrillFlags) run(cmd *cobra.Command, env Env, svg string, asJSON bool) error {
	if f.trigger != drill.TriggerPromote && f.trigger != drill.TriggerWait {
		return usagef("--trigger %q: use %s or %s", f.trigger, drill.TriggerPromote, drill.TriggerWait)
	}
	if f.writers < 1 || f.writers > 16 {
		return usagef("--writers %d: use 1 to 16", f.writers)
	}
	for name, d := range map[string]time.Duration{"interval": f.interval, "warm-up": f.warmUp, "observe": f.observe, "settle": f.settle, "probe-interval": f.probe} {
		if d <= 0 {
			return usagef("--%s %s: use a positive duration", name, d)
		}
	}
	ctx := cmd.Context()
	d, err := f.g.open(ctx, env)
	if err != nil {
		return err
	}
	from, ok := d.member(d.primaryRegion)
	if !ok {
		return findingf("the Global Datastore %s has no primary member", f.g.datastore)
	}
	to := f.to
	if to == "" {
		for _, m := range d.members {
			if m.Region != from.Region {
				to = m.Region
			}
		}
	}
	target, ok := d.member(to)
	switch {
	case !ok:
		return usagef("--to %q is not a member region of %s", to, f.g.datastore)
	case f.trigger == drill.TriggerPromote && strings.EqualFold(target.Role, promoter.RolePrimary):
		return findingf("%s is already the primary: give --to the secondary region", to)
	case f.trigger == drill.TriggerPromote && !strings.EqualFold(d.dsStatus, promoter.StatusAvailable):
		return findingf("the Global Datastore is %s, not available: wait and run again", d.dsStatus)
	}
	cfg := drill.AWSConfig{Datastore: f.g.datastore, Trigger: f.trigger, AWS: d.aws, Conn: d.conn,
		From:    drill.AWSMember{Region: from.Region, Group: from.Group, Alarm: d.alarm(from.Region)},
		To:      drill.AWSMember{Region: target.Region, Group: target.Group, Alarm: d.alarm(target.Region)},
		Writers: f.writers, Interval: f.interval, WarmUp: f.warmUp, Observe: f.observe, Settle: f.settle,
		Timeout: f.g.timeout, Poll: f.probe, Status: env.Stderr}
	fmt.Fprint(env.Stderr, cfg.Plan())
	if f.confirm != f.g.datastore {
		if f.confirm != "" {
			return usagef("--confirm %q is not the datastore %s: nothing done", f.confirm, f.g.datastore)
		}
		what := "fails " + f.g.datastore + " over"
		if f.trigger == drill.TriggerWait {
			what = "writes to " + f.g.datastore + " during an outage"
		}
		return usagef("nothing done: this drill %s; run again with --confirm %s", what, f.g.datastore)
	}
	rep, err := drill.RunAWS(ctx, cfg, picturePath(svg, "aws-"+f.trigger))
	return printDrill(env, rep, err, asJSON, "drill --aws")
}
