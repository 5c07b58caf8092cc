package check_test

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redisha/redisha/internal/check"
	"github.com/redisha/redisha/internal/redisconn"
	"github.com/redisha/redisha/internal/sim/redisserver"
	"github.com/redisha/redisha/internal/testbed/redistest"
)

func TestHeartbeat(t *testing.T) {
	primary := redistest.Start(t, redisserver.Options{})
	replica := redistest.StartReplica(t, primary, "")
	padmin := redistest.Admin(t, primary.Addr, "", "")
	radmin := redistest.Admin(t, replica.Addr, "", "")
	ctx := context.Background()
	const ttl = time.Minute
	hbKey := check.Options{}.HeartbeatKey()

	before := time.Now()
	pk := newChecker(t, redisconn.Config{Addr: primary.Addr},
		check.Options{Timeout: faultTimeout, Heartbeat: true, HeartbeatTTL: ttl, Region: "test-1"})
	wantHealthy(t, boundedCheck(t, pk))
	after := time.Now()

	// The primary holds <prefix>heartbeat = the write time in unix ms, with a TTL.
	v, err := padmin.Get(ctx, hbKey).Result()
	if err != nil {
		t.Fatalf("get %s: %v", hbKey, err)
	}
	hb, err := check.ParseHeartbeat(v)
	if ms := hb.Written.UnixMilli(); err != nil || ms < before.UnixMilli() || ms > after.UnixMilli() {
		t.Fatalf("heartbeat %q is not the write time in unix ms (between %d and %d)", v, before.UnixMilli(), after.UnixMilli())
	}
	if hb.Region != "test-1" || hb.Seq == 0 {
		t.Fatalf("heartbeat %q: want region test-1 and a sequence", v)
	}
	// The next write carries the next sequence number.
	wantHealthy(t, boundedCheck(t, pk))
	next, _ := check.ParseHeartbeat(padmin.Get(ctx, hbKey).Val())
	if next.Seq != hb.Seq+1 {
		t.Fatalf("sequence %d after %d, want +1", next.Seq, hb.Seq)
	}
	pttl, err := padmin.PTTL(ctx, hbKey).Result()
	if err != nil || pttl <= 0 || pttl > ttl {
		t.Fatalf("heartbeat TTL %s (err %v), want in (0, %s]", pttl, err, ttl)
	}

	// The replica reports the heartbeat's age once it has replicated.
	deadline := time.Now().Add(5 * time.Second)
	for radmin.Exists(ctx, hbKey).Val() != 1 {
		if time.Now().After(deadline) {
			t.Fatal("heartbeat did not reach the replica in 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	rk := newChecker(t, redisconn.Config{Addr: replica.Addr},
		check.Options{Timeout: faultTimeout, ExpectRole: check.Replica, Heartbeat: true})
	r := boundedCheck(t, rk)
	wantHealthy(t, r)
	if r.HeartbeatAge == nil || r.HeartbeatAgeSeconds == nil {
		t.Fatalf("replica check reports no heartbeat age: %+v", r)
	}
	if age := *r.HeartbeatAge; age < 0 || age > 5*time.Second {
		t.Fatalf("heartbeat age %s, want small and non-negative", age)
	}
	if *r.HeartbeatAgeSeconds != r.HeartbeatAge.Seconds() {
		t.Fatalf("heartbeat age %s vs %g s", *r.HeartbeatAge, *r.HeartbeatAgeSeconds)
	}

	// A replica that stopped receiving writes shows a growing age: seen here
	// through a clock 90 s ahead.
	ahead := newChecker(t, redisconn.Config{Addr: replica.Addr}, check.Options{Timeout: faultTimeout,
		ExpectRole: check.Replica, Heartbeat: true, Now: func() time.Time { return time.Now().Add(90 * time.Second) }})
	r = boundedCheck(t, ahead)
	wantHealthy(t, r)
	if r.HeartbeatAge == nil || *r.HeartbeatAge < 90*time.Second || *r.HeartbeatAge > 95*time.Second {
		t.Fatalf("heartbeat age with the clock 90s ahead: %v", r.HeartbeatAge)
	}

	// With heartbeats off the replica check reports no age, even though the
	// key is there.
	off := newChecker(t, redisconn.Config{Addr: replica.Addr},
		check.Options{Timeout: faultTimeout, ExpectRole: check.Replica})
	r = boundedCheck(t, off)
	wantHealthy(t, r)
	if r.HeartbeatAge != nil || r.HeartbeatAgeSeconds != nil {
		t.Fatalf("heartbeat off, yet an age is reported: %v", *r.HeartbeatAge)
	}

	// Only the heartbeat stays behind, on both.
	eventuallyNoKeys(t, padmin, check.DefaultPrefix, hbKey)
	eventuallyNoKeys(t, radmin, check.DefaultPrefix, hbKey)
}

func TestHeartbeatOffWritesNoHeartbeat(t *testing.T) {
	srv := redistest.Start(t, redisserver.Options{})
	admin := redistest.Admin(t, srv.Addr, "", "")
	wantHealthy(t, boundedCheck(t, newChecker(t, redisconn.Config{Addr: srv.Addr}, faultOpts())))
	eventuallyNoKeys(t, admin, check.DefaultPrefix)
}

func TestDBIndex(t *testing.T) {
	srv := redistest.Start(t, redisserver.Options{})
	admin := redistest.Admin(t, srv.Addr, "", "")
	cfg := redisconn.Config{Addr: srv.Addr, DB: 5}
	o := check.Options{Timeout: faultTimeout, Heartbeat: true, Prefix: "hc:"}
	wantHealthy(t, boundedCheck(t, newChecker(t, cfg, o)))

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	got := redistest.LeftoverKeys(ctx, t, admin, "hc:")
	if len(got) != 1 || got[0] != "5:hc:heartbeat" {
		t.Fatalf("keys after a check on db 5: %v, want only 5:hc:heartbeat", got)
	}
	// The replica role reads db 5 too: it finds the heartbeat there.
	o.ExpectRole = check.Replica
	r := boundedCheck(t, newChecker(t, cfg, o))
	wantHealthy(t, r)
	if r.HeartbeatAge == nil {
		t.Fatal("replica check on db 5 did not find the heartbeat written there")
	}
}

// recordConn keeps a copy of everything the client writes.
type recordConn struct {
	net.Conn
	mu  *sync.Mutex
	out *bytes.Buffer
}

func (c recordConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	c.out.Write(b)
	c.mu.Unlock()
	return c.Conn.Write(b)
}

// commandStats reads INFO commandstats and errorstats into name → calls
// (cmdstat_*) and error code → count (errorstat_*).
func commandStats(t *testing.T, c *redis.Client) (cmds, errs map[string]int) {
	t.Helper()
	info, err := c.Info(context.Background(), "commandstats", "errorstats").Result()
	if err != nil {
		t.Fatalf("info: %v", err)
	}
	cmds, errs = map[string]int{}, map[string]int{}
	sc := bufio.NewScanner(strings.NewReader(info))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		name, rest, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		count := func(field string) int {
			for _, kv := range strings.Split(rest, ",") {
				if k, v, _ := strings.Cut(kv, "="); k == field {
					n, _ := strconv.Atoi(v)
					return n
				}
			}
			return 0
		}
		switch {
		case strings.HasPrefix(name, "cmdstat_"):
			cmds[strings.TrimPrefix(name, "cmdstat_")] = count("calls") + count("rejected_calls") + count("failed_calls")
		case strings.HasPrefix(name, "errorstat_"):
			errs[strings.TrimPrefix(name, "errorstat_")] = count("count")
		}
	}
	return cmds, errs
}

// ElastiCache rejects CLIENT MAINT_NOTIFICATIONS, so redisconn turns go-redis's
// maintenance notifications off. Proven on both ends: the bytes the client
// writes, and what the server counts (commands and error replies, which an
// unknown subcommand would raise).
func TestNoMaintenanceNotifications(t *testing.T) {
	srv := redistest.Start(t, redisserver.Options{Config: []string{"user checker on >pw ~healthcheck:* +@all"}})
	admin := redistest.Admin(t, srv.Addr, "", "")
	ctx := context.Background()

	var mu sync.Mutex
	var written bytes.Buffer
	var d net.Dialer
	cfg := redisconn.Config{Addr: srv.Addr, Username: "checker", Password: "pw",
		Dialer: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return recordConn{c, &mu, &written}, nil
		}}
	if err := admin.ConfigResetStat(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	for _, role := range []check.Role{check.Primary, check.Replica} {
		// Two checkers: two connection handshakes, then warm checks.
		for i := 0; i < 2; i++ {
			k := newChecker(t, cfg, check.Options{Timeout: faultTimeout, ExpectRole: role, Heartbeat: true})
			for j := 0; j < 3; j++ {
				wantHealthy(t, boundedCheck(t, k))
			}
		}
	}

	mu.Lock()
	sent := written.String()
	mu.Unlock()
	if strings.Contains(strings.ToUpper(sent), "MAINT_NOTIFICATIONS") {
		t.Fatalf("the client sent CLIENT MAINT_NOTIFICATIONS:\n%q", sent)
	}
	cmds, errs := commandStats(t, admin)
	// go-redis opens each connection with HELLO 2 (and its AUTH); the
	// admin client adds CONFIG RESETSTAT and INFO.
	allowed := map[string]bool{"ping": true, "role": true, "set": true, "get": true, "del": true, "hello": true,
		"config|resetstat": true, "info": true}
	for name := range cmds {
		if !allowed[name] {
			t.Errorf("server ran %q (%d calls), which a check never sends", name, cmds[name])
		}
	}
	if len(errs) != 0 {
		t.Errorf("server sent error replies: %v", errs)
	}
	// One HELLO per connection: four checkers, four connections, whatever
	// the number of checks.
	if cmds["hello"] != 4 {
		t.Errorf("server saw %d HELLOs from four checkers, want 4", cmds["hello"])
	}

	// The control: the server does count a CLIENT MAINT_NOTIFICATIONS when
	// one arrives (as an error reply on this version, or a client call on
	// one that knows it), so its absence above means none arrived.
	err := admin.Do(ctx, "CLIENT", "MAINT_NOTIFICATIONS", "on", "moving-endpoint-type", "internal-ip").Err()
	cmds2, errs2 := commandStats(t, admin)
	if cmds2["client|maint_notifications"] == 0 && len(errs2) == 0 {
		t.Fatalf("the server did not count a CLIENT MAINT_NOTIFICATIONS (reply err %v): %v %v", err, cmds2, errs2)
	}
}

func TestOptionsValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    check.Options
		want string // substring of the error; empty for valid
	}{
		{"zero value", check.Options{}, ""},
		{"replica", check.Options{ExpectRole: check.Replica, Heartbeat: true}, ""},
		{"unknown role", check.Options{ExpectRole: "leader"}, `role "leader" is unknown: use auto, primary or replica`},
		{"negative timeout", check.Options{Timeout: -time.Second}, "must not be negative"},
		{"negative key TTL", check.Options{KeyTTL: -time.Second}, "must not be negative"},
		{"key TTL under 1ms", check.Options{KeyTTL: time.Microsecond}, "key TTL is under 1ms"},
		{"prefix with a space", check.Options{Prefix: "health check:"}, "has white space"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.o.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("Validate() = %v, want an error with %q", err, tc.want)
			}
		})
	}
	for in, want := range map[string]check.Role{"": check.Auto, "auto": check.Auto, "primary": check.Primary,
		" Replica ": check.Replica} {
		if got, err := check.ParseRole(in); err != nil || got != want {
			t.Errorf("ParseRole(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for p, want := range map[string]string{"": "key prefix is empty", "a b:": "has white space", "tab\t:": "has white space", "hc:": ""} {
		err := check.ValidatePrefix(p)
		if (want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), want)) {
			t.Errorf("ValidatePrefix(%q) = %v, want %q", p, err, want)
		}
	}
	if key := (check.Options{Prefix: "hc:"}).HeartbeatKey(); key != "hc:heartbeat" {
		t.Errorf("HeartbeatKey() = %q, want hc:heartbeat", key)
	}
}
