// Package probe measures downtime to the millisecond while an endpoint is
// upgraded or fails over. Two series run side by side on their own
// connections: write availability (SET NX PX + DEL of a unique key, the check
// engine's primary check) and read availability (GET of a probe key written
// at start). Each failure opens an outage window that the next success
// closes; role, run id and resolved IP changes are recorded as they happen.
package probe

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redisha/redisha/internal/check"
	"github.com/redisha/redisha/internal/redisconn"
)

// Kind names a series.
type Kind string

// Series.
const (
	Write Kind = "write"
	Read  Kind = "read"
)

// Config shapes a probe run.
type Config struct {
	// Conn is the endpoint.
	Conn redisconn.Config
	// Timeout bounds each check; a check that outlasts it is a failure, so a
	// stall shows as an outage. default: 1 second
	Timeout time.Duration
	// Duration of each cycle. 0 runs until the context ends.
	Duration time.Duration
	// Interval between the checks of one series; 0 runs them back to back.
	Interval time.Duration
	// Cycles to run, with Break between them. default: 1
	Cycles int
	// Break between cycles.
	Break time.Duration
	// Prefix of the probe's keys. default: healthcheck:
	Prefix string
	// KeyTTL of each write key. default: 30 seconds
	KeyTTL time.Duration
	// SampleEvery is how often a success is written to the event log (state
	// changes and failures are always written). default: 1 second
	SampleEvery time.Duration
	// Sink receives every recorded event as it happens (may be nil).
	Sink func(Event)
}

func (c Config) withDefaults() Config {
	if c.Timeout <= 0 {
		c.Timeout = time.Second
	}
	if c.Cycles <= 0 {
		c.Cycles = 1
	}
	if c.Prefix == "" {
		c.Prefix = check.DefaultPrefix
	}
	if c.KeyTTL <= 0 {
		c.KeyTTL = check.DefaultKeyTTL
	}
	if c.SampleEvery <= 0 {
		c.SampleEvery = time.Second
	}
	return c
}

// Probe is one run.
type Probe struct {
	cfg Config
	rec *recorder
}

// New validates the configuration and returns a probe ready to run.
func New(cfg Config) (*Probe, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Conn.Validate(); err != nil {
		return nil, err
	}
	return &Probe{cfg: cfg, rec: newRecorder(cfg)}, nil
}

// Status is the live state, for a status line.
func (p *Probe) Status() Status { return p.rec.status() }

// Run probes until every cycle has run or stop is closed, then returns the
// summary. Stopping waits for the checks in flight (each bounded by
// Timeout) and deletes the read probe key, so an interrupted run leaves no
// key behind.
func (p *Probe) Run(ctx context.Context, stop <-chan struct{}) *Summary {
	cfg, rec := p.cfg, p.rec
	readKey := cfg.Prefix + "probe:" + randomHex()

	w := newSeries(Write, cfg, rec, readKey)
	r := newSeries(Read, cfg, rec, readKey)
	defer w.close()
	defer r.close()
	// The read key is written at start, renewed by the write series every
	// minute, and written again after a read that found it missing (e.g.
	// after a restart without persistence).
	if err := w.writeReadKey(ctx); err != nil {
		// Down at start is an outage to measure, not a reason to stop; the
		// first successful read writes the key.
		rec.note(Write, "could not write the read probe key at start: "+err.Error())
	}
	defer r.deleteReadKey()

	rec.begin()
	for cycle := 1; cycle <= cfg.Cycles; cycle++ {
		var until time.Time
		if cfg.Duration > 0 {
			until = time.Now().Add(cfg.Duration)
		}
		rec.mark(fmt.Sprintf("cycle %d of %d started", cycle, cfg.Cycles))
		var wg sync.WaitGroup
		for _, s := range []*series{w, r} {
			wg.Add(1)
			go func() { defer wg.Done(); s.loop(ctx, stop, until) }()
		}
		wg.Wait()
		if stopped(ctx, stop) || cycle == cfg.Cycles {
			break
		}
		rec.mark(fmt.Sprintf("cycle %d ended, break of %s", cycle, cfg.Break))
		select {
		case <-time.After(cfg.Break):
		case <-stop:
		case <-ctx.Done():
		}
		if stopped(ctx, stop) {
			break
		}
	}
	return rec.summary()
}

func stopped(ctx context.Context, stop <-chan struct{}) bool {
	select {
	case <-stop:
		return true
	case <-ctx.Done():
		return true
	default:
		return false
	}
}

// series runs one kind of check over its own reconnecting client.
type series struct {
	kind    Kind
	cfg     Config
	rec     *recorder
	readKey string
	conn    redisconn.Config
	opts    check.Options

	dials  atomic.Int64
	lastIP atomic.Value // string
	seen   int64        // dials already looked at (loop goroutine only)
	client *redis.Client
	// renewed is when the read probe key was last written (write series).
	renewed time.Time
	// sawReadOnly is set once the server behind a READONLY answer has been
	// described, until the next success.
	sawReadOnly bool
}

func newSeries(kind Kind, cfg Config, rec *recorder, readKey string) *series {
	s := &series{kind: kind, cfg: cfg, rec: rec, readKey: readKey,
		opts: check.Options{Prefix: cfg.Prefix, KeyTTL: cfg.KeyTTL, ExpectRole: check.Primary}}
	conn := cfg.Conn
	conn.DialTimeout, conn.IOTimeout = cfg.Timeout, cfg.Timeout
	base := conn.Dialer
	if base == nil {
		d := &net.Dialer{Timeout: cfg.Timeout}
		base = d.DialContext
	}
	// Every dial resolves the name again, so an endpoint that moves
	// (failover, CNAME flip) is followed; the IP reached is recorded.
	conn.Dialer = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := base(ctx, network, addr)
		if err == nil {
			ip := c.RemoteAddr().String()
			if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
				ip = ta.IP.String()
			}
			s.lastIP.Store(ip)
			s.dials.Add(1)
		}
		return c, err
	}
	s.conn = conn
	return s
}

