package drill

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Scenario is one failure to rehearse and what must happen.
type Scenario struct {
	// Name is the --scenario value.
	Name  string
	Title string
	// Explain says what is on screen, for `make drill`.
	Explain string
	// Region is the region that fails. default: a
	Region string
	// ExpectPromotion: exactly one automatic cross-region promotion must
	// happen; otherwise none may.
	ExpectPromotion bool
	// ExpectInRegion: an in-region (Multi-AZ) failover must happen.
	ExpectInRegion bool
	// ExpectPlanned is the number of planned failovers (switchovers).
	ExpectPlanned int
	// ExpectRefusal names the promoter guard that must refuse (e.g.
	// "data-loss"), in the surviving region's promoter.
	ExpectRefusal string
	// NoLoss: no acknowledged write may be lost.
	NoLoss bool
	// MaxLost bounds the acknowledged writes lost (nil: not checked; NoLoss
	// is MaxLost 0).
	MaxLost *int
	// MaxWriteOutage bounds every application's longest stretch without a
	// write after the fault (0: not checked).
	MaxWriteOutage time.Duration
	// MaxReadOnlyDNS bounds how long redis.internal may answer a read-only
	// endpoint while the other region takes writes (nil: not checked).
	MaxReadOnlyDNS *time.Duration
	// WritesAgain: by the end every application writes again, and
	// redis.internal answers the region that takes writes. A promotion no
	// application can reach is no failover.
	WritesAgain bool
	// CutsApps: the scenario cuts applications' network paths, which only
	// the Go applications' dialer can do (the Programs are not run).
	CutsApps bool
	// Observe bounds the time after the fault.
	Observe time.Duration
	// Inject causes the failure.
	Inject func(ctx context.Context, d *Drill) error
	// Done ends the observation early.
	Done func(d *Drill) bool
	// Config adjusts the configuration.
	Config func(*Config)
}

func (s Scenario) region() string {
	if s.Region == "" {
		return "a"
	}
	return s.Region
}

// Expect says in words what must happen.
func (s Scenario) Expect() string {
	var parts []string
	switch {
	case s.ExpectPromotion:
		parts = append(parts, "exactly one cross-region promotion")
	case s.ExpectPlanned > 0:
		parts = append(parts, fmt.Sprintf("%d planned failover(s), no automatic promotion", s.ExpectPlanned))
	default:
		parts = append(parts, "no cross-region promotion")
	}
	if s.ExpectInRegion {
		parts = append(parts, "an in-region failover")
	}
	if s.ExpectRefusal != "" {
		parts = append(parts, "the promoter refuses on "+s.ExpectRefusal)
	}
	if s.WritesAgain {
		parts = append(parts, "every application writes again through redis.internal, which answers the writable region")
	}
	if s.NoLoss {
		parts = append(parts, "no acknowledged write lost")
	} else if s.MaxLost != nil {
		parts = append(parts, fmt.Sprintf("at most %d acknowledged writes lost", *s.MaxLost))
	}
	if s.MaxWriteOutage > 0 {
		parts = append(parts, "no application without writes for longer than "+s.MaxWriteOutage.String())
	}
	if s.MaxReadOnlyDNS != nil {
		parts = append(parts, "redis.internal on a read-only endpoint while a writer exists for at most "+s.MaxReadOnlyDNS.String())
	}
	return strings.Join(parts, ", ")
}

// check returns what went against the expectation.
func (s Scenario) check(r *Report) []string {
	var p []string
	auto, planned := 0, 0
	for _, pr := range r.Promotions {
		if pr.Planned {
			planned++
		} else {
			auto++
		}
	}
	switch {
	case s.ExpectPromotion && auto != 1:
		p = append(p, fmt.Sprintf("%d automatic promotions, want exactly 1", auto))
	case !s.ExpectPromotion && auto != 0:
		p = append(p, fmt.Sprintf("%d automatic promotions, want none", auto))
	}
	if planned != s.ExpectPlanned {
		p = append(p, fmt.Sprintf("%d planned failovers, want %d", planned, s.ExpectPlanned))
	}
	if r.OldPrimaryInDNS > 0 {
		p = append(p, fmt.Sprintf("for %s redis.internal answered an old primary that still took writes while the datastore's primary was the other region: "+
			"new clients wrote where nothing replicates (is its checker fenced? GLOBAL_DATASTORE_ID)", fmtDur(r.OldPrimaryInDNS)))
	}
	if s.MaxReadOnlyDNS != nil && r.ReadOnlyInDNS > s.MaxReadOnlyDNS.Seconds() {
		p = append(p, fmt.Sprintf("for %s redis.internal answered a read-only endpoint while the other region took writes, over the bound of %s",
			fmtDur(r.ReadOnlyInDNS), *s.MaxReadOnlyDNS))
	}
	if s.ExpectInRegion && r.InRegionFailovers == 0 {
		p = append(p, "no in-region failover")
	}
	if s.ExpectRefusal != "" {
		found := false
		for _, why := range r.LastRefusal {
			for _, w := range why {
				found = found || strings.HasPrefix(w, s.ExpectRefusal)
			}
		}
		if !found {
			p = append(p, "the promoter never refused on "+s.ExpectRefusal)
		}
	}
	if s.NoLoss {
		for _, a := range r.Apps {
			if a.Lost != 0 {
				p = append(p, fmt.Sprintf("app %s lost %d acknowledged writes", a.Name(), a.Lost))
			}
		}
	}
	if s.MaxLost != nil && !s.NoLoss {
		for _, a := range r.Apps {
			if a.Lost > *s.MaxLost {
				p = append(p, fmt.Sprintf("app %s lost %d acknowledged writes, over the bound of %d", a.Name(), a.Lost, *s.MaxLost))
			}
		}
	}
	if s.MaxWriteOutage > 0 {
		for _, a := range r.Apps {
			if a.WriteUnavailable > s.MaxWriteOutage.Seconds() {
				p = append(p, fmt.Sprintf("app %s could not write for %s, over the bound of %s", a.Name(), fmtDur(a.WriteUnavailable), s.MaxWriteOutage))
			}
		}
	}
	if s.WritesAgain {
		switch {
		case r.Writer == "":
			p = append(p, "no region takes writes at the end")
		case r.DNSEnd != r.Writer:
			p = append(p, fmt.Sprintf("redis.internal still answers region %s, but region %s is the writer: the promoted region never "+
				"reported writable to its failover record's health check (is its checker's role fixed to replica, or its writable alarm on another metric?)",
				r.DNSEnd, r.Writer))
		}
		for _, a := range r.Apps {
			if !a.WritingAtEnd {
				p = append(p, fmt.Sprintf("app %s does not write again (no writes for %s at the end)", a.Name(), fmtDur(a.WriteUnavailable)))
			}
		}
	}
	return p
}

