package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redisha/redisha/internal/check"
	"github.com/redisha/redisha/internal/sim/redisserver"
	"github.com/redisha/redisha/internal/testbed/dnstest"
	"github.com/redisha/redisha/internal/testbed/redistest"
)

// testNames allow the bed's endpoints, as DefaultTLSNames allows ElastiCache's.
var testNames = []string{"*.cache.test"}

// Each endpoint's certificate names only that endpoint, as ElastiCache's
// do. The client verifies the name the CNAME points to at each dial, so it
// connects before and after the name moves; go-redis with a fixed server
// name fails on one side of the flip or the other.
func TestTLSVerifiesTheEndpointTheNamePointsTo(t *testing.T) {
	t.Parallel()
	b := newBed(t, false, true)
	ctx := context.Background()
	c := newTestClient(t, b, Config{TLS: true, RootCAs: b.cas, TLSNames: testNames})
	fixedA := redis.NewClient(plainOptions(b, nameA))
	fixedApp := redis.NewClient(plainOptions(b, appName))
	t.Cleanup(func() { _ = fixedA.Close(); _ = fixedApp.Close() })

	if err := c.Set(ctx, "k", "a", 0).Err(); err != nil || !landedOn(t, b.adminA(t), "k", "a") {
		t.Fatalf("before the flip: %v, or not on A", err)
	}
	if err := fixedA.Ping(ctx).Err(); err != nil {
		t.Fatalf("go-redis verifying %s before the flip: %v", nameA, err)
	}
	if err := fixedApp.Ping(ctx).Err(); check.Classify(err) != check.ReasonTLS {
		t.Errorf("go-redis verifying %s (no certificate names it): %v, want a TLS failure", appName, err)
	}

	b.flip()
	b.a.Kill() // the old region is gone: pooled connections break
	if err := c.Set(ctx, "k", "b", 0).Err(); err != nil || !landedOn(t, b.adminB(t), "k", "b") {
		t.Fatalf("after the flip: %v, or not on B", err)
	}
	if err := fixedA.Ping(ctx).Err(); check.Classify(err) != check.ReasonTLS {
		t.Errorf("go-redis verifying %s after the flip: %v, want a TLS failure", nameA, err)
	}
}

// With TLSNames, a chain that ends at a name not listed is refused before
// any byte is sent, naming the name and the option.
func TestTLSNamesAllowList(t *testing.T) {
	t.Parallel()
	b := newBed(t, false, true)
	ctx := context.Background()
	c := newTestClient(t, b, Config{TLS: true, RootCAs: b.cas, TLSNames: []string{nameA, "MASTER.Other.cache.test."}, MaxRetries: 1})
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("listed endpoint: %v", err)
	}
	b.flip()
	b.a.Kill()
	err := c.Ping(ctx).Err()
	var ne *NameError
	if !errors.As(err, &ne) || ne.Name != nameB {
		t.Fatalf("unlisted endpoint: %v, want a NameError for %s", err, nameB)
	}
}

// Kubernetes: an ExternalName Service is one more CNAME in front of
// redis.internal (redis.default.svc.cluster.local → redis.internal →
// the endpoint). The client follows the whole chain and verifies the
// endpoint at its end; go-redis verifying the name it was given fails.
func TestCNAMEChainThroughExternalName(t *testing.T) {
	t.Parallel()
	b := newBed(t, false, true)
	ctx := context.Background()
	const svc = "redis.default.svc.cluster.local"
	b.dns.CNAME(svc, appName)
	addr := net.JoinHostPort(svc, strconv.Itoa(b.port))
	c := newTestClient(t, b, Config{Addr: addr, TLS: true, RootCAs: b.cas, TLSNames: testNames})
	if err := c.Set(ctx, "k", "a", 0).Err(); err != nil || !landedOn(t, b.adminA(t), "k", "a") {
		t.Fatalf("through the ExternalName chain: %v, or not on A", err)
	}
	o := plainOptions(b, svc)
	o.Addr = addr
	plain := redis.NewClient(o)
	t.Cleanup(func() { _ = plain.Close() })
	if err := plain.Ping(ctx).Err(); check.Classify(err) != check.ReasonTLS {
		t.Errorf("go-redis verifying %s: %v, want a TLS failure", svc, err)
	}
	// An absolute name (no search list: Kubernetes' ndots:5 would try
	// redis.internal.default.svc.cluster.local first) works the same.
	abs := newTestClient(t, b, Config{Addr: net.JoinHostPort(appName+".", strconv.Itoa(b.port)), TLS: true, RootCAs: b.cas, TLSNames: testNames})
	if err := abs.Ping(ctx).Err(); err != nil {
		t.Fatalf("absolute name %s.: %v", appName, err)
	}
	b.flip()
	b.a.Kill()
	if err := c.Set(ctx, "k", "b", 0).Err(); err != nil || !landedOn(t, b.adminB(t), "k", "b") {
		t.Fatalf("after the flip, through the chain: %v, or not on B", err)
	}
}

