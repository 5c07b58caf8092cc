// Package deployment is what one redisha deployment is, free of CDK: the
// knobs an operator sets (Settings, read from CDK context by Load) and
// everything they decide (Deployment): each region's checker and promoter
// configuration in the runtimes' own types, every alarm's spec, the Route 53
// health checks and failover records, the loop's cadence, and the names of
// stacks, latch tables and alarms.
//
// One model, many renderers: infra/stacks renders it into CloudFormation, the
// drill into its stand-ins (only addresses and the clock swapped), verify
// checks AWS against it and the operator commands take their names from it.
// FromTemplates reads it back from synthesized templates, so a rehearsal runs
// what a deploy would create, and a test holds the two together.
package deployment

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/redisha/redisha/internal/check"
	"github.com/redisha/redisha/internal/config"
	"github.com/redisha/redisha/internal/fence"
	"github.com/redisha/redisha/internal/metrics"
	"github.com/redisha/redisha/internal/promoter"
	"github.com/redisha/redisha/internal/redisconn"
)

// Fixed parts of every deployment.
const (
	// DefaultName is a deployment's name when the settings give none.
	DefaultName = "redisha"
	// CheckerTimeout is the checker function's timeout.
	CheckerTimeout = 10 * time.Second
	// LoopInterval is the default time between two checks of the Step
	// Functions loop (its Wait state): six a minute.
	LoopInterval = 10 * time.Second
	// MaxLambdaTimeout is Lambda's limit on a function's timeout.
	MaxLambdaTimeout = 15 * time.Minute
	// Namespace holds every metric the checkers publish.
	Namespace = metrics.DefaultNamespace
)

// Deployment is one redisha deployment: two regions of a Global Datastore,
// what runs in each, and the failover name.
type Deployment struct {
	Settings Settings
	// Regions are the two members, the primary at creation first.
	Regions [2]Region
	DNS     DNS
	Loop    Loop
	// Source says, for a Deployment read back from templates, which
	// template and resource each setting came from (key: a setting's path,
	// e.g. "us-west-2 checker"; value: "RedishaSecondary.template.json
	// Checker1D892424"). Empty for one built from Settings.
	Source map[string]string `json:",omitempty"`
}

// Loop is the schedule that runs the checker, then the promoter.
type Loop struct {
	// Interval is the time between two checks (the loop's Wait state).
	Interval time.Duration
	// CheckerTimeout is the checker function's timeout.
	CheckerTimeout time.Duration
}

// Region is one member region and what runs there.
type Region struct {
	// Name is the AWS region.
	Name string
	// Label is the region's role at creation, "primary" or "secondary": it
	// names the stack only. Roles swap at a failover; labels do not.
	Label string
	// Stack is the region stack's id.
	Stack string
	// GroupID is the member replication group's id.
	GroupID string
	// Checker is the checker's configuration with the endpoint, its
	// certificate name and the secret left empty: only a deploy knows them
	// (CheckerFor fills them).
	Checker config.Config
	// Promoter is the promoter's configuration with the endpoint, secret,
	// datastore id, latch table and topic left empty (PromoterFor).
	Promoter promoter.Config
	// Writable is the region's "accepts writes" alarm: its failover
	// record's health check and the other region's promoter read it.
	Writable AlarmSpec
	// Unhealthy pages when the region's check fails, whatever its role.
	Unhealthy AlarmSpec
	// WritableEndpoint is the region's writable endpoint: the checker
	// binary behind a public Lambda function URL (CHECKER_SERVE=
	// writable-url), answering 200 only on a write just proven through the
	// region's primary endpoint. Route 53's HTTPS health check on it drives
	// the region's failover record and its witness. nil when the records
	// follow the writable alarms (dnsHealthCheck=alarm). The endpoint, its
	// certificate name and the secret are left empty, as for Checker.
	WritableEndpoint *config.Config `json:",omitempty"`
	// SignedHeartbeats is true when the checker signs the heartbeat and the
	// promoter verifies it, with a key only they may read (a Secrets
	// Manager secret the stacks create; Target.HeartbeatKeyARN).
	SignedHeartbeats bool
}

