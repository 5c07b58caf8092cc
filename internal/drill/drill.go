// Package drill is the failover rehearsal: two regions of a Global
// Datastore on loopback (real redis-servers), the health-checker Lambda
// binary in each region under a local Runtime API on the configured
// schedule, a local CloudWatch that receives its metrics on the real wire and
// evaluates the writable alarms as CloudWatch does, a Route 53 stand-in that
// answers redis.internal with failover routing from those alarms, the
// Global Datastore's failover and the guarded promoter, and applications in
// both regions writing sequence-numbered keys through redis.internal. A
// scenario injects one failure; the drill measures, as the applications see
// it, how long writes were unavailable, how many acknowledged writes were
// lost and when each step (detection, decision, promotion, DNS) happened,
// and draws the timeline.
//
// Time is scaled (Config.Speed): the schedule, alarm periods, TTLs and
// delays run Speed times faster, and results are reported at real scale.
package drill

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/redisha/redisha/internal/deployment"
	"github.com/redisha/redisha/internal/sim/alarmeval"
	"github.com/redisha/redisha/internal/sim/cwlocal"
	"github.com/redisha/redisha/internal/sim/ddblocal"
	"github.com/redisha/redisha/internal/sim/dnslocal"
	"github.com/redisha/redisha/internal/sim/timescale"
)

// Config shapes a drill. Durations are real-scale (scenario) time.
type Config struct {
	// Bootstrap is the checker Lambda binary built for this machine
	// (go build -tags lambda.norpc -o … ./lambda). Required.
	Bootstrap string
	// Deployment is what is rehearsed: read from the synthesized templates
	// (deployment.FromTemplates), so the checkers run with the deployed
	// environment, the alarms, health checks and records have the deployed
	// settings and the promoters the deployed mode and bounds, with only
	// addresses and the clock swapped. Required.
	Deployment deployment.Deployment
	// Speed: scenario seconds per wall second. default: 30
	Speed float64
	// Route53Lag is how long Route 53 takes to follow an alarm's data
	// stream (AWS does not document it). default: 0
	Route53Lag time.Duration
	// FailoverDelay is how long FailoverGlobalReplicationGroup keeps the
	// datastore modifying (AWS quotes about a minute). default: 60s
	FailoverDelay time.Duration
	// MultiAZDetect is how long a region's primary node must be down before
	// ElastiCache promotes the region's replica. default: 30s
	MultiAZDetect time.Duration
	// OperatorReaction is, in advise mode, how long the on-call takes from
	// the promoter's page to running the failover it advises. default: 5m
	OperatorReaction time.Duration
	// AcceptDataLoss is what that operator accepts (--accept-data-loss).
	// default: 0, none
	AcceptDataLoss time.Duration
	// WarmUp runs before the fault. default: 3 alarm periods
	WarmUp time.Duration
	// Status receives the live status line (nil: none).
	Status io.Writer
	// Logs receives the checkers' own logs and the drill's notes (nil: none).
	Logs io.Writer
	// Dashboard is region b's deployed dashboard (deployment.Dashboards):
	// the drill draws it beside the timeline picture, from its own
	// CloudWatch and promoter log. Empty: no dashboard picture.
	Dashboard []deployment.Widget
	// Programs are applications in other languages run as processes beside
	// the Go applications (the CLI runs examples/python and examples/node).
	// A scenario that cuts applications' paths runs without them.
	Programs []Program
}

// def sets *d to v when it is zero: a field left to its default.
func def(d *time.Duration, v time.Duration) {
	if *d == 0 {
		*d = v
	}
}

func (c Config) withDefaults() Config {
	if c.Speed == 0 {
		c.Speed = 30
	}
	def(&c.FailoverDelay, time.Minute)
	def(&c.MultiAZDetect, 30*time.Second)
	def(&c.OperatorReaction, 5*time.Minute)
	def(&c.WarmUp, 3*c.Deployment.Regions[0].Writable.Period)
	c.Status, c.Logs = orDiscard(c.Status), orDiscard(c.Logs)
	return c
}