// get returns the series' client, building one after a drop. go-redis's
// own pool would back off a second after failed dials; a fresh client dials
// at once.
func (s *series) get() (*redis.Client, error) {
	if s.client == nil {
		c, err := redisconn.New(s.conn)
		if err != nil {
			return nil, err
		}
		s.client = c
	}
	return s.client, nil
}

func (s *series) drop() {
	if s.client != nil {
		_ = s.client.Close()
		s.client = nil
	}
}

func (s *series) close() { s.drop() }

func (s *series) loop(ctx context.Context, stop <-chan struct{}, until time.Time) {
	for !stopped(ctx, stop) && (until.IsZero() || time.Now().Before(until)) {
		s.once(ctx)
		if s.cfg.Interval > 0 {
			select {
			case <-time.After(s.cfg.Interval):
			case <-stop:
			case <-ctx.Done():
			}
		}
	}
}

// once runs one check of the series and records it. The check is cut only
// by its own timeout, never by stop, so a write is never left half-done.
func (s *series) once(ctx context.Context) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.Timeout)
	defer cancel()
	start := time.Now()
	ok, missing, reason, errText := s.check(cctx)
	lat := time.Since(start)
	s.rec.record(s.kind, start, lat, ok, reason, errText, s.ip())
	if !ok && reason == check.ReasonReadOnly && !s.sawReadOnly {
		// Once per READONLY spell, say who answered it (typically a
		// demoted primary: role master → slave).
		s.sawReadOnly = true
		s.describeServer(ctx)
	}
	// READONLY too: after a failover the old primary answers READONLY on
	// the open connection while the endpoint's name already points at the
	// new one; only a new dial follows it.
	if !ok && (reason.Connection() || reason == check.ReasonReadOnly) {
		s.drop()
	}
	if ok {
		s.sawReadOnly = false
		s.lookAtServer(ctx)
		if missing {
			s.rec.note(s.kind, "read probe key missing (dataset lost or not replicated): written again")
		}
		if s.kind == Write && time.Since(s.renewed) >= readKeyRenew {
			_ = s.writeReadKey(ctx)
		}
	}
}

func (s *series) check(ctx context.Context) (ok, missing bool, reason check.Reason, errText string) {
	c, err := s.get()
	if err != nil {
		return false, false, check.ReasonUnknown, err.Error()
	}
	if s.kind == Write {
		r := check.Check(ctx, c, s.opts)
		return r.Healthy, false, r.Reason, r.Error
	}
	err = c.Get(ctx, s.readKey).Err()
	switch {
	case err == nil:
		return true, false, "", ""
	case errors.Is(err, redis.Nil):
		// Readable, but the key is gone: write it again for later reads.
		_ = c.Set(ctx, s.readKey, "redisha probe", s.readKeyTTL()).Err()
		return true, true, "", ""
	}
	return false, false, check.Classify(err), err.Error()
}

// readKeyTTL is the read probe key's expiry. The write series renews it
// every readKeyRenew while writes succeed, so the key outlives a long run
// and a break between cycles, yet a run killed outright (SIGKILL, a lost
// bastion) leaves it behind for minutes, not for a day.
func (s *series) readKeyTTL() time.Duration {
	return 10*time.Minute + s.cfg.Break + s.cfg.Interval
}

// readKeyRenew is how often the write series renews the read probe key.
const readKeyRenew = time.Minute

// writeReadKey writes (or renews) the read probe key.
func (s *series) writeReadKey(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.Timeout)
	defer cancel()
	c, err := s.get()
	if err != nil {
		return err
	}
	if err := c.Set(cctx, s.readKey, "redisha probe", s.readKeyTTL()).Err(); err != nil {
		s.drop()
		return err
	}
	s.renewed = time.Now()
	return nil
}

// deleteReadKey removes the read probe key at the end, on a fresh deadline
// (the run's context may already be cancelled).
func (s *series) deleteReadKey() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*s.cfg.Timeout)
	defer cancel()
	if c, err := s.get(); err == nil {
		if c.Del(ctx, s.readKey).Err() != nil {
			// One more try on a fresh connection.
			s.drop()
			if c, err := s.get(); err == nil {
				_ = c.Del(ctx, s.readKey).Err()
			}
		}
	}
}

func (s *series) ip() string {
	v, _ := s.lastIP.Load().(string)
	return v
}

// lookAtServer reads the role and run id after each new connection, so a
// failover or restart shows in the event log when it happens.
func (s *series) lookAtServer(ctx context.Context) {
	d := s.dials.Load()
	if d == s.seen || s.client == nil {
		return
	}
	s.seen = d
	s.describeServer(ctx)
}

// describeServer records the role, run id and IP of the server on the open
// connection.
func (s *series) describeServer(ctx context.Context) {
	if s.client == nil {
		return
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.Timeout)
	defer cancel()
	info, err := s.client.Info(cctx, "server", "replication").Result()
	if err != nil {
		return
	}
	s.rec.server(s.kind, infoField(info, "role"), infoField(info, "run_id"), s.ip())
}

func infoField(info, name string) string {
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+":"); ok {
			return v
		}
	}
	return ""
}
