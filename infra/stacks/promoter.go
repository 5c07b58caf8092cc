package stacks

import (
	"fmt"
	"time"

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

	"github.com/redisha/redisha/internal/check"
	"github.com/redisha/redisha/internal/metrics"
	"github.com/redisha/redisha/internal/promoter"
	"github.com/redisha/redisha/internal/promoter/latch"
	"github.com/redisha/redisha/internal/redisconn"
)

// promoterTarget is what one region's promoter decides about; its fields
// may be CloudFormation tokens resolved at deploy.
type promoterTarget struct {
	Addr        string // host:port of the local replication group's primary endpoint
	ServerName  string // name in the certificate
	SecretARN   string // the AUTH token's secret in the promoter's region
	DatastoreID string // the Global Datastore's full id
	GroupID     string // the local member, the only one it may promote
	Region      string // the promoter's region
	PeerRegion  string // the other member's region
	LatchTable  string // the regional latch table's name
	TopicARN    string // the region's alarm topic: the promoter's pages
}

// promoterConfig is the runtime configuration of one region's promoter:
// the runtime's own type, written by its own Environment.
func promoterConfig(s Settings, t promoterTarget) promoter.Config {
	return promoter.Config{
		Redis:         redisconn.Config{Addr: t.Addr, TLS: true, TLSServerName: t.ServerName},
		AuthSecretARN: t.SecretARN,
		KeyPrefix:     check.DefaultPrefix, // the checkers' prefix: the heartbeat they write
		Namespace:     metrics.DefaultNamespace,
		Region:        t.Region,
		DatastoreID:   t.DatastoreID,
		GroupID:       t.GroupID,
		PeerRegion:    t.PeerRegion,
		PeerAlarm:     WritableAlarmName(t.PeerRegion),
		LatchTable:    t.LatchTable,
		TopicARN:      t.TopicARN,
		Mode:          s.PromoterMode,
		Bounds: promoter.Bounds{
			StallAfter: promoter.DefaultStallAfter, HeartbeatInterval: promoter.DefaultHeartbeatInterval,
			MaxDataLoss: promoter.DefaultMaxDataLoss, Cooldown: promoter.DefaultCooldown,
			PeerSeenWithin: promoter.DefaultPeerSeenWithin,
		},
		CallTimeout:    promoter.DefaultCallTimeout,
		PromoteTimeout: promoter.DefaultPromoteTimeout,
		PollInterval:   promoter.DefaultPollInterval,
	}
}

// promoterFunctionTimeout is the promoter function's timeout: a whole
// promotion (PROMOTE_TIMEOUT) after the run's other calls (the concurrent
// observations, the compare-and-set, the page: one CALL_TIMEOUT each) and a
// margin to log the outcome.
func promoterFunctionTimeout(c promoter.Config) time.Duration {
	return c.PromoteTimeout + 3*c.CallTimeout + 10*time.Second
}

// maxLambdaTimeout is Lambda's limit on a function's timeout.
const maxLambdaTimeout = 15 * time.Minute

// promoterFn is one region's promoter: its function and its latch table.
type promoterFn struct {
	fn    awslambda.Function
	table awsdynamodb.Table
}

// PromoterProps shape one region's promoter.
type PromoterProps struct {
	Settings Settings
	Network  *network
	Target   promoterTarget // LatchTable and TopicARN are filled in by newPromoter
	Topic    awssns.ITopic  // the region's alarm topic: the promoter's pages
}

