package alarmeval_test

import (
	"context"
	"testing"
	"time"

	"github.com/redisha/redisha/internal/metrics"
	"github.com/redisha/redisha/internal/sim/alarmeval"
	"github.com/redisha/redisha/internal/sim/cwlocal"
	"github.com/redisha/redisha/internal/sim/timescale"
)

var regionA = []metrics.Dimension{{Name: "Region", Value: "a"}}

// seedAlarm is the alarm the design's Route 53 health check reads:
// Minimum(HealthCheckStatus) < 1 for 2 × 60 s, missing data breaching.
func seedAlarm(treat alarmeval.TreatMissing) alarmeval.Alarm {
	return alarmeval.Alarm{Name: "primary-unhealthy", Namespace: metrics.DefaultNamespace,
		MetricName: metrics.HealthCheckStatus, Dimensions: regionA, Period: time.Minute, EvaluationPeriods: 2,
		Statistic: alarmeval.Minimum, ComparisonOperator: alarmeval.LessThanThreshold, Threshold: 1,
		TreatMissingData: treat}
}

type bed struct {
	cw    *cwlocal.Server
	pub   *metrics.CloudWatch
	clock *timescale.Clock
	start time.Time
}

// newBed is a local CloudWatch endpoint, a real SDK publisher to it and a
// clock at speed 30 whose start is a minute boundary.
func newBed(t *testing.T) *bed {
	t.Helper()
	cw := cwlocal.New()
	t.Cleanup(cw.Close)
	start := time.Now().Truncate(time.Minute)
	clock, err := timescale.NewAt(start, 30)
	if err != nil {
		t.Fatal(err)
	}
	pub := metrics.NewCloudWatch(cwlocal.NewClient(cw.URL(), 1), metrics.Options{Dimensions: regionA})
	return &bed{cw: cw, pub: pub, clock: clock, start: start}
}

// publish sends one check result timestamped at scenario offset at.
func (b *bed) publish(t *testing.T, at time.Duration, healthy bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := b.pub.Publish(ctx, metrics.Sample{Time: b.clock.WallAt(b.start.Add(at)), Healthy: healthy}); err != nil {
		t.Fatal(err)
	}
}

// firstState evaluates at every minute from `from` to `to` (scenario
// offsets) and returns when the alarm first reached want.
func firstState(e *alarmeval.Evaluator, b *bed, name string, want alarmeval.State, from, to time.Duration) time.Duration {
	for at := from; at <= to; at += time.Minute {
		e.EvaluateAt(b.start.Add(at))
		if e.State(name) == want {
			return at
		}
	}
	return -1
}

// A region that goes silent is slower to alarm than one that reports
// failures: with a 5-period evaluation range the last real datapoints keep
// the alarm OK until they leave the range. Checks every 30 s (the seed's
// loop), timestamps on the wire through the real SDK.
func TestSilentRegionVersusFailingChecks(t *testing.T) {
	for _, tc := range []struct {
		name   string
		treat  alarmeval.TreatMissing
		after  func(b *bed, t *testing.T) // what happens from minute 5 on
		want   alarmeval.State
		atMins time.Duration
	}{
		{"checks fail, published as 0", alarmeval.Breaching, func(b *bed, t *testing.T) {
			for s := 5 * time.Minute; s < 12*time.Minute; s += 30 * time.Second {
				b.publish(t, s, false)
			}
		}, alarmeval.StateAlarm, 7},
		{"region silent, missing breaching", alarmeval.Breaching, func(*bed, *testing.T) {}, alarmeval.StateAlarm, 10},
		{"region silent, missing as missing", alarmeval.Missing, func(*bed, *testing.T) {}, alarmeval.StateInsufficientData, 10},
		{"region silent, missing not breaching", alarmeval.NotBreaching, func(*bed, *testing.T) {}, alarmeval.StateAlarm, -1},
		// FILL(m, 0): silence looks like failing checks.
		{"region silent, FILL(m, 0)", "fill0", func(*bed, *testing.T) {}, alarmeval.StateAlarm, 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBed(t)
			e := alarmeval.New(b.cw, b.clock)
			a := seedAlarm(tc.treat)
			if tc.treat == "fill0" {
				zero := 0.0
				a = seedAlarm(alarmeval.Missing)
				a.FillMissing = &zero
			}
			if err := e.Add(a); err != nil {
				t.Fatal(err)
			}
			for s := time.Duration(0); s < 5*time.Minute; s += 30 * time.Second {
				b.publish(t, s, true)
			}
			tc.after(b, t)
			if got := firstState(e, b, a.Name, alarmeval.StateOK, time.Minute, 5*time.Minute); got != time.Minute {
				t.Fatalf("OK first at %s, want 1m (one healthy datapoint in range)", got)
			}
			got := firstState(e, b, a.Name, tc.want, 5*time.Minute, 14*time.Minute)
			want := tc.atMins * time.Minute
			if tc.atMins < 0 {
				want = -1
			}
			if got != want {
				t.Errorf("%s at %s, want %s; history %+v", tc.want, got, want, e.History(a.Name))
			}
		})
	}
}

