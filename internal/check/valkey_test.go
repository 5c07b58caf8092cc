package check

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"
)

// Answers as Valkey 7.2 and 8.0 send them, transcribed from its source
// (replication.c roleCommand, server.c createSharedObjects and INFO,
// cluster.c and cluster_legacy.c for redirections and CLUSTER SHARDS) and
// its documentation. Debian here ships no valkey-server, so these are the
// checker's only Valkey tests: see docs/valkey.md.

// serverReply is an error reply as go-redis hands it over: a redis.Error.
type serverReply string

func (e serverReply) Error() string { return string(e) }
func (serverReply) RedisError()     {}

var _ redis.Error = serverReply("")

func TestValkeyRoleReplies(t *testing.T) {
	for _, tc := range []struct {
		name  string
		reply []any
		want  Role
	}{
		{"valkey 8 primary", []any{"master", int64(3129659), []any{[]any{"10.0.0.2", "6379", "3129659"}}}, Primary},
		{"valkey 8 replica", []any{"slave", "10.0.0.1", int64(6379), "connected", int64(3129659)}, Replica},
		{"valkey 8 replica syncing", []any{"slave", "10.0.0.1", int64(6379), "sync", int64(-1)}, Replica},
		{"replica, should ROLE follow HELLO's names", []any{"replica", "10.0.0.1", int64(6379), "connected", int64(1)}, Replica},
		{"primary, should ROLE follow HELLO's names", []any{"primary", int64(1), []any{}}, Primary},
		{"sentinel", []any{"sentinel", []any{"mymaster"}}, ""},
	} {
		cmd := redis.NewCmd(context.Background(), "ROLE")
		cmd.SetVal(tc.reply)
		if got := parseRole(cmd); got != tc.want {
			t.Errorf("%s: parseRole = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestValkeyErrorReplies(t *testing.T) {
	for _, tc := range []struct {
		reply string
		want  Reason
	}{
		{"READONLY You can't write against a read only replica.", ReasonReadOnly},
		{"LOADING Valkey is loading the dataset in memory", ReasonLoading},
		{"BUSY Valkey is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.", ReasonBusy},
		{"BUSY Valkey is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.", ReasonBusy},
		{"MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.", ReasonMaster},
		{"OOM command not allowed when used memory > 'maxmemory'.", ReasonOOM},
		{"NOAUTH Authentication required.", ReasonAuth},
		{"WRONGPASS invalid username-password pair or user is disabled.", ReasonAuth},
		{"NOPERM User checker has no permissions to run the 'role' command", ReasonNoPerm},
		{"MOVED 3999 10.0.0.3:6379", ReasonCluster},
		{"ASK 3999 10.0.0.3:6379", ReasonCluster},
		{"TRYAGAIN Multiple keys request during rehashing of slot", ReasonCluster},
		{"CLUSTERDOWN Hash slot not served", ReasonCluster},
		{"CLUSTERDOWN The cluster is down", ReasonCluster},
		{"NOREPLICAS Not enough good replicas to write.", ReasonError},
	} {
		if got := Classify(serverReply(tc.reply)); got != tc.want {
			t.Errorf("Classify(%q) = %q, want %q", tc.reply, got, tc.want)
		}
	}
}

func TestValkeyInfoCluster(t *testing.T) {
	for info, want := range map[string]bool{
		"# Cluster\r\ncluster_enabled:1\r\n": true,
		"# Cluster\r\ncluster_enabled:0\r\n": false,
		// Valkey 8 writes server_mode where Redis OSS writes redis_mode; the
		// checker reads neither, cluster_enabled is the same in both.
		"# Server\r\nredis_version:7.2.4\r\nserver_name:valkey\r\nvalkey_version:8.0.1\r\nserver_mode:cluster\r\n\r\n# Cluster\r\ncluster_enabled:1\r\n": true,
		"": false,
	} {
		if got := clusterEnabled(info); got != want {
			t.Errorf("clusterEnabled(%q) = %v, want %v", info, got, want)
		}
	}
}

// CLUSTER SHARDS of a Valkey 8 cluster with TLS only (port 0): Valkey
// leaves "port" out, so the node's address is its tls-port, on a client
// with or without TLS settings.
func TestValkeyClusterShardsTLSOnly(t *testing.T) {
	in := []redis.ClusterShard{
		{Slots: []redis.SlotRange{{Start: 8192, End: 16383}}, Nodes: []redis.Node{
			{ID: "b", TLSPort: 6379, IP: "10.0.0.2", Endpoint: "node-0002-001.abc.use1.cache.amazonaws.com", Role: "master", Health: "online"},
			{ID: "d", TLSPort: 6379, IP: "10.0.1.2", Endpoint: "node-0002-002.abc.use1.cache.amazonaws.com", Role: "replica", Health: "online"},
		}},
		{Slots: []redis.SlotRange{{Start: 0, End: 8191}}, Nodes: []redis.Node{
			{ID: "c", TLSPort: 6379, IP: "10.0.1.1", Endpoint: "node-0001-002.abc.use1.cache.amazonaws.com", Role: "replica", Health: "online"},
			{ID: "a", TLSPort: 6379, IP: "10.0.0.1", Endpoint: "node-0001-001.abc.use1.cache.amazonaws.com", Role: "master", Health: "online"},
		}},
	}
	for _, tls := range []bool{true, false} {
		got := ShardsFromClusterShards(in, tls, "clustercfg.abc.use1.cache.amazonaws.com:6379")
		if len(got) != 2 || got[0].Primary != "node-0001-001.abc.use1.cache.amazonaws.com:6379" || got[0].PrimaryID != "a" ||
			got[1].Primary != "node-0002-001.abc.use1.cache.amazonaws.com:6379" || got[0].SlotsString() != "0-8191" {
			t.Fatalf("tls=%v: shards %+v", tls, got)
		}
	}
}

// A shard whose primary is unknown ("?" endpoint, empty IP) is reached at
// the address the client asked; slots no shard serves become a shard of
// their own, without a primary, which the check reports as failing.
func TestClusterShardsEdges(t *testing.T) {
	in := []redis.ClusterShard{
		{Slots: []redis.SlotRange{{Start: 0, End: 99}, {Start: 200, End: 16383}}, Nodes: []redis.Node{{ID: "a", Port: 7000, Endpoint: "?", Role: "master"}}},
		{Slots: nil, Nodes: []redis.Node{{ID: "e", Port: 7001, IP: "127.0.0.1", Role: "master"}}},
	}
	got := ShardsFromClusterShards(in, false, "127.0.0.9:7000")
	if len(got) != 2 || got[0].Primary != "127.0.0.9:7000" || got[0].SlotsString() != "0-99,200-16383" ||
		got[1].Primary != "" || got[1].SlotsString() != "100-199" {
		t.Fatalf("shards %+v", got)
	}
	r := summarize(Options{ExpectRole: Auto}, []ShardResult{
		{Slots: "0-99,200-16383", Node: "127.0.0.9:7000", Healthy: true, Writable: true, Role: Primary},
		{Slots: "100-199", Role: Primary, Step: StepTopology, Reason: ReasonCluster, Error: "no node serves these slots"},
	})
	if r.Healthy || r.Writable || r.Error != "1 of 2 shards failed: shard 100-199 at no node: cluster at topology: no node serves these slots" {
		t.Fatalf("result %+v", r)
	}
	slots := ShardsFromClusterSlots([]redis.ClusterSlot{
		{Start: 5461, End: 10922, Nodes: []redis.ClusterNode{{ID: "b", Addr: "127.0.0.1:7001"}, {ID: "d", Addr: "127.0.0.1:7004"}}},
		{Start: 0, End: 5460, Nodes: []redis.ClusterNode{{ID: "a", Addr: "127.0.0.1:7000"}}},
		{Start: 10923, End: 16383, Nodes: []redis.ClusterNode{{ID: "a", Addr: "127.0.0.1:7000"}}},
	}, "127.0.0.1:7000")
	if len(slots) != 2 || slots[0].SlotsString() != "0-5460,10923-16383" || slots[1].Primary != "127.0.0.1:7001" {
		t.Fatalf("from CLUSTER SLOTS: %+v", slots)
	}
}
