package stacks

import (
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssnssubscriptions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctions"
	"github.com/aws/aws-cdk-go/awscdk/v2/interfaces/interfacesawscloudwatch"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/redisha/redisha/internal/deployment"
	"github.com/redisha/redisha/internal/metrics"
	"github.com/redisha/redisha/internal/promoter"
	"github.com/redisha/redisha/internal/verify"
)

// MonitoringProps shape one region's alarms and dashboard.
type MonitoringProps struct {
	Deployment deployment.Deployment
	Region     deployment.Region
}

// monitoring is one region's alarms, topic and dashboard.
type monitoring struct {
	topic awssns.ITopic
	// writableAlarm is the region's "accepts writes" alarm: its failover
	// record's health check and the other region's promoter follow it.
	writableAlarm  awscloudwatch.Alarm
	unhealthyAlarm awscloudwatch.Alarm
	fastAlarm      awscloudwatch.Alarm
	dashboard      awscloudwatch.Dashboard
	alarms         []awscloudwatch.Alarm
	notify         awscloudwatchactions.SnsAction
	name           func(what string) string // <name>-<region>-<what>
}

// customMetric is one of the checker's metrics, with the dimensions the
// checker of groupID publishes.
func customMetric(name, stat string, period int, groupID string) awscloudwatch.Metric {
	return alarmSpec{Namespace: deployment.Namespace, Metric: name, Statistic: stat, Period: time.Duration(period) * time.Second,
		Dimensions: deployment.CheckerDimensions(groupID)}.metric()
}

// cacheMetric is an ElastiCache metric of one node. ElastiCache publishes
// node metrics with both dimensions, CacheClusterId (<group>-00N) and
// CacheNodeId (0001 in a cluster-mode-disabled group).
func cacheMetric(name, stat, cluster string) awscloudwatch.Metric {
	return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
		Namespace: jsii.String("AWS/ElastiCache"), MetricName: jsii.String(name), Statistic: jsii.String(stat),
		Period: awscdk.Duration_Minutes(jsii.Number(5)),
		DimensionsMap: &map[string]*string{
			"CacheClusterId": jsii.String(cluster), "CacheNodeId": jsii.String("0001"),
		},
	})
}

// everyNode is the highest value of one metric over every node of a group
// (metric math MAX over the nodes): what the alarm claims to watch holds
// whichever node is the primary, after any in-region failover too.
func everyNode(name, stat, of string, nodes []string) awscloudwatch.MathExpression {
	using := map[string]awscloudwatch.IMetric{}
	var ids []string
	for i, c := range nodes {
		id := fmt.Sprintf("m%d", i+1)
		ids = append(ids, id)
		using[id] = cacheMetric(name, stat, c)
	}
	return awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
		Expression:   jsii.String("MAX([" + strings.Join(ids, ",") + "])"),
		UsingMetrics: &using,
		Label:        jsii.String(name + " (" + stat + ", highest node of " + of + ")"),
		Period:       awscdk.Duration_Minutes(jsii.Number(5)),
	})
}

// nodeMetrics are one metric of every node of a group, for graphs.
func nodeMetrics(name, stat string, nodes []string) []awscloudwatch.IMetric {
	var out []awscloudwatch.IMetric
	for _, c := range nodes {
		out = append(out, cacheMetric(name, stat, c))
	}
	return out
}

// groupNodes are the node clusters of a member of the deployment: the
// settings' replicas a shard (the alarms follow replicas changed out of
// band), the deployed shards and the recorded cluster mode.
func groupNodes(s deployment.Settings, groupID string) []string {
	return verify.GroupNodes(groupID, s.Members().ClusterMode, s.DeployedShards(), 1+s.Replicas)
}

// alarmShard is one set of nodes a node alarm watches, and how the alarm
// names it.
type alarmShard struct {
	nodes                                []string
	of, idSuffix, nameSuffix, descSuffix string
}

