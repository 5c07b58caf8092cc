package metrics

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
)

// PutMetricDataAPI is the one CloudWatch call the checker makes; a
// *cloudwatch.Client satisfies it.
type PutMetricDataAPI interface {
	PutMetricData(ctx context.Context, in *cloudwatch.PutMetricDataInput,
		optFns ...func(*cloudwatch.Options)) (*cloudwatch.PutMetricDataOutput, error)
}

var (
	_ PutMetricDataAPI = (*cloudwatch.Client)(nil)
	_ Publisher        = (*CloudWatch)(nil)
)

// CloudWatch publishes with PutMetricData: one call per sample. It is safe
// for concurrent use.
type CloudWatch struct {
	api       PutMetricDataAPI
	namespace *string
	highRes   bool
	dims      []types.Dimension // shared by every datum, never modified
}

// Metric names as the SDK takes them, built once.
var (
	statusName   = aws.String(HealthCheckStatus)
	statusHRName = aws.String(HealthCheckStatusHighRes)
	latencyName  = aws.String(HealthCheckLatency)
	lagName      = aws.String(ReplicationLagSeconds)
	stdResPtr    = aws.Int32(stdResolution)
	highResPtr   = aws.Int32(highResolution)
)

// NewCloudWatch returns a publisher over api (a *cloudwatch.Client built
// once at init). Check o with Options.Validate first: CloudWatch rejects
// what Validate would, but only when the first metric is sent.
func NewCloudWatch(api PutMetricDataAPI, o Options) *CloudWatch {
	o = o.withDefaults()
	dims := make([]types.Dimension, len(o.Dimensions))
	for i, d := range o.Dimensions {
		dims[i] = types.Dimension{Name: aws.String(d.Name), Value: aws.String(d.Value)}
	}
	return &CloudWatch{api: api, namespace: aws.String(o.Namespace), highRes: o.HighResolution, dims: dims}
}

// Publish sends the sample's metrics in one PutMetricData call. The client's
// retryer retries throttling and 5xx answers within ctx's deadline; the
// error, wrapped once, is the last attempt's.
func (c *CloudWatch) Publish(ctx context.Context, s Sample) error {
	in := &cloudwatch.PutMetricDataInput{Namespace: c.namespace, MetricData: c.data(s)}
	if _, err := c.api.PutMetricData(ctx, in); err != nil {
		return fmt.Errorf("put metric data: %w", err)
	}
	return nil
}

// data builds the sample's data; every datum carries the sample's time and
// the publisher's dimensions.
func (c *CloudWatch) data(s Sample) []types.MetricDatum {
	ts := s.Time
	if ts.IsZero() {
		ts = time.Now()
	}
	status := statusValue(s.Healthy)
	out := make([]types.MetricDatum, 0, 4)
	datum := func(name *string, v float64, unit types.StandardUnit, res *int32) {
		out = append(out, types.MetricDatum{
			MetricName: name, Value: aws.Float64(v), Unit: unit, Timestamp: &ts,
			Dimensions: c.dims, StorageResolution: res,
		})
	}
	datum(statusName, status, types.StandardUnitNone, stdResPtr)
	datum(latencyName, latencyMS(s), types.StandardUnitMilliseconds, stdResPtr)
	if s.ReplicationLag != nil {
		datum(lagName, s.ReplicationLag.Seconds(), types.StandardUnitSeconds, stdResPtr)
	}
	if c.highRes {
		datum(statusHRName, status, types.StandardUnitNone, highResPtr)
	}
	return out
}

func statusValue(healthy bool) float64 {
	if healthy {
		return 1
	}
	return 0
}

// latencyMS is the check's latency in milliseconds, to the microsecond.
func latencyMS(s Sample) float64 { return float64(s.Latency.Microseconds()) / 1000 }
