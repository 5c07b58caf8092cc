// Package engine knows which engines and versions ElastiCache offers for a
// redisha deployment (a Global Datastore, cluster mode on or off), and the
// parameter-group family each belongs to. It is pure data and rules: the
// stacks validate their settings with it at synth time, so a version AWS
// would refuse fails with a clear error before anything is deployed.
//
// Source: the ElastiCache user guide's "Supported engines and versions",
// "Engine specific parameters" (the families) and the Global Datastore's
// "Prerequisites and limitations" (Redis OSS 5.0.6 or later; node types m5
// or r5 and newer). A version AWS adds later is a new row in offered.
package engine

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Name is an engine.
type Name string

// Engines.
const (
	// Redis is Redis OSS ("redis" in CloudFormation's Engine).
	Redis Name = "redis"
	// Valkey is the Linux Foundation's fork of Redis OSS 7.2: the same
	// protocol, priced lower on ElastiCache.
	Valkey Name = "valkey"
)

// Version is one engine version ElastiCache offers.
type Version struct {
	// Engine is the engine.
	Engine Name
	// Version is the EngineVersion to give CloudFormation, e.g. "7.1".
	Version string
	// Family is the parameter-group family, e.g. "redis7" or "valkey8".
	Family string
	// GlobalDatastore is true when a Global Datastore may hold it.
	GlobalDatastore bool
}

// offered lists the node-based versions, oldest first. Redis OSS 4.0.10 and
// older are out of standard support and offer no Global Datastore; they are
// left out on purpose: redisha deploys what a Global Datastore can hold.
var offered = []Version{
	{Redis, "5.0.6", "redis5.0", true},
	{Redis, "6.0", "redis6.x", true},
	{Redis, "6.2", "redis6.x", true},
	{Redis, "7.0", "redis7", true},
	{Redis, "7.1", "redis7", true},
	{Valkey, "7.2", "valkey7", true},
	{Valkey, "8.0", "valkey8", true},
	{Valkey, "8.1", "valkey8", true},
	{Valkey, "8.2", "valkey8", true},
}

// aliases are other spellings of an offered version that ElastiCache
// accepts or prints.
var aliases = map[string]string{
	"6.x": "6.0",
}

// Default is the version a deployment gets when it names none: the newest
// of the engine.
func Default(e Name) string {
	v := Versions(e)
	if len(v) == 0 {
		return ""
	}
	return v[len(v)-1]
}

// Versions lists the versions offered for e, oldest first.
func Versions(e Name) []string {
	var out []string
	for _, v := range offered {
		if v.Engine == e {
			out = append(out, v.Version)
		}
	}
	return out
}

// ParseName reads an engine name; empty means Redis (what the stacks
// deployed before the setting existed).
func ParseName(s string) (Name, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "redis":
		return Redis, nil
	case "valkey":
		return Valkey, nil
	}
	return "", fmt.Errorf("engine %q is unknown: use redis or valkey", s)
}

// Lookup finds a version of an engine. An empty version is Default(e); a
// patch release of a major.minor version (7.1.0) is that version, as
// ElastiCache manages patches itself.
func Lookup(e Name, version string) (Version, error) {
	if _, err := ParseName(string(e)); err != nil || e == "" {
		if e != "" {
			return Version{}, err
		}
		e = Redis
	}
	v := strings.TrimSpace(version)
	if v == "" {
		v = Default(e)
	}
	if a, ok := aliases[v]; ok {
		v = a
	}
	for _, o := range offered {
		if o.Engine != e {
			continue
		}
		if o.Version == v || (strings.Count(o.Version, ".") == 1 && strings.HasPrefix(v, o.Version+".")) {
			return o, nil
		}
	}
	hint := ""
	switch major, minor, ok := majorMinor(v); {
	case ok && e == Redis && (major > 7 || major == 7 && minor >= 2):
		hint = " (Redis OSS stops at 7.1 on ElastiCache: for 7.2 and later use engine valkey)"
	case ok && e == Valkey && (major < 7 || major == 7 && minor < 2):
		hint = " (Valkey starts at 7.2: for older versions use engine redis)"
	}
	return Version{}, fmt.Errorf("%s version %q is not offered by ElastiCache for a Global Datastore%s: use one of %s",
		e, version, hint, strings.Join(Versions(e), ", "))
}

// Validate checks an engine and version for a deployment, one that a Global
// Datastore can hold when global. Every offered version runs with cluster
// mode on or off (cluster mode needs Redis OSS 3.2.4 or later), so cluster
// mode adds no rule of its own.
func Validate(engine, version string, global bool) (Version, error) {
	e, err := ParseName(engine)
	if err != nil {
		return Version{}, err
	}
	v, err := Lookup(e, version)
	if err != nil {
		return Version{}, err
	}
	if global && !v.GlobalDatastore {
		return Version{}, fmt.Errorf("%s %s cannot be in a Global Datastore: use %s 5.0.6 or later", e, v.Version, Redis)
	}
	return v, nil
}

// Family is the parameter-group family of an engine version, e.g. redis7.
func Family(engine, version string) (string, error) {
	v, err := Validate(engine, version, false)
	if err != nil {
		return "", err
	}
	return v.Family, nil
}

// ClusterModeParameter is the parameter that turns cluster mode on in a
// custom parameter group of any offered family ("yes" or "no").
const ClusterModeParameter = "cluster-enabled"