func TestStatisticsOverPeriod(t *testing.T) {
	b := newBed(t)
	e := alarmeval.New(b.cw, b.clock)
	stat := func(s alarmeval.Statistic, op alarmeval.Comparison, threshold float64) string {
		a := seedAlarm(alarmeval.Missing)
		a.Name, a.Statistic, a.ComparisonOperator, a.Threshold, a.EvaluationPeriods = string(s), s, op, threshold, 1
		if err := e.Add(a); err != nil {
			t.Fatal(err)
		}
		return a.Name
	}
	// Values in the first minute: 1, 0, 1, 1 → min 0, max 1, avg .75, sum 3, n 4.
	for i, h := range []bool{true, false, true, true} {
		b.publish(t, time.Duration(i)*10*time.Second, h)
	}
	alarmed := map[string]bool{
		stat(alarmeval.Minimum, alarmeval.LessThanThreshold, 1):             true,
		stat(alarmeval.Maximum, alarmeval.LessThanThreshold, 1):             false,
		stat(alarmeval.Average, alarmeval.LessThanOrEqualToThreshold, 0.75): true,
		stat(alarmeval.Sum, alarmeval.GreaterThanOrEqualToThreshold, 3):     true,
		stat(alarmeval.SampleCount, alarmeval.GreaterThanThreshold, 4):      false,
	}
	e.EvaluateAt(b.start.Add(time.Minute))
	for name, want := range alarmed {
		if got := e.State(name) == alarmeval.StateAlarm; got != want {
			t.Errorf("%s: alarm %v, want %v (%+v)", name, got, want, e.History(name))
		}
	}
}

// Data with other dimensions belong to another metric.
func TestDimensionsSelectTheMetric(t *testing.T) {
	b := newBed(t)
	e := alarmeval.New(b.cw, b.clock)
	a := seedAlarm(alarmeval.Breaching)
	a.Dimensions = []metrics.Dimension{{Name: "Region", Value: "b"}}
	if err := e.Add(a); err != nil {
		t.Fatal(err)
	}
	for s := time.Duration(0); s < 3*time.Minute; s += 30 * time.Second {
		b.publish(t, s, true) // region a only
	}
	e.EvaluateAt(b.start.Add(3 * time.Minute))
	if got := e.State(a.Name); got != alarmeval.StateAlarm {
		t.Errorf("region b's alarm with only region a's data: %s, want ALARM (all missing, breaching)", got)
	}
}

// Run on a scaled clock: the alarm goes OK while checks pass, then to
// ALARM once the region is silent, and never earlier than the evaluation
// range allows.
func TestRunOnScaledClock(t *testing.T) {
	cw := cwlocal.New()
	t.Cleanup(cw.Close)
	clock, err := timescale.New(240) // a minute lasts 250 ms
	if err != nil {
		t.Fatal(err)
	}
	e := alarmeval.New(cw, clock)
	a := seedAlarm(alarmeval.Breaching)
	if err := e.Add(a); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	go func() { _ = e.Run(ctx) }()
	pub := metrics.NewCloudWatch(cwlocal.NewClient(cw.URL(), 1), metrics.Options{Dimensions: regionA})
	var last time.Time
	for clock.Since(clock.Start()) < 4*time.Minute {
		last = time.Now()
		if err := pub.Publish(ctx, metrics.Sample{Time: last, Healthy: true}); err != nil {
			t.Fatal(err)
		}
		if err := clock.Sleep(ctx, 30*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Wait(ctx, a.Name, alarmeval.StateAlarm); err != nil {
		t.Fatal(err)
	}
	h := e.History(a.Name)
	if len(h) < 2 || h[0].To != alarmeval.StateOK {
		t.Fatalf("history %+v: want OK then ALARM", h)
	}
	silent := h[len(h)-1].At.Sub(clock.At(last))
	if silent < 4*time.Minute || silent > 7*time.Minute {
		t.Errorf("ALARM %s after the last datapoint, want 4–7 min (evaluation range 5, N 2)", silent)
	}
}
