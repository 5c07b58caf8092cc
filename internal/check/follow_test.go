package check_test

import (
	"context"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redisha/redisha/internal/check"
	"github.com/redisha/redisha/internal/redisconn"
	"github.com/redisha/redisha/internal/sim/redisserver"
	"github.com/redisha/redisha/internal/testbed/redistest"
)

// movingName is an endpoint name whose address changes, as a DNS record
// does after a failover: every dial resolves it afresh; open connections
// stay where they are.
type movingName struct {
	mu     sync.Mutex
	target string
	dials  atomic.Int64
	writes atomic.Int64
}

func (m *movingName) moveTo(addr string) {
	m.mu.Lock()
	m.target = addr
	m.mu.Unlock()
}

func (m *movingName) dial(ctx context.Context, network, _ string) (net.Conn, error) {
	m.mu.Lock()
	target := m.target
	m.mu.Unlock()
	var d net.Dialer
	c, err := d.DialContext(ctx, network, target)
	if err != nil {
		return nil, err
	}
	m.dials.Add(1)
	return countConn{c, &m.writes}, nil
}

func newFollowing(t *testing.T, addr string, o check.Options) (*check.Checker, *movingName) {
	t.Helper()
	name := &movingName{target: addr}
	rc, err := redisconn.NewClient(redisconn.Config{Addr: "redis.redisha-test.internal:6379", Dialer: name.dial})
	if err != nil {
		t.Fatal(err)
	}
	k := check.New(rc, o)
	t.Cleanup(func() { _ = k.Close() })
	return k, name
}

// wantRedialedHealthy fails the test unless r is a healthy primary check
// that a fresh connection to want answered after the warm one met reason.
func wantRedialedHealthy(t *testing.T, r check.Result, reason check.Reason, want string) {
	t.Helper()
	wantHealthy(t, r)
	if !r.Redialed || r.RedialReason != reason || r.Role != check.Primary || !r.Writable || r.Remote != want {
		t.Fatalf("redialed %v (%q) role %q writable %v remote %s; want a writable primary at %s after %s",
			r.Redialed, r.RedialReason, r.Role, r.Writable, r.Remote, want, reason)
	}
	if r.Latency >= faultTimeout {
		t.Fatalf("took %s, past the check's %s deadline", r.Latency, faultTimeout)
	}
}

// After a failover the endpoint's name points at the promoted replica while
// the warm connection still reaches the demoted primary, which answers
// READONLY: the same check redials and reports the new primary healthy.
func TestFollowFailoverReadOnly(t *testing.T) {
	for _, role := range []check.Role{check.Primary, check.Auto} {
		t.Run(string(role), func(t *testing.T) {
			oldPrimary := redistest.Start(t, redisserver.Options{})
			replica := redistest.StartReplica(t, oldPrimary, "")
			k, name := newFollowing(t, oldPrimary.Addr, check.Options{Timeout: faultTimeout, ExpectRole: role})
			r := boundedCheck(t, k)
			wantHealthy(t, r)
			if r.Redialed || r.Remote != oldPrimary.Addr {
				t.Fatalf("first check: redialed %v remote %s", r.Redialed, r.Remote)
			}

			redistest.Failover(t, oldPrimary, replica, "")
			name.moveTo(replica.Addr)
			wantRedialedHealthy(t, boundedCheck(t, k), check.ReasonReadOnly, replica.Addr)
			// Settled: warm again, one dial more than before, no redial.
			r = boundedCheck(t, k)
			wantHealthy(t, r)
			if r.Redialed || name.dials.Load() != 2 {
				t.Fatalf("after the move: redialed %v, %d dials (want 2)", r.Redialed, name.dials.Load())
			}
			eventuallyNoKeys(t, redistest.Admin(t, replica.Addr, "", ""), check.DefaultPrefix)
		})
	}
}

