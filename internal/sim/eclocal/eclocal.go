// Package eclocal is an ElastiCache endpoint on loopback for the real
// aws-sdk-go-v2 ElastiCache client (service/elasticache v1.64.4, AWS Query
// protocol: form-encoded Action=… in, XML out). It holds Global Datastores
// and replication groups across regions and serves what the promoter and the
// operator commands call: DescribeGlobalReplicationGroups,
// DescribeReplicationGroups and FailoverGlobalReplicationGroup.
//
// A failover behaves as the ElastiCache guide describes it: the datastore
// goes to modifying, and after a configurable delay the target member becomes
// PRIMARY, every other member SECONDARY, and the datastore available again.
// A hook runs just before the roles swap, so a rehearsal can re-point real
// redis-servers (REPLICAOF) and the API reports PRIMARY only once the server
// takes writes. Tests inject throttling and InvalidGlobalReplicationGroupState
// answers; one server serves every region, telling them apart by the SigV4
// credential scope, so a test sees which region's endpoint a call went to.
package eclocal

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"

	"github.com/redisha/redisha/internal/sim/awsquery"
	"github.com/redisha/redisha/internal/sim/localaws"
)

// Version is the ElastiCache API version the SDK sends.
const Version = "2015-02-02"

const xmlns = "http://elasticache.amazonaws.com/doc/2015-02-02/"

// Status values.
const (
	StatusAvailable   = "available"
	StatusModifying   = "modifying"
	StatusPrimaryOnly = "primary-only"
)

// Roles and member statuses.
const (
	RolePrimary   = "PRIMARY"
	RoleSecondary = "SECONDARY"
	Associated    = "associated"
)

// Failures ElastiCache gives.
var (
	// Throttled: the SDK retries it.
	Throttled = awsquery.Throttled
	// InvalidState is FailoverGlobalReplicationGroup's answer while the
	// datastore is "not available or in primary-only state".
	InvalidState = awsquery.Failure{Status: http.StatusBadRequest, Code: "InvalidGlobalReplicationGroupState"}
	// Unavailable is a 503 service error (the SDK retries it).
	Unavailable = awsquery.Failure{Status: http.StatusServiceUnavailable, Code: "ServiceUnavailable"}
)

// Member is one replication group's membership in a Global Datastore.
type Member struct {
	ReplicationGroupID string
	Region             string
	// Role is PRIMARY or SECONDARY.
	Role string
	// Status is associated, associating, disassociating…
	// default: associated
	Status string
}

// Datastore is a Global Datastore.
type Datastore struct {
	// ID is the full id, region prefix included (e.g. ldgnf-redisha).
	ID string
	// Status: available, modifying, primary-only… default: available
	Status  string
	Members []Member
}

// Primary returns the PRIMARY member.
func (d Datastore) Primary() (Member, bool) {
	for _, m := range d.Members {
		if m.Role == RolePrimary {
			return m, true
		}
	}
	return Member{}, false
}

// Group is a replication group in one region.
type Group struct {
	ID     string
	Region string
	// Status: available, modifying… default: available
	Status string
	// Pending names pending modifications (PendingModifiedValues members).
	Pending []string
	// Endpoint is the primary endpoint's host:port, if any.
	Endpoint string
}

// Failover is a completed (or failed) failover.
type Failover struct {
	Datastore string
	// From is the member that was PRIMARY, To the one promoted.
	From, To Member
	// Region is the region whose endpoint received the call.
	Region string
	// Requested and Completed time the failover.
	Requested, Completed time.Time
	// Err is the hook's error; the roles did not swap.
	Err error
}

// Call is one request the server received.
type Call struct {
	Action string
	Region string
	Params map[string]string
	// Failure is the error code answered, "" for success.
	Failure string
}

// Options shape a Server.
type Options struct {
	// FailoverDelay is how long a failover keeps the datastore modifying.
	// default: 100 milliseconds (AWS: about a minute, unmeasured)
	FailoverDelay time.Duration
	// OnFailover runs before the roles swap; an error leaves the roles as
	// they were (the datastore returns to available). It must not call the
	// Server's methods that wait.
	OnFailover func(Failover) error
}

// Server is the local endpoint. Its methods are safe for concurrent use.
type Server struct {
	srv  *httptest.Server
	opts Options

	mu         sync.Mutex
	datastores map[string]*Datastore
	groups     map[string]*Group
	failures   map[string][]awsquery.Failure
	calls      []Call
	failovers  []Failover
	timers     []*time.Timer
	changed    localaws.Signal
	closed     bool
}

