package drill

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"
	"github.com/redis/go-redis/v9"

	"github.com/redisha/redisha/internal/promoter"
	"github.com/redisha/redisha/internal/promoter/latch"
	"github.com/redisha/redisha/internal/sim/cwlocal"
	"github.com/redisha/redisha/internal/sim/ddblocal"
	"github.com/redisha/redisha/internal/sim/dnslocal"
	"github.com/redisha/redisha/internal/sim/eclocal"
)

// The Global Datastore and its regions as the AWS APIs name them.
const datastoreID = "ldgnf-redisha"

var awsRegion = map[string]string{"a": "us-east-1", "b": "us-west-2"}

func groupID(region string) string { return "redisha-" + region }

// datastore is the Global Datastore's control plane: the local ElastiCache
// endpoint (eclocal) whose failover hook re-points the real redis-servers.
type datastore struct {
	d  *Drill
	ec *eclocal.Server

	mu      sync.Mutex
	planned map[string]bool // target region of planned failovers in flight
	kinds   []bool          // planned or not, per completed failover, in order
}

func newDatastore(d *Drill) *datastore {
	ds := &datastore{d: d, planned: map[string]bool{}}
	ds.ec = eclocal.New(eclocal.Options{
		FailoverDelay: d.clock.Wall(d.cfg.FailoverDelay),
		OnFailover: func(f eclocal.Failover) error {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			return d.topo.FailoverGlobal(ctx, regionNamed(f.To.Region))
		},
	})
	ds.ec.PutDatastore(eclocal.Datastore{ID: datastoreID, Members: []eclocal.Member{
		{ReplicationGroupID: groupID("a"), Region: awsRegion["a"], Role: eclocal.RolePrimary},
		{ReplicationGroupID: groupID("b"), Region: awsRegion["b"], Role: eclocal.RoleSecondary},
	}})
	for _, r := range []string{"a", "b"} {
		ds.ec.PutGroup(eclocal.Group{ID: groupID(r), Region: awsRegion[r], Endpoint: EndpointName(r) + ":" + strconv.Itoa(d.topo.Port)})
	}
	return ds
}

func regionNamed(aws string) string {
	for r, a := range awsRegion {
		if a == aws {
			return r
		}
	}
	return aws
}

// Status is the datastore's status: available or modifying.
func (ds *datastore) Status() string {
	g, _ := ds.ec.Datastore(datastoreID)
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
	_, err := eclocal.NewClient(ds.ec.URL(), awsRegion[to], 3).FailoverGlobalReplicationGroup(ctx,
		&elasticache.FailoverGlobalReplicationGroupInput{GlobalReplicationGroupId: aws.String(datastoreID),
			PrimaryRegion: aws.String(awsRegion[to]), PrimaryReplicationGroupId: aws.String(groupID(to))})
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
		to := regionNamed(f.To.Region)
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
	client *redis.Client
	// cwPath is this promoter's network path to the other region's
	// CloudWatch.
	cwPath *link

	mu   sync.Mutex
	busy bool
	last string
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

// startPromoters builds a runner per region. The runners keep time on the
// wall clock with every bound divided by the speed: the heartbeat the
// checker writes carries wall time, so the promoter must read the same
// clock.
func (d *Drill) startPromoters(logs io.Writer) error {
	d.ddb = ddblocal.New()
	d.ddb.CreateTable("redisha-promoter", latch.KeyAttribute)
	// A second at least: the runner's calls must not time out on a loaded
	// machine (a cut path answers nothing and costs the whole timeout; a
	// lost region's endpoints refuse at once).
	call := max(d.clock.Wall(5*time.Second), time.Second)
	for _, r := range []string{"a", "b"} {
		other := "b"
		if r == "b" {
			other = "a"
		}
		cwPath, err := newLink("cloudwatch-from-"+r, strings.TrimPrefix(d.cw[other].URL(), "http://"))
		if err != nil {
			return err
		}
		resolver := dnslocal.NewResolver(d.dns.Addr(), d.clock)
		client := newClient(EndpointName(r)+":"+strconv.Itoa(d.topo.Port), resolver.DialContext, call, 2)
		p := &regionPromoter{region: r, client: client, cwPath: cwPath}
		p.runner = &promoter.Runner{
			Region: awsRegion[r], DatastoreID: datastoreID, GroupID: groupID(r),
			PeerRegion: awsRegion[other], PeerAlarm: writableAlarm(other),
			Mode: promoter.ModeAuto,
			Bounds: promoter.Bounds{StallAfter: d.clock.Wall(d.cfg.StallAfter), HeartbeatInterval: d.clock.Wall(d.cfg.Loop),
				MaxDataLoss: d.clock.Wall(d.cfg.MaxDataLoss), Cooldown: d.clock.Wall(d.cfg.Cooldown)},
			AcceptedLoss: d.clock.Wall(d.cfg.AcceptDataLoss),
			ElastiCache:  eclocal.NewClient(d.ds.ec.URL(), awsRegion[r], 3),
			Alarms:       cwlocal.NewClient("http://"+cwPath.Addr, 1),
			Redis:        promoter.RedisEndpoint{Client: client},
			Store:        latch.New(ddblocal.NewClient(d.ddb.URL(), awsRegion[r], 3), "redisha-promoter", datastoreID+"/"+awsRegion[r]),
			Log:          slog.New(slog.NewJSONHandler(logs, nil)),
			CallTimeout:  call, PromoteTimeout: d.clock.Wall(5 * time.Minute), PollInterval: max(d.clock.Wall(5*time.Second), 20*time.Millisecond),
		}
		d.promoters[r] = p
	}
	return nil
}

func (p *regionPromoter) close() {
	_ = p.client.Close()
	p.cwPath.Close()
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

	out, err := p.runner.Run(ctx)
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		d.logf("promoter %s: %v", p.region, err)
	}
	decided := d.clock.At(out.Observations.Now)
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
	case out.Decision.Verdict(promoter.GuardMember).Reason != "" && strings.Contains(out.Decision.Verdict(promoter.GuardMember).Reason, "already PRIMARY"):
		state = "primary"
	case strings.HasPrefix(out.Decision.Verdict(promoter.GuardEvidence).Reason, "partition"):
		state = "refuse: partition"
	case out.Decision.PrimaryDown && len(refused) > 0:
		state = "refuse: " + refused[0]
	}
	if state != p.last {
		p.last = state
		d.tl.Set("promoter "+p.region, state, decided)
	}
	if out.Promotion != nil && out.Promotion.Err != "" {
		d.logf("promoter %s: promotion stopped: %s", p.region, out.Promotion.Err)
	}
}
