package cwlocal

import (
	"net/http"
	"slices"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/redisha/redisha/internal/metrics"
)

// GetMetricDataPath is where the SDK posts GetMetricData.
const GetMetricDataPath = "/service/GraniteServiceVersion20100801/operation/GetMetricData"

// wireMetricDataInput is the part of GetMetricDataInput served: metric
// queries (no expressions) with Maximum, Minimum, Sum, Average or
// SampleCount over the data PutMetricData received.
type wireMetricDataInput struct {
	MetricDataQueries []struct {
		Id         string `cbor:"Id"`
		MetricStat *struct {
			Metric struct {
				Namespace  string          `cbor:"Namespace"`
				MetricName string          `cbor:"MetricName"`
				Dimensions []wireDimension `cbor:"Dimensions"`
			} `cbor:"Metric"`
			Period int    `cbor:"Period"`
			Stat   string `cbor:"Stat"`
		} `cbor:"MetricStat"`
	} `cbor:"MetricDataQueries"`
	StartTime time.Time `cbor:"StartTime"`
	EndTime   time.Time `cbor:"EndTime"`
}

type wireMetricDataResult struct {
	Id         string      `cbor:"Id"`
	Label      string      `cbor:"Label"`
	Timestamps []time.Time `cbor:"Timestamps"`
	Values     []float64   `cbor:"Values"`
	StatusCode string      `cbor:"StatusCode"`
}

// getMetricData answers GetMetricData from the data received, newest period
// first (ScanBy TimestampDescending, the default); failures queued with
// FailNext apply here too. Like CloudWatch, a datum counts in the period its
// own timestamp falls in, and only datums whose dimensions match exactly.
func (s *Server) getMetricData(w http.ResponseWriter, r *http.Request) {
	body, ok := s.requestBody(w, r, GetMetricDataPath)
	if !ok {
		return
	}
	var in wireMetricDataInput
	if err := cbor.Unmarshal(body, &in); err != nil {
		s.reject(w, "InvalidParameterValue", err)
		return
	}
	if s.failInjected(w) {
		return
	}
	s.mu.Lock()
	data := slices.Clone(s.data)
	s.mu.Unlock()

	results := []wireMetricDataResult{}
	for _, q := range in.MetricDataQueries {
		res := wireMetricDataResult{Id: q.Id, Label: q.Id, StatusCode: "Complete", Timestamps: []time.Time{}, Values: []float64{}}
		if q.MetricStat == nil || q.MetricStat.Period <= 0 {
			results = append(results, res)
			continue
		}
		m, period := q.MetricStat.Metric, time.Duration(q.MetricStat.Period)*time.Second
		res.Label = m.MetricName
		buckets := map[time.Time][]float64{}
		for _, d := range data {
			if d.Namespace != m.Namespace || d.MetricName != m.MetricName || !sameDimensions(d, m.Dimensions) ||
				d.Timestamp.Before(in.StartTime) || !d.Timestamp.Before(in.EndTime) {
				continue
			}
			at := d.Timestamp.UTC().Truncate(period)
			buckets[at] = append(buckets[at], append([]float64{d.Value}, d.Values...)...)
		}
		keys := slices.SortedFunc(func(yield func(time.Time) bool) {
			for k := range buckets {
				if !yield(k) {
					return
				}
			}
		}, func(a, b time.Time) int { return b.Compare(a) })
		for _, at := range keys {
			res.Timestamps = append(res.Timestamps, at)
			res.Values = append(res.Values, stat(q.MetricStat.Stat, buckets[at]))
		}
		results = append(results, res)
	}
	out, err := encMode.Marshal(map[string]any{"MetricDataResults": results, "Messages": []any{}})
	if err != nil {
		writeError(w, InternalError, err.Error())
		return
	}
	w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
	w.Header().Set("Content-Type", "application/cbor")
	_, _ = w.Write(out)
}

func sameDimensions(d Datum, want []wireDimension) bool {
	if len(d.Dimensions) != len(want) {
		return false
	}
	for _, w := range want {
		if !slices.ContainsFunc(d.Dimensions, func(x metrics.Dimension) bool { return x.Name == deref(w.Name) && x.Value == deref(w.Value) }) {
			return false
		}
	}
	return true
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// stat is one statistic of vs (not empty).
func stat(name string, vs []float64) float64 {
	switch name {
	case "Minimum":
		return slices.Min(vs)
	case "Sum", "Average":
		var sum float64
		for _, v := range vs {
			sum += v
		}
		if name == "Average" {
			return sum / float64(len(vs))
		}
		return sum
	case "SampleCount":
		return float64(len(vs))
	}
	return slices.Max(vs)
}
