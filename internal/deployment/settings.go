package deployment

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/redisha/redisha/internal/check"
	"github.com/redisha/redisha/internal/config"
	"github.com/redisha/redisha/internal/engine"
	"github.com/redisha/redisha/internal/promoter"
)

// Settings are every knob of the app, read from CDK context (cdk.json or
// `cdk deploy -c key=value`). Defaults follow the Global Datastore design.
type Settings struct {
	// Name names the deployment: its stacks (RedishaPrimary…), alarms
	// (<name>-<region>-writable…) and dashboards, so two deployments can
	// live in one account. context: name (default redisha)
	Name             string
	Account          string     // account of all stacks. context: account (default: CDK_DEFAULT_ACCOUNT)
	PrimaryRegion    string     // context: primaryRegion (default us-east-1)
	SecondaryRegion  string     // context: secondaryRegion (default us-west-2)
	PrimaryAZs       []string   // context: primaryAzs (default <primaryRegion>a,b)
	SecondaryAZs     []string   // context: secondaryAzs (default <secondaryRegion>a,b)
	PrimaryVpcID     string     // context: primaryVpcId: import instead of creating a VPC
	PrimarySubnetIDs []string   // context: primarySubnetIds (with primaryVpcId)
	SecondaryVpcID   string     // context: secondaryVpcId
	SecondarySubnets []string   // context: secondarySubnetIds
	ExtraVpcs        []ExtraVpc // context: extraVpcs: more VPCs that resolve the zone, [{"vpcId":…,"region":…}] (default none)
	AppClientCidrs   []string   // context: appClientCidrs: address ranges that may reach the port besides the app client security group (default none)
	NodeType         string     // context: nodeType (default cache.r7g.large)
	// Engine is the datastore's engine: redis (Redis OSS) or valkey, the
	// same protocol at a lower node price (docs/valkey.md). context: engine
	// (default redis; an existing group's is its own)
	Engine        engine.Name
	EngineVersion string // context: engineVersion (default: the engine's newest for a Global Datastore, 7.1 for redis)
	// Replicas are the replicas of each shard's primary, per region.
	// context: replicasPerShard, or replicas (its older name) (default 1)
	Replicas int
	// Shards is the number of shards (node groups) of each member; more
	// than one runs the groups in cluster mode. context: shards (default 1)
	Shards int
	// ClusterMode runs the groups in cluster mode (ElastiCache's
	// "cluster mode enabled"): a configuration endpoint, slots over the
	// shards, and room to add shards later. context: clusterMode (default:
	// true when shards > 1, else false)
	ClusterMode    bool
	Port           int    // context: port (default 6379)
	GlobalIDSuffix string // context: globalIdSuffix (default redisha)
	PrimaryRGID    string // context: primaryReplicationGroupId (default redis-primary)
	SecondaryRGID  string // context: secondaryReplicationGroupId (default redis-secondary)
	ZoneName       string // context: zoneName (default internal)
	// ExistingZoneID is a private hosted zone of yours (named zoneName) to
	// put the failover records in, instead of a zone the app creates. It
	// must already be associated with every VPC that resolves the name:
	// CloudFormation has no resource to associate a zone it does not own.
	// context: existingZoneId (default none: the app creates the zone)
	ExistingZoneID string
	RecordName     string // context: recordName (default redis.internal)
	RecordTTL      int    // context: recordTtl seconds (default 5)
	// DNSHealthCheck is what the failover records follow: endpoint (Route
	// 53 HTTPS health checks on each region's writable endpoint, a public
	// Lambda function URL; each region's witness follows the same check)
	// or alarm (CLOUDWATCH_METRIC checks on the writable alarms: no public
	// endpoint, a minute or more slower, no witness). context:
	// dnsHealthCheck (default endpoint)
	DNSHealthCheck string
	// HealthCheckInterval is the endpoint checks' request interval: 10 or
	// 30 seconds. context: healthCheckInterval (default 10)
	HealthCheckInterval int
	// HealthCheckFailureThreshold is how many consecutive results change a
	// Route 53 checker's verdict (1–10). context:
	// healthCheckFailureThreshold (default 1)
	HealthCheckFailureThreshold int
	// SilentMaxDataLoss is the possible loss the promoters accept, in
	// advance, when the other region falls silent and its witness dates the
	// end (docs/failover.md); 0 leaves a silent region to a person.
	// context: silentMaxDataLoss, a Go duration (default, with endpoint
	// checks: MAX_DATA_LOSS + two check intervals + the health check's
	// reaction, 40s with the defaults; without: 0)
	SilentMaxDataLoss time.Duration
	AlarmPeriod       int                // context: alarmPeriod seconds, ≥ 60 (Route 53 needs standard resolution) (default 60)
	AlarmEvaluations  int                // context: alarmEvaluationPeriods (default 2)
	FastAlarmPeriod   int                // context: fastAlarmPeriod seconds: 10, 20 or 30 (default 30)
	CheckTimeout      time.Duration      // context: checkTimeout, a Go duration (default check.DefaultTimeout, 2s)
	MetricsMode       config.MetricsMode // context: metricsMode: emf (default; no endpoint) or api (adds a monitoring VPC endpoint)
	VpcEndpoints      bool               // context: vpcEndpoints: create the interface endpoints the checker and the promoter need (default true for the VPCs the app creates, false for imported ones: their owner's endpoints or NAT serve them, and a second endpoint with private DNS conflicts)
	// NatGateway gives each VPC the app creates a public subnet and one NAT
	// gateway: the promoter's route to the other region's CloudWatch, which
	// no endpoint in its own VPC serves. context: natGateway (default: true
	// when promoterMode is auto, else false)
	NatGateway bool
	// VpcEgress declares that imported VPCs route to AWS's public endpoints
	// (their own NAT): the promoter reaches its latch table, ElastiCache,
	// SNS and the other region's CloudWatch. context: vpcEgress (default
	// false)
	VpcEgress bool
	// CheckInterval is the time between two checks of each region's loop
	// (and the promoter's runs, and the heartbeat's writes): 10, 15, 20 or
	// 30 s. context: checkInterval seconds (default 10)
	CheckInterval time.Duration
	// StallAfter is the promoter's stall bound: how long the heartbeat must
	// have stopped before the replication path counts as dead. Keep it above
	// the primary region's in-region failover (detection included), which a
	// drill of your own should measure. context: promoterStallAfter, a Go
	// duration (default 1m)
	StallAfter time.Duration
	// WritableStatistic aggregates each period of the writable alarms:
	// Minimum (every check of the period took a write) or Maximum (one did:
	// a promoted region turns healthy a period sooner, a failing one a period
	// later). context: writableStatistic (default Minimum)
	WritableStatistic string
	// TerminationProtection protects the three stacks from deletion.
	// context: terminationProtection (default true)
	TerminationProtection bool
	AlarmEmail            string        // context: alarmEmail: subscribe this address to the SNS topic (default none)
	MaxConnections        int           // context: maxConnections: CurrConnections alarm threshold (default 52000, 80% of 65000)
	ReplicationLag        int           // context: replicationLagSeconds threshold (default 5)
	LambdaAsset           string        // context: lambdaAsset: directory holding bootstrap (default build/lambda)
	PromoterAsset         string        // context: promoterAsset: directory holding the promoter's bootstrap (default build/promoter)
	PromoterMode          promoter.Mode // context: promoterMode: off, advise (default) or auto
	// ReservedConcurrency reserves that many concurrent executions for each
	// checker. context: reservedConcurrency (default 0: none). Opt-in: AWS
	// refuses a reservation that leaves the account under 100 unreserved.
	ReservedConcurrency int
	// PrimaryCidr and SecondaryCidr are each region's VPC address range:
	// of the VPC the app creates (defaults 10.0.0.0/16 and 10.1.0.0/16, they
	// must not overlap: the VPCs are peered), or of an imported VPC (optional).
	// The other region's cache admits clients from it, and the app client
	// security group may reach the other region's cache in it.
	// context: primaryCidr, secondaryCidr
	PrimaryCidr, SecondaryCidr string
	// SecondaryAuthToken gives the joining secondary the AUTH token (from the
	// secret's replica) as its own AuthToken. context: secondaryAuthToken
	// (default true); false only if the first deploy refuses it.
	SecondaryAuthToken bool
	// Created is what the replication groups were created with, recorded
	// after the first deploy. context: createdWith (JSON; default none).
	Created *CreatedWith
	// Adopt names an existing Global Datastore to deploy around (none: the
	// app creates one).
	Adopt *Adopt
	// AlarmTopics are SNS topics of the owner's, one per region, that the
	// alarms and the promoters' pages go to instead of topics the app
	// creates (none: the app creates an encrypted topic in each region).
	// context: primaryAlarmTopicArn, secondaryAlarmTopicArn, and for a topic
	// under a customer-managed key primaryAlarmTopicKeyArn,
	// secondaryAlarmTopicKeyArn (the promoter needs the key to publish)
	AlarmTopics [2]AlarmTopic
	// Existing is a replication group of the owner's that the app makes
	// the primary of a new Global Datastore (none: the app creates the
	// primary group too).
	Existing *ExistingGroup
}

