package stacks

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsroute53"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/redisha/redisha/internal/config"
	"github.com/redisha/redisha/internal/metrics"
)

// healthAlarm is an alarm a Route 53 health check follows: everything
// Route 53 copies from the alarm when the health check is created. Route 53
// never re-reads those settings ("If you … update the settings in the
// CloudWatch alarm, Route 53 doesn't automatically update the alarm settings
// in the health check"), so the health check's logical id carries their
// digest (ID): a change of settings creates a new health check, which reads
// the new ones, moves the records to it, and deletes the old one.
type healthAlarm struct {
	Name              string // the alarm's name (fixed, so no cross-stack export has to change)
	Region            string // where the alarm lives
	GroupID           string // the checker's replication group: the metric's dimension
	Metric            string
	Statistic         string
	Period            int // seconds, a multiple of 60: Route 53 takes standard resolution only
	EvaluationPeriods int
	Threshold         float64
	Comparison        awscloudwatch.ComparisonOperator
	Missing           awscloudwatch.TreatMissingData
}

// primaryHealthAlarm is the alarm that moves the failover name off the
// primary region, as the design has it: Minimum of HealthCheckStatus < 1 for
// alarmEvaluationPeriods × alarmPeriod, missing data breaching.
func primaryHealthAlarm(s Settings) healthAlarm {
	return healthAlarm{
		Name: "redisha-primary-unhealthy", Region: s.PrimaryRegion, GroupID: s.PrimaryRGID,
		Metric: metrics.HealthCheckStatus, Statistic: "Minimum", Period: s.AlarmPeriod,
		EvaluationPeriods: s.AlarmEvaluations, Threshold: 1,
		Comparison: awscloudwatch.ComparisonOperator_LESS_THAN_THRESHOLD, Missing: awscloudwatch.TreatMissingData_BREACHING,
	}
}

// WritableAlarmName is the name of region's "accepts writes" alarm, the one
// its failover record's health check follows and the other region's
// promoter reads (PEER_WRITABLE_ALARM). Named by region, not by role: the
// roles swap at a failover, the regions do not.
func WritableAlarmName(region string) string { return metrics.WritableAlarmName(region) }

// writableHealthAlarm is the alarm on one region's WritableStatus (1 when
// its endpoint took the check's write) with the seed's knobs: Minimum over
// alarmPeriod, alarmEvaluationPeriods periods, < 1 is ALARM. Missing data
// is breaching: a silent region is not writable. A metric-math FILL(m, 0)
// would detect silence in N periods instead of the evaluation range, but a
// Route 53 health check follows single-metric alarms only (the health
// check's CloudWatchAlarmConfiguration holds one metric name, namespace,
// statistic and dimensions; alarms on metric queries are refused).
func writableHealthAlarm(s Settings, region, groupID string) healthAlarm {
	return healthAlarm{
		Name: WritableAlarmName(region), Region: region, GroupID: groupID,
		Metric: metrics.WritableStatus, Statistic: "Minimum", Period: s.AlarmPeriod,
		EvaluationPeriods: s.AlarmEvaluations, Threshold: 1,
		Comparison: awscloudwatch.ComparisonOperator_LESS_THAN_THRESHOLD, Missing: awscloudwatch.TreatMissingData_BREACHING,
	}
}

// Summary is the settings Route 53 copies, readable (a health check tag).
func (h healthAlarm) Summary() string {
	op := map[awscloudwatch.ComparisonOperator]string{
		awscloudwatch.ComparisonOperator_LESS_THAN_THRESHOLD:    "<",
		awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD: ">",
	}[h.Comparison]
	missing := map[awscloudwatch.TreatMissingData]string{
		awscloudwatch.TreatMissingData_BREACHING:     "breaching",
		awscloudwatch.TreatMissingData_NOT_BREACHING: "notBreaching",
	}[h.Missing]
	return fmt.Sprintf("%s %s(%s) over %ds, %d periods %s %g, missing %s",
		metrics.DefaultNamespace, h.Metric, h.Statistic, h.Period, h.EvaluationPeriods, op, h.Threshold, missing)
}

// ID is a short digest of every setting Route 53 copies from the alarm.
func (h healthAlarm) ID() string {
	sum := sha256.Sum256([]byte(h.Name + "|" + h.Region + "|" + config.FormatDimensions(checkerDimensions(h.GroupID)) + "|" + h.Summary()))
	return hex.EncodeToString(sum[:4])
}

// newAlarm creates the alarm in its region's stack.
func (h healthAlarm) newAlarm(scope constructs.Construct, id, description string) awscloudwatch.Alarm {
	return awscloudwatch.NewAlarm(scope, jsii.String(id), &awscloudwatch.AlarmProps{
		AlarmName:          jsii.String(h.Name),
		AlarmDescription:   jsii.String(description),
		Metric:             customMetric(h.Metric, h.Statistic, h.Period, h.GroupID),
		Threshold:          jsii.Number(h.Threshold),
		EvaluationPeriods:  jsii.Number(float64(h.EvaluationPeriods)),
		ComparisonOperator: h.Comparison,
		TreatMissingData:   h.Missing,
	})
}

// newHealthCheck creates the CLOUDWATCH_METRIC health check on the alarm,
// as <prefix><digest>. Insufficient data counts as unhealthy, on purpose:
// the alarm is INSUFFICIENT_DATA only before its first evaluation (missing
// data is breaching), and a record must be healthy only on positive
// evidence that its region takes writes. With both unhealthy Route 53
// answers the PRIMARY record, which is where the name was anyway.
func (h healthAlarm) newHealthCheck(scope constructs.Construct, prefix, tag string) awsroute53.CfnHealthCheck {
	return awsroute53.NewCfnHealthCheck(scope, jsii.String(prefix+h.ID()), &awsroute53.CfnHealthCheckProps{
		HealthCheckConfig: &awsroute53.CfnHealthCheck_HealthCheckConfigProperty{
			Type:                         jsii.String("CLOUDWATCH_METRIC"),
			AlarmIdentifier:              &awsroute53.CfnHealthCheck_AlarmIdentifierProperty{Name: jsii.String(h.Name), Region: jsii.String(h.Region)},
			InsufficientDataHealthStatus: jsii.String("Unhealthy"),
		},
		HealthCheckTags: &[]*awsroute53.CfnHealthCheck_HealthCheckTagProperty{
			{Key: jsii.String("Name"), Value: jsii.String(tag)},
			{Key: jsii.String("redisha:alarm"), Value: jsii.String(h.Summary())},
		},
	})
}
