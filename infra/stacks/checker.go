package stacks

import (
	"fmt"
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctionstasks"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
	"time"

	"github.com/redisha/redisha/internal/config"
	"github.com/redisha/redisha/internal/deployment"
	"github.com/redisha/redisha/internal/metrics"
)

// CheckerProps shape one region's health checker.
type CheckerProps struct {
	Deployment deployment.Deployment
	Region     deployment.Region
	Network    *network
	// Addr, ServerName and SecretARN are what it checks (the group's primary
	// endpoint, host:port, and the name in its certificate) and the token's
	// secret in the region: CloudFormation tokens resolved at deploy.
	Addr, ServerName, SecretARN string
	// HeartbeatKeyARN is the heartbeat key's secret in the region.
	HeartbeatKeyARN string
	// DatastoreID is the Global Datastore's id, for the fence.
	DatastoreID string
	// Promoter, when set, is invoked asynchronously after each check, so
	// it decides on the same loop without delaying it.
	Promoter awslambda.IFunction
}

// checker is the Lambda and its loop.
type checker struct {
	fn      awslambda.Function
	machine awsstepfunctions.StateMachine
	rule    awsevents.Rule
	// endpoint is the region's writable endpoint; nil without one.
	endpoint *writableEndpoint
}

// newChecker builds the health-checker Lambda (arm64, provided.al2023, in
// the VPC), its least-privilege role, and the schedule: an EventBridge rule
// every minute starting an Express state machine that invokes, waits the
// check interval and invokes again, a whole number of checks a minute (10 s
// by default).
func newChecker(scope constructs.Construct, p CheckerProps) *checker {
	s, loop := p.Deployment.Settings, p.Deployment.Loop
	logs := awslogs.NewLogGroup(scope, jsii.String("CheckerLogs"), &awslogs.LogGroupProps{
		Retention: awslogs.RetentionDays_ONE_MONTH, RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	// Only what the checker does: write its logs, read its one secret, put
	// metrics in its namespace, and the ENI calls Lambda needs in a VPC.
	role := awsiam.NewRole(scope, jsii.String("CheckerRole"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		Description: jsii.String("redisha health checker"),
	})
	role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("logs:CreateLogStream", "logs:PutLogEvents"),
		Resources: jsii.Strings(*logs.LogGroupArn() + ":*"),
	}))
	role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("secretsmanager:GetSecretValue"),
		Resources: jsii.Strings(p.SecretARN, p.HeartbeatKeyARN),
	}))
	if s.MetricsMode == config.MetricsAPI {
		// Only when the checker calls PutMetricData (EMF needs no grant): in
		// this namespace and this region only.
		role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Actions:   jsii.Strings("cloudwatch:PutMetricData"),
			Resources: jsii.Strings("*"), // PutMetricData has no resource type; the conditions narrow it
			Conditions: &map[string]interface{}{"StringEquals": map[string]*string{
				"cloudwatch:namespace": jsii.String(metrics.DefaultNamespace), "aws:RequestedRegion": awscdk.Stack_Of(scope).Region()}},
		}))
	}
	env := p.Region.CheckerFor(deployment.Target{Addr: p.Addr, ServerName: p.ServerName, SecretARN: p.SecretARN,
		HeartbeatKeyARN: p.HeartbeatKeyARN, DatastoreID: p.DatastoreID})
	fencePolicy(scope, role, env.Fence.DatastoreID)
	vpcFunctionENIs(role)
	// Reserved concurrency is opt-in (nil by default): reserving fails in
	// accounts whose quota leaves under 100 unreserved (new accounts), and
	// the loop runs one check at a time anyway.
	fn := checkerFunction(scope, "Checker", "redisha health checker of "+p.Region.GroupID+" (role-aware)", p, role, logs,
		loop.CheckerTimeout, env)

	// The loop: invoke, wait, invoke… every checkInterval (10 s by default:
	// six checks a minute). Express: ~$1.4/month at 30 s, ~$2.5 at 10 s.
	// A failed check must not cancel the next one: each invocation retries
	// once on a Lambda service error (throttling, a service fault; fast to
	// fail) and catches everything else, so the second check runs even when
	// the first failed. A failed check stays visible: the function's Errors
	// metric, and the missing data the Route 53 alarm treats as breaching.
	invoke := func(id string, iteration int) awsstepfunctionstasks.LambdaInvoke {
		task := awsstepfunctionstasks.NewLambdaInvoke(scope, jsii.String(id), &awsstepfunctionstasks.LambdaInvokeProps{
			LambdaFunction: fn,
			Payload: awsstepfunctions.TaskInput_FromObject(&map[string]interface{}{
				"source": "redisha.stepfunctions", "iteration": iteration,
			}),
			RetryOnServiceExceptions: jsii.Bool(false), // the retry below, once and short
			TaskTimeout:              awsstepfunctions.Timeout_Duration(awscdk.Duration_Seconds(jsii.Number(loop.CheckerTimeout.Seconds() + 2))),
		})
		task.AddRetry(&awsstepfunctions.RetryProps{
			Errors:      jsii.Strings("Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.SdkClientException", "Lambda.TooManyRequestsException"),
			Interval:    awscdk.Duration_Seconds(jsii.Number(1)),
			MaxAttempts: jsii.Number(1),
			BackoffRate: jsii.Number(1),
		})
		return task
	}
	// One execution a minute runs 60 s / interval checks, a wait between
	// each two, and the promoter after each.
	n := int(time.Minute / loop.Interval)
	interval := int(loop.Interval.Seconds())
	checkID := func(i int) string {
		if i == 1 {
			return "CheckNow"
		}
		return fmt.Sprintf("CheckAfter%ds", (i-1)*interval)
	}
	promoterID := func(i int) string {
		if i == 1 {
			return "PromoterNow"
		}
		return fmt.Sprintf("PromoterAfter%ds", (i-1)*interval)
	}
	done := awsstepfunctions.NewSucceed(scope, jsii.String("Done"), &awsstepfunctions.SucceedProps{
		Comment: jsii.String("the loop ends; a failed check shows in the function's Errors metric and as missing data"),
	})
	caught := &awsstepfunctions.CatchProps{Errors: jsii.Strings("States.ALL"), ResultPath: awsstepfunctions.JsonPath_DISCARD()}
	// Built from the last check back: each check leads (after the promoter,
	// whether the check failed or not) to the next check's wait, or to Done.
	var next awsstepfunctions.IChainable = done
	for i := n; i >= 1; i-- {
		check := invoke(checkID(i), i)
		after := next
		if p.Promoter != nil {
			// The promoter, started (Event invocation: the loop does not wait
			// for a decision, which may last a whole promotion).
			task := awsstepfunctionstasks.NewLambdaInvoke(scope, jsii.String(promoterID(i)), &awsstepfunctionstasks.LambdaInvokeProps{
				LambdaFunction: p.Promoter,
				InvocationType: awsstepfunctionstasks.LambdaInvocationType_EVENT,
				Payload: awsstepfunctions.TaskInput_FromObject(&map[string]interface{}{
					"source": "redisha.stepfunctions", "iteration": i,
				}),
				ResultPath:               awsstepfunctions.JsonPath_DISCARD(),
				RetryOnServiceExceptions: jsii.Bool(false), // the next check starts it again
			})
			task.AddCatch(next, caught)
			after = task.Next(next)
		}
		check.AddCatch(after, caught)
		check.Next(after)
		next = check
		if i > 1 {
			waitID := fmt.Sprintf("Wait%ds", interval)
			if i > 2 {
				waitID = fmt.Sprintf("Wait%ds%d", interval, i-1)
			}
			wait := awsstepfunctions.NewWait(scope, jsii.String(waitID), &awsstepfunctions.WaitProps{
				Time: awsstepfunctions.WaitTime_Duration(awscdk.Duration_Seconds(jsii.Number(float64(interval)))),
			})
			wait.Next(check)
			next = wait
		}
	}
	definition := next
	sfLogs := awslogs.NewLogGroup(scope, jsii.String("LoopLogs"), &awslogs.LogGroupProps{
		Retention: awslogs.RetentionDays_ONE_MONTH, RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	stack := awscdk.Stack_Of(scope)
	// Service roles trust their service for this account's own resources
	// only (aws:SourceAccount, aws:SourceArn): the confused-deputy guard.
	loopRole := serviceRole(scope, "LoopRole", "states.amazonaws.com",
		"arn:"+*awscdk.Aws_PARTITION()+":states:"+*stack.Region()+":"+*stack.Account()+":stateMachine:*")
	machine := awsstepfunctions.NewStateMachine(scope, jsii.String("Loop"), &awsstepfunctions.StateMachineProps{
		Role:             loopRole,
		StateMachineType: awsstepfunctions.StateMachineType_EXPRESS,
		DefinitionBody:   awsstepfunctions.DefinitionBody_FromChainable(definition),
		// Every check with its retry and the waits: n × (12 + 1 + 12) + (n − 1) × interval at worst.
		Timeout:        awscdk.Duration_Seconds(jsii.Number(float64(n*int(2*loop.CheckerTimeout.Seconds()+5) + (n-1)*interval))),
		TracingEnabled: jsii.Bool(true),
		// Errors only: ALL on a loop that runs 43,200 times a month is cost
		// without insight.
		Logs: &awsstepfunctions.LogOptions{Destination: sfLogs, Level: awsstepfunctions.LogLevel_ERROR},
	})
	// Every minute, EventBridge starts the loop.
	rule := awsevents.NewRule(scope, jsii.String("EveryMinute"), &awsevents.RuleProps{
		Description: jsii.String(fmt.Sprintf("redisha: start the health-check loop (a check every %d s)", interval)),
		Schedule:    awsevents.Schedule_Rate(awscdk.Duration_Minutes(jsii.Number(1))),
		Targets: &[]awsevents.IRuleTarget{awseventstargets.NewSfnStateMachine(machine, &awseventstargets.SfnStateMachineProps{
			Role: serviceRole(scope, "LoopEventsRole", "events.amazonaws.com",
				"arn:"+*awscdk.Aws_PARTITION()+":events:"+*stack.Region()+":"+*stack.Account()+":rule/*"),
		})},
	})
	cdknag.NagSuppressions_AddResourceSuppressions(role, &[]*cdknag.NagPackSuppression{{
		Id: jsii.String("AwsSolutions-IAM5"),
		Reason: jsii.String("Wildcards only where IAM has no narrower resource: ec2:DescribeNetworkInterfaces, which works only on all " +
			"resources, and the other ENI actions Lambda makes for a function in a VPC (function code itself is denied them: the " +
			"lambda:SourceFunctionArn condition); the log streams of the checker's own log group; with metricsMode=api, " +
			"cloudwatch:PutMetricData (no resource type; limited to " + metrics.DefaultNamespace + " and this region by conditions)"),
	}}, jsii.Bool(true))
	cdknag.NagSuppressions_AddResourceSuppressions(machine, &[]*cdknag.NagPackSuppression{{
		Id: jsii.String("AwsSolutions-SF1"),
		Reason: jsii.String("The loop logs ERROR events: every check it starts logs its own result in the checker's log group, " +
			"and ALL events on 43,200 executions a month per region add cost without adding what a check saw"),
	}}, jsii.Bool(true))
	cdknag.NagSuppressions_AddResourceSuppressions(machine.Role(), &[]*cdknag.NagPackSuppression{{
		Id: jsii.String("AwsSolutions-IAM5"),
		Reason: jsii.String("Granted by the Step Functions constructs: lambda:InvokeFunction on the checker and the promoter and " +
			"their versions (<arn>:*), and the X-Ray and CloudWatch Logs delivery actions, which have no resource type"),
	}}, jsii.Bool(true))
	return &checker{fn: fn, machine: machine, rule: rule, endpoint: newWritableEndpoint(scope, p)}
}

// fencePolicy lets role read which member is the datastore's primary (the
// fence): this datastore only, through this region's endpoint; nothing when
// the function has no fence.
func fencePolicy(scope constructs.Construct, role awsiam.Role, datastoreID string) {
	if datastoreID == "" {
		return
	}
	role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("elasticache:DescribeGlobalReplicationGroups"),
		Resources: jsii.Strings(fmt.Sprintf("arn:%s:elasticache::%s:globalreplicationgroup:%s", *awscdk.Aws_PARTITION(), *awscdk.Stack_Of(scope).Account(), datastoreID)),
	}))
}

