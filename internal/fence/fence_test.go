package fence

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redisha/redisha/internal/sim/awsquery"
	"github.com/redisha/redisha/internal/sim/eclocal"
)

const datastore = "ldgnf-redisha"

// A datastore whose primary is region primary, served over the awsquery wire
// that ElastiCache speaks, read by the real SDK client.
func serve(t *testing.T, primary string) *eclocal.Server {
	t.Helper()
	s := eclocal.New(eclocal.Options{})
	t.Cleanup(s.Close)
	setPrimary(s, primary)
	return s
}

func setPrimary(s *eclocal.Server, primary string) {
	role := func(r string) string {
		if r == primary {
			return eclocal.RolePrimary
		}
		return eclocal.RoleSecondary
	}
	s.PutDatastore(eclocal.Datastore{ID: datastore, Members: []eclocal.Member{
		{ReplicationGroupID: "redisha-primary", Region: "us-east-1", Role: role("us-east-1")},
		{ReplicationGroupID: "redisha-secondary", Region: "us-west-2", Role: role("us-west-2")},
	}})
}

func newFence(s *eclocal.Server, region string, unknown Unknown) *Fence {
	return New(eclocal.NewClient(s.URL(), region, 1), Options{DatastoreID: datastore, Region: region, Unknown: unknown, MaxAge: time.Minute})
}

func judge(t *testing.T, f *Fence, nodeWritable bool) (Reading, Verdict) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r := f.Read(ctx)
	return r, f.Judge(nodeWritable, r)
}

func TestTheDatastoresPrimaryIsWritable(t *testing.T) {
	s := serve(t, "us-east-1")
	r, v := judge(t, newFence(s, "us-east-1", NotWritable), true)
	if r.Primary != "us-east-1" || r.Err != nil || !v.Writable {
		t.Fatalf("reading %+v, verdict %+v: want the primary region writable", r, v)
	}
}

// An old primary back undemoted answers as master; the datastore names the
// other region: fenced, whatever the unknown policy.
func TestAMasterTheDatastoreDoesNotNameIsFenced(t *testing.T) {
	s := serve(t, "us-west-2")
	for _, u := range []Unknown{NotWritable, NodeRole} {
		_, v := judge(t, newFence(s, "us-east-1", u), true)
		if v.Writable || !strings.Contains(v.Reason, "the datastore's primary is us-west-2") {
			t.Errorf("%s: verdict %+v: want fenced, naming us-west-2", u, v)
		}
	}
}

// A node that is not master is never made writable by the fence.
func TestAReplicaStaysNotWritable(t *testing.T) {
	s := serve(t, "us-east-1")
	if _, v := judge(t, newFence(s, "us-east-1", NodeRole), false); v.Writable || v.Reason != "" {
		t.Fatalf("verdict %+v for a replica", v)
	}
}

// When the API fails, the last answer stands for MaxAge; after it, the
// region of the PRIMARY record fails closed and the SECONDARY's trusts its
// node.
func TestUnreadableAPI(t *testing.T) {
	s := serve(t, "us-east-1")
	now := time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)
	f := newFence(s, "us-east-1", NotWritable)
	f.now = func() time.Time { return now }
	if _, v := judge(t, f, true); !v.Writable {
		t.Fatalf("first read: %+v", v)
	}

	s.FailNext("DescribeGlobalReplicationGroups", awsquery.Throttled)
	now = now.Add(30 * time.Second)
	r, v := judge(t, f, true)
	if r.Err == nil || r.Primary != "us-east-1" || r.Age != 30*time.Second || !v.Writable {
		t.Fatalf("within MaxAge: reading %+v, verdict %+v: want the last answer to stand", r, v)
	}

	s.FailNext("DescribeGlobalReplicationGroups", awsquery.Throttled)
	now = now.Add(2 * time.Minute)
	r, v = judge(t, f, true)
	if r.Primary != "" || v.Writable || !strings.Contains(v.Reason, "unknown") || !strings.Contains(v.Reason, "Throttling") {
		t.Fatalf("past MaxAge, PRIMARY record: reading %+v, verdict %+v: want fenced, naming the API's error", r, v)
	}

	g := newFence(s, "us-west-2", NodeRole)
	s.FailNext("DescribeGlobalReplicationGroups", awsquery.Throttled)
	if r, v := judge(t, g, true); r.Err == nil || !v.Writable {
		t.Fatalf("unknown, SECONDARY record: reading %+v, verdict %+v: want the node's role", r, v)
	}
}

// A failover is seen at the next read.
func TestARoleSwapIsSeenAtOnce(t *testing.T) {
	s := serve(t, "us-east-1")
	f := newFence(s, "us-east-1", NotWritable)
	if _, v := judge(t, f, true); !v.Writable {
		t.Fatal("before the swap: fenced")
	}
	setPrimary(s, "us-west-2")
	if _, v := judge(t, f, true); v.Writable {
		t.Fatal("after the swap: still writable")
	}
}

// A datastore the API does not know, or an answer with no primary, is an
// error, never a primary.
func TestAnswersWithoutOnePrimary(t *testing.T) {
	s := serve(t, "us-east-1")
	f := New(eclocal.NewClient(s.URL(), "us-east-1", 1), Options{DatastoreID: "ldgnf-other", Region: "us-east-1"})
	if r, v := judge(t, f, true); r.Err == nil || v.Writable {
		t.Fatalf("unknown datastore: reading %+v, verdict %+v", r, v)
	}
	s.PutDatastore(eclocal.Datastore{ID: datastore, Members: []eclocal.Member{
		{ReplicationGroupID: "redisha-primary", Region: "us-east-1", Role: eclocal.RoleSecondary},
		{ReplicationGroupID: "redisha-secondary", Region: "us-west-2", Role: eclocal.RoleSecondary},
	}})
	if r, _ := judge(t, newFence(s, "us-east-1", NotWritable), true); r.Err == nil || !strings.Contains(r.Err.Error(), "0 primary members") {
		t.Fatalf("no primary: reading %+v", r)
	}
}