// alarmShards are the node sets of a member's node alarms: the whole group
// with cluster mode off (the alarms keep their names), one set a shard with
// it on.
func alarmShards(s deployment.Settings, groupID string) []alarmShard {
	m := s.Members()
	if !m.ClusterMode {
		return []alarmShard{{nodes: groupNodes(s, groupID), of: groupID}}
	}
	var out []alarmShard
	for i, nodes := range verify.ShardNodes(groupID, s.DeployedShards(), 1+s.Replicas) {
		shard := fmt.Sprintf("%04d", i+1)
		out = append(out, alarmShard{nodes: nodes, of: groupID + " shard " + shard, idSuffix: "Shard" + shard,
			nameSuffix: "-shard-" + shard, descSuffix: " (shard " + shard + ")"})
	}
	return out
}

// newAlarmTopic is a region's alarm topic: encrypted and TLS only. The key
// is ours: CloudWatch cannot publish to a topic under the AWS-managed
// alias/aws/sns key (its policy cannot grant CloudWatch), so every
// notification would be dropped.
func newAlarmTopic(scope constructs.Construct, region string) awssns.Topic {
	topic := awssns.NewTopic(scope, jsii.String("Alarms"), &awssns.TopicProps{
		DisplayName: jsii.String("redisha " + region + " alarms"),
		MasterKey:   alarmTopicKey(scope, region),
		EnforceSSL:  jsii.Bool(true),
	})
	// A topic policy replaces SNS's default one, and EnforceSSL writes one
	// that only denies: CloudWatch must be allowed to publish, as the
	// CloudWatch User Guide's SNS setup shows, bound to this account's alarms
	// in this region (aws:SourceAccount, aws:SourceArn).
	stack := awscdk.Stack_Of(scope)
	topic.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("CloudWatchAlarmsPublish"),
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("cloudwatch.amazonaws.com"), nil)},
		Actions:    jsii.Strings("sns:Publish"),
		Resources:  &[]*string{topic.TopicArn()},
		Conditions: &map[string]interface{}{
			"StringEquals": map[string]*string{"aws:SourceAccount": stack.Account()},
			"ArnLike":      map[string]*string{"aws:SourceArn": jsii.String("arn:" + *awscdk.Aws_PARTITION() + ":cloudwatch:" + region + ":" + *stack.Account() + ":alarm:*")},
		},
	}))
	return topic
}

// regionIndex is r's index in d.Regions.
func regionIndex(d deployment.Deployment, r deployment.Region) int {
	if r.Name == d.Regions[1].Name {
		return 1
	}
	return 0
}

// alarmTopicKey is the customer-managed key of the alarm topic. Besides the
// account's own administration (CDK's default key policy), its policy lets
// CloudWatch alarms of this account encrypt what they publish to the topic,
// as SNS requires for "event sources from AWS services" on encrypted topics.
func alarmTopicKey(scope constructs.Construct, name string) awskms.Key {
	key := awskms.NewKey(scope, jsii.String("AlarmTopicKey"), &awskms.KeyProps{
		Description:       jsii.String("redisha " + name + " alarm topic: lets CloudWatch alarms publish"),
		EnableKeyRotation: jsii.Bool(true),
		PendingWindow:     awscdk.Duration_Days(jsii.Number(7)),
		RemovalPolicy:     awscdk.RemovalPolicy_DESTROY, // it protects notifications in flight, no data at rest
	})
	account := awscdk.Stack_Of(scope).Account()
	key.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("CloudWatchAlarmsPublishToTheTopic"),
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("cloudwatch.amazonaws.com"), nil)},
		Actions:    jsii.Strings("kms:Decrypt", "kms:GenerateDataKey*"),
		Resources:  jsii.Strings("*"), // in a key policy, "*" is this key
		Conditions: &map[string]interface{}{"StringEquals": map[string]*string{"aws:SourceAccount": account}},
	}), jsii.Bool(false))
	return key
}