// The redirect of the security review: redis.internal is pointed (a record
// edit, a more specific zone, a Kubernetes ExternalName) at a host with a
// valid certificate for its own name. With the defaults the client accepts
// only ElastiCache's endpoint domains, so the host receives nothing, the
// AUTH token least of all; TLSAnyName, the explicit opt-out, sends it there.
func TestRedirectedNameGetsNoToken(t *testing.T) {
	t.Parallel()
	const (
		endpoint = "master.redisha.abc123.use1.cache.amazonaws.com"
		evil     = "evil.attacker.test"
		token    = "S3CRET-AUTH-TOKEN-0123456789"
	)
	dns := dnstest.Start(t)
	good, bad := redistest.NewCerts(t, endpoint), redistest.NewCerts(t, evil)
	cas := x509.NewCertPool()
	// Both CAs are trusted: the attacker's stands for a public CA, which
	// issues a certificate to anyone who owns a domain.
	if !cas.AppendCertsFromPEM([]byte(readFile(t, good.CAFile) + readFile(t, bad.CAFile))) {
		t.Fatal("no CA certificate")
	}
	var srv *redisserver.Server
	var port int
	for attempt := 0; srv == nil; attempt++ {
		p, err := redisserver.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		if srv, err = redisserver.Start(redisserver.Options{Bind: "127.0.0.5", Port: p, TLS: &good.TLSFiles, Password: token}); err != nil && attempt == 4 {
			t.Fatal(err)
		}
		port = p
	}
	t.Cleanup(func() { _ = srv.Stop() })
	received := tlsSink(t, bad, net.JoinHostPort("127.0.0.4", strconv.Itoa(port)))
	dns.A(endpoint, "127.0.0.5")
	dns.A(evil, "127.0.0.4")
	dns.CNAME(appName, endpoint)

	addr := net.JoinHostPort(appName, strconv.Itoa(port))
	c, err := New(Config{Addr: addr, Resolver: dns.Resolver(), RootCAs: cas, Password: token, MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	ctx := context.Background()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("the ElastiCache endpoint, with the defaults: %v", err)
	}
	dns.CNAME(appName, evil)
	_ = srv.Stop() // the pooled connection breaks: the next command dials
	for range 3 {
		err := c.Ping(ctx).Err()
		var ne *NameError
		if errors.As(err, &ne) && ne.Name == evil {
			break
		}
	}
	var ne *NameError
	if err := c.Ping(ctx).Err(); !errors.As(err, &ne) || ne.Name != evil {
		t.Fatalf("redirected to %s: %v, want a NameError", evil, err)
	}
	if got := received(); got != "" {
		t.Fatalf("the redirected host received %q", got)
	}

	anyName, err := New(Config{Addr: addr, Resolver: dns.Resolver(), RootCAs: cas, Password: token, MaxRetries: -1, TLSAnyName: true, IOTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = anyName.Close() })
	_ = anyName.Ping(ctx).Err() // the sink never answers: a timeout
	if got := received(); !strings.Contains(got, token) {
		t.Fatalf("with TLSAnyName the redirected host received %q, want the token (the test would miss a leak)", got)
	}
}

// tlsSink listens with TLS on addr and returns what clients sent it,
// decrypted. It never answers.
func tlsSink(t *testing.T, certs redistest.Certs, addr string) (received func() string) {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(certs.CertFile, certs.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", addr, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	var mu sync.Mutex
	var got strings.Builder
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				buf := make([]byte, 4096)
				for {
					_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
					n, err := conn.Read(buf)
					mu.Lock()
					got.Write(buf[:n])
					mu.Unlock()
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	return func() string {
		mu.Lock()
		defer mu.Unlock()
		return got.String()
	}
}
