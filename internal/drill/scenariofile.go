package drill

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/redisha/redisha/internal/sim/ddblocal"
	"github.com/redisha/redisha/internal/sim/eclocal"
)

// A game-day scenario file describes faults on a timeline and what must
// hold, in YAML:
//
//	name: link-then-region
//	title: replication link broken, then region A lost
//	observe: 15m                    # how long after the fault to watch (default 20m)
//	expect:
//	  promotions: 0                 # unplanned cross-region promotions, exactly
//	  refusal: data-loss            # a guard the surviving region's promoter must refuse on
//	  max_lost: 0                   # acknowledged writes lost, at most
//	steps:
//	  - {at: 0s, do: break-link}
//	  - {at: 2m, do: lose-region, region: a}
//
// Every error names the file and the line. The built-in scenarios are such
// files (scenarios/*.yaml).

//go:embed scenarios/*.yaml
var builtin embed.FS

// scenarioFile is a file's shape.
type scenarioFile struct {
	Name    string      `yaml:"name"`
	Title   string      `yaml:"title"`
	Explain string      `yaml:"explain"`
	Region  string      `yaml:"region"`
	Observe string      `yaml:"observe"`
	Expect  expectation `yaml:"expect"`
	Steps   []step      `yaml:"steps"`
	// DoneWhen ends the observation early: a region (once the datastore's
	// primary is that region, DNS answers it and every application writes)
	// or "steps" (once the last step is done).
	DoneWhen string `yaml:"done_when"`
}

type expectation struct {
	Promotions     *int   `yaml:"promotions"`
	Planned        int    `yaml:"planned"`
	InRegion       bool   `yaml:"in_region"`
	Refusal        string `yaml:"refusal"`
	WritesAgain    bool   `yaml:"writes_again"`
	MaxLost        *int   `yaml:"max_lost"`
	MaxWriteOutage string `yaml:"max_write_outage"`
	MaxReadOnlyDNS string `yaml:"max_read_only_dns"`
}

type step struct {
	At      string   `yaml:"at"`
	Do      string   `yaml:"do"`
	Region  string   `yaml:"region"`
	To      string   `yaml:"to"`
	Between []string `yaml:"between"`
	Delay   string   `yaml:"delay"`
	Service string   `yaml:"service"`
	Call    string   `yaml:"call"`
	Count   int      `yaml:"count"`
	For     string   `yaml:"for"`
	// Undemoted brings a region back (restore-region, resume-region) with
	// its primary still a master, as an old primary the control plane
	// never reached might return.
	Undemoted bool `yaml:"undemoted"`
	// By is a clock's skew (skew-clock), negative for behind.
	By string `yaml:"by"`
	// When is where a promoter's function crashes (crash-promoter).
	When string `yaml:"when"`
	// Reply: lost applies a DynamoDB write and loses its answer (fail-api).
	Reply string `yaml:"reply"`
	// Error (fail-api) is how the calls fail: throttled (default),
	// unavailable (a 503; the SDK retries it), invalid-state (elasticache:
	// InvalidGlobalReplicationGroupState, not retried).
	Error string `yaml:"error"`
	line  int
}

// StepActions lists what a scenario file's step can do (its "do"), sorted,
// each with what it needs and what it does.
func StepActions() [][2]string {
	var out [][2]string
	for _, k := range mapKeys(actions) {
		out = append(out, [2]string{k, actions[k]})
	}
	return out
}

// actions are the faults and moves a step can make, with what each needs.
var actions = map[string]string{
	"lose-region":    "region: its servers, checker and promoter stop; its CloudWatch stops answering",
	"restore-region": "region: the lost region comes back, demoted as the datastore's roles want it (undemoted: true: its primary still a master)",
	"stall-region":   "region: every node stops answering (SIGSTOP); its checker keeps publishing 0",
	"resume-region":  "region: a stalled region answers again, demoted if it lost the primary role meanwhile (undemoted: true: not)",
	"crash-primary":  "region: the region's primary node dies (ElastiCache promotes its replica)",
	"break-link":     "the inter-region replication link is cut",
	"heal-link":      "the replication link is restored",
	"slow-link":      "delay: replication lags by this much",
	"partition":      "between: two parts that stop reaching each other (promoter-a|b, cloudwatch-a|b, checker-a|b, app-a|b, redis-a|b, replication)",
	"heal":           "between: the parts of an earlier partition",
	"fail-api":       "service (elasticache, dynamodb), count, call (elasticache: the action, default FailoverGlobalReplicationGroup), error (throttled, unavailable, invalid-state for elasticache), reply (dynamodb: lost, the write is applied and its answer lost): the next calls fail",
	"skew-clock":     "region, by (e.g. 30s or -30s): the region's promoter's clock runs that far ahead of the checkers' (behind when negative)",
	"crash-promoter": "region, when (before-call or after-call): the promoter's function dies at its next failover call, before making it or after ElastiCache accepted it, recording nothing more",
	"switchover":     "to: a planned move of the primary (writes pause until the target caught up)",
	"wait-converged": "region: wait until it is the primary, DNS answers it and every application writes",
	"wait":           "for: pause this long",
}

