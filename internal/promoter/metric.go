package promoter

import (
	"encoding/json"
	"log/slog"
	"time"

	"github.com/redisha/redisha/internal/metrics"
)

// Metric names the runner publishes once per decision.
const (
	// MetricAction is 0 (none), 1 (advise) or 2 (promote).
	MetricAction = "PromoterAction"
	// MetricReady is 1 when every guard but the mode holds: "could promote
	// right now" (alarm on it to page before the mode matters).
	MetricReady = "PromoterReady"
	// MetricPrimaryDown is 1 when the independent-evidence guard holds.
	MetricPrimaryDown = "PromoterPrimaryDown"
)

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// publishMetric writes one Embedded Metric Format document: the Lambda's
// stdout reaches CloudWatch Logs, which extracts the metrics, so no
// monitoring endpoint is needed in the VPC.
func (r *Runner) publishMetric(log *slog.Logger, at time.Time, d Decision) {
	if r.Metrics == nil {
		return
	}
	ns := r.Namespace
	if ns == "" {
		ns = metrics.DefaultNamespace
	}
	action := map[Action]float64{ActNone: 0, ActAdvise: 1, ActPromote: 2}[d.Action]
	doc := map[string]any{
		"_aws": map[string]any{
			"Timestamp": at.UnixMilli(),
			"CloudWatchMetrics": []any{map[string]any{
				"Namespace":  ns,
				"Dimensions": [][]string{{"Region"}},
				"Metrics": []any{
					map[string]string{"Name": MetricAction, "Unit": "None"},
					map[string]string{"Name": MetricReady, "Unit": "None"},
					map[string]string{"Name": MetricPrimaryDown, "Unit": "None"},
				},
			}},
		},
		"Region":          r.Region,
		MetricAction:      action,
		MetricReady:       b2f(d.Ready),
		MetricPrimaryDown: b2f(d.PrimaryDown),
		"epoch":           d.Epoch,
	}
	line, err := json.Marshal(doc)
	if err == nil {
		_, err = r.Metrics.Write(append(line, '\n'))
	}
	if err != nil {
		log.Error("promoter metric not written", "error", err.Error())
	}
}
