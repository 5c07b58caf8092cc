package drill

import (
	"fmt"
	"html"
	"io"
	"math"
	"strings"
	"sync"
	"time"
)

// Span is one state of one component over [From, To) in scenario time.
type Span struct {
	State    string    `json:"state"`
	From, To time.Time `json:"-"`
	// FromS and ToS are seconds since the fault, for --json.
	FromS float64 `json:"from_s"`
	ToS   float64 `json:"to_s"`
}

// Mark is an instant on the timeline (fault, detection, promotion…).
type Mark struct {
	Label string    `json:"label"`
	At    time.Time `json:"-"`
	AtS   float64   `json:"at_s"`
}

// Timeline records each component's state changes on one time axis.
type Timeline struct {
	mu    sync.Mutex
	rows  []string
	spans map[string][]Span
	marks []Mark
}

func newTimeline(rows ...string) *Timeline {
	return &Timeline{rows: rows, spans: map[string][]Span{}}
}

// Set records that row is in state from at on; a repeated state is a no-op.
func (t *Timeline) Set(row, state string, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	sp := t.spans[row]
	if n := len(sp); n > 0 {
		if sp[n-1].State == state {
			return
		}
		if at.Before(sp[n-1].From) {
			at = sp[n-1].From
		}
		sp[n-1].To = at
	} else if !contains(t.rows, row) {
		t.rows = append(t.rows, row)
	}
	t.spans[row] = append(sp, Span{State: state, From: at})
}

