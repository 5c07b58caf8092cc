// Package cdk puts redisha into a CDK app of your own: a Global Datastore
// across two regions (yours, built around one replication group of yours,
// or created), a health checker and a guarded promoter in each region,
// their alarms and dashboards, and the failover name that follows the
// writable region.
//
// Three constructs, one per role, each placed in a stack of yours in the
// right region: PrimaryRegion, SecondaryRegion and FailoverName (in the
// primary region). Props are typed; NewDeployment checks them as the
// standalone app checks its context (every problem named with its fix) and
// renders the same deployment model, so what these constructs deploy is
// what `redisha drill`, `redisha verify` and the operator commands know.
// The stacks holding the constructs need crossRegionReferences: the
// secondary region takes the datastore's id and the secrets' ARNs from the
// primary's.
//
//	d, err := cdk.NewDeployment(cdk.Props{Name: "payments", ...})
//	east := awscdk.NewStack(app, jsii.String("PaymentsEast"), &awscdk.StackProps{Env: ..., CrossRegionReferences: jsii.Bool(true)})
//	primary := cdk.NewPrimaryRegion(east, "Redis", d)
//	secondary := cdk.NewSecondaryRegion(west, "Redis", d, primary)
//	cdk.NewFailoverName(dnsStack, "RedisName", d, primary, secondary)
//
// examples/cdk is such an app; the standalone app in infra/ is the same
// constructs, one stack each.
package cdk

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/redisha/redisha/infra/stacks"
	"github.com/redisha/redisha/internal/deployment"
)

// Props are a deployment's settings. A zero value takes the default of
// docs/infra.md (Settings).
type Props struct {
	// Name names the deployment (its alarms, dashboards and tables); a
	// second deployment in an account needs its own group ids and suffix.
	Name    string
	Account string
	// PrimaryRegion and SecondaryRegion are the Global Datastore's regions.
	PrimaryRegion, SecondaryRegion string
	// Primary and Secondary are each region's network: an existing VPC of
	// yours, or none (the constructs create one).
	Primary, Secondary Network
	// Zone is an existing private hosted zone for the failover name, or
	// none (the constructs create one).
	Zone Zone
	// ExistingPrimaryGroup builds the Global Datastore around one
	// replication group of yours (see ExistingGroup); ExistingDatastore
	// adopts a Global Datastore that exists. At most one.
	ExistingPrimaryGroup *ExistingGroup
	ExistingDatastore    *ExistingDatastore
	// PrimaryGroupID and SecondaryGroupID name the replication groups
	// (for an existing primary group, only the secondary's).
	PrimaryGroupID, SecondaryGroupID string
	// GlobalIDSuffix names a Global Datastore the constructs create.
	GlobalIDSuffix string
	// Engine is redis (Redis OSS, the default) or valkey (for an existing
	// group: its own).
	Engine string
	// EngineVersion is the engine version (for an existing group: its own;
	// default: the engine's newest a Global Datastore takes).
	EngineVersion string
	// Shards is the number of shards of each member; more than one builds
	// both in cluster mode (0: one shard, cluster mode disabled).
	// ReplicasPerShard is each shard's replica count, per region (0: 1).
	Shards, ReplicasPerShard int
	// PromoterMode is off, advise (the default) or auto.
	PromoterMode string
	// AlarmEmail subscribes an address to each region's alarm topic.
	AlarmEmail string
	// PrimaryAlarmTopic and SecondaryAlarmTopic are SNS topics of yours,
	// one per region, for the alarms and the promoters' pages (both or
	// neither; none: each region gets an encrypted topic of its own).
	PrimaryAlarmTopic, SecondaryAlarmTopic AlarmTopic
	// CheckerAsset and PromoterAsset are the folders holding the Lambdas'
	// bootstrap binaries (make build: build/lambda, build/promoter).
	CheckerAsset, PromoterAsset string
	// Settings are any other setting, by its context key (docs/infra.md),
	// e.g. {"checkInterval": 10}. A key a typed field also
	// sets is refused.
	Settings map[string]any
}

// Network is one region's network.
type Network struct {
	// VpcID and SubnetIDs are an existing VPC and the private subnets the
	// functions (and a created cache) use; empty: the constructs create a
	// VPC.
	VpcID     string
	SubnetIDs []string
	// CIDR is the VPC's address range (the other region's cache admits it).
	CIDR string
	// Egress says the existing VPC reaches AWS's public endpoints through
	// its own NAT (the promoter needs it; see docs/infra.md).
	Egress bool
}

// AlarmTopic is an SNS topic of yours: its policy must let CloudWatch
// alarms of this account publish, and KeyARN names its customer-managed
// key, if any (the promoter needs it to publish; CloudWatch needs the key's
// policy to allow it).
type AlarmTopic struct {
	ARN, KeyARN string
}

