// Package alarmeval evaluates CloudWatch metric alarms the way CloudWatch
// does, over the metrics a local CloudWatch endpoint (internal/sim/cwlocal)
// received on the real wire, on a clock that can run faster than real time
// (internal/sim/timescale). It exists so a failover rehearsal sees the same
// alarm timeline the Route 53 health checks see in AWS, including what
// happens when a region goes silent and its datapoints are missing.
//
// The semantics follow the CloudWatch User Guide:
//   - "Alarm evaluation" (alarm-evaluation.html): Period, Evaluation Periods
//     (N), Datapoints to Alarm (M): the alarm goes to ALARM when M of the
//     last N datapoints breach;
//   - "Configuring how CloudWatch alarms treat missing data"
//     (alarms-and-missing-data.html), section "How alarm state is evaluated
//     when data is missing": CloudWatch retrieves more datapoints than N
//     (the evaluation range); with at least N real datapoints in the range it
//     evaluates the N most recent real ones and TreatMissingData is ignored;
//     with fewer it fills the missing ones with the TreatMissingData
//     result, "as few times as possible", keeping every real datapoint;
//     and section "Avoiding premature transitions to alarm state".
//
// Evaluate is the pure decision and is tested against every row of the
// two tables on that page; Evaluator runs alarms on a clock.
package alarmeval

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/redisha/redisha/internal/metrics"
)

// State is an alarm state.
type State string

// Alarm states.
const (
	StateOK               State = "OK"
	StateAlarm            State = "ALARM"
	StateInsufficientData State = "INSUFFICIENT_DATA"
)

// Statistic aggregates the values of one period into a datapoint.
type Statistic string

// The statistics an alarm that drives a Route 53 health check may use
// (Route 53 supports these five, not extended statistics).
const (
	Minimum     Statistic = "Minimum"
	Maximum     Statistic = "Maximum"
	Average     Statistic = "Average"
	Sum         Statistic = "Sum"
	SampleCount Statistic = "SampleCount"
)

// Comparison is PutMetricAlarm's ComparisonOperator.
type Comparison string

// Comparison operators of a static-threshold alarm.
const (
	GreaterThanOrEqualToThreshold Comparison = "GreaterThanOrEqualToThreshold"
	GreaterThanThreshold          Comparison = "GreaterThanThreshold"
	LessThanThreshold             Comparison = "LessThanThreshold"
	LessThanOrEqualToThreshold    Comparison = "LessThanOrEqualToThreshold"
)

// TreatMissing is PutMetricAlarm's TreatMissingData.
type TreatMissing string

// How missing datapoints are treated; the default is Missing.
const (
	// Missing: if every datapoint of the evaluation range is missing, the
	// alarm goes to INSUFFICIENT_DATA.
	Missing TreatMissing = "missing"
	// NotBreaching: missing datapoints are "good", within the threshold.
	NotBreaching TreatMissing = "notBreaching"
	// Breaching: missing datapoints are "bad", breaching the threshold.
	Breaching TreatMissing = "breaching"
	// Ignore: the current alarm state is kept.
	Ignore TreatMissing = "ignore"
	// DataStream is not a CloudWatch setting: it is how this package models
	// a Route 53 health check of type CLOUDWATCH_METRIC. Route 53 "doesn't
	// wait for the CloudWatch alarm to go into the ALARM state. The status of
	// a health check changes from healthy to unhealthy based on the data
	// stream and on the criteria in the CloudWatch alarm", and it copies only
	// the metric, statistic, period, evaluation periods, threshold and
	// comparison (CloudWatchAlarmConfiguration: no TreatMissingData, no
	// DatapointsToAlarm). "If the data stream doesn't provide enough
	// information to determine the state of the alarm, the health check
	// status depends on the setting for Health check status" (the check's
	// InsufficientDataHealthStatus). GUESS, as AWS documents no more: the
	// last N periods are the data stream; unless each holds a datapoint the
	// result is INSUFFICIENT_DATA, else ALARM when all N breach.
	DataStream TreatMissing = "route53-data-stream"
)

