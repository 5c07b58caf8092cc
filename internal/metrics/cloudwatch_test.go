package metrics_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/smithy-go"

	"github.com/redisha/redisha/internal/metrics"
	"github.com/redisha/redisha/internal/sim/cwlocal"
)

var t0 = time.Date(2026, 11, 22, 8, 0, 30, 123e6, time.UTC)

func find(t testing.TB, data []cwlocal.Datum, name string) cwlocal.Datum {
	t.Helper()
	for _, d := range data {
		if d.MetricName == name {
			return d
		}
	}
	t.Fatalf("no %s in %v", name, data)
	return cwlocal.Datum{}
}

func newServer(t testing.TB) *cwlocal.Server {
	cw := cwlocal.New()
	t.Cleanup(func() {
		cw.Close()
		if rej := cw.Rejected(); len(rej) > 0 {
			t.Errorf("cwlocal rejected requests: %v", rej)
		}
	})
	return cw
}

// GIVEN the real SDK client over the real wire format (RPCv2 CBOR)
// WHEN a healthy sample with a lag, then an unhealthy one without, is published
// THEN CloudWatch receives every metric with its unit, resolution, time and dimensions.
func TestPutMetricDataOnTheWire(t *testing.T) {
	cw := newServer(t)
	dims := []metrics.Dimension{{Name: "ReplicationGroup", Value: "redis-primary"}, {Name: "Region", Value: "us-east-1"}}
	p := metrics.NewCloudWatch(cwlocal.NewClient(cw.URL(), 1), metrics.Options{Dimensions: dims, HighResolution: true})
	lag := 1500 * time.Millisecond
	if err := p.Publish(context.Background(), metrics.Sample{Time: t0, Healthy: true, Latency: 1234 * time.Microsecond, ReplicationLag: &lag, Writable: true}); err != nil {
		t.Fatal(err)
	}
	t1 := t0.Add(30 * time.Second)
	if err := p.Publish(context.Background(), metrics.Sample{Time: t1, Healthy: false, Latency: 2 * time.Second}); err != nil {
		t.Fatal(err)
	}
	if total, gz := cw.Requests(); total != 2 || gz != 0 {
		t.Errorf("requests %d (gzip %d), want 2 uncompressed: one call per sample, small bodies stay plain", total, gz)
	}
	data := cw.Received()
	if len(data) != 5+4 {
		t.Fatalf("%d data, want 9: %v", len(data), data)
	}
	for i, want := range []struct {
		name  string
		value float64
		unit  string
		res   int
		at    time.Time
	}{
		{metrics.HealthCheckStatus, 1, "None", 60, t0},
		{metrics.HealthCheckLatency, 1.234, "Milliseconds", 60, t0},
		{metrics.WritableStatus, 1, "None", 60, t0},
		{metrics.ReplicationLagSeconds, 1.5, "Seconds", 60, t0},
		{metrics.HealthCheckStatusHighRes, 1, "None", 1, t0},
		{metrics.HealthCheckStatus, 0, "None", 60, t1},
		{metrics.HealthCheckLatency, 2000, "Milliseconds", 60, t1},
		{metrics.WritableStatus, 0, "None", 60, t1},
		{metrics.HealthCheckStatusHighRes, 0, "None", 1, t1},
	} {
		d := data[i]
		if d.Namespace != metrics.DefaultNamespace || d.MetricName != want.name || d.Value != want.value ||
			d.Unit != want.unit || d.StorageResolution != want.res {
			t.Errorf("datum %d: %+v, want %s = %g %s at resolution %d", i, d, want.name, want.value, want.unit, want.res)
		}
		// Epoch seconds as a CBOR float: exact to well under a millisecond.
		if dt := d.Timestamp.Sub(want.at); dt < -time.Millisecond || dt > time.Millisecond {
			t.Errorf("%s timestamp %s, want %s", d.MetricName, d.Timestamp, want.at)
		}
		if len(d.Dimensions) != 2 || d.Dimensions[0] != dims[0] || d.Dimensions[1] != dims[1] {
			t.Errorf("%s dimensions %v, want %v", d.MetricName, d.Dimensions, dims)
		}
	}
}

