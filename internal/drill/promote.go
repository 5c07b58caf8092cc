package drill

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"
	"github.com/redis/go-redis/v9"

	"github.com/redisha/redisha/internal/deployment"
	"github.com/redisha/redisha/internal/metrics"
	"github.com/redisha/redisha/internal/promoter"
	"github.com/redisha/redisha/internal/promoter/latch"
	"github.com/redisha/redisha/internal/secret"
	"github.com/redisha/redisha/internal/sim/cwlocal"
	"github.com/redisha/redisha/internal/sim/ddblocal"
	"github.com/redisha/redisha/internal/sim/dnslocal"
	"github.com/redisha/redisha/internal/sim/eclocal"
)

// datastore is the Global Datastore's control plane: the local ElastiCache
// endpoint (eclocal) whose failover hook re-points the real redis-servers.
type datastore struct {
	d  *Drill
	ec *eclocal.Server

	mu      sync.Mutex
	planned map[string]bool // target region of planned failovers in flight
	kinds   []bool          // planned or not, per completed failover, in order
}

// datastoreID is the rehearsed Global Datastore's id: the one the deployment
// creates (or adopts).
func (d *Drill) datastoreID() string { return d.cfg.Deployment.DatastoreID() }

func newDatastore(d *Drill) *datastore {
	ds := &datastore{d: d, planned: map[string]bool{}}
	ds.ec = eclocal.New(eclocal.Options{
		FailoverDelay: d.clock.Wall(d.cfg.FailoverDelay),
		OnFailover: func(f eclocal.Failover) error {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			return d.topo.FailoverGlobal(ctx, d.labelOf(f.To.Region))
		},
	})
	a, b := d.region("a"), d.region("b")
	ds.ec.PutDatastore(eclocal.Datastore{ID: d.datastoreID(), Members: []eclocal.Member{
		{ReplicationGroupID: a.GroupID, Region: a.Name, Role: eclocal.RolePrimary},
		{ReplicationGroupID: b.GroupID, Region: b.Name, Role: eclocal.RoleSecondary},
	}})
	for _, r := range labels {
		ds.ec.PutGroup(eclocal.Group{ID: d.region(r).GroupID, Region: d.region(r).Name, Endpoint: d.endpoint(r)})
	}
	return ds
}

// endpoint is a region's primary endpoint, host:port.
func (d *Drill) endpoint(label string) string {
	return EndpointName(label) + ":" + strconv.Itoa(d.topo.Port)
}

// Status is the datastore's status: available or modifying.
func (ds *datastore) Status() string {
	g, _ := ds.ec.Datastore(ds.d.datastoreID())
	return g.Status
}

// Failover calls FailoverGlobalReplicationGroup through the target
// region's endpoint, as `redisha switchover` and the promoter do.
func (ds *datastore) Failover(ctx context.Context, to string, planned bool) error {
	ds.mu.Lock()
	ds.planned[to] = planned
	ds.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	r := ds.d.region(to)
	_, err := eclocal.NewClient(ds.ec.URL(), r.Name, 3).FailoverGlobalReplicationGroup(ctx,
		&elasticache.FailoverGlobalReplicationGroupInput{GlobalReplicationGroupId: aws.String(ds.d.datastoreID()),
			PrimaryRegion: aws.String(r.Name), PrimaryReplicationGroupId: aws.String(r.GroupID)})
	if err == nil {
		ds.d.tl.Set("datastore", "modifying", ds.d.clock.Now())
	}
	return err
}

// failoverEvent is one completed cross-region failover.
type failoverEvent struct {
	To                   string
	Requested, Completed time.Time // scenario time
	Planned              bool
}

// Failovers lists the completed failovers; a planned one was requested
// by Failover(…, true), every other one by a promoter.
func (ds *datastore) Failovers() []failoverEvent {
	var out []failoverEvent
	for _, f := range ds.ec.Failovers() {
		if f.Err != nil {
			continue
		}
		to := ds.d.labelOf(f.To.Region)
		ds.mu.Lock()
		planned := ds.planned[to]
		ds.mu.Unlock()
		out = append(out, failoverEvent{To: to, Requested: ds.d.clock.At(f.Requested), Completed: ds.d.clock.At(f.Completed), Planned: planned})
	}
	return out
}