// orDiscard is w, or io.Discard when w is nil.
func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

// Validate names each bad field and the fix.
func (c Config) Validate() error {
	var errs []error
	if c.Bootstrap == "" {
		errs = append(errs, errors.New("drill: Bootstrap is empty: build the checker with `go build -tags lambda.norpc -o build/local/bootstrap ./lambda` and pass its path (--bootstrap)"))
	} else if _, err := os.Stat(c.Bootstrap); err != nil {
		errs = append(errs, fmt.Errorf("drill: Bootstrap: %w: build it with `go build -tags lambda.norpc -o %s ./lambda`", err, c.Bootstrap))
	}
	if c.Deployment.Regions[0].Name == "" || c.Deployment.Regions[1].Name == "" {
		errs = append(errs, errors.New("drill: Deployment is empty: read it from the synthesized templates (make synth; --templates cdk.out)"))
	} else if c.Deployment.Loop.Interval < time.Second {
		errs = append(errs, fmt.Errorf("drill: the deployment's loop interval %s: want at least 1s", c.Deployment.Loop.Interval))
	} else if m := c.Deployment.Settings.Members(); m.ClusterMode && m.Shards > MaxShards {
		errs = append(errs, fmt.Errorf("drill: the templates deploy %d shards a member: the drill plays 1 to %d on this machine", m.Shards, MaxShards))
	} else if m.ClusterMode && len(c.Programs) > 0 {
		errs = append(errs, fmt.Errorf("drill: Programs: the example applications (%s) speak to one node, and the templates deploy "+
			"cluster mode: run the drill's own (--apps go), which use go-redis cluster clients", programNames(c.Programs)))
	}
	if c.Speed != 0 && (c.Speed < 1 || c.Speed > 200) {
		errs = append(errs, fmt.Errorf("drill: Speed %g: use 1 (real time) to 200", c.Speed))
	}
	if c.OperatorReaction < 0 || c.Route53Lag < 0 || c.AcceptDataLoss < 0 {
		errs = append(errs, errors.New("drill: OperatorReaction, Route53Lag and AcceptDataLoss: use 0 or more"))
	}
	if err := validatePrograms(c.Programs); err != nil {
		errs = append(errs, fmt.Errorf("drill: Programs: %w", err))
	}
	return errors.Join(errs...)
}

// labels are the drill's names of the two regions: a is the deployment's
// first (primary at creation), b its second.
var labels = [2]string{"a", "b"}

// region is the deployed region behind a label.
func (d *Drill) region(label string) deployment.Region {
	if label == "b" {
		return d.cfg.Deployment.Regions[1]
	}
	return d.cfg.Deployment.Regions[0]
}

// labelOf is the label of a deployed region's name.
func (d *Drill) labelOf(name string) string {
	for i, r := range d.cfg.Deployment.Regions {
		if r.Name == name {
			return labels[i]
		}
	}
	return name
}

// shards is the number of shards each member deploys: 1 without cluster
// mode.
func (c Config) shards() int {
	if m := c.Deployment.Settings.Members(); m.ClusterMode {
		return max(m.Shards, 1)
	}
	return 1
}

// nodeRows are the timeline's rows of the nodes: a1 a2 b1 b2, or per
// shard a1.1 a1.2 … b3.2.
func nodeRows(shards int) []string {
	var rows []string
	for _, r := range labels {
		for s := range shards {
			for n := range 2 {
				if shards == 1 {
					rows = append(rows, fmt.Sprintf("%s%d", r, n+1))
				} else {
					rows = append(rows, fmt.Sprintf("%s%d.%d", r, s+1, n+1))
				}
			}
		}
	}
	return rows
}

// loopInterval is the deployed loop's interval.
func (d *Drill) loopInterval() time.Duration { return d.cfg.Deployment.Loop.Interval }

