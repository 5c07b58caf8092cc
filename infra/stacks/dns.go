package stacks

import (
	"strconv"

	"github.com/aws/aws-cdk-go/awscdk/v2/awsroute53"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// DNSProps shape the failover name.
type DNSProps struct {
	Settings          Settings
	PrimaryVpcID      *string
	SecondaryVpcID    *string
	PrimaryEndpoint   *string // host of the primary group's primary endpoint
	SecondaryEndpoint *string // host of the secondary group's primary endpoint
}

type dns struct {
	zone awsroute53.CfnHostedZone
	// primaryCheck and secondaryCheck follow each region's writable alarm.
	primaryCheck, secondaryCheck awsroute53.CfnHealthCheck
	primary                      awsroute53.CfnRecordSet
	secondary                    awsroute53.CfnRecordSet
}

// newDNS builds the private zone in both VPCs (and any extra ones), a
// health check on each region's writable alarm, and the PRIMARY/SECONDARY
// failover CNAMEs, each with its own region's health check. Route 53
// answers the primary region while it takes writes, the secondary once it
// takes writes (after a promotion), and the primary when neither does (all
// records unhealthy: Route 53 answers the PRIMARY, which after a promotion is
// read-only; there is no writer to answer then). So the name only moves to a
// region that takes writes, and it follows a promotion with no Route 53 call.
func newDNS(scope constructs.Construct, p DNSProps) *dns {
	s := p.Settings
	vpcs := []interface{}{
		&awsroute53.CfnHostedZone_VPCProperty{VpcId: p.PrimaryVpcID, VpcRegion: jsii.String(s.PrimaryRegion)},
		&awsroute53.CfnHostedZone_VPCProperty{VpcId: p.SecondaryVpcID, VpcRegion: jsii.String(s.SecondaryRegion)},
	}
	for _, x := range s.ExtraVpcs {
		vpcs = append(vpcs, &awsroute53.CfnHostedZone_VPCProperty{VpcId: jsii.String(x.VpcID), VpcRegion: jsii.String(x.Region)})
	}
	// The private zone the applications resolve, in every VPC that needs it.
	zone := awsroute53.NewCfnHostedZone(scope, jsii.String("Zone"), &awsroute53.CfnHostedZoneProps{
		Name:             jsii.String(s.ZoneName),
		HostedZoneConfig: &awsroute53.CfnHostedZone_HostedZoneConfigProperty{Comment: jsii.String("redisha failover")},
		Vpcs:             &vpcs,
	})
	// Route 53 cannot reach a private endpoint: it follows each region's
	// checker through that region's writable alarm.
	primaryCheck := writableHealthAlarm(s, s.PrimaryRegion, s.PrimaryRGID).newHealthCheck(scope, "PrimaryWritable", WritableAlarmName(s.PrimaryRegion))
	secondaryCheck := writableHealthAlarm(s, s.SecondaryRegion, s.SecondaryRGID).newHealthCheck(scope, "SecondaryWritable", WritableAlarmName(s.SecondaryRegion))
	ttl := jsii.String(strconv.Itoa(s.RecordTTL))
	// The name applications use: the primary while it takes writes…
	primary := awsroute53.NewCfnRecordSet(scope, jsii.String("PrimaryRecord"), &awsroute53.CfnRecordSetProps{
		HostedZoneId: zone.Ref(), Name: jsii.String(s.RecordName), Type: jsii.String("CNAME"), Ttl: ttl,
		SetIdentifier: jsii.String("primary"), Failover: jsii.String("PRIMARY"), HealthCheckId: primaryCheck.Ref(),
		ResourceRecords: &[]*string{p.PrimaryEndpoint},
	})
	// …the secondary once it takes writes, the primary again if neither does.
	secondary := awsroute53.NewCfnRecordSet(scope, jsii.String("SecondaryRecord"), &awsroute53.CfnRecordSetProps{
		HostedZoneId: zone.Ref(), Name: jsii.String(s.RecordName), Type: jsii.String("CNAME"), Ttl: ttl,
		SetIdentifier: jsii.String("secondary"), Failover: jsii.String("SECONDARY"), HealthCheckId: secondaryCheck.Ref(),
		ResourceRecords: &[]*string{p.SecondaryEndpoint},
	})
	return &dns{zone: zone, primaryCheck: primaryCheck, secondaryCheck: secondaryCheck, primary: primary, secondary: secondary}
}
