package stacks

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/redisha/redisha/internal/deployment"
)

// writableEndpoint is a region's writable endpoint: the checker binary
// behind a public function URL, answering 200 only on a write it just proved
// through the region's primary endpoint. Route 53's HTTPS health checks on
// it drive the region's failover record and its witness.
type writableEndpoint struct {
	fn  awslambda.Function
	url awslambda.FunctionUrl
	// host is the URL's host (<id>.lambda-url.<region>.on.aws), the health
	// checks' FullyQualifiedDomainName.
	host *string
}

// newWritableEndpoint builds the function (the checker's asset, its own
// least-privilege role: logs, the token's secret, the fence's describe) and
// its URL, or nil when the region has none.
func newWritableEndpoint(scope constructs.Construct, p CheckerProps) *writableEndpoint {
	if p.Region.WritableEndpoint == nil {
		return nil
	}
	env := p.Region.WritableEndpointFor(deployment.Target{Addr: p.Addr, ServerName: p.ServerName, SecretARN: p.SecretARN,
		DatastoreID: p.DatastoreID})
	logs := awslogs.NewLogGroup(scope, jsii.String("WritableEndpointLogs"), &awslogs.LogGroupProps{
		Retention: awslogs.RetentionDays_ONE_MONTH, RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	role := awsiam.NewRole(scope, jsii.String("WritableEndpointRole"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		Description: jsii.String("redisha writable endpoint (Route 53 health checks)"),
	})
	role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("logs:CreateLogStream", "logs:PutLogEvents"),
		Resources: jsii.Strings(*logs.LogGroupArn() + ":*"),
	}))
	role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("secretsmanager:GetSecretValue"),
		Resources: jsii.Strings(p.SecretARN),
	}))
	fencePolicy(scope, role, env.Fence.DatastoreID)
	vpcFunctionENIs(role)
	// The same opt-in concurrency cap as the checker's: on a public URL it
	// also bounds what a flood of requests can cost.
	fn := checkerFunction(scope, "WritableEndpoint", "redisha writable endpoint of "+p.Region.GroupID+
		": 200 only on a proven write (Route 53 health checks)", p, role, logs, deployment.WritableEndpointTimeout, env)
	// Route 53's health checkers cannot sign requests: the URL is public.
	// It answers one line, 200 or 503, on /writable only, and names no
	// endpoint; each request costs one small write, with a TTL, deleted.
	url := fn.AddFunctionUrl(&awslambda.FunctionUrlOptions{AuthType: awslambda.FunctionUrlAuthType_NONE})
	host := awscdk.Fn_Select(jsii.Number(2), awscdk.Fn_Split(jsii.String("/"), url.Url(), nil))
	cdknag.NagSuppressions_AddResourceSuppressions(role, &[]*cdknag.NagPackSuppression{{
		Id: jsii.String("AwsSolutions-IAM5"),
		Reason: jsii.String("Wildcards only where IAM has no narrower resource: ec2:DescribeNetworkInterfaces and the ENI actions " +
			"Lambda makes for a function in a VPC (function code itself is denied them), and the log streams of the function's own log group"),
	}}, jsii.Bool(true))
	return &writableEndpoint{fn: fn, url: url, host: host}
}
