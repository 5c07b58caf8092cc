// Package verifylocal is the AWS side of a deployed redisha on loopback, for
// verify's tests and the CLI's: an ElastiCache endpoint answering
// DescribeReplicationGroups and an SNS endpoint answering
// ListSubscriptionsByTopic in the awsquery protocol, a Route 53 endpoint
// answering GetHealthCheckStatus in REST-XML, and a CloudWatch
// endpoint answering ListMetrics in RPCv2 CBOR, a KMS endpoint answering
// GetKeyPolicy in awsJson1_1, an IAM endpoint answering
// SimulatePrincipalPolicy in awsquery, as the real aws-sdk-go-v2 clients
// speak them (serve them with httptest.NewServer), and a DNS server for a
// net.Resolver.
package verifylocal

import (
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/fxamacker/cbor/v2"

	"github.com/redisha/redisha/internal/verify"
)

// Group is a replication group as the local ElastiCache describes it.
type Group struct {
	ID, GlobalID, Role         string
	Auth, Transit, AtRest      bool
	MultiAZ, AutomaticFailover string // enabled | disabled
	// Endpoint is the primary endpoint's address; empty: none described.
	Endpoint string
}

// ElastiCache is a local ElastiCache endpoint answering
// DescribeReplicationGroups in the awsquery protocol the SDK speaks: a
// form-encoded POST, an XML answer, an XML error for an unknown group.
type ElastiCache struct {
	mu     sync.Mutex
	Groups map[string]Group // by id
	asked  []url.Values
}

// ServeHTTP answers one DescribeReplicationGroups request.
func (e *ElastiCache) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	form, err := url.ParseQuery(string(body))
	if err != nil || r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" ||
		!strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
		http.Error(w, "not an awsquery request", http.StatusBadRequest)
		return
	}
	e.mu.Lock()
	e.asked = append(e.asked, form)
	g, ok := e.Groups[form.Get("ReplicationGroupId")]
	e.mu.Unlock()
	if form.Get("Action") != "DescribeReplicationGroups" || form.Get("Version") != "2015-02-02" {
		http.Error(w, "unexpected action "+form.Get("Action"), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	if !ok {
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, `<ErrorResponse xmlns="http://elasticache.amazonaws.com/doc/2015-02-02/"><Error><Type>Sender</Type>`+
			`<Code>ReplicationGroupNotFoundFault</Code><Message>ReplicationGroup %s not found.</Message></Error><RequestId>r1</RequestId></ErrorResponse>`,
			xmlEscape(form.Get("ReplicationGroupId")))
		return
	}
	info := ""
	if g.GlobalID != "" {
		info = fmt.Sprintf(`<GlobalReplicationGroupInfo><GlobalReplicationGroupId>%s</GlobalReplicationGroupId>`+
			`<GlobalReplicationGroupMemberRole>%s</GlobalReplicationGroupMemberRole></GlobalReplicationGroupInfo>`, g.GlobalID, g.Role)
	}
	if g.Endpoint != "" {
		info += fmt.Sprintf(`<NodeGroups><NodeGroup><NodeGroupId>0001</NodeGroupId><PrimaryEndpoint><Address>%s</Address>`+
			`<Port>6379</Port></PrimaryEndpoint></NodeGroup></NodeGroups>`, xmlEscape(g.Endpoint))
	}
	fmt.Fprintf(w, `<DescribeReplicationGroupsResponse xmlns="http://elasticache.amazonaws.com/doc/2015-02-02/">`+
		`<DescribeReplicationGroupsResult><ReplicationGroups><ReplicationGroup>`+
		`<ReplicationGroupId>%s</ReplicationGroupId><Status>available</Status>%s`+
		`<AutomaticFailover>%s</AutomaticFailover><MultiAZ>%s</MultiAZ>`+
		`<AuthTokenEnabled>%v</AuthTokenEnabled><TransitEncryptionEnabled>%v</TransitEncryptionEnabled><AtRestEncryptionEnabled>%v</AtRestEncryptionEnabled>`+
		`</ReplicationGroup></ReplicationGroups></DescribeReplicationGroupsResult>`+
		`<ResponseMetadata><RequestId>r2</RequestId></ResponseMetadata></DescribeReplicationGroupsResponse>`,
		g.ID, info, g.AutomaticFailover, g.MultiAZ, g.Auth, g.Transit, g.AtRest)
}

