package deployment

import (
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/redisha/redisha/internal/engine"
)

// ExistingGroup is one replication group of the owner's, in no Global
// Datastore yet, that the app makes the primary of a new Global Datastore
// and joins a secondary it creates to. It is read from what AWS says about
// the group: the ReplicationGroup object `aws elasticache
// describe-replication-groups` prints (context: existingPrimaryGroup), so
// the checks AWS makes when the datastore is created are made at synth.
type ExistingGroup struct {
	ID       string
	Engine   string // redis or valkey
	NodeType string
	// Nodes is the group's node count (primary and replicas).
	Nodes int
	// Endpoint is its primary endpoint, host:port.
	Endpoint string
	// AuthSecretARN holds its AUTH token (primary region); the secondary's
	// checker reads the secret's replica, SecondaryAuthSecretARN.
	AuthSecretARN          string // context: authSecretArn
	SecondaryAuthSecretARN string // context: secondaryAuthSecretArn (default: the replica of authSecretArn)
	// CacheSG is the group's security group: the checker is let in on the
	// port. context: primaryCacheSecurityGroupId
	CacheSG string
}

// awsReplicationGroup is the part of ElastiCache's ReplicationGroup the
// checks read, with AWS's own field names (encoding/json matches them case
// insensitively, so the AWS CLI's output decodes as it is).
type awsReplicationGroup struct {
	ReplicationGroupID       string `json:"ReplicationGroupId"`
	Status                   string
	Engine                   string
	CacheNodeType            string
	ClusterEnabled           *bool
	TransitEncryptionEnabled *bool
	AtRestEncryptionEnabled  *bool
	AuthTokenEnabled         *bool
	AutomaticFailover        string
	MultiAZ                  string
	MemberClusters           []string
	NodeGroups               []struct {
		PrimaryEndpoint *struct {
			Address string
			Port    int
		}
	}
	GlobalReplicationGroupInfo *struct {
		GlobalReplicationGroupID string `json:"GlobalReplicationGroupId"`
	}
}