// ElastiCache closes client connections of a demoted primary
// (close-on-replica-write): the warm connection is reset, and the same
// check redials. Both ways of losing it: the node kills its clients, or the
// proxy in front of the name moves and resets them.
func TestFollowFailoverDisconnect(t *testing.T) {
	t.Run("clients killed on demotion", func(t *testing.T) {
		oldPrimary := redistest.Start(t, redisserver.Options{})
		replica := redistest.StartReplica(t, oldPrimary, "")
		k, name := newFollowing(t, oldPrimary.Addr, check.Options{Timeout: faultTimeout})
		wantHealthy(t, boundedCheck(t, k))

		redistest.Failover(t, oldPrimary, replica, "")
		name.moveTo(replica.Addr)
		if err := redistest.Admin(t, oldPrimary.Addr, "", "").Do(context.Background(), "CLIENT", "KILL", "TYPE", "normal").Err(); err != nil {
			t.Fatalf("client kill: %v", err)
		}
		wantRedialedHealthy(t, boundedCheck(t, k), check.ReasonReset, replica.Addr)
	})
	t.Run("proxy retargeted", func(t *testing.T) {
		oldPrimary := redistest.Start(t, redisserver.Options{})
		replica := redistest.StartReplica(t, oldPrimary, "")
		p := redistest.NewProxy(t, oldPrimary.Addr)
		rc, err := redisconn.NewClient(redisconn.Config{Addr: p.Addr})
		if err != nil {
			t.Fatal(err)
		}
		k := check.New(rc, check.Options{Timeout: faultTimeout, ExpectRole: check.Primary})
		t.Cleanup(func() { _ = k.Close() })
		wantHealthy(t, boundedCheck(t, k))

		redistest.Failover(t, oldPrimary, replica, "")
		p.Retarget(t, replica.Addr)
		r := boundedCheck(t, k)
		wantHealthy(t, r)
		// The proxy's close may reach the pool before the check does; then
		// go-redis dials anew on its own and there was nothing to redial.
		if r.Redialed && r.RedialReason != check.ReasonReset {
			t.Fatalf("redial reason %q, want reset", r.RedialReason)
		}
		if !r.Writable || r.Role != check.Primary {
			t.Fatalf("after the retarget: %+v", r)
		}
	})
}

// A cold check that meets a replica under a fixed primary role has nothing
// to redial: it is a failure, and says which role it met.
func TestColdReadOnlyIsNotRedialed(t *testing.T) {
	primary := redistest.Start(t, redisserver.Options{})
	replica := redistest.StartReplica(t, primary, "")
	k, name := newFollowing(t, replica.Addr, check.Options{Timeout: faultTimeout, ExpectRole: check.Primary})
	r := boundedCheck(t, k)
	wantFailure(t, r, check.StepSet, check.ReasonReadOnly)
	if r.Redialed || name.dials.Load() != 1 {
		t.Fatalf("cold READONLY: redialed %v after %d dials", r.Redialed, name.dials.Load())
	}
}

// Role-aware checks through a REPLICAOF swap: each checker follows its
// node's role, writes and numbers the heartbeat only on a primary, reads
// its age on a replica, and costs one round trip a check except the one
// that sees the role change.
func TestAutoRoleFollowsReplicaofSwap(t *testing.T) {
	a := redistest.Start(t, redisserver.Options{})
	b := redistest.StartReplica(t, a, "")
	o := check.Options{Timeout: faultTimeout, Heartbeat: true, Region: "test-1"}
	ka, na := newFollowing(t, a.Addr, o)
	kb, nb := newFollowing(t, b.Addr, o)

	wantRole := func(k *check.Checker, n *movingName, role check.Role, roundTrips int64) check.Result {
		t.Helper()
		before := n.writes.Load()
		r := boundedCheck(t, k)
		wantHealthy(t, r)
		if r.Role != role || r.Writable != (role == check.Primary) || r.Expect != "" {
			t.Fatalf("role %q writable %v expect %q, want %q", r.Role, r.Writable, r.Expect, role)
		}
		if got := n.writes.Load() - before; got != roundTrips {
			t.Fatalf("%s check made %d round trips, want %d", role, got, roundTrips)
		}
		return r
	}
	// Cold: one write more for the connection's HELLO; on a replica the
	// write check comes first, then the read check.
	wantRole(ka, na, check.Primary, 2)
	wantRole(kb, nb, check.Replica, 3)
	redistest.WaitReplicaLink(t, b.Addr, "")
	r := waitHeartbeat(t, kb)
	if r.HeartbeatMissing || *r.HeartbeatAge > 5*time.Second {
		t.Fatalf("replica's heartbeat: missing %v age %v", r.HeartbeatMissing, *r.HeartbeatAge)
	}
	for i := 0; i < 3; i++ {
		wantRole(ka, na, check.Primary, 1)
		wantRole(kb, nb, check.Replica, 1)
	}

	redistest.Failover(t, a, b, "")
	// Promoted: the read check sees ROLE master, the write check follows.
	wantRole(kb, nb, check.Primary, 2)
	// Demoted: READONLY on the warm connection, so a fresh one (HELLO and
	// the write check again, in case the name moved), then the read check.
	r = wantRole(ka, na, check.Replica, 4)
	if !r.Redialed || r.RedialReason != check.ReasonReadOnly {
		t.Fatalf("demoted node: redialed %v (%q)", r.Redialed, r.RedialReason)
	}
	for i := 0; i < 3; i++ {
		wantRole(kb, nb, check.Primary, 1)
		wantRole(ka, na, check.Replica, 1)
	}
	// The new primary writes the heartbeat, numbered and named.
	v := redistest.Admin(t, b.Addr, "", "").Get(context.Background(), o.HeartbeatKey()).Val()
	hb, err := check.ParseHeartbeat(v)
	if err != nil || hb.Region != "test-1" || hb.Seq == 0 {
		t.Fatalf("heartbeat on the new primary %q: %+v %v", v, hb, err)
	}
	eventuallyNoKeys(t, redistest.Admin(t, b.Addr, "", ""), check.DefaultPrefix, o.HeartbeatKey())
}