// Drill is one running rehearsal.
type Drill struct {
	cfg      Config
	clock    *timescale.Clock
	topo     *Topology
	cw       map[string]*cwlocal.Server // each region's CloudWatch
	ddb      *ddblocal.Server
	alarms   *alarmeval.Evaluator
	dns      *dnslocal.Server
	checkers map[string]*checker
	// endpoints are the regions' writable endpoints (none when the records
	// follow the writable alarms).
	endpoints   map[string]*writableEndpoint
	apps        []*app
	promoterLog decisionLog
	appPaths    appPaths // routes from the applications to the nodes
	tl          *Timeline
	ds          *datastore
	promoters   map[string]*regionPromoter
	// heartbeatKeyFile holds the key checkers sign heartbeats with and
	// promoters verify them with, when the deployment signs them.
	heartbeatKeyFile string

	// runs tracks the checker and promoter runs the loop starts, so Run
	// returns only after the last one.
	runs sync.WaitGroup

	mu    sync.Mutex
	fault time.Time       // scenario time of the fault
	lost  map[string]bool // the region's promoter is gone
	// darkAt is when a lost region stopped answering the on-call (its
	// CloudWatch; AWS Health's start time in a real outage).
	darkAt map[string]time.Time
	// fenceBreach is how long redis.internal answered an old primary that
	// still takes writes, readOnlyDNS how long it answered a read-only
	// endpoint while the other region took writes (watchDNS).
	fenceBreach, readOnlyDNS streak
	silenced                 map[string]bool // the region's checker publishes nothing
	decisions                []Decision
	notes                    []string
	paged                    map[string]bool // the on-call was paged about this region's promotion
}

// writableAlarm is the name of a region's writable alarm, as deployed.
func (d *Drill) writableAlarm(label string) string { return d.region(label).Writable.Name }

// opTimeout is the applications' per-command timeout (wall time): a
// second at real scale, never under 100 ms so a loaded machine does not
// count slowness as an outage.
func (d *Drill) opTimeout() time.Duration {
	return max(d.clock.Wall(time.Second), 100*time.Millisecond)
}

func (d *Drill) logf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	d.mu.Lock()
	d.notes = append(d.notes, msg)
	d.mu.Unlock()
	fmt.Fprintln(d.cfg.Logs, "drill:", msg)
}

func (d *Drill) t0() time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.fault
}

func (d *Drill) isLost(region string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.lost[region]
}

// sources is every region's CloudWatch as one alarm data source: the
// alarms are evaluated where Route 53 reads them.
type sources []*cwlocal.Server

func (s sources) Received() []cwlocal.Datum {
	var out []cwlocal.Datum
	for _, x := range s {
		out = append(out, x.Received()...)
	}
	return out
}

// alarmOf is a deployed alarm as the CloudWatch stand-in evaluates it.
func alarmOf(a deployment.AlarmSpec) alarmeval.Alarm {
	return alarmeval.Alarm{Name: a.Name, Namespace: a.Namespace, MetricName: a.Metric, Dimensions: a.Dimensions,
		Period: a.Period, EvaluationPeriods: a.EvaluationPeriods, DatapointsToAlarm: a.DatapointsToAlarm,
		Statistic: alarmeval.Statistic(a.Statistic), ComparisonOperator: alarmeval.Comparison(a.Comparison),
		Threshold: a.Threshold, TreatMissingData: alarmeval.TreatMissing(a.TreatMissingData)}
}

