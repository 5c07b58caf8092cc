package alarmeval_test

import (
	"strings"
	"testing"
	"time"

	"github.com/redisha/redisha/internal/sim/alarmeval"
)

// points turns "0 - X - X" (oldest first; 0 not breaching, X breaching,
// - missing) into datapoints for an alarm "value > 0".
func points(s string) []alarmeval.Point {
	var out []alarmeval.Point
	for _, f := range strings.Fields(s) {
		switch f {
		case "0":
			out = append(out, alarmeval.Point{Value: 0})
		case "X":
			out = append(out, alarmeval.Point{Value: 1})
		case "-":
			out = append(out, alarmeval.Point{Missing: true})
		}
	}
	return out
}

func alarm(n, m int, treat alarmeval.TreatMissing) alarmeval.Alarm {
	return alarmeval.Alarm{Name: "t", Namespace: "N", MetricName: "M", Period: 5 * time.Minute,
		EvaluationPeriods: n, DatapointsToAlarm: m, Statistic: alarmeval.Maximum,
		ComparisonOperator: alarmeval.GreaterThanThreshold, Threshold: 0, TreatMissingData: treat}
}

const retain = "retain"

// The two tables of "How alarm state is evaluated when data is missing"
// (CloudWatch User Guide, alarms-and-missing-data.html), every row and
// every treatment: evaluation range 5, N = 3, M = 3 then M = 2.
func TestEvaluateMatchesTheUserGuideTables(t *testing.T) {
	treatments := []alarmeval.TreatMissing{alarmeval.Missing, alarmeval.Ignore, alarmeval.Breaching, alarmeval.NotBreaching}
	tables := []struct {
		m    int
		rows []struct {
			data string
			want [4]string
		}
	}{
		{m: 3, rows: []struct {
			data string
			want [4]string
		}{
			{"0 - X - X", [4]string{"OK", "OK", "OK", "OK"}},
			{"0 - - - -", [4]string{"OK", "OK", "OK", "OK"}},
			{"- - - - -", [4]string{"INSUFFICIENT_DATA", retain, "ALARM", "OK"}},
			{"0 X X - X", [4]string{"ALARM", "ALARM", "ALARM", "ALARM"}},
			{"- - X - -", [4]string{"ALARM", retain, "ALARM", "OK"}},
		}},
		{m: 2, rows: []struct {
			data string
			want [4]string
		}{
			{"0 - X - X", [4]string{"ALARM", "ALARM", "ALARM", "ALARM"}},
			{"0 0 X 0 X", [4]string{"ALARM", "ALARM", "ALARM", "ALARM"}},
			{"0 - X - -", [4]string{"OK", "OK", "ALARM", "OK"}},
			{"- - - - 0", [4]string{"OK", "OK", "ALARM", "OK"}},
			{"- - - X -", [4]string{"ALARM", retain, "ALARM", "OK"}},
		}},
	}
	for _, tb := range tables {
		for _, row := range tb.rows {
			for i, treat := range treatments {
				a := alarm(3, tb.m, treat)
				// Retaining shows as keeping whichever state it had.
				for _, current := range []alarmeval.State{alarmeval.StateOK, alarmeval.StateAlarm} {
					want := alarmeval.State(row.want[i])
					if row.want[i] == retain {
						want = current
					}
					got := alarmeval.Evaluate(a, points(row.data), current)
					if got.State != want {
						t.Errorf("M=%d %q %s (was %s): %s (%s), want %s", tb.m, row.data, treat, current, got.State, got.Reason, want)
					}
				}
			}
		}
	}
}

// "- - - - X": a lone fresh breaching datapoint does not move the alarm to
// ALARM at once (premature-transition avoidance); the next one decides.
func TestEvaluateAvoidsPrematureAlarm(t *testing.T) {
	a := alarm(3, 3, alarmeval.Missing)
	for _, data := range []string{"- - - - X", "- - - X -"} {
		if got := alarmeval.Evaluate(a, points(data), alarmeval.StateOK); got.State != alarmeval.StateOK {
			t.Errorf("%q: %s, want OK kept", data, got.State)
		}
	}
	if got := alarmeval.Evaluate(a, points("- - - X 0"), alarmeval.StateOK); got.State != alarmeval.StateOK {
		t.Errorf("- - - X 0: %s", got.State)
	}
}

