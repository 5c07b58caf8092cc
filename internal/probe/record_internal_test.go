package probe

import (
	"slices"
	"testing"
	"time"

	"github.com/redisha/redisha/internal/check"
)

// step is one synthetic check: kind, start offset and latency in ms. Steps
// are recorded in the order given, which is the order checks end in.
type step struct {
	kind     Kind
	at, took int
	reason   check.Reason // empty: success
}

var t0 = time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)

func replay(steps []step) (*recorder, []Event) {
	var events []Event
	r := newRecorder(Config{Timeout: 200 * time.Millisecond, SampleEvery: time.Second, Sink: func(e Event) {
		events = append(events, e)
	}}.withDefaults())
	r.start = t0
	for _, s := range steps {
		start := t0.Add(time.Duration(s.at) * time.Millisecond)
		r.record(s.kind, start, time.Duration(s.took)*time.Millisecond, s.reason == "", s.reason, string(s.reason), "127.0.0.1")
	}
	return r, events
}

// The window definition, checked on exact times: a window starts at the
// start of the first failed check and ends at the answer of the first
// successful one.
func TestWindows(t *testing.T) {
	cases := []struct {
		name  string
		steps []step
		want  []Window // Kind, DurationMS, ChecksLost, Reasons, Open
	}{
		{"no failure", []step{{Write, 0, 1, ""}, {Write, 1, 1, ""}}, nil},
		{"refused, then up", []step{
			{Write, 0, 1, ""}, {Write, 10, 1, "refused"}, {Write, 11, 1, "refused"}, {Write, 512, 3, ""},
		}, []Window{{Kind: Write, DurationMS: 505, ChecksLost: 2, Reasons: []check.Reason{"refused"}}}},
		{"a stall: the check sent into it ends the window when answered", []step{
			{Write, 0, 1, ""}, {Write, 100, 200, "timeout"}, {Write, 300, 200, "timeout"}, {Write, 500, 150, ""},
		}, []Window{{Kind: Write, DurationMS: 550, ChecksLost: 2, Reasons: []check.Reason{"timeout"}}}},
		{"reasons in the order seen, once each", []step{
			{Read, 0, 1, "reset"}, {Read, 1, 1, "refused"}, {Read, 2, 1, "refused"}, {Read, 3, 1, "loading"}, {Read, 9, 1, ""},
		}, []Window{{Kind: Read, DurationMS: 10, ChecksLost: 4, Reasons: []check.Reason{"reset", "refused", "loading"}}}},
		{"write and read apart", []step{
			{Write, 0, 1, "readonly"}, {Read, 0, 1, ""}, {Write, 300, 1, ""},
		}, []Window{{Kind: Write, DurationMS: 301, ChecksLost: 1, Reasons: []check.Reason{"readonly"}}}},
		{"writes time out while reads are answered: paused_writes", []step{
			{Read, 50, 1, ""}, {Read, 150, 1, ""}, {Write, 0, 200, "timeout"}, {Write, 200, 100, ""},
		}, []Window{{Kind: Write, DurationMS: 300, ChecksLost: 1, Reasons: []check.Reason{"timeout", ReasonPausedWrites}}}},
		{"a read answered only just after the write was sent is no proof", []step{
			{Read, 0, 1, ""}, {Write, 0, 200, "timeout"}, {Read, 1, 200, "timeout"}, {Write, 200, 5, ""}, {Read, 201, 4, ""},
		}, []Window{
			{Kind: Write, DurationMS: 205, ChecksLost: 1, Reasons: []check.Reason{"timeout"}},
			{Kind: Read, DurationMS: 204, ChecksLost: 1, Reasons: []check.Reason{"timeout"}},
		}},
		{"two windows", []step{
			{Write, 0, 1, "reset"}, {Write, 5, 1, ""}, {Write, 100, 1, "refused"}, {Write, 120, 1, ""},
		}, []Window{
			{Kind: Write, DurationMS: 6, ChecksLost: 1, Reasons: []check.Reason{"reset"}},
			{Kind: Write, DurationMS: 21, ChecksLost: 1, Reasons: []check.Reason{"refused"}},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := replay(tc.steps)
			got := r.summary().Windows
			if len(got) != len(tc.want) {
				t.Fatalf("windows %+v, want %+v", got, tc.want)
			}
			for i, w := range tc.want {
				g := got[i]
				if g.Kind != w.Kind || g.DurationMS != w.DurationMS || g.ChecksLost != w.ChecksLost ||
					!slices.Equal(g.Reasons, w.Reasons) || g.Open != w.Open {
					t.Errorf("window %d: %s %dms lost %d %v open %v; want %s %dms lost %d %v open %v", i,
						g.Kind, g.DurationMS, g.ChecksLost, g.Reasons, g.Open, w.Kind, w.DurationMS, w.ChecksLost, w.Reasons, w.Open)
				}
				if time.Time(g.End).Sub(time.Time(g.Start)).Milliseconds() != g.DurationMS {
					t.Errorf("window %d: end − start ≠ duration_ms", i)
				}
			}
		})
	}
}