func (ds *datastore) close() { ds.ec.Close() }

// regionPromoter is one region's promoter: the real promoter.Runner with
// its latch in a local DynamoDB table, reading the other region's writable
// alarm through a path that a partition (or the region's loss) can cut.
type regionPromoter struct {
	region string
	runner *promoter.Runner
	// operator is the on-call's failover command for this region.
	operator *promoter.Runner
	client   *redis.Client
	local    promoter.Endpoint // client, or every shard of a sharded group
	// cwPath is this promoter's network path to the other region's
	// CloudWatch (cut from the start when the deployment gives it none:
	// routed is false); opPath is the on-call's, from outside both regions.
	cwPath, opPath *link
	routed         bool
	// ec is the runner's ElastiCache client, where a crash can be planted.
	ec *crashingElastiCache
	// skew is added to the runner's clock (skew-clock).
	skew atomic.Int64

	mu   sync.Mutex
	busy bool
	last string
}

// crashingElastiCache is a promoter's ElastiCache client with a crash that
// can be planted: the next failover call ends the run as a Lambda that dies
// would, before the call or after ElastiCache accepted it, so nothing the
// run would record after that point is recorded.
type crashingElastiCache struct {
	promoter.ElastiCacheAPI

	mu     sync.Mutex
	when   string             // "", before-call or after-call
	cancel context.CancelFunc // ends the current run
}

// plant arms the crash for the next failover call.
func (c *crashingElastiCache) plant(when string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.when = when
}

// run sets the current run's end.
func (c *crashingElastiCache) run(cancel context.CancelFunc) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cancel = cancel
}

func (c *crashingElastiCache) FailoverGlobalReplicationGroup(ctx context.Context, in *elasticache.FailoverGlobalReplicationGroupInput,
	opts ...func(*elasticache.Options)) (*elasticache.FailoverGlobalReplicationGroupOutput, error) {
	c.mu.Lock()
	when, cancel := c.when, c.cancel
	c.when = ""
	c.mu.Unlock()
	switch when {
	case "before-call":
		cancel()
		return nil, errors.New("the promoter's function crashed before the failover call")
	case "after-call":
		out, err := c.ElastiCacheAPI.FailoverGlobalReplicationGroup(ctx, in, opts...)
		cancel()
		if err != nil {
			return out, err
		}
		return nil, errors.New("the promoter's function crashed after ElastiCache accepted the failover")
	}
	return c.ElastiCacheAPI.FailoverGlobalReplicationGroup(ctx, in, opts...)
}

// Decision is one promoter run's outcome, for the report.
type Decision struct {
	Region  string  `json:"region"`
	Epoch   uint64  `json:"epoch"`
	AtS     float64 `json:"at_s"`
	Promote bool    `json:"promote"`
	// Refused lists the guards that did not hold, with their reasons.
	Refused []string `json:"refused,omitempty"`
}

