package client

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

	"github.com/redisha/redisha/internal/sim/redisserver"
	"github.com/redisha/redisha/internal/testbed/dnstest"
	"github.com/redisha/redisha/internal/testbed/redistest"
	"github.com/redisha/redisha/internal/testbed/wait"
)

// startClusterOn starts len(ports) cluster-mode masters bound to ip, one on
// each port, splits the slots evenly, joins them and waits until every node
// says cluster_state:ok. Every server stops at cleanup.
func startClusterOn(t *testing.T, ip string, ports []int) ([]*redisserver.Server, error) {
	t.Helper()
	var servers []*redisserver.Server
	stop := func() {
		for _, s := range servers {
			_ = s.Stop()
		}
	}
	for _, p := range ports {
		// A node announces the address it is bound to: its outgoing bus
		// connections leave from 127.0.0.1, which the others would learn.
		s, err := redisserver.Start(redisserver.Options{Bind: ip, Port: p, Cluster: true, Config: []string{"cluster-announce-ip " + ip}})
		if err != nil {
			stop()
			return nil, err
		}
		servers = append(servers, s)
	}
	t.Cleanup(stop)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n := len(servers)
	for i, s := range servers {
		a := redistest.Admin(t, s.Addr, "", "")
		if err := a.Do(ctx, "CLUSTER", "ADDSLOTSRANGE", i*16384/n, (i+1)*16384/n-1).Err(); err != nil {
			t.Fatalf("%s: addslotsrange: %v", s.Addr, err)
		}
		if i > 0 {
			if err := redistest.Admin(t, servers[0].Addr, "", "").Do(ctx, "CLUSTER", "MEET", ip, s.Port, s.BusPort).Err(); err != nil {
				t.Fatalf("%s: meet %s: %v", servers[0].Addr, s.Addr, err)
			}
		}
	}
	for _, s := range servers {
		a := redistest.Admin(t, s.Addr, "", "")
		var info string
		if !wait.Until(ctx, 30*time.Second, func() bool {
			info, _ = a.Do(ctx, "CLUSTER", "INFO").Text()
			return strings.Contains(info, "cluster_state:ok") && strings.Contains(info, "cluster_known_nodes:"+strconv.Itoa(n)+"\r\n")
		}) {
			nodes, _ := a.Do(ctx, "CLUSTER", "NODES").Text()
			t.Fatalf("%s: cluster not ok with %d nodes after 30s:\n%s\n%s", s.Addr, n, info, nodes)
		}
	}
	return servers, nil
}

// twoClusters starts a three-shard cluster on ipA and one on ipB whose
// first nodes share a port (the seed's, behind the name) and whose other
// nodes do not, so that a node of one is never reached by chance at the
// other's address.
func twoClusters(t *testing.T) (a, b []*redisserver.Server) {
	t.Helper()
	for attempt := 0; ; attempt++ {
		ports := make([]int, 5)
		for i := range ports {
			p, err := redisserver.FreePort()
			if err != nil {
				t.Fatal(err)
			}
			ports[i] = p
		}
		var err error
		if a, err = startClusterOn(t, ipA, ports[:3]); err == nil {
			if b, err = startClusterOn(t, ipB, []int{ports[0], ports[3], ports[4]}); err == nil {
				return a, b
			}
		}
		if attempt == 4 {
			t.Fatalf("start two clusters: %v", err)
		}
	}
}

// clusterBed is twoClusters behind a DNS zone where appName is a CNAME to
// A's endpoint name, and the address applications use.
func clusterBed(t *testing.T) (dns *dnstest.Server, a, b []*redisserver.Server, addr string) {
	t.Helper()
	dns = dnstest.Start(t)
	a, b = twoClusters(t)
	dns.A(nameA, ipA)
	dns.A(nameB, ipB)
	dns.CNAME(appName, nameA)
	return dns, a, b, net.JoinHostPort(appName, strconv.Itoa(a[0].Port))
}