// Zone is an existing private hosted zone, already associated with the
// VPCs that resolve the name.
type Zone struct {
	ID string
	// Name is the zone's name; RecordName the failover name in it.
	Name, RecordName string
}

// ExistingGroup is a replication group of yours that becomes the Global
// Datastore's primary.
type ExistingGroup struct {
	// Description is the ReplicationGroup object `aws elasticache
	// describe-replication-groups --query 'ReplicationGroups[0]'` prints.
	Description string
	// AuthSecretARN is the Secrets Manager secret holding its AUTH token,
	// replicated to the secondary region.
	AuthSecretARN string
	// SecurityGroupID is its security group: the checker is let in.
	SecurityGroupID string
}

// ExistingDatastore is a Global Datastore that exists, adopted as it is.
type ExistingDatastore struct {
	ID                                               string
	PrimaryEndpoint, SecondaryEndpoint               string
	AuthSecretARN                                    string
	PrimarySecurityGroupID, SecondarySecurityGroupID string
}

// Deployment is a checked deployment, ready for the constructs.
type Deployment struct {
	model deployment.Deployment
}

// NewDeployment checks p and renders the deployment. The error names every
// problem with its fix, by the setting's context key (docs/infra.md).
func NewDeployment(p Props) (*Deployment, error) {
	ctx, err := p.context()
	if err != nil {
		return nil, err
	}
	s, err := deployment.Load(func(k string) any { return ctx[k] }, p.Account)
	if err != nil {
		return nil, err
	}
	return &Deployment{model: deployment.New(s)}, nil
}

// context is p as the standalone app's context keys.
func (p Props) context() (map[string]any, error) {
	ctx := map[string]any{}
	set := func(k string, v any) {
		switch x := v.(type) {
		case string:
			if x == "" {
				return
			}
		case []string:
			if len(x) == 0 {
				return
			}
			v = strings.Join(x, ",")
		case bool:
			if !x {
				return
			}
		case int:
			if x == 0 {
				return
			}
			v = float64(x) // as a number in cdk.json
		}
		ctx[k] = v
	}
	set("name", p.Name)
	set("primaryRegion", p.PrimaryRegion)
	set("secondaryRegion", p.SecondaryRegion)
	for _, n := range []struct {
		prefix string
		Network
	}{{"primary", p.Primary}, {"secondary", p.Secondary}} {
		set(n.prefix+"VpcId", n.VpcID)
		set(n.prefix+"SubnetIds", n.SubnetIDs)
		set(n.prefix+"Cidr", n.CIDR)
	}
	set("vpcEgress", p.Primary.Egress || p.Secondary.Egress)
	set("existingZoneId", p.Zone.ID)
	set("zoneName", p.Zone.Name)
	set("recordName", p.Zone.RecordName)
	if g := p.ExistingPrimaryGroup; g != nil {
		set("existingPrimaryGroup", g.Description)
		if g.Description == "" {
			ctx["existingPrimaryGroup"] = "" // named as missing by the checks
		}
		set("authSecretArn", g.AuthSecretARN)
		set("primaryCacheSecurityGroupId", g.SecurityGroupID)
	}
	if a := p.ExistingDatastore; a != nil {
		set("existingGlobalDatastoreId", a.ID)
		set("primaryEndpoint", a.PrimaryEndpoint)
		set("secondaryEndpoint", a.SecondaryEndpoint)
		set("authSecretArn", a.AuthSecretARN)
		set("primaryCacheSecurityGroupId", a.PrimarySecurityGroupID)
		set("secondaryCacheSecurityGroupId", a.SecondarySecurityGroupID)
	}
	set("primaryReplicationGroupId", p.PrimaryGroupID)
	set("secondaryReplicationGroupId", p.SecondaryGroupID)
	set("globalIdSuffix", p.GlobalIDSuffix)
	set("engine", p.Engine)
	set("engineVersion", p.EngineVersion)
	set("shards", p.Shards)
	set("replicasPerShard", p.ReplicasPerShard)
	set("promoterMode", p.PromoterMode)
	set("alarmEmail", p.AlarmEmail)
	set("primaryAlarmTopicArn", p.PrimaryAlarmTopic.ARN)
	set("primaryAlarmTopicKeyArn", p.PrimaryAlarmTopic.KeyARN)
	set("secondaryAlarmTopicArn", p.SecondaryAlarmTopic.ARN)
	set("secondaryAlarmTopicKeyArn", p.SecondaryAlarmTopic.KeyARN)
	set("lambdaAsset", p.CheckerAsset)
	set("promoterAsset", p.PromoterAsset)
	for k, v := range p.Settings {
		if _, typed := ctx[k]; typed {
			return nil, fmt.Errorf("redisha: Settings[%q] is also set by a typed field of Props: give it once", k)
		}
		ctx[k] = v
	}
	return ctx, nil
}

