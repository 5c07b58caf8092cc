package test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/redisha/redisha/internal/sim/lambdarun"
	"github.com/redisha/redisha/internal/sim/redisserver"
	"github.com/redisha/redisha/internal/testbed/redistest"
)

// BenchmarkColdStart measures process start to first response: what a cold
// invocation adds, init (configuration, AWS config, client set-up) plus the
// first check's dial. It also reports the binary's size.
func BenchmarkColdStart(b *testing.B) {
	srv := redistest.Start(b, redisserver.Options{})
	bin := bootstrap(b)
	payload, _ := os.ReadFile("../events/eventbridge-scheduled.json")
	var total time.Duration
	for b.Loop() {
		api, err := lambdarun.NewServer()
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		proc, err := api.StartProcess(bin, []string{"REDIS_ADDR=" + srv.Addr, "REDIS_TLS=false", "METRICS_MODE=emf"}, nil)
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		res, err := api.Invoke(ctx, payload, 10*time.Second)
		total += time.Since(start)
		cancel()
		proc.Stop()
		_ = api.Close()
		if err != nil || res.Error != nil {
			b.Fatalf("%v %+v", err, res.Error)
		}
	}
	b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms-to-first-response")
	if fi, err := os.Stat(bin); err == nil {
		b.ReportMetric(float64(fi.Size())/(1<<20), "MiB-binary")
	}
}