// DNS is the failover name.
type DNS struct {
	// Zone is the private hosted zone's name.
	Zone string
	// ZoneID is an existing zone the records go into; empty when the app
	// creates the zone.
	ZoneID string `json:",omitempty"`
	// Stack is the id of the stack holding the records.
	Stack string
	// Records are the PRIMARY and SECONDARY failover records.
	Records [2]Record
	// Witnesses are each region's witness, in the order of Regions: a TXT
	// failover pair whose answer is Route 53's verdict on that region's
	// writable endpoint, read by the other region's promoter. Empty when
	// the records follow the writable alarms.
	Witnesses [2]Witness `json:",omitempty"`
}

// Witness is a region's witness name: PRIMARY TXT promoter.WitnessWritable
// with the region's endpoint health check, SECONDARY TXT
// promoter.WitnessNotWritable with none, so the answer is "not-writable"
// exactly when Route 53's health checkers find the region's writable
// endpoint failing.
type Witness struct {
	Name        string
	Region      string
	TTL         time.Duration
	HealthCheck HealthCheck
}

// Record is one failover record of the name.
type Record struct {
	Name string
	// Failover is PRIMARY or SECONDARY; SetIdentifier tells the two apart.
	Failover      string
	SetIdentifier string
	TTL           time.Duration
	// Region is the region whose endpoint the CNAME names.
	Region      string
	HealthCheck HealthCheck
}

// HealthCheck is a Route 53 health check: of type CLOUDWATCH_METRIC on
// Alarm, or, with Endpoint, of type HTTPS on a region's writable endpoint.
type HealthCheck struct {
	// Alarm is the alarm whose data stream it evaluates (Route 53 copies
	// the alarm's settings when the check is created). Empty for an
	// endpoint check.
	Alarm AlarmSpec
	// Endpoint is the HTTPS check on a region's writable endpoint; nil for
	// a CLOUDWATCH_METRIC check.
	Endpoint *EndpointCheck `json:",omitempty"`
	// InsufficientDataHealthStatus is Healthy, Unhealthy or
	// LastKnownStatus.
	InsufficientDataHealthStatus string
	// Inverted reports the opposite status.
	Inverted bool
}

// EndpointCheck is a Route 53 HTTPS health check on a region's writable
// endpoint (its function URL), from Route 53's health checkers outside both
// regions.
type EndpointCheck struct {
	// Region is the region whose writable endpoint it probes.
	Region string
	// Path is the resource path (writeprobe's).
	Path string
	// RequestInterval is 10 or 30 seconds; FailureThreshold the consecutive
	// results that change a checker's status (1–10).
	RequestInterval  time.Duration
	FailureThreshold int
}

// Summary is the check's settings, readable.
func (e EndpointCheck) Summary() string {
	return fmt.Sprintf("HTTPS GET %s's writable endpoint %s every %ds, %d consecutive to change", e.Region, e.Path,
		int(e.RequestInterval.Seconds()), e.FailureThreshold)
}

// WritableEndpointPath is the path the writable endpoint answers on.
const WritableEndpointPath = "/writable"

// WritableEndpointOutput names a region stack's output holding its writable
// endpoint's host (the function URL's).
const WritableEndpointOutput = "WritableEndpointHost"

// WitnessName is a region's witness name beside the failover name.
func WitnessName(recordName, region string) string { return region + ".witness." + recordName }

// Record types and failover roles, as Route 53 names them.
const (
	FailoverPrimary   = "PRIMARY"
	FailoverSecondary = "SECONDARY"
)

// Alarm settings, as CloudWatch names them.
const (
	LessThanThreshold    = "LessThanThreshold"
	GreaterThanThreshold = "GreaterThanThreshold"
	MissingBreaching     = "breaching"
	MissingNotBreaching  = "notBreaching"
	StatMinimum          = "Minimum"
	StatMaximum          = "Maximum"
	InsufficientHealthy  = "Healthy"
	InsufficientUnhealth = "Unhealthy"
	InsufficientLastKnow = "LastKnownStatus"
)