func newMonitoring(scope constructs.Construct, p MonitoringProps) *monitoring {
	s, r := p.Deployment.Settings, p.Region
	m := &monitoring{name: func(what string) string { return s.Name + "-" + r.Name + "-" + what }}
	if t := s.AlarmTopics[regionIndex(p.Deployment, r)]; t.ARN != "" {
		// The owner's topic: its policy and key are theirs (docs/infra.md
		// says what CloudWatch and the promoter need of them).
		attrs := &awssns.TopicAttributes{TopicArn: jsii.String(t.ARN)}
		if t.KeyARN != "" {
			attrs.KeyArn = jsii.String(t.KeyARN)
		}
		m.topic = awssns.Topic_FromTopicAttributes(scope, jsii.String("Alarms"), attrs)
	} else {
		m.topic = newAlarmTopic(scope, r.Name)
	}
	if s.AlarmEmail != "" {
		m.topic.AddSubscription(awssnssubscriptions.NewEmailSubscription(jsii.String(s.AlarmEmail), nil))
	}
	m.notify = awscloudwatchactions.NewSnsAction(m.topic)
	add := func(a awscloudwatch.Alarm, pages bool) awscloudwatch.Alarm {
		if pages {
			a.AddAlarmAction(m.notify)
			a.AddOkAction(m.notify)
		}
		m.alarms = append(m.alarms, a)
		return a
	}

	// The region's "accepts writes" alarm, standard resolution (Route 53
	// rejects high-resolution alarms): the failover record of this region
	// is healthy only while it is OK. It pages nobody: in steady state the
	// secondary's is in ALARM by design.
	drives := "Drives the Route 53 failover of " + s.RecordName
	if s.EndpointChecks() {
		// The records follow the writable endpoints; the alarm is the
		// other region's promoter's evidence.
		drives = "The other region's promoter reads it (" + s.RecordName + " follows Route 53's checks of the writable endpoint)"
	}
	m.writableAlarm = add(alarmSpec(r.Writable).newAlarm(scope, "WritableAlarm",
		drives+": OK while the endpoint in "+r.Name+" takes writes; ALARM when it refuses them (a secondary, in steady state) or the checker published nothing. Pages nobody"), r.Writable.Pages)
	// The paging alarm on the region's check, whatever its role: a healthy
	// secondary passes its read check.
	m.unhealthyAlarm = add(alarmSpec(r.Unhealthy).newAlarm(scope, "UnhealthyAlarm",
		"The checker in "+r.Name+" saw its endpoint unhealthy, or published nothing"), r.Unhealthy.Pages)
	// The fast paging alarm, on the high-resolution copy of the status: it
	// pages people, it does not move DNS.
	m.fastAlarm = add(awscloudwatch.NewAlarm(scope, jsii.String("FastAlarm"), &awscloudwatch.AlarmProps{
		AlarmName:          jsii.String(m.name("unhealthy-fast")),
		AlarmDescription:   jsii.String("Pages on the first failed check (high resolution); does not drive DNS"),
		Metric:             customMetric(metrics.HealthCheckStatusHighRes, "Minimum", s.FastAlarmPeriod, r.GroupID),
		Threshold:          jsii.Number(1),
		EvaluationPeriods:  jsii.Number(1),
		ComparisonOperator: awscloudwatch.ComparisonOperator_LESS_THAN_THRESHOLD,
		TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING, // the loop runs every checkInterval: gaps are normal at shorter periods
	}), true)

	// One alarm a metric over the group's nodes; in cluster mode one a
	// shard (a metric math alarm reads at most 10 metrics, and the alarm
	// then names the shard).
	shards := alarmShards(s, r.GroupID)
	threshold := func(id, metric, stat string, op awscloudwatch.ComparisonOperator, value float64, desc string) {
		for _, sh := range shards {
			add(awscloudwatch.NewAlarm(scope, jsii.String(id+sh.idSuffix), &awscloudwatch.AlarmProps{
				AlarmName:          jsii.String(m.name(id + sh.nameSuffix)),
				AlarmDescription:   jsii.String(desc + sh.descSuffix),
				Metric:             everyNode(metric, stat, sh.of, sh.nodes),
				Threshold:          jsii.Number(value),
				EvaluationPeriods:  jsii.Number(2),
				ComparisonOperator: op,
				TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
			}), true)
		}
	}
	gt := awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD
	threshold("EngineCPU", "EngineCPUUtilization", "Maximum", gt, 80, "Redis engine CPU above 80% on a node of "+r.GroupID)
	threshold("Memory", "DatabaseMemoryUsagePercentage", "Maximum", gt, 80, "Memory use above 80% of maxmemory on a node of "+r.GroupID)
	threshold("Connections", "CurrConnections", "Maximum", gt, float64(s.MaxConnections), "Connections above the threshold (80% of maxclients) on a node of "+r.GroupID)
	threshold("Evictions", "Evictions", "Sum", gt, 0, "Keys evicted for memory on a node of "+r.GroupID+", two periods running")
	// Cross-region lag is published by the primary node of whichever member
	// is the secondary at the time: the alarm is in both regions, and fires in
	// the one that is the secondary now (after a promotion, the other one).
	threshold("GlobalReplicationLag", "GlobalDatastoreReplicationLag", "Maximum", gt, float64(s.ReplicationLag),
		"This region's member lags the Global Datastore's primary by more than the threshold (only while it is the secondary)")
	{
		// The heartbeat's age as a replica checker reads it, in whichever
		// region is the secondary now (both checkers are role-aware): true
		// lag plus the time since the primary's checker last wrote it (every
		// check interval, more with the schedule's jitter). The threshold
		// allows for that, and every check of two minutes running must be
		// over it. A primary publishes no lag, which is not breaching.
		add(awscloudwatch.NewAlarm(scope, jsii.String("HeartbeatLag"), &awscloudwatch.AlarmProps{
			AlarmName:          jsii.String(m.name("heartbeat-lag")),
			AlarmDescription:   jsii.String(fmt.Sprintf("The heartbeat written in the primary region is older than %d s in every check here for 2 minutes: replication lags by more than about %d s, or the writer stopped", heartbeatLagThreshold(p.Deployment), s.ReplicationLag)),
			Metric:             customMetric(metrics.ReplicationLagSeconds, "Minimum", 60, r.GroupID),
			Threshold:          jsii.Number(float64(heartbeatLagThreshold(p.Deployment))),
			EvaluationPeriods:  jsii.Number(2),
			ComparisonOperator: gt,
			TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
		}), true)
	}

	return m
}

