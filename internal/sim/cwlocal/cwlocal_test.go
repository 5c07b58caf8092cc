package cwlocal_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/smithy-go"
	"github.com/fxamacker/cbor/v2"

	"github.com/redisha/redisha/internal/metrics"
	"github.com/redisha/redisha/internal/sim/cwlocal"
	"github.com/redisha/redisha/internal/testbed/syncbuf"
)

var t0 = time.Date(2026, 11, 22, 8, 0, 30, 123e6, time.UTC)

func start(t *testing.T) *cwlocal.Server {
	t.Helper()
	s := cwlocal.New()
	t.Cleanup(s.Close)
	return s
}

func epoch(t time.Time) cbor.Tag {
	return cbor.Tag{Number: 1, Content: float64(t.UnixNano()) / 1e9}
}

// body is a PutMetricData body as the SDK encodes it, with edits applied.
func body(t *testing.T, edit func(in map[string]any, datum map[string]any)) []byte {
	t.Helper()
	datum := map[string]any{
		"MetricName": "HealthCheckStatus", "Value": 1.0, "Unit": "None", "StorageResolution": 60,
		"Timestamp":  epoch(t0),
		"Dimensions": []any{map[string]any{"Name": "Region", "Value": "us-east-1"}},
	}
	in := map[string]any{"Namespace": "Custom/Redis", "MetricData": []any{datum}}
	if edit != nil {
		edit(in, datum)
	}
	b, err := cbor.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// request is what the SDK sends, with the header and method as given.
func request(t *testing.T, s *cwlocal.Server, method, path string, header map[string]string, b []byte) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, s.URL()+path, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"Smithy-Protocol":   "rpc-v2-cbor",
		"Content-Type":      "application/cbor",
		"Accept":            "application/cbor",
		"X-Amzn-Query-Mode": "true",
		"Authorization":     "AWS4-HMAC-SHA256 Credential=AKIDLOCAL/20261122/us-east-1/monitoring/aws4_request",
	} {
		req.Header.Set(k, v)
	}
	for k, v := range header {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	return req
}

type answer struct {
	status     int
	queryError string
	typ, msg   string
}

func send(t *testing.T, req *http.Request) answer {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Header.Get("Smithy-Protocol") != "rpc-v2-cbor" || resp.Header.Get("Content-Type") != "application/cbor" {
		t.Fatalf("answer headers %v", resp.Header)
	}
	a := answer{status: resp.StatusCode, queryError: resp.Header.Get("X-Amzn-Query-Error")}
	var m map[string]string
	if err := cbor.Unmarshal(raw, &m); err != nil {
		t.Fatalf("answer body %x is not a CBOR map of strings: %v", raw, err)
	}
	a.typ, a.msg = m["__type"], m["message"]
	return a
}