// loadExistingGroup reads existingPrimaryGroup and the keys that go with
// it, and reports every check the group fails, each with its fix. set says
// whether a key was given (a value the group decides may not also be
// given differently).
func loadExistingGroup(s *Settings, ctx Context, str func(key, def string) string, bad func(key string, v any, fix string)) {
	v := ctx("existingPrimaryGroup")
	if v == nil {
		return
	}
	const key = "existingPrimaryGroup"
	raw, ok := v.(string)
	if !ok {
		b, _ := json.Marshal(v)
		raw = string(b)
	}
	g, err := decodeGroup(raw)
	if err != nil {
		bad(key, short(raw), "give the group as `aws elasticache describe-replication-groups --replication-group-id ID "+
			"--query 'ReplicationGroups[0]'` prints it (JSON): "+err.Error())
		return
	}
	e := &ExistingGroup{ID: g.ReplicationGroupID, Engine: strings.ToLower(g.Engine), NodeType: g.CacheNodeType, Nodes: len(g.MemberClusters),
		AuthSecretARN: str("authSecretArn", ""), CacheSG: str("primaryCacheSecurityGroupId", "")}
	e.SecondaryAuthSecretARN = str("secondaryAuthSecretArn", replicaARN(e.AuthSecretARN, s.SecondaryRegion))
	s.Existing = e
	set := func(k string) bool { return ctx(k) != nil }

	if s.Adopt != nil {
		bad(key, e.ID, "give existingPrimaryGroup (a group to build a Global Datastore around) or existingGlobalDatastoreId (one that exists), not both")
	}
	if !rgIDRE.MatchString(e.ID) {
		bad(key, e.ID, "ReplicationGroupId is missing or not a replication group id: paste the ReplicationGroup object AWS prints")
	}
	if g.Status != "" && g.Status != "available" {
		bad(key, e.ID+" is "+g.Status, "wait until the group is available, then read it again")
	}
	if i := g.GlobalReplicationGroupInfo; i != nil && i.GlobalReplicationGroupID != "" {
		bad(key, e.ID, "the group is already a member of the Global Datastore "+i.GlobalReplicationGroupID+
			": adopt that one instead (existingGlobalDatastoreId and the keys of docs/infra.md, Adopt an existing Global Datastore)")
	}
	if g.ClusterEnabled != nil && *g.ClusterEnabled {
		bad(key, e.ID, "cluster mode is enabled on the group: building around an existing group takes a cluster-mode-disabled one "+
			"(for a sharded datastore, let the app create it: -c shards=N, and move the data with redisha migrate)")
	} else if s.Shards != 1 || s.ClusterMode {
		bad("shards", s.Shards, "the existing group has one shard, cluster mode disabled: drop shards and clusterMode")
	}
	// The primary decides what a Global Datastore's members are: the
	// settings may repeat its values, never contradict them.
	if set("primaryReplicationGroupId") && s.PrimaryRGID != e.ID {
		bad("primaryReplicationGroupId", s.PrimaryRGID, "it is the existing group's id ("+e.ID+"): drop the key or give that")
	}
	s.PrimaryRGID = e.ID
	if !set("secondaryReplicationGroupId") {
		bad("secondaryReplicationGroupId", "(not set)", "name the replication group the app creates in "+s.SecondaryRegion+
			" (no default when building around an existing group: a default could collide with a group of yours)")
	}
	if e.Engine != "redis" && e.Engine != "valkey" {
		bad(key, "Engine "+g.Engine, "a Global Datastore holds redis or valkey groups")
	} else if set("engine") && string(s.Engine) != e.Engine {
		bad("engine", s.Engine, "the existing group runs "+e.Engine+": drop the key or give that (to move a Redis OSS group to Valkey, "+
			"upgrade it first: aws elasticache modify-replication-group --engine valkey --engine-version 8.2)")
	} else if !set("engineVersion") {
		bad("engineVersion", "(not set)", "give the group's engine version (aws elasticache describe-cache-clusters --cache-cluster-id "+
			firstOr(g.MemberClusters, "MEMBER")+" --query 'CacheClusters[0].EngineVersion'): the group's description does not carry it")
	} else if _, err := engine.Validate(e.Engine, s.EngineVersion, true); err != nil {
		bad("engineVersion", s.EngineVersion, err.Error())
	} else {
		s.Engine = engine.Name(e.Engine)
	}
	if err := engine.ValidateGlobalNodeType(e.NodeType); err != nil {
		bad(key, "CacheNodeType "+e.NodeType, err.Error()+" (scale the group first: aws elasticache modify-replication-group --cache-node-type)")
	}
	if set("nodeType") && s.NodeType != e.NodeType {
		bad("nodeType", s.NodeType, "the existing group's node type is "+e.NodeType+": drop the key or give that (a Global Datastore's members share one)")
	}
	s.NodeType = e.NodeType
	if e.Nodes < 2 {
		bad(key, strconv.Itoa(e.Nodes)+" node(s)", "AWS: replication must be enabled; add a replica first (aws elasticache increase-replica-count "+
			"--replication-group-id "+e.ID+" --new-replica-count 1 --apply-immediately)")
	}
	if set("replicas") && e.Nodes >= 2 && s.Replicas != e.Nodes-1 {
		bad("replicas", s.Replicas, "the existing group has "+strconv.Itoa(e.Nodes-1)+" replica(s): give that or drop the key "+
			"(both regions get one count, and the alarms watch that many nodes in each)")
	}
	if !set("replicas") {
		s.Replicas = max(e.Nodes-1, 1)
	}
	if g.AutomaticFailover != "enabled" || g.MultiAZ != "enabled" {
		bad(key, "AutomaticFailover "+orUnset(g.AutomaticFailover)+", MultiAZ "+orUnset(g.MultiAZ),
			"the secondary inherits both from the primary, and an in-region failover must not need a person: enable them "+
				"(aws elasticache modify-replication-group --automatic-failover-enabled --multi-az-enabled --apply-immediately)")
	}
	if !isTrue(g.TransitEncryptionEnabled) {
		bad(key, e.ID+": TransitEncryptionEnabled false", "the checkers verify TLS and AUTH needs it: enable in-transit encryption "+
			"(modify-replication-group --transit-encryption-enabled --transit-encryption-mode preferred, move the clients to TLS, then required)")
	}
	if !isTrue(g.AtRestEncryptionEnabled) {
		bad(key, e.ID+": AtRestEncryptionEnabled false", "at-rest encryption cannot be turned on for an existing group, and the "+
			"secondary would inherit it off: copy the data into a new encrypted group (redisha migrate, docs/migration.md) and build around that")
	}
	if !isTrue(g.AuthTokenEnabled) {
		bad(key, e.ID+": AuthTokenEnabled false", "every caller would be let in: set an AUTH token (modify-replication-group --auth-token … "+
			"--auth-token-update-strategy SET --apply-immediately), keep it in Secrets Manager and give authSecretArn")
	}
	if len(g.NodeGroups) != 1 || g.NodeGroups[0].PrimaryEndpoint == nil || g.NodeGroups[0].PrimaryEndpoint.Address == "" {
		bad(key, e.ID, "the group has no primary endpoint (NodeGroups[0].PrimaryEndpoint): paste the whole ReplicationGroup object")
	} else {
		ep := g.NodeGroups[0].PrimaryEndpoint
		if set("port") && s.Port != ep.Port {
			bad("port", s.Port, "the existing group listens on "+strconv.Itoa(ep.Port)+": drop the key or give that")
		}
		s.Port = ep.Port
		e.Endpoint = net.JoinHostPort(ep.Address, strconv.Itoa(ep.Port))
	}
	for _, c := range []struct{ key, v, region string }{{"authSecretArn", e.AuthSecretARN, s.PrimaryRegion}, {"secondaryAuthSecretArn", e.SecondaryAuthSecretARN, s.SecondaryRegion}} {
		if !secretARNIn(c.v, c.region) {
			bad(c.key, c.v, "give the ARN of the secret holding the group's AUTH token in "+c.region+
				" (replicate it to "+s.SecondaryRegion+": the secondary's checker reads the replica), arn:aws:secretsmanager:"+c.region+":ACCOUNT:secret:NAME")
		}
	}
	if !sgRE.MatchString(e.CacheSG) {
		bad("primaryCacheSecurityGroupId", e.CacheSG, "give the existing group's security group (sg-…): the checker is let in on the port")
	}
	if s.PrimaryVpcID == "" {
		bad(key, e.ID, "the existing group lives in an existing VPC: set primaryVpcId and primarySubnetIds (subnets the checker can reach it from)")
	}
	if s.Created != nil {
		bad("createdWith", s.Created.Record(), "the primary group is not the stacks' own: drop createdWith")
	}
}

