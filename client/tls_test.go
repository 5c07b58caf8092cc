package client

import (
	"context"
	"errors"
	"net"
	"strconv"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/redisha/redisha/internal/check"
)

// Each endpoint's certificate names only that endpoint, as ElastiCache's
// do. The client verifies the name the CNAME points to at each dial, so it
// connects before and after the name moves; go-redis with a fixed server
// name fails on one side of the flip or the other.
func TestTLSVerifiesTheEndpointTheNamePointsTo(t *testing.T) {
	b := newBed(t, false, true)
	ctx := context.Background()
	c := newTestClient(t, b, Config{TLS: true, RootCAs: b.cas})
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
	b := newBed(t, false, true)
	ctx := context.Background()
	const svc = "redis.default.svc.cluster.local"
	b.dns.CNAME(svc, appName)
	addr := net.JoinHostPort(svc, strconv.Itoa(b.port))
	c := newTestClient(t, b, Config{Addr: addr, TLS: true, RootCAs: b.cas})
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
	abs := newTestClient(t, b, Config{Addr: net.JoinHostPort(appName+".", strconv.Itoa(b.port)), TLS: true, RootCAs: b.cas})
	if err := abs.Ping(ctx).Err(); err != nil {
		t.Fatalf("absolute name %s.: %v", appName, err)
	}
	b.flip()
	b.a.Kill()
	if err := c.Set(ctx, "k", "b", 0).Err(); err != nil || !landedOn(t, b.adminB(t), "k", "b") {
		t.Fatalf("after the flip, through the chain: %v, or not on B", err)
	}
}