func gzipped(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// GIVEN a request that is not the SDK's PutMetricData WHEN it arrives
// THEN it is refused with a 400 in the protocol's error shape saying why,
// and nothing is recorded.
func TestRejectsWhatTheSDKDoesNotSend(t *testing.T) {
	p := cwlocal.PutMetricDataPath
	cases := []struct {
		name   string
		method string
		path   string
		header map[string]string
		body   func(*testing.T) []byte
		code   string
		want   string
	}{
		{"GET", "GET", p, nil, nil, "InvalidRequest", "method GET, want POST"},
		{"another operation", "POST", "/service/GraniteServiceVersion20100801/operation/ListMetrics", nil, nil, "InvalidRequest",
			"path /service/GraniteServiceVersion20100801/operation/ListMetrics, want " + p},
		{"awsquery form post", "POST", "/", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, nil, "InvalidRequest", "path /, want"},
		{"unsigned", "POST", p, map[string]string{"Authorization": ""}, nil, "InvalidRequest", "request is not SigV4-signed"},
		{"no protocol header", "POST", p, map[string]string{"Smithy-Protocol": ""}, nil, "InvalidRequest", `header Smithy-Protocol is "", want "rpc-v2-cbor"`},
		{"JSON content", "POST", p, map[string]string{"Content-Type": "application/json"}, nil, "InvalidRequest",
			`header Content-Type is "application/json", want "application/cbor"`},
		{"no Accept", "POST", p, map[string]string{"Accept": ""}, nil, "InvalidRequest", `header Accept is "", want "application/cbor"`},
		{"no query mode", "POST", p, map[string]string{"X-Amzn-Query-Mode": ""}, nil, "InvalidRequest", `header X-Amzn-Query-Mode is "", want "true"`},
		{"brotli", "POST", p, map[string]string{"Content-Encoding": "br"}, nil, "InvalidRequest", `content encoding "br", want gzip or none`},
		{"gzip header, plain body", "POST", p, map[string]string{"Content-Encoding": "gzip"}, nil, "InvalidRequest", "gzip body: "},
		{"not CBOR", "POST", p, nil, func(*testing.T) []byte { return []byte("{}") }, "InvalidParameterValue", "decode CBOR body as PutMetricDataInput"},
		{"unknown member", "POST", p, nil, func(t *testing.T) []byte {
			return body(t, func(_, d map[string]any) { d["Values2"] = 1.0 })
		}, "InvalidParameterValue", "unknown members MetricData[0].Values2: cbor: found unknown field"},
		{"untagged timestamp", "POST", p, nil, func(t *testing.T) []byte {
			return body(t, func(_, d map[string]any) { d["Timestamp"] = float64(t0.Unix()) })
		}, "InvalidParameterValue", "decode CBOR body as PutMetricDataInput"},
		{"no namespace", "POST", p, nil, func(t *testing.T) []byte {
			return body(t, func(in, _ map[string]any) { delete(in, "Namespace") })
		}, "InvalidParameterValue", "namespace is missing"},
		{"no data", "POST", p, nil, func(t *testing.T) []byte {
			return body(t, func(in, _ map[string]any) { in["MetricData"] = []any{} })
		}, "InvalidParameterValue", "metric data is empty"},
		{"no value", "POST", p, nil, func(t *testing.T) []byte {
			return body(t, func(_, d map[string]any) { delete(d, "Value") })
		}, "InvalidParameterValue", "datum 0: HealthCheckStatus has no Value, Values or StatisticValues"},
		{"bad unit", "POST", p, nil, func(t *testing.T) []byte {
			return body(t, func(_, d map[string]any) { d["Unit"] = "Millis" })
		}, "InvalidParameterValue", `datum 0: HealthCheckStatus has unit "Millis", not a CloudWatch StandardUnit`},
		{"bad resolution", "POST", p, nil, func(t *testing.T) []byte {
			return body(t, func(_, d map[string]any) { d["StorageResolution"] = 30 })
		}, "InvalidParameterValue", "datum 0: HealthCheckStatus has storage resolution 30, want 1 or 60"},
		{"empty dimension value", "POST", p, nil, func(t *testing.T) []byte {
			return body(t, func(_, d map[string]any) { d["Dimensions"] = []any{map[string]any{"Name": "Region", "Value": ""}} })
		}, "InvalidParameterValue", "datum 0: HealthCheckStatus has a dimension without name or value"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := start(t)
			s.FailNext(cwlocal.Throttled) // a refused request does not use up an injected failure
			b := body(t, nil)
			if tc.body != nil {
				b = tc.body(t)
			}
			a := send(t, request(t, s, tc.method, tc.path, tc.header, b))
			if a.status != 400 || a.typ != "com.amazonaws.cloudwatch#"+tc.code || a.queryError != tc.code+";Sender" ||
				!strings.HasPrefix(a.msg, "cwlocal: ") || !strings.Contains(a.msg, tc.want) {
				t.Fatalf("answer %+v, want 400 %s with %q", a, tc.code, tc.want)
			}
			if rej := s.Rejected(); len(rej) != 1 || !strings.Contains(rej[0], tc.want) {
				t.Fatalf("rejected %q", rej)
			}
			if len(s.Received()) != 0 {
				t.Fatalf("recorded %v", s.Received())
			}
			if a := send(t, request(t, s, "POST", cwlocal.PutMetricDataPath, nil, body(t, nil))); a.status != 400 || a.queryError != "Throttling;Sender" {
				t.Fatalf("next well-formed request: %+v, want the injected throttling", a)
			}
		})
	}
}

