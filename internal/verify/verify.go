// Package verify checks, with read-only AWS calls, what a synthesized
// template cannot show about a deployed redisha: that both Global Datastore
// members have the AUTH token, encryption, Multi-AZ and automatic failover
// AWS says a joining secondary inherits, that both belong to the datastore,
// and that the metrics the alarms read exist with exactly the dimensions
// the alarms use, that the alarm topics have confirmed subscribers and keys
// CloudWatch may use, that the applications' name resolves to the member
// that is PRIMARY now, and (a dry run) that the promoter may do what it
// needs. Each check is one Result; the caller prints them.
package verify

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"
	ectypes "github.com/aws/aws-sdk-go-v2/service/elasticache/types"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"

	"github.com/redisha/redisha/internal/metrics"
)

// ElastiCacheAPI is the read-only ElastiCache call verify makes.
type ElastiCacheAPI interface {
	DescribeReplicationGroups(ctx context.Context, in *elasticache.DescribeReplicationGroupsInput,
		optFns ...func(*elasticache.Options)) (*elasticache.DescribeReplicationGroupsOutput, error)
}

// CloudWatchAPI is the read-only CloudWatch call verify makes.
type CloudWatchAPI interface {
	ListMetrics(ctx context.Context, in *cloudwatch.ListMetricsInput,
		optFns ...func(*cloudwatch.Options)) (*cloudwatch.ListMetricsOutput, error)
}

// SNSAPI is the read-only SNS call verify makes.
type SNSAPI interface {
	ListSubscriptionsByTopic(ctx context.Context, in *sns.ListSubscriptionsByTopicInput,
		optFns ...func(*sns.Options)) (*sns.ListSubscriptionsByTopicOutput, error)
}

// Member is one region's Global Datastore member and the clients of its
// region.
type Member struct {
	Region  string
	GroupID string // replication group id
	// Role is the member's expected role in the datastore: PRIMARY or
	// SECONDARY.
	Role        string
	ElastiCache ElastiCacheAPI
	CloudWatch  CloudWatchAPI
	// TopicARN is the region's alarm topic (output AlarmTopicArn); empty
	// skips the paging check.
	TopicARN string
	SNS      SNSAPI
	// TopicKey is the alarm topic's KMS key (ARN or id); empty skips the
	// key policy check. KMS is the region's client that reads it.
	TopicKey string
	KMS      KMSAPI
	// PromoterRole is the ARN of the region's promoter role; empty skips
	// the permission dry run. IAM is the (global) client that simulates it.
	PromoterRole string
	Permissions  []Permission
	IAM          IAMAPI
}

// Target is the deployment to verify.
type Target struct {
	// GlobalID is the Global Datastore's full id (output GlobalDatastoreId);
	// empty skips the membership's id check.
	GlobalID string
	// Nodes is the number of nodes in each group's shard (1 + replicas).
	Nodes int
	// Cluster says the groups run in cluster mode, of Shards shards (node
	// groups) each; their nodes are named by shard.
	Cluster bool
	Shards  int
	// Namespace of the checker's metrics. default: metrics.DefaultNamespace
	Namespace string
	// CallTimeout bounds each AWS call within the caller's deadline.
	// default: 10 s
	CallTimeout time.Duration
	Members     []Member
	// HealthChecks are the failover records' health checks; none skips the
	// DNS checks. Route53 is the client that reads them.
	HealthChecks []HealthCheck
	Route53      Route53API
	// Resolve is the name the applications use (redis.internal); empty
	// skips the check. Run inside the VPC: its CNAME chain must end at the
	// endpoint of the member that is PRIMARY now. Resolver looks it up;
	// nil: net.DefaultResolver.
	Resolve  string
	Resolver CNAMEResolver
}

