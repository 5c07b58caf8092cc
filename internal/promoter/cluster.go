package promoter

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redisha/redisha/internal/check"
	"github.com/redisha/redisha/internal/redisconn"
)

// ClusterEndpoint is the local replication group when it may run in
// cluster mode: each shard holds a heartbeat of its own (the checker writes
// <prefix>heartbeat:{tag} into every shard, the tag hashing to the shard),
// and replication carries each shard on its own. The evidence is the
// worst shard's: a shard whose heartbeat stalled is a stalled datastore,
// and the data-loss bound is the stalest shard's. A group that is not a
// cluster is read as RedisEndpoint reads it.
type ClusterEndpoint struct {
	// Seed is the configured endpoint (a configuration endpoint, or any
	// node); its Prefix and Key serve every shard.
	Seed RedisEndpoint
	// SeedAddr is Seed's host:port, the address a node named without one
	// stands for (check.DiscoverShards).
	SeedAddr string
	// TLS says whether the nodes are reached over TLS (a node's TLS port
	// is the one CLUSTER SHARDS names then).
	TLS bool
	// Mode is on (a cluster), off (one node) or auto (INFO cluster says;
	// the default).
	Mode check.ClusterMode
	// Node returns a client of the node at addr, with the seed's settings.
	Node func(addr string) (*redis.Client, error)

	mu    sync.Mutex
	nodes map[string]*redis.Client
}

var _ Endpoint = (*ClusterEndpoint)(nil)

// Heartbeat reads every shard's heartbeat in parallel on the node that
// serves the shard, and returns the worst: an error when a shard's cannot
// be read (naming the shard), absent when a shard has none, else the
// oldest (the lowest sequence: one check writes one sequence to every
// shard). Its Link is the liveliest shard's: one shard still streaming
// from the primary proves the primary region alive, and that vetoes.
func (e *ClusterEndpoint) Heartbeat(ctx context.Context) Heartbeat {
	shards, single, err := e.shards(ctx)
	switch {
	case single:
		return e.Seed.Heartbeat(ctx) // reports the seed's error, if any
	case err != nil:
		return Heartbeat{Err: err.Error()}
	}
	key, hb := e.Seed.signingKey(ctx)
	if hb.Err != "" {
		return hb
	}
	got := make([]Heartbeat, len(shards))
	errs := e.eachShard(shards, func(i int, s check.Shard, c *redis.Client) error {
		got[i] = readHeartbeat(ctx, c, s.HeartbeatKey(e.Seed.prefix()), key)
		return nil
	})
	for i, err := range errs {
		if err != nil {
			got[i] = Heartbeat{Err: err.Error()}
		}
	}
	return worstShard(shards, got)
}

// shards are the group's shards when it runs in cluster mode; single is
// true when it does not, or when the seed did not answer (the one-node
// read then reports that).
func (e *ClusterEndpoint) shards(ctx context.Context) (shards []check.Shard, single bool, err error) {
	if cluster, err := e.IsCluster(ctx); err != nil || !cluster {
		return nil, true, nil
	}
	shards, err = check.DiscoverShards(ctx, e.Seed.Client, e.TLS, e.SeedAddr)
	if err != nil {
		return nil, false, fmt.Errorf("discover the shards (CLUSTER SHARDS, CLUSTER SLOTS) at %s: %w", e.SeedAddr, err)
	}
	if len(shards) == 0 {
		return nil, false, fmt.Errorf("the cluster at %s names no shard", e.SeedAddr)
	}
	return shards, false, nil
}

// eachShard runs do on every shard at once, with the client of the node
// that serves it, and returns each shard's error: do's, or why its node
// cannot be reached.
func (e *ClusterEndpoint) eachShard(shards []check.Shard, do func(i int, s check.Shard, c *redis.Client) error) []error {
	errs := make([]error, len(shards))
	var wg sync.WaitGroup
	for i, s := range shards {
		wg.Go(func() {
			if s.Primary == "" {
				errs[i] = errors.New("no node serves the slots")
				return
			}
			c, err := e.node(s.Primary)
			if err == nil {
				err = do(i, s, c)
			}
			errs[i] = err
		})
	}
	wg.Wait()
	return errs
}