func TestOpenWindowAtEndAndAvailability(t *testing.T) {
	r, _ := replay([]step{{Write, 0, 1, ""}, {Read, 0, 1, ""}, {Write, 10, 1, "refused"}, {Read, 20, 1, "refused"}})
	s := r.summary()
	if len(s.Windows) != 2 || !s.Windows[0].Open || !s.Windows[1].Open || s.Windows[0].Kind != Write {
		t.Fatalf("%+v", s.Windows)
	}
	// Write and read windows overlap: downtime is their union.
	if s.TotalDowntimeMS != s.Windows[0].DurationMS || s.Availability >= 1 || s.Series[Read].Windows != 1 {
		t.Fatalf("%+v", s)
	}
}

func TestUnion(t *testing.T) {
	w := func(from, to int) Window {
		return Window{start: t0.Add(time.Duration(from) * time.Millisecond), end: t0.Add(time.Duration(to) * time.Millisecond)}
	}
	for _, tc := range []struct {
		ws   []Window
		want int64
	}{
		{nil, 0},
		{[]Window{w(0, 10)}, 10},
		{[]Window{w(0, 10), w(5, 20)}, 20},
		{[]Window{w(0, 10), w(2, 5), w(30, 40)}, 20},
	} {
		if got := unionMS(tc.ws); got != tc.want {
			t.Errorf("union %v = %d, want %d", tc.ws, got, tc.want)
		}
	}
}

// Successes are sampled; a failure that opens a window or brings a new
// reason into it is written at once.
func TestEventSampling(t *testing.T) {
	var steps []step
	for i := 0; i < 3000; i++ { // 3 s of checks every ms
		steps = append(steps, step{Write, i, 0, ""})
	}
	steps = append(steps, step{Write, 3000, 1, "reset"}, step{Write, 3001, 1, "refused"}, step{Write, 3002, 1, "refused"}, step{Write, 3003, 1, ""})
	_, events := replay(steps)
	count := map[EventType]int{}
	for _, e := range events {
		count[e.Type]++
	}
	if count[EventOK] != 3 || count[EventDown] != 1 || count[EventFail] != 1 || count[EventUp] != 1 || len(count) != 4 {
		t.Fatalf("events %v", count)
	}
}

// A long outage: a failure every ms for 10 s is the down line, a line for
// each new reason and one still_down line per second with the failures
// counted per reason; nothing is lost from the counts.
func TestFailuresAreAggregated(t *testing.T) {
	steps := []step{{Read, 0, 1, ""}}
	for i := 1; i <= 10000; i++ {
		reason := check.ReasonRefused
		if i%1000 == 500 {
			reason = check.ReasonReset
		}
		steps = append(steps, step{Read, i, 0, reason})
	}
	steps = append(steps, step{Read, 10001, 2, ""})
	_, events := replay(steps)
	var down, fail, still, up int
	counted := 0
	for _, e := range events {
		switch e.Type {
		case EventDown:
			down++
			counted++
		case EventFail:
			fail++
			counted++
		case EventStillDown:
			still++
			counted += e.Failed
			n := 0
			for _, c := range e.Counts {
				n += c
			}
			if n != e.Failed || e.Since == nil || time.Time(*e.Since) != t0.Add(time.Millisecond) {
				t.Errorf("still_down %+v", e)
			}
		case EventUp:
			up++
			if e.ChecksLost != 10000 || *e.DurationMS != 10002 {
				t.Errorf("up %+v", e)
			}
		}
	}
	// The last partial second is in the up line's checks_lost only.
	if down != 1 || fail != 1 || up != 1 || still < 9 || still > 10 || counted < 9000 {
		t.Fatalf("down %d, fail %d, still_down %d, up %d, failures counted %d", down, fail, still, up, counted)
	}
}

// Changes are data: the field, from and to, not a sentence.
func TestServerChangesAreTyped(t *testing.T) {
	var events []Event
	r := newRecorder(Config{Timeout: time.Second, Sink: func(e Event) { events = append(events, e) }}.withDefaults())
	r.server(Write, "master", "aaaaaaaaaaaa", "10.0.0.1")
	r.server(Write, "master", "aaaaaaaaaaaa", "10.0.0.1") // nothing new: no event
	r.server(Write, "slave", "aaaaaaaaaaaa", "10.0.0.2")
	if len(events) != 2 || len(events[0].Changes) != 0 {
		t.Fatalf("events %+v", events)
	}
	got := events[1].Changes
	if len(got) != 2 || got[0].Field != ChangeRole || got[0].From != "master" || got[0].To != "slave" ||
		got[1].Field != ChangeIP || got[1].From != "10.0.0.1" || got[1].To != "10.0.0.2" {
		t.Fatalf("changes %+v", got)
	}
	if s := r.summary(); len(s.Changes) != 2 {
		t.Fatalf("summary changes %+v", s.Changes)
	}
}
