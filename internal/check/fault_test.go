package check_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redisha/redisha/internal/check"
	"github.com/redisha/redisha/internal/redisconn"
	"github.com/redisha/redisha/internal/sim/redisserver"
	"github.com/redisha/redisha/internal/testbed/redistest"
)

// Fault tests: each failure mode a user will meet, against real
// redis-server processes, asserting the step, the reason, that the result
// arrives within the check's timeout (plus slack for a loaded box) and that
// no health-check key stays behind.

func faultOpts() check.Options { return check.Options{Timeout: faultTimeout} }

func TestFaultServerKilled(t *testing.T) {
	srv := redistest.Start(t, redisserver.Options{})
	k := newChecker(t, redisconn.Config{Addr: srv.Addr}, faultOpts())
	wantHealthy(t, boundedCheck(t, k))

	srv.Kill()
	wantFailure(t, boundedCheck(t, k), check.StepPing, check.ReasonRefused)
	// A cold checker meets the same.
	cold := newChecker(t, redisconn.Config{Addr: srv.Addr}, faultOpts())
	wantFailure(t, boundedCheck(t, cold), check.StepPing, check.ReasonRefused)

	if err := srv.Restart(); err != nil {
		t.Fatalf("restart: %v", err)
	}
	// The very next check sees the recovered server: no dial back-off.
	wantHealthy(t, boundedCheck(t, k))
	eventuallyNoKeys(t, redistest.Admin(t, srv.Addr, "", ""), check.DefaultPrefix)
}

func TestFaultStalledServer(t *testing.T) {
	for _, warm := range []bool{true, false} {
		name := map[bool]string{true: "warm", false: "cold"}[warm]
		t.Run(name, func(t *testing.T) {
			srv := redistest.Start(t, redisserver.Options{})
			checkThroughStall(t, srv, redisconn.Config{Addr: srv.Addr}, "", warm)
		})
	}
}

func TestFaultStalledTLSServer(t *testing.T) {
	certs := redistest.NewCerts(t, "localhost")
	for _, warm := range []bool{true, false} {
		name := map[bool]string{true: "warm", false: "cold handshake"}[warm]
		t.Run(name, func(t *testing.T) {
			srv := redistest.Start(t, redisserver.Options{TLS: &certs.TLSFiles})
			cfg := redisconn.Config{Addr: srv.Addr, TLS: true, TLSCAFile: certs.CAFile}
			// Cold, the TCP connect succeeds (the kernel still accepts) and the
			// handshake is what stalls: it too must end at the deadline.
			checkThroughStall(t, srv, cfg, certs.CAFile, warm)
		})
	}
}

// checkThroughStall stops srv (SIGSTOP), expects a ping timeout at the
// deadline, resumes it and expects a healthy check and no key left behind.
func checkThroughStall(t *testing.T, srv *redisserver.Server, cfg redisconn.Config, caFile string, warm bool) {
	t.Helper()
	k := newChecker(t, cfg, faultOpts())
	if warm {
		wantHealthy(t, boundedCheck(t, k))
	}
	if err := srv.Pause(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Resume() })
	r := boundedCheck(t, k)
	wantFailure(t, r, check.StepPing, check.ReasonTimeout)
	wantAtDeadline(t, r, faultTimeout)

	if err := srv.Resume(); err != nil {
		t.Fatal(err)
	}
	wantHealthy(t, boundedCheck(t, k))
	eventuallyNoKeys(t, redistest.Admin(t, srv.Addr, "", caFile), check.DefaultPrefix)
}

func TestFaultClientPauseWrite(t *testing.T) {
	srv := redistest.Start(t, redisserver.Options{})
	admin := redistest.Admin(t, srv.Addr, "", "")
	ctx := context.Background()
	primary := newChecker(t, redisconn.Config{Addr: srv.Addr}, faultOpts())
	replica := newChecker(t, redisconn.Config{Addr: srv.Addr},
		check.Options{Timeout: faultTimeout, ExpectRole: check.Replica})
	wantHealthy(t, boundedCheck(t, primary))

	if err := admin.Do(ctx, "CLIENT", "PAUSE", "20000", "WRITE").Err(); err != nil {
		t.Fatalf("client pause: %v", err)
	}
	t.Cleanup(func() { _ = admin.Do(ctx, "CLIENT", "UNPAUSE").Err() })

	r := boundedCheck(t, primary)
	wantFailure(t, r, check.StepSet, check.ReasonTimeout)
	wantAtDeadline(t, r, faultTimeout)
	// Reads still work while writes are paused.
	wantHealthy(t, boundedCheck(t, replica))

	if err := admin.Do(ctx, "CLIENT", "UNPAUSE").Err(); err != nil {
		t.Fatalf("client unpause: %v", err)
	}
	wantHealthy(t, boundedCheck(t, primary))
	eventuallyNoKeys(t, admin, check.DefaultPrefix)
}