// Alarm is one metric alarm. Durations are scenario (real-scale) time.
type Alarm struct {
	// Name identifies the alarm (AlarmName).
	Name string
	// Namespace, MetricName and Dimensions select the metric; dimensions
	// match as a set, as CloudWatch matches them.
	Namespace  string
	MetricName string
	Dimensions []metrics.Dimension
	// Period is the length of one datapoint: 10, 20, 30 s or a multiple
	// of 60 s.
	Period time.Duration
	// EvaluationPeriods is N.
	EvaluationPeriods int
	// DatapointsToAlarm is M (1 ≤ M ≤ N). default: EvaluationPeriods
	DatapointsToAlarm int
	// Statistic aggregates each period.
	Statistic Statistic
	// ComparisonOperator compares a datapoint with Threshold.
	ComparisonOperator Comparison
	// Threshold is the value compared against.
	Threshold float64
	// TreatMissingData. default: Missing
	TreatMissingData TreatMissing
	// EvaluationRange is how many periods CloudWatch retrieves at each
	// evaluation. AWS does not publish it ("depends on the length of the
	// alarm period and whether it is based on a metric with standard
	// resolution or high resolution"); its own example uses 5 with N = 3,
	// and a third-party measurement saw datapoints up to 6 minutes old used
	// with 60-second periods for N = 1 and 2.
	// default: max(5, EvaluationPeriods+2)
	EvaluationRange int
	// FillMissing, when set, makes the alarm watch the metric math
	// expression FILL(metric, *FillMissing) instead of the metric: every
	// period without data takes that value, so a region that goes silent
	// looks like one that reports it, and TreatMissingData never applies.
	FillMissing *float64
}

// WithDefaults fills the fields left zero with their documented defaults.
func (a Alarm) WithDefaults() Alarm {
	if a.DatapointsToAlarm == 0 {
		a.DatapointsToAlarm = a.EvaluationPeriods
	}
	if a.TreatMissingData == "" {
		a.TreatMissingData = Missing
	}
	if a.EvaluationRange == 0 {
		a.EvaluationRange = max(5, a.EvaluationPeriods+2)
		if a.TreatMissingData == DataStream {
			a.EvaluationRange = a.EvaluationPeriods
		}
	}
	return a
}

// Validate reports every problem at once, each naming the field and the fix.
func (a Alarm) Validate() error {
	a = a.WithDefaults()
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("alarm %q: %s: %s", a.Name, field, fmt.Sprintf(format, args...)))
	}
	if a.Name == "" {
		bad("Name", "is empty: name the alarm")
	}
	if a.Namespace == "" || a.MetricName == "" {
		bad("Namespace/MetricName", "are required: name the metric the alarm watches")
	}
	switch p := a.Period; {
	case p == 10*time.Second || p == 20*time.Second || p == 30*time.Second:
	case p >= time.Minute && p%time.Minute == 0:
	default:
		bad("Period", "%s: use 10s, 20s, 30s or a multiple of 60s", p)
	}
	if a.EvaluationPeriods < 1 {
		bad("EvaluationPeriods", "%d: use at least 1", a.EvaluationPeriods)
	}
	if a.DatapointsToAlarm < 1 || a.DatapointsToAlarm > a.EvaluationPeriods {
		bad("DatapointsToAlarm", "%d: use 1 to EvaluationPeriods (%d)", a.DatapointsToAlarm, a.EvaluationPeriods)
	}
	if a.EvaluationRange < a.EvaluationPeriods {
		bad("EvaluationRange", "%d: use at least EvaluationPeriods (%d)", a.EvaluationRange, a.EvaluationPeriods)
	}
	switch a.Statistic {
	case Minimum, Maximum, Average, Sum, SampleCount:
	default:
		bad("Statistic", "%q: use Minimum, Maximum, Average, Sum or SampleCount", a.Statistic)
	}
	switch a.ComparisonOperator {
	case GreaterThanOrEqualToThreshold, GreaterThanThreshold, LessThanThreshold, LessThanOrEqualToThreshold:
	default:
		bad("ComparisonOperator", "%q: use GreaterThanOrEqualToThreshold, GreaterThanThreshold, LessThanThreshold or LessThanOrEqualToThreshold", a.ComparisonOperator)
	}
	switch a.TreatMissingData {
	case Missing, NotBreaching, Breaching, Ignore, DataStream:
	default:
		bad("TreatMissingData", "%q: use missing, notBreaching, breaching or ignore", a.TreatMissingData)
	}
	return errors.Join(errs...)
}