// startPromoters builds each region's promoter from its deployed
// configuration, with only the clock and the addresses swapped: the runners
// keep time on the wall clock with every bound divided by the speed (the
// heartbeat the checker writes carries wall time, so the promoter must read
// the same clock), and their clients are the stand-ins'. A promoter the
// deployment gives no route to the other region's CloudWatch (no NAT, no
// declared egress) has its path refused from the start (in AWS: dropped, a timeout).
func (d *Drill) startPromoters(logs io.Writer) error {
	d.ddb = ddblocal.New()
	ds := d.datastoreID()
	s := d.cfg.Deployment.Settings
	routed := s.NatGateway || s.VpcEgress
	for _, r := range labels {
		other := other(r)
		cwPath, err := newLink("cloudwatch-from-"+r, strings.TrimPrefix(d.cw[other].URL(), "http://"))
		if err != nil {
			return err
		}
		if !routed {
			// No route from the VPC: in AWS the call times out after
			// CALL_TIMEOUT (packets to the other region's endpoint are
			// dropped); here it is refused at once. Both are "unreachable"
			// to the promoter; a scaled timeout (a second's floor, 30
			// scenario seconds at 30×) would make every run outlast its
			// loop and skip the next.
			cwPath.Down()
		}
		pc := d.region(r).PromoterFor(deployment.Target{Addr: d.endpoint(r), DatastoreID: ds})
		d.ddb.CreateTable(pc.LatchTable, latch.KeyAttribute)
		// A second at least: the runner's calls must not time out on a loaded
		// machine (a cut path answers nothing and costs the whole timeout; a
		// lost region's endpoints refuse at once).
		pc.CallTimeout = max(d.clock.Wall(pc.CallTimeout), time.Second)
		pc.PromoteTimeout = d.clock.Wall(pc.PromoteTimeout)
		pc.PollInterval = max(d.clock.Wall(pc.PollInterval), 20*time.Millisecond)
		pc.Bounds = pc.Bounds.WithDefaults() // a default is scaled as a setting is
		b := &pc.Bounds
		b.StallAfter, b.HeartbeatInterval, b.MaxDataLoss = d.clock.Wall(b.StallAfter), d.clock.Wall(b.HeartbeatInterval), d.clock.Wall(b.MaxDataLoss)
		b.Cooldown, b.PeerSeenWithin = d.clock.Wall(b.Cooldown), d.clock.Wall(b.PeerSeenWithin)
		b.LinkAliveWithin = d.clock.Wall(b.LinkAliveWithin)
		b.SilentMaxDataLoss = d.clock.Wall(b.SilentMaxDataLoss)
		// Scaled, so a skew the scenario gives its clock is judged as at
		// real scale; with a floor, because the heartbeat may be written
		// between the run's clock reading and its GET (wall time).
		b.MaxHeartbeatSkew = max(d.clock.Wall(b.MaxHeartbeatSkew), 250*time.Millisecond)
		if pc.PeerWitness != "" {
			// The VPC resolver's stand-in: the zone's own server.
			pc.WitnessResolver = d.dns.Addr()
		}
		// Above the call's bound, as the stacks keep it.
		b.AttemptWindow = max(d.clock.Wall(b.AttemptWindow), 2*pc.CallTimeout)
		resolver := dnslocal.NewResolver(d.dns.Addr(), d.clock)
		client := newClient(pc.Redis.Addr, resolver.DialContext, pc.CallTimeout, 2)
		redisEP := promoter.RedisEndpoint{Client: client, Prefix: pc.KeyPrefix}
		if d.region(r).SignedHeartbeats {
			// The deployed key's stand-in, shared with the checkers.
			pc.HeartbeatKeySecretARN, pc.HeartbeatKeyFile = "", d.heartbeatKeyFile
			redisEP.Key = secret.KeyFromFile(d.heartbeatKeyFile).Bytes
		}
		ec := &crashingElastiCache{ElastiCacheAPI: eclocal.NewClient(d.ds.ec.URL(), pc.Region, 3)}
		var local promoter.Endpoint = redisEP
		if d.topo.Sharded() {
			// As the Lambda's wiring reads a cluster-mode group: every
			// shard at the node the cluster names (its configuration
			// endpoint asked through the zone).
			local = &promoter.ClusterEndpoint{Seed: redisEP, SeedAddr: pc.Redis.Addr, Mode: pc.ClusterMode,
				Node: func(addr string) (*redis.Client, error) { return newClient(addr, nil, pc.CallTimeout, 2), nil }}
		}
		deps := promoter.Deps{
			ElastiCache: ec,
			Alarms:      cwlocal.NewClient("http://"+cwPath.Addr, 1),
			Redis:       local,
			Store:       latch.New(ddblocal.NewClient(d.ddb.URL(), pc.Region, 3), pc.LatchTable, deployment.LatchKey(ds, pc.Region)),
			// Its decision lines also feed the dashboard's log widget.
			Log: slog.New(decisionHandler{Handler: slog.NewJSONHandler(logs, nil), keep: func(at time.Time, fields map[string]string) {
				d.promoterLog.add(r, decision{at: d.clock.At(at), fields: fields})
			}}),
		}
		opPath, err := newLink("cloudwatch-from-operator-"+r, strings.TrimPrefix(d.cw[other].URL(), "http://"))
		if err != nil {
			return err
		}
		p := &regionPromoter{region: r, client: client, local: local, cwPath: cwPath, opPath: opPath, routed: routed, runner: pc.Runner(deps), ec: ec}
		p.runner.Now = func() time.Time { return time.Now().Add(time.Duration(p.skew.Load())) }
		// The on-call's `redisha failover --to <region> --apply`: the same
		// decision in auto mode, from a terminal whose own route reaches the
		// other region's CloudWatch.
		op := pc
		op.Mode = promoter.ModeAuto
		deps.Alarms = cwlocal.NewClient("http://"+opPath.Addr, 1)
		deps.ElastiCache = ec.ElastiCacheAPI                // the on-call's terminal: no planted crash
		deps.Log = slog.New(slog.NewJSONHandler(logs, nil)) // not the promoter's log group
		p.operator = op.Runner(deps)
		p.operator.OperatorRun, p.operator.AcceptedLoss = true, d.clock.Wall(d.cfg.AcceptDataLoss)
		d.promoters[r] = p
	}
	return nil
}

