package drill

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/redisha/redisha/internal/engine"
	"github.com/redisha/redisha/internal/fence"
	"github.com/redisha/redisha/internal/promoter"
	"github.com/redisha/redisha/internal/sim/alarmeval"
)

// Report is what a drill measured. Times are seconds at real scale since
// the fault; a nil time means the step never happened.
type Report struct {
	Scenario string  `json:"scenario"`
	Title    string  `json:"title"`
	Speed    float64 `json:"speed"`
	// Expect is what must happen, Passed whether it did, Problems why not.
	Expect   string   `json:"expect"`
	Passed   bool     `json:"passed"`
	Problems []string `json:"problems,omitempty"`

	Detection *float64 `json:"detection_s"`
	// DetectedBy says what detection is: the writable alarm, or Route 53's
	// checkers on the writable endpoint.
	DetectedBy string   `json:"detected_by,omitempty"`
	Decision   *float64 `json:"decision_s"`
	Promotion  *float64 `json:"promotion_s"`
	DNS        *float64 `json:"dns_converged_s"`
	// Promotions are the cross-region failovers that completed.
	Promotions []PromotionReport `json:"promotions"`
	// InRegionFailovers counts ElastiCache's Multi-AZ failovers.
	InRegionFailovers int `json:"in_region_failovers"`
	// FalsePromotions counts cross-region promotions the scenario forbids.
	FalsePromotions int         `json:"false_promotions"`
	Apps            []AppReport `json:"apps"`
	// LastRefusal is each promoter's last refusal after the fault.
	LastRefusal map[string][]string `json:"last_refusal,omitempty"`
	Predicted   Predicted           `json:"predicted"`
	Marks       []Mark              `json:"marks"`
	Picture     string              `json:"picture,omitempty"`
	// Dashboard is the picture of region b's deployed dashboard at the end.
	Dashboard string `json:"dashboard_picture,omitempty"`
	// Mode says who promotes, as deployed: the promoter (auto), the on-call
	// after the page (advise) or nobody (off).
	Mode string `json:"mode"`
	// Sources are the rehearsed settings and the template resource each
	// came from.
	Sources []string `json:"sources"`
	// DNSEnd is the region redis.internal answered at the end, and Writer
	// the region whose endpoint took writes then.
	DNSEnd string `json:"dns_end"`
	Writer string `json:"writer_end"`
	// OldPrimaryInDNS is how long redis.internal answered a region whose
	// node still took writes while the datastore's primary was the other
	// region (an old primary back undemoted, unfenced). Always a problem.
	OldPrimaryInDNS float64 `json:"old_primary_in_dns_s"`
	// ReadOnlyInDNS is how long redis.internal answered a region whose node
	// was a replica while the other region's took writes: new clients could
	// only read although a writer existed (a planned switchover's window,
	// Route 53 following the alarms).
	ReadOnlyInDNS float64 `json:"read_only_in_dns_s"`
}

// PromotionReport is one completed cross-region failover.
type PromotionReport struct {
	To         string  `json:"to"`
	Planned    bool    `json:"planned"`
	Requested  float64 `json:"requested_s"`
	Completed  float64 `json:"completed_s"`
	FalseAlarm bool    `json:"false"`
}

// AppReport is one region's application as it saw the drill.
type AppReport struct {
	Region string `json:"region"`
	// App is its language: go for the drill's own applications, or a
	// Program's name (python, node).
	App    string `json:"app"`
	Writes int    `json:"writes"`
	Acked  int    `json:"acked"`
	// Lost counts acknowledged writes missing from the final primary (RPO);
	// -1 when the final primary did not answer (its region is lost).
	Lost int `json:"lost"`
	// WriteUnavailable is the longest stretch without a successful write
	// after the fault (for an application whose client retries inside a
	// write, the longest time between two acknowledged writes); ReadOnly and
	// Disconnected split the failed time by the error seen (READONLY, or no
	// connection/timeout).
	WriteUnavailable float64 `json:"write_unavailable_s"`
	ReadOnly         float64 `json:"read_only_s"`
	Disconnected     float64 `json:"disconnected_s"`
	// Errors counts the failed writes after the fault by class.
	Errors map[string]int `json:"errors,omitempty"`
	// WritingAtEnd: the application's last writes succeeded.
	WritingAtEnd bool `json:"writing_at_end"`
}