// Breaches reports whether a datapoint value breaches the threshold.
func (a Alarm) Breaches(v float64) bool {
	switch a.ComparisonOperator {
	case GreaterThanOrEqualToThreshold:
		return v >= a.Threshold
	case GreaterThanThreshold:
		return v > a.Threshold
	case LessThanThreshold:
		return v < a.Threshold
	case LessThanOrEqualToThreshold:
		return v <= a.Threshold
	}
	return false
}

// Point is one period's datapoint.
type Point struct {
	// Start of the period (scenario time).
	Start time.Time
	// Value is the statistic over the period's values.
	Value float64
	// Missing is true when no value arrived for the period.
	Missing bool
}

// Result is the outcome of one evaluation.
type Result struct {
	// State is the state the alarm is in after the evaluation.
	State State
	// Reason says why, in CloudWatch's manner.
	Reason string
}

// Evaluate decides the alarm state from the datapoints of the evaluation
// range (oldest first, at most EvaluationRange of them; a shorter slice
// means the periods before it are missing) and the current state. a must be
// valid (see Validate).
func Evaluate(a Alarm, rng []Point, current State) Result {
	a = a.WithDefaults()
	n, m := a.EvaluationPeriods, a.DatapointsToAlarm
	if len(rng) > a.EvaluationRange {
		rng = rng[len(rng)-a.EvaluationRange:]
	}
	if a.FillMissing != nil {
		filled := make([]Point, a.EvaluationRange)
		for i := range filled {
			filled[i] = Point{Value: *a.FillMissing}
		}
		for i, p := range rng {
			if !p.Missing {
				filled[len(filled)-len(rng)+i] = p
			}
		}
		rng = filled
	}
	if a.TreatMissingData == DataStream {
		return dataStream(a, rng)
	}
	// age of rng[i] in periods: 1 for the most recent one.
	age := func(i int) int { return len(rng) - i }
	var real []int
	for i, p := range rng {
		if !p.Missing {
			real = append(real, i)
		}
	}
	verdict := func(breaching, of int, how string) Result {
		s := StateOK
		if breaching >= m {
			s = StateAlarm
		}
		return Result{State: s, Reason: fmt.Sprintf("%d out of the last %d datapoints %s breaching (minimum %d for ALARM)%s",
			breaching, of, plural(breaching), m, how)}
	}

	// Enough real datapoints: the N most recent real ones, missing data
	// "not needed and ignored".
	if len(real) >= n {
		b := 0
		for _, i := range real[len(real)-n:] {
			if a.Breaches(rng[i].Value) {
				b++
			}
		}
		return verdict(b, n, "")
	}

	// Fewer real datapoints than N: every real one counts, and the
	// N−len(real) most recent missing ones are filled.
	fill := n - len(real)
	realBreaching, realOK := 0, 0
	oldestBreachingAge := 0
	for _, i := range real {
		if a.Breaches(rng[i].Value) {
			realBreaching++
			oldestBreachingAge = max(oldestBreachingAge, age(i))
		} else {
			realOK++
		}
	}
	switch a.TreatMissingData {
	case Breaching:
		return verdict(realBreaching+fill, n, fmt.Sprintf(", %d missing treated as breaching", fill))
	case NotBreaching:
		return verdict(realBreaching, n, fmt.Sprintf(", %d missing treated as not breaching", fill))
	}

	// missing and ignore: the filled datapoints count neither way.
	retain := Result{State: current, Reason: fmt.Sprintf("%d of %d datapoints missing: state kept", fill, n)}
	switch {
	case len(real) == 0 && a.TreatMissingData == Ignore:
		return retain
	case len(real) == 0:
		return Result{State: StateInsufficientData, Reason: fmt.Sprintf("all %d datapoints of the evaluation range are missing", a.EvaluationRange)}
	case realBreaching >= m:
		return verdict(realBreaching, len(real), fmt.Sprintf(", %d missing", fill))
	case realOK > 0:
		// A real good datapoint in the evaluated set keeps the alarm OK
		// (table rows "0 - - - -", "0 - X - -", "- - - - 0").
		return verdict(realBreaching, len(real), fmt.Sprintf(", %d missing", fill))
	case oldestBreachingAge >= m:
		// Premature-transition rule: the oldest breaching datapoint is at
		// least M periods old and everything more recent is breaching or
		// missing: ALARM even with fewer than M datapoints ("- - X - -").
		// With ignore the documented result is "retain current state".
		if a.TreatMissingData == Ignore {
			return retain
		}
		return Result{State: StateAlarm, Reason: fmt.Sprintf("the oldest breaching datapoint is %d periods old (≥ %d) and every later one is breaching or missing", oldestBreachingAge, m)}
	default:
		// Only recent breaching datapoints ("- - - - X"): the guide says the
		// alarm "does not go immediately into ALARM"; it keeps its state
		// until the next datapoint decides.
		return retain
	}
}