func TestFaultDebugSleep(t *testing.T) {
	srv := redistest.Start(t, redisserver.Options{})
	admin := redistest.Admin(t, srv.Addr, "", "")
	k := newChecker(t, redisconn.Config{Addr: srv.Addr}, faultOpts())
	wantHealthy(t, boundedCheck(t, k))

	slept := make(chan error, 1)
	go func() { slept <- admin.Do(context.Background(), "DEBUG", "SLEEP", "3").Err() }()
	// Checks until one meets the sleeping server; any that got in before
	// DEBUG SLEEP did must be quick successes, never slow ones.
	for start := time.Now(); ; {
		r := boundedCheck(t, k)
		if !r.Healthy {
			wantFailure(t, r, check.StepPing, check.ReasonTimeout)
			wantAtDeadline(t, r, faultTimeout)
			break
		}
		if r.Latency >= faultTimeout {
			t.Fatalf("healthy after %s, past the %s timeout", r.Latency, faultTimeout)
		}
		if time.Since(start) > 2*time.Second {
			t.Fatal("no check met the server during DEBUG SLEEP")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := <-slept; err != nil {
		t.Fatalf("debug sleep: %v", err)
	}
	wantHealthy(t, boundedCheck(t, k))
	eventuallyNoKeys(t, admin, check.DefaultPrefix)
}

func TestFaultWriteToReplica(t *testing.T) {
	primary := redistest.Start(t, redisserver.Options{})
	replica := redistest.StartReplica(t, primary, "")
	cfg := redisconn.Config{Addr: replica.Addr}

	// A fixed primary role: a replica is a failure. On the warm connection
	// READONLY makes the checker ask a fresh one, which says the same.
	k := newChecker(t, cfg, check.Options{Timeout: faultTimeout, ExpectRole: check.Primary})
	r := boundedCheck(t, k)
	wantFailure(t, r, check.StepSet, check.ReasonReadOnly)
	if r.Role != check.Replica || r.Expect != check.Primary || r.Writable {
		t.Fatalf("role %q expect %q writable %v, want replica, primary, false", r.Role, r.Expect, r.Writable)
	}
	wantFailure(t, boundedCheck(t, k), check.StepSet, check.ReasonReadOnly)
	// Auto: the node is checked as what it is.
	ak := newChecker(t, cfg, faultOpts())
	r = boundedCheck(t, ak)
	wantHealthy(t, r)
	if r.Role != check.Replica || r.Writable {
		t.Fatalf("auto on a replica: role %q writable %v", r.Role, r.Writable)
	}

	rk := newChecker(t, cfg, check.Options{Timeout: faultTimeout, ExpectRole: check.Replica})
	wantHealthy(t, boundedCheck(t, rk))
	eventuallyNoKeys(t, redistest.Admin(t, replica.Addr, "", ""), check.DefaultPrefix)
	eventuallyNoKeys(t, redistest.Admin(t, primary.Addr, "", ""), check.DefaultPrefix)
}

func TestFaultOutOfMemory(t *testing.T) {
	srv := redistest.Start(t, redisserver.Options{Config: []string{
		"maxmemory 4mb", "maxmemory-policy noeviction"}})
	admin := redistest.Admin(t, srv.Addr, "", "")
	ctx := context.Background()
	k := newChecker(t, redisconn.Config{Addr: srv.Addr}, faultOpts())
	wantHealthy(t, boundedCheck(t, k))

	// Fill memory past maxmemory with application data.
	if err := admin.Do(ctx, "DEBUG", "POPULATE", "50000", "app", "100").Err(); err != nil {
		t.Fatalf("populate: %v", err)
	}
	wantFailure(t, boundedCheck(t, k), check.StepSet, check.ReasonOOM)
	// Reads still work: the replica role is healthy on a full primary.
	rk := newChecker(t, redisconn.Config{Addr: srv.Addr}, check.Options{Timeout: faultTimeout, ExpectRole: check.Replica})
	wantHealthy(t, boundedCheck(t, rk))
	eventuallyNoKeys(t, admin, check.DefaultPrefix)

	if err := admin.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	wantHealthy(t, boundedCheck(t, k))
	eventuallyNoKeys(t, admin, check.DefaultPrefix)
}

func TestFaultAuth(t *testing.T) {
	const password = "s3cret-token-never-logged"
	srv := redistest.Start(t, redisserver.Options{Password: password})
	admin := redistest.Admin(t, srv.Addr, password, "")
	for _, tc := range []struct {
		name, password string
	}{
		{"wrong password", "not-the-token"},
		{"no password", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := newChecker(t, redisconn.Config{Addr: srv.Addr, Password: tc.password}, faultOpts())
			r := boundedCheck(t, k)
			wantFailure(t, r, check.StepPing, check.ReasonAuth)
			if tc.password != "" && strings.Contains(r.Error, tc.password) {
				t.Fatalf("error text carries the password: %q", r.Error)
			}
		})
	}
	k := newChecker(t, redisconn.Config{Addr: srv.Addr, Password: password}, faultOpts())
	wantHealthy(t, boundedCheck(t, k))
	eventuallyNoKeys(t, admin, check.DefaultPrefix)
}

func TestACLUser(t *testing.T) {
	srv := redistest.Start(t, redisserver.Options{Config: []string{
		// What a checker needs, and no more.
		"user checker on >checker-pw ~healthcheck:* resetchannels -@all +ping +role +set +get +del",
		"user nowrite on >nowrite-pw ~healthcheck:* resetchannels -@all +ping +role +get +del",
		"user norole on >norole-pw ~healthcheck:* resetchannels -@all +ping +set +get +del",
	}})
	admin := redistest.Admin(t, srv.Addr, "", "")

	t.Run("healthy", func(t *testing.T) {
		cfg := redisconn.Config{Addr: srv.Addr, Username: "checker", Password: "checker-pw"}
		wantHealthy(t, boundedCheck(t, newChecker(t, cfg, faultOpts())))
		o := faultOpts()
		o.Heartbeat = true
		wantHealthy(t, boundedCheck(t, newChecker(t, cfg, o)))
		o.ExpectRole = check.Replica
		wantHealthy(t, boundedCheck(t, newChecker(t, cfg, o)))
	})
	t.Run("no SET permission", func(t *testing.T) {
		cfg := redisconn.Config{Addr: srv.Addr, Username: "nowrite", Password: "nowrite-pw"}
		wantFailure(t, boundedCheck(t, newChecker(t, cfg, faultOpts())), check.StepSet, check.ReasonNoPerm)
	})
	t.Run("no ROLE permission", func(t *testing.T) {
		cfg := redisconn.Config{Addr: srv.Addr, Username: "norole", Password: "norole-pw"}
		// Auto needs the role: a failure that says what to grant.
		r := boundedCheck(t, newChecker(t, cfg, faultOpts()))
		wantFailure(t, r, check.StepRole, check.ReasonNoPerm)
		if !strings.Contains(r.Error, "+role") {
			t.Fatalf("error does not say what to grant: %s", r.Error)
		}
		// A fixed role does without it.
		o := faultOpts()
		o.ExpectRole = check.Primary
		wantHealthy(t, boundedCheck(t, newChecker(t, cfg, o)))
	})
	t.Run("wrong password for the user", func(t *testing.T) {
		cfg := redisconn.Config{Addr: srv.Addr, Username: "checker", Password: "nowrite-pw"}
		wantFailure(t, boundedCheck(t, newChecker(t, cfg, faultOpts())), check.StepPing, check.ReasonAuth)
	})
	eventuallyNoKeys(t, admin, check.DefaultPrefix, check.Options{}.HeartbeatKey())
}

func TestTLS(t *testing.T) {
	// The certificate names the cluster's own endpoint (and localhost for the
	// admin client), as ElastiCache's does; clients reach it by a CNAME or,
	// here, by IP.
	const endpoint = "primary.redisha-test.cache.test"
	certs := redistest.NewCerts(t, "localhost", endpoint)
	other := redistest.NewCerts(t, "localhost", endpoint)
	srv := redistest.Start(t, redisserver.Options{TLS: &certs.TLSFiles})
	admin := redistest.Admin(t, srv.Addr, "", certs.CAFile)

	for _, tc := range []struct {
		name    string
		cfg     redisconn.Config
		healthy bool
	}{
		{"server name in the certificate while dialing 127.0.0.1",
			redisconn.Config{Addr: srv.Addr, TLS: true, TLSCAFile: certs.CAFile, TLSServerName: endpoint}, true},
		{"server name not in the certificate",
			redisconn.Config{Addr: srv.Addr, TLS: true, TLSCAFile: certs.CAFile, TLSServerName: "replica.redisha-test.cache.test"}, false},
		{"CA not trusted",
			redisconn.Config{Addr: srv.Addr, TLS: true, TLSCAFile: other.CAFile, TLSServerName: endpoint}, false},
		{"system roots only",
			redisconn.Config{Addr: srv.Addr, TLS: true, TLSServerName: endpoint}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := boundedCheck(t, newChecker(t, tc.cfg, faultOpts()))
			if tc.healthy {
				wantHealthy(t, r)
				return
			}
			wantFailure(t, r, check.StepPing, check.ReasonTLS)
		})
	}
	eventuallyNoKeys(t, admin, check.DefaultPrefix)
}