// Predicted is what the configured knobs give on paper (the timeline
// calculator of docs/drill.md), for comparison with what was measured.
// Times are seconds after the fault.
type Predicted struct {
	// DetectFailing: checks publish 0 from the next loop on; the period
	// holding the first 0 breaches, and N periods must: (N−1)·P … N·P + I.
	DetectFailingMin float64 `json:"detect_failing_min_s"`
	DetectFailingMax float64 `json:"detect_failing_max_s"`
	// DetectSilent: nothing is published; with missing data breaching the
	// last real datapoints keep the alarm OK until they leave the
	// evaluation range R: (R−1)·P … R·P + I (with FILL(m, 0): as failing).
	DetectSilentMin float64 `json:"detect_silent_min_s"`
	DetectSilentMax float64 `json:"detect_silent_max_s"`
	// Promote: the stall bound plus up to one loop, the on-call's reaction
	// (a silent region: in auto too), then the failover delay. A region
	// whose CloudWatch still answers is promoted in auto without the
	// on-call.
	PromoteMin float64 `json:"promote_min_s"`
	PromoteMax float64 `json:"promote_max_s"`
	// TTL: resolvers may keep the old answer this long after DNS moves.
	TTL float64 `json:"ttl_s"`
	// With endpoint checks (docs/failover.md, "The fast design"), the rest
	// is the timeline of a region lost or stalled, in auto (advise adds
	// the on-call's reaction to every step from the decision on):
	// DetectEndpoint: Route 53's checkers find the writable endpoint
	// failing: (k−1)·H … k·H + 4 s (the connect timeout of a dead region).
	DetectEndpointMin float64 `json:"detect_endpoint_min_s,omitempty"`
	DetectEndpointMax float64 `json:"detect_endpoint_max_s,omitempty"`
	// Decide: the heartbeat seen stalled for S at a run: the newest one
	// arrived up to a loop before the fault (and its run's phase adds up to
	// one more): ⌈S/I⌉·I − I … ⌈S/I⌉·I + I.
	DecideMin float64 `json:"decide_min_s,omitempty"`
	DecideMax float64 `json:"decide_max_s,omitempty"`
	// WritesAgain: the decision, the failover F, one poll, the promoted
	// region's check turning healthy (more than 18% of the checkers, each
	// after k passes: (k−1)·H … (k−1)·H + H/4 with eight checkers), and the
	// TTL.
	WritesAgainMin float64 `json:"writes_again_min_s,omitempty"`
	WritesAgainMax float64 `json:"writes_again_max_s,omitempty"`
}

func (d *Drill) predicted() Predicted { return Predict(d.cfg) }

// Predict is what the deployment's knobs give on paper for a region lost
// or failing (the timeline calculator of docs/drill.md), before any run.
func Predict(cfg Config) Predicted {
	cfg = cfg.withDefaults()
	dep := cfg.Deployment
	a := dep.Regions[0].Writable
	p, i := a.Period.Seconds(), dep.Loop.Interval.Seconds()
	n := float64(a.EvaluationPeriods)
	r := float64(alarmOf(a).WithDefaults().EvaluationRange)
	stall := dep.Regions[1].Promoter.Bounds.StallAfter.Seconds()
	// A silent region's last write cannot be read, so its possible loss is
	// unbounded: the on-call accepts it in auto as in advise.
	operator := 0.0
	if m := dep.Regions[1].Promoter.Mode; m == promoter.ModeAdvise || m == promoter.ModeAuto {
		operator = cfg.OperatorReaction.Seconds()
	}
	pr := Predicted{
		DetectFailingMin: (n - 1) * p, DetectFailingMax: n*p + i,
		DetectSilentMin: (r - 1) * p, DetectSilentMax: r*p + i,
		PromoteMin: stall + operator + cfg.FailoverDelay.Seconds(),
		PromoteMax: stall + 2*i + operator + cfg.FailoverDelay.Seconds(),
		TTL:        dep.DNS.Records[1].TTL.Seconds(),
	}
	if e := dep.DNS.Records[0].HealthCheck.Endpoint; e != nil {
		h, k := e.RequestInterval.Seconds(), float64(e.FailureThreshold)
		pr.DetectEndpointMin, pr.DetectEndpointMax = (k-1)*h, k*h+4
		// The witness dates the end of a silent region: in auto no person
		// is needed; in advise the on-call's reaction follows the page.
		operator = 0
		if dep.Regions[1].Promoter.Mode == promoter.ModeAdvise {
			operator = cfg.OperatorReaction.Seconds()
		}
		runs := math.Ceil(stall/i) * i
		pr.DecideMin, pr.DecideMax = runs-i+operator, runs+i+operator
		poll := dep.Regions[1].Promoter.PollInterval.Seconds()
		pr.PromoteMin, pr.PromoteMax = pr.DecideMin+cfg.FailoverDelay.Seconds(), pr.DecideMax+cfg.FailoverDelay.Seconds()+poll
		pr.WritesAgainMin = pr.PromoteMin + (k-1)*h
		pr.WritesAgainMax = pr.PromoteMax + (k-1)*h + h/4 + pr.TTL
	}
	return pr
}

