package client

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// ClusterReloadInterval is how often a NewCluster client reads the topology
// through the name when nothing failed (go-redis's default is a minute).
const ClusterReloadInterval = 10 * time.Second

// NewCluster returns a go-redis cluster client for a cluster-mode datastore
// behind c.Addr (the name that follows the writer region's configuration
// endpoint, e.g. redis.internal:6379).
//
// Its topology is always read through the name: at start, on every reload
// go-redis makes (a MOVED, a READONLY from a demoted primary, every
// ClusterReloadInterval) and after a command fails to reach its node, CLUSTER
// SLOTS is asked of whichever configuration endpoint the name points to then,
// dialed as New
// dials (the CNAME chain resolved again, its end name checked against
// TLSNames and verified in the certificate). So after a failover the client
// moves to the promoted region's shards: a plain ClusterClient seeded with the
// name would keep asking the old region's nodes, which still answer, as
// replicas. Each node is then reached at the address the cluster names, its
// certificate verified for that name, which TLSNames must allow too.
//
// DB must be 0 (a cluster has no other). AllowReplica and RecheckInterval
// do not apply: the cluster routes every command to its shard's primary.
func NewCluster(c Config) (*redis.ClusterClient, error) {
	if c.DB != 0 {
		return nil, fmt.Errorf("client: DB %d: a cluster has only db 0: drop DB", c.DB)
	}
	// The seed: the configuration endpoint behind the name, any node of
	// it (replicas included), asked once per reload and closed.
	seedCfg := c
	seedCfg.AllowReplica, seedCfg.RecheckInterval, seedCfg.MaxRetries, seedCfg.PoolSize = true, -1, -1, 1
	seed, _, err := seedCfg.build()
	if err != nil {
		return nil, err
	}
	// The nodes: dialed at the address the cluster names, with New's
	// settings and names allowed.
	base, f, err := c.build()
	if err != nil {
		return nil, err
	}
	d := &net.Dialer{Timeout: base.DialTimeout, Resolver: c.Resolver}
	host, _, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return nil, fmt.Errorf("client: Addr %q: %w", c.Addr, err)
	}
	o := &redis.ClusterOptions{
		Addrs: []string{c.Addr},
		ClusterSlots: func(ctx context.Context) ([]redis.ClusterSlot, error) {
			so := *seed
			rc := redis.NewClient(&so)
			defer rc.Close()
			slots, err := rc.ClusterSlots(ctx).Result()
			if err != nil {
				return nil, fmt.Errorf("client: CLUSTER SLOTS through %s: %w", c.Addr, err)
			}
			// go-redis's own rule for a node named by a loopback address
			// (a cluster in containers, or on one machine): reach it at
			// the host that was asked, here the name, on the node's port.
			// It would otherwise drop the host (a callback has no origin).
			for i := range slots {
				for j, n := range slots[i].Nodes {
					if h, p, err := net.SplitHostPort(n.Addr); err == nil {
						if ip := net.ParseIP(h); ip != nil && ip.IsLoopback() {
							slots[i].Nodes[j].Addr = net.JoinHostPort(host, p)
						}
					}
				}
			}
			return slots, nil
		},
		Dialer: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		},
		Username: c.Username, Password: c.Password, CredentialsProviderContext: c.Credentials,
		Protocol: 2, DialTimeout: base.DialTimeout, ReadTimeout: base.ReadTimeout, WriteTimeout: base.WriteTimeout,
		ContextTimeoutEnabled: true, PoolSize: c.PoolSize,
		ConnMaxLifetime: base.ConnMaxLifetime, ConnMaxLifetimeJitter: base.ConnMaxLifetimeJitter,
		MaxRetries: base.MaxRetries, MinRetryBackoff: base.MinRetryBackoff, MaxRetryBackoff: base.MaxRetryBackoff,
		// One dial per attempt, as New's: the command retries are the one
		// backoff policy, and a failed dial reloads the topology (below).
		DialerRetries:            1,
		DisableIdentity:          true,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
		// Read the topology through the name this often even without an
		// error: a record that moved while the old nodes still take
		// writes is followed within it.
		ClusterStateReloadInterval: ClusterReloadInterval,
	}
	if !c.PlainText {
		o.TLSConfig = f.tls
		// go-redis dials TLS itself with TLSConfig when Dialer is unset;
		// with a Dialer of ours, the handshake is ours too. A node name
		// TLSNames does not allow is refused before anything is sent: a
		// cluster that names nodes elsewhere does not receive the token.
		o.Dialer = func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, _, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			if f.allowed != nil && !nameAllowed(f.allowed, canonical(host)) {
				return nil, &NameError{Host: c.Addr + " (a cluster node)", Name: host, Allowed: f.allowed}
			}
			raw, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			tc := o.TLSConfig.Clone()
			tc.ServerName = host
			conn := tls.Client(raw, tc)
			if err := conn.HandshakeContext(ctx); err != nil {
				_ = raw.Close()
				return nil, err
			}
			return conn, nil
		}
	}
	cc := redis.NewClusterClient(o)
	cc.AddHook(reloadOnConnFailure{cc})
	return cc, nil
}

// reloadOnConnFailure reads the topology again (through the name) when a
// command fails to reach its node: go-redis reloads on MOVED and READONLY,
// but after a connection failure it only tries another known node, and the
// nodes of a lost region are all gone. The reload is go-redis's lazy one:
// at most one at a time, whatever the number of failing commands.
type reloadOnConnFailure struct{ cc *redis.ClusterClient }

func (h reloadOnConnFailure) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h reloadOnConnFailure) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		h.after(ctx, err)
		return err
	}
}

func (h reloadOnConnFailure) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		h.after(ctx, err)
		return err
	}
}

func (h reloadOnConnFailure) after(ctx context.Context, err error) {
	var ne net.Error
	if err != nil && (errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)) {
		h.cc.ReloadState(ctx)
	}
}