// decodeGroup reads one ReplicationGroup object, or the whole
// describe-replication-groups answer holding exactly one.
func decodeGroup(raw string) (awsReplicationGroup, error) {
	var whole struct{ ReplicationGroups []awsReplicationGroup }
	if err := json.Unmarshal([]byte(raw), &whole); err == nil && len(whole.ReplicationGroups) > 0 {
		if len(whole.ReplicationGroups) != 1 {
			return awsReplicationGroup{}, fmt.Errorf("the answer holds %d groups, give one", len(whole.ReplicationGroups))
		}
		return whole.ReplicationGroups[0], nil
	}
	var g awsReplicationGroup
	err := json.Unmarshal([]byte(raw), &g)
	return g, err
}

// secretARNIn says whether arn is a Secrets Manager secret's ARN in region.
func secretARNIn(arn, region string) bool {
	return arnIn(arn, "secretsmanager", region) && len(strings.Split(arn, ":")) >= 7
}

// arnIn says whether arn is an ARN of service in region, with an account
// and a resource.
func arnIn(arn, service, region string) bool {
	p := strings.Split(arn, ":")
	return strings.HasPrefix(arn, "arn:") && len(p) >= 6 && p[2] == service && p[3] == region && p[4] != "" && p[5] != ""
}

func isTrue(b *bool) bool { return b != nil && *b }

func orUnset(s string) string {
	if s == "" {
		return "(not given)"
	}
	return s
}

func firstOr(xs []string, def string) string {
	if len(xs) == 0 {
		return def
	}
	return xs[0]
}

// short is v cut to a length an error line can carry.
func short(v string) string {
	if len(v) > 80 {
		return v[:77] + "..."
	}
	return v
}
