package cwlocal_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redisha/redisha/internal/metrics"
	"github.com/redisha/redisha/internal/sim/cwlocal"
)

// What the checker's own EMF publisher writes becomes the same metrics
// PutMetricData would have made.
func TestEMFLinesBecomeMetrics(t *testing.T) {
	s := cwlocal.New()
	defer s.Close()
	var logs []byte
	w := s.LogWriter(writerFunc(func(p []byte) { logs = append(logs, p...) }))
	dims := []metrics.Dimension{{Name: "ReplicationGroup", Value: "redis-primary"}}
	emf := metrics.NewEMF(w, metrics.Options{Namespace: "Custom/Redis", Dimensions: dims, HighResolution: true})
	at := time.UnixMilli(1795852830123)
	fmt.Fprintln(w, "a log line")
	if err := emf.Publish(context.Background(), metrics.Sample{Time: at, Healthy: true, Writable: true, Latency: 2 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	got := map[string]cwlocal.Datum{}
	for _, d := range s.Received() {
		got[d.MetricName] = d
	}
	for name, want := range map[string]float64{metrics.HealthCheckStatus: 1, metrics.WritableStatus: 1, metrics.HealthCheckStatusHighRes: 1} {
		d, ok := got[name]
		if !ok || d.Value != want || d.Namespace != "Custom/Redis" || !d.Timestamp.Equal(at) ||
			len(d.Dimensions) != 1 || d.Dimensions[0] != dims[0] {
			t.Errorf("%s: %+v (present %v), want %g at %v with %v", name, d, ok, want, at, dims)
		}
	}
	if got[metrics.HealthCheckStatusHighRes].StorageResolution != 1 {
		t.Error("the high-resolution copy lost its storage resolution")
	}
	if string(logs[:len("a log line\n")]) != "a log line\n" {
		t.Errorf("logs %q: the plain line did not pass through", logs)
	}
}

type writerFunc func([]byte)

func (f writerFunc) Write(p []byte) (int, error) { f(p); return len(p), nil }
