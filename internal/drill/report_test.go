package drill

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"math"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redisha/redisha/internal/deployment"
	"github.com/redisha/redisha/internal/engine"
)

// The windows an application saw: the longest stretch without a write,
// split by error class.
func TestAppReportWindows(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	a := &app{region: "a"}
	a.ops = []op{
		{at: at(-10), ok: true, seq: 1},
		{at: at(0), class: "refused", seq: 2},
		{at: at(30), class: "refused", seq: 3},
		{at: at(60), class: "readonly", seq: 4},
		{at: at(90), ok: true, seq: 5},
		{at: at(100), class: "timeout", seq: 6},
		{at: at(105), ok: true, seq: 7},
	}
	final := adminClient("127.0.0.1:1")
	defer final.Close()
	r := appReport(context.Background(), a, t0, final)
	if r.WriteUnavailable != 90 || r.ReadOnly != 30 || r.Disconnected != 65 {
		t.Errorf("windows %+v: want 90 s without writes, 30 s read-only, 65 s disconnected", r)
	}
	if r.Errors["refused"] != 2 || r.Errors["readonly"] != 1 || r.Errors["timeout"] != 1 {
		t.Errorf("errors %v", r.Errors)
	}
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{nil, ""},
		{errors.New("READONLY You can't write against a read only replica."), "readonly"},
		{fmt.Errorf("dial: %w", syscall.ECONNREFUSED), "refused"},
		{context.DeadlineExceeded, "timeout"},
		{errors.New("read tcp: i/o timeout"), "timeout"},
		{errors.New("EOF"), "reset"},
		{errors.New("ERR unknown"), "error"},
	} {
		if got := classify(tc.err); got != tc.want {
			t.Errorf("classify(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

// Promotion must happen exactly when the scenario says.
func TestScenarioExpectations(t *testing.T) {
	lost := Scenario{ExpectPromotion: true}
	none := Scenario{ExpectRefusal: "evidence"}
	planned := Scenario{ExpectPlanned: 2, NoLoss: true}
	one := []PromotionReport{{To: "b"}}
	for _, tc := range []struct {
		name string
		sc   Scenario
		rep  Report
		ok   bool
	}{
		{"one promotion expected, one made", lost, Report{Promotions: one}, true},
		{"one promotion expected, none made", lost, Report{}, false},
		{"one promotion expected, two made", lost, Report{Promotions: append(one, one...)}, false},
		{"none expected, one made", none, Report{Promotions: one, LastRefusal: map[string][]string{"b": {"evidence: x"}}}, false},
		{"none expected, refused on evidence", none, Report{LastRefusal: map[string][]string{"b": {"evidence: partition"}}}, true},
		{"none expected, refused on another guard", none, Report{LastRefusal: map[string][]string{"b": {"latch: x"}}}, false},
		{"planned, none lost", planned, Report{Promotions: []PromotionReport{{Planned: true}, {Planned: true}}, Apps: []AppReport{{Lost: 0}}}, true},
		{"planned, a write lost", planned, Report{Promotions: []PromotionReport{{Planned: true}, {Planned: true}}, Apps: []AppReport{{Lost: 1}}}, false},
	} {
		if got := len(tc.sc.check(&tc.rep)) == 0; got != tc.ok {
			t.Errorf("%s: passed %v, want %v (%v)", tc.name, got, tc.ok, tc.sc.check(&tc.rep))
		}
	}
}

// The picture is well-formed SVG with one labelled row per component and
// the marks.
func TestTimelineSVG(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tl := newTimeline("a1", "app a")
	tl.Set("a1", "primary", t0.Add(-time.Minute))
	tl.Set("a1", "primary", t0) // no change: no new span
	tl.Set("a1", "down", t0)
	tl.Set("app a", appWriting, t0.Add(-time.Minute))
	tl.Set("app a", appDown, t0.Add(time.Second))
	tl.Set("redis.internal", "→ b (secondary)", t0.Add(2*time.Minute)) // a new row
	tl.Mark("fault", t0)
	rows, spans, marks := tl.close(t0, t0.Add(3*time.Minute))
	if len(rows) != 3 || len(spans["a1"]) != 2 || spans["a1"][1].FromS != 0 || spans["a1"][1].ToS != 180 {
		t.Fatalf("rows %v, a1 %+v", rows, spans["a1"])
	}
	var b bytes.Buffer
	if err := writeSVG(&b, "title <&>", nil, rows, spans, marks, -60, 180); err != nil {
		t.Fatal(err)
	}
	dec := xml.NewDecoder(bytes.NewReader(b.Bytes()))
	for {
		if _, err := dec.Token(); err != nil {
			if err.Error() != "EOF" {
				t.Fatalf("not well-formed XML: %v\n%s", err, b.String())
			}
			break
		}
	}
	for _, want := range []string{">a1<", ">app a<", ">redis.internal<", "fault (+0s)", stateColor("down"), "title &lt;&amp;&gt;"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("picture lacks %q", want)
		}
	}
}

// Long notes wrap at spaces, continued lines indented; no word is lost.
func TestWrapNotesKeepsEveryWord(t *testing.T) {
	got := wrapNotes([]string{"short", "a b c d e f g h"}, 7)
	want := []string{"short", "a b c d", "    e f", "    g h"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("%q", got)
	}
}

// An application whose client retries inside a write reports the longest
// time between two acknowledged writes after the fault, even when every
// write it finished was acknowledged.
func TestLongestAckGap(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	for _, c := range []struct {
		name string
		ops  []op
		want float64
	}{
		{"none", nil, 0},
		{"steady", []op{{at: at(-1), ok: true}, {at: at(0.5), ok: true}, {at: at(1), ok: true}}, 0.5},
		{"a write retried through the outage", []op{{at: at(-0.1), ok: true}, {at: at(0.1), ok: true}, {at: at(40), ok: true}, {at: at(40.1), ok: true}}, 39.9},
		{"failures, then writes again", []op{{at: at(1), ok: true}, {at: at(2)}, {at: at(9)}, {at: at(12), ok: true}}, 11},
		{"never writes again", []op{{at: at(1), ok: true}, {at: at(2)}, {at: at(30)}}, 29},
	} {
		if got := longestAckGap(c.ops, t0); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("%s: %g s, want %g s", c.name, got, c.want)
		}
	}
}

// The rehearsed settings name the engine the templates deploy, and say
// when this machine's redis-server stands in for Valkey.
func TestSourcesNameTheEngine(t *testing.T) {
	for e, want := range map[engine.Name]string{
		engine.Redis:  "engine: redis 7.1 (model), rehearsed on this machine's redis-server",
		engine.Valkey: "engine: valkey 8.2 (model), rehearsed on this machine's redis-server, standing in for Valkey (docs/valkey.md",
	} {
		s, err := deployment.Load(func(k string) any {
			return map[string]any{"engine": string(e)}[k]
		}, "123456789012")
		if err != nil {
			t.Fatal(err)
		}
		d := &Drill{cfg: Config{Deployment: deployment.New(s)}}
		if got := strings.Join(d.sources(), "\n"); !strings.Contains(got, want) {
			t.Errorf("%s: sources lack %q:\n%s", e, want, got)
		}
	}
}
