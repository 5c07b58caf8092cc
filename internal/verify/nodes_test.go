package verify

import (
	"slices"
	"testing"
)

// The node clusters the alarms and verify name: <group>-00N with cluster
// mode off, <group>-000S-00N shard by shard with it on (a one-shard cluster
// too).
func TestGroupNodes(t *testing.T) {
	for _, c := range []struct {
		cluster          bool
		shards, perShard int
		want             []string
	}{
		{false, 1, 2, []string{"g-001", "g-002"}},
		{false, 3, 2, []string{"g-001", "g-002"}},
		{true, 1, 2, []string{"g-0001-001", "g-0001-002"}},
		{true, 3, 2, []string{"g-0001-001", "g-0001-002", "g-0002-001", "g-0002-002", "g-0003-001", "g-0003-002"}},
	} {
		if got := GroupNodes("g", c.cluster, c.shards, c.perShard); !slices.Equal(got, c.want) {
			t.Errorf("cluster %v, %d shards of %d: %v, want %v", c.cluster, c.shards, c.perShard, got, c.want)
		}
	}
}
