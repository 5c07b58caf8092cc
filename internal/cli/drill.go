package cli

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/redisha/redisha/internal/deployment"
	"github.com/redisha/redisha/internal/drill"
)

// onScreen says what the drill prints, for a first-time viewer.
const onScreen = `On screen: the status line gives the time since the fault at real scale (negative during the
warm-up), each region's writable alarm, which record redis.internal answers (primary = region A,
secondary = region B), the datastore's status and primary region, and what each region's application
sees (writing, read-only, no writes). At the end: when each step happened (detection, decision,
promotion, DNS) at real scale and as measured, each application's writes, acknowledged writes lost and
longest stretch without a write, what the knobs predict, and where the timeline picture is.`

func newDrillCmd(env Env) *cobra.Command {
	var (
		scenario, scenarioFile, bootstrap string
		svg, templates, design            string
		apps, examples                    string
		speed                             float64
		asJSON, list                      bool
		lag, reaction, acceptLoss         time.Duration
		onAWS                             awsDrillFlags
	)
	cmd := &cobra.Command{
		Use:   "drill [--scenario NAME] [flags]",
		Short: "Rehearse a regional failover on this machine and measure it as applications see it",
		Long: `drill runs the whole failover loop on loopback, built from the synthesized templates (--templates, the
cloud assembly make synth writes): two regions of a Global Datastore (real redis-servers, region B
replicating from region A), the health-checker Lambda binary in each region with its deployed environment
on the deployed loop, a local CloudWatch that extracts its EMF metrics and evaluates the deployed writable
alarms as CloudWatch does (missing data included), a Route 53 stand-in answering redis.internal with the
deployed failover records, whose health checks read each alarm's data stream, the ElastiCache failover
API, the guarded promoter in each region with its deployed mode and bounds, and applications writing
through redis.internal: go-redis in each region and, in region B, the example programs on redis-py and
ioredis (--apps, --examples; make deps-examples installs them). Only addresses and the clock differ from
the deployment (and TLS and AUTH, which the loopback servers do not speak); the report lists each
rehearsed setting with the template it came from.

Who promotes is as deployed: in advise mode (the default) the promoter pages and the drill plays the
on-call, who runs the advised failover --operator-reaction after the page; in auto mode the promoter acts;
in off mode nobody does. A region lost with its CloudWatch cannot have its loss bounded, so the promoter
pages in auto too; the on-call then accepts the plan's amount only when the replica's published lag before
the heartbeat stopped was within the bound plus one heartbeat interval (docs/failover.md), and otherwise
only what --accept-data-loss says.

One scenario injects one failure. Time runs --speed times faster: the schedule, the alarm periods, the
TTL and the failover delay all scale together, and every result is reported at real scale (and as
measured). The report gives the time to detection, decision, promotion and DNS convergence, each
application's write-unavailable, read-only and disconnected time, the acknowledged writes lost, and
whether promotion happened exactly when it should. A timeline picture (SVG) shows every component's
state on one time axis, and a second one region B's deployed dashboard as it looked at the end.

Scenarios: ` + strings.Join(drill.ScenarioNames(), ", ") + `.

With --aws it runs the same measurements against a real test deployment instead: applications
writing sequence-numbered keys through --addr (redis.internal) and a probe on it, the datastore and the
writable alarms sampled through the real APIs, and the fault injected through the real API (--trigger
promote: FailoverGlobalReplicationGroup through the secondary region's endpoint) or caused by someone
else (--trigger wait: the fault is the first failed write). It fails the datastore over: it prints
what it will do and refuses unless --confirm names the datastore. AWS credentials and endpoints come
from the usual AWS configuration (AWS_REGION, AWS_PROFILE, AWS_ENDPOINT_URL_<SERVICE>, ...).

Exit codes: 0 the scenario behaved as it must, 1 it did not (or the drill could not run), 2 bad usage.`,
		Args: noArgs,
	}
	cmd.Flags().StringVar(&scenario, "scenario", "region-lost", "the failure to rehearse (--list shows them)")
	cmd.Flags().Float64Var(&speed, "speed", 30, "scenario seconds per wall second (1 = real time, at most 200)")
	cmd.Flags().StringVar(&bootstrap, "bootstrap", "build/local/bootstrap", "the checker Lambda binary built for this machine (`file`; make drill builds it)")
	cmd.Flags().StringVar(&svg, "svg", "", "write the timeline picture here (`file`; default build/drill/<scenario>.svg, \"-\" for none)")
	cmd.Flags().StringVar(&scenarioFile, "scenario-file", "", "a game-day scenario `file` (YAML: faults on a timeline and what must hold; docs/drill.md) instead of --scenario")
	cmd.Flags().StringVar(&design, "design", "deployed", "what to rehearse: deployed (the templates) or baseline (the design document's alarm and records, no promoter, with the templates' checkers and loop)")
	cmd.Flags().StringVar(&templates, "templates", "cdk.out", "the synthesized cloud assembly to rehearse (`dir`; make synth writes cdk.out)")
	cmd.Flags().DurationVar(&reaction, "operator-reaction", 5*time.Minute, "the on-call's time from a page to running the advised failover (real scale)")
	cmd.Flags().DurationVar(&acceptLoss, "accept-data-loss", 0, "what that on-call accepts of a stale replica (as failover --accept-data-loss; real scale)")
	cmd.Flags().DurationVar(&lag, "route53-lag", 0, "how long Route 53 takes to follow an alarm's data stream, for records on alarms (dnsHealthCheck=alarm; real scale; AWS does not document it)")
	floatRange(cmd.Flags(), "speed", 1, 200, "")
	durationRange(cmd.Flags(), "operator-reaction", 0, 24*time.Hour, "")
	durationRange(cmd.Flags(), "accept-data-loss", 0, 24*time.Hour, "")
	durationRange(cmd.Flags(), "route53-lag", 0, time.Hour, "")
	cmd.Flags().StringVar(&apps, "apps", "auto", "the applications writing through the failover: auto (go, and python and node when installed), or a list of go, python, node")
	cmd.Flags().StringVar(&examples, "examples", "examples", "the folder holding the python and node example programs (`dir`; make deps-examples installs what they need)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON instead of a table")
	cmd.Flags().BoolVar(&list, "list", false, "list the scenarios and what each shows, then exit")
	onAWS.add(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if onAWS.aws {
			return onAWS.run(cmd, env, svg, asJSON)
		}
		if err := onAWS.refuseLocal(cmd); err != nil {
			return err
		}
		if list {
			for _, name := range drill.ScenarioNames() {
				sc := drill.Scenarios[name]
				fmt.Fprintf(env.Stdout, "%-20s %s\n%-20s must: %s\n", name, sc.Title, "", sc.Expect())
			}
			fmt.Fprintf(env.Stdout, "\nSteps of a --scenario-file (docs/drill.md, examples/game-day/):\n")
			for _, a := range drill.StepActions() {
				fmt.Fprintf(env.Stdout, "  %-16s %s\n", a[0], a[1])
			}
			return nil
		}
		sc, ok := drill.Scenarios[scenario]
		if scenarioFile != "" {
			if cmd.Flags().Changed("scenario") {
				return usagef("--scenario and --scenario-file: give one")
			}
			var err error
			if sc, err = drill.LoadScenario(scenarioFile); err != nil {
				return usagef("--scenario-file: %w", err)
			}
			scenario, ok = sc.Name, true
		}
		if !ok {
			return usagef("--scenario %q is unknown: use one of %s", scenario, strings.Join(drill.ScenarioNames(), ", "))
		}
		if speed < 1 || speed > 200 {
			return usagef("--speed %g: use 1 (real time) to 200", speed)
		}
		svg = picturePath(svg, scenario)
		if lag < 0 {
			return usagef("--route53-lag %s: use 0 or more", lag)
		}
		if reaction < 0 || acceptLoss < 0 {
			return usagef("--operator-reaction %s, --accept-data-loss %s: use 0 or more", reaction, acceptLoss)
		}
		programs, skipped, err := drillPrograms(apps, examples)
		if err != nil {
			return usagef("%w", err)
		}
		dep, err := deployment.FromTemplates(templates)
		if err != nil {
			return usagef("--templates %s: %w", templates, err)
		}
		switch design {
		case "deployed":
		case "baseline":
			dep = drill.Baseline(dep)
		default:
			return usagef("--design %q: use deployed or baseline", design)
		}
		if m := dep.Settings.Members(); m.ClusterMode && apps == "auto" && len(programs) > 0 {
			// The example programs speak to one node; asked for by
			// name they are an error (Validate), by default left out.
			skipped = append(skipped, fmt.Sprintf("the example applications are not run: they speak to one node, and the templates deploy %d shards", m.Shards))
			programs = nil
		}
		cfg := drill.Config{Bootstrap: bootstrap, Deployment: dep, Speed: speed, Route53Lag: lag,
			OperatorReaction: reaction, AcceptDataLoss: acceptLoss, Programs: programs}
		if dashboards, err := deployment.Dashboards(templates); err != nil {
			return usagef("--templates %s: %w", templates, err)
		} else {
			cfg.Dashboard = dashboards[dep.Regions[1].Name]
		}
		if err := cfg.Validate(); err != nil {
			return usagef("%w", err)
		}
		if !asJSON {
			fmt.Fprintf(env.Stderr, "%s: %s\n%s\nspeed %g×: one real minute lasts %.1f s here\n\n%s\n\n", sc.Name, sc.Title, sc.Explain, speed, 60/speed, onScreen)
			cfg.Status = env.Stderr
		}
		for _, why := range skipped {
			fmt.Fprintln(env.Stderr, "drill:", why)
		}
		rep, err := drill.Run(cmd.Context(), cfg, sc, svg)
		return printDrill(env, rep, err, asJSON, "scenario "+sc.Name)
	}
	return cmd
}

// printDrill prints a drill's report as a table or JSON; a failed drill
// is a finding named by what.
func printDrill(env Env, rep *drill.Report, err error, asJSON bool, what string) error {
	if err != nil {
		return err
	}
	if asJSON {
		if err := rep.WriteJSON(env.Stdout); err != nil {
			return err
		}
	} else {
		rep.WriteTable(env.Stdout)
	}
	if !rep.Passed {
		return findingf("%s: %s", what, strings.Join(rep.Problems, "; "))
	}
	return nil
}

// picturePath resolves --svg: "" is build/drill/<name>.svg, "-" none.
func picturePath(svg, name string) string {
	switch svg {
	case "":
		return filepath.Join("build", "drill", name+".svg")
	case "-":
		return ""
	}
	return svg
}
