package stacks

import (
	"github.com/redisha/redisha/internal/deployment"
	"github.com/redisha/redisha/internal/engine"

	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awselasticache"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// subnetGroup is the cache's subnet group over the network's subnets.
func subnetGroup(scope constructs.Construct, n *network, name string) awselasticache.CfnSubnetGroup {
	ids := make([]interface{}, len(*n.subnets))
	for i, s := range *n.subnets {
		ids[i] = s
	}
	return awselasticache.NewCfnSubnetGroup(scope, jsii.String("SubnetGroup"), &awselasticache.CfnSubnetGroupProps{
		Description:          jsii.String("redisha " + name),
		SubnetIds:            &ids,
		CacheSubnetGroupName: jsii.String(name),
	})
}

// primaryDatastore is the primary replication group, its AUTH token and the
// Global Datastore created with it as the only member.
type primaryDatastore struct {
	group  awselasticache.CfnReplicationGroup
	global awselasticache.CfnGlobalReplicationGroup
	secret awssecretsmanager.Secret
}

func newPrimaryDatastore(scope constructs.Construct, s deployment.Settings, n *network) *primaryDatastore {
	// The AUTH token lives in Secrets Manager, replicated to the secondary
	// region for its checker; templates carry only a dynamic reference.
	secret := awssecretsmanager.NewSecret(scope, jsii.String("AuthToken"), &awssecretsmanager.SecretProps{
		Description: jsii.String("redisha: Redis AUTH token of the Global Datastore"),
		GenerateSecretString: &awssecretsmanager.SecretStringGenerator{
			PasswordLength: jsii.Number(64), ExcludePunctuation: jsii.Bool(true),
		},
		ReplicaRegions: &[]*awssecretsmanager.ReplicaRegion{{Region: jsii.String(s.SecondaryRegion)}},
		RemovalPolicy:  awscdk.RemovalPolicy_RETAIN,
	})
	cdknag.NagSuppressions_AddResourceSuppressions(secret, &[]*cdknag.NagPackSuppression{{
		Id: jsii.String("AwsSolutions-SMG4"),
		Reason: jsii.String("The AUTH token is not rotated. Changing the AUTH token of Global Datastore members " +
			"(ModifyReplicationGroup with AuthTokenUpdateStrategy) is not verified by this project, and a secret changed " +
			"out of band would be pushed to the groups by CloudFormation on the next deploy; docs/infra.md says so"),
	}}, jsii.Bool(false))
	sg := subnetGroup(scope, n, s.PrimaryRGID+"-subnets")
	m := s.Members()
	// The primary replication group, as the design's step 1.
	props := &awselasticache.CfnReplicationGroupProps{
		ReplicationGroupId:          jsii.String(s.PrimaryRGID),
		ReplicationGroupDescription: jsii.String("redisha primary (Global Datastore member)"),
		Engine:                      jsii.String(string(s.Members().Engine)),
		// The creation values, for ever (see CreatedWith): AWS rejects
		// changing a Global Datastore member through the group.
		EngineVersion:            jsii.String(m.EngineVersion),
		CacheNodeType:            jsii.String(m.NodeType),
		AutomaticFailoverEnabled: jsii.Bool(true),
		MultiAzEnabled:           jsii.Bool(true),
		AtRestEncryptionEnabled:  jsii.Bool(true),
		TransitEncryptionEnabled: jsii.Bool(true),
		AuthToken:                secret.SecretValue().UnsafeUnwrap(), // a {{resolve:secretsmanager:…}} reference, never the value
		Port:                     jsii.Number(float64(s.Port)),
		CacheSubnetGroupName:     sg.Ref(),
		SecurityGroupIds:         jsii.Strings(*n.cacheSG.SecurityGroupId()),
		SnapshotRetentionLimit:   jsii.Number(7),
		AutoMinorVersionUpgrade:  jsii.Bool(true),
	}
	if m.ClusterMode {
		// Cluster mode: the shards, each primary's replicas, and the
		// engine's default parameter group with cluster-enabled yes.
		v, err := engine.Validate(string(m.Engine), m.EngineVersion, true)
		if err != nil {
			panic(err) // Load validated it
		}
		props.NumNodeGroups = jsii.Number(float64(m.Shards))
		props.ReplicasPerNodeGroup = jsii.Number(float64(m.Replicas))
		props.CacheParameterGroupName = jsii.String(engine.DefaultParameterGroup(v, true))
	} else {
		props.NumCacheClusters = jsii.Number(float64(1 + m.Replicas))
	}
	rg := awselasticache.NewCfnReplicationGroup(scope, jsii.String("Primary"), props)
	// Data-bearing: a final snapshot is taken when the stack deletes it.
	rg.ApplyRemovalPolicy(awscdk.RemovalPolicy_SNAPSHOT, nil)
	return &primaryDatastore{group: rg, global: newGlobalDatastore(scope, s, rg.Ref()), secret: secret}
}

// newGlobalDatastore is the Global Datastore, created with the primary
// group (the stacks' own, or the owner's existing one) as its only member
// (CloudFormation rejects several members at creation).
func newGlobalDatastore(scope constructs.Construct, s deployment.Settings, primaryGroupID *string) awselasticache.CfnGlobalReplicationGroup {
	change := s.GlobalChanges()
	global := awselasticache.NewCfnGlobalReplicationGroup(scope, jsii.String("Global"), &awselasticache.CfnGlobalReplicationGroupProps{
		GlobalReplicationGroupIdSuffix:    jsii.String(s.GlobalIDSuffix),
		GlobalReplicationGroupDescription: jsii.String("redisha Global Datastore"),
		AutomaticFailoverEnabled:          jsii.Bool(true),
		// Scaling and engine upgrades of the members (Redis OSS to Valkey
		// included), once createdWith is recorded: the one place
		// CloudFormation can change them.
		CacheNodeType: change.NodeType,
		Engine:        change.Engine,
		EngineVersion: change.EngineVersion,
		// More shards: every member reshards together.
		GlobalNodeGroupCount: change.Shards,
		Members: &[]interface{}{&awselasticache.CfnGlobalReplicationGroup_GlobalReplicationGroupMemberProperty{
			ReplicationGroupId:     primaryGroupID,
			ReplicationGroupRegion: jsii.String(s.PrimaryRegion),
			Role:                   jsii.String("PRIMARY"),
		}},
	})
	// Retained: a `cdk destroy`, a deleted stack or a replacement must not
	// take the HA pair down. Deleting the datastore is a deliberate act in
	// the console or the CLI, after the secondary is disassociated
	// (docs/infra.md, Destroy); the stacks are also termination-protected.
	global.ApplyRemovalPolicy(awscdk.RemovalPolicy_RETAIN, nil)
	return global
}

// newSecondaryGroup joins the secondary region to the Global Datastore by
// its full id. Node type, engine, version, encryption, Multi-AZ and failover
// settings are inherited from the Global Datastore and must not be set here
// (AWS: "Do not pass in values for these parameters" when joining one).
func newSecondaryGroup(scope constructs.Construct, s deployment.Settings, n *network, globalID, secretARN *string) awselasticache.CfnReplicationGroup {
	sg := subnetGroup(scope, n, s.SecondaryRGID+"-subnets")
	props := &awselasticache.CfnReplicationGroupProps{
		ReplicationGroupId:          jsii.String(s.SecondaryRGID),
		ReplicationGroupDescription: jsii.String("redisha secondary (Global Datastore member)"),
		GlobalReplicationGroupId:    globalID,
		Port:                        jsii.Number(float64(s.Port)),
		CacheSubnetGroupName:        sg.Ref(),
		SecurityGroupIds:            jsii.Strings(*n.cacheSG.SecurityGroupId()),
	}
	if m := s.Members(); m.ClusterMode {
		// The shard count is the Global Datastore's; each shard's
		// replicas may differ from the primary's (AWS), so they are given.
		props.ReplicasPerNodeGroup = jsii.Number(float64(m.Replicas))
	} else {
		props.NumCacheClusters = jsii.Number(float64(1 + m.Replicas))
	}
	if s.SecondaryAuthToken {
		// AWS does not say whether a secondary inherits the primary's AUTH
		// token, and AuthToken is not among the parameters it says not to pass
		// when joining: the secondary gets the same token, read from the
		// secret's replica in its own region (a dynamic reference, never the
		// value). verify checks AuthTokenEnabled on both members.
		props.AuthToken = awscdk.SecretValue_SecretsManager(secretARN, nil).UnsafeUnwrap()
	}
	rg := awselasticache.NewCfnReplicationGroup(scope, jsii.String("Secondary"), props)
	rg.ApplyRemovalPolicy(awscdk.RemovalPolicy_SNAPSHOT, nil)
	suppressions := []*cdknag.NagPackSuppression{
		{Id: jsii.String("AwsSolutions-AEC3"), Reason: jsii.String("A Global Datastore secondary inherits in-transit and at-rest encryption from the Global Datastore (both on); AWS lists both among the parameters not to pass when joining")},
		{Id: jsii.String("AwsSolutions-AEC4"), Reason: jsii.String("A Global Datastore secondary inherits automatic failover (AWS lists AutomaticFailoverEnabled among the parameters not to pass) and Multi-AZ from the Global Datastore; redisha verify checks both on the deployed member")},
	}
	if !s.SecondaryAuthToken {
		suppressions = append(suppressions, &cdknag.NagPackSuppression{Id: jsii.String("AwsSolutions-AEC6"),
			Reason: jsii.String("secondaryAuthToken=false: the deploy refused an AuthToken on the joining secondary, so it relies on the token the Global Datastore carries; redisha verify checks AuthTokenEnabled on the member")})
	}
	cdknag.NagSuppressions_AddResourceSuppressions(rg, &suppressions, jsii.Bool(false))
	return rg
}

// endpoint is host:port of a replication group's writer endpoint, and the
// host: the primary endpoint, or in cluster mode the configuration endpoint
// (the one name for every shard; clients learn the nodes from it).
func endpoint(rg awselasticache.CfnReplicationGroup, cluster bool) (addr, host *string) {
	host, port := rg.AttrPrimaryEndPointAddress(), rg.AttrPrimaryEndPointPort()
	if cluster {
		host, port = rg.AttrConfigurationEndPointAddress(), rg.AttrConfigurationEndPointPort()
	}
	return awscdk.Fn_Join(jsii.String(":"), jsii.Strings(*host, *port)), host
}

// newHeartbeatKey is the key the checkers sign the heartbeat with and the
// promoters verify it with (HMAC-SHA256, docs/failover.md): generated by
// Secrets Manager, replicated to the secondary region so both regions share
// it, readable only by the checkers' and promoters' roles.
func newHeartbeatKey(scope constructs.Construct, s deployment.Settings) awssecretsmanager.Secret {
	key := awssecretsmanager.NewSecret(scope, jsii.String("HeartbeatKey"), &awssecretsmanager.SecretProps{
		Description: jsii.String("redisha: key the checkers sign the replication heartbeat with"),
		GenerateSecretString: &awssecretsmanager.SecretStringGenerator{
			PasswordLength: jsii.Number(64), ExcludePunctuation: jsii.Bool(true),
		},
		ReplicaRegions: &[]*awssecretsmanager.ReplicaRegion{{Region: jsii.String(s.SecondaryRegion)}},
		// As the AUTH token: a primary secret with a replica is not deleted
		// with the stack (remove the replica first; docs/infra.md).
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})
	cdknag.NagSuppressions_AddResourceSuppressions(key, &[]*cdknag.NagPackSuppression{{
		Id: jsii.String("AwsSolutions-SMG4"),
		Reason: jsii.String("The heartbeat key is not rotated automatically: readers cache it, so heartbeats signed " +
			"with the previous key would be refused (and paged as unreadable) until every checker and promoter " +
			"read the new one. Replace it in a maintenance window; docs/failover.md says how"),
	}}, jsii.Bool(false))
	return key
}

// replicaSecretARN is the ARN of a secret's replica in region: the same
// partition, account, name and suffix (arn:aws:secretsmanager:<region>:
// <account>:secret:<name>-<suffix>), another region.
func replicaSecretARN(primaryARN *string, region string) *string {
	parts := *awscdk.Fn_Split(jsii.String(":"), primaryARN, jsii.Number(7))
	return jsii.String(fmt.Sprintf("arn:%s:secretsmanager:%s:%s:secret:%s", *parts[1], region, *parts[4], *parts[6]))
}