// WriteModel writes the deployment model (deployment.json) into dir, the
// cloud assembly's folder: `redisha drill --templates dir`, verify and the
// operator commands read it beside the templates.
func (d *Deployment) WriteModel(dir string) error {
	return d.model.WriteFile(filepath.Join(dir, deployment.ModelFile))
}

// PrimaryRegion is the primary region's part of a deployment.
type PrimaryRegion struct {
	constructs.Construct
	r *stacks.PrimaryRegion
}

// NewPrimaryRegion adds the primary region of d to scope, a construct in a
// stack of d's primary region.
func NewPrimaryRegion(scope constructs.Construct, id string, d *Deployment) *PrimaryRegion {
	mustBeIn(scope, d.model.Regions[0].Name, "NewPrimaryRegion")
	// The model names the stack each region is in (yours).
	d.model.Regions[0].Stack = *awscdk.Stack_Of(scope).ArtifactId()
	r := stacks.NewPrimaryRegion(scope, id, d.model)
	nag(r.Construct)
	return &PrimaryRegion{Construct: r.Construct, r: r}
}

// SecondaryRegion is the secondary region's part of a deployment.
type SecondaryRegion struct {
	constructs.Construct
	r *stacks.SecondaryRegion
}

// NewSecondaryRegion adds the secondary region of d to scope, a construct
// in a stack of d's secondary region; its stack deploys after primary's.
func NewSecondaryRegion(scope constructs.Construct, id string, d *Deployment, primary *PrimaryRegion) *SecondaryRegion {
	mustBeIn(scope, d.model.Regions[1].Name, "NewSecondaryRegion")
	d.model.Regions[1].Stack = *awscdk.Stack_Of(scope).ArtifactId()
	p := primary.r
	r := stacks.NewSecondaryRegion(scope, id, stacks.SecondaryRegionProps{Deployment: d.model, GlobalID: p.GlobalID,
		PrimarySecretARN: p.SecretARN, PrimaryHeartbeatKeyARN: p.HeartbeatKeyARN, PrimaryVpcID: p.Network.VpcID()})
	nag(r.Construct)
	awscdk.Stack_Of(r.Construct).AddStackDependency(awscdk.Stack_Of(primary.Construct),
		jsii.String("the Global Datastore must exist before a secondary joins it"))
	return &SecondaryRegion{Construct: r.Construct, r: r}
}

// FailoverName is the failover name: records (in a zone it creates, or
// yours) whose health checks follow each region's writable endpoint (or,
// with dnsHealthCheck=alarm, its writable alarm), and each region's witness.
type FailoverName struct {
	constructs.Construct
}

// NewFailoverName adds the failover name to scope, a construct in a stack
// of d's primary region; its stack deploys after both regions'.
func NewFailoverName(scope constructs.Construct, id string, d *Deployment, primary *PrimaryRegion, secondary *SecondaryRegion) *FailoverName {
	mustBeIn(scope, d.model.Regions[0].Name, "NewFailoverName")
	d.model.DNS.Stack = *awscdk.Stack_Of(scope).ArtifactId()
	n := stacks.NewFailoverName(scope, id, stacks.DNSProps{Deployment: d.model, PrimaryVpcID: primary.r.Network.VpcID(),
		SecondaryVpcID: secondary.r.Network.VpcID(), Endpoints: [2]*string{primary.r.Host, secondary.r.Group},
		WritableEndpoints: [2]*string{primary.r.WritableEndpointHost(), secondary.r.WritableEndpointHost()}})
	nag(n.Construct)
	stacks.Wire(n, d.model, primary.r, secondary.r)
	return &FailoverName{Construct: n.Construct}
}

// mustBeIn panics, as CDK's own constructs do on misuse, when scope's
// stack is not in the region the deployment puts the part in: the message
// names the fix. A part in the wrong region would fail later with a less
// helpful error, or deploy health checks that name the wrong region.
func mustBeIn(scope constructs.Construct, region, what string) {
	got := awscdk.Stack_Of(scope).Region()
	if *awscdk.Token_IsUnresolved(got) || *got != region {
		panic(fmt.Sprintf("redisha: %s belongs in a stack of %s, but %s is in %s: give the stack env.region %s "+
			"(an environment-agnostic stack cannot hold it: the health checks and the Global Datastore name each region)",
			what, region, *awscdk.Stack_Of(scope).Node().Path(), *got, region))
	}
}

// nag runs cdk-nag's AwsSolutions checks on c: on redisha's own resources
// only, the rest of the stack is its owner's.
func nag(c constructs.Construct) {
	awscdk.Aspects_Of(c).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
}
