package check_test

import (
	"context"
	"net"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redisha/redisha/internal/check"
	"github.com/redisha/redisha/internal/redisconn"
	"github.com/redisha/redisha/internal/sim/redisserver"
	"github.com/redisha/redisha/internal/testbed/redistest"
)

// slowConn delays every write by delay: a network round trip's latency, on
// every connection the checker dials (the seed's and each primary's), which
// a proxy in front of the seed alone would not give the shards.
type slowConn struct {
	net.Conn
	delay  time.Duration
	writes *atomic.Int64
}

func (c slowConn) Write(b []byte) (int, error) {
	c.writes.Add(1)
	if c.delay > 0 {
		time.Sleep(c.delay)
	}
	return c.Conn.Write(b)
}

// countingConfig is a config for addr whose every dialed connection counts
// its writes (one per pipeline: one round trip) and delays them by delay.
func countingConfig(addr string, delay time.Duration, writes, dials *atomic.Int64) redisconn.Config {
	return redisconn.Config{Addr: addr, Dialer: func(ctx context.Context, network, a string) (net.Conn, error) {
		dials.Add(1)
		var d net.Dialer
		c, err := d.DialContext(ctx, network, a)
		if err != nil {
			return nil, err
		}
		return slowConn{Conn: c, delay: delay, writes: writes}, nil
	}}
}

func TestClusterWarmCheckIsOneRoundTripPerShard(t *testing.T) {
	servers := redistest.StartCluster(t, 3, redisserver.Options{})
	var writes, dials atomic.Int64
	k, err := check.NewCluster(countingConfig(servers[0].Addr, 0, &writes, &dials),
		check.Options{Timeout: 2 * time.Second, Heartbeat: true}, check.ClusterAuto)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k.Close() })
	wantShards(t, k.Check(context.Background()), "0-5460", "5461-10921", "10922-16383")
	before := writes.Load()
	const n = 10
	for range n {
		wantShards(t, k.Check(context.Background()), "0-5460", "5461-10921", "10922-16383")
	}
	if got := writes.Load() - before; got != 3*n {
		t.Fatalf("%d warm checks of 3 shards made %d writes, want %d (one round trip per shard)", n, got, 3*n)
	}
	if dials.Load() != 4 {
		t.Fatalf("dialed %d times, want 4 (the seed once, each primary once)", dials.Load())
	}
}

// BenchmarkClusterCheck is a warm check of every shard at 1, 3 and 10
// shards on loopback: µs and allocations per check, and writes/op, the round
// trips per check (one pipeline per shard). The rtt variant delays every
// write by 5 ms and reports rtt/op, the wall time in round trips: the shards
// are checked in parallel, so it stays near 1 whatever their number.
func BenchmarkClusterCheck(b *testing.B) {
	for _, n := range []int{1, 3, 10} {
		servers := redistest.StartCluster(b, n, redisserver.Options{})
		for _, delay := range []time.Duration{0, 5 * time.Millisecond} {
			name := strconv.Itoa(n) + "-shards"
			if delay > 0 {
				name += "/rtt-5ms"
			}
			b.Run(name, func(b *testing.B) {
				var writes, dials atomic.Int64
				k, err := check.NewCluster(countingConfig(servers[0].Addr, delay, &writes, &dials),
					check.Options{Timeout: 2 * time.Second, Heartbeat: true}, check.ClusterOn)
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { _ = k.Close() })
				ctx := context.Background()
				if r := k.Check(ctx); !r.Healthy || len(r.Shards) != n {
					b.Fatalf("cold check: %+v", r)
				}
				before, start, checks := writes.Load(), time.Now(), 0
				b.ReportAllocs()
				for b.Loop() {
					if r := k.Check(ctx); !r.Healthy {
						b.Fatalf("check: %+v", r)
					}
					checks++
				}
				b.ReportMetric(float64(writes.Load()-before)/float64(checks), "writes/op")
				if delay > 0 {
					b.ReportMetric(float64(time.Since(start))/float64(checks)/float64(delay), "rtt/op")
				}
			})
		}
	}
}

// BenchmarkClusterAutoOneNode is the Lambda's default path on one node
// (CLUSTER_MODE=auto): the one-node check behind the cluster checker, which
// asked INFO once on the cold connection. Compare with BenchmarkCheck/primary.
func BenchmarkClusterAutoOneNode(b *testing.B) {
	srv := redistest.Start(b, redisserver.Options{})
	k, err := check.NewCluster(redisconn.Config{Addr: srv.Addr}, check.Options{Timeout: 2 * time.Second}, check.ClusterAuto)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = k.Close() })
	ctx := context.Background()
	if r := k.Check(ctx); !r.Healthy || r.Shards != nil {
		b.Fatalf("cold check: %+v", r)
	}
	b.ReportAllocs()
	for b.Loop() {
		if r := k.Check(ctx); !r.Healthy {
			b.Fatalf("check: %+v", r)
		}
	}
}