func xmlEscape(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// Metric is one metric the local CloudWatch lists.
type Metric struct {
	Namespace, Name string
	Dims            map[string]string
}

// CloudWatch is a local CloudWatch endpoint answering ListMetrics in the
// RPCv2 CBOR protocol the SDK speaks, one metric per page (so paging is
// exercised), filtering as CloudWatch does: the listed metrics' dimension
// sets contain the filter's.
type CloudWatch struct {
	Metrics []Metric
	// Stall delays every answer, until the client gives up.
	Stall time.Duration
}

type wireDimension struct {
	Name  *string `cbor:"Name,omitempty"`
	Value *string `cbor:"Value,omitempty"`
}

type wireListMetrics struct {
	Namespace  *string         `cbor:"Namespace,omitempty"`
	MetricName *string         `cbor:"MetricName,omitempty"`
	Dimensions []wireDimension `cbor:"Dimensions,omitempty"`
	NextToken  *string         `cbor:"NextToken,omitempty"`
}

// ServeHTTP answers one ListMetrics request.
func (c *CloudWatch) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body) // read first: the server notices a closed connection only after the body
	if c.Stall > 0 {
		select {
		case <-time.After(c.Stall):
		case <-r.Context().Done():
			return
		}
	}
	if r.URL.Path != "/service/GraniteServiceVersion20100801/operation/ListMetrics" ||
		r.Header.Get("Smithy-Protocol") != "rpc-v2-cbor" || r.Header.Get("Content-Type") != "application/cbor" {
		http.Error(w, "not an RPCv2 CBOR ListMetrics request: "+r.URL.Path, http.StatusBadRequest)
		return
	}
	var in wireListMetrics
	dec, _ := cbor.DecOptions{ExtraReturnErrors: cbor.ExtraDecErrorUnknownField}.DecMode()
	if err := dec.Unmarshal(body, &in); err != nil {
		http.Error(w, "decode ListMetrics: "+err.Error(), http.StatusBadRequest)
		return
	}
	var match []Metric
	for _, m := range c.Metrics {
		if m.Namespace == aws.ToString(in.Namespace) && m.Name == aws.ToString(in.MetricName) && contains(m.Dims, in.Dimensions) {
			match = append(match, m)
		}
	}
	start := 0
	if in.NextToken != nil {
		fmt.Sscanf(*in.NextToken, "page-%d", &start)
	}
	out := map[string]any{"Metrics": []any{}}
	if start < len(match) {
		m := match[start]
		var dims []map[string]string
		for k, v := range m.Dims {
			dims = append(dims, map[string]string{"Name": k, "Value": v})
		}
		out["Metrics"] = []any{map[string]any{"Namespace": m.Namespace, "MetricName": m.Name, "Dimensions": dims}}
		if start+1 < len(match) {
			out["NextToken"] = fmt.Sprintf("page-%d", start+1)
		}
	}
	b, _ := cbor.Marshal(out)
	w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
	w.Header().Set("Content-Type", "application/cbor")
	_, _ = w.Write(b)
}

func contains(have map[string]string, filter []wireDimension) bool {
	for _, f := range filter {
		if v, ok := have[aws.ToString(f.Name)]; !ok || (f.Value != nil && v != *f.Value) {
			return false
		}
	}
	return true
}

// Asked returns the forms of the requests received so far.
func (e *ElastiCache) Asked() []url.Values {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]url.Values(nil), e.asked...)
}

// HealthyMetrics are what a working deployment publishes for a group of n
// nodes: every node's EngineCPUUtilization under both dimension sets, the
// cross-region lag on the secondary's, and the checker's status and
// writability.
func HealthyMetrics(groupID string, nodes int, secondary bool) []Metric {
	var ms []Metric
	for _, c := range verify.NodeClusters(groupID, nodes) {
		ms = append(ms,
			Metric{"AWS/ElastiCache", "EngineCPUUtilization", map[string]string{"CacheClusterId": c}}, // the set the alarms do not use
			Metric{"AWS/ElastiCache", "EngineCPUUtilization", map[string]string{"CacheClusterId": c, "CacheNodeId": "0001"}})
	}
	if secondary {
		ms = append(ms, Metric{"AWS/ElastiCache", "GlobalDatastoreReplicationLag", map[string]string{"CacheClusterId": groupID + "-002", "CacheNodeId": "0001"}})
	}
	return append(ms, Metric{"Custom/Redis", "HealthCheckStatus", map[string]string{"ReplicationGroup": groupID}},
		Metric{"Custom/Redis", "WritableStatus", map[string]string{"ReplicationGroup": groupID}})
}

// Subscription is one subscription the local SNS lists.
type Subscription struct {
	Protocol, Endpoint string
	Confirmed          bool
}

// SNS is a local SNS endpoint answering ListSubscriptionsByTopic in the
// awsquery protocol the SDK speaks (form-encoded POST, XML answer, lists
// as <member> elements).
type SNS struct {
	Topics map[string][]Subscription // by topic ARN
}