func (p *regionPromoter) close() {
	if c, ok := p.local.(*promoter.ClusterEndpoint); ok {
		_ = c.Close()
	}
	_ = p.client.Close()
	p.cwPath.Close()
	p.opPath.Close()
}

// run is one scheduled run; a run still busy (promoting) skips this one.
func (d *Drill) runPromoter(ctx context.Context, p *regionPromoter) {
	p.mu.Lock()
	if p.busy {
		p.mu.Unlock()
		return
	}
	p.busy = true
	p.mu.Unlock()
	defer func() { p.mu.Lock(); p.busy = false; p.mu.Unlock() }()

	run, cancel := context.WithCancel(ctx)
	defer cancel()
	p.ec.run(cancel)
	out, err := p.runner.Run(run)
	if ctx.Err() != nil {
		return
	}
	if run.Err() != nil {
		d.logf("promoter %s: the function crashed: %v", p.region, err)
		d.tl.Mark("promoter "+p.region+" crashed", d.clock.Now())
		return
	}
	if err != nil {
		d.logf("promoter %s: %v", p.region, err)
	}
	// The drill's time, not the promoter's: a skewed clock (skew-clock)
	// must not move its decisions on the report's axis.
	decided := d.clock.At(out.Observations.Now.Add(-time.Duration(p.skew.Load())))
	dec := Decision{Region: p.region, Epoch: out.Decision.Epoch, AtS: decided.Sub(d.t0()).Seconds(),
		Promote: out.Decision.Action == promoter.ActPromote}
	for _, v := range out.Decision.Guards {
		if !v.OK && v.Guard != promoter.GuardMode {
			dec.Refused = append(dec.Refused, v.Guard+": "+v.Reason)
		}
	}
	d.mu.Lock()
	d.decisions = append(d.decisions, dec)
	d.mu.Unlock()

	state := "wait"
	refused := out.Decision.Refused()
	switch {
	case dec.Promote:
		state = "promote"
		d.tl.Mark("decision: promote "+p.region, decided)
	case strings.EqualFold(out.Observations.Datastore.LocalRole, promoter.RolePrimary):
		state = "primary"
	case out.Decision.Action == promoter.ActAdvise:
		state = "advise"
	case out.Decision.Note == promoter.NotePartition:
		state = "refuse: partition"
	case out.Decision.Note == promoter.NotePeerUnreachedStalled:
		state = "refuse: no route"
	case out.Decision.PrimaryDown && len(refused) > 0:
		state = "refuse: " + refused[0]
	}
	if out.Decision.Notify && d.pagesOperator(out.Decision) {
		d.page(ctx, p, decided, out.Decision.LossAtLeast)
	}
	if state != p.last {
		p.last = state
		d.tl.Set("promoter "+p.region, state, decided)
	}
	if out.Promotion != nil && out.Promotion.Err != "" {
		d.logf("promoter %s: promotion stopped: %s", p.region, out.Promotion.Err)
	}
}

