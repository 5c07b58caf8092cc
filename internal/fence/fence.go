// Package fence keeps a node that answers as master, in a region that is not
// the Global Datastore's primary, from being reported writable.
//
// "Writable" is what the failover records' health checks follow. A region
// that is lost while the other is promoted may come back with its node still
// a master (AWS documents the return to secondary only for an old primary it
// could reach). Without a fence its checker reports it writable, Route 53
// prefers the PRIMARY record again, and applications write to a node whose
// writes never reach the datastore's primary. The fence asks the ElastiCache
// API, the datastore's own record of which member is primary, on every
// check.
//
// When the API cannot be read, the last answer read within MaxAge stands. With
// none, Unknown decides, and the right choice depends on the region's failover
// record (Route 53 answers the PRIMARY record when both records are unhealthy):
//   - the region of the PRIMARY record reports not writable: when it really is
//     the writer, the other region is read-only and unhealthy too, so the name
//     stays where it is; when it is an old primary back undemoted, it stays out;
//   - the region of the SECONDARY record trusts its node: when it really is the
//     writer, reporting it unwritable would send the name back to the PRIMARY
//     record, and when it is an old primary back undemoted, the PRIMARY record's
//     region is the writer and healthy, and Route 53 prefers it.
package fence

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"
)

// Unknown says what a master node reports when the datastore's primary
// cannot be read and no recent answer is known.
type Unknown string

// What to report on an unknown primary.
const (
	// NotWritable fails closed: for the region of the PRIMARY record.
	NotWritable Unknown = "not-writable"
	// NodeRole trusts the node's own role: for the region of the SECONDARY
	// record.
	NodeRole Unknown = "node-role"
)

// DefaultMaxAge is how long a read of the datastore's primary stands when the
// API cannot be read. Roles change only by a failover, which takes minutes
// and which the promoter and the operator commands make.
const DefaultMaxAge = 5 * time.Minute

// Options are a fence's settings.
type Options struct {
	// DatastoreID is the Global Datastore's id; empty turns the fence off.
	DatastoreID string
	// Region is the region the checker runs in (its member's region).
	Region string
	// Unknown is what to report when the primary is unknown.
	Unknown Unknown
	// MaxAge bounds how long a read stands when the API fails.
	MaxAge time.Duration
}

// API is the call the fence makes; *elasticache.Client is the production one,
// a client of the checker's own region.
type API interface {
	DescribeGlobalReplicationGroups(ctx context.Context, in *elasticache.DescribeGlobalReplicationGroupsInput, opts ...func(*elasticache.Options)) (*elasticache.DescribeGlobalReplicationGroupsOutput, error)
}

var _ API = (*elasticache.Client)(nil)

// Fence reads the datastore's primary region; it lives across warm
// invocations, holding the last answer.
type Fence struct {
	api API
	o   Options
	now func() time.Time

	mu      sync.Mutex
	primary string
	at      time.Time
}

// New returns a fence. Zero options take their defaults.
func New(api API, o Options) *Fence {
	if o.Unknown == "" {
		o.Unknown = NotWritable
	}
	if o.MaxAge <= 0 {
		o.MaxAge = DefaultMaxAge
	}
	return &Fence{api: api, o: o, now: time.Now}
}

// Reading is one read of the datastore's primary region.
type Reading struct {
	// Primary is the primary member's region; empty when unknown.
	Primary string
	// Age is how old the answer is: zero when read now.
	Age time.Duration
	// Err is why the API could not be read now.
	Err error
}

// Read asks the API for the datastore's primary region; ctx bounds the call.
// When it fails, the last answer younger than MaxAge stands.
func (f *Fence) Read(ctx context.Context) Reading {
	primary, err := f.describe(ctx)
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	if err == nil {
		f.primary, f.at = primary, now
		return Reading{Primary: primary}
	}
	if f.primary != "" && now.Sub(f.at) <= f.o.MaxAge {
		return Reading{Primary: f.primary, Age: now.Sub(f.at), Err: err}
	}
	return Reading{Err: err}
}

func (f *Fence) describe(ctx context.Context) (string, error) {
	out, err := f.api.DescribeGlobalReplicationGroups(ctx, &elasticache.DescribeGlobalReplicationGroupsInput{
		GlobalReplicationGroupId: aws.String(f.o.DatastoreID), ShowMemberInfo: aws.Bool(true)})
	if err != nil {
		return "", fmt.Errorf("describe %s: %w", f.o.DatastoreID, err)
	}
	if n := len(out.GlobalReplicationGroups); n != 1 {
		return "", fmt.Errorf("describe %s: %d datastores in the answer", f.o.DatastoreID, n)
	}
	var primaries []string
	for _, m := range out.GlobalReplicationGroups[0].Members {
		if strings.EqualFold(aws.ToString(m.Role), "PRIMARY") {
			primaries = append(primaries, aws.ToString(m.ReplicationGroupRegion))
		}
	}
	if len(primaries) != 1 {
		return "", fmt.Errorf("describe %s: %d primary members %v", f.o.DatastoreID, len(primaries), primaries)
	}
	return primaries[0], nil
}

// Verdict is the fence's answer for one check.
type Verdict struct {
	// Writable is whether the region may be reported writable.
	Writable bool
	// Reason says why a master node is fenced; empty when it is not.
	Reason string
}

// ErrUnknown is in a verdict's reason when the primary is unknown.
var ErrUnknown = errors.New("the datastore's primary is unknown")

// Judge says whether a node that answers as master (nodeWritable) may be
// reported writable, given a reading.
func (f *Fence) Judge(nodeWritable bool, r Reading) Verdict {
	if !nodeWritable {
		return Verdict{}
	}
	switch {
	case r.Primary == f.o.Region:
		return Verdict{Writable: true}
	case r.Primary != "":
		return Verdict{Reason: fmt.Sprintf("fenced: the node answers as master but the datastore's primary is %s", r.Primary)}
	case f.o.Unknown == NodeRole:
		return Verdict{Writable: true}
	}
	return Verdict{Reason: fmt.Sprintf("fenced: %v (%v); this region's record is PRIMARY, so it reports not writable until the API answers", ErrUnknown, r.Err)}
}