func other(region string) string {
	if region == "a" {
		return "b"
	}
	return "a"
}

// loseRegion stops a region: its nodes, its checker (silent) and its
// promoter; its CloudWatch is unreachable from the other region.
func (d *Drill) loseRegion(region string) {
	d.mu.Lock()
	d.lost[region] = true
	d.silenced[region] = true
	d.darkAt[region] = d.clock.Now()
	d.mu.Unlock()
	d.topo.StopRegion(region)
	// The region's CloudWatch endpoint is gone, for the promoter and the
	// on-call alike: calls are refused at once.
	d.promoters[other(region)].cwPath.Down()
	d.promoters[other(region)].opPath.Down()
	if e := d.endpoints[region]; e != nil {
		// Its function URL goes with it: Route 53's checkers are refused.
		e.path.Down()
	}
}

// restoreRegion brings a lost region back, demoted as the current roles want
// it, or (demote false) with its primary still a master.
func (d *Drill) restoreRegion(ctx context.Context, region string, demote bool) error {
	if err := d.topo.RestoreRegion(ctx, region, demote); err != nil {
		return err
	}
	d.mu.Lock()
	d.lost[region] = false
	d.silenced[region] = false
	delete(d.darkAt, region)
	d.mu.Unlock()
	p := d.promoters[other(region)]
	if err := p.opPath.Up(); err != nil {
		return err
	}
	if e := d.endpoints[region]; e != nil {
		if err := e.path.Up(); err != nil {
			return err
		}
	}
	if p.routed {
		if err := p.cwPath.Up(); err != nil {
			return err
		}
	}
	d.tl.Mark("region "+region+" back", d.clock.Now())
	return nil
}

// converged: the datastore's primary region is want, DNS answers it and
// every application writes.
func (d *Drill) converged(want string) bool {
	if d.topo.PrimaryRegion() != want || d.ds.Status() != "available" {
		return false
	}
	if _, rec := d.dns.Choose(); regionOfEndpoint(rec.Target) != want {
		return false
	}
	for _, a := range d.apps {
		a.mu.Lock()
		s := a.state
		a.mu.Unlock()
		if s != appWriting {
			return false
		}
	}
	return true
}

// switchover is a planned move of the primary role to region, as `redisha
// switchover` does it: the targets catch up with the old primaries' streams,
// the datastore fails over (its stand-in holds the old primaries' writes
// only for the swap itself), and the applications follow the writer.
func (d *Drill) switchover(ctx context.Context, to string) error {
	from := d.topo.PrimaryRegion()
	for i := range d.topo.Region(from).Shards {
		if err := waitCaughtUp(ctx, d.topo.ShardPrimary(from, i).Addr, d.topo.ShardPrimary(to, i).Addr, 10*time.Second); err != nil {
			return err
		}
	}
	d.tl.Mark("switchover to "+to, d.clock.Now())
	if err := d.ds.Failover(ctx, to, true); err != nil {
		return err
	}
	for d.topo.PrimaryRegion() != to || d.ds.Status() != "available" {
		if err := d.clock.Sleep(ctx, time.Second); err != nil {
			return err
		}
	}
	return nil
}

// waitCaughtUp waits until the replica at addr has processed the primary's
// whole replication stream.
func waitCaughtUp(ctx context.Context, primary, replica string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	p, r := adminClient(primary), adminClient(replica)
	defer p.Close()
	defer r.Close()
	for {
		pi, err1 := p.Info(ctx, "replication").Result()
		ri, err2 := r.Info(ctx, "replication").Result()
		if err1 == nil && err2 == nil {
			po, ro := infoField(pi, "master_repl_offset"), infoField(ri, "master_repl_offset")
			if po != "" && po == ro {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the target did not catch up within %s", timeout)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func infoField(info, name string) string {
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+":"); ok {
			return v
		}
	}
	return ""
}

// Scenarios are the rehearsals, by name: the scenario files built in
// (scenarios/*.yaml).
var Scenarios = builtinScenarios()

// ScenarioNames lists the scenarios, the headline first.
func ScenarioNames() []string {
	names := make([]string, 0, len(Scenarios))
	for n := range Scenarios {
		if n != "region-lost" {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return append([]string{"region-lost"}, names...)
}
