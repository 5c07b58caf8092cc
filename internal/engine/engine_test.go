package engine_test

import (
	"strings"
	"testing"

	"github.com/redisha/redisha/internal/engine"
)

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		engine, version string
		global          bool
		want            string // version as resolved
		family          string
	}{
		{"", "", true, "7.1", "redis7"},
		{"redis", "7.1", true, "7.1", "redis7"},
		{"REDIS", "7.0.7", true, "7.0", "redis7"},
		{"redis", "6.x", true, "6.0", "redis6.x"},
		{"redis", "6.2", true, "6.2", "redis6.x"},
		{"redis", "5.0.6", true, "5.0.6", "redis5.0"},
		{"valkey", "", true, "8.2", "valkey8"},
		{"valkey", "7.2", true, "7.2", "valkey7"},
		{"valkey", "8.0", true, "8.0", "valkey8"},
		{"valkey", "8.1.1", true, "8.1", "valkey8"},
	} {
		v, err := engine.Validate(tc.engine, tc.version, tc.global)
		if err != nil {
			t.Errorf("Validate(%q, %q): %v", tc.engine, tc.version, err)
			continue
		}
		if v.Version != tc.want || v.Family != tc.family {
			t.Errorf("Validate(%q, %q) = %s %s, want %s %s", tc.engine, tc.version, v.Version, v.Family, tc.want, tc.family)
		}
	}
}

func TestValidateRefuses(t *testing.T) {
	for _, tc := range []struct{ engine, version, want string }{
		{"memcached", "1.6", `engine "memcached" is unknown: use redis or valkey`},
		{"redis", "7.2", `redis version "7.2" is not offered by ElastiCache for a Global Datastore (Redis OSS stops at 7.1 on ElastiCache: for 7.2 and later use engine valkey): use one of 5.0.6, 6.0, 6.2, 7.0, 7.1`},
		{"redis", "4.0.10", `redis version "4.0.10" is not offered by ElastiCache for a Global Datastore: use one of 5.0.6, 6.0, 6.2, 7.0, 7.1`},
		{"redis", "5.0.5", `redis version "5.0.5" is not offered`},
		{"valkey", "7.1", `valkey version "7.1" is not offered by ElastiCache for a Global Datastore (Valkey starts at 7.2: for older versions use engine redis): use one of 7.2, 8.0, 8.1, 8.2`},
		{"valkey", "6.2", `(Valkey starts at 7.2`},
		{"valkey", "9.9", `valkey version "9.9" is not offered`},
		{"valkey", "latest", `valkey version "latest" is not offered`},
	} {
		_, err := engine.Validate(tc.engine, tc.version, true)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(%q, %q) = %v, want an error with %q", tc.engine, tc.version, err, tc.want)
		}
	}
}

func TestFamilyAndDefaultParameterGroup(t *testing.T) {
	f, err := engine.Family("valkey", "8.0")
	if err != nil || f != "valkey8" {
		t.Fatalf("Family(valkey, 8.0) = %q, %v", f, err)
	}
	v, _ := engine.Validate("redis", "7.1", true)
	if got := engine.DefaultParameterGroup(v, true); got != "default.redis7.cluster.on" {
		t.Errorf("cluster parameter group %q", got)
	}
	if got := engine.DefaultParameterGroup(v, false); got != "default.redis7" {
		t.Errorf("parameter group %q", got)
	}
	if _, err := engine.Family("redis", "8.0"); err == nil {
		t.Error("Family(redis, 8.0) has no error")
	}
}

func TestValidateShards(t *testing.T) {
	for _, tc := range []struct {
		shards, replicas int
		want             string
	}{
		{1, 0, ""}, {3, 2, ""}, {500, 5, ""},
		{0, 1, "shards = 0: use 1 to 500"},
		{501, 1, "shards = 501: use 1 to 500"},
		{3, 6, "replicasPerShard = 6: use 0 to 5"},
		{3, -1, "replicasPerShard = -1: use 0 to 5"},
	} {
		err := engine.ValidateShards(tc.shards, tc.replicas)
		if got := errText(err); got != tc.want {
			t.Errorf("ValidateShards(%d, %d) = %q, want %q", tc.shards, tc.replicas, got, tc.want)
		}
	}
}