// AlarmSpec is one metric alarm as CloudWatch holds it.
type AlarmSpec struct {
	Name   string
	Region string
	// Namespace, Metric and Dimensions select the metric.
	Namespace  string
	Metric     string
	Dimensions []metrics.Dimension
	Statistic  string
	Period     time.Duration
	// EvaluationPeriods is N; DatapointsToAlarm is M (0: M = N).
	EvaluationPeriods int
	DatapointsToAlarm int
	Threshold         float64
	Comparison        string
	TreatMissingData  string
	// Pages is true when the alarm notifies the region's alarm topic.
	Pages bool
}

// Summary is the settings Route 53 copies from an alarm, readable.
func (a AlarmSpec) Summary() string {
	op := map[string]string{LessThanThreshold: "<", GreaterThanThreshold: ">"}[a.Comparison]
	return fmt.Sprintf("%s %s(%s) over %ds, %d periods %s %g, missing %s",
		a.Namespace, a.Metric, a.Statistic, int(a.Period.Seconds()), a.EvaluationPeriods, op, a.Threshold, a.TreatMissingData)
}

// New is the deployment the settings describe.
func New(s Settings) Deployment {
	d := Deployment{Settings: s, Loop: Loop{Interval: s.CheckInterval, CheckerTimeout: CheckerTimeout}}
	if d.Loop.Interval == 0 {
		d.Loop.Interval = LoopInterval
	}
	regions := [2]struct{ name, label, group string }{
		{s.PrimaryRegion, "primary", s.PrimaryRGID},
		{s.SecondaryRegion, "secondary", s.SecondaryRGID},
	}
	for i, r := range regions {
		peer := regions[1-i]
		d.Regions[i] = Region{
			Name: r.name, Label: r.label, Stack: StackID(s.Name, r.label), GroupID: r.group,
			Checker:   checkerConfig(s, r.name, r.group, failoverOf(i)),
			Promoter:  promoterConfig(s, r.name, r.group, peer.name, peer.group),
			Writable:  writableAlarm(s, r.name, r.group),
			Unhealthy: unhealthyAlarm(s, r.name, r.group),
			// Any holder of the Redis token can write the heartbeat key; a
			// signed one is evidence only the checkers can give.
			SignedHeartbeats: true,
		}
	}
	d.DNS = DNS{Zone: s.ZoneName, ZoneID: s.ExistingZoneID, Stack: StackID(s.Name, "dns")}
	for i := range d.DNS.Records {
		failover := failoverOf(i)
		r := d.Regions[i]
		ttl := time.Duration(s.RecordTTL) * time.Second
		// Insufficient data counts as unhealthy, on purpose: a record must
		// be healthy only on positive evidence that its region takes
		// writes. With both unhealthy Route 53 answers the PRIMARY record,
		// which is where the name was anyway.
		hc := HealthCheck{Alarm: r.Writable, InsufficientDataHealthStatus: InsufficientUnhealth}
		if s.EndpointChecks() {
			// Route 53's checkers probe the region's write path itself:
			// no CloudWatch period between a region taking writes and its
			// record turning healthy, and a silent region fails at once.
			e := writableEndpoint(d.Regions[i].Checker)
			d.Regions[i].WritableEndpoint = &e
			hc = HealthCheck{Endpoint: &EndpointCheck{Region: r.Name, Path: WritableEndpointPath,
				RequestInterval: time.Duration(s.HealthCheckInterval) * time.Second, FailureThreshold: s.HealthCheckFailureThreshold}}
			d.DNS.Witnesses[i] = Witness{Name: WitnessName(s.RecordName, r.Name), Region: r.Name, TTL: ttl, HealthCheck: hc}
		}
		d.DNS.Records[i] = Record{
			Name: s.RecordName, Failover: failover, SetIdentifier: r.Label, TTL: ttl, Region: r.Name, HealthCheck: hc,
		}
	}
	for i := range d.Regions {
		if w := d.DNS.Witnesses[1-i]; w.Name != "" {
			// The other region's witness: Route 53's verdict on the peer.
			d.Regions[i].Promoter.PeerWitness = w.Name
			d.Regions[i].Promoter.Bounds.SilentMaxDataLoss = s.SilentMaxDataLoss
		}
	}
	return d
}

// WritableEndpointTimeout is the writable endpoint function's timeout:
// Route 53 wants an answer within two seconds of connecting, and the
// function's one check is bounded under that.
const WritableEndpointTimeout = 5 * time.Second

