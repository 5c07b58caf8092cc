package stacks

import (
	"fmt"
	"strconv"

	"github.com/aws/aws-cdk-go/awscdk/v2/awsroute53"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/redisha/redisha/internal/deployment"
	"github.com/redisha/redisha/internal/promoter"
)

// DNSProps shape the failover name.
type DNSProps struct {
	Deployment     deployment.Deployment
	PrimaryVpcID   *string
	SecondaryVpcID *string
	// Endpoints are the hosts of each region's primary endpoint, in the
	// order of Deployment.Regions.
	Endpoints [2]*string
	// WritableEndpoints are the hosts of each region's writable endpoint
	// (function URL), in the same order; nil without endpoint checks.
	WritableEndpoints [2]*string
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
		if rec.HealthCheck.Endpoint != nil {
			// Route 53's checkers probe the region's writable endpoint:
			// the write path itself, from outside both regions.
			host := p.WritableEndpoints[0]
			if rec.Region == d.Regions[1].Name {
				host = p.WritableEndpoints[1]
			}
			if host == nil {
				// As CDK's own constructs do on misuse: a check with no host
				// would deploy and never be healthy.
				panic(fmt.Sprintf("redisha: the %s record's health check needs %s's writable endpoint host (DNSProps.WritableEndpoints; "+
					"the region's WritableEndpointHost)", rec.Failover, rec.Region))
			}
			out.checks[i] = newEndpointCheck(scope, label+"WritableEndpoint", *rec.HealthCheck.Endpoint, host)
		} else {
			// Route 53 cannot reach a private endpoint: it follows the
			// region's checker through the region's writable alarm.
			out.checks[i] = newHealthCheck(scope, label+"Writable", rec.HealthCheck)
		}
		out.records[i] = awsroute53.NewCfnRecordSet(scope, jsii.String(label+"Record"), &awsroute53.CfnRecordSetProps{
			HostedZoneId: out.zoneID, Name: jsii.String(rec.Name), Type: jsii.String("CNAME"),
			Ttl:           jsii.String(strconv.Itoa(int(rec.TTL.Seconds()))),
			SetIdentifier: jsii.String(rec.SetIdentifier), Failover: jsii.String(rec.Failover), HealthCheckId: out.checks[i].Ref(),
			ResourceRecords: &[]*string{endpoint},
		})
	}
	for i, w := range d.DNS.Witnesses {
		if w.Name == "" {
			continue
		}
		// The witness follows the same check as the region's record: its
		// answer is what Route 53's checkers find of the region's write
		// path, for the other region's promoter (through its VPC's
		// resolver: Route 53's data plane only).
		check := out.checks[0]
		if d.DNS.Records[1].Region == w.Region {
			check = out.checks[1]
		}
		label := []string{"Primary", "Secondary"}[i]
		for _, r := range []struct{ failover, text string }{
			{deployment.FailoverPrimary, promoter.WitnessWritable}, {deployment.FailoverSecondary, promoter.WitnessNotWritable}} {
			props := &awsroute53.CfnRecordSetProps{
				HostedZoneId: out.zoneID, Name: jsii.String(w.Name), Type: jsii.String("TXT"),
				Ttl:           jsii.String(strconv.Itoa(int(w.TTL.Seconds()))),
				SetIdentifier: jsii.String(r.text), Failover: jsii.String(r.failover),
				ResourceRecords: &[]*string{jsii.String(`"` + r.text + `"`)},
			}
			if r.failover == deployment.FailoverPrimary {
				props.HealthCheckId = check.Ref()
			}
			awsroute53.NewCfnRecordSet(scope, jsii.String(label+"Witness"+map[string]string{
				deployment.FailoverPrimary: "Writable", deployment.FailoverSecondary: "NotWritable"}[r.failover]), props)
		}
	}
	return out
}

// newEndpointCheck creates a record's HTTPS health check on a region's
// writable endpoint. Route 53 "considers a new health check to be healthy"
// until its checkers report, and a record healthy only after the
// threshold of results: both unhealthy answers the PRIMARY record, as
// before.
func newEndpointCheck(scope constructs.Construct, id string, e deployment.EndpointCheck, host *string) awsroute53.CfnHealthCheck {
	return awsroute53.NewCfnHealthCheck(scope, jsii.String(id), &awsroute53.CfnHealthCheckProps{
		HealthCheckConfig: &awsroute53.CfnHealthCheck_HealthCheckConfigProperty{
			Type: jsii.String("HTTPS"), FullyQualifiedDomainName: host, Port: jsii.Number(443), EnableSni: jsii.Bool(true),
			ResourcePath: jsii.String(e.Path), RequestInterval: jsii.Number(e.RequestInterval.Seconds()),
			FailureThreshold: jsii.Number(float64(e.FailureThreshold)),
		},
		HealthCheckTags: &[]*awsroute53.CfnHealthCheck_HealthCheckTagProperty{
			{Key: jsii.String("Name"), Value: jsii.String("redisha " + e.Region + " writable endpoint")},
			{Key: jsii.String("redisha:check"), Value: jsii.String(e.Summary())},
		},
	})
}