// checkerEnv is the deployed checker's environment with what the drill
// swaps: the endpoint (the path its observers take to the region's
// primary, which a partition can cut), no TLS and no token (the loopback
// servers speak plain TCP without AUTH), the check's deadline on the drill's
// clock, and the AWS endpoints (CloudWatch's, and the datastore's for the
// fence). Everything else is as deployed, the role and
// the metrics mode included: EMF lines on stdout become metrics as
// CloudWatch Logs extracts them.
func (d *Drill) checkerEnv(label string) []string {
	r := d.region(label)
	c := r.CheckerFor(deployment.Target{Addr: d.topo.Region(label).Observed.Addr, DatastoreID: d.datastoreID()})
	c.Redis.TLS, c.PasswordFile = false, ""
	if r.SignedHeartbeats {
		// The deployed secret's stand-in: one key both regions share.
		c.HeartbeatKeyFile = d.heartbeatKeyFile
	}
	c.Check.Timeout = max(d.clock.Wall(c.Check.Timeout), 100*time.Millisecond)
	env := []string{"AWS_REGION=" + r.Name, "AWS_ACCESS_KEY_ID=AKIDLOCAL", "AWS_SECRET_ACCESS_KEY=local",
		"AWS_EC2_METADATA_DISABLED=true", "AWS_ENDPOINT_URL_CLOUDWATCH=" + d.cw[label].URL(),
		// The fence's reads of the datastore's roles.
		"AWS_ENDPOINT_URL_ELASTICACHE=" + d.ds.ec.URL()}
	for k, v := range c.Env() {
		env = append(env, k+"="+v)
	}
	return env
}

// writeHeartbeatKey writes a fresh random heartbeat key, the stand-in of the
// deployed Secrets Manager secret, into a private temporary directory.
func writeHeartbeatKey() (string, error) {
	dir, err := os.MkdirTemp("", "redisha-drill-key-")
	if err != nil {
		return "", err
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return "", err
	}
	path := filepath.Join(dir, "heartbeat-key")
	return path, os.WriteFile(path, []byte(hex.EncodeToString(key)), 0o600)
}

