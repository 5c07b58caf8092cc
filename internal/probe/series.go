package probe

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redisha/redisha/internal/check"
	"github.com/redisha/redisha/internal/redisconn"
)

// series runs one kind of check over its own reconnecting client.
type series struct {
	kind    Kind
	cfg     Config
	rec     *recorder
	key     *readKey
	conn    *redisconn.Client
	checker *check.Checker // write series
	pace    pacer

	seen int64 // dials already described (series goroutine only)
	// sawReadOnly is set once the server behind a READONLY answer has been
	// described, until the next success.
	sawReadOnly bool
}

func newSeries(kind Kind, cfg Config, rec *recorder, key *readKey) (*series, error) {
	conn, err := newClient(cfg)
	if err != nil {
		return nil, err
	}
	s := &series{kind: kind, cfg: cfg, rec: rec, key: key, conn: conn, pace: pacer{interval: cfg.Interval}}
	if kind == Write {
		s.checker = check.New(conn, check.Options{Prefix: cfg.Prefix, KeyTTL: cfg.KeyTTL,
			ExpectRole: check.Primary, Timeout: cfg.Timeout})
	}
	return s, nil
}

func (s *series) close() { _ = s.conn.Close() }

func (s *series) run(ctx context.Context, until time.Time) {
	loop(ctx, until, &s.pace, func() outcome { return s.once(ctx) })
}

// once runs one check of the series and records it. The check is cut only
// by its own timeout, never by the end of ctx, so a write is never left
// half-done.
func (s *series) once(ctx context.Context) outcome {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.Timeout)
	defer cancel()
	dials := s.conn.Dials()
	var r check.Result
	if s.kind == Write {
		r = s.checker.Check(cctx)
		if r.Healthy && r.Redialed {
			// The check's connection failed (a kill, a reset, READONLY)
			// and the checker's own redial succeeded. An application
			// without retries saw that command fail, and so does the read
			// series, which never retries: count it as the failure it was.
			// The next check, on the new connection, closes the window.
			r.Healthy, r.Reason = false, r.RedialReason
			r.Error = "the connection failed (" + string(r.RedialReason) + "); the check's redial on a new connection succeeded"
		}
	} else {
		r = s.read(cctx)
	}
	s.rec.record(s.kind, r.Start, r.Latency, r.Healthy, r.Reason, r.Error, s.ip())
	if !r.Healthy && r.Reason == check.ReasonReadOnly && !s.sawReadOnly {
		// Once per READONLY spell, say who answered it (typically a
		// demoted primary: role master → slave).
		s.sawReadOnly = true
		s.describeServer(ctx)
	}
	if r.Healthy {
		s.sawReadOnly = false
		s.lookAtServer(ctx)
		if s.kind == Write {
			s.key.renew(ctx, s)
		}
	}
	return outcome{ok: r.Healthy, reason: r.Reason, took: r.Latency, dials: s.conn.Dials() - dials}
}

// read is the read series' check: a GET of the read probe key. A missing
// key is a successful read (the server answered), and may be lost data.
func (s *series) read(ctx context.Context) check.Result {
	r := check.Result{Start: time.Now(), Role: check.Replica}
	c, _, err := s.conn.Get()
	if err == nil {
		err = c.Get(ctx, s.key.name).Err()
	}
	r.Latency = time.Since(r.Start)
	switch {
	case err == nil:
		r.Healthy = true
		s.key.found()
	case errors.Is(err, redis.Nil):
		r.Healthy = true
		s.key.missing(ctx, s, r.Start.Add(r.Latency))
	default:
		r.Step, r.Reason, r.Error = check.StepGet, check.Classify(err), err.Error()
		if costsConnection(r.Reason) && c != nil {
			s.conn.Drop(c)
		}
	}
	return r
}

func (s *series) ip() string { return hostOf(s.conn.RemoteAddr()) }

// lookAtServer reads the role and run id after each new connection, so a
// failover or restart shows in the event log when it happens.
func (s *series) lookAtServer(ctx context.Context) {
	d := s.conn.Dials()
	if d == s.seen {
		return
	}
	s.seen = d
	s.describeServer(ctx)
}

