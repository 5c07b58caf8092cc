package metrics_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redisha/redisha/internal/metrics"
)

// emfUnits are the units the specification's JSON schema allows.
var emfUnits = strings.Split("Seconds|Microseconds|Milliseconds|Bytes|Kilobytes|Megabytes|Gigabytes|Terabytes|Bits|"+
	"Kilobits|Megabits|Gigabits|Terabits|Percent|Count|Bytes/Second|Kilobytes/Second|Megabytes/Second|Gigabytes/Second|"+
	"Terabytes/Second|Bits/Second|Kilobits/Second|Megabits/Second|Gigabits/Second|Terabits/Second|Count/Second|None", "|")

// validateEMF checks one document against the CloudWatch Embedded Metric
// Format specification (structure, required members, limits, target members)
// and returns its root object.
func validateEMF(t testing.TB, line []byte) map[string]any {
	t.Helper()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("%s\ndocument: %s", fmt.Sprintf(format, args...), line)
	}
	if bytes.Count(line, []byte("\n")) != 0 {
		fail("a document is one line")
	}
	// "The LogEvent message MUST be a valid JSON object with no additional data."
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	var root map[string]any
	if err := dec.Decode(&root); err != nil {
		fail("not a JSON object: %v", err)
	}
	if dec.More() {
		fail("data after the JSON object")
	}
	meta, ok := root["_aws"].(map[string]any)
	if !ok {
		fail("no _aws metadata object")
	}
	onlyMembers(t, line, "_aws", meta, "Timestamp", "CloudWatchMetrics")
	ts, ok := meta["Timestamp"].(json.Number)
	if !ok {
		fail("_aws.Timestamp %v is not a number", meta["Timestamp"])
	}
	ms, err := ts.Int64() // the schema's type is integer: milliseconds since the epoch
	if err != nil || ms < 1e12 || ms > 1e13 {
		fail("_aws.Timestamp %v is not epoch milliseconds", ts)
	}
	dirs, ok := meta["CloudWatchMetrics"].([]any)
	if !ok || len(dirs) == 0 {
		fail("_aws.CloudWatchMetrics is not a non-empty array")
	}
	for _, d := range dirs {
		dir, ok := d.(map[string]any)
		if !ok {
			fail("a MetricDirective is not an object")
		}
		onlyMembers(t, line, "MetricDirective", dir, "Namespace", "Dimensions", "Metrics")
		if ns, ok := dir["Namespace"].(string); !ok || ns == "" || len(ns) > 255 {
			fail("Namespace %v", dir["Namespace"])
		}
		sets, ok := dir["Dimensions"].([]any)
		if !ok || len(sets) == 0 { // minItems 1; a set MAY be empty
			fail("Dimensions %v is not a non-empty array of DimensionSets", dir["Dimensions"])
		}
		for _, s := range sets {
			set, ok := s.([]any)
			if !ok || len(set) > 30 {
				fail("DimensionSet %v is not an array of at most 30 keys", s)
			}
			for _, n := range set {
				name, ok := n.(string)
				if !ok || name == "" || len(name) > 250 {
					fail("dimension reference %v", n)
				}
				if v, ok := root[name].(string); !ok || len(v) > 1024 {
					fail("dimension %s has no string target member of at most 1024 characters", name)
				}
			}
		}
		defs, ok := dir["Metrics"].([]any)
		if !ok || len(defs) == 0 || len(defs) > 100 {
			fail("Metrics %v is not an array of 1 to 100 MetricDefinitions", dir["Metrics"])
		}
		for _, m := range defs {
			def, ok := m.(map[string]any)
			if !ok {
				fail("a MetricDefinition is not an object")
			}
			onlyMembers(t, line, "MetricDefinition", def, "Name", "Unit", "StorageResolution")
			name, ok := def["Name"].(string)
			if !ok || name == "" || len(name) > 1024 {
				fail("MetricDefinition name %v", def["Name"])
			}
			if _, ok := root[name].(json.Number); !ok {
				fail("metric %s has no numeric target member", name)
			}
			if u, ok := def["Unit"]; ok && !slices.Contains(emfUnits, fmt.Sprint(u)) {
				fail("metric %s unit %v", name, u)
			}
			if r, ok := def["StorageResolution"]; ok && r != json.Number("1") && r != json.Number("60") {
				fail("metric %s StorageResolution %v, want the integer 1 or 60", name, r)
			}
		}
	}
	return root
}

