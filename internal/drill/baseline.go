package drill

import (
	"maps"
	"time"

	"github.com/redisha/redisha/internal/deployment"
	"github.com/redisha/redisha/internal/metrics"
	"github.com/redisha/redisha/internal/promoter"
)

// Baseline is the design document's HA design, rehearsed in the same
// harness as a deployment so the two can be measured side by side: one
// alarm on the primary's HealthCheckStatus (Minimum < 1 for 2 × 60 s, missing
// data breaching) behind the PRIMARY record, a SECONDARY record without a
// health check (always healthy), and no promoter. DNS then moves to the
// secondary when the primary's alarm fires, whether the secondary takes
// writes or not; nothing promotes it. Everything else (the checkers, the
// loop, the TTL) is dep's.
func Baseline(dep deployment.Deployment) deployment.Deployment {
	b := dep
	b.Source = maps.Clone(dep.Source)
	for i := range b.Regions {
		r := &b.Regions[i]
		r.Writable.Metric, r.Writable.Statistic = metrics.HealthCheckStatus, deployment.StatMinimum
		r.Writable.Period, r.Writable.EvaluationPeriods, r.Writable.DatapointsToAlarm = time.Minute, 2, 0
		r.Writable.Comparison, r.Writable.Threshold = deployment.LessThanThreshold, 1
		r.Writable.TreatMissingData = deployment.MissingBreaching
		r.Promoter.Mode = promoter.ModeOff
		r.Promoter.PeerWitness, r.Promoter.Bounds.SilentMaxDataLoss = "", 0
		r.WritableEndpoint = nil // the document has no writable endpoint, no witness
		delete(b.Source, r.Name+" writable endpoint")
		delete(b.Source, "witness "+r.Name)
		b.Source[r.Name+" promoter"] = "the design document: no promoter"
		b.Source["alarm "+r.Writable.Name] = "the design document's alarm"
	}
	b.DNS.Records[0].HealthCheck = deployment.HealthCheck{Alarm: b.Regions[0].Writable,
		InsufficientDataHealthStatus: deployment.InsufficientUnhealth}
	b.DNS.Records[1].HealthCheck = deployment.HealthCheck{} // none: always healthy
	b.DNS.Witnesses = [2]deployment.Witness{}
	b.Source["record "+deployment.FailoverSecondary] = "the design document: no health check"
	return b
}