func TestFaultProxy(t *testing.T) {
	srv := redistest.Start(t, redisserver.Options{})
	admin := redistest.Admin(t, srv.Addr, "", "")

	for _, tc := range []struct {
		name   string
		toxic  string // toxiproxy JSON; every toxic here is named "fault"
		reason check.Reason
		atDead bool
	}{
		{"latency above the timeout",
			`{"name":"fault","type":"latency","stream":"downstream","attributes":{"latency":3000}}`,
			check.ReasonTimeout, true},
		{"timeout toxic",
			`{"name":"fault","type":"timeout","stream":"downstream","attributes":{"timeout":0}}`,
			check.ReasonTimeout, true},
		{"reset_peer",
			`{"name":"fault","type":"reset_peer","stream":"downstream","attributes":{"timeout":0}}`,
			check.ReasonReset, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := redistest.NewProxy(t, srv.Addr)
			k := newChecker(t, redisconn.Config{Addr: p.Addr}, faultOpts())
			wantHealthy(t, boundedCheck(t, k))

			p.AddToxic(t, tc.toxic)
			r := boundedCheck(t, k)
			wantFailure(t, r, check.StepPing, tc.reason)
			if tc.atDead {
				wantAtDeadline(t, r, faultTimeout)
			}
			// A cold checker through the same fault.
			cold := newChecker(t, redisconn.Config{Addr: p.Addr}, faultOpts())
			wantFailure(t, boundedCheck(t, cold), check.StepPing, tc.reason)

			p.RemoveToxic(t, "fault")
			wantHealthy(t, boundedCheck(t, k))
			eventuallyNoKeys(t, admin, check.DefaultPrefix)
		})
	}

	t.Run("proxy disabled", func(t *testing.T) {
		p := redistest.NewProxy(t, srv.Addr)
		k := newChecker(t, redisconn.Config{Addr: p.Addr}, faultOpts())
		wantHealthy(t, boundedCheck(t, k))

		p.Disable()
		// The warm connection is closed by the proxy: the first check finds it
		// reset, or refused when the pool saw the close first and dialed anew.
		r := boundedCheck(t, k)
		if r.Reason == check.ReasonReset {
			wantFailure(t, r, check.StepPing, check.ReasonReset)
		} else {
			wantFailure(t, r, check.StepPing, check.ReasonRefused)
		}
		wantFailure(t, boundedCheck(t, k), check.StepPing, check.ReasonRefused)

		p.Enable(t)
		// Healthy on the very next check, without go-redis's dial back-off.
		wantHealthy(t, boundedCheck(t, k))
		eventuallyNoKeys(t, admin, check.DefaultPrefix)
	})
}

