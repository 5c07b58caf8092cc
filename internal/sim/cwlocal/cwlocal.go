// Package cwlocal is a CloudWatch endpoint on loopback that decodes what the
// real aws-sdk-go-v2 CloudWatch client (service/cloudwatch v1.75.5) sends for
// PutMetricData: smithy RPCv2 CBOR, gzip'd or not. It records every datum,
// answers failures in the protocol's error shape (5xx, throttling) and can
// stall, so tests check the wire format and the client's retries and
// deadlines against the real SDK; `make run` uses it to print the metrics
// the function would publish.
//
// Point a client at it with NewClient, or set AWS_ENDPOINT_URL_CLOUDWATCH to
// URL() for a client built with config.LoadDefaultConfig.
package cwlocal

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/fxamacker/cbor/v2"

	"github.com/redisha/redisha/internal/metrics"
	"github.com/redisha/redisha/internal/sim/localaws"
)

// PutMetricDataPath is where the SDK posts PutMetricData: RPCv2 CBOR puts
// the service's shape name and the operation in the path.
const PutMetricDataPath = "/service/GraniteServiceVersion20100801/operation/PutMetricData"

// Region is the region of the clients NewClient builds.
const Region = "us-east-1"

// maxBody is PutMetricData's request size limit (1 MB).
const maxBody = 1 << 20

// Datum is one metric value as received.
type Datum struct {
	Namespace  string
	MetricName string
	// Dimensions in the order the client sent them.
	Dimensions []metrics.Dimension
	// Timestamp as sent (CBOR tag 1, epoch seconds), rounded to the
	// microsecond: a float of epoch seconds is only that exact today.
	// Zero when absent.
	Timestamp time.Time
	// Value is the single value; Values and Counts carry the array form.
	Value  float64
	Values []float64
	Counts []float64
	// Unit as sent; empty when absent (CloudWatch then assumes None).
	Unit string
	// StorageResolution as sent: 1 or 60, 0 when absent (CloudWatch then
	// assumes 60).
	StorageResolution int
}

// String is the datum as one human line, e.g.
// "Custom/Redis HealthCheckStatus{Region=us-east-1} = 1 None at 08:00:30.123".
func (d Datum) String() string {
	dims := make([]string, len(d.Dimensions))
	for i, x := range d.Dimensions {
		dims[i] = x.Name + "=" + x.Value
	}
	res := ""
	if d.StorageResolution == 1 {
		res = " (high resolution)"
	}
	return fmt.Sprintf("%s %s{%s} = %g %s%s at %s", d.Namespace, d.MetricName, strings.Join(dims, ","),
		d.Value, d.Unit, res, d.Timestamp.UTC().Format("15:04:05.000"))
}

// wireInput mirrors PutMetricDataInput as the CBOR body carries it; members
// are named as in the Smithy model. Decoding rejects any other member, so a
// change in what the SDK sends shows up as a rejected request.
type wireInput struct {
	Namespace              *string          `cbor:"Namespace"`
	MetricData             []wireDatum      `cbor:"MetricData"`
	EntityMetricData       []wireEntityData `cbor:"EntityMetricData"`
	StrictEntityValidation *bool            `cbor:"StrictEntityValidation"`
}

type wireEntityData struct {
	Entity *struct {
		KeyAttributes map[string]string `cbor:"KeyAttributes"`
		Attributes    map[string]string `cbor:"Attributes"`
	} `cbor:"Entity"`
	MetricData []wireDatum `cbor:"MetricData"`
}

type wireDatum struct {
	MetricName *string         `cbor:"MetricName"`
	Dimensions []wireDimension `cbor:"Dimensions"`
	// Smithy timestamps travel as CBOR tag 1 (epoch seconds, integer or
	// float); the decoder is set to require the tag.
	Timestamp       *time.Time `cbor:"Timestamp"`
	Value           *float64   `cbor:"Value"`
	Values          []float64  `cbor:"Values"`
	Counts          []float64  `cbor:"Counts"`
	StatisticValues *struct {
		SampleCount *float64 `cbor:"SampleCount"`
		Sum         *float64 `cbor:"Sum"`
		Minimum     *float64 `cbor:"Minimum"`
		Maximum     *float64 `cbor:"Maximum"`
	} `cbor:"StatisticValues"`
	Unit              *string `cbor:"Unit"`
	StorageResolution *int    `cbor:"StorageResolution"`
}

