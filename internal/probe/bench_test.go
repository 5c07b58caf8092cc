package probe_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redisha/redisha/internal/check"
	"github.com/redisha/redisha/internal/probe"
	"github.com/redisha/redisha/internal/redisconn"
	"github.com/redisha/redisha/internal/sim/redisserver"
	"github.com/redisha/redisha/internal/testbed/redistest"
)

// BenchmarkContinuous measures the checks per second of the continuous
// mode (--interval 0) against a healthy local server: each iteration is a
// one-second run; write and read checks are reported apart.
func BenchmarkContinuous(b *testing.B) {
	srv := redistest.Start(b, redisserver.Options{})
	var writes, reads, secs float64
	for b.Loop() {
		p, err := probe.New(probe.Config{Conn: redisconn.Config{Addr: srv.Addr}, Timeout: time.Second, Duration: time.Second})
		if err != nil {
			b.Fatal(err)
		}
		s := p.Run(context.Background())
		if len(s.Windows) != 0 {
			b.Fatalf("windows on a healthy server: %+v", s.Windows)
		}
		writes += float64(s.Series[probe.Write].Checks)
		reads += float64(s.Series[probe.Read].Checks)
		secs += float64(s.ElapsedMS) / 1000
	}
	b.ReportMetric(writes/secs, "write-checks/s")
	b.ReportMetric(reads/secs, "read-checks/s")
	redistest.AssertNoKeys(b, redistest.Admin(b, srv.Addr, "", ""), "healthcheck:")
}

// BenchmarkContinuousCluster is the continuous mode against a healthy
// cluster of 1, 3 and 10 shards (all on this machine's cores): each
// iteration a one-second run; rounds (one check of every shard) per second,
// and checks of one shard per second, for writes and reads apart.
func BenchmarkContinuousCluster(b *testing.B) {
	for _, n := range []int{1, 3, 10} {
		b.Run(fmt.Sprintf("shards=%d", n), func(b *testing.B) {
			servers := redistest.StartCluster(b, n, redisserver.Options{})
			var writes, reads, shardWrites, secs float64
			for b.Loop() {
				p, err := probe.New(probe.Config{Conn: redisconn.Config{Addr: servers[0].Addr}, Timeout: time.Second,
					Duration: time.Second, Cluster: check.ClusterOn})
				if err != nil {
					b.Fatal(err)
				}
				if err := p.Prepare(context.Background()); err != nil {
					b.Fatal(err)
				}
				s := p.Run(context.Background())
				if len(s.Windows) != 0 || len(s.Shards) != n {
					b.Fatalf("a healthy cluster: %d shards, windows %+v", len(s.Shards), s.Windows)
				}
				writes += float64(s.Series[probe.Write].Checks)
				reads += float64(s.Series[probe.Read].Checks)
				shardWrites += float64(s.Shards[0].Write.Checks)
				secs += float64(s.ElapsedMS) / 1000
			}
			b.ReportMetric(writes/secs, "write-rounds/s")
			b.ReportMetric(reads/secs, "read-rounds/s")
			b.ReportMetric(float64(n)*shardWrites/secs, "shard-write-checks/s")
		})
	}
}
