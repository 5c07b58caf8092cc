package probe

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redisha/redisha/internal/check"
	"github.com/redisha/redisha/internal/redisconn"
)

// clusterRun probes every shard of a cluster-mode endpoint: a write series
// (the cluster check, every shard's primary in parallel, each with keys of
// its own slot) and a read series (a GET of each shard's read probe key
// from the node serving it), each recorded per shard. A shard is named by
// its slots when the run began and probed through the keys of its first
// slot wherever they move: a failover or a resharding shows as a change of
// the shard's primary, never as a shard that vanished.
type clusterRun struct {
	cfg     Config
	rec     *recorder
	checker *check.ClusterChecker
	shards  []*probeShard

	mu    sync.Mutex
	nodes map[string]*redisconn.Client // read connections, by node address
	topo  []check.Shard                // the shards as learnt at start
}

// probeShard is one shard's series and read probe key.
type probeShard struct {
	run  *clusterRun
	name string // its slots at start, e.g. 0-5460
	slot int    // its first slot at start: the slot of its keys
	key  *readKey
	// primary is the node the last write round found serving slot (the
	// write series' goroutine only).
	primary string
}

// ErrNotCluster is returned by Prepare with check.ClusterOn when the
// endpoint answers as one node (cluster_enabled:0).
var ErrNotCluster = errors.New("the endpoint is not a cluster (cluster_enabled:0)")

// Prepare learns what the endpoint is before the run: with ClusterAuto,
// whether it is a cluster (INFO cluster); on a cluster, its shards, which
// name the series. It is called by Run when not called before. An error
// means the probe runs as one node: with ClusterAuto the endpoint did not
// answer (say so; with ClusterOn it is worth stopping for), with ClusterOn
// its shards could not be learnt.
func (p *Probe) Prepare(ctx context.Context) error {
	if p.prepared {
		return p.prepareErr
	}
	p.prepared = true
	p.prepareErr = p.prepare(ctx)
	return p.prepareErr
}

func (p *Probe) prepare(ctx context.Context) error {
	if p.cfg.Cluster == check.ClusterOff {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	c, _, err := p.w.conn.Get()
	if err != nil {
		return fmt.Errorf("%s: %w", p.cfg.Conn.Addr, err)
	}
	// Pipelines, not plain commands: go-redis dials a second connection for
	// the first pipeline after a plain command on a new client.
	pipe := c.Pipeline()
	info := pipe.Info(ctx, "cluster")
	_, _ = pipe.Exec(ctx)
	text, err := info.Result()
	switch {
	case err != nil && !redisconn.ServerReply(err):
		p.w.conn.Drop(c)
		return fmt.Errorf("%s: INFO cluster: %w", p.cfg.Conn.Addr, err)
	case err != nil && p.cfg.Cluster == check.ClusterAuto:
		return nil // INFO refused (an ACL): one node, as the checker decides
	case err == nil && !check.ClusterEnabled(text):
		if p.cfg.Cluster == check.ClusterOn {
			return fmt.Errorf("%s: %w", p.cfg.Conn.Addr, ErrNotCluster)
		}
		return nil
	}
	if p.cfg.Conn.DB != 0 {
		return fmt.Errorf("%s is a cluster, which has only db 0: drop the db %d setting", p.cfg.Conn.Addr, p.cfg.Conn.DB)
	}
	shards, err := check.DiscoverShards(ctx, c, p.cfg.Conn.TLS, p.cfg.Conn.Addr)
	if err != nil {
		return fmt.Errorf("%s: learn the shards: %w", p.cfg.Conn.Addr, err)
	}
	if len(shards) == 0 {
		return fmt.Errorf("%s: the cluster serves no slots", p.cfg.Conn.Addr)
	}
	cl, err := newClusterRun(p.cfg, p.rec, shards)
	if err != nil {
		return err
	}
	p.cl = cl
	return nil
}

func newClusterRun(cfg Config, rec *recorder, shards []check.Shard) (*clusterRun, error) {
	conn := cfg.Conn
	conn.DialTimeout, conn.IOTimeout = cfg.Timeout, cfg.Timeout
	k, err := check.NewCluster(conn, check.Options{Prefix: cfg.Prefix, KeyTTL: cfg.KeyTTL,
		ExpectRole: check.Primary, Timeout: cfg.Timeout}, check.ClusterOn)
	if err != nil {
		return nil, err
	}
	r := &clusterRun{cfg: cfg, rec: rec, checker: k, nodes: map[string]*redisconn.Client{}, topo: shards}
	id := randomHex()
	var named []ShardSummary
	for _, s := range shards {
		slot := s.Slots[0].Start
		tag := check.SlotTag(slot)
		ps := &probeShard{run: r, name: s.SlotsString(), slot: slot, primary: s.Primary,
			key: &readKey{name: cfg.Prefix + "probe:{" + tag + "}" + id, ttl: readKeyTTL(cfg)}}
		r.shards = append(r.shards, ps)
		named = append(named, ShardSummary{Shard: ps.name, Tag: tag})
	}
	rec.setShards(named)
	return r, nil
}

// Shards names the shards a cluster run probes (their slots when the run
// began), in slot order; nil on one node or before Prepare.
func (p *Probe) Shards() []string {
	if p.cl == nil {
		return nil
	}
	names := make([]string, len(p.cl.shards))
	for i, s := range p.cl.shards {
		names[i] = s.name
	}
	return names
}

func (r *clusterRun) close() {
	_ = r.checker.Close()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.nodes {
		_ = c.Close()
	}
}

// write is one round of the write series: the cluster check, recorded for
// each shard by the result of the node serving the shard's slot.
func (r *clusterRun) write(ctx context.Context) outcome {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.Timeout)
	defer cancel()
	res := r.checker.Check(cctx)
	o := outcome{ok: true, took: res.Latency}
	for _, sh := range r.shards {
		ok, reason, errText, node := sh.verdict(res)
		r.rec.recordShard(Write, sh.name, res.Start, res.Latency, ok, reason, errText, hostOf(node))
		if node != "" && node != sh.primary {
			if sh.primary != "" {
				r.rec.primaryChanged(sh.name, sh.primary, node)
			}
			sh.primary = node
		}
		if ok {
			sh.key.renew(ctx, sh)
		} else if o.ok {
			o.ok, o.reason, o.dials = false, paceReason(reason), 1
		}
	}
	r.rec.round(Write, !o.ok)
	return o
}

