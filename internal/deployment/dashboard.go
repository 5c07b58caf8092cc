package deployment

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/redisha/redisha/internal/metrics"
)

// Widget is one widget of a deployed CloudWatch dashboard, read back from
// the template (the dashboard body CloudWatch receives).
type Widget struct {
	// Type is metric, alarm or log.
	Type  string
	Title string
	// X, Y, Width and Height place it on the dashboard's 24-column grid.
	X, Y, Width, Height int
	// Metrics are a metric widget's lines.
	Metrics []WidgetMetric
	// Query is a log widget's Logs Insights query.
	Query string
	// Alarms are an alarm widget's alarms, by logical id.
	Alarms []string
}

// WidgetMetric is one line of a metric widget.
type WidgetMetric struct {
	Namespace, Name string
	Dimensions      []metrics.Dimension
	Stat            string
	Period          time.Duration
	// Region is the metric's region (a dashboard may show another's).
	Region string
	Label  string
	// Right: on the right axis.
	Right bool
}

// Dashboards reads each region stack's dashboard from a cloud assembly:
// region → widgets, in the order CloudWatch draws them.
func Dashboards(dir string) (map[string][]Widget, error) {
	stacks, err := readStacks(dir)
	if err != nil {
		return nil, err
	}
	out := map[string][]Widget{}
	for _, st := range stacks {
		for _, id := range st.tpl.of("AWS::CloudWatch::Dashboard") {
			body, err := resolveBody(st.tpl.Resources[id].Properties["DashboardBody"], st.region)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", st.source(id), err)
			}
			ws, err := parseDashboard(body, st.region)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", st.source(id), err)
			}
			out[st.region] = append(out[st.region], ws...)
		}
	}
	return out, nil
}

// resolveBody is the dashboard body with its references written as names:
// a Ref or GetAtt as the logical id, AWS::Region as the stack's region.
func resolveBody(v any, region string) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case map[string]any:
		if j, ok := x["Fn::Join"].([]any); ok && len(j) == 2 {
			sep, _ := j[0].(string)
			parts, _ := j[1].([]any)
			var out []string
			for _, p := range parts {
				s, err := resolveBody(p, region)
				if err != nil {
					return "", err
				}
				out = append(out, s)
			}
			return strings.Join(out, sep), nil
		}
		if r, ok := x["Ref"].(string); ok {
			if r == "AWS::Region" {
				return region, nil
			}
			return r, nil
		}
		if g, ok := x["Fn::GetAtt"].([]any); ok && len(g) > 0 {
			s, _ := g[0].(string)
			return s, nil
		}
	}
	return "", fmt.Errorf("the dashboard body holds %v, which is neither text nor a reference", v)
}

// parseDashboard reads a dashboard body's widgets.
func parseDashboard(body, region string) ([]Widget, error) {
	var b struct {
		Widgets []struct {
			Type       string         `json:"type"`
			X          int            `json:"x"`
			Y          int            `json:"y"`
			Width      int            `json:"width"`
			Height     int            `json:"height"`
			Properties map[string]any `json:"properties"`
		} `json:"widgets"`
	}
	if err := json.Unmarshal([]byte(body), &b); err != nil {
		return nil, fmt.Errorf("the dashboard body: %w", err)
	}
	var out []Widget
	for _, w := range b.Widgets {
		p := w.Properties
		wg := Widget{Type: w.Type, X: w.X, Y: w.Y, Width: w.Width, Height: w.Height}
		wg.Title, _ = p["title"].(string)
		switch w.Type {
		case "metric":
			lines, _ := p["metrics"].([]any)
			for _, l := range lines {
				m, err := parseMetricLine(l, region)
				if err != nil {
					return nil, fmt.Errorf("widget %q: %w", wg.Title, err)
				}
				wg.Metrics = append(wg.Metrics, m)
			}
		case "log":
			q, _ := p["query"].(string)
			// CloudWatch's form: SOURCE 'group' | query.
			if _, rest, ok := strings.Cut(q, "| "); ok && strings.HasPrefix(q, "SOURCE ") {
				q = rest
			}
			wg.Query = q
		case "alarm":
			alarms, _ := p["alarms"].([]any)
			for _, a := range alarms {
				s, _ := a.(string)
				wg.Alarms = append(wg.Alarms, s)
			}
		}
		out = append(out, wg)
	}
	return out, nil
}

// parseMetricLine reads [namespace, name, dim, value, …, {options}].
func parseMetricLine(l any, region string) (WidgetMetric, error) {
	parts, _ := l.([]any)
	m := WidgetMetric{Region: region, Stat: "Average", Period: 5 * time.Minute}
	var strs []string
	for _, p := range parts {
		switch x := p.(type) {
		case string:
			strs = append(strs, x)
		case map[string]any:
			if s, ok := x["stat"].(string); ok {
				m.Stat = s
			}
			if n, ok := x["period"].(float64); ok {
				m.Period = time.Duration(n) * time.Second
			}
			if r, ok := x["region"].(string); ok {
				m.Region = r
			}
			m.Label, _ = x["label"].(string)
			m.Right = x["yAxis"] == "right"
		}
	}
	if len(strs) < 2 || len(strs)%2 != 0 {
		return m, fmt.Errorf("a metric line %v is not namespace, name and dimension pairs", parts)
	}
	m.Namespace, m.Name = strs[0], strs[1]
	for i := 2; i+1 < len(strs); i += 2 {
		m.Dimensions = append(m.Dimensions, metrics.Dimension{Name: strs[i], Value: strs[i+1]})
	}
	return m, nil
}
