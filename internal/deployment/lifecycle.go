package deployment

import (
	"encoding/json"
	"fmt"

	"github.com/redisha/redisha/internal/engine"
)

// CreatedWith records what the replication groups were created with. Once
// they are Global Datastore members, AWS rejects changing them through the
// groups themselves, and their fixed names make a replacement impossible; so
// once recorded (context createdWith, in cdk.json after the first deploy),
// the groups' templates keep these values for ever, and a change goes where
// AWS takes it:
//   - nodeType, engine and engineVersion: on the Global Datastore resource
//     (ModifyGlobalReplicationGroup scales and upgrades every member, and
//     moves Redis OSS to Valkey; never back);
//   - replicas: out of band, per region (increase-replica-count /
//     decrease-replica-count); the stacks' alarms follow the replicas setting;
//   - shards: more on the Global Datastore resource (GlobalNodeGroupCount
//     reshards every member together); fewer out of band (ElastiCache must
//     be told which node groups to remove); cluster mode: refused;
//   - ids, suffix, port, regions: refused; a new Global Datastore is a new
//     deployment (docs/infra.md, "Lifecycle").
type CreatedWith struct {
	NodeType string `json:"nodeType"`
	// Engine is redis or valkey; a record made before the setting existed
	// has none, and means redis.
	Engine        engine.Name `json:"engine,omitempty"`
	EngineVersion string      `json:"engineVersion"`
	Replicas      int         `json:"replicas"`
	// Shards and ClusterMode: a record made before they existed has
	// neither, and means one shard, cluster mode disabled.
	Shards          int    `json:"shards,omitempty"`
	ClusterMode     bool   `json:"clusterMode,omitempty"`
	Port            int    `json:"port"`
	PrimaryRegion   string `json:"primaryRegion"`
	SecondaryRegion string `json:"secondaryRegion"`
	PrimaryRGID     string `json:"primaryReplicationGroupId"`
	SecondaryRGID   string `json:"secondaryReplicationGroupId"`
	GlobalIDSuffix  string `json:"globalIdSuffix"`
}

// createdWith is what the settings create (the value to record).
func createdWith(s Settings) CreatedWith {
	c := CreatedWith{NodeType: s.NodeType, Engine: s.Engine, EngineVersion: s.EngineVersion, Replicas: s.Replicas,
		ClusterMode: s.ClusterMode, Port: s.Port,
		PrimaryRegion: s.PrimaryRegion, SecondaryRegion: s.SecondaryRegion,
		PrimaryRGID: s.PrimaryRGID, SecondaryRGID: s.SecondaryRGID, GlobalIDSuffix: s.GlobalIDSuffix}
	if s.ClusterMode {
		c.Shards = s.Shards // a record of one shard, cluster mode disabled, reads as before
	}
	return c
}

// Record is the createdWith value to put in cdk.json after the first deploy.
func (c CreatedWith) Record() string {
	if !c.ClusterMode {
		c.Shards = 0 // one shard: a record as before shards existed
	}
	b, _ := json.Marshal(c)
	return string(b)
}

// Members are the values the replication groups carry: the recorded ones
// once the datastore exists, else the settings'.
func (s Settings) Members() CreatedWith {
	c := createdWith(s)
	if s.Created != nil {
		c = *s.Created
	}
	if c.Engine == "" {
		c.Engine = engine.Redis
	}
	if c.Shards == 0 {
		c.Shards = 1
	}
	return c
}

// DeployedShards is the number of shards each member has once deployed:
// the settings' (shards added after the record are added in the same
// deploy, through the Global Datastore), at least the recorded ones.
func (s Settings) DeployedShards() int { return max(s.Shards, s.Members().Shards) }

// GlobalChange is what the Global Datastore resource must carry to change
// its members: the settings' values where they differ from the recorded
// ones (nil where they do not), nothing before anything is recorded.
type GlobalChange struct {
	NodeType, Engine, EngineVersion *string
	// Shards is the new shard count (more than recorded).
	Shards *float64
}

// GlobalChanges are the changes the Global Datastore resource carries. A
// move to another engine names the version too (AWS takes both together).
func (s Settings) GlobalChanges() GlobalChange {
	var g GlobalChange
	if s.Created == nil {
		return g
	}
	was := s.Members()
	if s.NodeType != was.NodeType {
		g.NodeType = &s.NodeType
	}
	if s.Engine != was.Engine {
		e := string(s.Engine)
		g.Engine = &e
		g.EngineVersion = &s.EngineVersion
	}
	if s.EngineVersion != was.EngineVersion {
		g.EngineVersion = &s.EngineVersion
	}
	if s.Shards > was.Shards {
		n := float64(s.Shards)
		g.Shards = &n
	}
	return g
}

// lifecycleRefusals are the changes against the recorded creation that AWS
// would reject or that would need a replacement, each with what to do.
func lifecycleRefusals(s Settings, bad func(key string, v any, fix string)) {
	c := s.Created
	if c == nil {
		return
	}
	fixed := []struct {
		key      string
		now, was any
	}{
		{"port", s.Port, c.Port},
		{"primaryRegion", s.PrimaryRegion, c.PrimaryRegion},
		{"secondaryRegion", s.SecondaryRegion, c.SecondaryRegion},
		{"primaryReplicationGroupId", s.PrimaryRGID, c.PrimaryRGID},
		{"secondaryReplicationGroupId", s.SecondaryRGID, c.SecondaryRGID},
		{"globalIdSuffix", s.GlobalIDSuffix, c.GlobalIDSuffix},
	}
	for _, f := range fixed {
		if f.now != f.was {
			bad(f.key, f.now, fmt.Sprintf("the Global Datastore was created with %v (createdWith): a member cannot be renamed, moved or re-ported, "+
				"and its fixed name rules out a replacement; set it back to %v, or deploy a new Global Datastore under other ids (docs/infra.md, Lifecycle)", f.was, f.was))
		}
	}
	if was := s.Members(); s.ClusterMode != was.ClusterMode {
		bad("clusterMode", s.ClusterMode, fmt.Sprintf("the Global Datastore was created with cluster mode %s (createdWith): its members "+
			"cannot change it; set it back, or deploy a new Global Datastore and move the data (redisha migrate)", onOff(was.ClusterMode)))
	} else if s.Shards < was.Shards {
		bad("shards", s.Shards, fmt.Sprintf("the Global Datastore has %d shards (createdWith): remove shards out of band (aws elasticache "+
			"decrease-node-groups-in-global-replication-group --global-replication-group-id ID --node-group-count %d "+
			"--global-node-groups-to-retain … --apply-immediately), then record the new count in createdWith", was.Shards, s.Shards))
	}
	if wasEngine := s.Members().Engine; s.Engine == engine.Redis && wasEngine == engine.Valkey {
		bad("engine", s.Engine, "the Global Datastore runs valkey (createdWith): ElastiCache moves Redis OSS to Valkey, never back; give valkey")
		return
	}
	now, okNow := parseVersion(s.EngineVersion)
	was, okWas := parseVersion(c.EngineVersion)
	if okNow && okWas && compareVersions(now, was) < 0 {
		bad("engineVersion", s.EngineVersion, fmt.Sprintf("the Global Datastore runs %s or later (createdWith): engines are upgraded, never downgraded; give %s or later",
			c.EngineVersion, c.EngineVersion))
	}
}

func onOff(b bool) string {
	if b {
		return "enabled"
	}
	return "disabled"
}