// Hand-built bodies in every form the protocol allows are read: integer
// and float epoch seconds, gzip, Values and Counts, StatisticValues,
// EntityMetricData.
func TestAcceptsTheProtocolsForms(t *testing.T) {
	s := start(t)
	whole := time.Date(2026, 11, 22, 8, 0, 30, 0, time.UTC)
	plain := body(t, func(_, d map[string]any) { d["Timestamp"] = cbor.Tag{Number: 1, Content: whole.Unix()} })
	forms := [][]byte{
		plain,
		gzipped(t, body(t, nil)),
		body(t, func(in, d map[string]any) {
			delete(d, "Value")
			d["Values"], d["Counts"] = []any{1.0, 2.0}, []any{3.0, 1.0}
			in["StrictEntityValidation"] = true
			in["EntityMetricData"] = []any{map[string]any{
				"Entity":     map[string]any{"KeyAttributes": map[string]string{"Type": "Service"}, "Attributes": map[string]string{}},
				"MetricData": []any{map[string]any{"MetricName": "Stats", "StatisticValues": map[string]any{"SampleCount": 2.0, "Sum": 3.0, "Minimum": 1.0, "Maximum": 2.0}}},
			}}
		}),
	}
	for i, b := range forms {
		header := map[string]string{}
		if i == 1 {
			header["Content-Encoding"] = "gzip"
		}
		if a := send(t, request(t, s, "POST", cwlocal.PutMetricDataPath, header, b)); a.status != 200 {
			t.Fatalf("form %d: %+v", i, a)
		}
	}
	if total, gz := s.Requests(); total != 3 || gz != 1 {
		t.Fatalf("requests %d gzip %d", total, gz)
	}
	data := s.Received()
	if len(data) != 4 {
		t.Fatalf("%d data: %v", len(data), data)
	}
	if !data[0].Timestamp.Equal(whole) || !data[1].Timestamp.Equal(t0) {
		t.Errorf("timestamps %s %s, want %s %s", data[0].Timestamp, data[1].Timestamp, whole, t0)
	}
	if d := data[2]; len(d.Values) != 2 || d.Counts[0] != 3 || d.Dimensions[0].Value != "us-east-1" {
		t.Errorf("values form %+v", d)
	}
	if d := data[3]; d.MetricName != "Stats" || d.Namespace != "Custom/Redis" || !d.Timestamp.IsZero() || d.Unit != "" || d.StorageResolution != 0 {
		t.Errorf("entity datum %+v", d)
	}
	if rej := s.Rejected(); len(rej) != 0 {
		t.Fatal(rej)
	}
}

// The injected failures reach the real SDK client as CloudWatch's would:
// the code, the fault, the HTTP status, and the retryer's classification.
func TestFailuresAsTheSDKSeesThem(t *testing.T) {
	cases := []struct {
		failure   cwlocal.Failure
		code      string
		status    int
		fault     smithy.ErrorFault
		throttle  bool
		retryable bool
	}{
		{cwlocal.Throttled, "Throttling", 400, smithy.FaultClient, true, true},
		{cwlocal.Unavailable, "ServiceUnavailable", 503, smithy.FaultServer, false, true},
		{cwlocal.InternalError, "InternalServiceError", 500, smithy.FaultServer, false, true},
		{cwlocal.Failure{Status: 400, Code: "InvalidParameterCombination"}, "InvalidParameterCombination", 400, smithy.FaultClient, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.code, func(t *testing.T) {
			s := start(t)
			s.FailNext(tc.failure)
			_, err := cwlocal.NewClient(s.URL(), 1).PutMetricData(context.Background(), input())
			var apiErr smithy.APIError
			var respErr *awshttp.ResponseError
			if !errors.As(err, &apiErr) || apiErr.ErrorCode() != tc.code || apiErr.ErrorFault() != tc.fault ||
				apiErr.ErrorMessage() != "injected by cwlocal" {
				t.Fatalf("error %v, want code %s fault %v", err, tc.code, tc.fault)
			}
			if !errors.As(err, &respErr) || respErr.HTTPStatusCode() != tc.status {
				t.Fatalf("error %v, want HTTP %d", err, tc.status)
			}
			if got := retry.IsErrorThrottles(retry.DefaultThrottles).IsErrorThrottle(err).Bool(); got != tc.throttle {
				t.Errorf("throttle %v, want %v", got, tc.throttle)
			}
			if got := retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(err).Bool(); got != tc.retryable {
				t.Errorf("retryable %v, want %v", got, tc.retryable)
			}
		})
	}
	var fault *types.InternalServiceFault
	s := start(t)
	s.FailNext(cwlocal.InternalError)
	if _, err := cwlocal.NewClient(s.URL(), 1).PutMetricData(context.Background(), input()); !errors.As(err, &fault) {
		t.Fatalf("error %v, want *types.InternalServiceFault", err)
	}
}

