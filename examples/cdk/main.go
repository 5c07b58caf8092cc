// Command cdk is an example of redisha inside a platform team's own CDK
// app: their VPCs (imported), their private zone, and one replication
// group of theirs that becomes the primary of a Global Datastore. Their
// stacks hold redisha's constructs beside their own resources.
//
//	cd examples/cdk && cdk synth --app 'go run .'
//
// existing-group.json is what `aws elasticache describe-replication-groups
// --replication-group-id payments-east --query 'ReplicationGroups[0]'`
// printed for the group. The ids below are placeholders: put yours.
package main

import (
	_ "embed"
	"fmt"
	"os"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/jsii-runtime-go"

	"github.com/redisha/redisha/cdk"
)

//go:embed existing-group.json
var existingGroup string

func main() {
	defer jsii.Close()
	app := awscdk.NewApp(nil)
	d, err := build(app, "../../build/lambda", "../../build/promoter")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	app.Synth(nil)
	// The drill, verify and the operator commands read the model beside
	// the templates.
	if err := d.WriteModel(*app.Outdir()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// build adds the team's three stacks, with redisha in them, to app.
func build(app awscdk.App, checkerAsset, promoterAsset string) (*cdk.Deployment, error) {
	const account = "123456789012"
	d, err := cdk.NewDeployment(cdk.Props{
		Name: "payments", Account: account,
		PrimaryRegion: "us-east-1", SecondaryRegion: "us-west-2",
		Primary: cdk.Network{VpcID: "vpc-0abc12345def67890", SubnetIDs: []string{"subnet-0aaa1111bbb22222c", "subnet-0ddd3333eee44444f"},
			CIDR: "10.30.0.0/16", Egress: true},
		Secondary: cdk.Network{VpcID: "vpc-0fed98765cba43210", SubnetIDs: []string{"subnet-0123456789abcdef0", "subnet-0fedcba987654321f"},
			CIDR: "10.31.0.0/16", Egress: true},
		Zone: cdk.Zone{ID: "Z0123456789ABCDEFGHIJ", Name: "corp.example", RecordName: "redis.corp.example"},
		ExistingPrimaryGroup: &cdk.ExistingGroup{Description: existingGroup,
			AuthSecretARN:   "arn:aws:secretsmanager:us-east-1:" + account + ":secret:payments-redis-token-AbCdEf",
			SecurityGroupID: "sg-0aaa1111bbb22222c"},
		SecondaryGroupID: "payments-west", GlobalIDSuffix: "payments", EngineVersion: "7.1",
		PromoterMode: "advise", AlarmEmail: "payments-oncall@example.com",
		CheckerAsset: checkerAsset, PromoterAsset: promoterAsset,
	})
	if err != nil {
		return nil, err
	}
	env := func(region string) *awscdk.Environment {
		return &awscdk.Environment{Account: jsii.String(account), Region: jsii.String(region)}
	}
	stack := func(id, region string) awscdk.Stack {
		return awscdk.NewStack(app, jsii.String(id), &awscdk.StackProps{Env: env(region), CrossRegionReferences: jsii.Bool(true)})
	}
	east, west, dns := stack("PaymentsEast", "us-east-1"), stack("PaymentsWest", "us-west-2"), stack("PaymentsRedisName", "us-east-1")
	// The team's own resources live beside redisha's.
	awssns.NewTopic(east, jsii.String("PaymentEvents"), &awssns.TopicProps{EnforceSSL: jsii.Bool(true)})

	primary := cdk.NewPrimaryRegion(east, "Redis", d)
	secondary := cdk.NewSecondaryRegion(west, "Redis", d, primary)
	// The failover name needs a stack of its own: it follows both
	// regions' alarms, and the secondary region follows the primary's.
	cdk.NewFailoverName(dns, "RedisName", d, primary, secondary)
	return d, nil
}
