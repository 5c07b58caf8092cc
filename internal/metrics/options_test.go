package metrics_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/redisha/redisha/internal/metrics"
)

func dims(kv ...string) []metrics.Dimension {
	var out []metrics.Dimension
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, metrics.Dimension{Name: kv[i], Value: kv[i+1]})
	}
	return out
}

func TestOptionsValidate(t *testing.T) {
	many := make([]metrics.Dimension, 31)
	for i := range many {
		many[i] = metrics.Dimension{Name: fmt.Sprintf("D%d", i), Value: "v"}
	}
	cases := []struct {
		name string
		o    metrics.Options
		want string // "" means valid
	}{
		{"defaults", metrics.Options{}, ""},
		{"own namespace, 30 dimensions, high resolution", metrics.Options{Namespace: "Team/Cache", Dimensions: many[:30], HighResolution: true}, ""},
		{"namespace of 255", metrics.Options{Namespace: strings.Repeat("n", 255)}, ""},
		{"dimension name of 250, value of 1024", metrics.Options{Dimensions: dims(strings.Repeat("n", 250), strings.Repeat("v", 1024))}, ""},
		{"namespace of 256", metrics.Options{Namespace: strings.Repeat("n", 256)},
			"namespace is 256 characters: use at most 255"},
		{"blank namespace", metrics.Options{Namespace: "  "},
			`namespace "  " is blank: leave it unset for Custom/Redis or give one`},
		{"namespace with a colon first", metrics.Options{Namespace: ":Redis"},
			`namespace ":Redis" starts with ':': CloudWatch rejects it; drop the colon`},
		{"AWS namespace", metrics.Options{Namespace: "AWS/ElastiCache"},
			`namespace "AWS/ElastiCache" is reserved for AWS services: use your own, e.g. Custom/Redis`},
		{"namespace with a control character", metrics.Options{Namespace: "Custom/\tRedis"},
			`namespace "Custom/\tRedis" has a control or non-ASCII character: use printable ASCII`},
		{"namespace not ASCII", metrics.Options{Namespace: "Custom/Rédis"},
			`namespace "Custom/Rédis" has a control or non-ASCII character: use printable ASCII`},
		{"31 dimensions", metrics.Options{Dimensions: many},
			"31 dimensions: CloudWatch takes at most 30 per metric; drop some"},
		{"empty value", metrics.Options{Dimensions: dims("Region", "us-east-1", "A", "")},
			`dimension 2 ("A"="") has an empty name or value: give both, e.g. Region=us-east-1`},
		{"blank name", metrics.Options{Dimensions: dims(" ", "x")},
			`dimension 1 (" "="x") has an empty name or value: give both, e.g. Region=us-east-1`},
		{"name of 251", metrics.Options{Dimensions: dims(strings.Repeat("n", 251), "x")},
			`dimension name "nnnnnnnnnnnnnnnnnnnn"… is 251 characters: use at most 250`},
		{"value of 1025", metrics.Options{Dimensions: dims("A", strings.Repeat("v", 1025))},
			"dimension A value is 1025 characters: use at most 1024"},
		{"name with a colon first", metrics.Options{Dimensions: dims(":A", "x")},
			`dimension name ":A" starts with ':': CloudWatch rejects it; drop the colon`},
		{"value with a newline", metrics.Options{Dimensions: dims("A", "x\ny")},
			`dimension "A"="x\ny" has a control or non-ASCII character: use printable ASCII`},
		{"name of a metric", metrics.Options{Dimensions: dims(metrics.HealthCheckStatus, "x")},
			"dimension name HealthCheckStatus is taken by the metrics: rename the dimension"},
		{"name of the metadata", metrics.Options{Dimensions: dims("_aws", "x")},
			"dimension name _aws is taken by the metrics: rename the dimension"},
		{"name twice", metrics.Options{Dimensions: dims("A", "1", "A", "2")},
			"dimension A is given twice: keep one"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.o.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("error %v, want none", err)
			case tc.want != "" && (err == nil || err.Error() != tc.want):
				t.Fatalf("error %v\nwant  %s", err, tc.want)
			}
		})
	}
}

func TestParseDimensions(t *testing.T) {
	cases := []struct {
		in   string
		want []metrics.Dimension
		err  string
	}{
		{"", nil, ""},
		{"   ", nil, ""},
		{"Region=us-east-1", dims("Region", "us-east-1"), ""},
		{" ReplicationGroup = redis-primary , Region=us-east-1 ", dims("ReplicationGroup", "redis-primary", "Region", "us-east-1"), ""},
		{"Expr=a=b", dims("Expr", "a=b"), ""}, // the first '=' splits
		{"A", nil, `dimension "A" is not Name=Value: write e.g. ReplicationGroup=redis-primary,Region=us-east-1`},
		{"A=", nil, `dimension "A=" is not Name=Value: write e.g. ReplicationGroup=redis-primary,Region=us-east-1`},
		{"=b", nil, `dimension "=b" is not Name=Value: write e.g. ReplicationGroup=redis-primary,Region=us-east-1`},
		{"A=1,,B=2", nil, `dimension "" is not Name=Value: write e.g. ReplicationGroup=redis-primary,Region=us-east-1`},
		{"A=1,", nil, `dimension "" is not Name=Value: write e.g. ReplicationGroup=redis-primary,Region=us-east-1`},
		{"A=1,A=2", nil, "dimension A is given twice: keep one"},
		{":A=1", nil, `dimension name ":A" starts with ':': CloudWatch rejects it; drop the colon`},
		{"HealthCheckLatency=1", nil, "dimension name HealthCheckLatency is taken by the metrics: rename the dimension"},
	}
	for _, tc := range cases {
		got, err := metrics.ParseDimensions(tc.in)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err || got != nil {
				t.Errorf("%q: %v, error %v\nwant error  %s", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || fmt.Sprint(got) != fmt.Sprint(tc.want) || (got == nil) != (tc.want == nil) {
			t.Errorf("%q: %v, error %v; want %v", tc.in, got, err, tc.want)
		}
	}
}