// newPromoter builds the guarded promoter of one region: its latch table
// (in the region, so it survives the other's loss), the Lambda (arm64,
// provided.al2023, in the VPC beside the checker, in its own security group)
// and its least-privilege role. The checker's
// 30-second loop invokes it asynchronously (newChecker).
func newPromoter(scope constructs.Construct, p PromoterProps) *promoterFn {
	s := p.Settings
	stack := awscdk.Stack_Of(scope)
	table := awsdynamodb.NewTable(scope, jsii.String("PromoterLatch"), &awsdynamodb.TableProps{
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
	t := p.Target
	t.LatchTable, t.TopicARN = *table.TableName(), *p.Topic.TopicArn()
	cfg := promoterConfig(s, t)

	logs := awslogs.NewLogGroup(scope, jsii.String("PromoterLogs"), &awslogs.LogGroupProps{
		Retention: awslogs.RetentionDays_THREE_MONTHS, RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	role := awsiam.NewRole(scope, jsii.String("PromoterRole"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		Description: jsii.String("redisha promoter: promotes only " + t.GroupID + " in " + t.Region),
	})
	allow := func(resources []string, actions ...string) {
		role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Actions: jsii.Strings(actions...), Resources: jsii.Strings(resources...),
		}))
	}
	partition, account := *awscdk.Aws_PARTITION(), *stack.Account()
	global := fmt.Sprintf("arn:%s:elasticache::%s:globalreplicationgroup:%s", partition, account, t.DatastoreID)
	local := fmt.Sprintf("arn:%s:elasticache:%s:%s:replicationgroup:%s", partition, t.Region, account, t.GroupID)
	peerAlarm := fmt.Sprintf("arn:%s:cloudwatch:%s:%s:alarm:%s", partition, t.PeerRegion, account, cfg.PeerAlarm)
	allow([]string{*logs.LogGroupArn() + ":*"}, "logs:CreateLogStream", "logs:PutLogEvents")
	allow([]string{t.SecretARN}, "secretsmanager:GetSecretValue")
	// The one action that changes anything: on this Global Datastore only.
	allow([]string{global}, "elasticache:FailoverGlobalReplicationGroup")
	allow([]string{global}, "elasticache:DescribeGlobalReplicationGroups")
	allow([]string{local}, "elasticache:DescribeReplicationGroups")
	allow([]string{*table.TableArn()}, "dynamodb:GetItem", "dynamodb:PutItem")
	allow([]string{*p.Topic.TopicArn()}, "sns:Publish")
	if k := p.Topic.MasterKey(); k != nil {
		// Publishing to a topic under a customer-managed key needs the key.
		allow([]string{*k.KeyArn()}, "kms:GenerateDataKey*", "kms:Decrypt")
	}
	allow([]string{peerAlarm}, "cloudwatch:DescribeAlarms")
	allow([]string{"*"}, "ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces", "ec2:DeleteNetworkInterface",
		"ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses")

	fn := awslambda.NewFunction(scope, jsii.String("Promoter"), &awslambda.FunctionProps{
		Description:    jsii.String("redisha guarded promoter of " + t.GroupID + " (" + string(cfg.Mode) + ")"),
		Runtime:        awslambda.Runtime_PROVIDED_AL2023(),
		Architecture:   awslambda.Architecture_ARM_64(),
		Handler:        jsii.String("bootstrap"),
		Code:           awslambda.Code_FromAsset(jsii.String(s.PromoterAsset), nil),
		MemorySize:     jsii.Number(128),
		Timeout:        awscdk.Duration_Seconds(jsii.Number(promoterFunctionTimeout(cfg).Seconds())),
		Role:           role,
		LogGroup:       logs,
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
		Reason: jsii.String("Wildcards only where IAM has no narrower resource: the ENI actions Lambda needs in a VPC, " +
			"the log streams of the promoter's own log group, and kms:GenerateDataKey* (the data-key variants) on the " +
			"alarm topic's own key; the failover, describe, latch, topic and peer-alarm actions each name their one resource"),
	}}, jsii.Bool(true))
	return &promoterFn{fn: fn, table: table}
}

// stringMap is an environment in the form awslambda takes.
func stringMap(env map[string]string) *map[string]*string {
	out := map[string]*string{}
	for k, v := range env {
		out[k] = jsii.String(v)
	}
	return &out
}