// New starts a server on a free port of 127.0.0.1. Close it when done.
func New(o Options) *Server {
	if o.FailoverDelay == 0 {
		o.FailoverDelay = 100 * time.Millisecond
	}
	s := &Server{opts: o, datastores: map[string]*Datastore{}, groups: map[string]*Group{},
		failures: map[string][]awsquery.Failure{}}
	s.srv = localaws.Serve("eclocal", s.serve)
	return s
}

// URL is the endpoint, for BaseEndpoint or AWS_ENDPOINT_URL_ELASTICACHE.
func (s *Server) URL() string { return s.srv.URL }

// Close stops pending transitions and the server.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	for _, t := range s.timers {
		t.Stop()
	}
	s.mu.Unlock()
	s.srv.Close()
}

// PutDatastore adds or replaces a Global Datastore.
func (s *Server) PutDatastore(d Datastore) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d.Status == "" {
		d.Status = StatusAvailable
	}
	d.Members = slices.Clone(d.Members)
	for i := range d.Members {
		if d.Members[i].Status == "" {
			d.Members[i].Status = Associated
		}
	}
	s.datastores[d.ID] = &d
	s.notify()
}

// PutGroup adds or replaces a replication group.
func (s *Server) PutGroup(g Group) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if g.Status == "" {
		g.Status = StatusAvailable
	}
	g.Pending = slices.Clone(g.Pending)
	s.groups[g.ID] = &g
}

// SetStatus sets a datastore's status (e.g. modifying for an upgrade).
func (s *Server) SetStatus(id, status string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d := s.datastores[id]; d != nil {
		d.Status = status
		s.notify()
	}
}

// Datastore returns a copy of a datastore.
func (s *Server) Datastore(id string) (Datastore, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.datastores[id]
	if d == nil {
		return Datastore{}, false
	}
	c := *d
	c.Members = slices.Clone(d.Members)
	return c, true
}

// FailNext makes the next len(f) requests for action fail with f, in order.
func (s *Server) FailNext(action string, f ...awsquery.Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures[action] = append(s.failures[action], f...)
}

// Calls returns the requests received, in order.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

// Failovers returns the finished failovers, in order.
func (s *Server) Failovers() []Failover {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.failovers)
}

// WaitFailovers waits until n failovers have finished and returns them, or
// returns what finished and an error after timeout.
func (s *Server) WaitFailovers(n int, timeout time.Duration) ([]Failover, error) {
	if s.changed.Wait(timeout, func() bool { return len(s.Failovers()) >= n }) {
		return s.Failovers(), nil
	}
	f := s.Failovers()
	return f, fmt.Errorf("eclocal: %d failovers finished within %s, want %d", len(f), timeout, n)
}

// notify wakes waiters.
func (s *Server) notify() { s.changed.Notify() }

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	q, err := awsquery.Parse(r, Version)
	if err != nil {
		awsquery.WriteError(w, xmlns, awsquery.Failure{Status: http.StatusBadRequest, Code: "InvalidRequest"}, "eclocal: "+err.Error())
		return
	}
	call := Call{Action: q.Action, Region: q.Region, Params: map[string]string{}}
	for k := range q.Params {
		call.Params[k] = q.Get(k)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var result any
	var fail *awsquery.Failure
	var msg string
	if f := s.failures[q.Action]; len(f) > 0 {
		s.failures[q.Action] = f[1:]
		fail, msg = &f[0], "injected by eclocal"
	} else {
		switch q.Action {
		case "DescribeGlobalReplicationGroups":
			result, fail, msg = s.describeDatastores(q)
		case "DescribeReplicationGroups":
			result, fail, msg = s.describeGroups(q)
		case "FailoverGlobalReplicationGroup":
			result, fail, msg = s.failover(q)
		default:
			fail, msg = &awsquery.Failure{Status: http.StatusBadRequest, Code: "InvalidAction"}, "eclocal does not serve "+q.Action
		}
	}
	if fail != nil {
		call.Failure = fail.Code
	}
	s.calls = append(s.calls, call)
	if fail != nil {
		awsquery.WriteError(w, xmlns, *fail, msg)
		return
	}
	awsquery.WriteResult(w, xmlns, q.Action, result)
}

func notFound(code, format string, a ...any) (any, *awsquery.Failure, string) {
	return nil, &awsquery.Failure{Status: http.StatusNotFound, Code: code}, fmt.Sprintf(format, a...)
}

func invalid(code, format string, a ...any) (any, *awsquery.Failure, string) {
	return nil, &awsquery.Failure{Status: http.StatusBadRequest, Code: code}, fmt.Sprintf(format, a...)
}

