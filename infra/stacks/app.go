// Package stacks is redisha's CDK app: the Global Datastore in two regions,
// a health checker and its loop in each, alarms, dashboards, and
// the Route 53 failover name that follows the primary's health.
package stacks

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/redisha/redisha/internal/config"
	"github.com/redisha/redisha/internal/deployment"
)

// PrimaryStackProps shape the primary region's stack.
type PrimaryStackProps struct {
	awscdk.StackProps
	Deployment deployment.Deployment
}

// PrimaryStack is the primary region's stack, holding its PrimaryRegion.
type PrimaryStack struct {
	awscdk.Stack
	*PrimaryRegion
}

// NewPrimaryStack builds the primary region in a stack of its own. The
// region's construct has the id Default, which CDK leaves out of logical
// ids: the resources keep the ids they had before the constructs existed.
func NewPrimaryStack(scope constructs.Construct, id string, p *PrimaryStackProps) *PrimaryStack {
	stack := awscdk.NewStack(scope, &id, &p.StackProps)
	return &PrimaryStack{Stack: stack, PrimaryRegion: NewPrimaryRegion(stack, "Default", p.Deployment)}
}

// PrimaryRegion is the primary region of a deployment, in any stack of
// that region: network, primary replication group, Global Datastore, AUTH
// token, checker (primary role, heartbeat writer), promoter, alarms
// (including the one Route 53 follows) and dashboard.
type PrimaryRegion struct {
	Construct  constructs.Construct
	Network    *network
	Datastore  *primaryDatastore // nil for an adopted datastore or group
	Checker    *checker
	Monitoring *monitoring
	Host       *string // host of the primary group's primary endpoint
	SecretARN  *string // the AUTH token's secret in the primary region
	GlobalID   *string // the Global Datastore's full id
	// HeartbeatKeyARN is the heartbeat key's secret in the primary region
	// (replicated to the secondary's).
	HeartbeatKeyARN *string
}

// NewPrimaryRegion builds the primary region of d under scope, a
// construct in a stack of that region.
func NewPrimaryRegion(scope constructs.Construct, id string, d deployment.Deployment) *PrimaryRegion {
	c := constructs.NewConstruct(scope, &id)
	s, r := d.Settings, d.Regions[0]
	cacheSG := adopted(s, func(a *deployment.Adopt) string { return a.PrimaryCacheSG })
	if e := s.Existing; e != nil {
		cacheSG = e.CacheSG
	}
	n := newNetwork(c, networkProps(s, s.PrimaryVpcID, s.PrimarySubnetIDs, s.PrimaryAZs, s.PrimaryCidr, s.SecondaryCidr, cacheSG))
	var ds *primaryDatastore
	var addr, host, secretARN, globalID *string
	if a := s.Adopt; a != nil {
		addr, host, secretARN, globalID = jsii.String(a.PrimaryEndpoint), jsii.String(deployment.HostOf(a.PrimaryEndpoint)), jsii.String(a.AuthSecretARN), jsii.String(a.GlobalID)
	} else if e := s.Existing; e != nil {
		// The owner's group becomes the datastore's primary; only the
		// Global Datastore around it is created.
		global := newGlobalDatastore(c, s, jsii.String(e.ID))
		addr, host, secretARN, globalID = jsii.String(e.Endpoint), jsii.String(deployment.HostOf(e.Endpoint)), jsii.String(e.AuthSecretARN), global.AttrGlobalReplicationGroupId()
	} else {
		ds = newPrimaryDatastore(c, s, n)
		addr, host = endpoint(ds.group, s.Members().ClusterMode)
		secretARN, globalID = ds.secret.SecretArn(), ds.global.AttrGlobalReplicationGroupId()
		out(c, "CreatedWith", jsii.String(s.Members().Record()), "after the first deploy, put this in cdk.json as \"createdWith\" (docs/infra.md, Lifecycle)")
	}
	key := newHeartbeatKey(c, s)
	mon, pr, ck := newRegionRunners(c, d, r, n, deployment.Target{Addr: *addr, ServerName: *host, SecretARN: *secretARN,
		HeartbeatKeyARN: *key.SecretArn(), DatastoreID: *globalID})
	out(c, "PrimaryEndpoint", addr, "primary endpoint (host:port)")
	out(c, "GlobalDatastoreId", globalID, "Global Datastore id (prefix included)")
	out(c, "AuthTokenSecretArn", secretARN, "Secrets Manager secret holding the AUTH token")
	outRegion(c, d, r, mon, pr, ck, n)
	suppress(c)
	return &PrimaryRegion{Construct: c, Network: n, Datastore: ds, Checker: ck, Monitoring: mon, Host: host, SecretARN: secretARN, GlobalID: globalID,
		HeartbeatKeyARN: key.SecretArn()}
}

