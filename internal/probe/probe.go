// Package probe measures downtime to the millisecond while an endpoint is
// upgraded or fails over. Two series run side by side on their own
// connections: write availability (the check engine's primary check: SET NX
// PX + GET + DEL of a unique key) and read availability (GET of a probe key
// written at start). Each failure opens an outage window that the next
// success closes; role, run id and resolved IP changes are recorded as they
// happen, and a read probe key that vanishes is recorded as lost data.
//
// The engine speaks in typed events (Event, Change) through Config.Sink and
// returns a Summary; rendering them as text is the caller's business.
package probe

import (
	"context"
	"sync"
	"time"

	"github.com/redisha/redisha/internal/redisconn"
)

// Kind names a series.
type Kind string

// Series.
const (
	Write Kind = "write"
	Read  Kind = "read"
)

// Probe is one run: build it with New, run it once with Run.
type Probe struct {
	cfg  Config
	rec  *recorder
	key  *readKey
	w, r *series

	prepared   bool
	prepareErr error
	cl         *clusterRun // set by Prepare on a cluster
}

// New validates the configuration (the TLS CA file is read here, so a bad
// one is an error now, not a run of failed handshakes) and returns a probe
// ready to run.
func New(cfg Config) (*Probe, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if _, err := cfg.Conn.TLSConfig(); err != nil {
		return nil, err
	}
	p := &Probe{cfg: cfg, rec: newRecorder(cfg),
		key: &readKey{name: cfg.Prefix + "probe:" + randomHex(), ttl: readKeyTTL(cfg)}}
	var err error
	if p.w, err = newSeries(Write, cfg, p.rec, p.key); err != nil {
		return nil, err
	}
	if p.r, err = newSeries(Read, cfg, p.rec, p.key); err != nil {
		return nil, err
	}
	return p, nil
}

// Status is the live state, for a status line.
func (p *Probe) Status() Status { return p.rec.status() }

// Run probes until every cycle has run or ctx ends, then returns the
// summary. Ending waits for the checks in flight (each bounded by Timeout:
// a write is never cut half-way) and deletes the read probe key, so an
// interrupted run leaves no key behind.
func (p *Probe) Run(ctx context.Context) *Summary {
	cfg, rec, w, r := p.cfg, p.rec, p.w, p.r
	defer w.close()
	defer r.close()
	_ = p.Prepare(ctx) // an error leaves the one-node probe, which reports the outage
	// The read key is written at start, renewed by the write series every
	// minute, and written again after a read that found it missing. Down
	// at start is an outage to measure, not a reason to stop: the first
	// successful read writes the key.
	write, read := w.run, r.run
	if cl := p.cl; cl != nil {
		defer cl.close()
		for _, sh := range cl.shards {
			sh.key.write(ctx, sh)
		}
		defer cl.deleteKeys()
		var wp, rp = pacer{interval: cfg.Interval}, pacer{interval: cfg.Interval}
		write = func(ctx context.Context, until time.Time) {
			loop(ctx, until, &wp, func() outcome { return cl.write(ctx) })
		}
		read = func(ctx context.Context, until time.Time) {
			loop(ctx, until, &rp, func() outcome { return cl.read(ctx) })
		}
	} else {
		w.writeKey(ctx)
		defer w.deleteKey()
	}

	rec.begin()
	for cycle := 1; cycle <= cfg.Cycles; cycle++ {
		var until time.Time
		if cfg.Duration > 0 {
			until = time.Now().Add(cfg.Duration)
		}
		rec.event(Event{Type: EventCycle, Cycle: cycle, Cycles: cfg.Cycles})
		var wg sync.WaitGroup
		for _, run := range []func(context.Context, time.Time){write, read} {
			wg.Go(func() { run(ctx, until) })
		}
		wg.Wait()
		if ctx.Err() != nil || cycle == cfg.Cycles {
			break
		}
		brk := cfg.Break.Milliseconds()
		rec.event(Event{Type: EventBreak, Cycle: cycle, Cycles: cfg.Cycles, BreakMS: &brk})
		if !pause(ctx, time.Time{}, cfg.Break) {
			break
		}
	}
	return rec.summary()
}

// readKeyTTL is the read probe key's expiry. The write series renews it
// every readKeyRenew while writes succeed, so the key outlives a long run
// and a break between cycles, yet a run killed outright (SIGKILL, a lost
// bastion) leaves it behind for minutes, not for a day.
func readKeyTTL(cfg Config) time.Duration {
	return 10*time.Minute + cfg.Break + cfg.Interval
}

// readKeyRenew is how often the write series renews the read probe key.
const readKeyRenew = time.Minute

// newClient is the one reconnecting client both series use: dropped after
// a connection error or READONLY, redialed (and the name resolved again)
// by the next check.
func newClient(cfg Config) (*redisconn.Client, error) {
	conn := cfg.Conn
	conn.DialTimeout, conn.IOTimeout = cfg.Timeout, cfg.Timeout
	return redisconn.NewClient(conn)
}