// AlarmTopic is an existing SNS topic, and its key when it is encrypted
// with a customer-managed one.
type AlarmTopic struct {
	ARN    string `json:",omitempty"`
	KeyARN string `json:",omitempty"`
}

// Peered says whether the app peers the two VPCs: it does when it creates
// both; imported VPCs must be connected by their owner (peering or transit
// gateway, routes both ways).
func (s Settings) Peered() bool { return s.PrimaryVpcID == "" && s.SecondaryVpcID == "" }

// ExtraVpc is a VPC (e.g. EKS) that must resolve the private zone.
type ExtraVpc struct {
	VpcID  string `json:"vpcId"`
	Region string `json:"region"`
}

// Context reads one context value; nil when unset.
type Context func(key string) any

var (
	// zoneIDRE is a Route 53 hosted zone id.
	zoneIDRE  = regexp.MustCompile(`^Z[A-Z0-9]{1,31}$`)
	regionRE  = regexp.MustCompile(`^[a-z]{2}(-gov)?-[a-z]+-\d$`)
	accountRE = regexp.MustCompile(`^\d{12}$`)
	vpcRE     = regexp.MustCompile(`^vpc-[0-9a-f]{8,17}$`)
	subnetRE  = regexp.MustCompile(`^subnet-[0-9a-f]{8,17}$`)
	rgIDRE    = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9-]{0,39}$`)
	nodeRE    = regexp.MustCompile(`^cache\.[a-z0-9]+\.[a-z0-9]+$`)
	nameRE    = regexp.MustCompile(`^[a-z](-?[a-z0-9])*$`)
	dnsRE     = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
)

// Load reads and validates the settings. Every problem is reported, each
// naming the context key and the fix.
func Load(ctx Context, defaultAccount string) (Settings, error) {
	var errs []error
	bad := func(key string, v any, fix string) {
		errs = append(errs, fmt.Errorf("context %q = %v: %s", key, v, fix))
	}
	str := func(key, def string) string {
		switch v := ctx(key).(type) {
		case nil:
			return def
		case string:
			return strings.TrimSpace(v)
		default:
			bad(key, v, "give a string")
			return def
		}
	}
	num := func(key string, def int) int {
		switch v := ctx(key).(type) {
		case nil:
			return def
		case float64:
			if v == float64(int(v)) {
				return int(v)
			}
		case string: // -c key=value arrives as a string
			if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
				return n
			}
		}
		bad(key, ctx(key), "give a whole number")
		return def
	}
	boolean := func(key string, def bool) bool {
		switch v := ctx(key).(type) {
		case nil:
			return def
		case bool:
			return v
		case string: // -c key=false arrives as a string
			if b, err := strconv.ParseBool(strings.TrimSpace(v)); err == nil {
				return b
			}
		}
		bad(key, ctx(key), "give true or false")
		return def
	}
	list := func(key string, def []string) []string {
		switch v := ctx(key).(type) {
		case nil:
			return def
		case string: // -c key=a,b
			if strings.TrimSpace(v) == "" {
				return nil
			}
			var out []string
			for _, p := range strings.Split(v, ",") {
				out = append(out, strings.TrimSpace(p))
			}
			return out
		case []any:
			var out []string
			for _, x := range v {
				s, ok := x.(string)
				if !ok {
					bad(key, v, "give a list of strings")
					return def
				}
				out = append(out, s)
			}
			return out
		}
		bad(key, ctx(key), "give a list of strings (JSON list, or a,b on the command line)")
		return def
	}

	s := Settings{
		Name:             str("name", DefaultName),
		Account:          str("account", defaultAccount),
		PrimaryRegion:    str("primaryRegion", "us-east-1"),
		SecondaryRegion:  str("secondaryRegion", "us-west-2"),
		PrimaryVpcID:     str("primaryVpcId", ""),
		SecondaryVpcID:   str("secondaryVpcId", ""),
		NodeType:         str("nodeType", "cache.r7g.large"),
		EngineVersion:    "", // after the engine, below
		Replicas:         num("replicasPerShard", num("replicas", 1)),
		Shards:           num("shards", 1),
		Port:             num("port", 6379),
		GlobalIDSuffix:   str("globalIdSuffix", "redisha"),
		PrimaryRGID:      str("primaryReplicationGroupId", "redis-primary"),
		SecondaryRGID:    str("secondaryReplicationGroupId", "redis-secondary"),
		ZoneName:         str("zoneName", "internal"),
		ExistingZoneID:   str("existingZoneId", ""),
		RecordName:       str("recordName", "redis.internal"),
		RecordTTL:        num("recordTtl", DefaultRecordTTL),
		AlarmPeriod:      num("alarmPeriod", 60),
		AlarmEvaluations: num("alarmEvaluationPeriods", 2),
		FastAlarmPeriod:  num("fastAlarmPeriod", 30),
		MetricsMode:      config.MetricsMode(str("metricsMode", string(config.MetricsEMF))),

		AlarmEmail:     str("alarmEmail", ""),
		MaxConnections: num("maxConnections", 52000),
		ReplicationLag: num("replicationLagSeconds", 5),
		LambdaAsset:    str("lambdaAsset", "build/lambda"),
		PromoterAsset:  str("promoterAsset", "build/promoter"),

		ReservedConcurrency: num("reservedConcurrency", 0),
		SecondaryAuthToken:  boolean("secondaryAuthToken", true),
	}
	s.Engine = engine.Redis
	if e, err := engine.ParseName(str("engine", "")); err != nil {
		bad("engine", ctx("engine"), "use redis (Redis OSS, the default) or valkey")
	} else {
		s.Engine = e
	}
	s.EngineVersion = str("engineVersion", engine.Default(s.Engine))
	s.ClusterMode = boolean("clusterMode", s.Shards > 1)
	if ctx("replicas") != nil && ctx("replicasPerShard") != nil && num("replicas", 0) != num("replicasPerShard", 0) {
		bad("replicasPerShard", ctx("replicasPerShard"), fmt.Sprintf("replicas (its older name) says %v: give one of the two", ctx("replicas")))
	}
	if m, err := promoter.ParseMode(str("promoterMode", "")); err != nil {
		bad("promoterMode", ctx("promoterMode"), "use off, advise (the default: page with the command) or auto (promote when every guard holds)")
	} else {
		s.PromoterMode = m
	}
	rawTimeout := str("checkTimeout", "")
	if rawTimeout == "" {
		s.CheckTimeout = check.DefaultTimeout
	} else if d, err := time.ParseDuration(rawTimeout); err != nil || d <= 0 {
		bad("checkTimeout", rawTimeout, "give a positive Go duration such as 2s or 1500ms")
	} else {
		s.CheckTimeout = d
	}
	s.PrimaryAZs = list("primaryAzs", []string{s.PrimaryRegion + "a", s.PrimaryRegion + "b"})
	s.SecondaryAZs = list("secondaryAzs", []string{s.SecondaryRegion + "a", s.SecondaryRegion + "b"})
	s.PrimarySubnetIDs = list("primarySubnetIds", nil)
	s.SecondarySubnets = list("secondarySubnetIds", nil)
	s.AppClientCidrs = list("appClientCidrs", nil)
	imported := s.PrimaryVpcID != "" || s.SecondaryVpcID != ""
	s.VpcEndpoints = boolean("vpcEndpoints", !imported)
	// auto reads the other region's CloudWatch through a NAT, unless the
	// witness (endpoint checks, read through the VPC resolver) gives it the
	// view from outside; a NAT then only tightens a stalled region's loss
	// bound (its last write read from its CloudWatch).
	s.NatGateway = boolean("natGateway", s.PromoterMode == promoter.ModeAuto && !imported && str("dnsHealthCheck", DNSEndpoint) == DNSAlarm)
	s.VpcEgress = boolean("vpcEgress", false)
	s.TerminationProtection = boolean("terminationProtection", true)
	s.CheckInterval = time.Duration(num("checkInterval", int(LoopInterval.Seconds()))) * time.Second
	s.WritableStatistic = str("writableStatistic", StatMinimum)
	s.DNSHealthCheck = str("dnsHealthCheck", DNSEndpoint)
	s.HealthCheckInterval = num("healthCheckInterval", DefaultHealthCheckInterval)
	s.HealthCheckFailureThreshold = num("healthCheckFailureThreshold", DefaultHealthCheckFailureThreshold)
	rawStall := str("promoterStallAfter", "")
	s.StallAfter = DefaultStallAfter
	if rawStall != "" {
		if d, err := time.ParseDuration(rawStall); err != nil || d <= 0 {
			bad("promoterStallAfter", rawStall, "give a Go duration such as 3m or 90s")
		} else {
			s.StallAfter = d
		}
	}
	switch raw := str("silentMaxDataLoss", ""); {
	case raw == "" && s.EndpointChecks():
		s.SilentMaxDataLoss = s.WitnessResolution()
	case raw != "":
		if d, err := time.ParseDuration(raw); err != nil || d < 0 {
			bad("silentMaxDataLoss", raw, "give a Go duration such as 45s, or 0 to leave a silent region to a person")
		} else {
			s.SilentMaxDataLoss = d
		}
	}
	s.PrimaryCidr = str("primaryCidr", ifEmpty(s.PrimaryVpcID, "10.0.0.0/16"))
	s.SecondaryCidr = str("secondaryCidr", ifEmpty(s.SecondaryVpcID, "10.1.0.0/16"))
	if v := ctx("extraVpcs"); v != nil {
		b, _ := json.Marshal(v)
		if sv, ok := v.(string); ok {
			b = []byte(sv)
		}
		if err := json.Unmarshal(b, &s.ExtraVpcs); err != nil {
			bad("extraVpcs", v, `give a JSON list such as [{"vpcId":"vpc-0abc1234","region":"us-east-1"}]`)
		}
	}

	if v := ctx("createdWith"); v != nil {
		b, _ := json.Marshal(v)
		if sv, ok := v.(string); ok {
			b = []byte(sv)
		}
		var c CreatedWith
		dec := json.NewDecoder(strings.NewReader(string(b)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&c); err != nil || c.NodeType == "" || c.EngineVersion == "" || c.Replicas == 0 || c.Port == 0 ||
			c.PrimaryRegion == "" || c.SecondaryRegion == "" || c.PrimaryRGID == "" || c.SecondaryRGID == "" || c.GlobalIDSuffix == "" {
			bad("createdWith", v, "give the JSON object a first synth prints (every field: nodeType, engineVersion, replicas, port, "+
				"primaryRegion, secondaryRegion, primaryReplicationGroupId, secondaryReplicationGroupId, globalIdSuffix)")
		} else {
			s.Created = &c
		}
	}
	loadAdopt(&s, str, bad)
	if s.Adopt != nil {
		// An adopted datastore's groups are named by their owner: a default
		// would point the alarms at groups that do not exist.
		for _, k := range []string{"primaryReplicationGroupId", "secondaryReplicationGroupId"} {
			if ctx(k) == nil {
				bad(k, "(not set)", "give the adopted member group's id (no default when adopting an existing Global Datastore)")
			}
		}
	}
	loadExistingGroup(&s, ctx, str, bad)
	for i, prefix := range []string{"primary", "secondary"} {
		s.AlarmTopics[i] = AlarmTopic{ARN: str(prefix+"AlarmTopicArn", ""), KeyARN: str(prefix+"AlarmTopicKeyArn", "")}
	}
	if (s.AlarmTopics[0].ARN == "") != (s.AlarmTopics[1].ARN == "") {
		bad("primaryAlarmTopicArn", s.AlarmTopics[0].ARN+" / secondaryAlarmTopicArn "+s.AlarmTopics[1].ARN,
			"give a topic for both regions (each region's alarms notify a topic in that region), or neither")
	}
	for i, c := range []struct{ prefix, region string }{{"primary", s.PrimaryRegion}, {"secondary", s.SecondaryRegion}} {
		t := s.AlarmTopics[i]
		if t.ARN != "" && !arnIn(t.ARN, "sns", c.region) {
			bad(c.prefix+"AlarmTopicArn", t.ARN, "give the ARN of an SNS topic in "+c.region+", arn:aws:sns:"+c.region+":ACCOUNT:NAME")
		}
		if t.KeyARN != "" && (t.ARN == "" || !arnIn(t.KeyARN, "kms", c.region)) {
			bad(c.prefix+"AlarmTopicKeyArn", t.KeyARN, "give the ARN of the topic's KMS key in "+c.region+" (arn:aws:kms:"+c.region+":ACCOUNT:key/ID), with the topic")
		}
	}
	if s.Account == "" {
		errs = append(errs, errors.New(`context "account" is not set and CDK_DEFAULT_ACCOUNT is empty: run with AWS credentials, or pass -c account=123456789012`))
	} else if !accountRE.MatchString(s.Account) {
		bad("account", s.Account, "give the 12-digit AWS account id")
	}
	for key, r := range map[string]string{"primaryRegion": s.PrimaryRegion, "secondaryRegion": s.SecondaryRegion} {
		if !regionRE.MatchString(r) {
			bad(key, r, "give a region name such as us-east-1")
		}
	}
	if s.PrimaryRegion == s.SecondaryRegion {
		bad("secondaryRegion", s.SecondaryRegion, "must differ from primaryRegion: a Global Datastore spans two regions")
	}
	checkAZs := func(key string, azs []string, region string) {
		if len(azs) < 2 {
			bad(key, azs, "give at least two availability zones (Multi-AZ)")
		}
		for _, az := range azs {
			if !strings.HasPrefix(az, region) || len(az) != len(region)+1 {
				bad(key, azs, "give zones of "+region+", e.g. "+region+"a")
				break
			}
		}
	}
	checkAZs("primaryAzs", s.PrimaryAZs, s.PrimaryRegion)
	checkAZs("secondaryAzs", s.SecondaryAZs, s.SecondaryRegion)
	checkVpc := func(vkey, skey, vpc string, subnets []string) {
		if vpc == "" {
			if len(subnets) > 0 {
				bad(skey, subnets, "subnet ids need "+vkey+" too")
			}
			return
		}
		if !vpcRE.MatchString(vpc) {
			bad(vkey, vpc, "give a VPC id such as vpc-0abc12345def67890")
		}
		if len(subnets) < 2 {
			bad(skey, subnets, "give at least two private subnet ids in different zones of "+vkey)
		}
		for _, sn := range subnets {
			if !subnetRE.MatchString(sn) {
				bad(skey, subnets, "give subnet ids such as subnet-0abc12345def67890")
				break
			}
		}
	}
	checkVpc("primaryVpcId", "primarySubnetIds", s.PrimaryVpcID, s.PrimarySubnetIDs)
	checkVpc("secondaryVpcId", "secondarySubnetIds", s.SecondaryVpcID, s.SecondarySubnets)
	for _, x := range s.ExtraVpcs {
		if !vpcRE.MatchString(x.VpcID) || !regionRE.MatchString(x.Region) {
			bad("extraVpcs", x, `each entry needs "vpcId" (vpc-…) and "region" (e.g. us-east-1)`)
		}
	}
	for _, c := range s.AppClientCidrs {
		if _, err := ipv4Prefix(c); err != nil {
			bad("appClientCidrs", s.AppClientCidrs, "give IPv4 CIDR blocks such as 10.20.0.0/16")
			break
		}
	}
	prefixes := map[string]netip.Prefix{}
	for _, c := range []struct{ key, cidr, vpc string }{{"primaryCidr", s.PrimaryCidr, s.PrimaryVpcID}, {"secondaryCidr", s.SecondaryCidr, s.SecondaryVpcID}} {
		if c.cidr == "" {
			continue
		}
		p, err := ipv4Prefix(c.cidr)
		switch {
		case err != nil:
			bad(c.key, c.cidr, "give an IPv4 CIDR block such as 10.0.0.0/16")
		case c.vpc == "" && (p.Bits() < 16 || p.Bits() > 22):
			bad(c.key, c.cidr, "give a /16 to /22 block: the VPC holds a /24 subnet per zone")
		default:
			prefixes[c.key] = p
		}
	}
	if a, b := prefixes["primaryCidr"], prefixes["secondaryCidr"]; a.IsValid() && b.IsValid() && a.Overlaps(b) {
		bad("secondaryCidr", s.SecondaryCidr, "must not overlap primaryCidr ("+s.PrimaryCidr+"): the two VPCs are peered, and a peering of overlapping ranges fails")
	}
	if !nodeRE.MatchString(s.NodeType) {
		bad("nodeType", s.NodeType, "give an ElastiCache node type such as cache.r7g.large")
	} else if strings.HasPrefix(s.NodeType, "cache.t") && s.Existing == nil { // an existing group's is checked with it
		bad("nodeType", s.NodeType, "Global Datastore needs M5, M6g, M7g, R5, R6g, R6gd or R7g nodes or newer (no T-family)")
	}
	if _, err := engine.Validate(string(s.Engine), s.EngineVersion, true); s.Existing == nil && err != nil { // an existing group's is checked with it
		bad("engineVersion", s.EngineVersion, err.Error())
	}
	if s.Replicas < 1 || s.Replicas > 5 {
		bad(replicasKey(ctx), s.Replicas, "use 1 to 5: automatic failover and Multi-AZ need at least one replica")
	}
	if s.Shards < engine.MinShards || s.Shards > engine.MaxShards {
		bad("shards", s.Shards, fmt.Sprintf("use %d to %d (node groups of each member)", engine.MinShards, engine.MaxShards))
	}
	if s.Shards > 1 && !s.ClusterMode {
		bad("clusterMode", s.ClusterMode, fmt.Sprintf("shards = %d needs cluster mode: drop clusterMode (it follows shards) or set it true", s.Shards))
	}
	if s.Port < 1024 || s.Port > 65535 {
		bad("port", s.Port, "use a port from 1024 to 65535")
	}
	if !rgIDRE.MatchString(s.GlobalIDSuffix) {
		bad("globalIdSuffix", s.GlobalIDSuffix, "use letters, digits and hyphens, starting with a letter")
	}
	for key, id := range map[string]string{"primaryReplicationGroupId": s.PrimaryRGID, "secondaryReplicationGroupId": s.SecondaryRGID} {
		if !rgIDRE.MatchString(id) || strings.HasSuffix(id, "-") || strings.Contains(id, "--") {
			bad(key, id, "use 1–40 letters, digits and single hyphens, starting with a letter")
		}
	}
	if !dnsRE.MatchString(s.ZoneName) {
		bad("zoneName", s.ZoneName, "give a DNS name such as internal")
	}
	if z := s.ExistingZoneID; z != "" {
		switch {
		case !zoneIDRE.MatchString(z):
			bad("existingZoneId", z, "give the hosted zone's id as Route 53 shows it, e.g. Z0123456789ABCDEFGHIJ (without /hostedzone/)")
		case s.PrimaryVpcID == "" || s.SecondaryVpcID == "":
			bad("existingZoneId", z, "the app cannot associate a zone it does not own with the VPCs it creates (CloudFormation has no "+
				"resource for that): give primaryVpcId and secondaryVpcId, VPCs already associated with the zone, or leave existingZoneId "+
				"unset and the app creates the zone")
		case len(s.ExtraVpcs) > 0:
			bad("extraVpcs", s.ExtraVpcs, "with existingZoneId the app creates no zone to associate them with: associate these VPCs "+
				"with your zone yourself (aws route53 associate-vpc-with-hosted-zone) and drop extraVpcs")
		}
	}
	if !dnsRE.MatchString(s.RecordName) || !strings.HasSuffix(s.RecordName, "."+s.ZoneName) {
		bad("recordName", s.RecordName, "give a name inside zoneName, e.g. redis."+s.ZoneName+" (a CNAME cannot sit at the zone apex)")
	}
	if s.RecordTTL < 1 || s.RecordTTL > 300 {
		bad("recordTtl", s.RecordTTL, "use 1 to 300 seconds (the design uses 5)")
	}
	if s.DNSHealthCheck != DNSEndpoint && s.DNSHealthCheck != DNSAlarm {
		bad("dnsHealthCheck", s.DNSHealthCheck, "use endpoint (Route 53 HTTPS checks on each region's writable endpoint, the default) or alarm (checks on the writable alarms: no public endpoint, no witness, a minute or more slower)")
	}
	if s.HealthCheckInterval != 10 && s.HealthCheckInterval != 30 {
		bad("healthCheckInterval", s.HealthCheckInterval, "use 10 or 30 (the request intervals Route 53 offers)")
	}
	if s.HealthCheckFailureThreshold < 1 || s.HealthCheckFailureThreshold > 10 {
		bad("healthCheckFailureThreshold", s.HealthCheckFailureThreshold, "use 1 to 10 (the design uses 1)")
	}
	if s.SilentMaxDataLoss > 0 && !s.EndpointChecks() {
		bad("silentMaxDataLoss", s.SilentMaxDataLoss, "only the witness (dnsHealthCheck=endpoint) dates a silent region's last write: use 0, or endpoint checks")
	}
	if s.AlarmPeriod < 60 || s.AlarmPeriod%60 != 0 {
		bad("alarmPeriod", s.AlarmPeriod, "use a multiple of 60: Route 53 health checks accept only standard-resolution alarms")
	}
	if s.AlarmEvaluations < 1 || s.AlarmEvaluations > 10 {
		bad("alarmEvaluationPeriods", s.AlarmEvaluations, "use 1 to 10 (the design uses 2)")
	}
	if s.FastAlarmPeriod != 10 && s.FastAlarmPeriod != 20 && s.FastAlarmPeriod != 30 {
		bad("fastAlarmPeriod", s.FastAlarmPeriod, "use 10, 20 or 30 (a high-resolution period)")
	}
	if s.MetricsMode != config.MetricsEMF && s.MetricsMode != config.MetricsAPI {
		bad("metricsMode", s.MetricsMode, "use emf (no endpoint needed) or api (adds a monitoring VPC endpoint)")
	}
	switch s.CheckInterval {
	case 10 * time.Second, 15 * time.Second, 20 * time.Second, 30 * time.Second:
	default:
		bad("checkInterval", int(s.CheckInterval.Seconds()), "use 10, 15, 20 or 30 seconds (a whole number of checks a minute)")
	}
	if s.StallAfter < 45*time.Second || s.StallAfter < 3*s.CheckInterval {
		bad("promoterStallAfter", s.StallAfter, "use at least 45s and three check intervals: under that, the primary region's own in-region failover (or a missed check) looks like a dead region")
	}
	if s.WritableStatistic != StatMinimum && s.WritableStatistic != StatMaximum {
		bad("writableStatistic", s.WritableStatistic, "use Minimum (every check of a period wrote) or Maximum (one did)")
	}
	if !nameRE.MatchString(s.Name) || len(s.Name) > 20 {
		bad("name", s.Name, "use 1–20 lower-case letters, digits and single hyphens, starting with a letter (it names stacks and alarms)")
	}
	if s.Name != DefaultName {
		// A second deployment in an account: the names AWS holds account
		// (and region) wide must be its own, never the first one's defaults.
		for _, k := range []string{"primaryReplicationGroupId", "secondaryReplicationGroupId", "globalIdSuffix"} {
			decided := s.Adopt != nil || (k == "primaryReplicationGroupId" && s.Existing != nil) // named by what exists
			if ctx(k) == nil && !decided {
				bad(k, "(not set)", "a deployment named "+s.Name+" needs its own (e.g. "+s.Name+"-"+
					map[string]string{"primaryReplicationGroupId": "east", "secondaryReplicationGroupId": "west", "globalIdSuffix": "ha"}[k]+
					"): the default is the default deployment's, and two deployments in one account would clash on it")
			}
		}
	}
	if s.NatGateway && imported {
		bad("natGateway", true, "the app adds a NAT only to the VPCs it creates; an imported VPC routes through its owner's NAT: set vpcEgress=true")
	}
	if imported && s.PromoterMode != promoter.ModeOff && !s.VpcEgress {
		// The promoter keeps its latch in DynamoDB and calls the ElastiCache
		// and SNS APIs: an imported VPC reaches them through its owner's NAT
		// or endpoints, which the app cannot see (it adds a DynamoDB gateway
		// only to route tables it knows).
		bad("vpcEgress", false, "the promoter in an imported VPC needs DynamoDB (its latch), the ElastiCache and SNS APIs: declare that the VPCs reach them (their NAT or endpoints) with vpcEgress=true, or set promoterMode=off")
	}
	if s.PromoterMode == promoter.ModeAuto {
		// auto must be able to gather its evidence: the other region's
		// alarm, read through its CloudWatch, which no endpoint in this
		// region's VPC serves (CloudWatch is not among the services reached
		// over cross-region PrivateLink).
		switch {
		case imported && !s.VpcEgress:
			bad("promoterMode", "auto", "auto reads the other region's CloudWatch from inside the VPC: declare that the imported VPCs route to AWS's public endpoints (a NAT of theirs) with vpcEgress=true, or use advise")
		case !imported && !s.NatGateway && !s.EndpointChecks():
			bad("promoterMode", "auto", "auto reads the other region's CloudWatch from inside the VPC, and the VPCs the app creates have no route there without natGateway=true (≈ $33 a month per region): keep natGateway, or use advise")
		}
	}
	lifecycleRefusals(s, bad)
	// What the functions would refuse at start, in their own words,
	// including budgets that do not fit in the function's timeout.
	d := New(s)
	errs = append(errs, runtimeRefusals(d, map[string]string{"checkTimeout": rawTimeout})...)
	errs = append(errs, promoterRefusals(d)...)
	if s.AlarmEmail != "" && !strings.Contains(s.AlarmEmail, "@") {
		bad("alarmEmail", s.AlarmEmail, "give an email address")
	}
	if s.MaxConnections < 1 {
		bad("maxConnections", s.MaxConnections, "give a positive threshold")
	}
	if s.ReplicationLag < 1 {
		bad("replicationLagSeconds", s.ReplicationLag, "give a positive number of seconds")
	}
	if s.ReservedConcurrency < 0 || s.ReservedConcurrency > 10 {
		bad("reservedConcurrency", s.ReservedConcurrency, "use 0 (none, the default) to 10; the loop runs one check at a time, and AWS refuses a reservation that leaves the account under 100 unreserved executions")
	}
	return s, errors.Join(errs...)
}

// ipv4Prefix reads an IPv4 CIDR block in canonical form (10.1.0.0/16).
func ipv4Prefix(c string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(c)
	if err == nil && (!p.Addr().Is4() || p.Masked() != p) {
		err = fmt.Errorf("%s is not an IPv4 network address", c)
	}
	return p, err
}

// ifEmpty is def when s is empty, else "".
func ifEmpty(s, def string) string {
	if s == "" {
		return def
	}
	return ""
}

// parseVersion reads a dotted engine version such as 7.1 or 5.0.6.
func parseVersion(v string) ([]int, bool) {
	parts := strings.Split(v, ".")
	if len(parts) < 1 || len(parts) > 3 {
		return nil, false
	}
	out := make([]int, len(parts))
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return nil, false
		}
		out[i] = n
	}
	return out, true
}

// compareVersions orders two parsed versions; missing parts count as 0.
func compareVersions(a, b []int) int {
	for i := 0; i < max(len(a), len(b)); i++ {
		x, y := 0, 0
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if x != y {
			return x - y
		}
	}
	return 0
}

// What the failover records follow (Settings.DNSHealthCheck).
const (
	DNSEndpoint = "endpoint"
	DNSAlarm    = "alarm"
)

// Defaults of the failover design (docs/failover.md, "The fast design").
const (
	DefaultRecordTTL                   = 5
	DefaultHealthCheckInterval         = 10
	DefaultHealthCheckFailureThreshold = 1
	DefaultStallAfter                  = time.Minute
)

// EndpointChecks says whether the records follow Route 53 HTTPS checks on
// the regions' writable endpoints (and each region has a witness).
func (s Settings) EndpointChecks() bool { return s.DNSHealthCheck == DNSEndpoint }

// WitnessResolution is how late a promoter can date a silent region's last
// write from its witness, on top of the replication lag: the heartbeat's
// interval (the newest one here may be that old), the health check's
// reaction (FailureThreshold requests), one promoter run (it reads the
// witness once a check), Route 53's four-second connect timeout on the
// last failing request (rounded up), and MAX_DATA_LOSS for the lag itself.
// The default of silentMaxDataLoss: 40 s with the defaults.
func (s Settings) WitnessResolution() time.Duration {
	return promoter.DefaultMaxDataLoss + 2*s.CheckInterval +
		time.Duration(s.HealthCheckInterval*s.HealthCheckFailureThreshold)*time.Second + 5*time.Second
}

// ReachesAPIs says whether the region VPCs reach the regional AWS APIs the
// checker's fence and the promoter call (ElastiCache, DynamoDB, SNS): through
// the interface endpoints the app creates, its NAT, or an imported VPC's own
// route (vpcEgress).
func (s Settings) ReachesAPIs() bool { return s.VpcEndpoints || s.NatGateway || s.VpcEgress }

// replicasKey is the key that gave the replica count: replicasPerShard, or
// replicas when only that older name was used.
func replicasKey(ctx Context) string {
	if ctx("replicasPerShard") == nil && ctx("replicas") != nil {
		return "replicas"
	}
	return "replicasPerShard"
}