// checkerFunction is a function of the checker's asset in the region's VPC
// (arm64, provided.al2023, 128 MB, the checker's security group), its
// environment the runtime's own configuration written in its own names.
func checkerFunction(scope constructs.Construct, id, description string, p CheckerProps, role awsiam.Role, logs awslogs.LogGroup,
	timeout time.Duration, env config.Config) awslambda.Function {
	return awslambda.NewFunction(scope, jsii.String(id), &awslambda.FunctionProps{
		Description:                  jsii.String(description),
		Runtime:                      awslambda.Runtime_PROVIDED_AL2023(),
		Architecture:                 awslambda.Architecture_ARM_64(),
		Handler:                      jsii.String("bootstrap"),
		Code:                         awslambda.Code_FromAsset(jsii.String(p.Deployment.Settings.LambdaAsset), nil),
		MemorySize:                   jsii.Number(128),
		Timeout:                      awscdk.Duration_Seconds(jsii.Number(timeout.Seconds())),
		Role:                         role,
		LogGroup:                     logs,
		Vpc:                          p.Network.vpc,
		VpcSubnets:                   &awsec2.SubnetSelection{Subnets: p.Network.vpc.SelectSubnets(nil).Subnets},
		SecurityGroups:               &[]awsec2.ISecurityGroup{p.Network.checkSG},
		Environment:                  stringMap(env.Env()),
		ReservedConcurrentExecutions: reserved(p.Deployment.Settings.ReservedConcurrency),
	})
}

