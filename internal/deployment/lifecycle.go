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
//   - ids, suffix, port, regions: refused; a new Global Datastore is a new
//     deployment (docs/infra.md, "Lifecycle").
type CreatedWith struct {
	NodeType string `json:"nodeType"`
	// Engine is redis or valkey; a record made before the setting existed
	// has none, and means redis.
	Engine          engine.Name `json:"engine,omitempty"`
	EngineVersion   string      `json:"engineVersion"`
	Replicas        int         `json:"replicas"`
	Port            int         `json:"port"`
	PrimaryRegion   string      `json:"primaryRegion"`
	SecondaryRegion string      `json:"secondaryRegion"`
	PrimaryRGID     string      `json:"primaryReplicationGroupId"`
	SecondaryRGID   string      `json:"secondaryReplicationGroupId"`
	GlobalIDSuffix  string      `json:"globalIdSuffix"`
}

// createdWith is what the settings create (the value to record).
func createdWith(s Settings) CreatedWith {
	return CreatedWith{NodeType: s.NodeType, Engine: s.Engine, EngineVersion: s.EngineVersion, Replicas: s.Replicas, Port: s.Port,
		PrimaryRegion: s.PrimaryRegion, SecondaryRegion: s.SecondaryRegion,
		PrimaryRGID: s.PrimaryRGID, SecondaryRGID: s.SecondaryRGID, GlobalIDSuffix: s.GlobalIDSuffix}
}

// Record is the createdWith value to put in cdk.json after the first deploy.
func (c CreatedWith) Record() string {
	b, _ := json.Marshal(c)
	return string(b)
}

// Members are the values the replication groups carry: the recorded ones
// once the datastore exists, else the settings'.
func (s Settings) Members() CreatedWith {
	if s.Created != nil {
		c := *s.Created
		if c.Engine == "" {
			c.Engine = engine.Redis
		}
		return c
	}
	return createdWith(s)
}

// GlobalChange is what the Global Datastore resource must carry to change
// its members: the settings' values where they differ from the recorded
// ones (nil where they do not), nothing before anything is recorded.
type GlobalChange struct {
	NodeType, Engine, EngineVersion *string
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