func TestPutMetricDataNamespaceAndNoDimensions(t *testing.T) {
	cw := newServer(t)
	p := metrics.NewCloudWatch(cwlocal.NewClient(cw.URL(), 1), metrics.Options{Namespace: "Team/Cache"})
	if err := p.Publish(context.Background(), metrics.Sample{Time: t0, Healthy: true}); err != nil {
		t.Fatal(err)
	}
	data := cw.Received()
	if len(data) != 3 {
		t.Fatalf("%d data, want status, latency and writable only: %v", len(data), data)
	}
	for _, d := range data {
		if d.Namespace != "Team/Cache" || len(d.Dimensions) != 0 {
			t.Errorf("%+v, want namespace Team/Cache and no dimensions", d)
		}
	}
}

// A sample without a time is stamped when it is published.
func TestPutMetricDataZeroTimeIsNow(t *testing.T) {
	cw := newServer(t)
	p := metrics.NewCloudWatch(cwlocal.NewClient(cw.URL(), 1), metrics.Options{})
	before := time.Now()
	if err := p.Publish(context.Background(), metrics.Sample{Healthy: true}); err != nil {
		t.Fatal(err)
	}
	d := find(t, cw.Received(), metrics.HealthCheckStatus)
	if d.Timestamp.Before(before.Add(-time.Millisecond)) || d.Timestamp.After(time.Now().Add(time.Millisecond)) {
		t.Fatalf("timestamp %s, want about %s", d.Timestamp, before)
	}
}