// start brings every part up.
func start(ctx context.Context, cfg Config) (d *Drill, err error) {
	clock, err := timescale.New(cfg.Speed)
	if err != nil {
		return nil, err
	}
	d = &Drill{cfg: cfg, clock: clock, checkers: map[string]*checker{}, lost: map[string]bool{}, darkAt: map[string]time.Time{}, silenced: map[string]bool{},
		promoters: map[string]*regionPromoter{}, cw: map[string]*cwlocal.Server{}, paged: map[string]bool{},
		endpoints: map[string]*writableEndpoint{}}
	d.tl = newTimeline(append(nodeRows(cfg.shards()), "checker a", "checker b", "alarm a-writable", "alarm b-writable",
		"redis.internal", "datastore", "promoter b", "promoter a", "operator", "app a", "app b")...)
	d.fault = clock.Now().Add(cfg.WarmUp)
	defer func() {
		if err != nil {
			d.close()
		}
	}()
	if d.topo, err = StartShardedTopology(ctx, cfg.shards()); err != nil {
		return d, err
	}
	if d.heartbeatKeyFile, err = writeHeartbeatKey(); err != nil {
		return d, err
	}
	d.cw["a"], d.cw["b"] = cwlocal.New(), cwlocal.New()
	d.alarms = alarmeval.New(sources{d.cw["a"], d.cw["b"]}, clock)
	for _, r := range labels {
		name := d.writableAlarm(r)
		d.cw[r].SetAlarmSource(func(n string) (string, bool) {
			if n != name {
				return "", false
			}
			return string(d.alarms.State(n)), true
		})
	}
	// A second of grace after each period end for data still in flight.
	d.alarms.Delay = time.Second
	for _, r := range labels {
		a := alarmOf(d.region(r).Writable)
		if err = d.alarms.Add(a); err != nil {
			return d, err
		}
	}
	// The datastore first: the checkers' fence (and the writable
	// endpoints') reads its roles.
	d.ds = newDatastore(d)
	// Route 53: each record's health check probes its region's writable
	// endpoint, or evaluates its alarm's data stream with the settings it
	// copied, not the alarm's state.
	var records []dnslocal.Record
	for _, rec := range cfg.Deployment.DNS.Records {
		if e := rec.HealthCheck.Endpoint; e != nil {
			label := d.labelOf(rec.Region)
			if d.endpoints[label] == nil {
				if d.endpoints[label], err = d.startWritableEndpoint(label, e, cfg.Logs); err != nil {
					return d, err
				}
			}
			if d.endpoints[label] == nil {
				return d, fmt.Errorf("the %s record's health check probes %s's writable endpoint, which the deployment does not have", rec.Failover, rec.Region)
			}
			records = append(records, dnslocal.Record{Target: EndpointName(label), HealthCheck: d.endpoints[label].check})
			continue
		}
		if rec.HealthCheck.Alarm.Name == "" {
			// A record without a health check is always healthy.
			records = append(records, dnslocal.Record{Target: EndpointName(d.labelOf(rec.Region))})
			continue
		}
		stream := alarmOf(rec.HealthCheck.Alarm)
		stream.Name = "route53:" + stream.Name
		stream.TreatMissingData, stream.DatapointsToAlarm, stream.EvaluationRange = alarmeval.DataStream, 0, 0
		if err = d.alarms.Add(stream); err != nil {
			return d, err
		}
		records = append(records, dnslocal.Record{Target: EndpointName(d.labelOf(rec.Region)), HealthCheck: &dnslocal.HealthCheck{
			Name: rec.HealthCheck.Alarm.Name, Alarm: d.alarms.StateFunc(stream.Name), Inverted: rec.HealthCheck.Inverted,
			InsufficientDataHealthStatus: dnslocal.InsufficientData(rec.HealthCheck.InsufficientDataHealthStatus),
			Lag:                          cfg.Route53Lag, Clock: clock}})
	}
	d.dns, err = dnslocal.Start(dnslocal.Options{TTL: cfg.Deployment.DNS.Records[0].TTL}, records[0], records[1])
	if err != nil {
		return d, err
	}
	if err = d.witnessGroups(); err != nil {
		return d, err
	}
	for _, r := range labels {
		if err = d.dns.SetHost(EndpointName(r), d.topo.Primary(r).IP); err != nil {
			return d, err
		}
	}
	d.topo.OnEndpointMove = func(region string, ip net.IP) {
		_ = d.dns.SetHost(EndpointName(region), ip)
		d.tl.Mark("endpoint "+region+" moved", d.clock.Now())
	}
	for _, r := range labels {
		c, err := startChecker(cfg.Bootstrap, r, d.checkerEnv(r), d.cw[r].LogWriter(cfg.Logs))
		if err != nil {
			return d, err
		}
		d.checkers[r] = c
	}
	if err = d.startPromoters(cfg.Logs); err != nil {
		return d, err
	}
	return d, nil
}

func (d *Drill) close() {
	if d.heartbeatKeyFile != "" {
		_ = os.RemoveAll(filepath.Dir(d.heartbeatKeyFile))
	}
	for _, c := range d.checkers {
		c.close()
	}
	for _, p := range d.promoters {
		p.close()
	}
	if d.ds != nil {
		d.ds.close()
	}
	if d.ddb != nil {
		d.ddb.Close()
	}
	if d.dns != nil {
		d.dns.Close()
	}
	for _, e := range d.endpoints {
		e.close()
	}
	for _, cw := range d.cw {
		cw.Close()
	}
	if d.topo != nil {
		d.topo.Close()
	}
}