func TestEvaluateStatisticsAndOperators(t *testing.T) {
	for _, tc := range []struct {
		op        alarmeval.Comparison
		v         float64
		threshold float64
		breach    bool
	}{
		{alarmeval.GreaterThanThreshold, 1, 1, false},
		{alarmeval.GreaterThanOrEqualToThreshold, 1, 1, true},
		{alarmeval.LessThanThreshold, 1, 1, false},
		{alarmeval.LessThanOrEqualToThreshold, 1, 1, true},
		{alarmeval.LessThanThreshold, 0, 1, true},
	} {
		a := alarm(1, 1, alarmeval.Missing)
		a.ComparisonOperator, a.Threshold = tc.op, tc.threshold
		if got := a.Breaches(tc.v); got != tc.breach {
			t.Errorf("%g %s %g: %v", tc.v, tc.op, tc.threshold, got)
		}
	}
}

func TestValidateNamesTheField(t *testing.T) {
	for _, tc := range []struct {
		edit func(*alarmeval.Alarm)
		want string
	}{
		{func(a *alarmeval.Alarm) { a.Period = 45 * time.Second }, "Period"},
		{func(a *alarmeval.Alarm) { a.EvaluationPeriods = 0 }, "EvaluationPeriods"},
		{func(a *alarmeval.Alarm) { a.DatapointsToAlarm = 4 }, "DatapointsToAlarm"},
		{func(a *alarmeval.Alarm) { a.Statistic = "p99" }, "Statistic"},
		{func(a *alarmeval.Alarm) { a.ComparisonOperator = "Equal" }, "ComparisonOperator"},
		{func(a *alarmeval.Alarm) { a.TreatMissingData = "zero" }, "TreatMissingData"},
		{func(a *alarmeval.Alarm) { a.EvaluationRange = 2 }, "EvaluationRange"},
		{func(a *alarmeval.Alarm) { a.MetricName = "" }, "MetricName"},
	} {
		a := alarm(3, 3, alarmeval.Missing)
		tc.edit(&a)
		err := a.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("want an error naming %s, got %v", tc.want, err)
		}
	}
	if err := alarm(3, 2, alarmeval.Breaching).Validate(); err != nil {
		t.Errorf("valid alarm refused: %v", err)
	}
}

func TestDefaults(t *testing.T) {
	a := alarmeval.Alarm{EvaluationPeriods: 2}.WithDefaults()
	if a.DatapointsToAlarm != 2 || a.TreatMissingData != alarmeval.Missing || a.EvaluationRange != 5 {
		t.Errorf("defaults: %+v", a)
	}
	if r := (alarmeval.Alarm{EvaluationPeriods: 5}).WithDefaults().EvaluationRange; r != 7 {
		t.Errorf("range for N=5: %d, want 7", r)
	}
}

// The Route 53 model: the last N periods, all present, all breaching for
// unhealthy; any gap is insufficient data.
func TestDataStream(t *testing.T) {
	a := alarmeval.Alarm{Name: "hc", Namespace: "n", MetricName: "m", Period: time.Minute, EvaluationPeriods: 2,
		Statistic: alarmeval.Minimum, ComparisonOperator: alarmeval.LessThanThreshold, Threshold: 1, TreatMissingData: alarmeval.DataStream}
	if err := a.Validate(); err != nil {
		t.Fatal(err)
	}
	pt := func(v float64) alarmeval.Point { return alarmeval.Point{Value: v} }
	gap := alarmeval.Point{Missing: true}
	for _, c := range []struct {
		rng  []alarmeval.Point
		want alarmeval.State
	}{
		{[]alarmeval.Point{pt(1), pt(1)}, alarmeval.StateOK},
		{[]alarmeval.Point{pt(0), pt(1)}, alarmeval.StateOK},
		{[]alarmeval.Point{pt(0), pt(0)}, alarmeval.StateAlarm},
		{[]alarmeval.Point{pt(1), gap}, alarmeval.StateInsufficientData},
		{[]alarmeval.Point{gap, pt(0)}, alarmeval.StateInsufficientData},
		{[]alarmeval.Point{pt(0)}, alarmeval.StateInsufficientData},
	} {
		if got := alarmeval.Evaluate(a, c.rng, alarmeval.StateOK).State; got != c.want {
			t.Errorf("%v: %s, want %s", c.rng, got, c.want)
		}
	}
}
