package cwlocal

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/redisha/redisha/internal/metrics"
)

// What CloudWatch Logs does with a Lambda function's output: every line that
// is an Embedded Metric Format document becomes metrics, as the CloudWatch
// User Guide's "Specification: Embedded metric format" defines it (a root
// "_aws" member with Timestamp and CloudWatchMetrics directives, each naming
// a Namespace, dimension sets and metrics whose values are root members).
// Lines that are not EMF are logs and pass through. How long CloudWatch
// takes to extract them is not documented; here it is immediate.

type emfDoc struct {
	AWS *struct {
		Timestamp         int64 `json:"Timestamp"`
		CloudWatchMetrics []struct {
			Namespace  string     `json:"Namespace"`
			Dimensions [][]string `json:"Dimensions"`
			Metrics    []struct {
				Name              string `json:"Name"`
				Unit              string `json:"Unit"`
				StorageResolution int    `json:"StorageResolution"`
			} `json:"Metrics"`
		} `json:"CloudWatchMetrics"`
	} `json:"_aws"`
}

// IngestEMF records the metrics of one EMF document. ok is false for a line
// that is not one (a log line); err reports a document that breaks the spec.
func (s *Server) IngestEMF(line []byte) (ok bool, err error) {
	line = bytes.TrimSpace(line)
	if len(line) == 0 || line[0] != '{' || !bytes.Contains(line, []byte(`"_aws"`)) {
		return false, nil
	}
	var doc emfDoc
	var root map[string]json.RawMessage
	if json.Unmarshal(line, &doc) != nil || json.Unmarshal(line, &root) != nil || doc.AWS == nil {
		return false, nil
	}
	at := time.UnixMilli(doc.AWS.Timestamp).UTC()
	var data []Datum
	for _, dir := range doc.AWS.CloudWatchMetrics {
		for _, set := range dir.Dimensions {
			var dims []metrics.Dimension
			for _, name := range set {
				var v string
				if err := json.Unmarshal(root[name], &v); err != nil {
					return true, fmt.Errorf("emf: dimension %s has no string value at the root", name)
				}
				dims = append(dims, metrics.Dimension{Name: name, Value: v})
			}
			for _, m := range dir.Metrics {
				var v float64
				if err := json.Unmarshal(root[m.Name], &v); err != nil {
					return true, fmt.Errorf("emf: metric %s has no number at the root", m.Name)
				}
				data = append(data, Datum{Namespace: dir.Namespace, MetricName: m.Name, Dimensions: dims, Timestamp: at,
					Value: v, Unit: m.Unit, StorageResolution: m.StorageResolution})
			}
		}
	}
	s.mu.Lock()
	s.data = append(s.data, data...)
	if s.print != nil {
		for _, d := range data {
			fmt.Fprintln(s.print, d)
		}
	}
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
	return true, nil
}

// LogWriter is a function's output as CloudWatch Logs receives it: EMF lines
// become metrics in s, every line also goes to logs (nil: none).
func (s *Server) LogWriter(logs io.Writer) io.Writer {
	if logs == nil {
		logs = io.Discard
	}
	return &emfWriter{s: s, logs: logs}
}

type emfWriter struct {
	s    *Server
	logs io.Writer
	mu   sync.Mutex
	buf  []byte
}

func (w *emfWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		line := w.buf[:i+1]
		if _, err := w.s.IngestEMF(line); err != nil {
			fmt.Fprintln(w.logs, err)
		}
		_, _ = w.logs.Write(line)
		w.buf = w.buf[i+1:]
	}
	return len(p), nil
}