// networkProps is a region's network as the settings shape it.
func networkProps(s deployment.Settings, vpcID string, subnets, azs []string, cidr, remote, cacheSG string) NetworkProps {
	return NetworkProps{VpcID: vpcID, SubnetIDs: subnets, AZs: azs, Cidr: cidr, RemoteCidr: remote, CacheSGID: cacheSG,
		Port: s.Port, AppCidrs: s.AppClientCidrs, APIMetrics: s.MetricsMode == config.MetricsAPI, Endpoints: s.VpcEndpoints,
		Nat: s.NatGateway}
}

// newRegionRunners builds what runs in every region: its alarms and topic,
// its promoter and its checker with their loop, and the alarms on them.
func newRegionRunners(scope constructs.Construct, d deployment.Deployment, r deployment.Region, n *network, t deployment.Target) (*monitoring, *promoterFn, *checker) {
	mon := newMonitoring(scope, MonitoringProps{Deployment: d, Region: r})
	pr := newPromoter(scope, PromoterProps{Deployment: d, Region: r, Network: n, Topic: mon.topic, Target: t})
	ck := newChecker(scope, CheckerProps{Deployment: d, Region: r, Network: n, Promoter: pr.fn, Addr: t.Addr, ServerName: t.ServerName,
		SecretARN: t.SecretARN, HeartbeatKeyARN: t.HeartbeatKeyARN, DatastoreID: t.DatastoreID})
	mon.watchRunners(scope, ck.fn, pr.fn, ck.machine)
	mon.addDashboard(scope, MonitoringProps{Deployment: d, Region: r}, pr.logs)
	return mon, pr, ck
}

// outRegion outputs what every region stack shares.
func outRegion(scope constructs.Construct, d deployment.Deployment, r deployment.Region, mon *monitoring, pr *promoterFn, ck *checker, n *network) {
	out(scope, "WritableAlarmName", mon.writableAlarm.AlarmName(), "this region's writable alarm (the other region's promoter reads it)")
	out(scope, "UnhealthyAlarmName", mon.unhealthyAlarm.AlarmName(), "paging alarm on this region's checks")
	out(scope, "FastAlarmName", mon.fastAlarm.AlarmName(), "high-resolution paging alarm")
	out(scope, "AlarmTopicArn", mon.topic.TopicArn(), "SNS topic of the alarms (redisha verify --*-topic-arn)")
	if k := mon.topic.MasterKey(); k != nil {
		out(scope, "AlarmTopicKeyArn", k.KeyArn(), "the alarm topic's KMS key (redisha verify checks that CloudWatch may use it)")
	}
	out(scope, "CheckerFunction", ck.fn.FunctionName(), "health-checker Lambda")
	if e := ck.endpoint; e != nil {
		out(scope, deployment.WritableEndpointOutput, e.host, "writable endpoint's host (Route 53's HTTPS health checks GET "+
			deployment.WritableEndpointPath+" on it)")
	}
	outPromoter(scope, pr)
	outClientSG(scope, n)
	out(scope, "DashboardUrl", dashboardURL(r.Name, *mon.dashboard.DashboardName()), "CloudWatch dashboard")
}

// outPromoter outputs the promoter's function and latch table.
func outPromoter(scope constructs.Construct, pr *promoterFn) {
	out(scope, "PromoterFunction", pr.fn.FunctionName(), "guarded promoter Lambda (docs/failover.md)")
	out(scope, "PromoterLatchTable", pr.table.TableName(), "the promoter's latch and epoch (DynamoDB, this region)")
	out(scope, "PromoterRoleArn", pr.fn.Role().RoleArn(), "the promoter's role (redisha verify simulates its permissions)")
}