// onlyMembers enforces "objects defined by this specification MUST NOT
// contain any additional members".
func onlyMembers(t testing.TB, line []byte, what string, obj map[string]any, allowed ...string) {
	t.Helper()
	for k := range obj {
		if !slices.Contains(allowed, k) {
			t.Fatalf("%s has member %q beyond the specification\ndocument: %s", what, k, line)
		}
	}
}

func lines(t testing.TB, b []byte) [][]byte {
	t.Helper()
	if len(b) == 0 || b[len(b)-1] != '\n' {
		t.Fatalf("output does not end in a newline: %q", b)
	}
	return bytes.Split(b[:len(b)-1], []byte("\n"))
}

func number(t testing.TB, v any) float64 {
	t.Helper()
	n, ok := v.(json.Number)
	if !ok {
		t.Fatalf("%v is not a number", v)
	}
	f, err := n.Float64()
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// GIVEN dimensions and high resolution WHEN a replica sample is published
// THEN one spec-valid line carries every value, unit, resolution and dimension.
func TestEMFDocumentFollowsSpecification(t *testing.T) {
	var buf bytes.Buffer
	ds := []metrics.Dimension{{Name: "ReplicationGroup", Value: "redis-secondary"}, {Name: "Region", Value: "us-west-2"}}
	p := metrics.NewEMF(&buf, metrics.Options{Dimensions: ds, HighResolution: true})
	lag := 250 * time.Millisecond
	if err := p.Publish(context.Background(), metrics.Sample{Time: t0, Healthy: true, Latency: 1500 * time.Microsecond, ReplicationLag: &lag, Writable: false}); err != nil {
		t.Fatal(err)
	}
	ls := lines(t, buf.Bytes())
	if len(ls) != 1 {
		t.Fatalf("%d lines, want 1", len(ls))
	}
	root := validateEMF(t, ls[0])
	for k, want := range map[string]float64{"HealthCheckStatus": 1, "HealthCheckLatency": 1.5, "ReplicationLagSeconds": 0.25, "HealthCheckStatusHighRes": 1, "WritableStatus": 0} {
		if got := number(t, root[k]); got != want {
			t.Errorf("%s = %v, want %v", k, got, want)
		}
	}
	if root["ReplicationGroup"] != "redis-secondary" || root["Region"] != "us-west-2" {
		t.Errorf("dimension values %v %v", root["ReplicationGroup"], root["Region"])
	}
	meta := root["_aws"].(map[string]any)
	if number(t, meta["Timestamp"]) != float64(t0.UnixMilli()) {
		t.Errorf("Timestamp %v, want %d", meta["Timestamp"], t0.UnixMilli())
	}
	dir := meta["CloudWatchMetrics"].([]any)[0].(map[string]any)
	if dir["Namespace"] != "Custom/Redis" {
		t.Errorf("Namespace %v", dir["Namespace"])
	}
	if got := fmt.Sprint(dir["Dimensions"]); got != "[[ReplicationGroup Region]]" {
		t.Errorf("Dimensions %s, want one set with both names in order", got)
	}
	type def struct {
		unit string
		res  any
	}
	got := map[string]def{}
	for _, m := range dir["Metrics"].([]any) {
		d := m.(map[string]any)
		got[d["Name"].(string)] = def{d["Unit"].(string), d["StorageResolution"]}
	}
	want := map[string]def{
		"HealthCheckStatus":        {"None", nil}, // standard resolution: Route 53 rejects alarms on high-resolution data
		"HealthCheckLatency":       {"Milliseconds", nil},
		"ReplicationLagSeconds":    {"Seconds", nil},
		"WritableStatus":           {"None", nil},
		"HealthCheckStatusHighRes": {"None", json.Number("1")},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("metric definitions %v, want %v", got, want)
	}
}

// "A DimensionSet MAY be empty": without dimensions the metrics are
// published with none, through one empty set.
func TestEMFWithoutDimensionsUsesEmptySet(t *testing.T) {
	var buf bytes.Buffer
	if err := metrics.NewEMF(&buf, metrics.Options{Namespace: "Team/Cache"}).Publish(context.Background(), metrics.Sample{Time: t0, Latency: 3 * time.Second}); err != nil {
		t.Fatal(err)
	}
	root := validateEMF(t, lines(t, buf.Bytes())[0])
	if number(t, root["HealthCheckStatus"]) != 0 || number(t, root["HealthCheckLatency"]) != 3000 {
		t.Fatalf("unhealthy sample published %v", root)
	}
	if _, ok := root["ReplicationLagSeconds"]; ok {
		t.Fatal("a lag published without one")
	}
	if !strings.Contains(buf.String(), `"Namespace":"Team/Cache","Dimensions":[[]],"Metrics":[`) {
		t.Fatalf("want one empty dimension set: %s", buf.String())
	}
	if len(root) != 4 { // _aws and the three values
		t.Fatalf("root members %v", root)
	}
}

// The hand-built line means the same as encoding/json's rendering of the
// document, for awkward values too (quotes, backslashes, HTML characters,
// tiny and huge numbers).
func TestEMFMatchesEncodingJSON(t *testing.T) {
	ds := []metrics.Dimension{{Name: `Quote"d`, Value: `back\slash <&> 'single'`}, {Name: "Region", Value: "eu-central-1"}}
	for _, s := range []metrics.Sample{
		{Time: t0, Healthy: true, Latency: 0, Writable: true},
		{Time: t0, Latency: time.Nanosecond},
		{Time: t0.Add(time.Hour), Healthy: true, Latency: 1234567 * time.Microsecond, ReplicationLag: ptr(-3 * time.Millisecond)},
		{Time: t0, Latency: time.Duration(math.MaxInt64), ReplicationLag: ptr(time.Duration(math.MaxInt64))},
		{Time: t0, Latency: time.Microsecond, ReplicationLag: ptr(time.Nanosecond)},
	} {
		for _, hr := range []bool{false, true} {
			var buf bytes.Buffer
			o := metrics.Options{Namespace: "Custom/Redis", Dimensions: ds, HighResolution: hr}
			if err := metrics.NewEMF(&buf, o).Publish(context.Background(), s); err != nil {
				t.Fatal(err)
			}
			line := lines(t, buf.Bytes())[0]
			validateEMF(t, line)
			var got, want any
			if err := json.Unmarshal(line, &got); err != nil {
				t.Fatal(err)
			}
			ref, err := json.Marshal(reference(o, s))
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(ref, &want); err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("sample %+v high resolution %v:\n got %s\nwant %s", s, hr, line, ref)
			}
		}
	}
}

