package verify

import (
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"
	"github.com/fxamacker/cbor/v2"
)

// group is a replication group as the local ElastiCache describes it.
type group struct {
	ID, GlobalID, Role         string
	Auth, Transit, AtRest      bool
	MultiAZ, AutomaticFailover string // enabled | disabled
}

// elastiCache is a local ElastiCache endpoint answering
// DescribeReplicationGroups in the awsquery protocol the SDK speaks: a
// form-encoded POST, an XML answer, an XML error for an unknown group.
type elastiCache struct {
	mu     sync.Mutex
	groups map[string]group
	asked  []url.Values
}

func (e *elastiCache) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	form, err := url.ParseQuery(string(body))
	if err != nil || r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" ||
		!strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
		http.Error(w, "not an awsquery request", http.StatusBadRequest)
		return
	}
	e.mu.Lock()
	e.asked = append(e.asked, form)
	g, ok := e.groups[form.Get("ReplicationGroupId")]
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

// metric is one metric the local CloudWatch lists.
type metric struct {
	Namespace, Name string
	Dims            map[string]string
}

// cloudWatch is a local CloudWatch endpoint answering ListMetrics in the
// RPCv2 CBOR protocol the SDK speaks, one metric per page (so paging is
// exercised), filtering as CloudWatch does: the listed metrics' dimension
// sets contain the filter's.
type cloudWatch struct {
	metrics []metric
	stall   time.Duration
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

func (c *cloudWatch) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body) // read first: the server notices a closed connection only after the body
	if c.stall > 0 {
		select {
		case <-time.After(c.stall):
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
	var match []metric
	for _, m := range c.metrics {
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

var creds = credentials.NewStaticCredentialsProvider("AKIDLOCAL", "local-secret", "")

// region starts the two local endpoints of one region and returns a Member
// with real SDK clients pointed at them.
func region(t *testing.T, name, groupID, role string, e *elastiCache, c *cloudWatch) Member {
	t.Helper()
	es, cs := httptest.NewServer(e), httptest.NewServer(c)
	for _, srv := range []*httptest.Server{es, cs} {
		t.Cleanup(func() { srv.CloseClientConnections(); srv.Close() }) // a stalled handler ends with its connection
	}
	noRetry := retry.NewStandard(func(o *retry.StandardOptions) { o.MaxAttempts = 1 })
	return Member{Region: name, GroupID: groupID, Role: role,
		ElastiCache: elasticache.New(elasticache.Options{Region: name, BaseEndpoint: aws.String(es.URL), Credentials: creds, Retryer: noRetry}),
		CloudWatch:  cloudwatch.New(cloudwatch.Options{Region: name, BaseEndpoint: aws.String(cs.URL), Credentials: creds, Retryer: noRetry}),
	}
}

// healthyMetrics are what a working deployment publishes for a group.
func healthyMetrics(groupID string, nodes int, secondary bool) []metric {
	var ms []metric
	for _, c := range NodeClusters(groupID, nodes) {
		ms = append(ms,
			metric{"AWS/ElastiCache", "EngineCPUUtilization", map[string]string{"CacheClusterId": c}}, // the set the alarms do not use
			metric{"AWS/ElastiCache", "EngineCPUUtilization", map[string]string{"CacheClusterId": c, "CacheNodeId": "0001"}})
	}
	if secondary {
		ms = append(ms, metric{"AWS/ElastiCache", "GlobalDatastoreReplicationLag", map[string]string{"CacheClusterId": groupID + "-002", "CacheNodeId": "0001"}})
	}
	return append(ms, metric{"Custom/Redis", "HealthCheckStatus", map[string]string{"ReplicationGroup": groupID}})
}

func good(id, role string) group {
	return group{ID: id, GlobalID: "ldgnf-redisha", Role: role, Auth: true, Transit: true, AtRest: true, MultiAZ: "enabled", AutomaticFailover: "enabled"}
}

func byCheck(rs []Result) map[string]Result {
	out := map[string]Result{}
	for _, r := range rs {
		out[r.Region+" "+r.Check] = r
	}
	return out
}

func TestHealthyDeploymentPasses(t *testing.T) {
	pe := &elastiCache{groups: map[string]group{"redis-primary": good("redis-primary", "PRIMARY")}}
	se := &elastiCache{groups: map[string]group{"redis-secondary": good("redis-secondary", "SECONDARY")}}
	target := Target{GlobalID: "ldgnf-redisha", Nodes: 2, Members: []Member{
		region(t, "us-east-1", "redis-primary", "PRIMARY", pe, &cloudWatch{metrics: healthyMetrics("redis-primary", 2, false)}),
		region(t, "us-west-2", "redis-secondary", "SECONDARY", se, &cloudWatch{metrics: healthyMetrics("redis-secondary", 2, true)}),
	}}
	rs := Run(context.Background(), target)
	if Failed(rs) != 0 || len(rs) != 13 {
		for _, r := range rs {
			t.Log(r)
		}
		t.Fatalf("%d of %d checks failed, want 13 checks, none failed", Failed(rs), len(rs))
	}
	if got := pe.asked[0].Get("ReplicationGroupId"); got != "redis-primary" {
		t.Errorf("described %q", got)
	}
}

// Each defect the first deploy can reveal fails its own check, naming the
// group and what is wrong.
func TestDefectsFailTheirCheck(t *testing.T) {
	noAuth := good("redis-secondary", "SECONDARY")
	noAuth.Auth, noAuth.MultiAZ = false, "disabled"
	otherGDS := good("redis-primary", "SECONDARY")                 // failed over
	missingNode := healthyMetrics("redis-secondary", 2, false)[2:] // node -001 absent, no lag metric
	target := Target{GlobalID: "ldgnf-redisha", Nodes: 2, Members: []Member{
		region(t, "us-east-1", "redis-primary", "PRIMARY", &elastiCache{groups: map[string]group{"redis-primary": otherGDS}},
			&cloudWatch{metrics: healthyMetrics("redis-primary", 2, false)[:4]}), // no checker metric
		region(t, "us-west-2", "redis-secondary", "SECONDARY", &elastiCache{groups: map[string]group{"redis-secondary": noAuth}},
			&cloudWatch{metrics: missingNode}),
	}}
	got := byCheck(Run(context.Background(), target))
	for key, want := range map[string]string{
		"us-east-1 global datastore member": "redis-primary is SECONDARY in ldgnf-redisha, want PRIMARY",
		"us-east-1 checker metric":          "no Custom/Redis HealthCheckStatus{ReplicationGroup=redis-primary}",
		"us-west-2 auth token":              "redis-secondary AuthTokenEnabled=false",
		"us-west-2 multi-az and failover":   "MultiAZ=disabled",
		"us-west-2 node metrics":            "for redis-secondary-001",
		"us-west-2 cross-region lag metric": "no GlobalDatastoreReplicationLag",
	} {
		r, ok := got[key]
		if !ok || r.OK || !strings.Contains(r.Detail, want) {
			t.Errorf("%s: %+v, want a failure saying %q", key, r, want)
		}
	}
	for _, key := range []string{"us-east-1 auth token", "us-east-1 node metrics", "us-west-2 encryption"} {
		if !got[key].OK {
			t.Errorf("%s failed: %+v", key, got[key])
		}
	}
}

// A group that does not exist, and a CloudWatch that does not answer within
// the call timeout, fail their checks with the call named; nothing hangs.
func TestMissingGroupAndStalledCloudWatch(t *testing.T) {
	target := Target{Nodes: 1, CallTimeout: 200 * time.Millisecond, Members: []Member{
		region(t, "us-east-1", "nope", "PRIMARY", &elastiCache{groups: map[string]group{}}, &cloudWatch{stall: time.Minute}),
	}}
	start := time.Now()
	got := byCheck(Run(context.Background(), target))
	if time.Since(start) > 20*time.Second {
		t.Errorf("took %v", time.Since(start))
	}
	if r := got["us-east-1 replication group"]; r.OK || !strings.Contains(r.Detail, "ReplicationGroupNotFoundFault") {
		t.Errorf("missing group: %+v", r)
	}
	if r := got["us-east-1 node metrics"]; r.OK || !strings.Contains(r.Detail, "ListMetrics AWS/ElastiCache EngineCPUUtilization") {
		t.Errorf("stalled CloudWatch: %+v", r)
	}
}

func TestResultLine(t *testing.T) {
	r := Result{Check: "auth token", Region: "us-west-2", Detail: "redis-secondary AuthTokenEnabled=false"}
	if got := r.String(); got != "FAIL us-west-2      auth token: redis-secondary AuthTokenEnabled=false" {
		t.Errorf("%q", got)
	}
}
