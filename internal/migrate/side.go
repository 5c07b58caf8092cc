package migrate

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"slices"
	"sort"
	"strconv"
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
	// DB is the database index the side reads and writes (0 on a cluster).
	DB int
	// NodeIDs are the node ids of every node of a cluster (CLUSTER NODES),
	// replicas included; empty for a standalone side.
	NodeIDs []string
}

// Shard is one master of a side.
type Shard struct {
	// Addr is the master's host:port, its identity in checkpoints.
	Addr string
	// RunID is the server's run_id (INFO server): what identifies the
	// server whatever address reaches it.
	RunID string
	// Client talks to this master only.
	Client *redis.Client
}

// Identity names the side by its servers rather than its address: the
// run id of a standalone server, or the cluster's node ids.
func (s *Side) Identity() string {
	if !s.Cluster {
		return "run id " + s.Shards[0].RunID
	}
	ids := make([]string, len(s.Shards))
	for i, sh := range s.Shards {
		ids[i] = shortID(sh.RunID)
	}
	return fmt.Sprintf("%d nodes, masters' run ids %s", len(s.NodeIDs), strings.Join(ids, ","))
}

func shortID(id string) string { return id[:min(len(id), 12)] }

// SameDeployment says why src and dst are one deployment reached under two
// addresses ("" when they are not): a server with the same run id and the
// same database, or a cluster node both sides list. A copy onto itself
// would replace and delete source keys; a follow would follow its own
// writes for ever.
func SameDeployment(src, dst *Side) string {
	for _, a := range src.NodeIDs {
		if slices.Contains(dst.NodeIDs, a) {
			return fmt.Sprintf("source %s and target %s are nodes of the same cluster (node id %s)", src.Addr, dst.Addr, a)
		}
	}
	for _, a := range src.Shards {
		for _, b := range dst.Shards {
			if a.RunID != "" && a.RunID == b.RunID && src.DB == dst.DB {
				return fmt.Sprintf("source %s and target %s are the same server (run id %s, db %d)", a.Addr, b.Addr, a.RunID, src.DB)
			}
		}
	}
	return ""
}

// shardFor returns the index in Shards of the master that owns key.
func (s *Side) shardFor(ctx context.Context, key string) (int, error) {
	cc, ok := s.Client.(*redis.ClusterClient)
	if !ok || len(s.Shards) == 1 {
		return 0, nil
	}
	m, err := cc.MasterForKey(ctx, key)
	if err != nil {
		return 0, err
	}
	for i, sh := range s.Shards {
		if sh.Addr == m.Options().Addr {
			return i, nil
		}
	}
	return 0, fmt.Errorf("%s: key %q is owned by %s, which is not among the masters found at start", s.Name, key, m.Options().Addr)
}

// Keyspace returns the number of keys of every non-empty database of a
// standalone side (INFO keyspace), or of db 0 summed over a cluster's
// masters.
func (s *Side) Keyspace(ctx context.Context) (map[int]int64, error) {
	out := map[int]int64{}
	for _, sh := range s.Shards {
		info, err := sh.Client.Info(ctx, "keyspace").Result()
		if err != nil {
			return nil, fmt.Errorf("%s %s: info keyspace: %w", s.Name, sh.Addr, err)
		}
		for _, l := range strings.Split(info, "\n") {
			name, rest, ok := strings.Cut(strings.TrimSpace(l), ":")
			db, err := strconv.Atoi(strings.TrimPrefix(name, "db"))
			if !ok || !strings.HasPrefix(name, "db") || err != nil {
				continue
			}
			keys, _, _ := strings.Cut(strings.TrimPrefix(rest, "keys="), ",")
			n, _ := strconv.ParseInt(keys, 10, 64)
			out[db] += n
		}
	}
	return out, nil
}

// Evictions returns evicted_keys (INFO stats) summed over the masters, and
// the first master's maxmemory-policy ("" when CONFIG is refused).
func (s *Side) Evictions(ctx context.Context) (evicted int64, policy string, err error) {
	for _, sh := range s.Shards {
		info, err := sh.Client.Info(ctx, "stats").Result()
		if err != nil {
			return 0, "", fmt.Errorf("%s %s: info stats: %w", s.Name, sh.Addr, err)
		}
		n, _ := strconv.ParseInt(infoField(info, "evicted_keys"), 10, 64)
		evicted += n
	}
	if cfg, err := s.Shards[0].Client.ConfigGet(ctx, "maxmemory-policy").Result(); err == nil {
		policy = cfg["maxmemory-policy"]
	}
	return evicted, policy, nil
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
	s.Cluster = clusterMode(info)
	s.DB = cfg.DB
	if !s.Cluster {
		s.Client = probe
		s.Shards = []Shard{{Addr: cfg.Addr, RunID: infoField(info, "run_id"), Client: probe}}
		return s, nil
	}
	nodes, err := probe.ClusterNodes(ctx).Result()
	_ = probe.Close()
	if err != nil {
		return nil, fmt.Errorf("%s %s: cluster nodes: %w", name, cfg.Redacted(), err)
	}
	for _, l := range strings.Split(nodes, "\n") {
		if id, _, ok := strings.Cut(strings.TrimSpace(l), " "); ok {
			s.NodeIDs = append(s.NodeIDs, id)
		}
	}
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
		info, err := c.Info(ctx, "server").Result()
		if err != nil {
			return fmt.Errorf("%s: info server: %w", c.Options().Addr, err)
		}
		mu.Lock()
		defer mu.Unlock()
		s.Shards = append(s.Shards, Shard{Addr: c.Options().Addr, RunID: infoField(info, "run_id"), Client: c})
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

// clusterMode reads INFO server's mode: redis_mode on Redis OSS and Valkey
// 7.2, server_mode on Valkey 8 and later (which sends redis_mode only with
// extended-redis-compatibility on).
func clusterMode(infoServer string) bool {
	return infoField(infoServer, "redis_mode") == "cluster" || infoField(infoServer, "server_mode") == "cluster"
}
