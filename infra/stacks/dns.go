package stacks

import (
	"strconv"

	"github.com/aws/aws-cdk-go/awscdk/v2/awsroute53"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/redisha/redisha/internal/deployment"
)

// DNSProps shape the failover name.
type DNSProps struct {
	Deployment     deployment.Deployment
	PrimaryVpcID   *string
	SecondaryVpcID *string
	// Endpoints are the hosts of each region's primary endpoint, in the
	// order of Deployment.Regions.
	Endpoints [2]*string
}

type dns struct {
	// zoneID is the zone the records are in: the one the app creates, or
	// the existing one the settings name.
	zoneID *string
	// checks follow each region's writable alarm; records are the PRIMARY
	// and SECONDARY failover records, in the order of the model's.
	checks  [2]awsroute53.CfnHealthCheck
	records [2]awsroute53.CfnRecordSet
}

// newDNS builds the private zone in both VPCs (and any extra ones), or
// takes the existing one the settings name, and the model's failover
// records, each with its health check on its own region's
// writable alarm. Route 53 answers the primary region while it takes writes,
// the secondary once it takes writes (after a promotion), and the primary
// when neither does (all records unhealthy: Route 53 answers the PRIMARY,
// which after a promotion is read-only; there is no writer to answer then).
// So the name only moves to a region that takes writes, and it follows a
// promotion with no Route 53 call.
func newDNS(scope constructs.Construct, p DNSProps) *dns {
	d := p.Deployment
	s := d.Settings
	out := &dns{zoneID: jsii.String(d.DNS.ZoneID)}
	if d.DNS.ZoneID == "" {
		vpcs := []interface{}{
			&awsroute53.CfnHostedZone_VPCProperty{VpcId: p.PrimaryVpcID, VpcRegion: jsii.String(d.Regions[0].Name)},
			&awsroute53.CfnHostedZone_VPCProperty{VpcId: p.SecondaryVpcID, VpcRegion: jsii.String(d.Regions[1].Name)},
		}
		for _, x := range s.ExtraVpcs {
			vpcs = append(vpcs, &awsroute53.CfnHostedZone_VPCProperty{VpcId: jsii.String(x.VpcID), VpcRegion: jsii.String(x.Region)})
		}
		// The private zone the applications resolve, in every VPC that
		// needs it.
		zone := awsroute53.NewCfnHostedZone(scope, jsii.String("Zone"), &awsroute53.CfnHostedZoneProps{
			Name:             jsii.String(d.DNS.Zone),
			HostedZoneConfig: &awsroute53.CfnHostedZone_HostedZoneConfigProperty{Comment: jsii.String("redisha failover")},
			Vpcs:             &vpcs,
		})
		out.zoneID = zone.Ref()
	}
	for i, rec := range d.DNS.Records {
		label := "Primary"
		if rec.Failover == deployment.FailoverSecondary {
			label = "Secondary"
		}
		endpoint := p.Endpoints[0]
		if rec.Region == d.Regions[1].Name {
			endpoint = p.Endpoints[1]
		}
		// Route 53 cannot reach a private endpoint: it follows the region's
		// checker through the region's writable alarm.
		out.checks[i] = newHealthCheck(scope, label+"Writable", rec.HealthCheck)
		out.records[i] = awsroute53.NewCfnRecordSet(scope, jsii.String(label+"Record"), &awsroute53.CfnRecordSetProps{
			HostedZoneId: out.zoneID, Name: jsii.String(rec.Name), Type: jsii.String("CNAME"),
			Ttl:           jsii.String(strconv.Itoa(int(rec.TTL.Seconds()))),
			SetIdentifier: jsii.String(rec.SetIdentifier), Failover: jsii.String(rec.Failover), HealthCheckId: out.checks[i].Ref(),
			ResourceRecords: &[]*string{endpoint},
		})
	}
	return out
}