// Result is one check.
type Result struct {
	Check  string `json:"check"`
	Region string `json:"region"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// String is the result as one line: "ok   us-east-1 auth token: …".
func (r Result) String() string {
	mark := "FAIL"
	if r.OK {
		mark = "ok  "
	}
	return fmt.Sprintf("%s %-14s %s: %s", mark, r.Region, r.Check, r.Detail)
}

// Failed counts the results that are not OK.
func Failed(rs []Result) int {
	n := 0
	for _, r := range rs {
		if !r.OK {
			n++
		}
	}
	return n
}

// Run runs every check on every member, in order, and returns one Result
// per check. An AWS call that fails fails its checks, naming the call.
func Run(ctx context.Context, t Target) []Result {
	if t.CallTimeout <= 0 {
		t.CallTimeout = 10 * time.Second
	}
	if t.Namespace == "" {
		t.Namespace = metrics.DefaultNamespace
	}
	var out []Result
	primaryEndpoint := ""
	for _, m := range t.Members {
		rs, endpoint := t.member(ctx, m)
		out = append(out, rs...)
		if endpoint != "" {
			primaryEndpoint = endpoint
		}
		out = append(out, t.metrics(ctx, m)...)
		if m.TopicARN != "" {
			out = append(out, t.paging(ctx, m))
		}
		if m.TopicKey != "" && m.KMS != nil {
			out = append(out, t.topicKey(ctx, m))
		}
		if m.PromoterRole != "" && m.IAM != nil {
			out = append(out, t.promoter(ctx, m))
		}
	}
	if t.Resolve != "" {
		out = append(out, t.resolve(ctx, primaryEndpoint))
	}
	if len(t.HealthChecks) > 0 && t.Route53 != nil {
		out = append(out, t.healthChecks(ctx)...)
	}
	return out
}

// paging checks that the alarm topic has subscribers and that each one
// confirmed (an unconfirmed e-mail subscription receives nothing).
func (t Target) paging(ctx context.Context, m Member) Result {
	r := Result{Check: "paging subscription", Region: m.Region}
	var subs []snstypes.Subscription
	in := &sns.ListSubscriptionsByTopicInput{TopicArn: aws.String(m.TopicARN)}
	for {
		cctx, cancel := context.WithTimeout(ctx, t.CallTimeout)
		out, err := m.SNS.ListSubscriptionsByTopic(cctx, in)
		cancel()
		if err != nil {
			r.Detail = fmt.Sprintf("ListSubscriptionsByTopic %s: %v", m.TopicARN, err)
			return r
		}
		subs = append(subs, out.Subscriptions...)
		if aws.ToString(out.NextToken) == "" {
			break
		}
		in.NextToken = out.NextToken
	}
	var pending []string
	for _, s := range subs {
		if aws.ToString(s.SubscriptionArn) == "PendingConfirmation" {
			pending = append(pending, aws.ToString(s.Protocol)+":"+aws.ToString(s.Endpoint))
		}
	}
	switch {
	case len(subs) == 0:
		r.Detail = "no subscriber on " + m.TopicARN + ": nobody is paged (deploy with -c alarmEmail=…, or subscribe on-call)"
	case len(pending) > 0:
		r.Detail = fmt.Sprintf("%d of %d subscriptions not confirmed (%s): confirm them from the message AWS sent",
			len(pending), len(subs), strings.Join(pending, ", "))
	default:
		r.OK, r.Detail = true, fmt.Sprintf("%d confirmed subscription(s) on %s", len(subs), m.TopicARN)
	}
	return r
}

// member checks the replication group as AWS describes it, and returns its
// primary endpoint when the group is the datastore's PRIMARY now.
func (t Target) member(ctx context.Context, m Member) ([]Result, string) {
	res := func(check string, ok bool, format string, a ...any) Result {
		return Result{Check: check, Region: m.Region, OK: ok, Detail: fmt.Sprintf(format, a...)}
	}
	cctx, cancel := context.WithTimeout(ctx, t.CallTimeout)
	defer cancel()
	out, err := m.ElastiCache.DescribeReplicationGroups(cctx, &elasticache.DescribeReplicationGroupsInput{ReplicationGroupId: aws.String(m.GroupID)})
	if err == nil && len(out.ReplicationGroups) != 1 {
		err = fmt.Errorf("%d groups described, want 1", len(out.ReplicationGroups))
	}
	if err != nil {
		return []Result{res("replication group", false, "DescribeReplicationGroups %s: %v", m.GroupID, err)}, ""
	}
	g := out.ReplicationGroups[0]
	var rs []Result
	rs = append(rs, res("auth token", aws.ToBool(g.AuthTokenEnabled),
		"%s AuthTokenEnabled=%v (clients and the checker send the AUTH token)", m.GroupID, aws.ToBool(g.AuthTokenEnabled)))
	enc := aws.ToBool(g.TransitEncryptionEnabled) && aws.ToBool(g.AtRestEncryptionEnabled)
	rs = append(rs, res("encryption", enc, "%s TransitEncryptionEnabled=%v AtRestEncryptionEnabled=%v",
		m.GroupID, aws.ToBool(g.TransitEncryptionEnabled), aws.ToBool(g.AtRestEncryptionEnabled)))
	ha := g.MultiAZ == ectypes.MultiAZStatusEnabled && g.AutomaticFailover == ectypes.AutomaticFailoverStatusEnabled
	rs = append(rs, res("multi-az and failover", ha, "%s MultiAZ=%s AutomaticFailover=%s", m.GroupID, g.MultiAZ, g.AutomaticFailover))
	info := g.GlobalReplicationGroupInfo
	switch {
	case info == nil || aws.ToString(info.GlobalReplicationGroupId) == "":
		rs = append(rs, res("global datastore member", false, "%s is not a Global Datastore member", m.GroupID))
	case t.GlobalID != "" && aws.ToString(info.GlobalReplicationGroupId) != t.GlobalID:
		rs = append(rs, res("global datastore member", false, "%s belongs to %s, want %s",
			m.GroupID, aws.ToString(info.GlobalReplicationGroupId), t.GlobalID))
	case m.Role != "" && !strings.EqualFold(aws.ToString(info.GlobalReplicationGroupMemberRole), m.Role):
		rs = append(rs, res("global datastore member", false, "%s is %s in %s, want %s (failed over? see docs/infra.md)",
			m.GroupID, aws.ToString(info.GlobalReplicationGroupMemberRole), aws.ToString(info.GlobalReplicationGroupId), m.Role))
	default:
		rs = append(rs, res("global datastore member", true, "%s is %s in %s",
			m.GroupID, aws.ToString(info.GlobalReplicationGroupMemberRole), aws.ToString(info.GlobalReplicationGroupId)))
	}
	endpoint := ""
	switch primary := info != nil && strings.EqualFold(aws.ToString(info.GlobalReplicationGroupMemberRole), "PRIMARY"); {
	case primary && g.ConfigurationEndpoint != nil:
		// Cluster mode: the name clients and the failover records use.
		endpoint = aws.ToString(g.ConfigurationEndpoint.Address)
	case primary && len(g.NodeGroups) > 0 && g.NodeGroups[0].PrimaryEndpoint != nil:
		endpoint = aws.ToString(g.NodeGroups[0].PrimaryEndpoint.Address)
	}
	return rs, endpoint
}

// NodeClusters are the node clusters of a group of n nodes: <group>-001 …
// <group>-00n. The primary is any of them (Multi-AZ failover promotes a
// replica without renaming it); the CDK app's alarms and verify both name
// the nodes with it.
func NodeClusters(groupID string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%03d", groupID, i+1)
	}
	return out
}

// GroupNodes are the node clusters of a group: with cluster mode off, one
// shard of perShard nodes (NodeClusters); with it on, shards of perShard
// nodes each, <group>-0001-001 … (ElastiCache names a cluster-mode node by
// its node group and its place in it), shard by shard.
func GroupNodes(groupID string, cluster bool, shards, perShard int) []string {
	if !cluster {
		return NodeClusters(groupID, perShard)
	}
	var out []string
	for _, shard := range ShardNodes(groupID, shards, perShard) {
		out = append(out, shard...)
	}
	return out
}

// ShardNodes are a cluster-mode group's node clusters, one list per shard.
func ShardNodes(groupID string, shards, perShard int) [][]string {
	out := make([][]string, shards)
	for s := range out {
		out[s] = make([]string, perShard)
		for n := range out[s] {
			out[s][n] = fmt.Sprintf("%s-%04d-%03d", groupID, s+1, n+1)
		}
	}
	return out
}

// nodes are the node clusters of a member as t describes the groups.
func (t Target) nodes(groupID string) []string {
	return GroupNodes(groupID, t.Cluster, max(t.Shards, 1), t.Nodes)
}

// metrics checks that the metrics the alarms read exist, with the alarms'
// exact dimension sets.
func (t Target) metrics(ctx context.Context, m Member) []Result {
	var rs []Result
	// The node alarms: every node's metric under {CacheClusterId, CacheNodeId=0001}.
	var missing []string
	nodes := t.nodes(m.GroupID)
	for _, c := range nodes {
		want := map[string]string{"CacheClusterId": c, "CacheNodeId": "0001"}
		found, err := t.exists(ctx, m.CloudWatch, "AWS/ElastiCache", "EngineCPUUtilization", want)
		if err != nil {
			return append(rs, Result{Check: "node metrics", Region: m.Region, Detail: err.Error()})
		}
		if !found {
			missing = append(missing, c)
		}
	}
	rs = append(rs, Result{Check: "node metrics", Region: m.Region, OK: len(missing) == 0,
		Detail: nodeDetail(m.GroupID, len(nodes), missing)})
	// The paging alarms read the checker's status; the Route 53 health
	// checks follow the writable alarms: each metric with its dimension.
	want := map[string]string{"ReplicationGroup": m.GroupID}
	for _, c := range []struct{ check, metric, fix string }{
		{"checker metric", metrics.HealthCheckStatus, "is the checker running and publishing?"},
		{"writable metric", metrics.WritableStatus, "the writable alarm, and the failover record's health check, are blind: is the checker running a role-aware version?"},
	} {
		found, err := t.exists(ctx, m.CloudWatch, t.Namespace, c.metric, want)
		r := Result{Check: c.check, Region: m.Region, OK: found && err == nil,
			Detail: fmt.Sprintf("%s %s{ReplicationGroup=%s} exists", t.Namespace, c.metric, m.GroupID)}
		if err != nil {
			r.Detail = err.Error()
		} else if !found {
			r.Detail = fmt.Sprintf("no %s %s{ReplicationGroup=%s}: %s", t.Namespace, c.metric, m.GroupID, c.fix)
		}
		rs = append(rs, r)
	}
	// The cross-region lag alarm: published by the secondary member's nodes.
	if strings.EqualFold(m.Role, "SECONDARY") {
		var any bool
		for _, c := range nodes {
			found, err := t.exists(ctx, m.CloudWatch, "AWS/ElastiCache", "GlobalDatastoreReplicationLag", map[string]string{"CacheClusterId": c, "CacheNodeId": "0001"})
			if err != nil {
				return append(rs, Result{Check: "cross-region lag metric", Region: m.Region, Detail: err.Error()})
			}
			any = any || found
		}
		detail := "GlobalDatastoreReplicationLag{CacheClusterId, CacheNodeId=0001} exists on a node of " + m.GroupID
		if !any {
			detail = "no GlobalDatastoreReplicationLag{CacheClusterId, CacheNodeId=0001} on any node of " + m.GroupID +
				": the lag alarms are blind; find the real dimensions with aws cloudwatch list-metrics"
		}
		rs = append(rs, Result{Check: "cross-region lag metric", Region: m.Region, OK: any, Detail: detail})
	}
	return rs
}

func nodeDetail(group string, n int, missing []string) string {
	if len(missing) == 0 {
		return fmt.Sprintf("EngineCPUUtilization{CacheClusterId, CacheNodeId=0001} exists for all %d nodes of %s", n, group)
	}
	return fmt.Sprintf("no EngineCPUUtilization{CacheClusterId, CacheNodeId=0001} for %s: the node alarms are blind there; "+
		"find the real dimensions with aws cloudwatch list-metrics", strings.Join(missing, ", "))
}

// exists reports whether a metric exists with exactly the given dimensions
// (ListMetrics matches dimension sets that contain them; the alarm needs
// the set itself).
func (t Target) exists(ctx context.Context, cw CloudWatchAPI, namespace, name string, dims map[string]string) (bool, error) {
	var filters []cwtypes.DimensionFilter
	for _, k := range slices.Sorted(maps.Keys(dims)) {
		filters = append(filters, cwtypes.DimensionFilter{Name: aws.String(k), Value: aws.String(dims[k])})
	}
	in := &cloudwatch.ListMetricsInput{Namespace: aws.String(namespace), MetricName: aws.String(name), Dimensions: filters}
	for {
		cctx, cancel := context.WithTimeout(ctx, t.CallTimeout)
		out, err := cw.ListMetrics(cctx, in)
		cancel()
		if err != nil {
			return false, fmt.Errorf("ListMetrics %s %s: %w", namespace, name, err)
		}
		for _, m := range out.Metrics {
			if sameDimensions(m.Dimensions, dims) {
				return true, nil
			}
		}
		if aws.ToString(out.NextToken) == "" {
			return false, nil
		}
		in.NextToken = out.NextToken
	}
}

func sameDimensions(ds []cwtypes.Dimension, want map[string]string) bool {
	if len(ds) != len(want) {
		return false
	}
	for _, d := range ds {
		if v, ok := want[aws.ToString(d.Name)]; !ok || v != aws.ToString(d.Value) {
			return false
		}
	}
	return true
}

// ErrNoMembers is returned by Validate for a target without members.
var ErrNoMembers = errors.New("no member to verify")

// Validate reports a target that cannot be checked, naming the field.
func (t Target) Validate() error {
	if len(t.Members) == 0 {
		return ErrNoMembers
	}
	if t.Nodes < 1 {
		return fmt.Errorf("nodes %d: give the number of nodes per group (1 + replicas)", t.Nodes)
	}
	for _, m := range t.Members {
		if m.Region == "" || m.GroupID == "" {
			return fmt.Errorf("member %+v: give its region and replication group id", m)
		}
	}
	return nil
}

// Route53API is the read-only Route 53 call verify makes.
type Route53API interface {
	GetHealthCheckStatus(ctx context.Context, in *route53.GetHealthCheckStatusInput,
		optFns ...func(*route53.Options)) (*route53.GetHealthCheckStatusOutput, error)
}

// HealthCheck is a failover record's health check (outputs HealthCheckId
// and SecondaryHealthCheckId of the DNS stack).
type HealthCheck struct {
	Record string // PRIMARY or SECONDARY
	ID     string
}

// healthChecks reads each failover record's health check status and checks
// that DNS follows exactly one writer: one record healthy, the other not.
// Both unhealthy: nothing takes writes and Route 53 answers the PRIMARY;
// both healthy: both regions claim to take writes.
func (t Target) healthChecks(ctx context.Context) []Result {
	var rs []Result
	healthy := 0
	for _, hc := range t.HealthChecks {
		r := Result{Check: "health check " + hc.Record, Region: "route53"}
		cctx, cancel := context.WithTimeout(ctx, t.CallTimeout)
		out, err := t.Route53.GetHealthCheckStatus(cctx, &route53.GetHealthCheckStatusInput{HealthCheckId: aws.String(hc.ID)})
		cancel()
		if err != nil {
			r.Detail = fmt.Sprintf("GetHealthCheckStatus %s: %v", hc.ID, err)
			rs = append(rs, r)
			continue
		}
		ok := 0
		for _, o := range out.HealthCheckObservations {
			if o.StatusReport != nil && strings.HasPrefix(aws.ToString(o.StatusReport.Status), "Success") {
				ok++
			}
		}
		// Route 53 counts a health check healthy when more than 18 % of its
		// checkers report success.
		up := len(out.HealthCheckObservations) > 0 && float64(ok) > 0.18*float64(len(out.HealthCheckObservations))
		state := map[bool]string{true: "healthy", false: "unhealthy"}[up]
		r.OK = len(out.HealthCheckObservations) > 0
		r.Detail = fmt.Sprintf("%s is %s (%d of %d observations succeed)", hc.ID, state, ok, len(out.HealthCheckObservations))
		if !r.OK {
			r.Detail = fmt.Sprintf("%s has no observations yet: wait a minute after the deploy", hc.ID)
		}
		if up {
			healthy++
		}
		rs = append(rs, r)
	}
	if len(t.HealthChecks) == 2 && len(rs) == 2 && rs[0].OK && rs[1].OK {
		r := Result{Check: "dns follows one writer", Region: "route53", OK: healthy == 1,
			Detail: "exactly one failover record is healthy: redis.internal answers the region that takes writes"}
		if healthy == 0 {
			r.Detail = "both failover records are unhealthy: no region takes writes (Route 53 answers the PRIMARY)"
		} else if healthy == 2 {
			r.Detail = "both failover records are healthy: both regions report taking writes"
		}
		rs = append(rs, r)
	}
	return rs
}