func ptr[T any](v T) *T { return &v }

// reference is the document built the plain way, as a map.
func reference(o metrics.Options, s metrics.Sample) map[string]any {
	status := 0.0
	if s.Healthy {
		status = 1
	}
	names := []string{}
	doc := map[string]any{}
	for _, d := range o.Dimensions {
		names = append(names, d.Name)
		doc[d.Name] = d.Value
	}
	defs := []map[string]any{{"Name": "HealthCheckStatus", "Unit": "None"}, {"Name": "HealthCheckLatency", "Unit": "Milliseconds"}}
	doc["HealthCheckStatus"] = status
	doc["HealthCheckLatency"] = float64(s.Latency.Microseconds()) / 1000
	defs = append(defs, map[string]any{"Name": "WritableStatus", "Unit": "None"})
	doc["WritableStatus"] = 0.0
	if s.Writable {
		doc["WritableStatus"] = 1.0
	}
	if s.ReplicationLag != nil {
		defs = append(defs, map[string]any{"Name": "ReplicationLagSeconds", "Unit": "Seconds"})
		doc["ReplicationLagSeconds"] = s.ReplicationLag.Seconds()
	}
	if o.HighResolution {
		defs = append(defs, map[string]any{"Name": "HealthCheckStatusHighRes", "Unit": "None", "StorageResolution": 1})
		doc["HealthCheckStatusHighRes"] = status
	}
	doc["_aws"] = map[string]any{
		"Timestamp":         s.Time.UnixMilli(),
		"CloudWatchMetrics": []any{map[string]any{"Namespace": o.Namespace, "Dimensions": [][]string{names}, "Metrics": defs}},
	}
	return doc
}