// outClientSG outputs the app client security group, when the app made one.
func outClientSG(scope constructs.Construct, n *network) {
	if n.appSG != nil {
		out(scope, "AppClientSecurityGroupId", n.appSG.SecurityGroupId(), "attach to application clients: it may reach the cache's port")
	}
}

// SecondaryStackProps shape the secondary region's stack.
type SecondaryStackProps struct {
	awscdk.StackProps
	SecondaryRegionProps
}

// SecondaryStack is the secondary region's stack, holding its
// SecondaryRegion.
type SecondaryStack struct {
	awscdk.Stack
	*SecondaryRegion
}

// NewSecondaryStack builds the secondary region in a stack of its own (the
// construct's id is Default, as for the primary).
func NewSecondaryStack(scope constructs.Construct, id string, p *SecondaryStackProps) *SecondaryStack {
	stack := awscdk.NewStack(scope, &id, &p.StackProps)
	return &SecondaryStack{Stack: stack, SecondaryRegion: NewSecondaryRegion(stack, "Default", p.SecondaryRegionProps)}
}

// SecondaryRegionProps are what the secondary region takes from the
// primary's.
type SecondaryRegionProps struct {
	Deployment deployment.Deployment
	// GlobalID is the Global Datastore's full id, from the primary region.
	GlobalID *string
	// PrimarySecretARN is the AUTH token's secret in the primary region.
	PrimarySecretARN *string
	// PrimaryHeartbeatKeyARN is the heartbeat key's secret in the primary
	// region; its replica here is the secondary's key.
	PrimaryHeartbeatKeyARN *string
	// PrimaryVpcID is the primary region's VPC, peered when the app created
	// both VPCs.
	PrimaryVpcID *string
}

// SecondaryRegion is the secondary region of a deployment, in any stack of
// that region: network, the replication group joined to the Global
// Datastore, checker, promoter, alarms and dashboard.
type SecondaryRegion struct {
	Construct  constructs.Construct
	Network    *network
	Group      *string // host of the group's primary endpoint
	Checker    *checker
	Monitoring *monitoring
	Peering    *string // the VPC peering's id, when the app peers the VPCs
}

// NewSecondaryRegion builds the secondary region under scope, a construct
// in a stack of that region.
func NewSecondaryRegion(scope constructs.Construct, id string, p SecondaryRegionProps) *SecondaryRegion {
	c := constructs.NewConstruct(scope, &id)
	d := p.Deployment
	s, r := d.Settings, d.Regions[1]
	n := newNetwork(c, networkProps(s, s.SecondaryVpcID, s.SecondarySubnets, s.SecondaryAZs, s.SecondaryCidr, s.PrimaryCidr,
		adopted(s, func(a *deployment.Adopt) string { return a.SecondaryCacheSG })))
	var addr, host, secretARN *string
	if a := s.Adopt; a != nil {
		addr, host, secretARN = jsii.String(a.SecondaryEndpoint), jsii.String(deployment.HostOf(a.SecondaryEndpoint)), jsii.String(a.SecondaryAuthSecretARN)
	} else {
		secretARN = replicaSecretARN(p.PrimarySecretARN, s.SecondaryRegion)
		if e := s.Existing; e != nil {
			secretARN = jsii.String(e.SecondaryAuthSecretARN)
		}
		rg := newSecondaryGroup(c, s, n, p.GlobalID, secretARN)
		addr, host = endpoint(rg, s.Members().ClusterMode)
	}
	var peering *string
	if s.Peered() {
		peering = newPeering(c, n, p.PrimaryVpcID, s.PrimaryRegion, s.PrimaryCidr)
	}
	mon, pr, ck := newRegionRunners(c, d, r, n, deployment.Target{Addr: *addr, ServerName: *host, SecretARN: *secretARN,
		HeartbeatKeyARN: *replicaSecretARN(p.PrimaryHeartbeatKeyARN, s.SecondaryRegion), DatastoreID: *p.GlobalID})
	out(c, "SecondaryEndpoint", addr, "secondary endpoint (host:port; read-only until promoted)")
	outRegion(c, d, r, mon, pr, ck, n)
	suppress(c)
	return &SecondaryRegion{Construct: c, Network: n, Group: host, Checker: ck, Monitoring: mon, Peering: peering}
}