// mode says who promotes in the rehearsed deployment.
func (d *Drill) mode() string {
	switch m := d.region("b").Promoter.Mode; m {
	case promoter.ModeAuto:
		return "auto: the promoter promotes when every guard holds"
	case promoter.ModeAdvise:
		return fmt.Sprintf("advise: the promoter pages, the on-call runs the advised `redisha failover --apply` %s after the page", fmtDur(d.cfg.OperatorReaction.Seconds()))
	default:
		return string(m) + ": nobody promotes"
	}
}

// sources lists the settings the rehearsal took from the deployment and
// where each came from.
func (d *Drill) sources() []string {
	dep := d.cfg.Deployment
	from := func(key string) string {
		if s := dep.Source[key]; s != "" {
			return " (" + s + ")"
		}
		return " (model)"
	}
	var out []string
	for _, r := range dep.Regions {
		c, p := r.Checker, r.Promoter
		out = append(out,
			fmt.Sprintf("%s checker: EXPECT_ROLE=%s, HEARTBEAT=%v%s, CHECK_TIMEOUT=%s, METRICS_MODE=%s, %s%s", r.Name, c.Check.ExpectRole, c.Check.Heartbeat,
				signed(r.SignedHeartbeats), c.Check.Timeout, c.MetricsMode, fenced(c.Fence.Unknown), from(r.Name+" checker")),
			fmt.Sprintf("%s promoter: mode %s, stall %s, max data loss %s, cooldown %s%s", r.Name, p.Mode, p.Bounds.StallAfter,
				p.Bounds.MaxDataLoss, p.Bounds.Cooldown, from(r.Name+" promoter")),
			fmt.Sprintf("%s writable alarm: %s%s", r.Name, r.Writable.Summary(), from("alarm "+r.Writable.Name)))
	}
	for _, rec := range dep.DNS.Records {
		if e := rec.HealthCheck.Endpoint; e != nil {
			out = append(out, fmt.Sprintf("%s record → %s, TTL %s, %s%s", rec.Failover, rec.Region, rec.TTL, endpointSummary(e),
				from("record "+rec.Failover)))
			continue
		}
		if rec.HealthCheck.Alarm.Name == "" {
			out = append(out, fmt.Sprintf("%s record → %s, TTL %s, no health check (always healthy)%s", rec.Failover, rec.Region,
				rec.TTL, from("record "+rec.Failover)))
			continue
		}
		out = append(out, fmt.Sprintf("%s record → %s, TTL %s, health check on %s, insufficient data %s%s", rec.Failover, rec.Region,
			rec.TTL, rec.HealthCheck.Alarm.Name, rec.HealthCheck.InsufficientDataHealthStatus, from("record "+rec.Failover)))
	}
	for _, w := range dep.DNS.Witnesses {
		if w.Name != "" {
			out = append(out, fmt.Sprintf("witness %s: TXT writable / not-writable on %s's check, read by the other region's promoter%s",
				w.Name, w.Region, from("witness "+w.Region)))
		}
	}
	for _, r := range dep.Regions {
		if r.WritableEndpoint != nil {
			out = append(out, fmt.Sprintf("%s writable endpoint: the checker binary, CHECKER_SERVE=%s, behind its function URL%s",
				r.Name, r.WritableEndpoint.Serve, from(r.Name+" writable endpoint")))
		}
	}
	out = append(out, fmt.Sprintf("loop: a check every %s%s", dep.Loop.Interval, from("loop")))
	if e := dep.Settings.Engine; e != "" {
		line := fmt.Sprintf("engine: %s %s (model), rehearsed on this machine's redis-server", e, dep.Settings.Members().EngineVersion)
		if e == engine.Valkey {
			// No valkey-server here: the stand-in speaks the same protocol,
			// and docs/valkey.md lists what Valkey answers differently.
			line += ", standing in for Valkey (docs/valkey.md: the differences, and how each is handled)"
		}
		out = append(out, line)
	}
	if m := dep.Settings.Members(); m.ClusterMode {
		// No cluster-mode redis-server can replicate from another cluster:
		// each node is a front (internal/sim/clusterfront) on a standalone
		// redis-server, whose shard replicates across regions by REPLICAOF.
		out = append(out, fmt.Sprintf("cluster mode: %d shards a member, %d replica(s) a shard (model), rehearsed with 1 replica a shard, "+
			"each node a cluster front on a standalone redis-server (internal/sim/clusterfront)", m.Shards, dep.Settings.Replicas))
	}
	return out
}

