package stacks

import (
	"crypto/sha256"
	"encoding/hex"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsroute53"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/redisha/redisha/internal/config"
	"github.com/redisha/redisha/internal/deployment"
)

// alarmSpec is the CDK rendering of a deployment's alarm.
type alarmSpec deployment.AlarmSpec

// ID is a short digest of every setting Route 53 copies from the alarm. A
// health check's logical id carries it: Route 53 never re-reads an alarm's
// settings ("If you … update the settings in the CloudWatch alarm, Route 53
// doesn't automatically update the alarm settings in the health check"), so a
// change of settings must create a new health check, which reads the new
// ones, moves the records to it, and deletes the old one.
func (a alarmSpec) ID() string {
	sum := sha256.Sum256([]byte(a.Name + "|" + a.Region + "|" + config.FormatDimensions(a.Dimensions) + "|" + deployment.AlarmSpec(a).Summary()))
	return hex.EncodeToString(sum[:4])
}

// metric is the alarm's metric.
func (a alarmSpec) metric() awscloudwatch.Metric {
	d := map[string]*string{}
	for _, dim := range a.Dimensions {
		d[dim.Name] = jsii.String(dim.Value)
	}
	return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
		Namespace: jsii.String(a.Namespace), MetricName: jsii.String(a.Metric), Statistic: jsii.String(a.Statistic),
		Period: awscdk.Duration_Seconds(jsii.Number(a.Period.Seconds())), DimensionsMap: &d,
	})
}

// The model's CloudWatch names and CDK's enum members.
var (
	comparisons = map[string]awscloudwatch.ComparisonOperator{
		deployment.LessThanThreshold:    awscloudwatch.ComparisonOperator_LESS_THAN_THRESHOLD,
		deployment.GreaterThanThreshold: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
	}
	missingData = map[string]awscloudwatch.TreatMissingData{
		deployment.MissingBreaching:    awscloudwatch.TreatMissingData_BREACHING,
		deployment.MissingNotBreaching: awscloudwatch.TreatMissingData_NOT_BREACHING,
	}
)

// newAlarm creates the alarm in its region's stack.
func (a alarmSpec) newAlarm(scope constructs.Construct, id, description string) awscloudwatch.Alarm {
	props := &awscloudwatch.AlarmProps{
		AlarmName:          jsii.String(a.Name),
		AlarmDescription:   jsii.String(description),
		Metric:             a.metric(),
		Threshold:          jsii.Number(a.Threshold),
		EvaluationPeriods:  jsii.Number(float64(a.EvaluationPeriods)),
		ComparisonOperator: comparisons[a.Comparison],
		TreatMissingData:   missingData[a.TreatMissingData],
	}
	if a.DatapointsToAlarm > 0 {
		props.DatapointsToAlarm = jsii.Number(float64(a.DatapointsToAlarm))
	}
	return awscloudwatch.NewAlarm(scope, jsii.String(id), props)
}

// newHealthCheck creates a record's CLOUDWATCH_METRIC health check on its
// alarm, as <prefix><digest of the alarm's settings>.
func newHealthCheck(scope constructs.Construct, prefix string, h deployment.HealthCheck) awsroute53.CfnHealthCheck {
	a := alarmSpec(h.Alarm)
	cfg := &awsroute53.CfnHealthCheck_HealthCheckConfigProperty{
		Type:                         jsii.String("CLOUDWATCH_METRIC"),
		AlarmIdentifier:              &awsroute53.CfnHealthCheck_AlarmIdentifierProperty{Name: jsii.String(a.Name), Region: jsii.String(a.Region)},
		InsufficientDataHealthStatus: jsii.String(h.InsufficientDataHealthStatus),
	}
	if h.Inverted {
		cfg.Inverted = jsii.Bool(true)
	}
	return awsroute53.NewCfnHealthCheck(scope, jsii.String(prefix+a.ID()), &awsroute53.CfnHealthCheckProps{
		HealthCheckConfig: cfg,
		HealthCheckTags: &[]*awsroute53.CfnHealthCheck_HealthCheckTagProperty{
			{Key: jsii.String("Name"), Value: jsii.String(a.Name)},
			{Key: jsii.String("redisha:alarm"), Value: jsii.String(deployment.AlarmSpec(a).Summary())},
		},
	})
}