func TestValidateGlobalNodeType(t *testing.T) {
	for _, tc := range []struct{ node, want string }{
		{"cache.r7g.large", ""},
		{"cache.m5.xlarge", ""},
		{"cache.r6gd.xlarge", ""},
		{"cache.t4g.medium", `node type "cache.t4g.medium" cannot be in a Global Datastore: use one of the m5, m6g, m7g, r5, r6g, r6gd, r7g, c7gn families (m5 or r5 and newer)`},
		{"cache.c7gn.large", ""},
		{"cache.m6g.medium", `node type "cache.m6g.medium" cannot be in a Global Datastore: use size large or above (e.g. cache.m6g.large)`},
		{"cache.r4.large", "cannot be in a Global Datastore"},
		{"r7g.large", `node type "r7g.large" is not cache.FAMILY.SIZE, e.g. cache.r7g.large`},
	} {
		err := engine.ValidateGlobalNodeType(tc.node)
		if got := errText(err); (tc.want == "" && got != "") || !strings.Contains(got, tc.want) {
			t.Errorf("ValidateGlobalNodeType(%q) = %q, want %q", tc.node, got, tc.want)
		}
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestValidateGlobal(t *testing.T) {
	east := engine.Member{Region: "us-east-1", Engine: "valkey", Version: "8.0", NodeType: "cache.r7g.large", Shards: 3, ReplicasPerShard: 1}
	west := east
	west.Region, west.ReplicasPerShard = "us-west-2", 2 // replicas may differ
	if err := engine.ValidateGlobal(east, west); err != nil {
		t.Fatalf("alike members: %v", err)
	}
	differ := func(f func(m *engine.Member)) engine.Member {
		m := west
		f(&m)
		return m
	}
	for _, tc := range []struct {
		name    string
		members []engine.Member
		want    string
	}{
		{"shards", []engine.Member{east, differ(func(m *engine.Member) { m.Shards = 4 })},
			"us-east-1 has 3 shards and us-west-2 has 4: every member of a Global Datastore has the same number of shards (a resharding resizes them all together)"},
		{"version", []engine.Member{east, differ(func(m *engine.Member) { m.Version = "8.1" })},
			"us-east-1 runs valkey 8.0 and us-west-2 runs valkey 8.1: every member of a Global Datastore runs the same engine and version"},
		{"engine", []engine.Member{east, differ(func(m *engine.Member) { m.Engine, m.Version = "redis", "7.1" })},
			"us-east-1 runs valkey 8.0 and us-west-2 runs redis 7.1"},
		{"node type", []engine.Member{east, differ(func(m *engine.Member) { m.NodeType = "cache.r6g.large" })},
			"us-east-1 has node type cache.r7g.large and us-west-2 has cache.r6g.large"},
		{"t-type", []engine.Member{differ(func(m *engine.Member) { m.NodeType = "cache.t4g.small" })},
			"us-west-2: node type \"cache.t4g.small\" cannot be in a Global Datastore"},
		{"no shards", []engine.Member{differ(func(m *engine.Member) { m.Shards = 0 })}, "us-west-2: shards = 0: use 1 to 500"},
		{"bad version", []engine.Member{differ(func(m *engine.Member) { m.Version = "7.0" })}, "us-west-2: valkey version \"7.0\" is not offered"},
		{"four members", []engine.Member{east, west, west, west}, "4 members: a Global Datastore has a primary and at most two secondaries"},
		{"none", nil, "a Global Datastore needs at least one member"},
	} {
		err := engine.ValidateGlobal(tc.members...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.want)
		}
	}
}