func secs(d time.Duration) *float64 { s := d.Seconds(); return &s }

func (d *Drill) report(ctx context.Context, sc Scenario, end time.Time) *Report {
	t0 := d.fault
	rep := &Report{Scenario: sc.Name, Title: sc.Title, Speed: d.cfg.Speed, Expect: sc.Expect(), Predicted: d.predicted(),
		LastRefusal: map[string][]string{}, Mode: d.mode(), Sources: d.sources()}
	if e := d.endpoints[sc.region()]; e != nil {
		// Detection is Route 53's: its checkers find the region's
		// writable endpoint failing (the witness turns "not-writable").
		rep.DetectedBy = "Route 53's checkers find the primary region's writable endpoint failing"
		for _, c := range e.check.Changes() {
			if at := d.clock.At(c.At); !c.Healthy && !at.Before(t0) {
				rep.Detection = secs(at.Sub(t0))
				break
			}
		}
	} else {
		for _, tr := range d.alarms.History(d.writableAlarm(sc.region())) {
			if tr.To == alarmeval.StateAlarm && !tr.At.Before(t0) {
				rep.Detection = secs(tr.At.Sub(t0))
				break
			}
		}
	}
	d.mu.Lock()
	promoted := map[string]bool{}
	for _, dec := range d.decisions {
		if dec.AtS < 0 || promoted[dec.Region] {
			continue
		}
		promoted[dec.Region] = dec.Promote
		if dec.Promote && rep.Decision == nil {
			rep.Decision = &dec.AtS
		}
		// A refusal while the region's member was still SECONDARY says
		// why it did not promote; later ones only say it is PRIMARY.
		if len(dec.Refused) > 0 && !strings.Contains(strings.Join(dec.Refused, " "), "already PRIMARY") {
			rep.LastRefusal[dec.Region] = dec.Refused
		}
	}
	d.mu.Unlock()
	for _, f := range d.ds.Failovers() {
		pr := PromotionReport{To: f.To, Planned: f.Planned, Requested: f.Requested.Sub(t0).Seconds(), Completed: f.Completed.Sub(t0).Seconds()}
		if !f.Planned && !sc.ExpectPromotion {
			pr.FalseAlarm = true
			rep.FalsePromotions++
		}
		rep.Promotions = append(rep.Promotions, pr)
		if rep.Promotion == nil {
			rep.Promotion = &pr.Completed
		}
	}
	for _, ch := range d.dns.Changes() {
		at := d.clock.At(ch.At)
		if at.After(t0) && rep.DNS == nil {
			rep.DNS = secs(at.Sub(t0))
		}
	}
	_, _, marks := d.tl.close(t0, end)
	for _, m := range marks {
		if strings.HasPrefix(m.Label, "endpoint ") {
			rep.InRegionFailovers++
		}
	}
	rep.Marks = marks
	final := d.dataClient(d.topo.PrimaryRegion())
	for _, a := range d.apps {
		rep.Apps = append(rep.Apps, appReport(ctx, a, t0, final))
	}
	_ = final.Close()
	_, rec := d.dns.Choose()
	rep.DNSEnd, rep.Writer = regionOfEndpoint(rec.Target), d.writer(ctx)
	d.mu.Lock()
	rep.OldPrimaryInDNS = d.fenceBreach.total.Seconds()
	rep.ReadOnlyInDNS = d.readOnlyDNS.total.Seconds()
	d.mu.Unlock()
	rep.Problems = sc.check(rep)
	rep.Passed = len(rep.Problems) == 0
	return rep
}

func appReport(ctx context.Context, a *app, t0 time.Time, final redis.Cmdable) AppReport {
	ops, acked := a.snapshot()
	r := appReportOps(a.region, ops, acked, t0)
	r.App = a.lang
	if a.retries {
		r.WriteUnavailable = max(r.WriteUnavailable, longestAckGap(ops, t0))
	}
	r.Lost = countMissing(ctx, final, a.keys, acked)
	return r
}

