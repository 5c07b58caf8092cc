package alarmeval

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/redisha/redisha/internal/sim/cwlocal"
	"github.com/redisha/redisha/internal/sim/timescale"
)

// Source gives the metric data received so far; *cwlocal.Server is one.
type Source interface {
	Received() []cwlocal.Datum
}

var _ Source = (*cwlocal.Server)(nil)

// Transition is one change of an alarm's state.
type Transition struct {
	Alarm    string
	From, To State
	// At is the scenario time of the evaluation that changed it.
	At     time.Time
	Reason string
}

type alarmState struct {
	alarm   Alarm
	state   State
	last    time.Time // end of the last evaluated range
	history []Transition
}

// Evaluator evaluates alarms at the end of every period, as CloudWatch
// does, over the data a Source received. Datapoint timestamps are wall time
// (what the checker sends); the clock maps them to scenario time, so a
// scaled run sees the same number of datapoints per period as a real one.
// Its methods are safe for concurrent use.
type Evaluator struct {
	src   Source
	clock *timescale.Clock
	// Delay is how long after a period's end it is evaluated (scenario
	// time), for data still in flight. default: 0
	Delay time.Duration

	mu      sync.Mutex
	alarms  map[string]*alarmState
	order   []string
	changed chan struct{}
}

// New returns an evaluator with no alarms.
func New(src Source, clock *timescale.Clock) *Evaluator {
	return &Evaluator{src: src, clock: clock, alarms: map[string]*alarmState{}, changed: make(chan struct{})}
}

// Add adds an alarm, in state INSUFFICIENT_DATA as a new alarm is.
func (e *Evaluator) Add(a Alarm) error {
	if err := a.Validate(); err != nil {
		return err
	}
	a = a.WithDefaults()
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, dup := e.alarms[a.Name]; dup {
		return fmt.Errorf("alarm %q: Name: already added: give each alarm its own name", a.Name)
	}
	e.alarms[a.Name] = &alarmState{alarm: a, state: StateInsufficientData}
	e.order = append(e.order, a.Name)
	return nil
}

// State is an alarm's current state (INSUFFICIENT_DATA for an unknown one).
func (e *Evaluator) State(name string) State {
	e.mu.Lock()
	defer e.mu.Unlock()
	if s, ok := e.alarms[name]; ok {
		return s.state
	}
	return StateInsufficientData
}

// StateFunc returns a function reading the alarm's state, for a Route 53
// health check of type CLOUDWATCH_METRIC.
func (e *Evaluator) StateFunc(name string) func() State {
	return func() State { return e.State(name) }
}

// History lists an alarm's transitions, oldest first.
func (e *Evaluator) History(name string) []Transition {
	e.mu.Lock()
	defer e.mu.Unlock()
	if s, ok := e.alarms[name]; ok {
		return append([]Transition(nil), s.history...)
	}
	return nil
}

// Wait returns when the alarm is in state want, or when ctx ends.
func (e *Evaluator) Wait(ctx context.Context, name string, want State) error {
	for {
		e.mu.Lock()
		s, ok := e.alarms[name]
		got, changed := StateInsufficientData, e.changed
		if ok {
			got = s.state
		}
		e.mu.Unlock()
		if got == want {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("alarm %q still %s, waiting for %s: %w", name, got, want, ctx.Err())
		}
	}
}

// EvaluateAt evaluates every alarm whose period ended at or before the
// scenario time now and has not been evaluated yet, once per alarm, over
// the range ending at its latest period boundary.
func (e *Evaluator) EvaluateAt(now time.Time) {
	data := e.src.Received()
	e.mu.Lock()
	defer e.mu.Unlock()
	moved := false
	for _, name := range e.order {
		s := e.alarms[name]
		end := now.Add(-e.Delay).Truncate(s.alarm.Period)
		if !end.After(s.last) {
			continue
		}
		s.last = end
		r := Evaluate(s.alarm, e.points(s.alarm, data, end), s.state)
		if r.State != s.state {
			s.history = append(s.history, Transition{Alarm: name, From: s.state, To: r.State, At: end.Add(e.Delay), Reason: r.Reason})
			s.state = r.State
			moved = true
		}
	}
	if moved {
		close(e.changed)
		e.changed = make(chan struct{})
	}
}

// points aggregates the alarm's data into the periods of the evaluation
// range ending at end (scenario time), oldest first.
func (e *Evaluator) points(a Alarm, data []cwlocal.Datum, end time.Time) []Point {
	r := a.EvaluationRange
	start := end.Add(-time.Duration(r) * a.Period)
	aggs := make([]aggregate, r)
	for _, d := range data {
		if d.Timestamp.IsZero() || !a.matches(d.Namespace, d.MetricName, d.Dimensions) {
			continue
		}
		t := e.clock.At(d.Timestamp)
		if t.Before(start) || !t.Before(end) {
			continue
		}
		g := &aggs[int(t.Sub(start)/a.Period)]
		switch {
		case len(d.Values) > 0:
			for i, v := range d.Values {
				c := 1.0
				if i < len(d.Counts) {
					c = d.Counts[i]
				}
				g.add(v, c)
			}
		default:
			g.add(d.Value, 1)
		}
	}
	pts := make([]Point, r)
	for i := range pts {
		pts[i] = Point{Start: start.Add(time.Duration(i) * a.Period), Missing: aggs[i].n == 0}
		if !pts[i].Missing {
			pts[i].Value = aggs[i].value(a.Statistic)
		}
	}
	return pts
}

// Run evaluates at every period boundary of every alarm until ctx ends.
func (e *Evaluator) Run(ctx context.Context) error {
	for {
		now := e.clock.Now()
		next := e.nextBoundary(now)
		if err := e.clock.SleepUntil(ctx, next.Add(e.Delay)); err != nil {
			return err
		}
		e.EvaluateAt(next.Add(e.Delay))
	}
}

func (e *Evaluator) nextBoundary(now time.Time) time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	base := now.Add(-e.Delay)
	next := base.Truncate(time.Second).Add(time.Second) // no alarm yet: look again soon
	for i, name := range e.order {
		p := e.alarms[name].alarm.Period
		if b := base.Truncate(p).Add(p); i == 0 || b.Before(next) {
			next = b
		}
	}
	return next
}
