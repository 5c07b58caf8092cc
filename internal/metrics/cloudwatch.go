package metrics

import (
	"context"
	"fmt"

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
	opts      Options
	namespace *string
	dims      []types.Dimension // shared by every datum, never modified
}

// NewCloudWatch returns a publisher over api (a *cloudwatch.Client built
// once at init). Check o with Options.Validate first: CloudWatch rejects
// what Validate would, but only when the first metric is sent.
func NewCloudWatch(api PutMetricDataAPI, o Options) *CloudWatch {
	o = o.withDefaults()
	dims := make([]types.Dimension, len(o.Dimensions))
	for i, d := range o.Dimensions {
		dims[i] = types.Dimension{Name: aws.String(d.Name), Value: aws.String(d.Value)}
	}
	return &CloudWatch{api: api, opts: o, namespace: aws.String(o.Namespace), dims: dims}
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
	ts := sampleTime(s)
	vs := c.opts.values(s)
	out := make([]types.MetricDatum, len(vs))
	for i, v := range vs {
		out[i] = types.MetricDatum{
			MetricName: aws.String(v.name), Value: aws.Float64(v.value), Unit: types.StandardUnit(v.unit),
			Timestamp: &ts, Dimensions: c.dims, StorageResolution: aws.Int32(int32(v.resolution)),
		}
	}
	return out
}
