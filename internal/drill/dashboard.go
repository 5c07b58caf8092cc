package drill

import (
	"context"
	"fmt"
	"html"
	"io"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/redisha/redisha/internal/deployment"
	"github.com/redisha/redisha/internal/metrics"
	"github.com/redisha/redisha/internal/promoter"
	"github.com/redisha/redisha/internal/sim/cwlocal"
)

// decision is one line the promoter logged with its decision.
type decision struct {
	at     time.Time // scenario time
	fields map[string]string
}

// decisionLog keeps each region's promoter decisions, as the dashboard's
// log widget queries them in the promoter's log group.
type decisionLog struct {
	mu  sync.Mutex
	got map[string][]decision
}

func (l *decisionLog) add(region string, d decision) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.got == nil {
		l.got = map[string][]decision{}
	}
	l.got[region] = append(l.got[region], d)
}

func (l *decisionLog) of(region string) []decision {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.got[region])
}

// decisionHandler passes every record on and keeps the promoter's decision
// lines' top-level fields.
type decisionHandler struct {
	slog.Handler
	keep func(at time.Time, fields map[string]string)
}

func (h decisionHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == promoter.DecisionMessage {
		fields := map[string]string{}
		r.Attrs(func(a slog.Attr) bool {
			if a.Value.Kind() != slog.KindGroup {
				fields[a.Key] = a.Value.String()
			}
			return true
		})
		h.keep(r.Time, fields)
	}
	return h.Handler.Handle(ctx, r)
}

func (h decisionHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return decisionHandler{Handler: h.Handler.WithAttrs(as), keep: h.keep}
}

func (h decisionHandler) WithGroup(name string) slog.Handler {
	return decisionHandler{Handler: h.Handler.WithGroup(name), keep: h.keep}
}

// dashboardRegion is the region whose deployed dashboard the drill draws:
// the secondary, which every scenario's promotion lands on.
const dashboardRegion = "b"

// Dashboard picture layout: CloudWatch's 24-column grid.
const (
	dashCol   = 46.0 // px per grid column
	dashRow   = 34.0 // px per grid row
	dashTop   = 40.0
	dashWidth = 24 * dashCol
)

// writeDashboard draws region's deployed dashboard as it would have looked
// at the end of the drill: each metric widget from the drill's CloudWatch
// (each line from its own region's), the alarm widget with the rehearsed
// alarms' states, the log widget with the promoter's last decisions.
// Metrics the drill does not have (ElastiCache's own) say so.
func (d *Drill) writeDashboard(w io.Writer, title string, widgets []deployment.Widget, from, to time.Time) error {
	var b strings.Builder
	bottom := dashTop
	for _, wg := range widgets {
		bottom = max(bottom, dashTop+float64(wg.Y+wg.Height)*dashRow)
	}
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" font-family="sans-serif" font-size="11">`+"\n", dashWidth+20, bottom+30)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="#f2f3f3"/><text x="10" y="24" font-size="15" font-weight="bold">%s</text>`+"\n", html.EscapeString(title))
	for _, wg := range widgets {
		x, y := 10+float64(wg.X)*dashCol, dashTop+float64(wg.Y)*dashRow
		wd, ht := float64(wg.Width)*dashCol-8, float64(wg.Height)*dashRow-8
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="white" stroke="#d5dbdb"/>`, x, y, wd, ht)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-weight="bold" font-size="12">%s</text>`+"\n", x+8, y+17, html.EscapeString(wg.Title))
		inner := box{x + 8, y + 26, wd - 16, ht - 34}
		switch wg.Type {
		case "metric":
			d.drawMetrics(&b, inner, wg.Metrics, from, to)
		case "alarm":
			d.drawAlarms(&b, inner, wg.Alarms)
		case "log":
			d.drawDecisions(&b, inner, wg.Query, to)
		}
	}
	fmt.Fprintf(&b, `<text x="10" y="%.0f" fill="#555">%s</text>`+"\n", bottom+18, html.EscapeString(
		"drawn from the drill's own CloudWatch and promoter log, times at real scale since the fault; the layout, titles, metrics and query are the deployed dashboard's"))
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

type box struct{ x, y, w, h float64 }

var lineColors = []string{"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"}

// series is one metric line: a value per period, in scenario time.
type series struct {
	label  string
	at     []time.Time
	values []float64
	right  bool
	// missing says why the drill has no data for it.
	missing string
}

