package redistest

import (
	"context"
	"strconv"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"

	"github.com/redisha/redisha/internal/redisserver"
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
