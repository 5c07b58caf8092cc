package drill

import (
	"bytes"
	"log/slog"
	"testing"
	"time"

	"github.com/redisha/redisha/internal/promoter"
	"github.com/redisha/redisha/internal/sim/cwlocal"
)

// The statistics a graph draws, over one period's data points (a
// statistic set's values count as often as their counts say).
func TestStatOf(t *testing.T) {
	vs := datumValues(cwlocal.Datum{Values: []float64{0, 1}, Counts: []float64{1, 3}})
	for stat, want := range map[string]float64{"Minimum": 0, "Maximum": 1, "Sum": 3, "SampleCount": 4, "Average": 0.75} {
		if got := statOf(stat, vs); got != want {
			t.Errorf("%s of %v: %g, want %g", stat, vs, got, want)
		}
	}
}

// Alarm ids lose CDK's hash; other names stay.
func TestAlarmName(t *testing.T) {
	for id, want := range map[string]string{"WritableAlarmA8856C3E": "WritableAlarm", "LoopFailures79AFE85E": "LoopFailures", "Mine": "Mine"} {
		if got := alarmName(id); got != want {
			t.Errorf("%s: %s, want %s", id, got, want)
		}
	}
}

// The promoter's decision lines reach the dashboard's table with their
// top-level fields, and every line still reaches the log.
func TestDecisionHandler(t *testing.T) {
	var logs bytes.Buffer
	var got []map[string]string
	log := slog.New(decisionHandler{Handler: slog.NewJSONHandler(&logs, nil), keep: func(_ time.Time, f map[string]string) { got = append(got, f) }})
	log.With("region", "us-west-2").Info(promoter.DecisionMessage, "action", "advise", "mode", "advise", slog.Group("guards", "evidence", "ok"))
	log.Info("something else", "action", "x")
	if len(got) != 1 || got[0]["action"] != "advise" || got[0]["mode"] != "advise" || got[0]["guards"] != "" {
		t.Errorf("kept %v", got)
	}
	if n := bytes.Count(logs.Bytes(), []byte("\n")); n != 2 {
		t.Errorf("%d log lines, want 2", n)
	}
}