// dataStream is a Route 53 health check's verdict on the last N periods
// (see DataStream).
func dataStream(a Alarm, rng []Point) Result {
	n := a.EvaluationPeriods
	if len(rng) < n {
		return Result{State: StateInsufficientData, Reason: "fewer periods than N in the data stream"}
	}
	b := 0
	for _, p := range rng[len(rng)-n:] {
		if p.Missing {
			return Result{State: StateInsufficientData, Reason: fmt.Sprintf("a period of the last %d holds no datapoint", n)}
		}
		if a.Breaches(p.Value) {
			b++
		}
	}
	if b == n {
		return Result{State: StateAlarm, Reason: fmt.Sprintf("all %d datapoints of the data stream breach", n)}
	}
	return Result{State: StateOK, Reason: fmt.Sprintf("%d of the last %d datapoints breach", b, n)}
}

func plural(n int) string {
	if n == 1 {
		return "was"
	}
	return "were"
}

// aggregate is a running statistic over one period.
type aggregate struct {
	n, sum, min, max float64
}

func (g *aggregate) add(v, count float64) {
	if g.n == 0 {
		g.min, g.max = v, v
	}
	g.n += count
	g.sum += v * count
	g.min = math.Min(g.min, v)
	g.max = math.Max(g.max, v)
}

func (g *aggregate) value(s Statistic) float64 {
	switch s {
	case Minimum:
		return g.min
	case Maximum:
		return g.max
	case Sum:
		return g.sum
	case SampleCount:
		return g.n
	default:
		return g.sum / g.n
	}
}

// matches reports whether a datum belongs to the alarm's metric: same
// namespace and name, and the same set of dimensions.
func (a Alarm) matches(namespace, name string, dims []metrics.Dimension) bool {
	if namespace != a.Namespace || name != a.MetricName || len(dims) != len(a.Dimensions) {
		return false
	}
	for _, want := range a.Dimensions {
		found := false
		for _, d := range dims {
			if d == want {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// Describe is the alarm as one line, e.g.
// "Minimum(HealthCheckStatus) < 1 for 2 of 2 × 60s, missing data breaching".
func (a Alarm) Describe() string {
	a = a.WithDefaults()
	op := map[Comparison]string{GreaterThanOrEqualToThreshold: ">=", GreaterThanThreshold: ">",
		LessThanThreshold: "<", LessThanOrEqualToThreshold: "<="}[a.ComparisonOperator]
	dims := make([]string, len(a.Dimensions))
	for i, d := range a.Dimensions {
		dims[i] = d.Name + "=" + d.Value
	}
	metric := fmt.Sprintf("%s(%s{%s})", a.Statistic, a.MetricName, strings.Join(dims, ","))
	missing := "missing data " + string(a.TreatMissingData)
	if a.FillMissing != nil {
		metric = fmt.Sprintf("FILL(%s, %g)", metric, *a.FillMissing)
		missing = "missing data filled"
	}
	return fmt.Sprintf("%s %s %g for %d of %d × %s, %s", metric, op, a.Threshold, a.DatapointsToAlarm, a.EvaluationPeriods, a.Period, missing)
}