// Mark records an instant.
func (t *Timeline) Mark(label string, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.marks = append(t.marks, Mark{Label: label, At: at})
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// close ends every open span at end and fills the seconds relative to t0.
func (t *Timeline) close(t0, end time.Time) (rows []string, spans map[string][]Span, marks []Mark) {
	t.mu.Lock()
	defer t.mu.Unlock()
	spans = map[string][]Span{}
	for row, sp := range t.spans {
		out := append([]Span(nil), sp...)
		if n := len(out); n > 0 && out[n-1].To.IsZero() {
			out[n-1].To = end
		}
		for i := range out {
			out[i].FromS = out[i].From.Sub(t0).Seconds()
			out[i].ToS = out[i].To.Sub(t0).Seconds()
		}
		spans[row] = out
	}
	marks = append([]Mark(nil), t.marks...)
	for i := range marks {
		marks[i].AtS = marks[i].At.Sub(t0).Seconds()
	}
	return append([]string(nil), t.rows...), spans, marks
}

// stateColor colours a state: green works, red broken, orange read-only
// or in flight, blue replica, grey unknown or silent; DNS answers are green
// for region A and purple for region B.
func stateColor(s string) string {
	switch {
	case strings.HasPrefix(s, "→ b"):
		return "#7b5ea7" // DNS answers region B
	case strings.HasPrefix(s, "→ a"):
		return "#3a9d5d" // DNS answers region A
	case s == "primary" || s == "OK" || s == appWriting || s == "healthy" || strings.HasPrefix(s, "primary "):
		return "#3a9d5d"
	case s == "replica":
		return "#4a7fc1"
	case s == appReadOnly || s == "modifying" || s == "promote" || strings.HasPrefix(s, "refuse"):
		return "#e8a33d"
	case s == "ALARM" || s == "down" || s == appDown || s == "unhealthy" || s == "stalled":
		return "#d1495b"
	default:
		return "#9a9a9a"
	}
}

// writeSVG draws the timeline: one row per component, time in real-scale
// seconds since the fault on the x axis, marks as vertical lines.
// writeSVG draws the timeline; notes (the rehearsed settings and their
// templates) go under it, one line each.
func writeSVG(w io.Writer, title string, notes []string, rows []string, spans map[string][]Span, marks []Mark, fromS, toS float64) error {
	const (
		left, right, top, rowH, barH = 130.0, 30.0, 60.0, 26.0, 18.0
		width                        = 1100.0
	)
	if toS <= fromS {
		toS = fromS + 1
	}
	plot := width - left - right
	x := func(s float64) float64 { return left + (math.Max(fromS, math.Min(toS, s))-fromS)/(toS-fromS)*plot }
	notes = wrapNotes(notes, 170) // 11-px text, about 6.2 px a character: (width − 20) / 6.2, less a margin
	height := top + rowH*float64(len(rows)) + 40 + 14*float64(len(marks)) + 14*float64(len(notes)+1)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" font-family="sans-serif" font-size="12">`+"\n", width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/><text x="10" y="22" font-size="15" font-weight="bold">%s</text>`+"\n", html.EscapeString(title))
	// Axis: a tick every nice step of real-scale seconds.
	step := niceStep((toS - fromS) / 10)
	for s := math.Ceil(fromS/step) * step; s <= toS; s += step {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.0f" x2="%.1f" y2="%.0f" stroke="#e4e4e4"/>`, x(s), top-8, x(s), top+rowH*float64(len(rows)))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" text-anchor="middle" fill="#555">%s</text>`+"\n", x(s), top-12, axisLabel(s))
	}
	for i, row := range rows {
		y := top + rowH*float64(i)
		fmt.Fprintf(&b, `<text x="10" y="%.1f">%s</text>`, y+barH-4, html.EscapeString(row))
		for _, sp := range spans[row] {
			x0, x1 := x(sp.FromS), x(sp.ToS)
			if x1-x0 < 0.5 {
				continue
			}
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.0f" fill="%s"><title>%s %s: %s–%s</title></rect>`,
				x0, y, x1-x0, barH, stateColor(sp.State), html.EscapeString(row), html.EscapeString(sp.State), axisLabel(sp.FromS), axisLabel(sp.ToS))
			if x1-x0 > 7*float64(len(sp.State)) {
				fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" fill="white" font-size="11">%s</text>`, x0+4, y+barH-5, html.EscapeString(sp.State))
			}
		}
		b.WriteString("\n")
	}
	bottom := top + rowH*float64(len(rows))
	for i, m := range marks {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.0f" x2="%.1f" y2="%.0f" stroke="#222" stroke-dasharray="3,3"/>`, x(m.AtS), top-8, x(m.AtS), bottom+8+14*float64(i))
		// Labels near the right edge end at their line instead of running off.
		anchor, dx := "start", 3.0
		if x(m.AtS) > width-260 {
			anchor, dx = "end", -3
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" fill="#222" text-anchor="%s">%s (%s)</text>`+"\n", x(m.AtS)+dx, bottom+18+14*float64(i), anchor, html.EscapeString(m.Label), axisLabel(m.AtS))
	}
	y := bottom + 36 + 14*float64(len(marks))
	if len(notes) > 0 {
		fmt.Fprintf(&b, `<text x="10" y="%.0f" font-weight="bold" fill="#333">rehearsed as deployed:</text>`+"\n", y)
	}
	for i, n := range notes {
		x := 10 // a continued line (wrapNotes) is indented by position: SVG collapses spaces
		if rest, ok := strings.CutPrefix(n, "    "); ok {
			x, n = 34, rest
		}
		fmt.Fprintf(&b, `<text x="%d" y="%.0f" fill="#555" font-size="11">%s</text>`+"\n", x, y+14*float64(i+1), html.EscapeString(n))
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func niceStep(raw float64) float64 {
	for _, s := range []float64{1, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600} {
		if s >= raw {
			return s
		}
	}
	return 3600
}

// axisLabel writes seconds since the fault as +1m30s / -30s.
func axisLabel(s float64) string {
	d := time.Duration(math.Round(s)) * time.Second
	if d >= 0 {
		return "+" + d.String()
	}
	return d.String()
}

// wrapNotes breaks notes longer than n characters at spaces; the lines that
// continue one are indented.
func wrapNotes(notes []string, n int) []string {
	var out []string
	for _, note := range notes {
		line := ""
		for _, word := range strings.Fields(note) {
			if line != "" && len(line)+1+len(word) > n {
				out = append(out, line)
				line = "    "
			}
			if line != "" && line != "    " {
				line += " "
			}
			line += word
		}
		out = append(out, line)
	}
	return out
}