// worstShard combines the shards' heartbeats as Heartbeat says.
func worstShard(shards []check.Shard, got []Heartbeat) Heartbeat {
	var worst Heartbeat
	var link Link
	for i, hb := range got {
		name := "shard " + shards[i].SlotsString()
		if shards[i].Primary != "" {
			name += " (" + shards[i].Primary + ")"
		}
		if hb.Err != "" {
			return Heartbeat{Err: name + ": " + hb.Err}
		}
		link = livelier(link, hb.Link)
		switch {
		case !hb.Present:
			if worst.Err == "" {
				worst = Heartbeat{Err: name} // remembered as the absent shard
			}
		case worst.Err != "":
		case !worst.Present || older(hb.Value, worst.Value):
			worst = hb
		}
	}
	if worst.Err != "" {
		// A shard without a heartbeat: the datastore has none to go by,
		// as a single node whose key is gone (never written, or expired).
		return Heartbeat{Link: link}
	}
	worst.Link = link
	return worst
}

// older says whether a was written before b: by sequence when both came
// from one writer, else by time.
func older(a, b check.Heartbeat) bool {
	if a.Region == b.Region && a.Seq != b.Seq {
		return a.Seq < b.Seq
	}
	return a.Written.Before(b.Written)
}

// livelier is the link that better proves the primary alive: a known, up
// link with the most recent I/O.
func livelier(a, b Link) Link {
	alive := func(l Link) bool { return l.Known && l.Up }
	switch {
	case alive(a) && alive(b):
		if b.LastIO < a.LastIO {
			return b
		}
		return a
	case alive(b):
		return b
	case alive(a):
		return a
	case !a.Known:
		return b
	}
	return a
}

// Write makes one real write on every shard (a key tagged to the shard):
// a promoted cluster takes writes on all of them, or it is not promoted.
func (e *ClusterEndpoint) Write(ctx context.Context) error {
	if cluster, err := e.IsCluster(ctx); err != nil || !cluster {
		return e.Seed.Write(ctx)
	}
	now := strconv.FormatInt(time.Now().UnixMilli(), 10)
	return e.EachShard(ctx, func(tag string, c *redis.Client) error {
		return c.Set(ctx, e.Seed.prefix()+"promoter:write:{"+tag+"}", now, time.Minute).Err()
	})
}

// EachShard runs do on every shard at once, on the client of the node that
// serves it, with the shard's hash tag (a key with {tag} in it lives on the
// shard); on one node, once on the seed with tag "". Each shard's error
// names the shard.
func (e *ClusterEndpoint) EachShard(ctx context.Context, do func(tag string, c *redis.Client) error) error {
	shards, single, err := e.shards(ctx)
	switch {
	case single:
		return do("", e.Seed.Client)
	case err != nil:
		return err
	}
	errs := e.eachShard(shards, func(_ int, s check.Shard, c *redis.Client) error { return do(s.Tag(), c) })
	for i, err := range errs {
		if err != nil {
			errs[i] = fmt.Errorf("shard %s (%s): %w", shards[i].SlotsString(), shards[i].Primary, err)
		}
	}
	return errors.Join(errs...)
}

// IsCluster says whether the group runs in cluster mode: Mode, or in auto
// INFO cluster on the seed. An error means the seed did not answer; a
// server that refuses INFO (an ACL without +info) is one node.
func (e *ClusterEndpoint) IsCluster(ctx context.Context) (bool, error) {
	switch e.Mode {
	case check.ClusterOn:
		return true, nil
	case check.ClusterOff:
		return false, nil
	}
	pipe := e.Seed.Client.Pipeline()
	info := pipe.Info(ctx, "cluster")
	_, _ = pipe.Exec(ctx)
	if err := info.Err(); err != nil {
		if redisconn.ServerReply(err) {
			return false, nil
		}
		return false, err
	}
	return check.ClusterEnabled(info.Val()), nil
}

// node returns the client of a shard's node, built on first use.
func (e *ClusterEndpoint) node(addr string) (*redis.Client, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if c, ok := e.nodes[addr]; ok {
		return c, nil
	}
	if e.Node == nil {
		return nil, fmt.Errorf("node %s: no way to reach the nodes (ClusterEndpoint.Node is nil)", addr)
	}
	c, err := e.Node(addr)
	if err != nil {
		return nil, fmt.Errorf("node %s: %w", addr, err)
	}
	if e.nodes == nil {
		e.nodes = map[string]*redis.Client{}
	}
	e.nodes[addr] = c
	return c, nil
}

// Close closes the nodes' clients (not the seed's: its owner closes it).
func (e *ClusterEndpoint) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	var errs []error
	for _, c := range e.nodes {
		errs = append(errs, c.Close())
	}
	e.nodes = nil
	return errors.Join(errs...)
}
