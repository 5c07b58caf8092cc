package check

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"sync"
	"sync/atomic"

	"github.com/redis/go-redis/v9"

	"github.com/redisha/redisha/internal/redisconn"
)

// Checker runs checks over one reconnecting client (redisconn.Client). It
// follows an endpoint that moves: a READONLY answer or a dropped connection
// on a warm connection closes it and checks again on a freshly dialed one
// within the same deadline, and only that answer counts. It remembers the
// node's last role, so in Auto a warm check is one round trip; it numbers
// the heartbeats it writes.
type Checker struct {
	conn *redisconn.Client
	opts Options

	mu   sync.Mutex
	last Role // Auto: the role the node last reported

	seq atomic.Uint64
}

// New returns a Checker over conn with the options.
func New(conn *redisconn.Client, o Options) *Checker {
	k := &Checker{conn: conn, opts: o.withDefaults(), last: Primary}
	// A restart starts from a random base: readers only compare sequences
	// for change, and a restarted writer must not repeat an old one.
	var b [8]byte
	_, _ = rand.Read(b[:])
	k.seq.Store(binary.BigEndian.Uint64(b[:]) >> 16)
	return k
}

// NewChecker returns a Checker that builds its go-redis client with
// newClient, lazily on the first check and again whenever the connection is
// finished.
func NewChecker(newClient func() (*redis.Client, error), o Options) *Checker {
	return New(redisconn.NewClientFunc(newClient), o)
}

// Options returns the options every check of this Checker uses.
func (k *Checker) Options() Options { return k.opts }

// Check runs one check.
func (k *Checker) Check(ctx context.Context) Result {
	o := k.opts
	start := o.Now()
	if o.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Timeout)
		defer cancel()
	}
	r := k.check(ctx, o)
	r.Start = start
	r.Remote = k.conn.RemoteAddr()
	r.finish(ctx, o.Now())
	return r
}

func (k *Checker) check(ctx context.Context, o Options) Result {
	c, warm, err := k.conn.Get()
	if err != nil {
		r := Result{Role: k.role()}
		r.fail(StepPing, ReasonUnknown, err)
		return r
	}
	return k.checkOn(ctx, o, c, warm)
}

// checkOn is check on the client c that k.conn returned; warm says whether
// its connection may be left over from before the endpoint moved.
func (k *Checker) checkOn(ctx context.Context, o Options, c *redis.Client, warm bool) Result {
	var err error
	hb := Heartbeat{Region: o.Region}
	if o.Heartbeat {
		hb.Seq = k.seq.Add(1)
	}
	role := o.ExpectRole
	if role == Auto {
		role = k.role()
	}
	r, seen := attempt(ctx, c, o, role, hb)
	redialed := Reason("")
	if warm && (r.Reason == ReasonReadOnly || r.Reason == ReasonReset) && ctx.Err() == nil {
		// The endpoint has likely moved (a failover): this connection still
		// reaches the demoted node, or the node dropped it. Ask a fresh one,
		// before any role change: on the old node, READONLY is no news.
		redialed = r.Reason
		k.conn.Drop(c)
		if c, _, err = k.conn.Get(); err != nil {
			r.fail(StepPing, ReasonUnknown, err)
			return r
		}
		r, seen = attempt(ctx, c, o, role, hb)
	}
	if o.ExpectRole == Auto && seen != "" && seen != role && ctx.Err() == nil {
		// The node's role changed: check it once more as what it is.
		r, _ = attempt(ctx, c, o, seen, hb)
	}
	r.Redialed, r.RedialReason = redialed != "", redialed
	if o.ExpectRole == Auto && r.Step != StepPing && r.Step != StepRole {
		k.setRole(r.Role)
	}
	if !r.Healthy && (r.Reason.Connection() || r.Reason == ReasonReadOnly) {
		k.conn.Drop(c)
	}
	return r
}

func (k *Checker) role() Role {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.last
}

func (k *Checker) setRole(r Role) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.last = r
}

// Close releases the client.
func (k *Checker) Close() error { return k.conn.Close() }