type wireDimension struct {
	Name  *string `cbor:"Name"`
	Value *string `cbor:"Value"`
}

var decMode = func() cbor.DecMode {
	dm, err := cbor.DecOptions{
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		TimeTag:           cbor.DecTagRequired,
	}.DecMode()
	if err != nil {
		panic(fmt.Sprintf("cwlocal: CBOR decoder options: %v", err))
	}
	return dm
}()

// Failure is an error answer the server gives instead of accepting a
// request.
type Failure struct {
	// Status is the HTTP status: 5xx for a service error, 400 for
	// throttling (as CloudWatch answers it).
	Status int
	// Code is the error code the caller sees, e.g. Throttling. CloudWatch
	// is awsQuery-compatible: the code travels in the X-Amzn-Query-Error
	// header, which the SDK prefers to the body's __type.
	Code string
	// Type is the error's shape name in the Smithy model, sent in the
	// body's __type as com.amazonaws.cloudwatch#Type; a modeled one makes
	// the SDK return its types.* error. default: Code
	Type string
}

// Failures CloudWatch gives. The SDK's standard retryer retries all three:
// 500 and 503 by status, Throttling by code (retry.DefaultThrottleErrorCodes),
// which also makes it take the throttling retry cost.
var (
	// Throttled is CloudWatch's rate-limit answer: 400, code Throttling.
	Throttled = Failure{Status: http.StatusBadRequest, Code: "Throttling"}
	// Unavailable is a 503 service error.
	Unavailable = Failure{Status: http.StatusServiceUnavailable, Code: "ServiceUnavailable"}
	// InternalError is CloudWatch's modeled 500: the SDK returns a
	// *types.InternalServiceFault with code InternalServiceError.
	InternalError = Failure{Status: http.StatusInternalServerError, Code: "InternalServiceError", Type: "InternalServiceFault"}
)

// Server is the local endpoint. Its methods are safe for concurrent use.
type Server struct {
	srv *httptest.Server

	mu       sync.Mutex
	data     []Datum
	requests int
	gzipped  int
	rejected []string
	failures localaws.Failures[Failure]
	stall    time.Duration
	print    io.Writer
	changed  chan struct{} // closed and replaced whenever data arrive
	quit     chan struct{}
	once     sync.Once
	alarms   alarmBook // DescribeAlarms (alarms.go)
}

// New starts a server on a free port of 127.0.0.1. It panics when it cannot
// listen, as httptest.NewServer does. Close it when done.
func New() *Server {
	s := &Server{changed: make(chan struct{}), quit: make(chan struct{})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(fmt.Sprintf("cwlocal: listen on loopback: %v", err))
	}
	s.srv = &httptest.Server{Listener: ln, Config: &http.Server{Handler: http.HandlerFunc(s.serve)}}
	s.srv.Start()
	return s
}

// URL is the endpoint, for AWS_ENDPOINT_URL_CLOUDWATCH or BaseEndpoint.
func (s *Server) URL() string { return s.srv.URL }

// Close ends stalled requests, then stops the server.
func (s *Server) Close() {
	s.once.Do(func() { close(s.quit) })
	s.srv.CloseClientConnections()
	s.srv.Close()
}

// Print makes the server write every datum it accepts to w, one line each
// (see Datum.String); nil stops it.
func (s *Server) Print(w io.Writer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.print = w
}

// FailNext makes the next len(f) well-formed requests fail with the given
// answers, in order; they record nothing.
func (s *Server) FailNext(f ...Failure) { s.failures.Add(f...) }

// Stall makes every request wait d before it is answered, or until the
// client gives up or the server closes; 0 turns it off.
func (s *Server) Stall(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stall = d
}