func TestEMFZeroTimeIsNow(t *testing.T) {
	var buf bytes.Buffer
	before := time.Now().UnixMilli()
	if err := metrics.NewEMF(&buf, metrics.Options{}).Publish(context.Background(), metrics.Sample{Healthy: true}); err != nil {
		t.Fatal(err)
	}
	root := validateEMF(t, lines(t, buf.Bytes())[0])
	ts := int64(number(t, root["_aws"].(map[string]any)["Timestamp"]))
	if ts < before || ts > time.Now().UnixMilli() {
		t.Fatalf("Timestamp %d, want about %d", ts, before)
	}
}

// writes records every Write call separately.
type writes struct {
	mu    sync.Mutex
	calls [][]byte
}

func (w *writes) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.calls = append(w.calls, append([]byte(nil), p...))
	return len(p), nil
}

// Concurrent publishes make one write per line, each a whole document.
func TestEMFConcurrentLines(t *testing.T) {
	var w writes
	p := metrics.NewEMF(&w, metrics.Options{Dimensions: []metrics.Dimension{{Name: "Region", Value: "us-east-1"}}})
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Go(func() {
			lag := time.Duration(i) * time.Millisecond
			s := metrics.Sample{Time: t0.Add(time.Duration(i) * time.Second), Healthy: i%2 == 0, Latency: lag}
			if i%3 == 0 {
				s.ReplicationLag = &lag
			}
			if err := p.Publish(context.Background(), s); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if len(w.calls) != 64 {
		t.Fatalf("%d writes, want 64", len(w.calls))
	}
	seen := map[int64]bool{}
	for _, c := range w.calls {
		ls := lines(t, c)
		if len(ls) != 1 {
			t.Fatalf("a write of %d lines: %q", len(ls), c)
		}
		root := validateEMF(t, ls[0])
		seen[int64(number(t, root["_aws"].(map[string]any)["Timestamp"]))] = true
	}
	if len(seen) != 64 {
		t.Fatalf("%d distinct documents, want 64", len(seen))
	}
}

type failing struct{}

func (failing) Write([]byte) (int, error) { return 0, io.ErrClosedPipe }

func TestEMFWriteError(t *testing.T) {
	err := metrics.NewEMF(failing{}, metrics.Options{}).Publish(context.Background(), metrics.Sample{Time: t0})
	if !errors.Is(err, io.ErrClosedPipe) || err.Error() != "write embedded metric format: io: read/write on closed pipe" {
		t.Fatalf("error %v", err)
	}
}

func BenchmarkPublishEMF(b *testing.B) {
	p := metrics.NewEMF(io.Discard, metrics.Options{Dimensions: []metrics.Dimension{{Name: "Region", Value: "us-east-1"}}, HighResolution: true})
	lag := 250 * time.Millisecond
	s := metrics.Sample{Time: t0, Healthy: true, Latency: 1234 * time.Microsecond, ReplicationLag: &lag}
	b.ReportAllocs()
	for b.Loop() {
		if err := p.Publish(context.Background(), s); err != nil {
			b.Fatal(err)
		}
	}
}
