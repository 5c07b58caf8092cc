package check_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redisha/redisha/internal/check"
	"github.com/redisha/redisha/internal/redisconn"
	"github.com/redisha/redisha/internal/sim/redisserver"
	"github.com/redisha/redisha/internal/testbed/redistest"
)

// client returns a checking client (as the checker builds it), closed at
// cleanup.
func client(t *testing.T, cfg redisconn.Config) *redis.Client {
	t.Helper()
	c, err := redisconn.New(cfg)
	if err != nil {
		t.Fatalf("client for %s: %v", cfg.Redacted(), err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// ping returns the error of one PING within d.
func ping(c *redis.Client, d time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return c.Ping(ctx).Err()
}

// closingListener accepts connections on loopback, reads once and closes
// them: with an RST when rst is set, else with a FIN.
func closingListener(t *testing.T, rst bool) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			buf := make([]byte, 512)
			_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
			_, _ = c.Read(buf)
			if rst {
				_ = c.(*net.TCPConn).SetLinger(0)
			}
			_ = c.Close()
		}
	}()
	t.Cleanup(func() { _ = l.Close(); <-done })
	return l.Addr().String()
}

// TestClassifyRealErrors classifies error values captured from real
// failures: real servers, real sockets, real TLS handshakes, real DNS
// answers (from a loopback server).
func TestClassifyRealErrors(t *testing.T) {
	ctx := context.Background()
	plain := redistest.Start(t, redisserver.Options{Config: []string{
		"user nowrite on >nowrite-pw ~* resetchannels -@all +ping +get",
		"lua-time-limit 100",
	}})
	pw := redistest.Start(t, redisserver.Options{Password: "s3cret"})
	closedPort, err := redisserver.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	// Replicas of a primary that is not there: one serves stale data (and
	// refuses writes), one refuses everything.
	stale := redistest.Start(t, redisserver.Options{Config: []string{
		"replicaof 127.0.0.1 " + strconv.Itoa(closedPort), "replica-serve-stale-data yes"}})
	noStale := redistest.Start(t, redisserver.Options{Config: []string{
		"replicaof 127.0.0.1 " + strconv.Itoa(closedPort), "replica-serve-stale-data no"}})
	full := redistest.Start(t, redisserver.Options{Config: []string{"maxmemory 2mb", "maxmemory-policy noeviction"}})
	if err := redistest.Admin(t, full.Addr, "", "").Do(ctx, "DEBUG", "POPULATE", "30000", "app", "100").Err(); err != nil {
		t.Fatal(err)
	}
	cluster := redistest.Start(t, redisserver.Options{Config: []string{"cluster-enabled yes"}})
	certs := redistest.NewCerts(t, "localhost")
	tlsSrv := redistest.Start(t, redisserver.Options{TLS: &certs.TLSFiles})
	otherCA := redistest.NewCerts(t, "localhost")
	stalled := redistest.Start(t, redisserver.Options{})
	if err := stalled.Pause(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stalled.Resume() })
	dns := startNXDOMAIN(t)

	plainC := client(t, redisconn.Config{Addr: plain.Addr})
	// replyErr is the error of a script returning msg as an error reply: a
	// real server reply for codes that need a cluster or a restart to see.
	replyErr := func(msg string) func(t *testing.T) error {
		return func(t *testing.T) error {
			return plainC.Eval(ctx, "return redis.error_reply(ARGV[1])", nil, msg).Err()
		}
	}

	rows := []struct {
		name string
		want check.Reason
		err  func(t *testing.T) error
	}{
		{"nil", "", func(*testing.T) error { return nil }},
		{"connection refused", check.ReasonRefused, func(t *testing.T) error {
			return ping(client(t, redisconn.Config{Addr: "127.0.0.1:" + strconv.Itoa(closedPort)}), time.Second)
		}},
		{"stalled server, context deadline", check.ReasonTimeout, func(t *testing.T) error {
			return ping(client(t, redisconn.Config{Addr: stalled.Addr}), 200*time.Millisecond)
		}},
		{"stalled server, read timeout", check.ReasonTimeout, func(t *testing.T) error {
			c := client(t, redisconn.Config{Addr: stalled.Addr, IOTimeout: 200 * time.Millisecond})
			return c.Ping(ctx).Err()
		}},
		{"stalled TLS handshake", check.ReasonTimeout, func(t *testing.T) error {
			return ping(client(t, redisconn.Config{Addr: stalled.Addr, TLS: true}), 200*time.Millisecond)
		}},
		{"canceled", check.ReasonCanceled, func(t *testing.T) error {
			c, cancel := context.WithCancel(ctx)
			cancel()
			return plainC.Ping(c).Err()
		}},
		{"connection reset", check.ReasonReset, func(t *testing.T) error {
			return ping(client(t, redisconn.Config{Addr: closingListener(t, true)}), time.Second)
		}},
		{"connection closed", check.ReasonReset, func(t *testing.T) error {
			return ping(client(t, redisconn.Config{Addr: closingListener(t, false)}), time.Second)
		}},
		{"client closed", check.ReasonReset, func(t *testing.T) error {
			c := client(t, redisconn.Config{Addr: plain.Addr})
			_ = c.Close()
			return c.Ping(ctx).Err()
		}},
		{"name does not resolve", check.ReasonDNS, func(t *testing.T) error {
			return ping(client(t, redisconn.Config{Addr: "nowhere.redisha-test.invalid:6379", Dialer: dns.dialer()}), 2*time.Second)
		}},
		{"tls unknown authority", check.ReasonTLS, func(t *testing.T) error {
			return ping(client(t, redisconn.Config{Addr: tlsSrv.Addr, TLS: true, TLSCAFile: otherCA.CAFile}), time.Second)
		}},
		{"tls name mismatch", check.ReasonTLS, func(t *testing.T) error {
			return ping(client(t, redisconn.Config{Addr: tlsSrv.Addr, TLS: true, TLSCAFile: certs.CAFile,
				TLSServerName: "other.redisha-test.invalid"}), time.Second)
		}},
		// A plain server reads the ClientHello as the start of an inline
		// command and waits for its end: the handshake stalls.
		{"tls to a plain server", check.ReasonTimeout, func(t *testing.T) error {
			return ping(client(t, redisconn.Config{Addr: plain.Addr, TLS: true}), time.Second)
		}},
		{"wrong password", check.ReasonAuth, func(t *testing.T) error {
			return ping(client(t, redisconn.Config{Addr: pw.Addr, Password: "wrong"}), time.Second)
		}},
		{"no password", check.ReasonAuth, func(t *testing.T) error {
			return ping(client(t, redisconn.Config{Addr: pw.Addr}), time.Second)
		}},
		// go-redis authenticates with HELLO, which a nopass user accepts with
		// any password; the legacy AUTH form is refused.
		{"legacy AUTH where no password is set", check.ReasonAuth, func(t *testing.T) error {
			return plainC.Do(ctx, "AUTH", "unexpected").Err()
		}},
		{"unknown user", check.ReasonAuth, func(t *testing.T) error {
			return ping(client(t, redisconn.Config{Addr: plain.Addr, Username: "nobody", Password: "x"}), time.Second)
		}},
		{"no permission", check.ReasonNoPerm, func(t *testing.T) error {
			c := client(t, redisconn.Config{Addr: plain.Addr, Username: "nowrite", Password: "nowrite-pw"})
			return c.Set(ctx, "healthcheck:x", "1", time.Second).Err()
		}},
		{"write to a replica", check.ReasonReadOnly, func(t *testing.T) error {
			return client(t, redisconn.Config{Addr: stale.Addr}).Set(ctx, "healthcheck:x", "1", time.Second).Err()
		}},
		{"replica without its primary", check.ReasonMaster, func(t *testing.T) error {
			return client(t, redisconn.Config{Addr: noStale.Addr}).Get(ctx, "healthcheck:heartbeat").Err()
		}},
		{"out of memory", check.ReasonOOM, func(t *testing.T) error {
			return client(t, redisconn.Config{Addr: full.Addr}).Set(ctx, "healthcheck:x", "1", time.Second).Err()
		}},
		{"cluster down", check.ReasonCluster, func(t *testing.T) error {
			return client(t, redisconn.Config{Addr: cluster.Addr}).Get(ctx, "healthcheck:heartbeat").Err()
		}},
		{"busy script", check.ReasonBusy, func(t *testing.T) error {
			looper := redistest.Admin(t, plain.Addr, "", "")
			ran := make(chan struct{})
			go func() {
				defer close(ran)
				c, cancel := context.WithTimeout(ctx, 20*time.Second)
				defer cancel()
				_ = looper.Eval(c, "while true do end", nil).Err()
			}()
			defer func() {
				_ = redistest.Admin(t, plain.Addr, "", "").ScriptKill(ctx).Err()
				<-ran
			}()
			c := client(t, redisconn.Config{Addr: plain.Addr})
			deadline := time.Now().Add(5 * time.Second)
			for {
				err := ping(c, time.Second)
				if err != nil && strings.HasPrefix(err.Error(), "BUSY") || time.Now().After(deadline) {
					return err
				}
				time.Sleep(20 * time.Millisecond)
			}
		}},
		{"loading", check.ReasonLoading, replyErr("LOADING Redis is loading the dataset in memory")},
		{"moved", check.ReasonCluster, replyErr("MOVED 3999 127.0.0.1:6381")},
		{"ask", check.ReasonCluster, replyErr("ASK 3999 127.0.0.1:6381")},
		{"try again", check.ReasonCluster, replyErr("TRYAGAIN Multiple keys request during rehashing of slot")},
		{"busy reply", check.ReasonBusy, replyErr("BUSY Redis is busy running a script")},
		{"unknown command", check.ReasonError, func(t *testing.T) error {
			return plainC.Do(ctx, "NOSUCHCOMMAND").Err()
		}},
		{"wrong type", check.ReasonError, func(t *testing.T) error {
			if err := plainC.LPush(ctx, "app:list", "x").Err(); err != nil {
				t.Fatal(err)
			}
			return plainC.Get(ctx, "app:list").Err()
		}},
		{"pool timeout", check.ReasonTimeout, func(*testing.T) error { return redis.ErrPoolTimeout }},
		{"wrapped refusal", check.ReasonRefused, func(t *testing.T) error {
			err := ping(client(t, redisconn.Config{Addr: "127.0.0.1:" + strconv.Itoa(closedPort)}), time.Second)
			return fmt.Errorf("check primary: %w", err)
		}},
		{"other client failure", check.ReasonUnknown, func(*testing.T) error {
			return errors.New("redis: client is misconfigured")
		}},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			err := row.err(t)
			if row.want != "" && err == nil {
				t.Fatal("the fault produced no error")
			}
			if got := check.Classify(err); got != row.want {
				t.Fatalf("Classify(%T %q) = %q, want %q", err, errText(err), got, row.want)
			}
		})
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestReasonConnection(t *testing.T) {
	for _, tc := range []struct {
		r    check.Reason
		want bool
	}{
		{check.ReasonRefused, true}, {check.ReasonTimeout, true}, {check.ReasonReset, true},
		{check.ReasonDNS, true}, {check.ReasonTLS, true}, {check.ReasonAuth, true}, {check.ReasonUnknown, true},
		{check.ReasonNoPerm, false}, {check.ReasonReadOnly, false}, {check.ReasonOOM, false},
		{check.ReasonLoading, false}, {check.ReasonBusy, false}, {check.ReasonMaster, false},
		{check.ReasonCluster, false}, {check.ReasonMismatch, false}, {check.ReasonKeyExists, false},
		{check.ReasonError, false}, {"", false},
		{check.ReasonMaxClients, true}, {check.ReasonCanceled, true},
	} {
		if got := tc.r.Connection(); got != tc.want {
			t.Errorf("%q.Connection() = %v, want %v", tc.r, got, tc.want)
		}
	}
}