// DNSStackProps shape the failover name's stack.
type DNSStackProps struct {
	awscdk.StackProps
	DNSProps
}

// DNSStack is the failover name's stack, holding its FailoverName.
type DNSStack struct {
	awscdk.Stack
	*FailoverName
}

// NewDNSStack builds the failover name in a stack of its own (the
// construct's id is Default).
func NewDNSStack(scope constructs.Construct, id string, p *DNSStackProps) *DNSStack {
	stack := awscdk.NewStack(scope, &id, &p.StackProps)
	return &DNSStack{Stack: stack, FailoverName: NewFailoverName(stack, "Default", p.DNSProps)}
}

// FailoverName is the private zone (or the records in an existing one),
// the health checks and the failover records, in a stack of the primary
// region.
type FailoverName struct {
	Construct constructs.Construct
	DNS       *dns
}

// NewFailoverName builds the failover name under scope.
func NewFailoverName(scope constructs.Construct, id string, p DNSProps) *FailoverName {
	c := constructs.NewConstruct(scope, &id)
	d := newDNS(c, p)
	out(c, "HostedZoneId", d.zoneID, "private hosted zone holding the failover records")
	out(c, deployment.ZoneNameOutput, jsii.String(p.Deployment.DNS.Zone), "its name")
	out(c, "HealthCheckId", d.checks[0].Ref(), "Route 53 health check of the PRIMARY record (the primary region's writable endpoint, or its writable alarm)")
	out(c, "SecondaryHealthCheckId", d.checks[1].Ref(), "Route 53 health check of the SECONDARY record (the secondary region's writable endpoint, or its writable alarm)")
	out(c, "RecordName", jsii.String(p.Deployment.DNS.Records[0].Name), "the name applications connect to")
	return &FailoverName{Construct: c, DNS: d}
}

// Wire completes what spans the regions, once all three parts exist: the
// peering's routes back in the primary region (when the app peers the VPCs
// it created; the peering exists only once the secondary region made it),
// and the order of deployment (the health checks read each region's
// writable alarm by name).
func Wire(name *FailoverName, d deployment.Deployment, primary *PrimaryRegion, secondary *SecondaryRegion) {
	if secondary.Peering != nil {
		routeTo(name.Construct, "PrimaryToSecondary", primary.Network.routeTables, d.Settings.SecondaryCidr, secondary.Peering)
	}
	stack := awscdk.Stack_Of(name.Construct)
	for _, dep := range []struct {
		of  constructs.Construct
		why string
	}{{primary.Construct, "a health check follows the primary region's writable endpoint or alarm"},
		{secondary.Construct, "a health check follows the secondary region's writable endpoint or alarm"}} {
		if other := awscdk.Stack_Of(dep.of); *other.Node().Path() != *stack.Node().Path() {
			stack.AddStackDependency(other, jsii.String(dep.why))
		}
	}
}

// App is the three stacks.
type App struct {
	Primary   *PrimaryStack
	Secondary *SecondaryStack
	DNS       *DNSStack
}

