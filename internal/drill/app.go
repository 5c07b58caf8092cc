package drill

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/redisha/redisha/internal/sim/dnslocal"
)

// App states on the timeline.
const (
	appWriting  = "writing"
	appReadOnly = "read-only"
	appDown     = "no writes"
)

// op is one application write (and its read back).
type op struct {
	at    time.Time // scenario time the write was sent
	ok    bool
	class string // "" when ok; readonly, refused, timeout, reset, dns, error
	seq   uint64
}

// app is an application in one region: it resolves redis.internal through
// the zone, writes sequence-numbered keys and reads each one back, and
// reconnects (re-resolving the name) after any error, as a client that
// follows a failover must.
type app struct {
	region string // its region in the report and the timeline
	// lang is "go" for the drill's own applications, or a Program's name.
	lang string
	// retries: its client retries inside a write (the Programs), so a
	// write that spans the outage may end acknowledged; its outage is then
	// the longest time between two acknowledged writes.
	retries bool
	// keys names its keys (appKey); ttl, when set, expires them (a real
	// deployment keeps none of the drill's data).
	keys string
	ttl  time.Duration
	// dial opens a client of redis.internal (of a sharded group, a cluster
	// client); timeout bounds each write and its read back.
	dial    func() redis.UniversalClient
	timeout time.Duration
	now     func() time.Time
	tl      *Timeline

	mu     sync.Mutex
	lastOK time.Time // the last acknowledged write
	// changed is when its state last changed on the timeline.
	changed time.Time
	ops     []op
	acked   []uint64
	state   string
	client  redis.UniversalClient
}

func newApp(d *Drill, region string, resolver *dnslocal.Resolver) *app {
	addr := net.JoinHostPort(d.dns.Name()[:len(d.dns.Name())-1], strconv.Itoa(d.topo.Port))
	dial := d.appPaths.dialer(region, d.topo.regionOfIP, resolver.DialContext)
	a := &app{region: region, lang: "go", keys: region, timeout: 2 * d.opTimeout(), now: d.clock.Now, tl: d.tl,
		dial: func() redis.UniversalClient { return newClient(addr, dial, d.opTimeout(), 1) }}
	if d.topo.Sharded() {
		a.dial = func() redis.UniversalClient { return newClusterApp(addr, dial, d.opTimeout()) }
	}
	return a
}

// newClusterApp is the client of a sharded group's application: a go-redis
// cluster client seeded at redis.internal, its nodes (named by loopback
// addresses, so reached at redis.internal and their own ports, go-redis's
// rule) dialed along the application's routes, which a game day can cut,
// through the zone's resolver and its TTL. Like the one-node application it
// is built again after any error, so the topology is read again through the
// name: a failover's record move is followed.
func newClusterApp(addr string, dial func(context.Context, string, string) (net.Conn, error), timeout time.Duration) redis.UniversalClient {
	return redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{addr}, Dialer: dial, Protocol: 2, DisableIdentity: true,
		MaxRetries: -1, MaxRedirects: 3, DialerRetries: 1, PoolSize: 1, DialTimeout: timeout, ReadTimeout: timeout,
		WriteTimeout: timeout, ContextTimeoutEnabled: true,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}})
}

// appKey is the key of write seq by the app in region.
func appKey(region string, seq uint64) string {
	return appKeyPrefix(region) + strconv.FormatUint(seq, 10)
}

// appKeyPrefix is what every key of the app named keys starts with.
func appKeyPrefix(keys string) string { return "drill:app-" + keys + ":" }

// run writes until ctx ends, one write every interval (wall time).
func (a *app) run(ctx context.Context, interval time.Duration) {
	a.client = a.dial()
	defer func() { _ = a.client.Close() }()
	t := time.NewTicker(interval)
	defer t.Stop()
	for seq := uint64(1); ; seq++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		a.write(ctx, seq)
	}
}

func (a *app) write(ctx context.Context, seq uint64) {
	at := a.now()
	key := appKey(a.keys, seq)
	cctx, cancel := context.WithTimeout(ctx, a.timeout)
	err := a.client.Set(cctx, key, at.UnixMilli(), a.ttl).Err()
	if err == nil {
		// Read it back: the write is acknowledged and visible.
		var got string
		got, err = a.client.Get(cctx, key).Result()
		if err == nil && got != strconv.FormatInt(at.UnixMilli(), 10) {
			err = errors.New("read back a different value")
		}
	}
	cancel()
	if ctx.Err() != nil {
		return
	}
	a.record(op{at: at, ok: err == nil, seq: seq, class: classify(err)})
	if err != nil {
		// Drop the connection: the next write dials again and re-resolves
		// redis.internal (through the resolver's TTL cache).
		_ = a.client.Close()
		a.client = a.dial()
	}
}

// record keeps one write's outcome and shows a change of state on the
// timeline.
func (a *app) record(o op) {
	a.mu.Lock()
	a.ops = append(a.ops, o)
	if o.ok {
		a.acked = append(a.acked, o.seq)
	}
	state := appWriting
	switch {
	case o.class == "readonly":
		state = appReadOnly
	case !o.ok:
		state = appDown
	}
	changed := state != a.state
	a.state = state
	at := o.at
	if a.retries && !o.ok && a.lastOK.After(a.changed) {
		// Its client retried this write since the last acknowledged one:
		// the trouble began there.
		at = a.lastOK
	}
	if o.ok {
		a.lastOK = o.at
	}
	if changed {
		a.changed = at
	}
	a.mu.Unlock()
	if changed {
		a.tl.Set("app "+a.label(), state, at)
	}
}

// label names the application: its region, and its language when it is
// not one of the drill's own Go applications.
func (a *app) label() string { return AppReport{Region: a.region, App: a.lang}.Name() }

// classify names an error the way the probe does.
func classify(err error) string {
	if err == nil {
		return ""
	}
	var dnsErr *net.DNSError
	s := err.Error()
	switch {
	case strings.HasPrefix(s, "READONLY"):
		return "readonly"
	case errors.As(err, &dnsErr):
		return "dns"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, context.DeadlineExceeded) || strings.Contains(s, "i/o timeout"):
		return "timeout"
	case errors.Is(err, syscall.ECONNRESET) || strings.Contains(s, "EOF") || strings.Contains(s, "closed"):
		return "reset"
	}
	return "error"
}

// snapshot returns the ops and acknowledged writes so far.
func (a *app) snapshot() ([]op, []uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]op(nil), a.ops...), append([]uint64(nil), a.acked...)
}