// paceReason is the reason the pacer backs off by: a redirection left in a
// cluster check's result (CLUSTERDOWN, a slot without a node) heals with
// the cluster's own failover, in seconds, so it is retried as quickly as a
// refused connection, not as a wrong password.
func paceReason(r check.Reason) check.Reason {
	if r == check.ReasonCluster {
		return check.ReasonUnknown
	}
	return r
}

// verdict is what the cluster check says of the shard's keys: the result
// of the shard that serves its slot now, a redial counted as the failure
// it was for an application.
func (sh *probeShard) verdict(res check.Result) (ok bool, reason check.Reason, errText, node string) {
	if res.Shards == nil { // the shards could not be learnt
		return false, res.Reason, res.Error, ""
	}
	for _, sr := range res.Shards {
		if !sr.Owns(sh.slot) {
			continue
		}
		if sr.Healthy && sr.Redialed {
			return false, sr.RedialReason, "the connection failed (" + string(sr.RedialReason) +
				"); the check's redial on a new connection succeeded", sr.Node
		}
		return sr.Healthy, sr.Reason, sr.Error, sr.Node
	}
	return false, check.ReasonCluster, fmt.Sprintf("no shard serves slot %d", sh.slot), ""
}

// read is one round of the read series: every shard's key read at once,
// each from the node serving its slot.
func (r *clusterRun) read(ctx context.Context) outcome {
	type got struct {
		start time.Time
		lat   time.Duration
		node  string
		err   error
	}
	out := make([]got, len(r.shards))
	var wg sync.WaitGroup
	for i, sh := range r.shards {
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.Timeout)
			defer cancel()
			g := got{start: time.Now()}
			var get *redis.StringCmd
			g.node, g.err = r.onSlot(cctx, sh.slot, func(ctx context.Context, p redis.Pipeliner) redis.Cmder {
				get = p.Get(ctx, sh.key.name)
				return get
			})
			g.lat = time.Since(g.start)
			out[i] = g
		})
	}
	wg.Wait()
	o := outcome{ok: true}
	for i, sh := range r.shards {
		g := out[i]
		o.took = max(o.took, g.lat)
		ok := g.err == nil || errors.Is(g.err, redis.Nil)
		var reason check.Reason
		var errText string
		if !ok {
			reason, errText = check.Classify(g.err), g.err.Error()
			if o.ok {
				o.ok, o.reason, o.dials = false, paceReason(reason), 1
			}
		}
		r.rec.recordShard(Read, sh.name, g.start, g.lat, ok, reason, errText, hostOf(g.node))
		switch {
		case g.err == nil:
			sh.key.found()
		case errors.Is(g.err, redis.Nil):
			sh.key.missing(ctx, sh, g.start.Add(g.lat))
		}
	}
	r.rec.round(Read, !o.ok)
	return o
}