// addDashboard is the region's dashboard: first what an on-call asks in an
// outage (which region takes writes, what the promoter last decided, how far
// the replica lags, which alarms fire), then the nodes' health.
func (m *monitoring) addDashboard(scope constructs.Construct, p MonitoringProps, promoterLogs awslogs.ILogGroup) {
	d, r := p.Deployment, p.Region
	nodes := groupNodes(d.Settings, r.GroupID)
	// Both regions' writability on one graph: a dashboard may show another
	// region's metric (the metric names its region).
	var writable []awscloudwatch.IMetric
	for _, rr := range d.Regions {
		writable = append(writable, awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
			Namespace: jsii.String(deployment.Namespace), MetricName: jsii.String(metrics.WritableStatus),
			DimensionsMap: dimensionsMap(deployment.CheckerDimensions(rr.GroupID)), Statistic: jsii.String("Minimum"),
			Period: awscdk.Duration_Seconds(jsii.Number(60)), Region: jsii.String(rr.Name),
			Label: jsii.String(rr.Name + " takes writes (" + rr.GroupID + ")"),
		}))
	}
	m.dashboard = awscloudwatch.NewDashboard(scope, jsii.String("Dashboard"), &awscloudwatch.DashboardProps{
		DashboardName: jsii.String(m.name("dashboard")),
	})
	m.dashboard.AddWidgets(
		awscloudwatch.NewGraphWidget(&awscloudwatch.GraphWidgetProps{
			Title: jsii.String("Takes writes (1 yes, 0 no), both regions"), Width: jsii.Number(12),
			Left:      &writable,
			LeftYAxis: &awscloudwatch.YAxisProps{Min: jsii.Number(0), Max: jsii.Number(1)},
		}),
		awscloudwatch.NewAlarmStatusWidget(&awscloudwatch.AlarmStatusWidgetProps{
			Title: jsii.String("Alarms in " + r.Name), Width: jsii.Number(12), Height: jsii.Number(6),
			Alarms: ptr(alarmsOf(m.alarms)),
		}),
	)
	m.dashboard.AddWidgets(
		awscloudwatch.NewLogQueryWidget(&awscloudwatch.LogQueryWidgetProps{
			Title: jsii.String("The promoter's last decisions (" + r.Name + ")"), Width: jsii.Number(24), Height: jsii.Number(6),
			LogGroupNames: &[]*string{promoterLogs.LogGroupName()},
			QueryString:   jsii.String(promoter.DecisionQuery()),
			View:          awscloudwatch.LogQueryVisualizationType_TABLE,
		}),
	)
	// CloudWatch documents at most 100 metrics a graph: a large cluster's
	// nodes are graphed in several widgets (one set of widgets up to 50
	// nodes, the default deployment's layout).
	lagGroups, nodeGroups := chunk(nodes, maxGraphMetrics-1), chunk(nodes, maxGraphMetrics/2)
	lag := func(i int) awscloudwatch.IWidget {
		return awscloudwatch.NewGraphWidget(&awscloudwatch.GraphWidgetProps{
			Title: jsii.String("Replication lag (s): heartbeat age here, and ElastiCache's" + part(i, lagGroups)), Width: jsii.Number(12),
			Left: ptr(append([]awscloudwatch.IMetric{customMetric(metrics.ReplicationLagSeconds, "Maximum", 60, r.GroupID)},
				nodeMetrics("GlobalDatastoreReplicationLag", "Maximum", lagGroups[i])...)),
		})
	}
	m.dashboard.AddWidgets(
		lag(0),
		awscloudwatch.NewGraphWidget(&awscloudwatch.GraphWidgetProps{
			Title: jsii.String("Health check (1 healthy, 0 not) and its latency (ms)"), Width: jsii.Number(12),
			Left:  &[]awscloudwatch.IMetric{customMetric(metrics.HealthCheckStatus, "Minimum", 60, r.GroupID)},
			Right: &[]awscloudwatch.IMetric{customMetric(metrics.HealthCheckLatency, "Maximum", 60, r.GroupID)},
		}),
	)
	for i, g := range nodeGroups {
		m.dashboard.AddWidgets(
			awscloudwatch.NewGraphWidget(&awscloudwatch.GraphWidgetProps{
				Title: jsii.String("Engine CPU and memory (%)" + part(i, nodeGroups)), Width: jsii.Number(12),
				Left: ptr(append(nodeMetrics("EngineCPUUtilization", "Maximum", g),
					nodeMetrics("DatabaseMemoryUsagePercentage", "Maximum", g)...)),
			}),
			awscloudwatch.NewGraphWidget(&awscloudwatch.GraphWidgetProps{
				Title: jsii.String("Connections and evictions" + part(i, nodeGroups)), Width: jsii.Number(12),
				Left:  ptr(nodeMetrics("CurrConnections", "Maximum", g)),
				Right: ptr(nodeMetrics("Evictions", "Sum", g)),
			}),
		)
	}
	for i := 1; i < len(lagGroups); i++ {
		m.dashboard.AddWidgets(lag(i))
	}
}