// pagesOperator says whether a page calls the on-call to fail over: advise
// mode's "every guard holds", the promoter's "the heartbeat has stalled but I
// cannot reach the other region's CloudWatch" (no route, or silent from here
// alone: the on-call checks from elsewhere), or "I cannot read or trust the
// heartbeat" (the on-call's terminal reads it with its own clock). Partition
// pages and refusals of other guards do not.
func (d *Drill) pagesOperator(dec promoter.Decision) bool {
	switch {
	case dec.Action == promoter.ActAdvise:
		return true
	case dec.Note == promoter.NotePeerUnreachedStalled, dec.Note == promoter.NoteHeartbeatUnreadable, dec.Note == promoter.NoteRegionSilent:
		// The promoter cannot decide: blind, no route, or a region silent
		// from here alone.
		return true
	}
	// "The primary is down, but how much a promotion would lose cannot be
	// bounded": the promoter leaves that to a person.
	return dec.PrimaryDown && onlyRefusal(dec) == promoter.GuardDataLoss
}

// onlyRefusal is the one guard besides the mode that refused dec, or ""
// when none or several did.
func onlyRefusal(dec promoter.Decision) string {
	refused := slices.DeleteFunc(dec.Refused(), func(g string) bool { return g == promoter.GuardMode })
	if len(refused) != 1 {
		return ""
	}
	return refused[0]
}

// lagBefore is the lowest replication lag region r's checker published in
// the window before until, as the on-call reads it on r's own dashboard:
// how fresh the replica was just before the heartbeat stopped. The floor,
// not the last reading: once the primary is gone the heartbeat ages and then
// expires (read as its TTL), and a warm-up's first readings, before any
// heartbeat arrived, are no measure either. ok is false when no sample lies
// in the window.
func (d *Drill) lagBefore(r string, until time.Time, window time.Duration) (lag time.Duration, ok bool) {
	to := d.clock.WallAt(until)
	from := to.Add(-window)
	for _, m := range d.cw[r].Received() {
		if m.MetricName != metrics.ReplicationLagSeconds || m.Timestamp.Before(from) || m.Timestamp.After(to) {
			continue
		}
		v := time.Duration(m.Value * float64(time.Second))
		if !ok || v < lag {
			lag = v
		}
		ok = true
	}
	return lag, ok
}

