package sweep

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redisha/redisha/internal/check"
	"github.com/redisha/redisha/internal/redisconn"
	"github.com/redisha/redisha/internal/sim/redisserver"
	"github.com/redisha/redisha/internal/testbed/redistest"
	"github.com/redisha/redisha/internal/testbed/wait"
)

func TestDatabasesFromConfig(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redisserver.Options{Config: []string{"databases 20"}})
	rep, err := Run(context.Background(), Config{Conn: redisconn.Config{Addr: srv.Addr}, RW: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.DatabasesFrom != "config" || len(rep.Results) != 20 || rep.Failed() != 0 {
		t.Fatalf("%+v", rep)
	}
	for i, r := range rep.Results {
		if r.DB != i || !r.OK || r.LatencyMS <= 0 {
			t.Errorf("db %d: %+v", i, r)
		}
	}
	redistest.AssertNoKeys(t, redistest.Admin(t, srv.Addr, "", ""), check.DefaultPrefix)
}

// ElastiCache blocks CONFIG: the sweep falls back to 16 DBs.
func TestConfigBlockedFallsBackTo16(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redisserver.Options{Config: []string{`rename-command CONFIG ""`}})
	rep, err := Run(context.Background(), Config{Conn: redisconn.Config{Addr: srv.Addr}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.DatabasesFrom != "default" || len(rep.Results) != 16 || rep.Failed() != 0 {
		t.Fatalf("%+v", rep)
	}
}

func TestFailingDBsAreReported(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redisserver.Options{})
	rep, err := Run(context.Background(), Config{Conn: redisconn.Config{Addr: srv.Addr}, DBs: []int{0, 99}, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Results) != 2 || !rep.Results[0].OK || rep.Results[1].OK || rep.Failed() != 1 {
		t.Fatalf("%+v", rep)
	}
	if !strings.Contains(rep.Results[1].Error, "out of range") {
		t.Errorf("db 99: %+v", rep.Results[1])
	}
	srv.Kill()
	rep, _ = Run(context.Background(), Config{Conn: redisconn.Config{Addr: srv.Addr}, DBs: []int{0, 1}, Timeout: time.Second})
	if rep.Failed() != 2 || rep.Results[0].Reason != check.ReasonRefused {
		t.Fatalf("down server: %+v", rep)
	}
}

// Cluster mode: DB 0 on every shard's primary.
func TestClusterMode(t *testing.T) {
	t.Parallel()
	var nodes []*redisserver.Server
	for i := 0; i < 3; i++ {
		nodes = append(nodes, redistest.Start(t, redisserver.Options{Config: []string{"cluster-enabled yes", "cluster-config-file nodes.conf"}}))
	}
	ctx := context.Background()
	ranges := [][2]int{{0, 5460}, {5461, 10922}, {10923, 16383}}
	for i, n := range nodes {
		a := redistest.Admin(t, n.Addr, "", "")
		if err := a.Do(ctx, "CLUSTER", "ADDSLOTSRANGE", ranges[i][0], ranges[i][1]).Err(); err != nil {
			t.Fatal(err)
		}
		if i > 0 {
			if err := a.ClusterMeet(ctx, "127.0.0.1", strconv.Itoa(nodes[0].Port)).Err(); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, n := range nodes {
		a := redistest.Admin(t, n.Addr, "", "")
		wait.For(t, 15*time.Second, "cluster_state:ok with 3 known nodes on "+n.Addr, func() bool {
			info := a.ClusterInfo(ctx).Val()
			return strings.Contains(info, "cluster_state:ok") && strings.Contains(info, "cluster_known_nodes:3")
		})
	}
	rep, err := Run(ctx, Config{Conn: redisconn.Config{Addr: nodes[1].Addr}, RW: true})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Cluster || len(rep.Results) != 3 || rep.Failed() != 0 {
		t.Fatalf("%+v", rep)
	}
	seen := map[string]bool{}
	for _, r := range rep.Results {
		seen[r.Target] = true
	}
	for _, n := range nodes {
		if !seen[n.Addr] {
			t.Errorf("shard %s not checked: %+v", n.Addr, rep.Results)
		}
	}
}

func TestParseDBs(t *testing.T) {
	t.Parallel()
	got, err := ParseDBs("0-3, 7,2")
	if err != nil || len(got) != 5 || got[4] != 7 {
		t.Fatalf("%v %v", got, err)
	}
	for _, bad := range []string{"", "a", "3-1", "-1", "1-x", "0-100000"} {
		if _, err := ParseDBs(bad); err == nil {
			t.Errorf("%q: want error", bad)
		}
	}
}

// Known slot: "foo" hashes to 12182 (CLUSTER KEYSLOT foo).
func TestCRC16Slot(t *testing.T) {
	t.Parallel()
	if got := int(crc16("foo")) % 16384; got != 12182 {
		t.Fatalf("slot of foo %d, want 12182", got)
	}
	if s := int(crc16(tagForSlot(42))) % 16384; s != 42 {
		t.Fatalf("tag for slot 42 hashes to %d", s)
	}
}

// A library caller gets the sweep's rules from Validate (and from Run),
// each error naming its field.
func TestConfigValidate(t *testing.T) {
	t.Parallel()
	conn := redisconn.Config{Addr: "127.0.0.1:6379"}
	for _, tc := range []struct {
		cfg   Config
		field string
	}{
		{Config{Conn: conn, Timeout: -time.Second}, FieldTimeout},
		{Config{Conn: conn, Prefix: "a b"}, FieldPrefix},
		{Config{Conn: conn, DBs: []int{0, -1}}, FieldDBs},
	} {
		err := tc.cfg.Validate()
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field {
			t.Errorf("%+v: %v, want a %s error", tc.cfg, err, tc.field)
		}
		if _, err := Run(context.Background(), tc.cfg); !errors.As(err, &fe) {
			t.Errorf("Run(%+v): %v", tc.cfg, err)
		}
	}
	if err := (Config{Conn: conn}).Validate(); err != nil {
		t.Errorf("zero values are the defaults: %v", err)
	}
	if err := (Config{}).Validate(); err == nil {
		t.Error("no address: no error")
	}
}