// appReportOps measures an application's writes after t0 (Lost is left
// to the caller).
func appReportOps(region string, ops []op, acked []uint64, t0 time.Time) AppReport {
	r := AppReport{Region: region, Writes: len(ops), Acked: len(acked), Errors: map[string]int{}}
	var runStart time.Time
	for i, o := range ops {
		if o.at.Before(t0) {
			continue
		}
		if !o.ok && runStart.IsZero() {
			runStart = o.at
		}
		if !o.ok {
			r.Errors[o.class]++
		}
		if o.ok && !runStart.IsZero() {
			r.WriteUnavailable = max(r.WriteUnavailable, o.at.Sub(runStart).Seconds())
			runStart = time.Time{}
		}
		if !o.ok && i+1 < len(ops) {
			gap := ops[i+1].at.Sub(o.at).Seconds()
			if o.class == "readonly" {
				r.ReadOnly += gap
			} else {
				r.Disconnected += gap
			}
		}
	}
	if !runStart.IsZero() && len(ops) > 0 {
		r.WriteUnavailable = max(r.WriteUnavailable, ops[len(ops)-1].at.Sub(runStart).Seconds())
	}
	r.WritingAtEnd = len(ops) > 0 && ops[len(ops)-1].ok
	return r
}

// longestAckGap is the longest time after t0 without an acknowledged
// write: from t0 or an acknowledged write to the next one, or to the last
// write when none followed.
func longestAckGap(ops []op, t0 time.Time) float64 {
	var longest float64
	from := t0
	for _, o := range ops {
		if o.at.Before(t0) || !o.ok {
			continue
		}
		longest = max(longest, o.at.Sub(from).Seconds())
		from = o.at
	}
	if n := len(ops); n > 0 && !ops[n-1].ok {
		longest = max(longest, ops[n-1].at.Sub(from).Seconds())
	}
	return longest
}

// Name is how the report names the application: its region, and its
// language when it is not one of the drill's own Go applications.
func (a AppReport) Name() string {
	if a.App == "" || a.App == "go" {
		return a.Region
	}
	return a.Region + " " + a.App
}

// countMissing counts the acknowledged keys absent on c (the final
// primary); -1 when it does not answer.
func countMissing(ctx context.Context, c redis.Cmdable, keys string, acked []uint64) int {
	missing := 0
	for i := 0; i < len(acked); i += 500 {
		j := min(i+500, len(acked))
		names := make([]string, 0, j-i)
		for _, s := range acked[i:j] {
			names = append(names, appKey(keys, s))
		}
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		pipe := c.Pipeline()
		cmds := make([]interface{ Val() int64 }, len(names))
		for k, key := range names {
			cmds[k] = pipe.Exists(cctx, key)
		}
		_, err := pipe.Exec(cctx)
		cancel()
		if err != nil {
			return -1 // unknown: the final primary did not answer
		}
		for _, cmd := range cmds {
			if cmd.Val() == 0 {
				missing++
			}
		}
	}
	return missing
}

func fmtS(p *float64, speed float64) (real, wall string) {
	if p == nil {
		return "never", "—"
	}
	return fmtDur(*p), fmtDur(*p / speed)
}

func fmtDur(s float64) string {
	d := time.Duration(s * float64(time.Second))
	if d > 10*time.Second || d < -10*time.Second {
		d = d.Round(time.Second)
	} else {
		d = d.Round(10 * time.Millisecond)
	}
	return d.String()
}