// loop runs the checkers and the promoters on the schedule.
func (d *Drill) loop(ctx context.Context) {
	next := d.clock.Now()
	for {
		for _, r := range []string{"a", "b"} {
			d.mu.Lock()
			off := d.silenced[r]
			d.mu.Unlock()
			if off {
				d.tl.Set("checker "+r, "silent", d.clock.Now())
				continue
			}
			d.runs.Add(1)
			go func(r string) {
				defer d.runs.Done()
				if r == "b" && d.clock.Sleep(ctx, checkerPhase) != nil {
					return
				}
				res, ran, err := d.checkers[r].invoke(ctx, d.clock.Wall(10*time.Second)+time.Second)
				if !ran || ctx.Err() != nil {
					return
				}
				state := "healthy"
				switch {
				case err != nil:
					state = "error"
					d.logf("checker %s: %v", r, err)
				case !res.Healthy:
					state = "unhealthy"
				}
				d.tl.Set("checker "+r, state, d.clock.Now())
			}(r)
		}
		for _, r := range []string{"a", "b"} {
			if d.isLost(r) {
				d.tl.Set("promoter "+r, "lost", d.clock.Now())
				continue
			}
			d.runs.Go(func() { d.runPromoter(ctx, d.promoters[r]) })
		}
		next = next.Add(d.loopInterval())
		if d.clock.SleepUntil(ctx, next) != nil {
			return
		}
	}
}

// checkerPhase is how long after region a's check region b's runs in each
// loop. In AWS the two regions' loops run at whatever phase their start times
// give them; every replication lag b publishes is the true lag plus up to
// that phase (the newest heartbeat arrived no later than the check), so a
// phase within MAX_DATA_LOSS is what lets an on-call prove a replica current
// from b's lag alone (docs/failover.md). The drill runs them at this one,
// fixed so that its results do not depend on which goroutine wins.
const checkerPhase = 3 * time.Second

// sample records node roles, alarms, DNS and the datastore on the
// timeline, and runs ElastiCache's in-region automatic failover.
func (d *Drill) sample(ctx context.Context) {
	down := map[string]time.Time{}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		now := d.clock.Now()
		var wg sync.WaitGroup
		roles := map[string]string{}
		var mu sync.Mutex
		for _, r := range d.topo.Regions {
			for _, n := range r.nodes() {
				wg.Add(1)
				go func(n *Node) {
					defer wg.Done()
					role, err := Role(ctx, n.Addr)
					s := map[string]string{"master": "primary", "slave": "replica"}[role]
					switch {
					case err != nil && n.PID() == 0:
						s = "down"
					case err != nil && isTimeout(err):
						s = "stalled"
					case err != nil:
						s = "down"
					}
					mu.Lock()
					roles[n.Name] = s
					mu.Unlock()
				}(n)
			}
		}
		wg.Wait()
		if ctx.Err() != nil {
			return
		}
		for name, s := range roles {
			d.tl.Set(name, s, now)
		}
		for _, r := range []string{"a", "b"} {
			d.tl.Set("alarm "+r+"-writable", string(d.alarms.State(d.writableAlarm(r))), now)
			// Multi-AZ, per shard: a dead primary node with a live replica
			// is replaced.
			for i := range d.topo.Region(r).Shards {
				key := fmt.Sprintf("%s/%d", r, i)
				p, rep := d.topo.ShardPrimary(r, i), d.topo.ShardReplica(r, i)
				if roles[p.Name] == "down" && roles[rep.Name] != "down" && roles[rep.Name] != "stalled" {
					if down[key].IsZero() {
						down[key] = now
					} else if now.Sub(down[key]) >= d.cfg.MultiAZDetect {
						down[key] = time.Time{}
						if err := d.topo.FailoverShardInRegion(ctx, r, i); err != nil {
							d.logf("multi-AZ failover in %s: %v", r, err)
						}
						if d.topo.Sharded() {
							d.tl.Mark(fmt.Sprintf("endpoint %s shard %d moved", r, i+1), d.clock.Now())
						}
					}
				} else {
					down[key] = time.Time{}
				}
			}
		}
		which, rec := d.dns.Choose()
		d.tl.Set("redis.internal", "→ "+regionOfEndpoint(rec.Target)+" ("+strings.ToLower(string(which))+")", now)
		d.watchDNS(regionOfEndpoint(rec.Target), roles, now)
		if st := d.ds.Status(); st == "available" {
			d.tl.Set("datastore", "primary "+d.topo.PrimaryRegion(), now)
		} else {
			d.tl.Set("datastore", st, now)
		}
	}
}