// Bodies from RequestMinCompressSizeBytes on are gzip'd (10 KiB by default;
// at 1 byte every body is), and the server still reads them.
func TestPutMetricDataGzip(t *testing.T) {
	cw := newServer(t)
	p := metrics.NewCloudWatch(compressing{cwlocal.NewClient(cw.URL(), 1)}, metrics.Options{Dimensions: []metrics.Dimension{{Name: "Region", Value: "us-east-1"}}})
	if err := p.Publish(context.Background(), metrics.Sample{Time: t0, Healthy: true, Latency: time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if total, gz := cw.Requests(); total != 1 || gz != 1 {
		t.Fatalf("requests %d, gzipped %d; want 1 and 1", total, gz)
	}
	if d := find(t, cw.Received(), metrics.HealthCheckLatency); d.Value != 1 || d.Dimensions[0].Value != "us-east-1" {
		t.Fatalf("%+v", d)
	}
}

type compressing struct{ c *cloudwatch.Client }

func (c compressing) PutMetricData(ctx context.Context, in *cloudwatch.PutMetricDataInput, opts ...func(*cloudwatch.Options)) (*cloudwatch.PutMetricDataOutput, error) {
	return c.c.PutMetricData(ctx, in, append(opts, func(o *cloudwatch.Options) { o.RequestMinCompressSizeBytes = 1 })...)
}

// GIVEN a CloudWatch failing the next requests WHEN a sample is published
// THEN the client retries exactly as configured and the last error surfaces,
// wrapped once, with its code.
func TestPutMetricDataErrors(t *testing.T) {
	cases := []struct {
		name     string
		failures []cwlocal.Failure
		attempts int
		requests int
		wantCode string // "" means the publish succeeds
		throttle bool
	}{
		{"503 then success is retried", []cwlocal.Failure{cwlocal.Unavailable}, 3, 2, "", false},
		{"throttled twice then success is retried", []cwlocal.Failure{cwlocal.Throttled, cwlocal.Throttled}, 3, 3, "", false},
		{"throttled past the budget fails", []cwlocal.Failure{cwlocal.Throttled, cwlocal.Throttled, cwlocal.Throttled}, 3, 3, "Throttling", true},
		{"500 past a budget of 2 fails", []cwlocal.Failure{cwlocal.InternalError, cwlocal.InternalError, cwlocal.InternalError}, 2, 2, "InternalServiceError", false},
		{"503 with no retries fails", []cwlocal.Failure{cwlocal.Unavailable}, 1, 1, "ServiceUnavailable", false},
		{"a client error is not retried", []cwlocal.Failure{{Status: 400, Code: "InvalidParameterValue"}}, 3, 1, "InvalidParameterValue", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cw := newServer(t)
			cw.FailNext(tc.failures...)
			p := metrics.NewCloudWatch(cwlocal.NewClient(cw.URL(), tc.attempts), metrics.Options{})
			err := p.Publish(context.Background(), metrics.Sample{Time: t0, Healthy: true})
			if total, _ := cw.Requests(); total != tc.requests {
				t.Errorf("%d requests, want %d", total, tc.requests)
			}
			if tc.wantCode == "" {
				if err != nil {
					t.Fatal(err)
				}
				if len(cw.Received()) != 3 {
					t.Fatalf("received %v, want the sample once", cw.Received())
				}
				return
			}
			var apiErr smithy.APIError
			if err == nil || !strings.HasPrefix(err.Error(), "put metric data: ") || strings.Count(err.Error(), "put metric data") != 1 ||
				!errors.As(err, &apiErr) || apiErr.ErrorCode() != tc.wantCode {
				t.Fatalf("error %v, want put metric data: … code %s", err, tc.wantCode)
			}
			if got := retry.IsErrorThrottles(retry.DefaultThrottles).IsErrorThrottle(err).Bool(); got != tc.throttle {
				t.Errorf("throttle %v, want %v", got, tc.throttle)
			}
			if len(cw.Received()) != 0 {
				t.Errorf("failed requests recorded data: %v", cw.Received())
			}
		})
	}
}

// CloudWatch's modeled 500 arrives as its SDK type.
func TestPutMetricDataInternalServiceFault(t *testing.T) {
	cw := newServer(t)
	cw.FailNext(cwlocal.InternalError)
	err := metrics.NewCloudWatch(cwlocal.NewClient(cw.URL(), 1), metrics.Options{}).Publish(context.Background(), metrics.Sample{Time: t0})
	var fault *types.InternalServiceFault
	if !errors.As(err, &fault) || fault.ErrorCode() != "InternalServiceError" || fault.ErrorMessage() != "injected by cwlocal" {
		t.Fatalf("error %v (%T), want *types.InternalServiceFault", err, errors.Unwrap(err))
	}
}

func TestPutMetricDataHonoursDeadline(t *testing.T) {
	cw := newServer(t)
	cw.Stall(time.Minute)
	p := metrics.NewCloudWatch(cwlocal.NewClient(cw.URL(), 3), metrics.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := p.Publish(ctx, metrics.Sample{Time: t0})
	if err == nil || !errors.Is(err, context.DeadlineExceeded) || !strings.HasPrefix(err.Error(), "put metric data: ") {
		t.Fatalf("error %v, want put metric data: … deadline exceeded", err)
	}
	if el := time.Since(start); el > 10*time.Second { // generous: the stall is a minute
		t.Fatalf("publish took %s past a 300ms deadline", el)
	}
	if total, _ := cw.Requests(); total != 1 {
		t.Errorf("%d requests, want 1: no retry after the deadline", total)
	}
}

// The Lambda binary is pointed at a local endpoint by environment alone:
// config.LoadDefaultConfig honours AWS_ENDPOINT_URL_CLOUDWATCH.
func TestEndpointFromEnvironment(t *testing.T) {
	cw := newServer(t)
	t.Setenv("AWS_ENDPOINT_URL_CLOUDWATCH", cw.URL())
	t.Setenv("AWS_REGION", "eu-west-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDLOCAL")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "local")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONFIG_FILE", "/nonexistent")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
	t.Setenv("AWS_ENDPOINT_URL", "")
	t.Setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "")
	client, err := defaultClient(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := metrics.NewCloudWatch(client, metrics.Options{}).Publish(context.Background(), metrics.Sample{Time: t0, Healthy: true}); err != nil {
		t.Fatal(err)
	}
	data, err := cw.WaitFor(2, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if d := find(t, data, metrics.HealthCheckStatus); d.Value != 1 {
		t.Fatalf("%+v", d)
	}
}

func BenchmarkPublishCloudWatch(b *testing.B) {
	cw := newServer(b)
	benchPublish(b, cwlocal.NewClient(cw.URL(), 1))
}

// The publisher's own share: building the input, without the SDK.
func BenchmarkPublishCloudWatchInput(b *testing.B) {
	benchPublish(b, discard{})
}

// benchPublish publishes one sample per iteration through api.
func benchPublish(b *testing.B, api metrics.PutMetricDataAPI) {
	p := metrics.NewCloudWatch(api, metrics.Options{Dimensions: []metrics.Dimension{{Name: "Region", Value: "us-east-1"}}})
	lag := 250 * time.Millisecond
	s := metrics.Sample{Time: t0, Healthy: true, Latency: time.Millisecond, ReplicationLag: &lag}
	b.ReportAllocs()
	for b.Loop() {
		if err := p.Publish(context.Background(), s); err != nil {
			b.Fatal(err)
		}
	}
}

type discard struct{}

func (discard) PutMetricData(context.Context, *cloudwatch.PutMetricDataInput, ...func(*cloudwatch.Options)) (*cloudwatch.PutMetricDataOutput, error) {
	return &cloudwatch.PutMetricDataOutput{}, nil
}