// writableEndpoint is a region's writable endpoint function: the checker's
// connection and fence, invoked by its function URL for one write check
// (no heartbeat, no metrics).
func writableEndpoint(checker config.Config) config.Config {
	c := checker
	c.Serve = config.ServeWritableURL
	c.Check.Heartbeat = false
	c.HighResolution = false
	c.FunctionTimeout = WritableEndpointTimeout
	return c
}

// Region returns the region named name.
func (d Deployment) Region(name string) (Region, bool) {
	for _, r := range d.Regions {
		if r.Name == name {
			return r, true
		}
	}
	return Region{}, false
}

// Peer is the other region of r.
func (d Deployment) Peer(r Region) Region {
	if d.Regions[0].Name == r.Name {
		return d.Regions[1]
	}
	return d.Regions[0]
}

// StackID is the id of a deployment's stack: its name in CamelCase and the
// part, e.g. RedishaPrimary, RedishaSecondary, RedishaDns.
func StackID(name, part string) string {
	var b strings.Builder
	for _, w := range strings.FieldsFunc(name+"-"+part, func(r rune) bool { return r == '-' || r == '_' }) {
		b.WriteString(strings.ToUpper(w[:1]) + w[1:])
	}
	return b.String()
}

// DNSStackID is the id of a deployment's DNS stack.
func (d Deployment) DNSStackID() string { return d.DNS.Stack }

// WritableAlarmName is a region's "accepts writes" alarm: its failover
// record's health check follows it and the other region's promoter reads it.
// Named by region, not by role: the roles swap at a failover, the regions do
// not.
func WritableAlarmName(name, region string) string { return name + "-" + region + "-writable" }

// UnhealthyAlarmName is a region's paging alarm on its health check.
func UnhealthyAlarmName(name, region string) string { return name + "-" + region + "-unhealthy" }

// LatchTable is the promoters' DynamoDB table for a Global Datastore: the
// same name in each member region (each region has its own table), fixed so a
// redeploy finds the table it kept, and per datastore so two deployments in
// one account do not share one. datastoreID may be a CloudFormation token.
func LatchTable(datastoreID string) string { return "redisha-latch-" + datastoreID }

// LatchKey is the item of one region's promoter in its latch table.
func LatchKey(datastoreID, region string) string { return datastoreID + "/" + region }

// CheckerDimensions are the dimensions of every metric a checker of groupID
// publishes (METRIC_DIMENSIONS) and that its alarms read.
func CheckerDimensions(groupID string) []metrics.Dimension {
	return []metrics.Dimension{{Name: "ReplicationGroup", Value: groupID}}
}

// failoverOf is the failover record of the region at index i: the primary
// at creation holds the PRIMARY record.
func failoverOf(i int) string {
	if i == 0 {
		return FailoverPrimary
	}
	return FailoverSecondary
}

// checkerConfig is a region's checker. The role is auto in both regions:
// the check follows what the node says it is, so the promoted region's
// checker writes (WritableStatus 1, the heartbeat) and the demoted one reads
// the heartbeat's age. A fixed role would pin a region to one shape: a
// checker fixed to replica never reports its region writable after a
// promotion, and DNS would never follow.
//
// The fence (package fence) reads the datastore's primary from the local
// ElastiCache API, which the VPC must reach: through the endpoints the app
// creates, its NAT, or the imported VPC's own route (vpcEgress). Its policy
// on an unknown primary follows the region's failover record.
func checkerConfig(s Settings, region, groupID, failover string) config.Config {
	f := fence.Options{Region: region}
	if s.ReachesAPIs() {
		f.Unknown = fence.NodeRole
		if failover == FailoverPrimary {
			f.Unknown = fence.NotWritable
		}
	}
	return config.Config{
		Fence:       f,
		Redis:       redisconn.Config{TLS: true},
		Check:       check.Options{Timeout: s.CheckTimeout, ExpectRole: check.Auto, Heartbeat: true, Region: region},
		ClusterMode: clusterMode(s),
		MetricsMode: s.MetricsMode,
		Namespace:   Namespace,
		Dimensions:  CheckerDimensions(groupID),
		// The fast paging alarm reads HealthCheckStatusHighRes.
		HighResolution: true,
		// The function's real timeout: the runtime refuses budgets that do
		// not fit in it, at start and, through runtimeRefusals, at synth.
		FunctionTimeout: CheckerTimeout,
	}
}

