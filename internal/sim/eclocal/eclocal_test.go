package eclocal_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"
	"github.com/aws/aws-sdk-go-v2/service/elasticache/types"
	"github.com/aws/smithy-go"

	"github.com/redisha/redisha/internal/sim/eclocal"
)

const grg = "ldgnf-redisha"

func start(t *testing.T, o eclocal.Options) *eclocal.Server {
	t.Helper()
	s := eclocal.New(o)
	t.Cleanup(s.Close)
	s.PutDatastore(eclocal.Datastore{ID: grg, Members: []eclocal.Member{
		{ReplicationGroupID: "redis-primary", Region: "us-east-1", Role: eclocal.RolePrimary},
		{ReplicationGroupID: "redis-secondary", Region: "us-west-2", Role: eclocal.RoleSecondary},
	}})
	s.PutGroup(eclocal.Group{ID: "redis-primary", Region: "us-east-1", Endpoint: "127.0.0.1:7001"})
	s.PutGroup(eclocal.Group{ID: "redis-secondary", Region: "us-west-2", Endpoint: "127.0.0.1:7002"})
	return s
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func describe(t *testing.T, c *elasticache.Client) types.GlobalReplicationGroup {
	t.Helper()
	out, err := c.DescribeGlobalReplicationGroups(ctx(t), &elasticache.DescribeGlobalReplicationGroupsInput{
		GlobalReplicationGroupId: aws.String(grg), ShowMemberInfo: aws.Bool(true)})
	if err != nil {
		t.Fatalf("describe: %v", err)
	}
	if len(out.GlobalReplicationGroups) != 1 {
		t.Fatalf("%d datastores, want 1", len(out.GlobalReplicationGroups))
	}
	return out.GlobalReplicationGroups[0]
}

func roles(g types.GlobalReplicationGroup) map[string]string {
	out := map[string]string{}
	for _, m := range g.Members {
		out[aws.ToString(m.ReplicationGroupRegion)] = aws.ToString(m.Role)
	}
	return out
}

func TestDescribeThroughTheSDK(t *testing.T) {
	s := start(t, eclocal.Options{})
	g := describe(t, eclocal.NewClient(s.URL(), "us-west-2", 1))
	if aws.ToString(g.Status) != "available" || aws.ToString(g.GlobalReplicationGroupId) != grg {
		t.Fatalf("datastore %+v", g)
	}
	if r := roles(g); r["us-east-1"] != "PRIMARY" || r["us-west-2"] != "SECONDARY" {
		t.Fatalf("roles %v", r)
	}
	if st := aws.ToString(g.Members[1].Status); st != "associated" {
		t.Fatalf("member status %q", st)
	}

	// Members only with ShowMemberInfo, as the API does.
	out, err := eclocal.NewClient(s.URL(), "us-west-2", 1).DescribeGlobalReplicationGroups(ctx(t), &elasticache.DescribeGlobalReplicationGroupsInput{})
	if err != nil || len(out.GlobalReplicationGroups) != 1 || len(out.GlobalReplicationGroups[0].Members) != 0 {
		t.Fatalf("describe all without members: %+v, %v", out, err)
	}

	// Replication groups are regional.
	c := eclocal.NewClient(s.URL(), "us-west-2", 1)
	rg, err := c.DescribeReplicationGroups(ctx(t), &elasticache.DescribeReplicationGroupsInput{ReplicationGroupId: aws.String("redis-secondary")})
	if err != nil {
		t.Fatal(err)
	}
	got := rg.ReplicationGroups[0]
	if aws.ToString(got.Status) != "available" || aws.ToString(got.GlobalReplicationGroupInfo.GlobalReplicationGroupMemberRole) != "SECONDARY" ||
		aws.ToString(got.NodeGroups[0].PrimaryEndpoint.Address) != "127.0.0.1" || aws.ToInt32(got.NodeGroups[0].PrimaryEndpoint.Port) != 7002 ||
		got.PendingModifiedValues != nil {
		t.Fatalf("replication group %+v", got)
	}
	_, err = c.DescribeReplicationGroups(ctx(t), &elasticache.DescribeReplicationGroupsInput{ReplicationGroupId: aws.String("redis-primary")})
	var nf *types.ReplicationGroupNotFoundFault
	if !errors.As(err, &nf) {
		t.Fatalf("another region's group: %v, want ReplicationGroupNotFoundFault", err)
	}

	s.PutGroup(eclocal.Group{ID: "redis-secondary", Region: "us-west-2", Status: "modifying", Pending: []string{"AutomaticFailoverStatus"}})
	rg, err = c.DescribeReplicationGroups(ctx(t), &elasticache.DescribeReplicationGroupsInput{ReplicationGroupId: aws.String("redis-secondary")})
	if err != nil {
		t.Fatal(err)
	}
	if got := rg.ReplicationGroups[0]; aws.ToString(got.Status) != "modifying" || got.PendingModifiedValues == nil ||
		got.PendingModifiedValues.AutomaticFailoverStatus != types.PendingAutomaticFailoverStatusEnabled {
		t.Fatalf("modifying group %+v", got)
	}

	_, err = c.DescribeGlobalReplicationGroups(ctx(t), &elasticache.DescribeGlobalReplicationGroupsInput{GlobalReplicationGroupId: aws.String("nope")})
	var gnf *types.GlobalReplicationGroupNotFoundFault
	if !errors.As(err, &gnf) {
		t.Fatalf("unknown datastore: %v, want GlobalReplicationGroupNotFoundFault", err)
	}
}

func TestFailoverSwapsRolesAfterModifying(t *testing.T) {
	release := make(chan struct{})
	var hooked atomic.Int32
	s := start(t, eclocal.Options{FailoverDelay: time.Millisecond, OnFailover: func(f eclocal.Failover) error {
		hooked.Add(1)
		<-release // hold the datastore in modifying until the test has looked
		return nil
	}})
	c := eclocal.NewClient(s.URL(), "us-west-2", 1)
	out, err := c.FailoverGlobalReplicationGroup(ctx(t), &elasticache.FailoverGlobalReplicationGroupInput{
		GlobalReplicationGroupId: aws.String(grg), PrimaryRegion: aws.String("us-west-2"), PrimaryReplicationGroupId: aws.String("redis-secondary")})
	if err != nil {
		t.Fatal(err)
	}
	if st := aws.ToString(out.GlobalReplicationGroup.Status); st != "modifying" {
		t.Fatalf("status right after the call %q, want modifying", st)
	}
	g := describe(t, c)
	if aws.ToString(g.Status) != "modifying" || roles(g)["us-west-2"] != "SECONDARY" {
		t.Fatalf("during the failover: %s %v", aws.ToString(g.Status), roles(g))
	}
	// A second failover while modifying is refused with the typed fault.
	_, err = c.FailoverGlobalReplicationGroup(ctx(t), &elasticache.FailoverGlobalReplicationGroupInput{
		GlobalReplicationGroupId: aws.String(grg), PrimaryRegion: aws.String("us-west-2"), PrimaryReplicationGroupId: aws.String("redis-secondary")})
	var bad *types.InvalidGlobalReplicationGroupStateFault
	if !errors.As(err, &bad) || bad.ErrorCode() != "InvalidGlobalReplicationGroupState" {
		t.Fatalf("failover while modifying: %v", err)
	}
	close(release)
	fs, err := s.WaitFailovers(1, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if f := fs[0]; f.Region != "us-west-2" || f.To.Region != "us-west-2" || f.From.Region != "us-east-1" || f.Err != nil || hooked.Load() != 1 {
		t.Fatalf("failover %+v, hook calls %d", f, hooked.Load())
	}
	g = describe(t, c)
	if r := roles(g); aws.ToString(g.Status) != "available" || r["us-west-2"] != "PRIMARY" || r["us-east-1"] != "SECONDARY" {
		t.Fatalf("after the failover: %s %v", aws.ToString(g.Status), r)
	}
	// Promoting the primary again is refused.
	_, err = c.FailoverGlobalReplicationGroup(ctx(t), &elasticache.FailoverGlobalReplicationGroupInput{
		GlobalReplicationGroupId: aws.String(grg), PrimaryRegion: aws.String("us-west-2"), PrimaryReplicationGroupId: aws.String("redis-secondary")})
	var pv *types.InvalidParameterValueException
	if !errors.As(err, &pv) || !strings.Contains(pv.ErrorMessage(), "already the primary") {
		t.Fatalf("promote the primary: %v", err)
	}
}

func TestFailoverHookErrorKeepsRoles(t *testing.T) {
	s := start(t, eclocal.Options{FailoverDelay: time.Millisecond, OnFailover: func(eclocal.Failover) error {
		return errors.New("REPLICAOF failed")
	}})
	c := eclocal.NewClient(s.URL(), "us-west-2", 1)
	if _, err := c.FailoverGlobalReplicationGroup(ctx(t), &elasticache.FailoverGlobalReplicationGroupInput{
		GlobalReplicationGroupId: aws.String(grg), PrimaryRegion: aws.String("us-west-2"), PrimaryReplicationGroupId: aws.String("redis-secondary")}); err != nil {
		t.Fatal(err)
	}
	fs, err := s.WaitFailovers(1, 5*time.Second)
	if err != nil || fs[0].Err == nil {
		t.Fatalf("failovers %+v, %v", fs, err)
	}
	if d, _ := s.Datastore(grg); d.Status != "available" || d.Members[0].Role != "PRIMARY" {
		t.Fatalf("after a failed failover: %+v", d)
	}
}

func TestThrottlingIsRetriedByTheSDK(t *testing.T) {
	s := start(t, eclocal.Options{})
	s.FailNext("DescribeGlobalReplicationGroups", eclocal.Throttled, eclocal.Throttled)
	g := describe(t, eclocal.NewClient(s.URL(), "us-west-2", 3))
	if aws.ToString(g.Status) != "available" {
		t.Fatalf("status %q", aws.ToString(g.Status))
	}
	calls := s.Calls()
	if len(calls) != 3 || calls[0].Failure != "Throttling" || calls[2].Failure != "" {
		t.Fatalf("calls %+v, want two throttled then one answered", calls)
	}

	// With one attempt the throttling reaches the caller with its code.
	s.FailNext("DescribeGlobalReplicationGroups", eclocal.Throttled)
	_, err := eclocal.NewClient(s.URL(), "us-west-2", 1).DescribeGlobalReplicationGroups(ctx(t), &elasticache.DescribeGlobalReplicationGroupsInput{})
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != "Throttling" {
		t.Fatalf("throttled once, no retry: %v", err)
	}
}

func TestFailoverValidation(t *testing.T) {
	s := start(t, eclocal.Options{})
	for _, tc := range []struct {
		name, callRegion, region, group, code string
	}{
		{"unknown member", "us-west-2", "us-west-2", "nope", "InvalidParameterValue"},
		{"called from a region without a member", "eu-west-1", "us-west-2", "redis-secondary", "InvalidParameterValue"},
		{"missing parameter", "us-west-2", "", "redis-secondary", "InvalidParameterCombination"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := &elasticache.FailoverGlobalReplicationGroupInput{GlobalReplicationGroupId: aws.String(grg),
				PrimaryRegion: aws.String(tc.region), PrimaryReplicationGroupId: aws.String(tc.group)}
			_, err := eclocal.NewClient(s.URL(), tc.callRegion, 1).FailoverGlobalReplicationGroup(ctx(t), in)
			var api smithy.APIError
			if !errors.As(err, &api) || api.ErrorCode() != tc.code {
				t.Fatalf("error %v, want code %s", err, tc.code)
			}
		})
	}
	s.SetStatus(grg, eclocal.StatusPrimaryOnly)
	_, err := eclocal.NewClient(s.URL(), "us-west-2", 1).FailoverGlobalReplicationGroup(ctx(t), &elasticache.FailoverGlobalReplicationGroupInput{
		GlobalReplicationGroupId: aws.String(grg), PrimaryRegion: aws.String("us-west-2"), PrimaryReplicationGroupId: aws.String("redis-secondary")})
	var bad *types.InvalidGlobalReplicationGroupStateFault
	if !errors.As(err, &bad) {
		t.Fatalf("primary-only: %v", err)
	}
}

func TestRejectsWhatTheSDKNeverSends(t *testing.T) {
	s := start(t, eclocal.Options{})
	for name, req := range map[string]func() (*http.Response, error){
		"unsigned": func() (*http.Response, error) {
			return http.Post(s.URL(), "application/x-www-form-urlencoded", strings.NewReader("Action=DescribeGlobalReplicationGroups&Version=2015-02-02"))
		},
		"GET": func() (*http.Response, error) { return http.Get(s.URL() + "/?Action=DescribeGlobalReplicationGroups") },
	} {
		resp, err := req()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "<Code>InvalidRequest</Code>") {
			t.Errorf("%s: %d %s", name, resp.StatusCode, b)
		}
	}
}