// reserved is n as a reservation, or none for 0.
func reserved(n int) *float64 {
	if n == 0 {
		return nil
	}
	return jsii.Number(float64(n))
}

// serviceRole is a role service may assume only for this account's
// resources matching sourceArn (aws:SourceAccount and aws:SourceArn in the
// trust policy: the confused-deputy guard of the IAM User Guide).
func serviceRole(scope constructs.Construct, id, service, sourceArn string) awsiam.Role {
	return awsiam.NewRole(scope, jsii.String(id), &awsiam.RoleProps{
		AssumedBy: awsiam.NewServicePrincipal(jsii.String(service), &awsiam.ServicePrincipalOpts{
			Conditions: &map[string]interface{}{
				"StringEquals": map[string]*string{"aws:SourceAccount": awscdk.Stack_Of(scope).Account()},
				"ArnLike":      map[string]*string{"aws:SourceArn": jsii.String(sourceArn)},
			},
		}),
	})
}

// vpcFunctionENIs grants what Lambda needs to run a function in a VPC and
// denies the mutations to the function's own code: Lambda's calls that
// create its network interfaces carry no lambda:SourceFunctionArn, calls
// from inside the function do (Lambda Developer Guide, "Using source
// function ARN to control function access behavior"). So a compromised
// function cannot move other workloads' addresses.
func vpcFunctionENIs(role awsiam.Role) {
	mutate := []string{"ec2:CreateNetworkInterface", "ec2:DeleteNetworkInterface",
		"ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"}
	role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings(append([]string{"ec2:DescribeNetworkInterfaces"}, mutate...)...),
		Resources: jsii.Strings("*"), // DescribeNetworkInterfaces works only on all resources
	}))
	role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid: jsii.String("DenyEniChangesFromFunctionCode"), Effect: awsiam.Effect_DENY,
		Actions: jsii.Strings(mutate...), Resources: jsii.Strings("*"),
		Conditions: &map[string]interface{}{"Null": map[string]string{"lambda:SourceFunctionArn": "false"}},
	}))
}
