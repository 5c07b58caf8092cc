package redistest

import (
	"context"
	"strconv"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"

	"github.com/redisha/redisha/internal/sim/redisserver"
)

// StartLoading starts a server that keeps its data on disk and takes about
// keys × perKey to load it after a restart: it is filled with keys
// (DEBUG POPULATE, names "key:N") and saved, and on the next start it
// answers -LOADING until the load is done. Kill it, then Restart it (which
// returns once the load is over) to inject a LOADING window.
func StartLoading(t testing.TB, keys int, perKey time.Duration) *redisserver.Server {
	t.Helper()
	srv := Start(t, redisserver.Options{Config: []string{
		"dbfilename dump.rdb",
		// A test-only server setting: sleep this many µs after each key
		// loaded, so a small data set loads slowly enough to measure.
		"key-load-delay " + strconv.FormatInt(perKey.Microseconds(), 10),
		// Answer clients (with -LOADING) every 1 KiB read, not every 2 MiB.
		"loading-process-events-interval-bytes 1024",
	}})
	a := Admin(t, srv.Addr, "", "")
	ctx := context.Background()
	if err := a.Do(ctx, "DEBUG", "POPULATE", keys).Err(); err != nil {
		t.Fatalf("debug populate: %v", err)
	}
	if err := a.Save(ctx).Err(); err != nil {
		t.Fatalf("save: %v", err)
	}
	return srv
}

// Failover promotes replica (REPLICAOF NO ONE) and demotes oldPrimary to a
// replica of it, as a managed failover does: writes to the old primary are
// answered READONLY from then on.
func Failover(t testing.TB, oldPrimary, replica *redisserver.Server, password string) {
	t.Helper()
	ctx := context.Background()
	if err := Admin(t, replica.Addr, password, "").Do(ctx, "REPLICAOF", "NO", "ONE").Err(); err != nil {
		t.Fatalf("promote %s: %v", replica.Addr, err)
	}
	if err := Admin(t, oldPrimary.Addr, password, "").Do(ctx, "REPLICAOF", "127.0.0.1", strconv.Itoa(replica.Port)).Err(); err != nil {
		t.Fatalf("demote %s: %v", oldPrimary.Addr, err)
	}
}

// PauseWrites runs CLIENT PAUSE d WRITE on addr: writes stall for d while
// reads are served, as during the write pause of a managed failover.
func PauseWrites(t testing.TB, addr string, d time.Duration) {
	t.Helper()
	if err := Admin(t, addr, "", "").Do(context.Background(), "CLIENT", "PAUSE", d.Milliseconds(), "WRITE").Err(); err != nil {
		t.Fatalf("client pause write: %v", err)
	}
}

// DebugSleep blocks the server at addr for d (DEBUG SLEEP) and returns when
// it answers again.
func DebugSleep(t testing.TB, addr string, d time.Duration) {
	t.Helper()
	if err := Admin(t, addr, "", "").Do(context.Background(), "DEBUG", "SLEEP", d.Seconds()).Err(); err != nil {
		t.Fatalf("debug sleep: %v", err)
	}
}

// Retarget points the proxy at a new upstream, as a DNS flip of the
// endpoint's name does after a failover: the proxy's open connections are
// closed and new ones reach upstream.
func (p *Proxy) Retarget(t testing.TB, upstream string) {
	t.Helper()
	next := &toxiproxy.Proxy{Name: p.proxy.Name, Listen: p.Addr, Upstream: upstream, Enabled: true}
	if err := p.proxy.Update(next); err != nil {
		t.Fatalf("retarget toxiproxy to %s: %v", upstream, err)
	}
}

// Fault is one outage of the catalogue that the probe's fault tests and the
// comparison with the runbook's bash probe share: what to start, how to
// inject the outage, and what a probe must report for it.
type Fault struct {
	Name string
	// Setup starts the servers (and proxy) the fault needs and returns the
	// address to probe and Inject, which causes one outage and returns how
	// long it lasted, as measured around it.
	Setup func(tb testing.TB) (addr string, inject func() time.Duration)
	// WriteReasons: a write window must carry one of these.
	WriteReasons []string
	// ReadReasons: a read window must carry one of these; none: reads stay
	// up (at most a reconnect blip of ReadBlip).
	ReadReasons []string
	ReadBlip    time.Duration
	// Swallowed: checks sent into the fault get no answer even after it
	// ends (their bytes were dropped), so a window can end up to one check
	// timeout after the fault does.
	Swallowed bool
	// LosesData: the fault loses the data set (a restart without
	// persistence, or one that loads an older snapshot).
	LosesData bool
}

