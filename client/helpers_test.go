package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redisha/redisha/internal/sim/redisserver"
	"github.com/redisha/redisha/internal/testbed/dnstest"
	"github.com/redisha/redisha/internal/testbed/redistest"
	"github.com/redisha/redisha/internal/testbed/wait"
)

// The two regions' endpoints of a failover: the same port on two loopback
// addresses, so that only the DNS answer tells them apart, as it does for
// ElastiCache endpoints.
const (
	ipA     = "127.0.0.2"
	ipB     = "127.0.0.3"
	nameA   = "master.a.use1.cache.test"
	nameB   = "master.b.usw2.cache.test"
	appName = "redis.internal"
)

// bed is a writer A, a second server B, and a DNS zone where appName is a
// CNAME to A's endpoint name.
type bed struct {
	a, b *redisserver.Server
	port int
	dns  *dnstest.Server
	cas  *x509.CertPool // with TLS: trusts both endpoints' certificates

	clientA, clientB *redis.Client // direct admin clients, made once
}

// addr is appName:port, what applications connect to.
func (b *bed) addr() string { return net.JoinHostPort(appName, strconv.Itoa(b.port)) }

// newBed starts A and B on the same free port. With replica, B replicates
// A (a Global Datastore's secondary); with tlsOn, each serves a certificate
// for its own endpoint name only.
func newBed(t testing.TB, replica, tlsOn bool) *bed {
	t.Helper()
	b := &bed{dns: dnstest.Start(t)}
	var optsA, optsB redisserver.Options
	if tlsOn {
		ca, cb := redistest.NewCerts(t, nameA), redistest.NewCerts(t, nameB)
		b.cas = x509.NewCertPool()
		both := readFile(t, ca.CAFile) + readFile(t, cb.CAFile)
		if !b.cas.AppendCertsFromPEM([]byte(both)) {
			t.Fatal("no CA certificate")
		}
		// Each server trusts both CAs, so B can replicate A over TLS.
		bundle := t.TempDir() + "/cas.pem"
		if err := os.WriteFile(bundle, []byte(both), 0o600); err != nil {
			t.Fatal(err)
		}
		ca.CAFile, cb.CAFile = bundle, bundle
		optsA.TLS, optsB.TLS = &ca.TLSFiles, &cb.TLSFiles
	}
	optsA.Config = []string{"repl-diskless-sync-delay 0"}
	for attempt := 0; ; attempt++ {
		port, err := redisserver.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		oa, ob := optsA, optsB
		oa.Bind, oa.Port, ob.Bind, ob.Port = ipA, port, ipB, port
		if replica {
			ob.Config = append(ob.Config, "replicaof "+ipA+" "+strconv.Itoa(port))
		}
		if b.a, err = redisserver.Start(oa); err == nil {
			if b.b, err = redisserver.Start(ob); err == nil {
				b.port = port
				break
			}
			_ = b.a.Stop()
		}
		if attempt == 4 {
			t.Fatalf("start two servers on one port: %v", err)
		}
	}
	t.Cleanup(func() { _ = b.a.Stop(); _ = b.b.Stop() })
	b.dns.A(nameA, ipA)
	b.dns.A(nameB, ipB)
	b.dns.CNAME(appName, nameA)
	if replica {
		b.waitLink(t, b.b)
		b.waitStreaming(t)
	}
	return b
}

