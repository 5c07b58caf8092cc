package migrate

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/redisha/redisha/internal/redisconn"
)

// Side is one end of a migration: a standalone server or a cluster.
type Side struct {
	// Name is "source" or "target", used in messages.
	Name string
	// Addr is the address the side was opened with.
	Addr string
	// Version is INFO server redis_version (of the first node).
	Version string
	// Cluster is true when the side runs in cluster mode.
	Cluster bool
	// Client routes each key to the node that owns it.
	Client redis.UniversalClient
	// Shards are the masters, sorted by address; one for a standalone side.
	Shards []Shard
}

// Shard is one master of a side.
type Shard struct {
	// Addr is the master's host:port, its identity in checkpoints.
	Addr string
	// Client talks to this master only.
	Client *redis.Client
}

// SideOptions tune the connections of a side.
type SideOptions struct {
	// PoolSize is the number of connections per node. default: 16
	PoolSize int
	// IOTimeout bounds each read and write; large pipelines need more than
	// a health check does. default: 30 seconds
	IOTimeout time.Duration
}

// Open connects to the endpoint, detects cluster mode and the server
// version, and for a cluster finds every master.
func Open(ctx context.Context, name string, cfg redisconn.Config, so SideOptions) (*Side, error) {
	if so.PoolSize <= 0 {
		so.PoolSize = 16
	}
	if so.IOTimeout <= 0 {
		so.IOTimeout = 30 * time.Second
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 5 * time.Second
	}
	cfg.IOTimeout = so.IOTimeout
	cfg.PoolSize = so.PoolSize
	o, err := cfg.Options()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	tc, err := cfg.TLSConfig()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	o.Dialer = dialer(cfg, tc)
	// Copying is idempotent (RESTORE REPLACE), so a lost connection may be
	// retried; the caller's deadline still bounds every attempt.
	o.MaxRetries = 2
	o.DialerRetries = 2
	s := &Side{Name: name, Addr: cfg.Addr}
	probe := redis.NewClient(o)
	info, err := probe.Info(ctx, "server").Result()
	if err != nil {
		_ = probe.Close()
		return nil, fmt.Errorf("%s %s: info server: %w", name, cfg.Redacted(), err)
	}
	s.Version = infoField(info, "redis_version")
	s.Cluster = infoField(info, "redis_mode") == "cluster"
	if !s.Cluster {
		s.Client = probe
		s.Shards = []Shard{{Addr: cfg.Addr, Client: probe}}
		return s, nil
	}
	_ = probe.Close()
	if cfg.DB != 0 {
		return nil, fmt.Errorf("%s: db %d given but %s is a cluster, which has only db 0: drop the db setting", name, cfg.DB, cfg.Addr)
	}
	cc := redis.NewClusterClient(&redis.ClusterOptions{
		Addrs: []string{cfg.Addr}, Username: o.Username, Password: o.Password,
		CredentialsProviderContext: o.CredentialsProviderContext,
		Protocol:                   2, DisableIdentity: true, Dialer: o.Dialer,
		DialTimeout: o.DialTimeout, ReadTimeout: o.ReadTimeout, WriteTimeout: o.WriteTimeout,
		ContextTimeoutEnabled: true, PoolSize: o.PoolSize, PoolTimeout: o.PoolTimeout,
		MaxRetries: 2, DialerRetries: 2,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	})
	var mu sync.Mutex
	err = cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
		mu.Lock()
		defer mu.Unlock()
		s.Shards = append(s.Shards, Shard{Addr: c.Options().Addr, Client: c})
		return nil
	})
	if err != nil {
		_ = cc.Close()
		return nil, fmt.Errorf("%s %s: list masters: %w", name, cfg.Redacted(), err)
	}
	sort.Slice(s.Shards, func(i, j int) bool { return s.Shards[i].Addr < s.Shards[j].Addr })
	s.Client = cc
	return s, nil
}

// Close closes every connection of the side.
func (s *Side) Close() error { return s.Client.Close() }

// DBSize is the number of keys on the side (summed over masters).
func (s *Side) DBSize(ctx context.Context) (int64, error) {
	var n int64
	for _, sh := range s.Shards {
		v, err := sh.Client.DBSize(ctx).Result()
		if err != nil {
			return 0, fmt.Errorf("%s %s: dbsize: %w", s.Name, sh.Addr, err)
		}
		n += v
	}
	return n, nil
}

// dialer dials TCP and then TLS within the caller's deadline. Cluster nodes
// are verified under their own host name unless a server name is forced.
func dialer(cfg redisconn.Config, tc *tls.Config) func(ctx context.Context, network, addr string) (net.Conn, error) {
	nd := &net.Dialer{Timeout: cfg.DialTimeout}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := nd.DialContext(ctx, network, addr)
		if err != nil || tc == nil {
			return conn, err
		}
		c := tc
		if cfg.TLSServerName == "" {
			c = tc.Clone()
			c.ServerName, _, _ = net.SplitHostPort(addr)
		}
		t := tls.Client(conn, c)
		if err := t.HandshakeContext(ctx); err != nil {
			_ = conn.Close()
			return nil, err
		}
		return t, nil
	}
}

// infoField returns the value of name in INFO text, or "".
func infoField(info, name string) string {
	for _, l := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), name+":"); ok {
			return v
		}
	}
	return ""
}