// ServeHTTP answers one ListSubscriptionsByTopic request.
func (n *SNS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	form, err := url.ParseQuery(string(body))
	if err != nil || r.Method != http.MethodPost || form.Get("Action") != "ListSubscriptionsByTopic" || form.Get("Version") != "2010-03-31" {
		http.Error(w, "not an awsquery ListSubscriptionsByTopic request", http.StatusBadRequest)
		return
	}
	arn := form.Get("TopicArn")
	subs, ok := n.Topics[arn]
	w.Header().Set("Content-Type", "text/xml")
	if !ok {
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, `<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Sender</Type><Code>NotFound</Code>`+
			`<Message>Topic does not exist</Message></Error><RequestId>r3</RequestId></ErrorResponse>`)
		return
	}
	var members strings.Builder
	for i, s := range subs {
		subARN := "PendingConfirmation"
		if s.Confirmed {
			subARN = fmt.Sprintf("%s:sub-%d", arn, i)
		}
		fmt.Fprintf(&members, `<member><TopicArn>%s</TopicArn><Protocol>%s</Protocol><SubscriptionArn>%s</SubscriptionArn>`+
			`<Owner>123456789012</Owner><Endpoint>%s</Endpoint></member>`, xmlEscape(arn), s.Protocol, xmlEscape(subARN), xmlEscape(s.Endpoint))
	}
	fmt.Fprintf(w, `<ListSubscriptionsByTopicResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><ListSubscriptionsByTopicResult>`+
		`<Subscriptions>%s</Subscriptions></ListSubscriptionsByTopicResult><ResponseMetadata><RequestId>r4</RequestId></ResponseMetadata>`+
		`</ListSubscriptionsByTopicResponse>`, members.String())
}

// Good is a member as redisha deploys it.
func Good(id, globalID, role string) Group {
	return Group{ID: id, GlobalID: globalID, Role: role, Auth: true, Transit: true, AtRest: true, MultiAZ: "enabled", AutomaticFailover: "enabled"}
}

// Route53 answers GetHealthCheckStatus as Route 53 does (REST-XML:
// GET /2013-04-01/healthcheck/{id}/status): one observation per status in
// Status[id] ("Success: …" or "Failure: …"); an unknown id is
// NoSuchHealthCheck.
type Route53 struct {
	Status map[string][]string
}

func (r *Route53) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	id, ok := strings.CutPrefix(req.URL.Path, "/2013-04-01/healthcheck/")
	id, ok2 := strings.CutSuffix(id, "/status")
	statuses, known := r.Status[id]
	w.Header().Set("Content-Type", "text/xml")
	switch {
	case req.Method != http.MethodGet || !ok || !ok2:
		http.Error(w, "not GetHealthCheckStatus", http.StatusBadRequest)
		return
	case !known:
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, `<?xml version="1.0"?><ErrorResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><Error><Type>Sender</Type>`+
			`<Code>NoSuchHealthCheck</Code><Message>No health check exists with the specified ID %s</Message></Error><RequestId>local</RequestId></ErrorResponse>`, xmlEscape(id))
		return
	}
	var b strings.Builder
	b.WriteString(`<?xml version="1.0"?><GetHealthCheckStatusResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><HealthCheckObservations>`)
	for i, s := range statuses {
		fmt.Fprintf(&b, `<HealthCheckObservation><Region>us-east-1</Region><IPAddress>15.177.0.%d</IPAddress><StatusReport>`+
			`<Status>%s</Status><CheckedTime>2026-01-01T00:00:00Z</CheckedTime></StatusReport></HealthCheckObservation>`, i+1, xmlEscape(s))
	}
	b.WriteString(`</HealthCheckObservations></GetHealthCheckStatusResponse>`)
	fmt.Fprint(w, b.String())
}

// CloudFormation answers DescribeStacks in the awsquery protocol, as
// CloudFormation does: each stack's outputs by stack name; an unknown
// stack is the ValidationError CloudFormation answers ("Stack with id X
// does not exist").
type CloudFormation struct {
	Stacks map[string]map[string]string // stack name → output key → value
}

// ServeHTTP answers one DescribeStacks request.
func (c *CloudFormation) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	form, err := url.ParseQuery(string(body))
	if err != nil || r.Method != http.MethodPost || form.Get("Action") != "DescribeStacks" || form.Get("Version") != "2010-05-15" {
		http.Error(w, "not an awsquery DescribeStacks request", http.StatusBadRequest)
		return
	}
	name := form.Get("StackName")
	outputs, ok := c.Stacks[name]
	w.Header().Set("Content-Type", "text/xml")
	if !ok {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `<ErrorResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><Error><Type>Sender</Type>`+
			`<Code>ValidationError</Code><Message>Stack with id %s does not exist</Message></Error><RequestId>r5</RequestId></ErrorResponse>`, xmlEscape(name))
		return
	}
	var members strings.Builder
	for k, v := range outputs {
		fmt.Fprintf(&members, `<member><OutputKey>%s</OutputKey><OutputValue>%s</OutputValue></member>`, xmlEscape(k), xmlEscape(v))
	}
	fmt.Fprintf(w, `<DescribeStacksResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><DescribeStacksResult><Stacks><member>`+
		`<StackName>%s</StackName><StackId>arn:aws:cloudformation:us-east-1:123456789012:stack/%s/1</StackId>`+
		`<CreationTime>2026-12-01T00:00:00Z</CreationTime><StackStatus>UPDATE_COMPLETE</StackStatus><Outputs>%s</Outputs>`+
		`</member></Stacks></DescribeStacksResult><ResponseMetadata><RequestId>r6</RequestId></ResponseMetadata></DescribeStacksResponse>`,
		xmlEscape(name), xmlEscape(name), members.String())
}