// Build adds the deployment's stacks to app, wiring the cross-region values
// through code (no hand-copied ids), and runs cdk-nag's AwsSolutions checks
// on them.
func Build(app awscdk.App, d deployment.Deployment) *App {
	s := d.Settings
	env := func(region string) *awscdk.Environment {
		return &awscdk.Environment{Account: jsii.String(s.Account), Region: jsii.String(region)}
	}
	tags := &map[string]*string{"project": jsii.String("redisha"), "redisha:deployment": jsii.String(s.Name)}
	// Termination protection on every stack: deleting one takes a deliberate
	// `aws cloudformation update-termination-protection` first.
	protect := jsii.Bool(s.TerminationProtection)
	primary := NewPrimaryStack(app, d.Regions[0].Stack, &PrimaryStackProps{
		StackProps: awscdk.StackProps{Env: env(s.PrimaryRegion), CrossRegionReferences: jsii.Bool(true), Tags: tags, TerminationProtection: protect,
			Description: jsii.String("redisha " + s.Name + ": primary region of the Global Datastore, its checker, promoter and alarms")},
		Deployment: d,
	})
	secondary := NewSecondaryStack(app, d.Regions[1].Stack, &SecondaryStackProps{
		StackProps: awscdk.StackProps{Env: env(s.SecondaryRegion), CrossRegionReferences: jsii.Bool(true), Tags: tags, TerminationProtection: protect,
			Description: jsii.String("redisha " + s.Name + ": secondary region of the Global Datastore, its checker, promoter and alarms")},
		SecondaryRegionProps: SecondaryRegionProps{Deployment: d, GlobalID: primary.GlobalID, PrimarySecretARN: primary.SecretARN,
			PrimaryHeartbeatKeyARN: primary.HeartbeatKeyARN, PrimaryVpcID: primary.Network.vpc.VpcId()},
	})
	// The secondary joins a Global Datastore that must exist first.
	secondary.AddStackDependency(primary.Stack, jsii.String("the Global Datastore must exist before a secondary joins it"))
	dnsStack := NewDNSStack(app, d.DNSStackID(), &DNSStackProps{
		StackProps: awscdk.StackProps{Env: env(s.PrimaryRegion), CrossRegionReferences: jsii.Bool(true), Tags: tags, TerminationProtection: protect,
			Description: jsii.String("redisha " + s.Name + ": private zone, health checks and failover records")},
		DNSProps: DNSProps{Deployment: d, PrimaryVpcID: primary.Network.vpc.VpcId(), SecondaryVpcID: secondary.Network.vpc.VpcId(),
			Endpoints:         [2]*string{primary.Host, secondary.Group},
			WritableEndpoints: [2]*string{primary.WritableEndpointHost(), secondary.WritableEndpointHost()}},
	})
	Wire(dnsStack.FailoverName, d, primary.PrimaryRegion, secondary.SecondaryRegion)
	awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
	return &App{Primary: primary, Secondary: secondary, DNS: dnsStack}
}

// WritableEndpointHost is the host of the region's writable endpoint (its
// function URL's), nil without one.
func (r *PrimaryRegion) WritableEndpointHost() *string { return writableHost(r.Checker) }

// WritableEndpointHost is the host of the region's writable endpoint (its
// function URL's), nil without one.
func (r *SecondaryRegion) WritableEndpointHost() *string { return writableHost(r.Checker) }

// writableHost is the host of a region's writable endpoint, nil without one.
func writableHost(c *checker) *string {
	if c == nil || c.endpoint == nil {
		return nil
	}
	return c.endpoint.host
}

// adopted is field of the adopted datastore's settings, or "" when the app
// creates the datastore.
func adopted(s deployment.Settings, field func(*deployment.Adopt) string) string {
	if s.Adopt == nil {
		return ""
	}
	return field(s.Adopt)
}

func out(scope constructs.Construct, id string, value *string, desc string) {
	awscdk.NewCfnOutput(scope, jsii.String(id), &awscdk.CfnOutputProps{Value: value, Description: jsii.String(desc)})
}

func dashboardURL(region, name string) *string {
	return jsii.String(fmt.Sprintf("https://%s.console.aws.amazon.com/cloudwatch/home?region=%s#dashboards:name=%s", region, region, name))
}

// suppress records, with its reason, each finding about a region's
// resources that is accepted on purpose (on the region's construct, so it
// never covers resources of the stack that are not redisha's). Findings
// about one resource are suppressed on that resource (see newChecker).
func suppress(scope constructs.Construct) {
	cdknag.NagSuppressions_AddResourceSuppressions(scope, &[]*cdknag.NagPackSuppression{
		{Id: jsii.String("AwsSolutions-AEC5"), Reason: jsii.String("The port is a setting (context \"port\"); the default 6379 is kept because clients and the design expect it. The cache is reachable on it only from the checker's, the promoter's and the app client security groups, the other region's VPC range (security groups cannot be referenced across regions) and the configured appClientCidrs")},
	}, jsii.Bool(true))
}
