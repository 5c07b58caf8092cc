package cwlocal_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/redisha/redisha/internal/sim/cwlocal"
)

func TestDescribeAlarmsThroughTheSDK(t *testing.T) {
	s := start(t)
	s.SetAlarmState("redisha-us-east-1-writable", "ALARM")
	s.SetAlarmSource(func(name string) (string, bool) { return "OK", name == "from-source" })
	c := cwlocal.NewClient(s.URL(), 1)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := c.DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{AlarmNames: []string{"redisha-us-east-1-writable", "from-source", "missing"},
		AlarmTypes: []types.AlarmType{types.AlarmTypeMetricAlarm, types.AlarmTypeCompositeAlarm}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.MetricAlarms) != 2 || out.MetricAlarms[0].StateValue != types.StateValueAlarm ||
		aws.ToString(out.MetricAlarms[1].AlarmName) != "from-source" || out.MetricAlarms[1].StateValue != types.StateValueOk ||
		out.MetricAlarms[0].StateUpdatedTimestamp == nil {
		t.Fatalf("alarms %+v", out.MetricAlarms)
	}

	// A 503 after the retries surfaces with its status: the caller can tell
	// "unreachable" from "denied".
	s.FailNext(cwlocal.Unavailable)
	_, err = c.DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{AlarmNames: []string{"x"}})
	var resp *awshttp.ResponseError
	if !errors.As(err, &resp) || resp.HTTPStatusCode() != 503 {
		t.Fatalf("injected 503: %v", err)
	}
	s.SetAlarmState("redisha-us-east-1-writable", "")
	out, err = c.DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{})
	if err != nil || len(out.MetricAlarms) != 0 {
		t.Fatalf("after removal: %+v, %v", out.MetricAlarms, err)
	}
}