// watchDNS adds up the time redis.internal answers a region whose primary
// node answers as master while the datastore's primary is the other region
// (new clients would write where nothing replicates), and the time it
// answers a region whose node is a replica while the other region's takes
// writes (new clients are read-only although a writer exists).
func (d *Drill) watchDNS(dnsRegion string, roles map[string]string, now time.Time) {
	known := dnsRegion == "a" || dnsRegion == "b"
	breach, readOnly := false, false
	if known {
		// A sharded group: one shard's primary answering as master where
		// nothing replicates is a breach; one shard read-only while the
		// other region's every shard takes writes is a read-only answer.
		anyIs := func(region, role string) bool {
			for i := range d.topo.Region(region).Shards {
				if roles[d.topo.ShardPrimary(region, i).Name] == role {
					return true
				}
			}
			return false
		}
		allPrimary := func(region string) bool {
			for i := range d.topo.Region(region).Shards {
				if roles[d.topo.ShardPrimary(region, i).Name] != "primary" {
					return false
				}
			}
			return true
		}
		breach = dnsRegion != d.topo.PrimaryRegion() && anyIs(dnsRegion, "primary") && d.ds.Status() == "available"
		readOnly = anyIs(dnsRegion, "replica") && allPrimary(other(dnsRegion))
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.fenceBreach.add(breach, now)
	d.readOnlyDNS.add(readOnly, now)
}

// streak adds up how long a condition held, from its second sample in a row
// on: the instant between a failover's two steps (promote, demote) is not
// counted.
type streak struct {
	total time.Duration
	prev  time.Time // the last sample that held; zero when the last did not
}

func (s *streak) add(holds bool, now time.Time) {
	switch {
	case !holds:
		s.prev = time.Time{}
	case s.prev.IsZero():
		s.prev = now
	default:
		s.total += now.Sub(s.prev)
		s.prev = now
	}
}

func regionOfEndpoint(name string) string {
	for _, r := range []string{"a", "b"} {
		if name == EndpointName(r) {
			return r
		}
	}
	return name
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// Run runs one scenario and returns its report. svgPath, when not empty,
// receives the timeline picture.
func Run(ctx context.Context, cfg Config, sc Scenario, svgPath string) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if sc.Config != nil {
		sc.Config(&cfg)
	}
	d, err := start(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer d.close()
	// Every application exists before anything that reads d.apps starts.
	var stopPrograms []func() error
	stopAllPrograms := func() {
		for _, s := range stopPrograms {
			if err := s(); err != nil {
				d.logf("%v", err)
			}
		}
	}
	if len(cfg.Programs) > 0 && sc.CutsApps {
		d.logf("the %s applications are not run: %v", programNames(cfg.Programs), errProgramsCut)
	} else {
		for _, p := range cfg.Programs {
			a, stopP, err := d.startProgram(p)
			if err != nil {
				stopAllPrograms()
				return nil, err
			}
			d.apps = append(d.apps, a)
			stopPrograms = append(stopPrograms, stopP)
		}
	}
	var goApps []*app
	for _, r := range []string{"a", "b"} {
		goApps = append(goApps, newApp(d, r, dnslocal.NewResolver(d.dns.Addr(), d.clock)))
	}
	d.apps = append(goApps, d.apps...)

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	for _, f := range []func(context.Context){d.loop, d.sample, func(c context.Context) { _ = d.alarms.Run(c) }, d.status} {
		wg.Add(1)
		go func() { defer wg.Done(); f(runCtx) }()
	}
	appCtx, stopApps := context.WithCancel(runCtx)
	var appsWG sync.WaitGroup
	for _, a := range goApps {
		appsWG.Add(1)
		go func() { defer appsWG.Done(); a.run(appCtx, 10*time.Millisecond) }()
	}
	finish := func() {
		stopAllPrograms()
		stopApps()
		appsWG.Wait()
		stop()
		wg.Wait()
		d.runs.Wait()
	}

	if err := d.clock.SleepUntil(ctx, d.fault); err != nil {
		finish()
		return nil, err
	}
	d.tl.Mark("fault: "+sc.Name, d.clock.Now())
	d.mu.Lock()
	d.fault = d.clock.Now()
	d.mu.Unlock()
	if err := sc.Inject(ctx, d); err != nil {
		finish()
		return nil, fmt.Errorf("scenario %s: %w", sc.Name, err)
	}
	deadline := d.fault.Add(sc.Observe)
	for d.clock.Now().Before(deadline) && !(sc.Done != nil && sc.Done(d)) {
		if err := d.clock.Sleep(ctx, d.loopInterval()/2); err != nil {
			finish()
			return nil, err
		}
	}
	// Let the applications show they write again, and replication settle.
	_ = d.clock.Sleep(ctx, 2*d.loopInterval())
	end := d.clock.Now()
	finish()
	fmt.Fprint(cfg.Status, "\n")
	rep := d.report(ctx, sc, end)
	if svgPath != "" {
		if err := os.MkdirAll(filepath.Dir(svgPath), 0o755); err != nil {
			return rep, err
		}
		f, err := os.Create(svgPath)
		if err != nil {
			return rep, err
		}
		defer f.Close()
		for _, m := range []struct {
			label string
			at    *float64
		}{{"detected", rep.Detection}, {"B writable", rep.Promotion}, {"DNS moved", rep.DNS}} {
			if m.at != nil {
				d.tl.Mark(m.label, d.fault.Add(time.Duration(*m.at*float64(time.Second))))
			}
		}
		rows, spans, marks := d.tl.close(d.fault, end)
		title := fmt.Sprintf("redisha drill — %s (speed %g×, times at real scale since the fault)", sc.Title, cfg.Speed)
		if err := writeSVG(f, title, rep.Sources, rows, spans, marks, -d.cfg.WarmUp.Seconds()/2, end.Sub(d.fault).Seconds()); err != nil {
			return rep, err
		}
		rep.Picture = svgPath
		if len(cfg.Dashboard) > 0 {
			path := strings.TrimSuffix(svgPath, ".svg") + "-dashboard.svg"
			f, err := os.Create(path)
			if err != nil {
				return rep, err
			}
			title := fmt.Sprintf("%s's dashboard at the end of the drill — %s (speed %g×)", d.region(dashboardRegion).Name, sc.Title, cfg.Speed)
			err = d.writeDashboard(f, title, cfg.Dashboard, d.fault.Add(-d.cfg.WarmUp), end)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return rep, err
			}
			rep.Dashboard = path
		}
	}
	return rep, nil
}

// status keeps one live line up to date on a terminal; elsewhere (a log,
// a pipe) it prints a line only when something changed.
func (d *Drill) status(ctx context.Context) {
	f, ok := d.cfg.Status.(*os.File)
	live := false
	if ok {
		st, err := f.Stat()
		live = err == nil && st.Mode()&os.ModeCharDevice != 0
	}
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	last := ""
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		which, _ := d.dns.Choose()
		apps := ""
		for _, a := range d.apps {
			a.mu.Lock()
			apps += fmt.Sprintf(" app %s:%s", a.label(), a.state)
			a.mu.Unlock()
		}
		line := fmt.Sprintf("alarm a:%-17s b:%-17s dns:%-9s datastore:%s primary:%s%s",
			d.alarms.State(d.writableAlarm("a")), d.alarms.State(d.writableAlarm("b")), which,
			d.ds.Status(), d.topo.PrimaryRegion(), apps)
		since := d.clock.Now().Sub(d.t0()).Round(time.Second)
		switch {
		case live:
			fmt.Fprintf(d.cfg.Status, "\r\033[K t%+-8s %s", since, line)
		case line != last:
			fmt.Fprintf(d.cfg.Status, "t%+-8s %s\n", since, line)
		}
		last = line
	}
}
