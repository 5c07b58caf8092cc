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
	zone        awsroute53.CfnHostedZone
	healthCheck awsroute53.CfnHealthCheck
	primary     awsroute53.CfnRecordSet
	secondary   awsroute53.CfnRecordSet
}

// newDNS builds the private zone in both VPCs (and any extra ones), the
// alarm-based health check, and the PRIMARY/SECONDARY failover CNAMEs.
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
	// Route 53 cannot reach a private endpoint: it follows the checker's
	// alarm instead. The alarm identifier is what the design's CLI example
	// left out; no data counts as unhealthy.
	hc := primaryHealthAlarm(s).newHealthCheck(scope, "HealthCheck", "redisha-primary")
	ttl := jsii.String(strconv.Itoa(s.RecordTTL))
	// The name applications use: the primary while its check is healthy…
	primary := awsroute53.NewCfnRecordSet(scope, jsii.String("PrimaryRecord"), &awsroute53.CfnRecordSetProps{
		HostedZoneId: zone.Ref(), Name: jsii.String(s.RecordName), Type: jsii.String("CNAME"), Ttl: ttl,
		SetIdentifier: jsii.String("primary"), Failover: jsii.String("PRIMARY"), HealthCheckId: hc.Ref(),
		ResourceRecords: &[]*string{p.PrimaryEndpoint},
	})
	// …and the secondary region otherwise.
	secondary := awsroute53.NewCfnRecordSet(scope, jsii.String("SecondaryRecord"), &awsroute53.CfnRecordSetProps{
		HostedZoneId: zone.Ref(), Name: jsii.String(s.RecordName), Type: jsii.String("CNAME"), Ttl: ttl,
		SetIdentifier: jsii.String("secondary"), Failover: jsii.String("SECONDARY"),
		ResourceRecords: &[]*string{p.SecondaryEndpoint},
	})
	return &dns{zone: zone, healthCheck: hc, primary: primary, secondary: secondary}
}