// describeServer records the role, run id and IP of the server the
// series' client reaches.
func (s *series) describeServer(ctx context.Context) {
	c, _, err := s.conn.Get()
	if err != nil {
		return
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.Timeout)
	defer cancel()
	start := time.Now()
	info, err := c.Info(cctx, "server", "replication").Result()
	if err != nil {
		// A round trip the server did not answer is a failed check: a
		// stall that begins during it starts its window here, not one
		// timeout later.
		reason := check.Classify(err)
		s.rec.record(s.kind, start, time.Since(start), false, reason, err.Error(), s.ip())
		if costsConnection(reason) {
			s.conn.Drop(c)
		}
		return
	}
	s.seen = s.conn.Dials()
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

// readKey is the read series' probe key and what is known of it. The write
// series writes and renews it; the read series finds it, or finds it
// missing: lost data when it had been written within its TTL and stays
// missing for lossConfirm.
type readKey struct {
	name string
	ttl  time.Duration

	mu      sync.Mutex
	written time.Time // last successful write; zero before the first
	tried   time.Time // last write attempt
	// missingSince is the first read of a spell that found no key; zero
	// while the key is found.
	missingSince time.Time
	lost         bool // the loss is recorded; not written again yet
	failing      bool // the last write failed (noted once)
}

// lossConfirm is how long the key must stay missing before it counts as
// lost: a node in the middle of a full resync (a demoted primary after a
// failover) can answer from an empty data set for a moment and then have
// the key again.
const lossConfirm = time.Second

// keyStore is where a read probe key is written: a series' one node, or
// the shard of a cluster the key hashes to.
type keyStore interface {
	// setKey writes the key, dropping the connection it failed on.
	setKey(ctx context.Context, k *readKey) error
	// note records an event about the key.
	note(e Event)
	// lost records the key found missing since since, written at written.
	lost(since, written time.Time)
	config() Config
}

// write writes (or renews) the key and notes a failure once, until a write
// succeeds again.
func (k *readKey) write(ctx context.Context, st keyStore) {
	now := time.Now()
	k.mu.Lock()
	k.tried = now
	k.mu.Unlock()
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), st.config().Timeout)
	defer cancel()
	err := st.setKey(cctx, k)
	k.mu.Lock()
	defer k.mu.Unlock()
	if err != nil {
		if !k.failing {
			k.failing = true
			st.note(Event{Type: EventKeyWriteFailed, Reason: check.Classify(err), Error: err.Error()})
		}
		return
	}
	k.written = now
	if k.failing || k.lost {
		st.note(Event{Type: EventKeyWritten})
	}
	k.failing, k.lost, k.missingSince = false, false, time.Time{}
}

// renew rewrites the key every readKeyRenew, and sooner after a failed
// write (at most once per SampleEvery).
func (k *readKey) renew(ctx context.Context, st keyStore) {
	k.mu.Lock()
	due := time.Since(k.written) >= readKeyRenew && time.Since(k.tried) >= st.config().SampleEvery
	k.mu.Unlock()
	if due {
		k.write(ctx, st)
	}
}

// found notes a read that found the key.
func (k *readKey) found() {
	k.mu.Lock()
	k.lost, k.missingSince = false, time.Time{}
	k.mu.Unlock()
}

// missing handles a read that found no key. Never written, or old enough
// to have expired: the key is written (again). Written within its TTL and
// missing for lossConfirm: lost data, recorded once, then written again,
// at most once per SampleEvery while writes fail (a replica answers
// READONLY to each).
func (k *readKey) missing(ctx context.Context, st keyStore, at time.Time) {
	k.mu.Lock()
	expected := k.written.IsZero() || at.Sub(k.written) >= k.ttl
	if !expected && k.missingSince.IsZero() {
		k.missingSince = at
	}
	since, written := k.missingSince, k.written
	lostNow := !expected && !k.lost && at.Sub(since) >= lossConfirm
	if lostNow {
		k.lost = true
	}
	due := (expected || k.lost) && (!k.failing || time.Since(k.tried) >= st.config().SampleEvery)
	k.mu.Unlock()
	if lostNow {
		st.lost(since, written)
	}
	if due {
		k.write(ctx, st)
	}
}

// setKey, note, lost and config make a series the keyStore of its key.
func (s *series) setKey(ctx context.Context, k *readKey) error {
	c, _, err := s.conn.Get()
	if err == nil {
		err = c.Set(ctx, k.name, "redisha probe", k.ttl).Err()
		if err != nil && costsConnection(check.Classify(err)) && s.kind == Write {
			s.conn.Drop(c)
		}
	}
	return err
}

func (s *series) note(e Event) {
	e.Series = s.kind
	s.rec.event(e)
}

func (s *series) lost(since, written time.Time) { s.rec.lost("", since, written) }

func (s *series) config() Config { return s.cfg }

// writeKey writes the key at start.
func (s *series) writeKey(ctx context.Context) { s.key.write(ctx, s) }

// deleteKey removes the key at the end, on a fresh deadline (the run's
// context may already be cancelled), with one more try on a fresh
// connection.
func (s *series) deleteKey() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*s.cfg.Timeout)
	defer cancel()
	for range 2 {
		c, _, err := s.conn.Get()
		if err != nil {
			return
		}
		if err = c.Del(ctx, s.key.name).Err(); err == nil {
			return
		}
		s.conn.Drop(c)
	}
}