func (d *Drill) drawMetrics(b *strings.Builder, bx box, ms []deployment.WidgetMetric, from, to time.Time) {
	var all []series
	for _, m := range ms {
		all = append(all, d.seriesOf(m, from, to))
	}
	// The legend takes one line per metric under the plot.
	plot := box{bx.x + 34, bx.y, bx.w - 34 - 34, bx.h - 14*float64(len(all)) - 16}
	if plot.h < 30 {
		plot.h = 30
	}
	for axis, right := range []bool{false, true} {
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, s := range all {
			if s.right != right {
				continue
			}
			for _, v := range s.values {
				lo, hi = min(lo, v), max(hi, v)
			}
		}
		if math.IsInf(lo, 1) {
			continue
		}
		lo = min(lo, 0)
		if hi <= lo {
			hi = lo + 1
		}
		yOf := func(v float64) float64 { return plot.y + plot.h - (v-lo)/(hi-lo)*plot.h }
		lx := plot.x - 4
		anchor := "end"
		if axis == 1 {
			lx, anchor = plot.x+plot.w+4, "start"
		}
		for _, v := range []float64{lo, hi} {
			fmt.Fprintf(b, `<text x="%.1f" y="%.1f" fill="#555" text-anchor="%s">%s</text>`, lx, yOf(v)+4, anchor, shortNum(v))
		}
		for i, s := range all {
			if s.right != right || len(s.values) == 0 {
				continue
			}
			var pts []string
			for j, v := range s.values {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", plot.x+s.at[j].Sub(from).Seconds()/to.Sub(from).Seconds()*plot.w, yOf(v)))
			}
			fmt.Fprintf(b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n", lineColors[i%len(lineColors)], strings.Join(pts, " "))
		}
	}
	fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="none" stroke="#aab7b8"/>`, plot.x, plot.y, plot.w, plot.h)
	// Time axis: the fault and the end, at real scale.
	fault := plot.x + d.fault.Sub(from).Seconds()/to.Sub(from).Seconds()*plot.w
	fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#555" stroke-dasharray="3,3"/>`, fault, plot.y, fault, plot.y+plot.h)
	for _, t := range []time.Time{from, d.fault, to} {
		px := plot.x + t.Sub(from).Seconds()/to.Sub(from).Seconds()*plot.w
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" fill="#555" text-anchor="middle">%s</text>`, px, plot.y+plot.h+12, axisLabel(t.Sub(d.fault).Seconds()))
	}
	for i, s := range all {
		y := plot.y + plot.h + 28 + 14*float64(i)
		label := s.label
		if s.missing != "" {
			label += " — " + s.missing
		}
		if limit := int((bx.w - 14) / 6.2); len([]rune(label)) > limit && limit > 3 {
			label = string([]rune(label)[:limit-1]) + "…"
		}
		fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="10" height="3" fill="%s"/><text x="%.1f" y="%.1f">%s</text>`+"\n",
			bx.x, y-4, lineColors[i%len(lineColors)], bx.x+14, y, html.EscapeString(label))
	}
}

// seriesOf is one metric as CloudWatch would graph it: the statistic of
// each period's data points, from the metric's own region's CloudWatch.
func (d *Drill) seriesOf(m deployment.WidgetMetric, from, to time.Time) series {
	s := series{label: m.Label, right: m.Right}
	if s.label == "" {
		s.label = m.Name + " " + dimsString(m.Dimensions) + " (" + m.Stat + ")"
	}
	cw, ok := d.cw[d.labelOf(m.Region)]
	if !ok || m.Namespace != deployment.Namespace {
		s.missing = "ElastiCache's own metric: not in the rehearsal"
		return s
	}
	period := max(m.Period, time.Second)
	buckets := map[time.Time][]float64{}
	for _, dt := range cw.Received() {
		// The checkers stamp wall time; the clock maps it to the scenario's.
		at := d.clock.At(dt.Timestamp)
		if dt.Namespace != m.Namespace || dt.MetricName != m.Name || !sameDims(dt.Dimensions, m.Dimensions) ||
			dt.Timestamp.IsZero() || at.Before(from) || at.After(to) {
			continue
		}
		k := at.Truncate(period)
		buckets[k] = append(buckets[k], datumValues(dt)...)
	}
	for k := range buckets {
		s.at = append(s.at, k)
	}
	slices.SortFunc(s.at, func(a, b time.Time) int { return a.Compare(b) })
	for _, k := range s.at {
		s.values = append(s.values, statOf(m.Stat, buckets[k]))
	}
	if len(s.values) == 0 {
		s.missing = "no data"
	}
	return s
}

func datumValues(dt cwlocal.Datum) []float64 {
	if len(dt.Values) == 0 {
		return []float64{dt.Value}
	}
	var out []float64
	for i, v := range dt.Values {
		n := 1
		if i < len(dt.Counts) {
			n = int(dt.Counts[i])
		}
		for range max(n, 1) {
			out = append(out, v)
		}
	}
	return out
}

func statOf(stat string, vs []float64) float64 {
	switch stat {
	case "Minimum":
		return slices.Min(vs)
	case "Maximum":
		return slices.Max(vs)
	case "SampleCount":
		return float64(len(vs))
	}
	var sum float64
	for _, v := range vs {
		sum += v
	}
	if stat == "Sum" {
		return sum
	}
	return sum / float64(len(vs))
}

func sameDims(a, b []metrics.Dimension) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range b {
		if !slices.Contains(a, x) {
			return false
		}
	}
	return true
}

func dimsString(ds []metrics.Dimension) string {
	var parts []string
	for _, x := range ds {
		parts = append(parts, x.Name+"="+x.Value)
	}
	return strings.Join(parts, ",")
}

func shortNum(v float64) string {
	if v == math.Trunc(v) {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.2g", v)
}

// drawAlarms lists the widget's alarms with the states the drill evaluated
// (the writable alarms); the others are not rehearsed.
func (d *Drill) drawAlarms(b *strings.Builder, bx box, alarms []string) {
	r := d.region(dashboardRegion)
	for i, id := range alarms {
		y := bx.y + 14*float64(i) + 10
		if y > bx.y+bx.h {
			fmt.Fprintf(b, `<text x="%.1f" y="%.1f" fill="#555">and %d more</text>`, bx.x, y, len(alarms)-i)
			return
		}
		state, color := "not rehearsed", "#aab7b8"
		if strings.HasPrefix(id, "WritableAlarm") {
			state = string(d.alarms.State(r.Writable.Name))
			color = stateColor(state)
		}
		fmt.Fprintf(b, `<circle cx="%.1f" cy="%.1f" r="4" fill="%s"/><text x="%.1f" y="%.1f">%s: %s</text>`+"\n",
			bx.x+4, y-4, color, bx.x+14, y, html.EscapeString(alarmName(id)), html.EscapeString(state))
	}
}

// alarmName is an alarm's logical id without CDK's hash.
func alarmName(id string) string {
	if len(id) > 8 && strings.ToUpper(id[len(id)-8:]) == id[len(id)-8:] {
		return id[:len(id)-8]
	}
	return id
}

// drawDecisions is the log widget: the promoter's ten last decisions,
// newest first, with the fields the deployed query selects.
func (d *Drill) drawDecisions(b *strings.Builder, bx box, query string, to time.Time) {
	cols := []string{"@timestamp"}
	if _, list, ok := strings.Cut(query, "fields @timestamp, "); ok {
		list, _, _ = strings.Cut(list, "\n")
		cols = append(cols, strings.Split(list, ", ")...)
	}
	decs := d.promoterLog.of(dashboardRegion)
	slices.Reverse(decs)
	colW := bx.w / float64(len(cols))
	for j, c := range cols {
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" font-weight="bold">%s</text>`, bx.x+colW*float64(j), bx.y+10, html.EscapeString(c))
	}
	for i, dec := range decs[:min(10, len(decs))] {
		y := bx.y + 26 + 14*float64(i)
		if y > bx.y+bx.h {
			break
		}
		for j, c := range cols {
			v := dec.fields[c]
			if c == "@timestamp" {
				v = axisLabel(dec.at.Sub(d.fault).Seconds())
			}
			if limit := int(colW / 6); len([]rune(v)) > limit && limit > 3 {
				v = string([]rune(v)[:limit-1]) + "…"
			}
			fmt.Fprintf(b, `<text x="%.1f" y="%.1f">%s</text>`, bx.x+colW*float64(j), y, html.EscapeString(v))
		}
	}
	if len(decs) == 0 {
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" fill="#555">no decision logged</text>`, bx.x, bx.y+26)
	}
}