// maxGraphMetrics is the most metrics one graph holds (CloudWatch's metric
// widget structure: "1–100 metrics and expressions").
const maxGraphMetrics = 100

// chunk splits nodes into groups of at most n, in order; one empty group
// for none.
func chunk(nodes []string, n int) [][]string {
	var out [][]string
	for len(nodes) > n {
		out = append(out, nodes[:n])
		nodes = nodes[n:]
	}
	return append(out, nodes)
}

// part names group i of groups in a widget's title: nothing when there is
// one, else which nodes it graphs.
func part(i int, groups [][]string) string {
	if len(groups) == 1 {
		return ""
	}
	first, last := groups[i][0], groups[i][len(groups[i])-1]
	return fmt.Sprintf(" (%s to %s)", first, last)
}

// alarmsOf is alarms as the alarm status widget takes them.
func alarmsOf(alarms []awscloudwatch.Alarm) []interfacesawscloudwatch.IAlarmRef {
	out := make([]interfacesawscloudwatch.IAlarmRef, len(alarms))
	for i, a := range alarms {
		out[i] = a
	}
	return out
}

// dimensionsMap is dimensions as a metric takes them.
func dimensionsMap(ds []metrics.Dimension) *map[string]*string {
	out := map[string]*string{}
	for _, d := range ds {
		out[d.Name] = jsii.String(d.Value)
	}
	return &out
}