// DefaultParameterGroup is the name of ElastiCache's default parameter group
// of the version, cluster mode on or off, e.g. default.redis7.cluster.on.
func DefaultParameterGroup(v Version, cluster bool) string {
	if cluster {
		return "default." + v.Family + ".cluster.on"
	}
	return "default." + v.Family
}

// Global Datastore shard limits of one member (cluster mode on): at least 1
// shard and at most 500 node groups; 0 to 5 replicas per shard. Each member
// of a Global Datastore must have the same number of shards; replicas may
// differ.
const (
	MinShards           = 1
	MaxShards           = 500
	MaxReplicasPerShard = 5
)

// ValidateShards checks a shard count and replicas per shard.
func ValidateShards(shards, replicasPerShard int) error {
	if shards < MinShards || shards > MaxShards {
		return fmt.Errorf("shards = %d: use %d to %d", shards, MinShards, MaxShards)
	}
	if replicasPerShard < 0 || replicasPerShard > MaxReplicasPerShard {
		return fmt.Errorf("replicasPerShard = %d: use 0 to %d", replicasPerShard, MaxReplicasPerShard)
	}
	return nil
}

// globalNodeFamilies are the node families a Global Datastore accepts: m5
// and r5 and newer (t-types and older generations are refused).
// globalNodeFamilies are the node families AWS lists for a Global
// Datastore ("M5, M6g, M7g, R5, R6g, R6gd, R7g, and C7gn"), in size large
// and above.
var globalNodeFamilies = []string{"m5", "m6g", "m7g", "r5", "r6g", "r6gd", "r7g", "c7gn"}

// ValidateGlobalNodeType checks that a node type (cache.r6g.large) may be in
// a Global Datastore.
func ValidateGlobalNodeType(nodeType string) error {
	parts := strings.Split(nodeType, ".")
	if len(parts) != 3 || parts[0] != "cache" {
		return fmt.Errorf("node type %q is not cache.FAMILY.SIZE, e.g. cache.r7g.large", nodeType)
	}
	if !slices.Contains(globalNodeFamilies, parts[1]) {
		return fmt.Errorf("node type %q cannot be in a Global Datastore: use one of the %s families (m5 or r5 and newer)",
			nodeType, strings.Join(globalNodeFamilies, ", "))
	}
	if slices.Contains([]string{"micro", "small", "medium"}, parts[2]) {
		return fmt.Errorf("node type %q cannot be in a Global Datastore: use size large or above (e.g. cache.%s.large)", nodeType, parts[1])
	}
	return nil
}

// majorMinor reads the first two numbers of a version such as 7.1 or 7.1.0.
func majorMinor(v string) (major, minor int, ok bool) {
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return 0, 0, false
	}
	var err1, err2 error
	major, err1 = strconv.Atoi(parts[0])
	minor, err2 = strconv.Atoi(parts[1])
	return major, minor, err1 == nil && err2 == nil
}

// Member is one replication group of a Global Datastore as a deployment
// describes it.
type Member struct {
	// Region names the member in errors, e.g. us-east-1.
	Region string
	// Engine and Version as given to Validate.
	Engine, Version string
	// NodeType, e.g. cache.r7g.large.
	NodeType string
	// Shards is the number of node groups (1 with cluster mode off).
	Shards int
	// ReplicasPerShard may differ between members.
	ReplicasPerShard int
}

// ValidateGlobal checks the members of one Global Datastore against its
// rules: every member valid on its own (engine, version, node type, shard
// and replica counts), and all alike in engine, version, node type and
// number of shards (replicas may differ, to serve each region's reads).
// A resharding changes every member together: ElastiCache resizes the
// Global Datastore, not one member, so a deployment that changes the shard
// count of one member alone fails here.
func ValidateGlobal(members ...Member) error {
	if len(members) == 0 {
		return fmt.Errorf("a Global Datastore needs at least one member")
	}
	if len(members) > 3 {
		return fmt.Errorf("%d members: a Global Datastore has a primary and at most two secondaries", len(members))
	}
	var first Version
	for i, m := range members {
		v, err := Validate(m.Engine, m.Version, true)
		if err != nil {
			return fmt.Errorf("%s: %w", m.Region, err)
		}
		if err := ValidateGlobalNodeType(m.NodeType); err != nil {
			return fmt.Errorf("%s: %w", m.Region, err)
		}
		if err := ValidateShards(m.Shards, m.ReplicasPerShard); err != nil {
			return fmt.Errorf("%s: %w", m.Region, err)
		}
		if i == 0 {
			first = v
			continue
		}
		p := members[0]
		switch {
		case v != first:
			return fmt.Errorf("%s runs %s %s and %s runs %s %s: every member of a Global Datastore runs the same engine and version",
				p.Region, first.Engine, first.Version, m.Region, v.Engine, v.Version)
		case m.NodeType != p.NodeType:
			return fmt.Errorf("%s has node type %s and %s has %s: every member of a Global Datastore has the same node type",
				p.Region, p.NodeType, m.Region, m.NodeType)
		case m.Shards != p.Shards:
			return fmt.Errorf("%s has %d shards and %s has %d: every member of a Global Datastore has the same number of shards (a resharding resizes them all together)",
				p.Region, p.Shards, m.Region, m.Shards)
		}
	}
	return nil
}