// Received returns the data accepted so far, in arrival order.
func (s *Server) Received() []Datum {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Datum(nil), s.data...)
}

// Requests returns how many requests arrived (failed and rejected ones
// included) and how many of them had gzip bodies.
func (s *Server) Requests() (total, gzipped int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests, s.gzipped
}

// Rejected lists why the server refused requests that were not the SDK's
// PutMetricData (method, path, headers or body).
func (s *Server) Rejected() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.rejected...)
}

// WaitFor waits until at least n data have been accepted and returns them,
// or returns what arrived and an error after timeout.
func (s *Server) WaitFor(n int, timeout time.Duration) ([]Datum, error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		s.mu.Lock()
		got, changed := len(s.data), s.changed
		s.mu.Unlock()
		if got >= n {
			return s.Received(), nil
		}
		select {
		case <-changed:
		case <-timer.C:
			d := s.Received()
			return d, fmt.Errorf("cwlocal: %d data within %s, want %d", len(d), timeout, n)
		}
	}
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests++
	stall := s.stall
	s.mu.Unlock()
	if stall > 0 {
		t := time.NewTimer(stall)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return
		case <-s.quit:
			// Drop the connection unanswered: returning would send an
			// empty 200, which the SDK takes for success.
			panic(http.ErrAbortHandler)
		}
	}

	if r.URL.Path == DescribeAlarmsPath {
		s.describeAlarms(w, r)
		return
	}
	if r.URL.Path == GetMetricDataPath {
		s.getMetricData(w, r)
		return
	}
	if err := checkRequest(r, PutMetricDataPath); err != nil {
		s.reject(w, "InvalidRequest", err)
		return
	}
	body, gzipped, err := readBody(r)
	if gzipped {
		s.mu.Lock()
		s.gzipped++
		s.mu.Unlock()
	}
	if err != nil {
		s.reject(w, "InvalidRequest", err)
		return
	}
	data, err := decode(body)
	if err != nil {
		s.reject(w, "InvalidParameterValue", err)
		return
	}

	if s.failInjected(w) {
		return
	}
	s.mu.Lock()
	s.data = append(s.data, data...)
	close(s.changed)
	s.changed = make(chan struct{})
	out := s.print
	if out != nil { // under mu: lines of concurrent requests never interleave
		for _, d := range data {
			fmt.Fprintf(out, "  metric: %s\n", d)
		}
	}
	s.mu.Unlock()

	w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
	w.Header().Set("Content-Type", "application/cbor")
	_, _ = w.Write([]byte{0xa0}) // empty CBOR map: PutMetricDataOutput has no members
}

// failInjected answers the request with the next failure queued by FailNext
// and reports whether there was one.
func (s *Server) failInjected(w http.ResponseWriter) bool {
	f, ok := s.failures.Next()
	if !ok {
		return false
	}
	writeError(w, f, "injected by cwlocal")
	return true
}

func (s *Server) reject(w http.ResponseWriter, code string, err error) {
	s.mu.Lock()
	s.rejected = append(s.rejected, err.Error())
	s.mu.Unlock()
	writeError(w, Failure{Status: http.StatusBadRequest, Code: code}, "cwlocal: "+err.Error())
}

// checkRequest accepts only what the SDK's RPCv2 CBOR protocol sends.
func checkRequest(r *http.Request, path string) error {
	want := map[string]string{
		"Smithy-Protocol":   "rpc-v2-cbor",
		"Content-Type":      "application/cbor",
		"Accept":            "application/cbor",
		"X-Amzn-Query-Mode": "true", // CloudWatch is awsQuery-compatible
	}
	switch {
	case r.Method != http.MethodPost:
		return fmt.Errorf("method %s, want POST", r.Method)
	case r.URL.Path != path:
		return fmt.Errorf("path %s, want %s (only PutMetricData, DescribeAlarms and GetMetricData over RPCv2 CBOR are served)", r.URL.Path, path)
	case !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 "):
		return errors.New("request is not SigV4-signed: give the client credentials")
	}
	for _, h := range []string{"Smithy-Protocol", "Content-Type", "Accept", "X-Amzn-Query-Mode"} {
		if got := r.Header.Get(h); got != want[h] {
			return fmt.Errorf("header %s is %q, want %q", h, got, want[h])
		}
	}
	if ce := r.Header.Get("Content-Encoding"); ce != "" && ce != "gzip" {
		return fmt.Errorf("content encoding %q, want gzip or none", ce)
	}
	return nil
}

