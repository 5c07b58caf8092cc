package check_test

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redisha/redisha/internal/check"
	"github.com/redisha/redisha/internal/redisconn"
	"github.com/redisha/redisha/internal/sim/redisserver"
	"github.com/redisha/redisha/internal/testbed/redistest"
)

func newChecker(t *testing.T, cfg redisconn.Config, o check.Options) *check.Checker {
	t.Helper()
	k := check.NewChecker(func() (*redis.Client, error) { return redisconn.New(cfg) }, o)
	t.Cleanup(func() { _ = k.Close() })
	return k
}

func TestHealthyPrimaryLeavesNoKeys(t *testing.T) {
	srv := redistest.Start(t, redisserver.Options{})
	admin := redistest.Admin(t, srv.Addr, "", "")
	k := newChecker(t, redisconn.Config{Addr: srv.Addr}, check.Options{Timeout: 2 * time.Second})
	for i := 0; i < 5; i++ {
		r := k.Check(context.Background())
		if !r.Healthy || r.Reason != "" || r.Step != "" {
			t.Fatalf("check %d: %+v", i, r)
		}
		if r.Latency <= 0 || r.LatencyMS <= 0 {
			t.Fatalf("check %d: latency not measured: %+v", i, r)
		}
	}
	redistest.AssertNoKeys(t, admin, check.DefaultPrefix)
}

// countConn counts Write calls on a dialed connection: each pipeline flush is
// one write, so a warm check that costs one write is one round trip.
type countConn struct {
	net.Conn
	writes *atomic.Int64
}

func (c countConn) Write(b []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(b)
}

func TestWarmCheckIsOneRoundTrip(t *testing.T) {
	for _, role := range []check.Role{check.Primary, check.Replica} {
		t.Run(string(role), func(t *testing.T) {
			srv := redistest.Start(t, redisserver.Options{})
			var writes, dials atomic.Int64
			cfg := redisconn.Config{Addr: srv.Addr, Dialer: func(ctx context.Context, network, addr string) (net.Conn, error) {
				dials.Add(1)
				var d net.Dialer
				c, err := d.DialContext(ctx, network, addr)
				if err != nil {
					return nil, err
				}
				return countConn{c, &writes}, nil
			}}
			k := newChecker(t, cfg, check.Options{Timeout: 2 * time.Second, ExpectRole: role, Heartbeat: true})
			if r := k.Check(context.Background()); !r.Healthy {
				t.Fatalf("cold check: %+v", r)
			}
			before := writes.Load()
			const n = 10
			for i := 0; i < n; i++ {
				if r := k.Check(context.Background()); !r.Healthy {
					t.Fatalf("warm check %d: %+v", i, r)
				}
			}
			if got := writes.Load() - before; got != n {
				t.Fatalf("%d warm checks made %d writes, want %d (one round trip each)", n, got, n)
			}
			if dials.Load() != 1 {
				t.Fatalf("dialed %d times, want 1 (client reused)", dials.Load())
			}
		})
	}
}
