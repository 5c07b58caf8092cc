package stacks

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/redisha/redisha/internal/deployment"
	"github.com/redisha/redisha/internal/promoter/latch"
)

// promoterFn is one region's promoter: its function and its latch table.
type promoterFn struct {
	fn    awslambda.Function
	table awsdynamodb.Table
	// logs hold one JSON line per decision (the dashboard's table).
	logs awslogs.LogGroup
}

// PromoterProps shape one region's promoter.
type PromoterProps struct {
	Deployment deployment.Deployment
	Region     deployment.Region
	Network    *network
	// Target is what only a deploy knows (TopicARN is the Topic's).
	Target deployment.Target
	Topic  awssns.ITopic // the region's alarm topic: the promoter's pages
}

// newPromoter builds the guarded promoter of one region: its latch table
// (in the region, so it survives the other's loss), the Lambda (arm64,
// provided.al2023, in the VPC beside the checker, in its own security group)
// and its least-privilege role. The checker's
// 30-second loop invokes it asynchronously (newChecker).
func newPromoter(scope constructs.Construct, p PromoterProps) *promoterFn {
	s := p.Deployment.Settings
	stack := awscdk.Stack_Of(scope)
	t := p.Target
	t.TopicARN = *p.Topic.TopicArn()
	cfg := p.Region.PromoterFor(t)
	table := awsdynamodb.NewTable(scope, jsii.String("PromoterLatch"), &awsdynamodb.TableProps{
		// A fixed name, per datastore: a redeploy finds the table it kept
		// (a replacement is refused rather than starting empty), and the
		// operator commands find it from the datastore's id alone.
		TableName:    jsii.String(cfg.LatchTable),
		PartitionKey: &awsdynamodb.Attribute{Name: jsii.String(latch.KeyAttribute), Type: awsdynamodb.AttributeType_STRING},
		BillingMode:  awsdynamodb.BillingMode_PAY_PER_REQUEST,
		Encryption:   awsdynamodb.TableEncryption_AWS_MANAGED,
		PointInTimeRecoverySpecification: &awsdynamodb.PointInTimeRecoverySpecification{
			PointInTimeRecoveryEnabled: jsii.Bool(true),
		},
		// The latch and the epoch: losing them with the stack would let a
		// redeploy promote again inside the cooldown.
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})

	logs := awslogs.NewLogGroup(scope, jsii.String("PromoterLogs"), &awslogs.LogGroupProps{
		Retention: awslogs.RetentionDays_THREE_MONTHS, RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	role := awsiam.NewRole(scope, jsii.String("PromoterRole"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		Description: jsii.String("redisha promoter of " + cfg.GroupID + " in " + cfg.Region + " (its code promotes only that member)"),
	})
	allow := func(resources []string, actions ...string) {
		role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Actions: jsii.Strings(actions...), Resources: jsii.Strings(resources...),
		}))
	}
	partition, account := *awscdk.Aws_PARTITION(), *stack.Account()
	global := fmt.Sprintf("arn:%s:elasticache::%s:globalreplicationgroup:%s", partition, account, cfg.DatastoreID)
	local := fmt.Sprintf("arn:%s:elasticache:%s:%s:replicationgroup:%s", partition, cfg.Region, account, cfg.GroupID)
	peerAlarm := fmt.Sprintf("arn:%s:cloudwatch:%s:%s:alarm:%s", partition, cfg.PeerRegion, account, cfg.PeerAlarm)
	allow([]string{*logs.LogGroupArn() + ":*"}, "logs:CreateLogStream", "logs:PutLogEvents")
	allow([]string{cfg.AuthSecretARN, cfg.HeartbeatKeySecretARN}, "secretsmanager:GetSecretValue")
	// The one action that changes anything: on this Global Datastore only,
	// and only through this region's endpoint (the code promotes the local
	// member there; IAM has no condition key naming the member, so the
	// direction itself is bounded by the code, not by IAM).
	role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions: jsii.Strings("elasticache:FailoverGlobalReplicationGroup"), Resources: jsii.Strings(global),
		Conditions: &map[string]interface{}{"StringEquals": map[string]*string{"aws:RequestedRegion": jsii.String(cfg.Region)}},
	}))
	allow([]string{global}, "elasticache:DescribeGlobalReplicationGroups")
	allow([]string{local}, "elasticache:DescribeReplicationGroups")
	allow([]string{*table.TableArn()}, "dynamodb:GetItem", "dynamodb:PutItem")
	allow([]string{*p.Topic.TopicArn()}, "sns:Publish")
	if k := p.Topic.MasterKey(); k != nil {
		// Publishing to a topic under a customer-managed key needs the key.
		allow([]string{*k.KeyArn()}, "kms:GenerateDataKey*", "kms:Decrypt")
	}
	allow([]string{peerAlarm}, "cloudwatch:DescribeAlarms")
	// The peer checker's HeartbeatWritten metric, the primary's last
	// writable moment (data-loss guard); GetMetricData has no resource.
	allow([]string{"*"}, "cloudwatch:GetMetricData")
	vpcFunctionENIs(role)

	fn := awslambda.NewFunction(scope, jsii.String("Promoter"), &awslambda.FunctionProps{
		Description:  jsii.String("redisha guarded promoter of " + cfg.GroupID + " (" + string(cfg.Mode) + ")"),
		Runtime:      awslambda.Runtime_PROVIDED_AL2023(),
		Architecture: awslambda.Architecture_ARM_64(),
		Handler:      jsii.String("bootstrap"),
		Code:         awslambda.Code_FromAsset(jsii.String(s.PromoterAsset), nil),
		MemorySize:   jsii.Number(128),
		Timeout:      awscdk.Duration_Seconds(jsii.Number(deployment.PromoterFunctionTimeout(cfg).Seconds())),
		Role:         role,
		LogGroup:     logs,
		// JSON lines: Logs Insights reads each decision's fields (the
		// dashboard's "last decisions").
		LoggingFormat:  awslambda.LoggingFormat_JSON,
		Vpc:            p.Network.vpc,
		VpcSubnets:     &awsec2.SubnetSelection{Subnets: p.Network.vpc.SelectSubnets(nil).Subnets},
		SecurityGroups: &[]awsec2.ISecurityGroup{p.Network.promoterSG},
		Environment:    stringMap(cfg.Environment()),
		// A run is one decision about now: a retried or late event would
		// decide on a stale view. The next loop runs within 30 s anyway.
		RetryAttempts: jsii.Number(0),
		MaxEventAge:   awscdk.Duration_Seconds(jsii.Number(60)),
	})
	cdknag.NagSuppressions_AddResourceSuppressions(role, &[]*cdknag.NagPackSuppression{{
		Id: jsii.String("AwsSolutions-IAM5"),
		Reason: jsii.String("Wildcards only where IAM has no narrower resource: ec2:DescribeNetworkInterfaces (works only on all " +
			"resources) and the ENI actions Lambda makes for a function in a VPC (denied to the function's code by the " +
			"lambda:SourceFunctionArn condition), cloudwatch:GetMetricData (no resource-level permissions; it reads the " +
			"peer checker's HeartbeatWritten metric), the log streams of the promoter's own log group, and kms:GenerateDataKey* " +
			"(the data-key variants) on the alarm topic's own key. The failover names the one datastore and this region; " +
			"describe, latch, topic and peer alarm each name their one resource"),
	}}, jsii.Bool(true))
	return &promoterFn{fn: fn, table: table, logs: logs}
}

// stringMap is an environment in the form awslambda takes.
func stringMap(env map[string]string) *map[string]*string {
	out := map[string]*string{}
	for k, v := range env {
		out[k] = jsii.String(v)
	}
	return &out
}