// onSlot runs cmd on the node serving slot, as a cluster client does: at
// the primary the last check found, following one MOVED or ASK. It returns
// the node that answered. A connection that failed is dropped (the next
// call dials again).
func (r *clusterRun) onSlot(ctx context.Context, slot int, cmd func(context.Context, redis.Pipeliner) redis.Cmder) (string, error) {
	addr, asking := r.primaryOf(slot), false
	for hop := 0; ; hop++ {
		if addr == "" {
			return "", fmt.Errorf("CLUSTERDOWN no node serves slot %d", slot)
		}
		nc, err := r.node(addr)
		if err != nil {
			return addr, err
		}
		c, _, err := nc.Get()
		if err != nil {
			return addr, err
		}
		pipe := c.Pipeline()
		if asking {
			pipe.Do(ctx, "ASKING")
		}
		res := cmd(ctx, pipe)
		_, _ = pipe.Exec(ctx)
		err = res.Err()
		if to, ask, ok := redirection(err, addr); ok && hop == 0 {
			addr, asking = to, ask
			continue
		}
		if err != nil && !errors.Is(err, redis.Nil) && costsConnection(check.Classify(err)) {
			nc.Drop(c)
		}
		return addr, err
	}
}

// redirection reads a MOVED or ASK reply: the node to ask (a reply that
// names no host means the host of from) and whether it was ASK.
func redirection(err error, from string) (to string, ask, ok bool) {
	if err == nil {
		return "", false, false
	}
	f := strings.Fields(err.Error())
	if len(f) != 3 || (f[0] != "MOVED" && f[0] != "ASK") {
		return "", false, false
	}
	host, port, serr := net.SplitHostPort(f[2])
	if serr != nil {
		return "", false, false
	}
	if _, perr := strconv.Atoi(port); perr != nil {
		return "", false, false
	}
	if host == "" {
		host, _, _ = net.SplitHostPort(from)
	}
	return net.JoinHostPort(host, port), f[0] == "ASK", true
}

// primaryOf is the node serving slot as the write series last learnt it,
// or as learnt at start.
func (r *clusterRun) primaryOf(slot int) string {
	topo := r.checker.Shards()
	if topo == nil {
		topo = r.topo
	}
	for _, s := range topo {
		if s.Owns(slot) {
			return s.Primary
		}
	}
	return ""
}

// node is the read connection to the node at addr.
func (r *clusterRun) node(addr string) (*redisconn.Client, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c, ok := r.nodes[addr]; ok {
		return c, nil
	}
	conn := check.NodeConfig(r.cfg.Conn, addr)
	conn.DialTimeout, conn.IOTimeout = r.cfg.Timeout, r.cfg.Timeout
	c, err := redisconn.NewClient(conn)
	if err != nil {
		return nil, fmt.Errorf("node %s: %w", addr, err)
	}
	r.nodes[addr] = c
	return c, nil
}

// deleteKeys removes every shard's read probe key at the end, on a fresh
// deadline (the run's context may already be cancelled).
func (r *clusterRun) deleteKeys() {
	var wg sync.WaitGroup
	for _, sh := range r.shards {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 2*r.cfg.Timeout)
			defer cancel()
			for range 2 {
				if _, err := r.onSlot(ctx, sh.slot, func(ctx context.Context, p redis.Pipeliner) redis.Cmder {
					return p.Del(ctx, sh.key.name)
				}); err == nil {
					return
				}
			}
		})
	}
	wg.Wait()
}

// setKey, note, lost and config make a shard the keyStore of its key.
func (sh *probeShard) setKey(ctx context.Context, k *readKey) error {
	_, err := sh.run.onSlot(ctx, sh.slot, func(ctx context.Context, p redis.Pipeliner) redis.Cmder {
		return p.Set(ctx, k.name, "redisha probe", k.ttl)
	})
	return err
}

func (sh *probeShard) note(e Event) {
	e.Series, e.Shard = Write, sh.name
	sh.run.rec.event(e)
}

func (sh *probeShard) lost(since, written time.Time) { sh.run.rec.lost(sh.name, since, written) }

func (sh *probeShard) config() Config { return sh.run.cfg }

// hostOf is the host of host:port (as the one-node series record the IP).
func hostOf(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}