// clusterMode is how the runtimes read the groups: every shard with cluster
// mode on; else auto, the runtimes' default (an endpoint that turns out to
// be a cluster is still checked shard by shard).
func clusterMode(s Settings) check.ClusterMode {
	if s.Members().ClusterMode {
		return check.ClusterOn
	}
	return ""
}

// CheckerFor is r's checker with what only a deploy knows: the endpoint
// (host:port), the name in its certificate, the token's secret, the
// heartbeat key's and the datastore's id (for the fence).
func (r Region) CheckerFor(t Target) config.Config {
	c := r.Checker
	c.Redis.Addr, c.Redis.TLSServerName, c.AuthSecretARN = t.Addr, t.ServerName, t.SecretARN
	c.HeartbeatKeySecretARN, c.Fence.DatastoreID = "", ""
	if c.Fence.Unknown != "" {
		c.Fence.DatastoreID = t.DatastoreID
	}
	if r.SignedHeartbeats {
		c.HeartbeatKeySecretARN = t.HeartbeatKeyARN
	}
	return c
}

// promoterConfig is a region's promoter.
func promoterConfig(s Settings, region, groupID, peer, peerGroupID string) promoter.Config {
	return promoter.Config{
		Redis:     redisconn.Config{TLS: true},
		KeyPrefix: check.DefaultPrefix, // the checkers' prefix: the heartbeat they write
		// Every shard's heartbeat, the worst deciding, in cluster mode.
		ClusterMode: clusterMode(s),
		Namespace:   Namespace,
		Region:      region,
		GroupID:     groupID,
		PeerRegion:  peer,
		PeerAlarm:   WritableAlarmName(s.Name, peer),
		// The peer checker's dimensions: its HeartbeatWritten metric is the
		// primary's last writable moment, for the data-loss guard.
		PeerMetricDimensions: CheckerDimensions(peerGroupID),
		Mode:                 s.PromoterMode,
		Bounds: promoter.Bounds{
			// The heartbeat is written once a check: the loop's interval.
			StallAfter: orDefault(s.StallAfter, DefaultStallAfter), HeartbeatInterval: orDefault(s.CheckInterval, LoopInterval),
			MaxDataLoss: promoter.DefaultMaxDataLoss, Cooldown: promoter.DefaultCooldown,
			PeerSeenWithin: promoter.DefaultPeerSeenWithin,
		},
		CallTimeout:    promoter.DefaultCallTimeout,
		PromoteTimeout: promoter.DefaultPromoteTimeout,
		// Every second the promoted region is not yet seen writable is a
		// second of outage: poll often (each poll is one describe and, at
		// the end, one SET).
		PollInterval: PromotePollInterval,
	}
}

// PromotePollInterval is the promoters' pause between checks while a
// promotion completes.
const PromotePollInterval = 2 * time.Second

// Target is what only a deploy knows of a region's checker and promoter.
type Target struct {
	Addr            string // host:port of the local group's primary endpoint
	ServerName      string // the name in its certificate
	SecretARN       string // the token's secret in the region
	HeartbeatKeyARN string // the heartbeat key's secret in the region (when SignedHeartbeats)
	DatastoreID     string // the Global Datastore's full id (promoter, checker's fence)
	TopicARN        string // the region's alarm topic (promoter)
}

// WritableEndpointFor is r's writable endpoint function with what only a
// deploy knows; the zero Config when r has none.
func (r Region) WritableEndpointFor(t Target) config.Config {
	if r.WritableEndpoint == nil {
		return config.Config{}
	}
	c := *r.WritableEndpoint
	c.Redis.Addr, c.Redis.TLSServerName, c.AuthSecretARN = t.Addr, t.ServerName, t.SecretARN
	c.HeartbeatKeySecretARN, c.Fence.DatastoreID = "", ""
	if c.Fence.Unknown != "" {
		c.Fence.DatastoreID = t.DatastoreID
	}
	return c
}