// WriteTable prints the report for people.
func (r *Report) WriteTable(w io.Writer) {
	verdict := "PASS"
	if !r.Passed {
		verdict = "FAIL: " + strings.Join(r.Problems, "; ")
	}
	fmt.Fprintf(w, "\n%s — %s\npromotion: %s\nexpect: %s\nresult: %s\n\n", r.Scenario, r.Title, r.Mode, r.Expect, verdict)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "step (since the fault)\treal scale\tmeasured at %g×\n", r.Speed)
	for _, row := range []struct {
		name string
		v    *float64
	}{{"detection (" + r.detectedBy() + ")", r.Detection}, {"decision (a promoter decides, or the drill requests, the promotion)", r.Decision},
		{"promotion (secondary takes writes)", r.Promotion}, {"DNS converged (redis.internal answer changed)", r.DNS}} {
		real, wall := fmtS(row.v, r.Speed)
		fmt.Fprintf(tw, "%s\t%s\t%s\n", row.name, real, wall)
	}
	tw.Flush()
	fmt.Fprintf(w, "\ncross-region promotions: %d (false: %d), in-region failovers: %d\n", len(r.Promotions), r.FalsePromotions, r.InRegionFailovers)
	fmt.Fprintf(w, "redis.internal on an old primary: %s; on a read-only endpoint while the other region took writes: %s\n",
		fmtDur(r.OldPrimaryInDNS), fmtDur(r.ReadOnlyInDNS))
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\napp\twrites\tacked\tlost (RPO)\tno writes for\tread-only\tdisconnected")
	for _, a := range r.Apps {
		lost := fmt.Sprint(a.Lost)
		if a.Lost < 0 {
			lost = "unknown (primary region lost)"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t%s\n", a.Name(), a.Writes, a.Acked, lost,
			fmtDur(a.WriteUnavailable), fmtDur(a.ReadOnly), fmtDur(a.Disconnected))
	}
	tw.Flush()
	switch p := r.Predicted; {
	case p.DecideMax > 0:
		fmt.Fprintf(w, "\nthe knobs predict (region lost or stalled): detection %s–%s (Route 53's checkers), decision %s–%s, promotion %s–%s, "+
			"applications write again %s–%s after the fault\n", fmtDur(p.DetectEndpointMin), fmtDur(p.DetectEndpointMax),
			fmtDur(p.DecideMin), fmtDur(p.DecideMax), fmtDur(p.PromoteMin), fmtDur(p.PromoteMax), fmtDur(p.WritesAgainMin), fmtDur(p.WritesAgainMax))
	case p != (Predicted{}):
		fmt.Fprintf(w, "\nthe knobs predict: detection %s–%s (checks failing) or %s–%s (region silent); promotion %s–%s after the fault (region silent: the on-call accepts the loss)\n",
			fmtDur(p.DetectFailingMin), fmtDur(p.DetectFailingMax), fmtDur(p.DetectSilentMin), fmtDur(p.DetectSilentMax),
			fmtDur(p.PromoteMin), fmtDur(p.PromoteMax))
	}
	for region, why := range r.LastRefusal {
		fmt.Fprintf(w, "promoter %s, last refusal (before any promotion of its own): %s\n", region, strings.Join(why, "; "))
	}
	fmt.Fprintf(w, "at the end redis.internal answered region %s; the writer was region %s\n", r.DNSEnd, orNone(r.Writer))
	fmt.Fprintln(w, "\nrehearsed as deployed:")
	for _, s := range r.Sources {
		fmt.Fprintln(w, "  "+s)
	}
	if r.Picture != "" {
		fmt.Fprintf(w, "timeline picture: %s\n", r.Picture)
	}
	if r.Dashboard != "" {
		fmt.Fprintf(w, "dashboard picture: %s\n", r.Dashboard)
	}
}

// WriteJSON prints the report as one JSON document.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// dataClient reads the data of a region's group: its primary node, or a
// cluster client of its shards. The caller closes it.
func (d *Drill) dataClient(region string) redis.UniversalClient {
	if d.topo.Sharded() {
		return redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{d.topo.Region(region).ConfigEndpoint.Addr},
			Protocol: 2, DisableIdentity: true, DialTimeout: time.Second, ReadTimeout: 5 * time.Second,
			MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}})
	}
	return adminClient(d.topo.Primary(region).Addr)
}

// writer is the region whose primary endpoint takes writes now ("" when
// none does): what redis.internal must answer.
func (d *Drill) writer(ctx context.Context) string {
	// The datastore's primary first: an old primary back undemoted also
	// answers as master, but it is not the writer.
	primary := d.topo.PrimaryRegion()
	for _, r := range []string{primary, other(primary)} {
		if d.topo.takesWrites(ctx, r) {
			return r
		}
	}
	return ""
}

func signed(on bool) string {
	if on {
		return " (signed)"
	}
	return ""
}

// fenced names the checker's fence as deployed: its policy on an unknown
// primary, or none.
func fenced(unknown fence.Unknown) string {
	if unknown == "" {
		return "no fence"
	}
	return "fence FENCE_UNKNOWN=" + string(unknown)
}

// detectedBy names what detection means in this report.
func (r *Report) detectedBy() string {
	if r.DetectedBy != "" {
		return r.DetectedBy
	}
	return "primary region's writable alarm in ALARM"
}