// newCluster is NewCluster(c), closed at cleanup.
func newCluster(t *testing.T, c Config) *redis.ClusterClient {
	t.Helper()
	cc, err := NewCluster(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	return cc
}

// A cluster client behind the name follows the name to the other region's
// cluster when the writer region is lost and the record flips: its
// topology is read through the name at every reload, not from the nodes it
// knew. Two real three-shard clusters, one per loopback address, on the
// same ports, so that only the DNS answer tells them apart.
func TestClusterClientFollowsTheName(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two three-shard clusters; make test runs it")
	}
	dns, a, b, addr := clusterBed(t)
	cc := newCluster(t, Config{Addr: addr, Resolver: dns.Resolver(), PlainText: true,
		MaxRetries: 3, MinRetryBackoff: 50 * time.Millisecond, MaxRetryBackoff: 200 * time.Millisecond, DialTimeout: time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	write := func(tag string) error {
		for i := range 30 {
			if err := cc.Set(ctx, fmt.Sprintf("k%d", i), tag, 0).Err(); err != nil {
				return fmt.Errorf("k%d: %w", i, err)
			}
		}
		return nil
	}
	if err := write("a"); err != nil {
		t.Fatalf("write through %s to A's cluster: %v", addr, err)
	}
	check := func(servers []*redisserver.Server, want string) {
		t.Helper()
		direct := redistest.ClusterClient(t, servers, "", "")
		for i := range 30 {
			if v, err := direct.Get(ctx, fmt.Sprintf("k%d", i)).Result(); err != nil || v != want {
				t.Fatalf("k%d on %s's cluster: %q %v, want %q", i, servers[0].Addr, v, err, want)
			}
		}
	}
	check(a, "a")

	// Region A is lost, and the record moves to B's configuration endpoint.
	for _, s := range a {
		s.Kill()
	}
	dns.CNAME(appName, nameB)
	start := time.Now()
	wait.For(t, 30*time.Second, "writes through the name reach B's cluster", func() bool { return write("b") == nil })
	t.Logf("every write reached B %s after region A was lost and the record moved", time.Since(start).Round(100*time.Millisecond))
	check(b, "b")
}

// A cluster has only db 0; a node the cluster names outside TLSNames is
// refused before anything is dialed.
func TestClusterClientRefusals(t *testing.T) {
	if _, err := NewCluster(Config{Addr: "redis.internal:6379", DB: 1}); err == nil || !strings.Contains(err.Error(), "a cluster has only db 0") {
		t.Fatalf("DB 1: %v", err)
	}
	cc, err := NewCluster(Config{Addr: "redis.internal:6379", TLSNames: []string{"*.usw2.cache.amazonaws.com"}})
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	dial := cc.Options().Dialer
	var ne *NameError
	if _, err := dial(context.Background(), "tcp", "node.attacker.example:6379"); !errors.As(err, &ne) || ne.Name != "node.attacker.example" {
		t.Fatalf("a node outside TLSNames: %v", err)
	}
	if _, err := dial(context.Background(), "tcp", "10.0.0.7:6379"); !errors.As(err, &ne) {
		t.Fatalf("a node named by address: %v", err)
	}
}

// The record moves while the old region's nodes still take writes (what a
// client sees between a promotion and the old primary's demotion): the
// client reads the topology through the name within ClusterReloadInterval
// and writes to the new region, where a go-redis ClusterClient seeded with
// the same name keeps asking the nodes it knows and stays behind.
func TestClusterClientFollowsAMovedRecord(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out the 10-s reload interval; make test runs it")
	}
	dns, a, b, addr := clusterBed(t)
	cc := newCluster(t, Config{Addr: addr, Resolver: dns.Resolver(), PlainText: true, MaxRetries: -1, DialTimeout: time.Second})
	d := &net.Dialer{Timeout: time.Second, Resolver: dns.Resolver()}
	plain := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{addr}, Protocol: 2, DisableIdentity: true, MaxRetries: -1,
		Dialer: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		}})
	t.Cleanup(func() { _ = plain.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, c := range []*redis.ClusterClient{cc, plain} {
		if err := c.Set(ctx, "k", "a", 0).Err(); err != nil {
			t.Fatalf("first write: %v", err)
		}
	}
	direct := func(servers []*redisserver.Server) *redis.ClusterClient {
		return redistest.ClusterClient(t, servers, "", "")
	}
	dns.CNAME(appName, nameB)
	moved := time.Now()
	wait.For(t, ClusterReloadInterval+10*time.Second, "the client's writes reach B's cluster", func() bool {
		if err := cc.Set(ctx, "k", "b", 0).Err(); err != nil {
			return false
		}
		v, _ := direct(b).Get(ctx, "k").Result()
		return v == "b"
	})
	t.Logf("writes reached B %s after the record moved", time.Since(moved).Round(100*time.Millisecond))
	if err := plain.Set(ctx, "plain", "x", 0).Err(); err != nil {
		t.Fatalf("plain client: %v", err)
	}
	if v, _ := direct(a).Get(ctx, "plain").Result(); v != "x" {
		t.Fatalf("the plain ClusterClient followed the name too (it wrote %q to A): the comparison shows nothing", v)
	}
}