// PromoterFor is r's promoter with what only a deploy knows. The latch
// table follows from the datastore's id.
func (r Region) PromoterFor(t Target) promoter.Config {
	c := r.Promoter
	c.Redis.Addr, c.Redis.TLSServerName, c.AuthSecretARN = t.Addr, t.ServerName, t.SecretARN
	c.DatastoreID, c.LatchTable, c.TopicARN = t.DatastoreID, LatchTable(t.DatastoreID), t.TopicARN
	c.HeartbeatKeySecretARN = ""
	if r.SignedHeartbeats {
		c.HeartbeatKeySecretARN = t.HeartbeatKeyARN
	}
	return c
}

// PromoterFunctionTimeout is the promoter function's timeout: a whole
// promotion (PROMOTE_TIMEOUT) after the run's other calls (the concurrent
// observations, the compare-and-set, the page: one CALL_TIMEOUT each) and a
// margin to log the outcome.
func PromoterFunctionTimeout(c promoter.Config) time.Duration {
	return c.PromoteTimeout + 3*c.CallTimeout + 10*time.Second
}

// writableAlarm is a region's WritableStatus alarm with the design's knobs:
// Minimum over alarmPeriod, alarmEvaluationPeriods periods, < 1 is ALARM.
// Missing data is breaching: a silent region is not writable. A metric-math
// FILL(m, 0) would detect silence in N periods instead of the evaluation
// range, but a Route 53 health check follows single-metric alarms only. It
// does not page: in steady state the secondary's is in ALARM by design (it
// is DNS plumbing); the unhealthy alarm pages.
func writableAlarm(s Settings, region, groupID string) AlarmSpec {
	return AlarmSpec{
		Name: WritableAlarmName(s.Name, region), Region: region, Namespace: Namespace,
		Metric: metrics.WritableStatus, Dimensions: CheckerDimensions(groupID), Statistic: orDefaultString(s.WritableStatistic, StatMinimum),
		Period: time.Duration(s.AlarmPeriod) * time.Second, EvaluationPeriods: s.AlarmEvaluations, Threshold: 1,
		Comparison: LessThanThreshold, TreatMissingData: MissingBreaching,
	}
}

// unhealthyAlarm pages when a region's checks fail (HealthCheckStatus is 1
// for a passing check of either role: a healthy secondary is not paged), or
// when its checker publishes nothing.
func unhealthyAlarm(s Settings, region, groupID string) AlarmSpec {
	a := writableAlarm(s, region, groupID)
	a.Name, a.Metric, a.Pages = UnhealthyAlarmName(s.Name, region), metrics.HealthCheckStatus, true
	a.Statistic = StatMinimum // paging: any failed check of the period counts
	return a
}

// ModelFile is the model's file name beside the synthesized templates.
const ModelFile = "deployment.json"

// WriteFile writes the model as JSON.
func (d Deployment) WriteFile(path string) error {
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// ReadFile reads a model WriteFile wrote.
func ReadFile(path string) (Deployment, error) {
	var d Deployment
	b, err := os.ReadFile(path)
	if err != nil {
		return d, err
	}
	if err := json.Unmarshal(b, &d); err != nil {
		return d, fmt.Errorf("%s: %w", path, err)
	}
	return d, nil
}

// datastorePrefixes are the prefixes AWS gives a Global Datastore's id by
// the region that creates it (ElastiCache User Guide, "Using the AWS CLI
// with global datastores"; the API reference gives dsdfu for us-west-1 where
// the CLI guide gives virxk).
var datastorePrefixes = map[string]string{
	"us-east-1": "ldgnf", "us-east-2": "fpkhr", "us-west-1": "virxk", "us-west-2": "sgaui",
	"eu-west-1": "gxeiz", "eu-central-1": "iudkw",
}

// DatastoreID is the full id of the Global Datastore a deployment creates:
// its primary region's prefix and the suffix. A region the table does not
// know gets "xxxxx", for rehearsals only: read the real id from the stack
// output GlobalDatastoreId.
func (d Deployment) DatastoreID() string {
	if a := d.Settings.Adopt; a != nil {
		return a.GlobalID
	}
	p, ok := datastorePrefixes[d.Regions[0].Name]
	if !ok {
		p = "xxxxx"
	}
	return p + "-" + d.Settings.GlobalIDSuffix
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

func orDefaultString(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
