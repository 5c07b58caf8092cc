package drill

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/redisha/redisha/internal/alarmeval"
	"github.com/redisha/redisha/internal/check"
)

// This file holds the stand-ins the drill uses for the Global Datastore's
// control plane and for the guarded promoter. They keep the promoter's
// guards and their order (evidence, datastore, member, data loss, latch,
// mode) so the scenarios assert the behaviour the promoter must have.

// datastore is the Global Datastore's control plane: its status and which
// region's member is PRIMARY; a failover keeps it modifying for a delay and
// then swaps the roles on the real redis-servers.
type datastore struct {
	d *Drill

	mu        sync.Mutex
	status    string // available or modifying
	failovers []failoverEvent
}

type failoverEvent struct {
	To                   string
	Requested, Completed time.Time // scenario time
	Planned              bool
}

func (ds *datastore) Status() string {
	ds.mu.Lock()
	defer ds.mu.Unlock()
	return ds.status
}

// Failover is FailoverGlobalReplicationGroup: refused unless available.
func (ds *datastore) Failover(ctx context.Context, to string, planned bool) error {
	ds.mu.Lock()
	if ds.status != "available" {
		ds.mu.Unlock()
		return fmt.Errorf("InvalidGlobalReplicationGroupState: the Global Datastore is %s", ds.status)
	}
	if ds.d.topo.PrimaryRegion() == to {
		ds.mu.Unlock()
		return fmt.Errorf("InvalidParameterCombination: %s is already the primary region", to)
	}
	ds.status = "modifying"
	ev := failoverEvent{To: to, Requested: ds.d.clock.Now(), Planned: planned}
	ds.mu.Unlock()
	ds.d.tl.Set("datastore", "modifying", ev.Requested)
	go func() {
		_ = ds.d.clock.Sleep(ctx, ds.d.cfg.FailoverDelay)
		err := ds.d.topo.FailoverGlobal(context.WithoutCancel(ctx), to)
		now := ds.d.clock.Now()
		ds.mu.Lock()
		ds.status = "available"
		if err == nil {
			ev.Completed = now
			ds.failovers = append(ds.failovers, ev)
		}
		ds.mu.Unlock()
		ds.d.tl.Set("datastore", "primary "+ds.d.topo.PrimaryRegion(), now)
		if err != nil {
			ds.d.logf("datastore: failover to %s failed: %v", to, err)
			return
		}
		ds.d.tl.Mark("promoted "+to, now)
	}()
	return nil
}

func (ds *datastore) Failovers() []failoverEvent {
	ds.mu.Lock()
	defer ds.mu.Unlock()
	return append([]failoverEvent(nil), ds.failovers...)
}

// promoterState is what a region's promoter keeps between runs.
type promoterState struct {
	hbSeq        uint64
	hbWritten    time.Time
	hbAdvanced   time.Time // scenario time a new heartbeat was last seen
	healthyAge   time.Duration
	primary      string
	promotedAt   time.Time
	epoch        uint64
	lastDecision string
}

// Decision is one promoter run's outcome.
type Decision struct {
	Region  string        `json:"region"`
	Epoch   uint64        `json:"epoch"`
	At      time.Duration `json:"-"`
	AtS     float64       `json:"at_s"`
	Promote bool          `json:"promote"`
	// Refused names the guards that did not hold, with their reasons.
	Refused []string `json:"refused,omitempty"`
}

