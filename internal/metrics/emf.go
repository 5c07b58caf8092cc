package metrics

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"
)

var _ Publisher = (*EMF)(nil)

// EMF writes one CloudWatch Embedded Metric Format document per sample, one
// JSON line on w. In Lambda, stdout goes to CloudWatch Logs, which extracts
// the metrics: no API call, no VPC endpoint, no NAT.
//
// A document looks like this (one line; dimensions and values are members
// of the root object, the spec's target members):
//
//	{"HealthCheckLatency":1.234,"HealthCheckStatus":1,"Region":"us-east-1","WritableStatus":1,
//	 "_aws":{"CloudWatchMetrics":[{"Dimensions":[["Region"]],"Metrics":[{"Name":"HealthCheckStatus",
//	 "Unit":"None"},…],"Namespace":"Custom/Redis"}],"Timestamp":1795852830123}}
//
// Without dimensions the directive carries one empty dimension set,
// "Dimensions":[[]]: the spec requires at least one set and allows it to be
// empty, which publishes the metrics with no dimensions. Written with
// encoding/json: at two lines a minute, plain beats fast.
type EMF struct {
	opts  Options
	names []string // dimension names, never nil: [] not null

	mu sync.Mutex // one write per line: lines never interleave
	w  io.Writer
}

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

type emfMeta struct {
	Timestamp         int64          `json:"Timestamp"`
	CloudWatchMetrics []emfDirective `json:"CloudWatchMetrics"`
}

// NewEMF returns a publisher writing to w (os.Stdout in Lambda). Check o with
// Options.Validate first: names and values are written as given.
func NewEMF(w io.Writer, o Options) *EMF {
	o = o.withDefaults()
	names := make([]string, 0, len(o.Dimensions))
	for _, d := range o.Dimensions {
		names = append(names, d.Name)
	}
	return &EMF{opts: o, names: names, w: w}
}

// Publish writes the sample as one EMF line. ctx is not used: a write to
// stdout does not wait on the network.
func (e *EMF) Publish(_ context.Context, s Sample) error {
	line, err := e.document(s)
	if err != nil {
		return fmt.Errorf("encode embedded metric format: %w", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, err := e.w.Write(line); err != nil {
		return fmt.Errorf("write embedded metric format: %w", err)
	}
	return nil
}

// document renders the sample's EMF line, newline included.
func (e *EMF) document(s Sample) ([]byte, error) {
	vs := e.opts.values(s)
	doc := make(map[string]any, len(vs)+len(e.opts.Dimensions)+1)
	defs := make([]emfMetric, len(vs))
	for i, v := range vs {
		defs[i] = emfMetric{Name: v.name, Unit: v.unit}
		if v.resolution == highResolution {
			defs[i].StorageResolution = highResolution
		}
		doc[v.name] = v.value
	}
	for _, d := range e.opts.Dimensions {
		doc[d.Name] = d.Value
	}
	doc["_aws"] = emfMeta{
		Timestamp:         sampleTime(s).UnixMilli(),
		CloudWatchMetrics: []emfDirective{{Namespace: e.opts.Namespace, Dimensions: [][]string{e.names}, Metrics: defs}},
	}
	b, err := json.Marshal(doc)
	return append(b, '\n'), err
}
