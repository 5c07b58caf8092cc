package redistest

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redisha/redisha/internal/sim/redisserver"
)

// StartCluster starts n cluster-mode masters (no replicas) with the given
// options, splits the 16384 slots evenly between them (CLUSTER ADDSLOTSRANGE),
// joins them (CLUSTER MEET) and waits until every node reports
// cluster_state:ok and knows every other. Every server stops at cleanup.
// o.Cluster is forced on; o.TLS, when set, also secures the cluster bus.
func StartCluster(t testing.TB, n int, o redisserver.Options) []*redisserver.Server {
	t.Helper()
	if n < 1 {
		t.Fatalf("StartCluster: n = %d, want at least 1", n)
	}
	o.Cluster = true
	ca := ""
	if o.TLS != nil {
		ca = o.TLS.CAFile
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	servers := make([]*redisserver.Server, n)
	admins := make([]*redis.Client, n)
	for i := range servers {
		servers[i] = Start(t, o)
		admins[i] = Admin(t, servers[i].Addr, o.Password, ca)
		lo, hi := i*16384/n, (i+1)*16384/n-1
		if err := admins[i].Do(ctx, "CLUSTER", "ADDSLOTSRANGE", lo, hi).Err(); err != nil {
			t.Fatalf("%s: cluster addslotsrange %d %d: %v", servers[i].Addr, lo, hi, err)
		}
	}
	for i := 1; i < n; i++ {
		if err := admins[0].Do(ctx, "CLUSTER", "MEET", "127.0.0.1", servers[i].Port, servers[i].BusPort).Err(); err != nil {
			t.Fatalf("%s: cluster meet %s: %v", servers[0].Addr, servers[i].Addr, err)
		}
	}
	for i, a := range admins {
		for {
			info, _ := a.Do(ctx, "CLUSTER", "INFO").Text()
			if strings.Contains(info, "cluster_state:ok") && strings.Contains(info, "cluster_known_nodes:"+strconv.Itoa(n)+"\r\n") {
				break
			}
			select {
			case <-ctx.Done():
				t.Fatalf("%s: cluster not ok with %d nodes after 30s: %s", servers[i].Addr, n, info)
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	return servers
}

// ClusterClient returns a cluster client seeded with the servers' addresses,
// closed at cleanup. password may be empty; tlsCA is the CA file for TLS.
func ClusterClient(t testing.TB, servers []*redisserver.Server, password, tlsCA string) *redis.ClusterClient {
	t.Helper()
	addrs := make([]string, len(servers))
	for i, s := range servers {
		addrs[i] = s.Addr
	}
	o := &redis.ClusterOptions{Addrs: addrs, Password: password, Protocol: 2, DisableIdentity: true,
		DialTimeout: 2 * time.Second, ReadTimeout: 5 * time.Second}
	if tlsCA != "" {
		o.TLSConfig = ClientTLS(t, tlsCA, "localhost")
	}
	c := redis.NewClusterClient(o)
	t.Cleanup(func() { _ = c.Close() })
	return c
}
