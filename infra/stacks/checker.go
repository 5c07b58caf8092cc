package stacks

import (
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
	// Promoter, when set, is invoked asynchronously after each check, so
	// it decides on the same 30-second loop without delaying it.
	Promoter awslambda.IFunction
}

// checker is the Lambda and its 30-second loop.
type checker struct {
	fn      awslambda.Function
	machine awsstepfunctions.StateMachine
	rule    awsevents.Rule
}

// newChecker builds the health-checker Lambda (arm64, provided.al2023, in
// the VPC), its least-privilege role, and the schedule: an EventBridge rule
// every minute starting an Express state machine that invokes, waits 30 s
// and invokes again (the design's 30-second polling).
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
		Resources: jsii.Strings(p.SecretARN),
	}))
	role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:    jsii.Strings("cloudwatch:PutMetricData"),
		Resources:  jsii.Strings("*"), // PutMetricData has no resource type; the condition narrows it
		Conditions: &map[string]interface{}{"StringEquals": map[string]string{"cloudwatch:namespace": metrics.DefaultNamespace}},
	}))
	role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions: jsii.Strings("ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces", "ec2:DeleteNetworkInterface",
			"ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"),
		Resources: jsii.Strings("*"), // ENI actions take no resource-level permission at create time
	}))

	fn := awslambda.NewFunction(scope, jsii.String("Checker"), &awslambda.FunctionProps{
		Description:    jsii.String("redisha health checker of " + p.Region.GroupID + " (role-aware)"),
		Runtime:        awslambda.Runtime_PROVIDED_AL2023(),
		Architecture:   awslambda.Architecture_ARM_64(),
		Handler:        jsii.String("bootstrap"),
		Code:           awslambda.Code_FromAsset(jsii.String(s.LambdaAsset), nil),
		MemorySize:     jsii.Number(128),
		Timeout:        awscdk.Duration_Seconds(jsii.Number(loop.CheckerTimeout.Seconds())),
		Role:           role,
		LogGroup:       logs,
		Vpc:            p.Network.vpc,
		VpcSubnets:     &awsec2.SubnetSelection{Subnets: p.Network.vpc.SelectSubnets(nil).Subnets},
		SecurityGroups: &[]awsec2.ISecurityGroup{p.Network.checkSG},
		// The runtime's own configuration, written in its own names.
		Environment: stringMap(p.Region.CheckerFor(p.Addr, p.ServerName, p.SecretARN).Env()),
		// Opt-in (nil by default): reserving concurrency fails in accounts
		// whose quota leaves under 100 unreserved (new accounts), and the
		// loop runs one check at a time anyway.
		ReservedConcurrentExecutions: reserved(s.ReservedConcurrency),
	})

	// The loop: invoke, wait 30 s, invoke. Express: ~$1.4/month (AWS-NOTES §4).
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
	wait := awsstepfunctions.NewWait(scope, jsii.String("Wait30s"), &awsstepfunctions.WaitProps{
		Time: awsstepfunctions.WaitTime_Duration(awscdk.Duration_Seconds(jsii.Number(loop.Interval.Seconds()))),
	})
	first, second := invoke("CheckNow", 1), invoke("CheckAfter30s", 2)
	done := awsstepfunctions.NewSucceed(scope, jsii.String("Done"), &awsstepfunctions.SucceedProps{
		Comment: jsii.String("the loop ends; a failed check shows in the function's Errors metric and as missing data"),
	})
	caught := &awsstepfunctions.CatchProps{Errors: jsii.Strings("States.ALL"), ResultPath: awsstepfunctions.JsonPath_DISCARD()}
	// After each check, whether it failed or not: the promoter, started
	// (Event invocation: the loop does not wait for a decision, which may
	// last a whole promotion), or nothing.
	afterFirst, afterSecond := awsstepfunctions.IChainable(wait), awsstepfunctions.IChainable(done)
	if p.Promoter != nil {
		promote := func(id string, iteration int, next awsstepfunctions.IChainable) awsstepfunctions.IChainable {
			task := awsstepfunctionstasks.NewLambdaInvoke(scope, jsii.String(id), &awsstepfunctionstasks.LambdaInvokeProps{
				LambdaFunction: p.Promoter,
				InvocationType: awsstepfunctionstasks.LambdaInvocationType_EVENT,
				Payload: awsstepfunctions.TaskInput_FromObject(&map[string]interface{}{
					"source": "redisha.stepfunctions", "iteration": iteration,
				}),
				ResultPath:               awsstepfunctions.JsonPath_DISCARD(),
				RetryOnServiceExceptions: jsii.Bool(false), // the next loop starts it again within 30 s
			})
			task.AddCatch(next, caught)
			return task.Next(next)
		}
		afterFirst = promote("PromoterNow", 1, wait)
		afterSecond = promote("PromoterAfter30s", 2, done)
	}
	first.AddCatch(afterFirst, caught)
	second.AddCatch(afterSecond, caught)
	var definition awsstepfunctions.IChainable
	if p.Promoter == nil {
		definition = first.Next(wait).Next(second)
	} else {
		first.Next(afterFirst) // afterFirst ends in the wait
		wait.Next(second)
		second.Next(afterSecond)
		definition = first
	}
	sfLogs := awslogs.NewLogGroup(scope, jsii.String("LoopLogs"), &awslogs.LogGroupProps{
		Retention: awslogs.RetentionDays_ONE_MONTH, RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	machine := awsstepfunctions.NewStateMachine(scope, jsii.String("Loop"), &awsstepfunctions.StateMachineProps{
		StateMachineType: awsstepfunctions.StateMachineType_EXPRESS,
		DefinitionBody:   awsstepfunctions.DefinitionBody_FromChainable(definition),
		// Both checks with their retries and the wait: 2 × (12 + 1 + 12) + 30 s at worst.
		Timeout:        awscdk.Duration_Seconds(jsii.Number(80)),
		TracingEnabled: jsii.Bool(true),
		// Errors only: ALL on a loop that runs 43,200 times a month is cost
		// without insight.
		Logs: &awsstepfunctions.LogOptions{Destination: sfLogs, Level: awsstepfunctions.LogLevel_ERROR},
	})
	// Every minute, EventBridge starts the loop.
	rule := awsevents.NewRule(scope, jsii.String("EveryMinute"), &awsevents.RuleProps{
		Description: jsii.String("redisha: start the 30-second health-check loop"),
		Schedule:    awsevents.Schedule_Rate(awscdk.Duration_Minutes(jsii.Number(1))),
		Targets:     &[]awsevents.IRuleTarget{awseventstargets.NewSfnStateMachine(machine, nil)},
	})
	cdknag.NagSuppressions_AddResourceSuppressions(role, &[]*cdknag.NagPackSuppression{{
		Id: jsii.String("AwsSolutions-IAM5"),
		Reason: jsii.String("Wildcards only where IAM has no narrower resource: cloudwatch:PutMetricData (no resource type; " +
			"the cloudwatch:namespace condition limits it to " + metrics.DefaultNamespace + "), the ENI actions Lambda needs in a VPC, " +
			"and the log streams of the checker's own log group"),
	}}, jsii.Bool(true))
	cdknag.NagSuppressions_AddResourceSuppressions(machine, &[]*cdknag.NagPackSuppression{{
		Id: jsii.String("AwsSolutions-SF1"),
		Reason: jsii.String("The loop logs ERROR events: every check it starts logs its own result in the checker's log group, " +
			"and ALL events on 43,200 executions a month per region add cost without adding what a check saw"),
	}}, jsii.Bool(true))
	cdknag.NagSuppressions_AddResourceSuppressions(machine.Role(), &[]*cdknag.NagPackSuppression{{
		Id: jsii.String("AwsSolutions-IAM5"),
		Reason: jsii.String("Granted by the Step Functions constructs: lambda:InvokeFunction on the checker and its versions " +
			"(<arn>:*), and the X-Ray and CloudWatch Logs delivery actions, which have no resource type"),
	}}, jsii.Bool(true))
	return &checker{fn: fn, machine: machine, rule: rule}
}

// reserved is n as a reservation, or none for 0.
func reserved(n int) *float64 {
	if n == 0 {
		return nil
	}
	return jsii.Number(float64(n))
}