// readBody returns the body, gunzipped when the request says gzip.
func readBody(r *http.Request) (body []byte, gzipped bool, err error) {
	var in io.Reader = http.MaxBytesReader(nil, r.Body, maxBody)
	if r.Header.Get("Content-Encoding") == "gzip" {
		gzipped = true
		zr, err := gzip.NewReader(in)
		if err != nil {
			return nil, gzipped, fmt.Errorf("gzip body: %w", err)
		}
		in = io.LimitReader(zr, maxBody+1)
	}
	body, err = io.ReadAll(in)
	switch {
	case err != nil:
		return nil, gzipped, fmt.Errorf("read body: %w", err)
	case len(body) > maxBody:
		return nil, gzipped, fmt.Errorf("body over %d bytes: PutMetricData takes at most 1 MB", maxBody)
	}
	return body, gzipped, nil
}

// decode reads a PutMetricData body and checks what CloudWatch checks
// cheaply: names, values, units, resolutions and dimension counts.
func decode(body []byte) ([]Datum, error) {
	var in wireInput
	if err := decMode.Unmarshal(body, &in); err != nil {
		if names := unknownMembers(body); len(names) > 0 {
			err = fmt.Errorf("unknown members %s: %w", strings.Join(names, ", "), err)
		}
		return nil, fmt.Errorf("decode CBOR body as PutMetricDataInput: %w", err)
	}
	if in.Namespace == nil || *in.Namespace == "" {
		return nil, errors.New("namespace is missing")
	}
	all := in.MetricData
	for _, e := range in.EntityMetricData {
		all = append(all, e.MetricData...)
	}
	if len(all) == 0 {
		return nil, errors.New("metric data is empty")
	}
	out := make([]Datum, 0, len(all))
	for i, m := range all {
		d, err := datum(*in.Namespace, m)
		if err != nil {
			return nil, fmt.Errorf("datum %d: %w", i, err)
		}
		out = append(out, d)
	}
	return out, nil
}

// unknownMembers names the members of body that PutMetricDataInput and
// MetricDatum lack, for an error that says which; the decoder only gives
// their position.
func unknownMembers(body []byte) []string {
	var in map[string]any
	if cbor.Unmarshal(body, &in) != nil {
		return nil
	}
	var out []string
	check := func(where string, m map[any]any, known ...string) {
		for k := range m {
			if name, ok := k.(string); ok && !slices.Contains(known, name) {
				out = append(out, where+name)
			}
		}
	}
	top := make(map[any]any, len(in))
	for k, v := range in {
		top[k] = v
	}
	check("", top, "Namespace", "MetricData", "EntityMetricData", "StrictEntityValidation")
	data, _ := in["MetricData"].([]any)
	for i, d := range data {
		if m, ok := d.(map[any]any); ok {
			check(fmt.Sprintf("MetricData[%d].", i), m, "MetricName", "Dimensions", "Timestamp", "Value", "Values",
				"Counts", "StatisticValues", "Unit", "StorageResolution")
		}
	}
	sort.Strings(out)
	return out
}