// LoadScenario reads a scenario file; errors name the file and the line.
func LoadScenario(path string) (Scenario, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Scenario{}, err
	}
	return parseScenario(path, b)
}

// parseScenario turns a file's bytes into a Scenario.
func parseScenario(name string, b []byte) (Scenario, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		return Scenario{}, fmt.Errorf("%s: %w", name, err)
	}
	var f scenarioFile
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return Scenario{}, fmt.Errorf("%s: %w", name, err)
	}
	// The steps' lines, for errors about their values.
	if len(root.Content) == 1 {
		for i, kv := 0, root.Content[0].Content; i+1 < len(kv); i += 2 {
			if kv[i].Value == "steps" {
				for j, n := range kv[i+1].Content {
					if j < len(f.Steps) {
						f.Steps[j].line = n.Line
					}
				}
			}
		}
	}
	var errs []error
	bad := func(line int, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s:%d: %s", name, line, fmt.Sprintf(format, args...)))
	}
	dur := func(line int, field, v string, def time.Duration) time.Duration {
		if v == "" {
			return def
		}
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			bad(line, "%s %q: give a duration such as 30s or 2m", field, v)
			return def
		}
		return d
	}
	region := func(line int, what, r string) {
		if !validRegion(r) {
			bad(line, "%s %q: give a or b (a is the primary at creation)", what, r)
		}
	}
	if f.Name == "" {
		bad(1, "name is missing: give the scenario a name")
	}
	sc := Scenario{Name: f.Name, Title: f.Title, Explain: f.Explain, Region: f.Region, Observe: dur(1, "observe", f.Observe, 20*time.Minute),
		ExpectPlanned: f.Expect.Planned, ExpectInRegion: f.Expect.InRegion, ExpectRefusal: f.Expect.Refusal, WritesAgain: f.Expect.WritesAgain}
	if sc.Title == "" {
		sc.Title = f.Name
	}
	if f.Region != "" {
		region(1, "region", f.Region)
	}
	if p := f.Expect.Promotions; p != nil {
		switch *p {
		case 0:
		case 1:
			sc.ExpectPromotion = true
		default:
			bad(1, "expect.promotions %d: give 0 or 1", *p)
		}
	}
	if f.Expect.MaxLost != nil {
		sc.MaxLost = f.Expect.MaxLost
		sc.NoLoss = *f.Expect.MaxLost == 0
	}
	sc.MaxWriteOutage = dur(1, "expect.max_write_outage", f.Expect.MaxWriteOutage, 0)
	if f.Expect.MaxReadOnlyDNS != "" {
		v := dur(1, "expect.max_read_only_dns", f.Expect.MaxReadOnlyDNS, 0)
		sc.MaxReadOnlyDNS = &v
	}
	if f.Expect.Refusal != "" && !slices.Contains([]string{"evidence", "datastore", "member", "data-loss", "latch"}, f.Expect.Refusal) {
		bad(1, "expect.refusal %q: give a guard: evidence, datastore, member, data-loss or latch", f.Expect.Refusal)
	}
	switch f.DoneWhen {
	case "":
	case "steps":
		// Observe nothing after the steps: they waited for what matters.
		sc.Done = func(*Drill) bool { return true }
	default:
		region(1, "done_when", f.DoneWhen)
		want := f.DoneWhen
		sc.Done = func(d *Drill) bool { return d.converged(want) }
	}
	if len(f.Steps) == 0 {
		bad(1, "steps: give at least one step, e.g. - {at: 0s, do: lose-region, region: a}")
	}
	type timed struct {
		at time.Duration
		s  step
	}
	var plan []timed
	for i, s := range f.Steps {
		line := s.line
		if line == 0 {
			line = 1
		}
		if _, ok := actions[s.Do]; !ok {
			bad(line, "step %d: do %q is unknown: use one of %s", i+1, s.Do, strings.Join(mapKeys(actions), ", "))
			continue
		}
		at := dur(line, "at", s.At, 0)
		switch s.Do {
		case "lose-region", "restore-region", "stall-region", "resume-region", "crash-primary", "wait-converged", "skew-clock", "crash-promoter":
			region(line, "step "+fmt.Sprint(i+1)+": region", s.Region)
		}
		if s.Do == "skew-clock" {
			if by, err := time.ParseDuration(s.By); err != nil || by == 0 || by.Abs() > time.Hour {
				bad(line, "step %d: skew-clock by %q: give a non-zero duration within an hour, e.g. 30s or -30s", i+1, s.By)
			}
		}
		if s.Do == "crash-promoter" && s.When != "before-call" && s.When != "after-call" {
			bad(line, "step %d: crash-promoter when %q: give before-call or after-call", i+1, s.When)
		}
		if s.Reply != "" && (s.Do != "fail-api" || s.Service != "dynamodb" || s.Reply != "lost") {
			bad(line, "step %d: reply %q: only fail-api of dynamodb takes reply: lost", i+1, s.Reply)
		}
		if s.Undemoted && s.Do != "restore-region" && s.Do != "resume-region" {
			bad(line, "step %d: undemoted applies to restore-region and resume-region only", i+1)
		}
		switch s.Do {
		case "switchover":
			region(line, "step "+fmt.Sprint(i+1)+": to", s.To)
		case "slow-link":
			if dur(line, "delay", s.Delay, 0) == 0 {
				bad(line, "step %d: slow-link needs delay, e.g. delay: 60s", i+1)
			}
		case "wait":
			if dur(line, "for", s.For, 0) == 0 {
				bad(line, "step %d: wait needs for, e.g. for: 2m", i+1)
			}
		case "partition", "heal":
			kind, err := partitionOf(s.Between)
			if err != nil {
				bad(line, "step %d: %v", i+1, err)
			}
			sc.CutsApps = sc.CutsApps || kind == "app→redis"
		case "fail-api":
			if s.Service != "elasticache" && s.Service != "dynamodb" {
				bad(line, "step %d: service %q: give elasticache or dynamodb", i+1, s.Service)
			}
			if s.Count < 1 || s.Count > 1000 {
				bad(line, "step %d: count %d: give 1 to 1000 calls", i+1, s.Count)
			}
			switch {
			case s.Error == "", s.Error == "throttled", s.Error == "unavailable":
			case s.Error == "invalid-state" && s.Service == "elasticache":
			default:
				bad(line, "step %d: error %q: give throttled, unavailable or (elasticache) invalid-state", i+1, s.Error)
			}
			if s.Reply != "" && s.Error != "" {
				bad(line, "step %d: reply: lost and error: give one", i+1)
			}
		}
		plan = append(plan, timed{at, s})
	}
	if err := errors.Join(errs...); err != nil {
		return Scenario{}, err
	}
	sc.Inject = func(ctx context.Context, d *Drill) error {
		for _, p := range plan {
			if err := d.clock.SleepUntil(ctx, d.t0().Add(p.at)); err != nil {
				return err
			}
			if err := d.do(ctx, p.s); err != nil {
				return fmt.Errorf("%s:%d: %s: %w", name, p.s.line, p.s.Do, err)
			}
		}
		return nil
	}
	return sc, nil
}