// onePlain is a fault on one plain server.
func onePlain(inject func(tb testing.TB, s *redisserver.Server) time.Duration) func(testing.TB) (string, func() time.Duration) {
	return func(tb testing.TB) (string, func() time.Duration) {
		s := Start(tb, redisserver.Options{})
		return s.Addr, func() time.Duration { return inject(tb, s) }
	}
}

// toxic is a fault injected by a toxiproxy toxic in front of one server for
// d.
func toxic(toxicJSON string, d time.Duration) func(testing.TB) (string, func() time.Duration) {
	return func(tb testing.TB) (string, func() time.Duration) {
		s := Start(tb, redisserver.Options{})
		p := NewProxy(tb, s.Addr)
		return p.Addr, func() time.Duration {
			start := time.Now()
			p.AddToxic(tb, toxicJSON)
			time.Sleep(d)
			p.RemoveToxic(tb, "t")
			return time.Since(start)
		}
	}
}

// Faults is the catalogue.
var Faults = []Fault{
	{Name: "kill-restart-800ms", Setup: onePlain(func(tb testing.TB, s *redisserver.Server) time.Duration {
		start := time.Now()
		s.Kill()
		time.Sleep(800 * time.Millisecond)
		if err := s.Restart(); err != nil {
			tb.Error(err)
		}
		return time.Since(start)
	}), WriteReasons: []string{"refused", "reset"}, ReadReasons: []string{"refused", "reset"}, LosesData: true},
	{Name: "sigstop-900ms", Setup: onePlain(func(tb testing.TB, s *redisserver.Server) time.Duration {
		start := time.Now()
		_ = s.Pause()
		time.Sleep(900 * time.Millisecond)
		_ = s.Resume()
		return time.Since(start)
	}), WriteReasons: []string{"timeout"}, ReadReasons: []string{"timeout"}},
	// Writes stall, reads are served: a write window only.
	{Name: "client-pause-write-900ms", Setup: onePlain(func(tb testing.TB, s *redisserver.Server) time.Duration {
		start := time.Now()
		PauseWrites(tb, s.Addr, 900*time.Millisecond)
		time.Sleep(900*time.Millisecond - time.Since(start))
		return 900 * time.Millisecond
	}), WriteReasons: []string{"timeout"}},
	{Name: "debug-sleep-900ms", Setup: onePlain(func(tb testing.TB, s *redisserver.Server) time.Duration {
		start := time.Now()
		DebugSleep(tb, s.Addr, 900*time.Millisecond)
		return time.Since(start)
	}), WriteReasons: []string{"timeout"}, ReadReasons: []string{"timeout"}},
	// A restart that loads 10,000 keys from disk at 100 µs a key: refused,
	// then -LOADING for about a second; the snapshot predates the probe.
	{Name: "restart-loading-1s", Setup: func(tb testing.TB) (string, func() time.Duration) {
		s := StartLoading(tb, 10000, 100*time.Microsecond)
		return s.Addr, func() time.Duration {
			start := time.Now()
			s.Kill()
			if err := s.Restart(); err != nil { // returns once loaded
				tb.Error(err)
			}
			return time.Since(start)
		}
	}, WriteReasons: []string{"loading"}, ReadReasons: []string{"loading"}, LosesData: true},
	// A failover: the replica is promoted and the old primary demoted
	// (READONLY), and 700 ms later the endpoint moves to the new primary,
	// closing its connections (a DNS flip plus the old primary's restart).
	{Name: "failover-readonly-700ms", Setup: func(tb testing.TB) (string, func() time.Duration) {
		primary := Start(tb, redisserver.Options{})
		replica := StartReplica(tb, primary, "")
		endpoint := NewProxy(tb, primary.Addr)
		return endpoint.Addr, func() time.Duration {
			// As a managed failover does, start once the replica holds what
			// the primary has: the probe's read key, written just before,
			// must not be lost to the test's own race.
			WaitReplicaCaughtUp(tb, primary.Addr, replica.Addr, "")
			start := time.Now()
			Failover(tb, primary, replica, "")
			time.Sleep(700 * time.Millisecond)
			endpoint.Retarget(tb, replica.Addr)
			return time.Since(start)
		}
	}, WriteReasons: []string{"readonly"}, ReadBlip: 100 * time.Millisecond},
	{Name: "toxiproxy-timeout-800ms", Setup: toxic(`{"name":"t","type":"timeout","stream":"downstream","attributes":{"timeout":0}}`, 800*time.Millisecond),
		WriteReasons: []string{"timeout"}, ReadReasons: []string{"timeout"}, Swallowed: true},
	{Name: "toxiproxy-reset-800ms", Setup: toxic(`{"name":"t","type":"reset_peer","stream":"upstream","attributes":{"timeout":0}}`, 800*time.Millisecond),
		WriteReasons: []string{"reset"}, ReadReasons: []string{"reset"}},
}
