package metrics

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"sync"
	"time"
)

var _ Publisher = (*EMF)(nil)

// EMF writes one CloudWatch Embedded Metric Format document per sample, one
// JSON line on w. In Lambda, stdout goes to CloudWatch Logs, which extracts
// the metrics: no API call, no VPC endpoint, no NAT.
//
// A document looks like this (one line; dimensions and values are members
// of the root object, the spec's target members):
//
//	{"_aws":{"Timestamp":1795852830123,"CloudWatchMetrics":[{"Namespace":"Custom/Redis",
//	 "Dimensions":[["Region"]],"Metrics":[{"Name":"HealthCheckStatus","Unit":"None"},…]}]},
//	 "Region":"us-east-1","HealthCheckStatus":1,"HealthCheckLatency":1.234}
//
// Without dimensions the directive carries one empty dimension set,
// "Dimensions":[[]]: the spec requires at least one set and allows it to be
// empty, which publishes the metrics with no dimensions.
type EMF struct {
	opts Options
	// The constant parts of every document, built once: middle[0] without
	// ReplicationLagSeconds, middle[1] with it.
	middle [2][]byte

	mu  sync.Mutex // one write per line: lines never interleave
	w   io.Writer
	buf []byte // reused under mu: a publish allocates nothing
}

// Shapes of the EMF metadata, used once per publisher to build the constant
// parts of its documents.
type emfMetric struct {
	Name              string `json:"Name"`
	Unit              string `json:"Unit"`
	StorageResolution int    `json:"StorageResolution,omitempty"`
}

type emfDirective struct {
	Namespace  string      `json:"Namespace"`
	Dimensions [][]string  `json:"Dimensions"`
	Metrics    []emfMetric `json:"Metrics"`
}

// NewEMF returns a publisher writing to w (os.Stdout in Lambda). Check o with
// Options.Validate first: names and values are written as given.
func NewEMF(w io.Writer, o Options) *EMF {
	o = o.withDefaults()
	e := &EMF{opts: o, w: w, buf: make([]byte, 0, 512)}
	for i, lag := range []bool{false, true} {
		e.middle[i] = emfMiddle(o, lag)
	}
	return e
}

// emfMiddle renders everything between the timestamp and the metric values:
// the directive, then the dimension members.
func emfMiddle(o Options, lag bool) []byte {
	names := make([]string, 0, len(o.Dimensions)) // never nil: [] not null
	for _, d := range o.Dimensions {
		names = append(names, d.Name)
	}
	defs := []emfMetric{{Name: HealthCheckStatus, Unit: "None"}, {Name: HealthCheckLatency, Unit: "Milliseconds"}}
	if lag {
		defs = append(defs, emfMetric{Name: ReplicationLagSeconds, Unit: "Seconds"})
	}
	if o.HighResolution {
		defs = append(defs, emfMetric{Name: HealthCheckStatusHighRes, Unit: "None", StorageResolution: highResolution})
	}
	dir, err := json.Marshal([]emfDirective{{Namespace: o.Namespace, Dimensions: [][]string{names}, Metrics: defs}})
	if err != nil {
		panic(fmt.Sprintf("metrics: encode embedded metric format directive: %v", err)) // strings only: cannot happen
	}
	b := append([]byte(`,"CloudWatchMetrics":`), dir...)
	b = append(b, "},"...)
	for _, d := range o.Dimensions {
		b = appendJSONString(b, d.Name)
		b = append(b, ':')
		b = appendJSONString(b, d.Value)
		b = append(b, ',')
	}
	return b
}

// Publish writes the sample as one EMF line. ctx is not used: a write to
// stdout does not wait on the network.
func (e *EMF) Publish(_ context.Context, s Sample) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.buf = e.document(e.buf[:0], s)
	if _, err := e.w.Write(e.buf); err != nil {
		return fmt.Errorf("write embedded metric format: %w", err)
	}
	return nil
}

// document appends the sample's EMF line to b.
func (e *EMF) document(b []byte, s Sample) []byte {
	ts := s.Time
	if ts.IsZero() {
		ts = time.Now()
	}
	status := statusValue(s.Healthy)
	b = append(b, `{"_aws":{"Timestamp":`...)
	b = strconv.AppendInt(b, ts.UnixMilli(), 10)
	lag := 0
	if s.ReplicationLag != nil {
		lag = 1
	}
	b = append(b, e.middle[lag]...)
	b = append(b, `"`+HealthCheckStatus+`":`...)
	b = appendJSONFloat(b, status)
	b = append(b, `,"`+HealthCheckLatency+`":`...)
	b = appendJSONFloat(b, latencyMS(s))
	if s.ReplicationLag != nil {
		b = append(b, `,"`+ReplicationLagSeconds+`":`...)
		b = appendJSONFloat(b, s.ReplicationLag.Seconds())
	}
	if e.opts.HighResolution {
		b = append(b, `,"`+HealthCheckStatusHighRes+`":`...)
		b = appendJSONFloat(b, status)
	}
	return append(b, "}\n"...)
}

// appendJSONFloat writes f as encoding/json does: plain decimals, exponent
// form only for very small or very large magnitudes. Values here come from
// durations, so never NaN or infinite.
func appendJSONFloat(b []byte, f float64) []byte {
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' { // 1e-07 → 1e-7, as encoding/json writes it
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

func appendJSONString(b []byte, s string) []byte {
	q, err := json.Marshal(s)
	if err != nil {
		panic(fmt.Sprintf("metrics: encode string: %v", err)) // a string always encodes
	}
	return append(b, q...)
}