// mapKeys are m's keys, sorted.
func mapKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// partitionOf names the path a partition between two parts cuts.
func partitionOf(between []string) (string, error) {
	if len(between) == 1 && between[0] == "replication" {
		return "replication", nil
	}
	if len(between) != 2 {
		return "", fmt.Errorf("between %v: give two parts (or [replication])", between)
	}
	pair := slices.Sorted(slices.Values(between))
	switch {
	case pair[0] == "cloudwatch-a" && pair[1] == "promoter-b", pair[0] == "cloudwatch-b" && pair[1] == "promoter-a":
		return "promoter→cloudwatch", nil
	case pair[0] == "checker-a" && pair[1] == "redis-a", pair[0] == "checker-b" && pair[1] == "redis-b":
		return "checker→redis", nil
	case strings.HasPrefix(pair[0], "app-") && strings.HasPrefix(pair[1], "redis-") && validRegion(pair[0][4:]) && validRegion(pair[1][6:]):
		return "app→redis", nil
	}
	return "", fmt.Errorf("between %v: the parts that can be partitioned are [promoter-b, cloudwatch-a] (or a/b swapped), [checker-a, redis-a] (or b), [app-a, redis-b] (any of a/b), and [replication]", between)
}

// do carries out one step.
func (d *Drill) do(ctx context.Context, s step) error {
	d.tl.Mark(strings.TrimSpace(s.Do+" "+s.Region+s.To+" "+strings.Join(s.Between, "/")), d.clock.Now())
	switch s.Do {
	case "lose-region":
		d.loseRegion(s.Region)
	case "restore-region":
		return d.restoreRegion(ctx, s.Region, !s.Undemoted)
	case "stall-region":
		return d.topo.StallRegion(s.Region)
	case "resume-region":
		return d.topo.ResumeRegion(ctx, s.Region, !s.Undemoted)
	case "crash-primary":
		d.topo.CrashPrimary(s.Region)
	case "break-link":
		return d.topo.BreakLink()
	case "heal-link":
		return d.topo.HealLink()
	case "slow-link":
		delay, _ := time.ParseDuration(s.Delay)
		return d.topo.SlowLink(d.clock.Wall(delay))
	case "partition", "heal":
		which, _ := partitionOf(s.Between)
		cut := s.Do == "partition"
		switch which {
		case "replication":
			if cut {
				return d.topo.BreakLink()
			}
			return d.topo.HealLink()
		case "promoter→cloudwatch":
			p := d.promoters["a"]
			if slices.Contains(s.Between, "promoter-b") {
				p = d.promoters["b"]
			}
			if cut {
				return p.cwPath.Cut()
			}
			if p.routed {
				return p.cwPath.Heal()
			}
			return nil
		case "checker→redis":
			r := "a"
			if slices.Contains(s.Between, "checker-b") {
				r = "b"
			}
			if cut {
				return d.topo.PartitionObservers(r)
			}
			return d.topo.HealObservers(r)
		case "app→redis":
			pair := slices.Sorted(slices.Values(s.Between))
			d.appPaths.set(pair[0][4:], pair[1][6:], cut)
		}
	case "fail-api":
		switch s.Service {
		case "elasticache":
			call := s.Call
			if call == "" {
				call = "FailoverGlobalReplicationGroup"
			}
			f := eclocal.Throttled
			switch s.Error {
			case "unavailable":
				f = eclocal.Unavailable
			case "invalid-state":
				f = eclocal.InvalidState
			}
			for range s.Count {
				d.ds.ec.FailNext(call, f)
			}
		case "dynamodb":
			f := ddblocal.Throttled
			if s.Error == "unavailable" {
				f = ddblocal.Unavailable
			}
			if s.Reply == "lost" {
				f = ddblocal.ReplyLost
			}
			for range s.Count {
				d.ddb.FailNext(f)
			}
		}
	case "skew-clock":
		by, _ := time.ParseDuration(s.By)
		w := d.clock.Wall(by.Abs())
		if by < 0 {
			w = -w
		}
		d.promoters[s.Region].skew.Store(int64(w))
	case "crash-promoter":
		d.promoters[s.Region].ec.plant(s.When)
	case "switchover":
		if err := d.switchover(ctx, s.To); err != nil {
			return err
		}
	case "wait-converged":
		for !d.converged(s.Region) {
			if err := d.clock.Sleep(ctx, d.loopInterval()); err != nil {
				return err
			}
		}
	case "wait":
		w, _ := time.ParseDuration(s.For)
		return d.clock.Sleep(ctx, w)
	}
	return nil
}

// builtinScenarios reads the embedded scenario files; a broken one is a
// build-time mistake the tests catch.
func builtinScenarios() map[string]Scenario {
	out := map[string]Scenario{}
	entries, err := fs.ReadDir(builtin, "scenarios")
	if err != nil {
		panic(err)
	}
	for _, e := range entries {
		b, err := builtin.ReadFile(path.Join("scenarios", e.Name()))
		if err != nil {
			panic(err)
		}
		sc, err := parseScenario(e.Name(), b)
		if err != nil {
			panic(err)
		}
		out[sc.Name] = sc
	}
	return out
}

func validRegion(r string) bool { return r == "a" || r == "b" }
