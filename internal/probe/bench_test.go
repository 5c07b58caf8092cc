package probe_test

import (
	"context"
	"testing"
	"time"

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