// page is the on-call receiving a page about p's region: after the
// configured reaction time they run the failover it advises, once per
// drill; the guards decide whether it happens. floor is what the page says
// a promotion surely loses (Decision.LossAtLeast).
func (d *Drill) page(ctx context.Context, p *regionPromoter, at time.Time, floor time.Duration) {
	d.mu.Lock()
	if d.paged[p.region] || at.Before(d.fault) {
		d.mu.Unlock()
		return
	}
	d.paged[p.region] = true
	d.mu.Unlock()
	d.tl.Set("operator", "paged", at)
	d.tl.Mark("page: promote "+p.region+"?", at)
	d.runs.Go(func() {
		if d.clock.SleepUntil(ctx, at.Add(d.cfg.OperatorReaction)) != nil {
			return
		}
		// A careful on-call confirms the primary region is down only when
		// they cannot reach its CloudWatch either (or its alarm says so):
		// a region that answers them as healthy is not down.
		a := p.operator.ReadAlarm(ctx)
		p.operator.PrimaryDownConfirmed = a.Unreachable || strings.EqualFold(a.State, promoter.AlarmAlarm)
		cmd := "failover --to " + p.region
		if p.operator.PrimaryDownConfirmed {
			cmd += " --primary-down"
		}
		// With the primary region's CloudWatch out of reach, its last write
		// cannot be read and the plan bounds the loss by now (the whole
		// outage). The runbook (docs/failover.md): accept the amount the plan
		// prints only when this region's replica was current before the
		// heartbeat stopped: the lowest lag it published in the four
		// heartbeat intervals before the stall within MAX_DATA_LOSS (or what
		// the on-call accepts, --accept-data-loss), and the page's floor
		// (the primary seen writing past the replica) too.
		p.operator.AcceptedLoss = d.clock.Wall(d.cfg.AcceptDataLoss)
		if a.Unreachable && p.operator.PrimaryDownConfirmed {
			b := p.operator.Bounds
			// The window ends when the primary region went dark, as the
			// on-call knows it: a heartbeat that stopped well before that
			// (the link broke first) shows as a lag already growing there.
			until := at.Add(-d.clock.Scale(b.StallAfter))
			d.mu.Lock()
			if dark, ok := d.darkAt[other(p.region)]; ok {
				until = dark
			}
			d.mu.Unlock()
			lag, ok := d.lagBefore(p.region, until, 4*b.HeartbeatInterval)
			// Each published lag is at least the true lag (the newest
			// heartbeat arrived no later than the check), so a floor within
			// MAX_DATA_LOSS proves the replica was within it.
			limit := max(b.MaxDataLoss, d.clock.Wall(d.cfg.AcceptDataLoss))
			// The page's floor is surely lost: the primary was seen writing
			// past the replica's newest heartbeat (the link broke first).
			switch {
			case floor > limit:
				d.logf("operator: the page says at least %s would be lost, over %s: the loss is not accepted",
					d.clock.Scale(floor).Round(time.Second), d.clock.Scale(limit).Round(time.Second))
			case !ok:
				d.logf("operator: no replication lag published in %s before the heartbeat stopped: the loss is not accepted", p.region)
			case lag > limit:
				d.logf("operator: %s's lowest replication lag before the heartbeat stopped was %s, over %s: the loss is not accepted",
					p.region, d.clock.Scale(lag).Round(time.Second), d.clock.Scale(limit).Round(time.Second))
			}
			if ok && lag <= limit && floor <= limit {
				p.operator.AcceptedLoss = promoter.AnyLoss
				cmd += " --accept-data-loss <the plan's amount>"
			}
		}
		d.tl.Set("operator", cmd, d.clock.Now())
		out, err := p.operator.Run(ctx)
		// "another run recorded a decision first: run again", as the
		// command says when the promoter decided in between.
		for try := 0; out.Stale && try < 5 && ctx.Err() == nil; try++ {
			out, err = p.operator.Run(ctx)
		}
		// A call that failed (throttled, an API error) is run again, as an
		// on-call would, half a minute later; a refusal is not, except
		// "an attempt … may still be in flight", which says when it counts
		// as aborted: the on-call waits that long and runs it again.
		for try := 0; try < 3 && ctx.Err() == nil && (err != nil || (out.Promotion != nil && out.Promotion.Err != "") || attemptInFlight(out.Decision)); try++ {
			if err == nil && attemptInFlight(out.Decision) {
				// As the refusal says: it counts as aborted after the
				// attempt window.
				wait := d.clock.Scale(p.operator.Bounds.AttemptWindow) + 5*time.Second
				d.logf("operator: failover --to %s: an earlier attempt may still be in flight: again in %s", p.region, wait.Round(time.Second))
				if d.clock.Sleep(ctx, wait) != nil {
					return
				}
				out, err = p.operator.Run(ctx)
				continue
			}
			if err != nil {
				d.logf("operator: failover --to %s: %v: again in 30s", p.region, err)
			} else {
				d.logf("operator: failover --to %s: %s: again in 30s", p.region, out.Promotion.Err)
			}
			if d.clock.Sleep(ctx, 30*time.Second) != nil {
				return
			}
			out, err = p.operator.Run(ctx)
		}
		if ctx.Err() != nil {
			return
		}
		switch {
		case err != nil:
			d.logf("operator: failover --to %s: %v", p.region, err)
		case out.Decision.Action != promoter.ActPromote:
			d.logf("operator: failover --to %s refused: %s", p.region, strings.Join(out.Decision.Refused(), ", "))
			d.tl.Set("operator", "refused", d.clock.Now())
		case out.Promotion != nil && out.Promotion.Err != "":
			d.logf("operator: failover --to %s: %s", p.region, out.Promotion.Err)
			d.tl.Set("operator", "failed", d.clock.Now())
		default:
			decided := d.clock.At(out.Observations.Now)
			d.mu.Lock()
			d.decisions = append(d.decisions, Decision{Region: p.region, Epoch: out.Decision.Epoch, AtS: decided.Sub(d.fault).Seconds(), Promote: true})
			d.mu.Unlock()
			d.tl.Mark("decision: the on-call's failover to "+p.region, decided)
			d.tl.Set("operator", "done", d.clock.Now())
		}
	})
}

// attemptInFlight says the latch alone refused, for an attempt whose outcome
// is not recorded yet (it counts as aborted after the attempt window).
func attemptInFlight(dec promoter.Decision) bool {
	return onlyRefusal(dec) == promoter.GuardLatch &&
		strings.Contains(dec.Verdict(promoter.GuardLatch).Reason, "may still be in flight")
}
