package stacks

import (
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
)

// checkers returns the properties of the health-checker functions of a
// template (the functions whose environment names an expected role).
func checkers(tp assertions.Template) []map[string]any {
	var out []map[string]any
	for _, f := range resources(tp, "AWS::Lambda::Function") {
		env, _ := f["Environment"].(map[string]any)
		vars, _ := env["Variables"].(map[string]any)
		if vars["EXPECT_ROLE"] != nil {
			out = append(out, f)
		}
	}
	return out
}

// Reserved concurrency fails in accounts with a small quota: none by
// default, the number given when opted in.
func TestReservedConcurrencyIsOptIn(t *testing.T) {
	_, tpl := synth(t)
	for _, stack := range []string{"primary", "secondary"} {
		fns := checkers(tpl[stack])
		if len(fns) != 1 {
			t.Fatalf("%s: %d checkers", stack, len(fns))
		}
		if v, ok := fns[0]["ReservedConcurrentExecutions"]; ok {
			t.Errorf("%s: ReservedConcurrentExecutions = %v by default, want none", stack, v)
		}
	}
	s := build(t, map[string]any{"reservedConcurrency": "2"})
	for _, stack := range []string{"primary", "secondary"} {
		if fns := checkers(s.tpl[stack]); len(fns) != 1 || fns[0]["ReservedConcurrentExecutions"] != float64(2) {
			t.Errorf("%s: with reservedConcurrency=2, checker %v", stack, fns)
		}
	}
}