func (s *Server) describeDatastores(q awsquery.Request) (any, *awsquery.Failure, string) {
	id, members := q.Get("GlobalReplicationGroupId"), q.Get("ShowMemberInfo") == "true"
	var out describeDatastoresResult
	if id != "" {
		d := s.datastores[id]
		if d == nil {
			return notFound("GlobalReplicationGroupNotFoundFault", "Global Datastore %s not found", id)
		}
		out.Datastores = append(out.Datastores, toXMLDatastore(d, members))
		return out, nil, ""
	}
	ids := make([]string, 0, len(s.datastores))
	for id := range s.datastores {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		out.Datastores = append(out.Datastores, toXMLDatastore(s.datastores[id], members))
	}
	return out, nil, ""
}

func (s *Server) describeGroups(q awsquery.Request) (any, *awsquery.Failure, string) {
	id := q.Get("ReplicationGroupId")
	var out describeGroupsResult
	for _, g := range s.groups {
		// Replication groups are regional: only the caller's region's.
		if g.Region == q.Region && (id == "" || g.ID == id) {
			out.Groups = append(out.Groups, s.toXMLGroup(g))
		}
	}
	if id != "" && len(out.Groups) == 0 {
		return notFound("ReplicationGroupNotFoundFault", "Replication group %s not found in %s", id, q.Region)
	}
	slices.SortFunc(out.Groups, func(a, b xmlGroup) int { return strings.Compare(a.ID, b.ID) })
	return out, nil, ""
}

func (s *Server) failover(q awsquery.Request) (any, *awsquery.Failure, string) {
	id, region, group := q.Get("GlobalReplicationGroupId"), q.Get("PrimaryRegion"), q.Get("PrimaryReplicationGroupId")
	if id == "" || region == "" || group == "" {
		return invalid("InvalidParameterCombination", "GlobalReplicationGroupId, PrimaryRegion and PrimaryReplicationGroupId are required")
	}
	d := s.datastores[id]
	if d == nil {
		return notFound("GlobalReplicationGroupNotFoundFault", "Global Datastore %s not found", id)
	}
	if d.Status != StatusAvailable {
		return nil, &InvalidState, fmt.Sprintf("Global Datastore %s is %s: not available or in primary-only state", id, d.Status)
	}
	from, ok := d.Primary()
	if !ok {
		return nil, &InvalidState, fmt.Sprintf("Global Datastore %s has no primary", id)
	}
	var to *Member
	inRegion := false
	for i, m := range d.Members {
		if m.Region == region && m.ReplicationGroupID == group {
			to = &d.Members[i]
		}
		inRegion = inRegion || m.Region == q.Region
	}
	switch {
	case to == nil:
		return invalid("InvalidParameterValue", "%s in %s is not a member of %s", group, region, id)
	case !inRegion:
		return invalid("InvalidParameterValue", "%s has no member in %s, the region called", id, q.Region)
	case to.Role == RolePrimary:
		return invalid("InvalidParameterValue", "%s in %s is already the primary of %s", group, region, id)
	case to.Status != Associated:
		return invalid("InvalidParameterValue", "%s in %s is %s, not associated", group, region, to.Status)
	}
	d.Status = StatusModifying
	f := Failover{Datastore: id, From: from, To: *to, Region: q.Region, Requested: time.Now()}
	if !s.closed {
		s.timers = append(s.timers, time.AfterFunc(s.opts.FailoverDelay, func() { s.complete(f) }))
	}
	s.notify()
	return failoverResult{Datastore: toXMLDatastore(d, true)}, nil, ""
}