func TestFaultDNS(t *testing.T) {
	dns := startNXDOMAIN(t)
	const name = "primary.redisha-test.invalid"
	cfg := redisconn.Config{Addr: name + ":6379", Dialer: dns.dialer()}
	o := check.Options{Timeout: 5 * time.Second}
	k := newChecker(t, cfg, o)
	r := boundedCheck(t, k)
	wantFailure(t, r, check.StepPing, check.ReasonDNS)
	// Fails fast: an answer, not the deadline.
	if r.Latency >= o.Timeout/2 {
		t.Fatalf("dns failure took %s of a %s timeout", r.Latency, o.Timeout)
	}
	// The lookup went to the loopback server, and nowhere else.
	asked := false
	for _, q := range dns.questions() {
		asked = asked || strings.TrimSuffix(q, ".") == name
	}
	if !asked {
		t.Fatalf("loopback dns server was not asked for %s: %v", name, dns.questions())
	}
}

func TestFaultLoading(t *testing.T) {
	srv := redistest.Start(t, redisserver.Options{})
	admin := redistest.Admin(t, srv.Addr, "", "")
	ctx := context.Background()
	// A dataset big enough that loading it takes a while and the server
	// answers clients (with LOADING) in between.
	if err := admin.Do(ctx, "DEBUG", "POPULATE", "1000000", "app", "64").Err(); err != nil {
		t.Fatalf("populate: %v", err)
	}
	// Long timeout: the save before the reload blocks the server outright.
	k := newChecker(t, redisconn.Config{Addr: srv.Addr, IOTimeout: 15 * time.Second},
		check.Options{Timeout: 15 * time.Second})
	wantHealthy(t, boundedCheck(t, k))

	// The reload's own client waits as long as the reload takes (Admin's
	// 5 s read timeout is too short for a million keys on a loaded box).
	slow, err := redisconn.New(redisconn.Config{Addr: srv.Addr, IOTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = slow.Close() })
	reloaded := make(chan error, 1)
	go func() {
		c, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		reloaded <- slow.Do(c, "DEBUG", "RELOAD").Err()
	}()
	var loading int
	var reloadErr error
poll:
	for {
		select {
		case reloadErr = <-reloaded:
			break poll
		default:
		}
		r := boundedCheck(t, k)
		switch {
		case r.Healthy:
		case r.Reason == check.ReasonLoading:
			wantFailure(t, r, check.StepPing, check.ReasonLoading)
			loading++
		case r.Reason == check.ReasonTimeout:
			// The save before the load blocks the server outright; on a
			// loaded box longer than the check's timeout.
			wantFailure(t, r, check.StepPing, check.ReasonTimeout)
		default:
			t.Fatalf("check during reload: step=%q reason=%q error=%q", r.Step, r.Reason, r.Error)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if reloadErr != nil {
		t.Fatalf("debug reload: %v", reloadErr)
	}
	if loading == 0 {
		t.Fatal("no check saw LOADING during the reload")
	}
	t.Logf("%d checks saw LOADING", loading)
	wantHealthy(t, boundedCheck(t, k))
	eventuallyNoKeys(t, admin, check.DefaultPrefix)
}

// After a connection-level failure the Checker drops its client, so the
// first check after recovery dials afresh and is healthy: go-redis's pool
// alone would keep failing for about a second after a failed dial.
func TestCheckerHealthyOnTheNextCheckAfterRecovery(t *testing.T) {
	srv := redistest.Start(t, redisserver.Options{})
	k := newChecker(t, redisconn.Config{Addr: srv.Addr}, faultOpts())
	for cycle := 0; cycle < 3; cycle++ {
		wantHealthy(t, boundedCheck(t, k))
		srv.Kill()
		wantFailure(t, boundedCheck(t, k), check.StepPing, check.ReasonRefused)
		wantFailure(t, boundedCheck(t, k), check.StepPing, check.ReasonRefused)
		if err := srv.Restart(); err != nil {
			t.Fatalf("restart: %v", err)
		}
		wantHealthy(t, boundedCheck(t, k))
	}
	eventuallyNoKeys(t, redistest.Admin(t, srv.Addr, "", ""), check.DefaultPrefix)
}