// heartbeatLagThreshold is the heartbeat age (s) over which replication is
// late: the lag threshold plus two loop intervals of write cadence.
func heartbeatLagThreshold(d deployment.Deployment) int {
	return d.Settings.ReplicationLag + 2*int(d.Loop.Interval.Seconds())
}

// watchRunners pages when the region's checker or promoter fails (a
// function error: the checker could not publish or read its token, the
// promoter could not read or record its state, or send a page) or the loop
// that runs them fails or times out. Without these a broken promoter is
// silent until the outage it was meant for.
func (m *monitoring) watchRunners(scope constructs.Construct, checker, promoter awslambda.IFunction, loop awsstepfunctions.StateMachine) {
	// anyOver pages on a metric above 0 in one 5-minute period.
	anyOver := func(id, name, desc string, metric awscloudwatch.IMetric) {
		a := awscloudwatch.NewAlarm(scope, jsii.String(id), &awscloudwatch.AlarmProps{
			AlarmName: jsii.String(m.name(name)), AlarmDescription: jsii.String(desc), Metric: metric,
			Threshold: jsii.Number(0), EvaluationPeriods: jsii.Number(1),
			ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
			TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
		})
		a.AddAlarmAction(m.notify)
		a.AddOkAction(m.notify)
		m.alarms = append(m.alarms, a)
	}
	errors := func(fn awslambda.IFunction) awscloudwatch.IMetric {
		return fn.MetricErrors(&awscloudwatch.MetricOptions{Period: awscdk.Duration_Minutes(jsii.Number(5)), Statistic: jsii.String("Sum")})
	}
	anyOver("CheckerErrors", "checkererrors", "The health checker failed (Lambda Errors over 5 minutes): it is not doing its job", errors(checker))
	if promoter != nil {
		anyOver("PromoterErrors", "promotererrors", "The promoter failed (Lambda Errors over 5 minutes): it is not doing its job", errors(promoter))
	}
	// Failed or timed-out loop executions: nothing checks this region then.
	anyOver("LoopFailures", "loop-failures", "The Step Functions loop that runs the checker and the promoter failed or timed out",
		awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
			Expression: jsii.String("FILL(f, 0) + FILL(t, 0)"),
			UsingMetrics: &map[string]awscloudwatch.IMetric{
				"f": loop.MetricFailed(&awscloudwatch.MetricOptions{Statistic: jsii.String("Sum")}),
				"t": loop.MetricTimedOut(&awscloudwatch.MetricOptions{Statistic: jsii.String("Sum")}),
			},
			Label:  jsii.String("loop executions failed or timed out"),
			Period: awscdk.Duration_Minutes(jsii.Number(5)),
		}))
}

func ptr[T any](v T) *T { return &v }