// complete runs the hook, swaps the roles and makes the datastore available.
func (s *Server) complete(f Failover) {
	if s.opts.OnFailover != nil {
		f.Err = s.opts.OnFailover(f)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.datastores[f.Datastore]
	if d == nil {
		return
	}
	if f.Err == nil {
		for i := range d.Members {
			m := &d.Members[i]
			m.Role = RoleSecondary
			if m.Region == f.To.Region && m.ReplicationGroupID == f.To.ReplicationGroupID {
				m.Role = RolePrimary
			}
		}
	}
	d.Status = StatusAvailable
	f.Completed = time.Now()
	s.failovers = append(s.failovers, f)
	s.notify()
}

// XML shapes, named as the SDK's deserializers read them.

type xmlMember struct {
	ReplicationGroupID     string `xml:"ReplicationGroupId"`
	ReplicationGroupRegion string `xml:"ReplicationGroupRegion"`
	Role                   string `xml:"Role"`
	AutomaticFailover      string `xml:"AutomaticFailover"`
	Status                 string `xml:"Status"`
}

type xmlDatastore struct {
	ID          string      `xml:"GlobalReplicationGroupId"`
	Description string      `xml:"GlobalReplicationGroupDescription"`
	Status      string      `xml:"Status"`
	Engine      string      `xml:"Engine"`
	Members     []xmlMember `xml:"Members>GlobalReplicationGroupMember,omitempty"`
}

type describeDatastoresResult struct {
	Datastores []xmlDatastore `xml:"GlobalReplicationGroups>GlobalReplicationGroup"`
}

type failoverResult struct {
	Datastore xmlDatastore `xml:"GlobalReplicationGroup"`
}

type xmlEndpoint struct {
	Address string `xml:"Address"`
	Port    int    `xml:"Port"`
}

type xmlNodeGroup struct {
	NodeGroupID     string       `xml:"NodeGroupId"`
	Status          string       `xml:"Status"`
	PrimaryEndpoint *xmlEndpoint `xml:"PrimaryEndpoint,omitempty"`
}

type xmlGroupInfo struct {
	ID   string `xml:"GlobalReplicationGroupId"`
	Role string `xml:"GlobalReplicationGroupMemberRole"`
}

// xmlPending carries the names of pending modifications as empty-valued
// members the SDK decodes; only presence matters to the promoter.
type xmlPending struct {
	PrimaryClusterID        string `xml:"PrimaryClusterId,omitempty"`
	AutomaticFailoverStatus string `xml:"AutomaticFailoverStatus,omitempty"`
	AuthTokenStatus         string `xml:"AuthTokenStatus,omitempty"`
	TransitEncryptionMode   string `xml:"TransitEncryptionMode,omitempty"`
	ClusterMode             string `xml:"ClusterMode,omitempty"`
}

type xmlGroup struct {
	ID         string         `xml:"ReplicationGroupId"`
	Status     string         `xml:"Status"`
	GlobalInfo *xmlGroupInfo  `xml:"GlobalReplicationGroupInfo,omitempty"`
	NodeGroups []xmlNodeGroup `xml:"NodeGroups>NodeGroup,omitempty"`
	Pending    *xmlPending    `xml:"PendingModifiedValues,omitempty"`
}

type describeGroupsResult struct {
	Groups []xmlGroup `xml:"ReplicationGroups>ReplicationGroup"`
}

func toXMLDatastore(d *Datastore, members bool) xmlDatastore {
	x := xmlDatastore{ID: d.ID, Description: "redisha", Status: d.Status, Engine: "redis"}
	if members {
		for _, m := range d.Members {
			x.Members = append(x.Members, xmlMember{ReplicationGroupID: m.ReplicationGroupID, ReplicationGroupRegion: m.Region,
				Role: m.Role, AutomaticFailover: "enabled", Status: m.Status})
		}
	}
	return x
}

func (s *Server) toXMLGroup(g *Group) xmlGroup {
	x := xmlGroup{ID: g.ID, Status: g.Status}
	for _, d := range s.datastores {
		for _, m := range d.Members {
			if m.ReplicationGroupID == g.ID && m.Region == g.Region {
				x.GlobalInfo = &xmlGroupInfo{ID: d.ID, Role: m.Role}
			}
		}
	}
	ng := xmlNodeGroup{NodeGroupID: "0001", Status: g.Status}
	if host, port, err := net.SplitHostPort(g.Endpoint); err == nil {
		p, _ := strconv.Atoi(port)
		ng.PrimaryEndpoint = &xmlEndpoint{Address: host, Port: p}
	}
	x.NodeGroups = []xmlNodeGroup{ng}
	if len(g.Pending) > 0 {
		x.Pending = &xmlPending{}
		for _, p := range g.Pending {
			switch p {
			case "PrimaryClusterId":
				x.Pending.PrimaryClusterID = "pending"
			case "AutomaticFailoverStatus":
				x.Pending.AutomaticFailoverStatus = "enabled"
			case "AuthTokenStatus":
				x.Pending.AuthTokenStatus = "ROTATING"
			case "TransitEncryptionMode":
				x.Pending.TransitEncryptionMode = "required"
			default:
				x.Pending.ClusterMode = "enabled"
			}
		}
	}
	return x
}

// NewClient returns a real ElastiCache client for url in region, with static
// test credentials and the SDK's standard retryer allowing maxAttempts
// attempts per call (at least 1; backoff capped at 20 ms so tests stay
// quick).
func NewClient(url, region string, maxAttempts int) *elasticache.Client {
	return elasticache.New(elasticache.Options{
		Region:       region,
		BaseEndpoint: aws.String(url),
		Credentials:  localaws.Credentials,
		Retryer:      localaws.Retryer(maxAttempts),
	})
}