func readFile(t testing.TB, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// admin is a direct client to one server, for arranging and asserting.
func (b *bed) admin(t testing.TB, s *redisserver.Server, name string) *redis.Client {
	t.Helper()
	o := &redis.Options{Addr: s.Addr, Protocol: 2, DisableIdentity: true, DialTimeout: 2 * time.Second,
		ReadTimeout: 5 * time.Second, MaxRetries: -1}
	if b.cas != nil {
		o.TLSConfig = &tls.Config{RootCAs: b.cas, ServerName: name, MinVersion: tls.VersionTLS12}
	}
	c := redis.NewClient(o)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func (b *bed) adminA(t testing.TB) *redis.Client {
	if b.clientA == nil {
		b.clientA = b.admin(t, b.a, nameA)
	}
	return b.clientA
}

func (b *bed) adminB(t testing.TB) *redis.Client {
	if b.clientB == nil {
		b.clientB = b.admin(t, b.b, nameB)
	}
	return b.clientB
}

func (b *bed) waitLink(t testing.TB, s *redisserver.Server) {
	t.Helper()
	c := b.adminA(t)
	if s == b.b {
		c = b.adminB(t)
	}
	wait.For(t, 10*time.Second, "replica "+s.Addr+": master_link_status:up", func() bool {
		info, _ := c.Info(context.Background(), "replication").Result()
		return strings.Contains(info, "master_link_status:up")
	})
}

// waitStreaming waits until the primary A streams writes to its replica:
// after a diskless full sync the primary holds the stream back until the
// replica's first acknowledgement (up to a second), and a replica promoted
// before that lacks every write since the sync.
func (b *bed) waitStreaming(t testing.TB) {
	t.Helper()
	ctx := context.Background()
	a := b.adminA(t)
	if err := a.Set(ctx, "bed:streaming", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	n, err := a.Do(ctx, "WAIT", 1, 10000).Int()
	if err != nil || n != 1 {
		t.Fatalf("primary %s: replica acknowledged %d writes (%v) after 10s", b.a.Addr, n, err)
	}
	if err := a.Del(ctx, "bed:streaming").Err(); err != nil {
		t.Fatal(err)
	}
}

// promoteB makes B a primary (REPLICAOF NO ONE).
func (b *bed) promoteB(t testing.TB) {
	t.Helper()
	if err := b.adminB(t).Do(context.Background(), "REPLICAOF", "NO", "ONE").Err(); err != nil {
		t.Fatalf("promote B: %v", err)
	}
}

// demoteA makes A a replica of B: writes to A are answered READONLY.
func (b *bed) demoteA(t testing.TB) {
	t.Helper()
	if err := b.adminA(t).Do(context.Background(), "REPLICAOF", ipB, strconv.Itoa(b.port)).Err(); err != nil {
		t.Fatalf("demote A: %v", err)
	}
}

// flip points appName at B's endpoint, as the Route 53 failover record does.
func (b *bed) flip() { b.dns.CNAME(appName, nameB) }

// newTestClient returns a client of this package for the bed, with short
// backoffs so that tests spend no time waiting; cfg's other fields are kept.
func newTestClient(t testing.TB, b *bed, cfg Config) *redis.Client {
	t.Helper()
	cfg.Addr = cmpOr(cfg.Addr, b.addr())
	cfg.Resolver = b.dns.Resolver()
	if b.cas == nil {
		cfg.PlainText = true // the bed speaks plain text
	}
	cfg.MinRetryBackoff = cmpOr(cfg.MinRetryBackoff, 10*time.Millisecond)
	cfg.MaxRetryBackoff = cmpOr(cfg.MaxRetryBackoff, 100*time.Millisecond)
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// plainOptions are go-redis options as an application sets them without
// this package: the name resolved on each dial by the same resolver (what
// go-redis's own dialer does with the system resolver), and with serverName
// set, TLS verified against that fixed name.
func plainOptions(b *bed, serverName string) *redis.Options {
	d := &net.Dialer{Timeout: 2 * time.Second, Resolver: b.dns.Resolver()}
	o := &redis.Options{Addr: b.addr(), Protocol: 2, DisableIdentity: true}
	o.Dialer = func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := d.DialContext(ctx, network, addr)
		if err != nil || serverName == "" {
			return conn, err
		}
		tconn := tls.Client(conn, &tls.Config{RootCAs: b.cas, ServerName: serverName, MinVersion: tls.VersionTLS12})
		if err := tconn.HandshakeContext(ctx); err != nil {
			_ = conn.Close()
			return nil, err
		}
		return tconn, nil
	}
	return o
}

// fill makes the client hold n connections at once (BLPOP waits without
// blocking the server), so that the pool has n idle connections afterwards.
func fill(t testing.TB, c *redis.Client, n int) {
	t.Helper()
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func() { errs <- c.Do(context.Background(), "BLPOP", "fill:none", "0.1").Err() }()
	}
	for i := 0; i < n; i++ {
		if err := <-errs; err != nil && err != redis.Nil {
			t.Fatalf("fill pool: %v", err)
		}
	}
}

// landedOn reports whether key holds value on the server behind c.
func landedOn(t testing.TB, c *redis.Client, key, value string) bool {
	t.Helper()
	v, err := c.Get(context.Background(), key).Result()
	if err != nil && err != redis.Nil {
		t.Fatalf("get %s: %v", key, err)
	}
	return v == value
}