// runPromoter is one run of the region's promoter.
func (d *Drill) runPromoter(ctx context.Context, region string) Decision {
	st := d.prom[region]
	now := d.clock.Now()
	st.epoch++
	dec := Decision{Region: region, Epoch: st.epoch}
	other := "a"
	if region == "a" {
		other = "b"
	}

	// Observations, each read afresh.
	hb, hbErr := readHeartbeat(ctx, d.topo.Primary(region).Addr)
	if hbErr == nil && hb != nil && (hb.Seq != st.hbSeq || !hb.Written.Equal(st.hbWritten) || st.hbAdvanced.IsZero()) {
		st.hbSeq, st.hbWritten, st.hbAdvanced = hb.Seq, hb.Written, now
		st.healthyAge = max(now.Sub(d.clock.At(hb.Written)), 0)
	}
	primary := d.topo.PrimaryRegion()
	if st.primary != "" && st.primary != primary {
		st.promotedAt = now // a promotion happened: the latch starts
	}
	st.primary = primary
	alarmState, unreachable := d.alarms.State(writableAlarm(other)), d.cloudWatchDown(other)

	var refused []string
	refuse := func(guard, why string) { refused = append(refused, guard+": "+why) }
	// evidence: the heartbeat stopped advancing here, and the other region's
	// writable alarm is in ALARM or its CloudWatch is unreachable.
	stalled := now.Sub(st.hbAdvanced)
	observersDown := unreachable || alarmState == alarmeval.StateAlarm
	switch {
	case hbErr != nil:
		refuse("evidence", "cannot read the heartbeat in the local replica: "+hbErr.Error())
	case st.hbAdvanced.IsZero():
		refuse("evidence", "no heartbeat seen yet")
	case stalled < d.cfg.StallAfter && observersDown:
		refuse("evidence", fmt.Sprintf("partition: heartbeat advanced %s ago while the observers see the primary down", stalled.Round(time.Second)))
	case stalled < d.cfg.StallAfter:
		refuse("evidence", fmt.Sprintf("primary alive: heartbeat advanced %s ago", stalled.Round(time.Second)))
	case !observersDown:
		refuse("evidence", fmt.Sprintf("heartbeat stalled %s but the primary region's writable alarm is %s: replication link broken", stalled.Round(time.Second), alarmState))
	}
	if s := d.ds.Status(); s != "available" {
		refuse("datastore", "the Global Datastore is "+s)
	}
	if primary == region {
		refuse("member", "the local member is already PRIMARY")
	}
	if limit := d.cfg.Loop + d.cfg.MaxDataLoss; st.healthyAge > limit && d.cfg.AcceptDataLoss < st.healthyAge {
		refuse("data-loss", fmt.Sprintf("stale secondary: the heartbeat was %s old when last seen healthy, over %s", st.healthyAge.Round(time.Second), limit))
	}
	if !st.promotedAt.IsZero() && now.Sub(st.promotedAt) < d.cfg.Cooldown {
		refuse("latch", fmt.Sprintf("a promotion %s ago, inside the %s cooldown", now.Sub(st.promotedAt).Round(time.Second), d.cfg.Cooldown))
	}
	dec.Refused = refused
	dec.Promote = len(refused) == 0
	dec.At = now.Sub(d.t0())
	dec.AtS = dec.At.Seconds()

	sig := strings.Join(refused, "|")
	if sig != st.lastDecision {
		st.lastDecision = sig
		state := "wait"
		switch {
		case dec.Promote:
			state = "promote"
		case len(refused) > 0 && strings.HasPrefix(refused[0], "evidence: partition"):
			state = "refuse: partition"
		case len(refused) > 0 && !strings.HasPrefix(refused[0], "evidence") && !strings.HasPrefix(refused[0], "member"):
			state = "refuse: " + strings.SplitN(refused[0], ":", 2)[0]
		}
		d.tl.Set("promoter "+region, state, now)
	}
	if dec.Promote {
		st.promotedAt = now
		d.tl.Mark("decision "+region, now)
		if err := d.ds.Failover(ctx, region, false); err != nil {
			d.logf("promoter %s: failover: %v", region, err)
		}
	}
	return dec
}

// readHeartbeat reads the primary's heartbeat from addr; nil when absent.
func readHeartbeat(ctx context.Context, addr string) (*check.Heartbeat, error) {
	ctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	c := adminClient(addr)
	defer c.Close()
	v, err := c.Get(ctx, "healthcheck:heartbeat").Result()
	if err != nil {
		if err.Error() == "redis: nil" {
			return nil, nil
		}
		return nil, err
	}
	hb, err := check.ParseHeartbeat(v)
	if err != nil {
		return nil, err
	}
	return &hb, nil
}
