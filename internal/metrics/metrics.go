// Package metrics publishes health-check results to CloudWatch, either with
// the PutMetricData API (NewCloudWatch) or as Embedded Metric Format lines on
// stdout (NewEMF, for VPCs with neither a monitoring endpoint nor NAT: Lambda
// ships stdout to CloudWatch Logs, which extracts the metrics).
//
// Both publishers send the same metrics for a Sample: HealthCheckStatus (1
// or 0, unit None), HealthCheckLatency (Milliseconds), WritableStatus (1 or
// 0), ReplicationLagSeconds (Seconds) when the sample carries a lag, and
// HealthCheckStatusHighRes (StorageResolution 1) when high resolution is on.
package metrics

import (
	"context"
	"time"

	"github.com/redisha/redisha/internal/check"
)

// Metric names. HealthCheckStatus is the name the CloudWatch alarm and the
// Route 53 health check read.
const (
	// HealthCheckStatus is 1 when the check was healthy, else 0 (unit None,
	// standard resolution: Route 53 rejects alarms on high-resolution data).
	HealthCheckStatus = "HealthCheckStatus"
	// HealthCheckStatusHighRes is HealthCheckStatus stored at 1-second
	// resolution, published only when high resolution is on, for a fast
	// paging alarm that is not the Route 53 one.
	HealthCheckStatusHighRes = "HealthCheckStatusHighRes"
	// HealthCheckLatency is the check's wall time in milliseconds.
	HealthCheckLatency = "HealthCheckLatency"
	// ReplicationLagSeconds is the heartbeat age a replica check read; when
	// the heartbeat is missing, its TTL (a lower bound), so a lag alarm keeps
	// breaching while replication is broken.
	ReplicationLagSeconds = "ReplicationLagSeconds"
	// WritableStatus is 1 when the endpoint accepted a write in this check
	// (a primary whose write check passed), else 0 (unit None, standard
	// resolution): the signal DNS follows to the writer.
	WritableStatus = "WritableStatus"
	// HeartbeatWritten is the write time, in unix milliseconds by the
	// primary's clock, of the heartbeat a primary check wrote (unit None,
	// published only then): the promoter reads its Maximum as the last
	// moment the primary took writes, to measure possible loss against the
	// newest heartbeat its replica holds, on the same clock.
	HeartbeatWritten = "HeartbeatWritten"
)

// DefaultNamespace is the CloudWatch namespace when none is configured.
const DefaultNamespace = "Custom/Redis"

// Dimension is one CloudWatch dimension.
type Dimension struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Sample is what one check publishes.
type Sample struct {
	// Time is when the check ran; it becomes every metric's timestamp.
	// default: the time of Publish
	Time time.Time
	// Healthy becomes HealthCheckStatus 1 or 0.
	Healthy bool
	// Latency becomes HealthCheckLatency in milliseconds.
	Latency time.Duration
	// ReplicationLag becomes ReplicationLagSeconds when not nil.
	ReplicationLag *time.Duration
	// Writable becomes WritableStatus 1 or 0.
	Writable bool
	// HeartbeatWritten, when not zero, becomes HeartbeatWritten (unix
	// milliseconds).
	HeartbeatWritten time.Time
}

// value is one metric of a sample, as both publishers send it.
type value struct {
	name       string
	unit       string
	value      float64
	resolution int
}

// values lists the sample's metrics in publishing order.
func (o Options) values(s Sample) []value {
	status := flag(s.Healthy)
	out := make([]value, 0, 5)
	out = append(out,
		value{HealthCheckStatus, "None", status, stdResolution},
		value{HealthCheckLatency, "Milliseconds", check.Milliseconds(s.Latency), stdResolution},
		value{WritableStatus, "None", flag(s.Writable), stdResolution})
	if !s.HeartbeatWritten.IsZero() {
		out = append(out, value{HeartbeatWritten, "None", float64(s.HeartbeatWritten.UnixMilli()), stdResolution})
	}
	if s.ReplicationLag != nil {
		out = append(out, value{ReplicationLagSeconds, "Seconds", s.ReplicationLag.Seconds(), stdResolution})
	}
	if o.HighResolution {
		out = append(out, value{HealthCheckStatusHighRes, "None", status, highResolution})
	}
	return out
}

func flag(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// sampleTime is the sample's time, or now when it has none.
func sampleTime(s Sample) time.Time {
	if s.Time.IsZero() {
		return time.Now()
	}
	return s.Time
}

// Publisher sends one sample. An error means the metric did not arrive; the
// caller logs it and fails the invocation so alarms see missing data.
type Publisher interface {
	Publish(ctx context.Context, s Sample) error
}