// waitHeartbeat checks until the replica reads a heartbeat (it replicates
// within a moment of the primary's write).
func waitHeartbeat(t *testing.T, k *check.Checker) check.Result {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		r := boundedCheck(t, k)
		if r.HeartbeatAge != nil && !r.HeartbeatMissing {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("no heartbeat on the replica after 5s: %+v", r)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Replication broken for longer than the heartbeat's TTL: the key expires
// on the replica. The check says so and reports the TTL as the lag's lower
// bound, so a lag alarm keeps breaching.
func TestHeartbeatMissingOnReplica(t *testing.T) {
	primary := redistest.Start(t, redisserver.Options{})
	replica := redistest.StartReplica(t, primary, "")
	const ttl = 2 * time.Second
	pk := newChecker(t, redisconn.Config{Addr: primary.Addr},
		check.Options{Timeout: faultTimeout, Heartbeat: true, HeartbeatTTL: ttl})
	rk := newChecker(t, redisconn.Config{Addr: replica.Addr},
		check.Options{Timeout: faultTimeout, Heartbeat: true, HeartbeatTTL: ttl, ExpectRole: check.Replica})
	// The primary writes until the replica has read one heartbeat (each
	// lives only 2 s: a loaded box may lose one on the way).
	for deadline := time.Now().Add(10 * time.Second); ; {
		wantHealthy(t, boundedCheck(t, pk))
		if r := boundedCheck(t, rk); r.HeartbeatAge != nil && !r.HeartbeatMissing {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no heartbeat on the replica after 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}

	primary.Kill() // replication stops; the replica keeps serving reads
	deadline := time.Now().Add(15 * time.Second)
	for {
		r := boundedCheck(t, rk)
		wantHealthy(t, r)
		if r.HeartbeatMissing {
			if r.HeartbeatAge == nil || *r.HeartbeatAge != ttl || r.HeartbeatAgeSeconds == nil {
				t.Fatalf("missing heartbeat: age %v, want the TTL %s as a lower bound", r.HeartbeatAge, ttl)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("heartbeat still read 15s after replication stopped: %+v", r)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// At maxclients the server says so before it closes the connection; the
// reason is kept, not lost behind a reset.
func TestFaultMaxClients(t *testing.T) {
	srv := redistest.Start(t, redisserver.Options{Config: []string{"maxclients 1"}})
	admin := redistest.Admin(t, srv.Addr, "", "")
	if err := admin.Ping(context.Background()).Err(); err != nil { // the one client
		t.Fatal(err)
	}
	k := newChecker(t, redisconn.Config{Addr: srv.Addr}, faultOpts())
	r := boundedCheck(t, k)
	wantFailure(t, r, check.StepPing, check.ReasonMaxClients)
	if !strings.Contains(r.Error, "max number of clients reached") {
		t.Fatalf("error lost the server's message: %s", r.Error)
	}
	_ = admin.Close()
	deadline := time.Now().Add(5 * time.Second)
	for !boundedCheck(t, k).Healthy {
		if time.Now().After(deadline) {
			t.Fatal("not healthy 5s after a client slot freed")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A check the caller cancels (Ctrl-C) is canceled, not a timeout: it says
// nothing of the server.
func TestCanceledCheck(t *testing.T) {
	srv := redistest.Start(t, redisserver.Options{})
	k := newChecker(t, redisconn.Config{Addr: srv.Addr}, check.Options{Timeout: 5 * time.Second})
	wantHealthy(t, boundedCheck(t, k))
	if err := srv.Pause(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Resume() })
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	r := k.Check(ctx)
	wantFailure(t, r, check.StepPing, check.ReasonCanceled)
}
