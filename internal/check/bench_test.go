package check_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redisha/redisha/internal/check"
	"github.com/redisha/redisha/internal/redisconn"
	"github.com/redisha/redisha/internal/sim/redisserver"
	"github.com/redisha/redisha/internal/testbed/redistest"
)

func benchChecker(b *testing.B, addr string, o check.Options) *check.Checker {
	b.Helper()
	k := check.NewChecker(func() (*redis.Client, error) { return redisconn.New(redisconn.Config{Addr: addr}) }, o)
	b.Cleanup(func() { _ = k.Close() })
	if r := k.Check(context.Background()); !r.Healthy {
		b.Fatalf("cold check: %+v", r)
	}
	return k
}

// BenchmarkCheck is a warm check on loopback: the engine's own cost plus one
// loopback round trip.
func BenchmarkCheck(b *testing.B) {
	srv := redistest.Start(b, redisserver.Options{})
	for _, bc := range []struct {
		name string
		opts check.Options
	}{
		{"primary", check.Options{Timeout: 2 * time.Second}}, // auto, on a primary
		{"primary+heartbeat", check.Options{Timeout: 2 * time.Second, Heartbeat: true}},
		{"replica", check.Options{Timeout: 2 * time.Second, ExpectRole: check.Replica}},
		{"replica+heartbeat", check.Options{Timeout: 2 * time.Second, ExpectRole: check.Replica, Heartbeat: true}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			k := benchChecker(b, srv.Addr, bc.opts)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if r := k.Check(ctx); !r.Healthy {
					b.Fatalf("check: %+v", r)
				}
			}
		})
	}
}

// BenchmarkCheckRoundTrips puts 5 ms of latency on every reply (toxiproxy)
// and reports round trips per check (rtt/op): a warm check is one pipeline,
// about 1 RTT, where the same commands sent one by one cost 4.
func BenchmarkCheckRoundTrips(b *testing.B) {
	const rtt = 5 * time.Millisecond
	srv := redistest.Start(b, redisserver.Options{})
	p := redistest.NewProxy(b, srv.Addr)
	p.AddToxic(b, `{"name":"rtt","type":"latency","stream":"downstream","attributes":{"latency":5}}`)
	ctx := context.Background()
	report := func(b *testing.B, start time.Time, n int) {
		b.ReportMetric(float64(time.Since(start))/float64(n)/float64(rtt), "rtt/op")
	}

	// auto, on the primary: ROLE rides in the same pipeline.
	for _, role := range []check.Role{check.Auto, check.Primary, check.Replica} {
		b.Run("check/"+string(role), func(b *testing.B) {
			k := benchChecker(b, p.Addr, check.Options{Timeout: 2 * time.Second, ExpectRole: role, Heartbeat: true})
			n, start := 0, time.Now()
			for b.Loop() {
				if r := k.Check(ctx); !r.Healthy {
					b.Fatalf("check: %+v", r)
				}
				n++
			}
			report(b, start, n)
		})
	}

	// The baseline: the primary check's commands without a pipeline, as
	// the shell probes send them.
	b.Run("one-by-one/primary", func(b *testing.B) {
		c, err := redisconn.New(redisconn.Config{Addr: p.Addr})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = c.Close() })
		if err := c.Ping(ctx).Err(); err != nil {
			b.Fatal(err)
		}
		n, start := 0, time.Now()
		for b.Loop() {
			key := check.DefaultPrefix + "one-by-one"
			if err := c.Ping(ctx).Err(); err != nil {
				b.Fatal(err)
			}
			if err := c.SetArgs(ctx, key, "v", redis.SetArgs{Mode: "NX", TTL: time.Minute}).Err(); err != nil {
				b.Fatal(err)
			}
			if err := c.Get(ctx, key).Err(); err != nil {
				b.Fatal(err)
			}
			if err := c.Del(ctx, key).Err(); err != nil {
				b.Fatal(err)
			}
			n++
		}
		report(b, start, n)
	})
}
