package metrics

import (
	"encoding/json"
	"math"
	"testing"
)

// appendJSONFloat writes numbers exactly as encoding/json does.
func TestAppendJSONFloat(t *testing.T) {
	for _, f := range []float64{
		0, 1, -1, 0.5, 1.234, 1500, 0.25, 1e-6, 9.99e-7, 1e-7, -1e-9, 1.5e-10, 123456789.123,
		1e20, 1e21, 1.5e21, -2e22, 9.223372036854776e12, math.MaxFloat64, math.SmallestNonzeroFloat64,
	} {
		want, err := json.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendJSONFloat(nil, f); string(got) != string(want) {
			t.Errorf("%v: %s, want %s", f, got, want)
		}
	}
}