func datum(namespace string, m wireDatum) (Datum, error) {
	d := Datum{Namespace: namespace, Values: m.Values, Counts: m.Counts}
	if m.MetricName == nil || *m.MetricName == "" {
		return d, errors.New("metric name is missing")
	}
	d.MetricName = *m.MetricName
	switch {
	case m.Value != nil:
		d.Value = *m.Value
	case len(m.Values) == 0 && m.StatisticValues == nil:
		return d, fmt.Errorf("%s has no Value, Values or StatisticValues", d.MetricName)
	}
	if m.Timestamp != nil {
		d.Timestamp = m.Timestamp.Round(time.Microsecond)
	}
	if m.Unit != nil {
		if !validUnit(*m.Unit) {
			return d, fmt.Errorf("%s has unit %q, not a CloudWatch StandardUnit", d.MetricName, *m.Unit)
		}
		d.Unit = *m.Unit
	}
	if m.StorageResolution != nil {
		if r := *m.StorageResolution; r != 1 && r != 60 {
			return d, fmt.Errorf("%s has storage resolution %d, want 1 or 60", d.MetricName, r)
		}
		d.StorageResolution = *m.StorageResolution
	}
	if len(m.Dimensions) > 30 {
		return d, fmt.Errorf("%s has %d dimensions, CloudWatch takes at most 30", d.MetricName, len(m.Dimensions))
	}
	for _, x := range m.Dimensions {
		if x.Name == nil || x.Value == nil || *x.Name == "" || *x.Value == "" {
			return d, fmt.Errorf("%s has a dimension without name or value", d.MetricName)
		}
		d.Dimensions = append(d.Dimensions, metrics.Dimension{Name: *x.Name, Value: *x.Value})
	}
	return d, nil
}

func validUnit(u string) bool {
	for _, v := range types.StandardUnit("").Values() {
		if string(v) == u {
			return true
		}
	}
	return false
}

// writeError answers in the RPCv2 CBOR error shape: a CBOR map with __type
// (the shape id) and the message, and the X-Amzn-Query-Error header
// ("Code;Sender" or "Code;Receiver") that awsQuery-compatible services add
// and the SDK prefers for the error code. The message goes under both
// "message" (the protocol's member, read for unmodeled errors) and
// "Message" (the member CloudWatch's modeled errors declare).
func writeError(w http.ResponseWriter, f Failure, msg string) {
	typ := f.Type
	if typ == "" {
		typ = f.Code
	}
	body, err := cbor.Marshal(map[string]string{"__type": "com.amazonaws.cloudwatch#" + typ, "message": msg, "Message": msg})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError) // two strings always encode
		return
	}
	fault := "Receiver"
	if f.Status < 500 {
		fault = "Sender"
	}
	w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
	w.Header().Set("Content-Type", "application/cbor")
	w.Header().Set("X-Amzn-Query-Error", f.Code+";"+fault)
	w.WriteHeader(f.Status)
	_, _ = io.Copy(w, bytes.NewReader(body))
}

// NewClient returns a real CloudWatch client for url with static test
// credentials, region Region and the SDK's standard retryer allowing
// maxAttempts attempts per call (at least 1; backoff capped at 50 ms so
// tests stay quick). Request compression starts at 10 KiB, the default
// config.LoadDefaultConfig sets, so small bodies go uncompressed as they do
// in the Lambda; lower RequestMinCompressSizeBytes per call to force gzip.
func NewClient(url string, maxAttempts int) *cloudwatch.Client {
	if maxAttempts < 1 {
		maxAttempts = 1
	}
	return cloudwatch.New(cloudwatch.Options{
		Region:                      Region,
		BaseEndpoint:                aws.String(url),
		Credentials:                 credentials.NewStaticCredentialsProvider("AKIDLOCAL", "local-secret", ""),
		RequestMinCompressSizeBytes: 10240,
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = maxAttempts
			o.MaxBackoff = 50 * time.Millisecond
		}),
	})
}

// requestBody checks that r is the operation at path and reads its body;
// false when it has already answered with the error.
func (s *Server) requestBody(w http.ResponseWriter, r *http.Request, path string) ([]byte, bool) {
	if err := checkRequest(r, path); err != nil {
		s.reject(w, "InvalidRequest", err)
		return nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBody))
	if err != nil {
		s.reject(w, "InvalidRequest", err)
		return nil, false
	}
	return body, true
}