func input() *cloudwatch.PutMetricDataInput {
	name, ns, v := "HealthCheckStatus", "Custom/Redis", 1.0
	return &cloudwatch.PutMetricDataInput{Namespace: &ns, MetricData: []types.MetricDatum{{MetricName: &name, Value: &v, Timestamp: &t0}}}
}

// Failures are used up in order, then requests succeed again.
func TestFailNextInOrder(t *testing.T) {
	s := start(t)
	s.FailNext(cwlocal.Throttled, cwlocal.Unavailable)
	var got []int
	for range 3 {
		got = append(got, send(t, request(t, s, "POST", cwlocal.PutMetricDataPath, nil, body(t, nil))).status)
	}
	if got[0] != 400 || got[1] != 503 || got[2] != 200 {
		t.Fatalf("statuses %v, want 400 503 200", got)
	}
	if total, _ := s.Requests(); total != 3 || len(s.Received()) != 1 {
		t.Fatalf("requests %d, received %v", total, s.Received())
	}
}

func TestWaitFor(t *testing.T) {
	s := start(t)
	client := cwlocal.NewClient(s.URL(), 1)
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for range 3 { // every waiter wakes
		wg.Go(func() {
			_, err := s.WaitFor(2, 10*time.Second)
			errs <- err
		})
	}
	time.Sleep(20 * time.Millisecond)
	for range 2 {
		if _, err := client.PutMetricData(context.Background(), input()); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	data, err := s.WaitFor(3, 50*time.Millisecond)
	if err == nil || err.Error() != "cwlocal: 2 data within 50ms, want 3" || len(data) != 2 {
		t.Fatalf("%v %v", data, err)
	}
}

// Verbose mode: one human line per datum, as `make run` shows them.
func TestPrint(t *testing.T) {
	s := start(t)
	var out syncbuf.Buffer
	s.Print(&out)
	p := metrics.NewCloudWatch(cwlocal.NewClient(s.URL(), 1), metrics.Options{Dimensions: []metrics.Dimension{{Name: "Region", Value: "us-east-1"}, {Name: "Role", Value: "primary"}}, HighResolution: true})
	if err := p.Publish(context.Background(), metrics.Sample{Time: t0, Healthy: true, Writable: true, Latency: 1234 * time.Microsecond}); err != nil {
		t.Fatal(err)
	}
	want := "  metric: Custom/Redis HealthCheckStatus{Region=us-east-1,Role=primary} = 1 None at 08:00:30.123\n" +
		"  metric: Custom/Redis HealthCheckLatency{Region=us-east-1,Role=primary} = 1.234 Milliseconds at 08:00:30.123\n" +
		"  metric: Custom/Redis WritableStatus{Region=us-east-1,Role=primary} = 1 None at 08:00:30.123\n" +
		"  metric: Custom/Redis HealthCheckStatusHighRes{Region=us-east-1,Role=primary} = 1 None (high resolution) at 08:00:30.123\n"
	if out.String() != want {
		t.Fatalf("printed\n%s\nwant\n%s", out.String(), want)
	}
	s.Print(nil)
	if err := p.Publish(context.Background(), metrics.Sample{Time: t0}); err != nil {
		t.Fatal(err)
	}
	if out.String() != want {
		t.Fatal("printed after Print(nil)")
	}
}

// Close does not wait out a stall: the stalled request ends at once.
func TestCloseEndsStalledRequests(t *testing.T) {
	s := cwlocal.New()
	s.Stall(time.Hour)
	done := make(chan error, 1)
	go func() {
		_, err := cwlocal.NewClient(s.URL(), 1).PutMetricData(context.Background(), input())
		done <- err
	}()
	deadline := time.Now().Add(10 * time.Second)
	for total, _ := s.Requests(); total == 0; total, _ = s.Requests() {
		if time.Now().After(deadline) {
			t.Fatal("the request never arrived")
		}
		time.Sleep(5 * time.Millisecond)
	}
	closed := make(chan struct{})
	go func() { s.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close waited for the stall")
	}
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("a stalled request succeeded")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the client still waits")
	}
	s.Close() // twice is fine
}

func TestListensOnLoopbackOnly(t *testing.T) {
	s := start(t)
	u, err := url.Parse(s.URL())
	if err != nil {
		t.Fatal(err)
	}
	if u.Scheme != "http" || u.Hostname() != "127.0.0.1" || u.Port() == "" {
		t.Fatalf("URL %s, want http://127.0.0.1:PORT", s.URL())
	}
}
