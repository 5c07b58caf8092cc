package check

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redisha/redisha/internal/redisconn"
)

// ClusterMode says whether an endpoint is one node or a cluster-mode-enabled
// replication group whose every shard is checked.
type ClusterMode string

// Cluster modes.
const (
	// ClusterAuto asks the endpoint once per connection (INFO cluster,
	// cluster_enabled) and checks it as what it is. A server that refuses
	// INFO (an ACL without +info) is checked as one node.
	ClusterAuto ClusterMode = "auto"
	// ClusterOn checks the endpoint as a cluster: a configuration endpoint,
	// or any node of the cluster.
	ClusterOn ClusterMode = "on"
	// ClusterOff checks the endpoint as one node, exactly as Checker does.
	ClusterOff ClusterMode = "off"
)

// ParseClusterMode reads a cluster mode; empty means ClusterAuto.
func ParseClusterMode(s string) (ClusterMode, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "auto":
		return ClusterAuto, nil
	case "on", "true", "yes":
		return ClusterOn, nil
	case "off", "false", "no":
		return ClusterOff, nil
	}
	return "", fmt.Errorf("cluster mode %q is unknown: use auto, on or off", s)
}

// StepTopology is the step of a cluster check that failed when the shards
// could not be learnt (CLUSTER SHARDS and CLUSTER SLOTS).
const StepTopology Step = "topology"

// DefaultTopologyMaxAge is how long a cluster check trusts the shards it
// learnt before asking again: a shard added by scaling out is checked at
// the latest this long after it took slots. A check that meets a
// redirection, a dropped node or a role change asks at once.
const DefaultTopologyMaxAge = time.Minute

// SlotRange is a range of hash slots, both ends included.
type SlotRange struct {
	Start, End int
}

// Shard is one shard of a cluster as a check found it: its slots and the
// node serving them as primary.
type Shard struct {
	// Slots are the shard's slot ranges, in order.
	Slots []SlotRange
	// Primary is host:port of the node serving the slots; empty when no
	// node serves them (the slots are uncovered).
	Primary string
	// PrimaryID is the primary's cluster node id, when known.
	PrimaryID string
}

// SlotsString writes the ranges as CLUSTER SHARDS does: 0-5460,10923-16383.
func (s Shard) SlotsString() string {
	var b strings.Builder
	for i, r := range s.Slots {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(r.Start))
		if r.End != r.Start {
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(r.End))
		}
	}
	return b.String()
}

// Owns reports whether slot is one of the shard's.
func (s Shard) Owns(slot int) bool {
	for _, r := range s.Slots {
		if slot >= r.Start && slot <= r.End {
			return true
		}
	}
	return false
}

// tagSlot is the slot a check of the shard writes to: its first slot, so
// that both regions of a Global Datastore (which share the slot layout)
// name the shard's heartbeat alike; alt picks its last slot instead, for a
// retry while the first one is being migrated away.
func (s Shard) tagSlot(alt bool) int {
	if alt {
		return s.Slots[len(s.Slots)-1].End
	}
	return s.Slots[0].Start
}

// HeartbeatKey is the key of the shard's heartbeat under prefix:
// <prefix>heartbeat:{tag}, the tag hashing to the shard's first slot. The
// checker of a primary writes it on every check; a replica's checker (and
// anything that reads a shard's heartbeat, such as the promoter's evidence)
// reads it there. Both regions of a Global Datastore share the slot layout,
// so they name it alike.
func (s Shard) HeartbeatKey(prefix string) string {
	return Options{Prefix: prefix, tag: s.Tag()}.HeartbeatKey()
}

// Tag is the hash tag (without braces) of the shard's first slot, the one
// its heartbeat key carries; empty for a shard without slots. A key with
// {Tag} in it lives on the shard.
func (s Shard) Tag() string {
	if len(s.Slots) == 0 {
		return ""
	}
	return SlotTag(s.tagSlot(false))
}

// ShardResult is the outcome of one shard's check.
type ShardResult struct {
	// Slots are the shard's slot ranges, e.g. 0-5460.
	Slots string `json:"slots"`
	// Node is host:port of the shard's primary as the cluster named it.
	Node string `json:"node"`
	// NodeID is the primary's cluster node id, when known.
	NodeID string `json:"node_id,omitempty"`
	// Tag is the hash tag of the keys the check used on this shard.
	Tag string `json:"tag,omitempty"`
	// Healthy, Role, Writable, Step, Reason, Error, Redialed and the
	// heartbeat fields mean what they mean in Result, for this shard.
	Healthy             bool           `json:"healthy"`
	Role                Role           `json:"role"`
	Writable            bool           `json:"writable"`
	Step                Step           `json:"failed_step,omitempty"`
	Reason              Reason         `json:"reason,omitempty"`
	Error               string         `json:"error,omitempty"`
	Redialed            bool           `json:"redialed,omitempty"`
	RedialReason        Reason         `json:"redial_reason,omitempty"`
	HeartbeatAge        *time.Duration `json:"-"`
	HeartbeatMissing    bool           `json:"heartbeat_missing,omitempty"`
	HeartbeatAgeSeconds *float64       `json:"heartbeat_age_seconds,omitempty"`

	// shard and tagSlot are what the result was checked against, for the
	// next round of the same check.
	shard   Shard
	tagSlot int
	// heartbeatWritten is when this check wrote the shard's heartbeat
	// (zero when it wrote none).
	heartbeatWritten time.Time
}

// Owns reports whether the shard checked serves slot: its result is the
// one that speaks for the keys of that slot.
func (r ShardResult) Owns(slot int) bool { return r.shard.Owns(slot) }

// ClusterChecker checks an endpoint that may be a cluster: every shard's
// primary gets its check as one pipeline, all shards in parallel, each with
// keys that hash to that shard; the result is healthy and writable only
// when every shard is. It learns the shards from the endpoint (CLUSTER
// SHARDS, or CLUSTER SLOTS on servers without it), keeps one connection per
// primary, and asks again, within the same deadline, when a shard answers
// with a redirection (MOVED, ASK, TRYAGAIN, CLUSTERDOWN), drops the
// connection or is no longer a primary; a shard is checked again only on
// the new topology. A warm check is one round trip per shard, in parallel.
// On an endpoint that is not a cluster (ClusterOff, or ClusterAuto and
// cluster_enabled:0) it is exactly a Checker.
type ClusterChecker struct {
	single *Checker
	mode   ClusterMode
	node   func(addr string) (*redisconn.Client, error)
	tls    bool
	seed   string // the configured endpoint, host:port
	maxAge time.Duration

	mu         sync.Mutex
	detectedOn *redis.Client // the seed client cluster_enabled was read on
	isCluster  bool
	topo       []Shard
	topoAt     time.Time
	nodes      map[string]*redisconn.Client
	roles      map[string]Role // Auto: the role each primary last reported
}

// NewCluster returns a checker of the endpoint in cfg (the seed: a
// configuration endpoint or any node) in mode. Each primary is reached at
// the address the cluster names, with cfg's other settings; a TLS server
// name set in cfg is kept for nodes named by IP address and replaced by
// the node's own name otherwise (a configuration endpoint's CNAME is not
// in a node's certificate, the node's name is).
func NewCluster(cfg redisconn.Config, o Options, mode ClusterMode) (*ClusterChecker, error) {
	if _, err := ParseClusterMode(string(mode)); err != nil {
		return nil, err
	}
	seed, err := redisconn.NewClient(cfg)
	if err != nil {
		return nil, err
	}
	k := &ClusterChecker{
		single: New(seed, o),
		mode:   mode,
		tls:    cfg.TLS,
		seed:   cfg.Addr,
		maxAge: DefaultTopologyMaxAge,
		nodes:  map[string]*redisconn.Client{},
		roles:  map[string]Role{},
	}
	k.node = func(addr string) (*redisconn.Client, error) { return redisconn.NewClient(NodeConfig(cfg, addr)) }
	if mode == "" {
		k.mode = ClusterAuto
	}
	return k, nil
}

// NodeConfig is how a node of the cluster behind cfg is reached at addr
// (host:port as the cluster names it): cfg's settings, with a TLS server
// name kept for a node named by IP address and replaced by the node's own
// name otherwise (a configuration endpoint's CNAME is not in a node's
// certificate, the node's name is).
func NodeConfig(cfg redisconn.Config, addr string) redisconn.Config {
	cfg.Addr = addr
	if host, _, err := net.SplitHostPort(addr); err == nil && net.ParseIP(host) == nil {
		cfg.TLSServerName = ""
	}
	return cfg
}

// WithTopologyMaxAge sets how long the shards learnt are trusted before a
// check asks again (one more round trip, to the seed, before that check's
// shards). Zero or less keeps DefaultTopologyMaxAge. It returns k; call it
// before the first check.
func (k *ClusterChecker) WithTopologyMaxAge(d time.Duration) *ClusterChecker {
	if d > 0 {
		k.maxAge = d
	}
	return k
}

// Options returns the options every check uses.
func (k *ClusterChecker) Options() Options { return k.single.opts }

// Mode returns the configured cluster mode.
func (k *ClusterChecker) Mode() ClusterMode { return k.mode }

// Check runs one check: of every shard on a cluster, of the node otherwise.
func (k *ClusterChecker) Check(ctx context.Context) Result {
	if k.mode == ClusterOff {
		return k.single.Check(ctx)
	}
	o := k.single.opts
	start := o.Now()
	if o.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Timeout)
		defer cancel()
	}
	var r Result
	if k.mode == ClusterOn {
		r = k.checkCluster(ctx, o)
	} else if c, warm, cluster, err := k.detect(ctx); cluster {
		r = k.checkCluster(ctx, o)
	} else if err == nil {
		r = k.single.checkOn(ctx, o, c, warm)
	} else {
		r = k.single.check(ctx, o)
	}
	r.Start = start
	r.Remote = k.single.conn.RemoteAddr()
	r.finish(ctx, o.Now())
	return r
}

// detect reads cluster_enabled once per seed connection, and returns that
// connection's client and whether it is warm for the one-node check: a
// connection that has only just answered INFO is not, so a READONLY on its
// first check is no news (no redial), as on a Checker's cold connection.
// Any failure means "one node": the one-node check that follows reports
// it. A server that refuses INFO (an ACL without +info) is remembered as
// one node for the connection, so its warm checks stay one round trip.
func (k *ClusterChecker) detect(ctx context.Context) (c *redis.Client, warm, cluster bool, err error) {
	c, warm, err = k.single.conn.Get()
	if err != nil {
		return nil, false, false, err
	}
	k.mu.Lock()
	if k.detectedOn == c {
		defer k.mu.Unlock()
		return c, warm, k.isCluster, nil
	}
	k.mu.Unlock()
	// In a pipeline of its own: go-redis (v9.23) dials a second connection
	// for the first pipeline that follows a plain command on a new client.
	pipe := c.Pipeline()
	infoCmd := pipe.Info(ctx, "cluster")
	_, _ = pipe.Exec(ctx)
	info, ierr := infoCmd.Result()
	if ierr != nil && !redisconn.ServerReply(ierr) {
		return c, false, false, nil // ask again on the next connection
	}
	on := ierr == nil && clusterEnabled(info)
	k.mu.Lock()
	k.detectedOn, k.isCluster = c, on
	k.mu.Unlock()
	return c, false, on, nil
}

// ClusterEnabled reads INFO cluster: "cluster_enabled:1" on Redis OSS and
// Valkey alike.
func ClusterEnabled(info string) bool { return clusterEnabled(info) }

func clusterEnabled(info string) bool {
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "cluster_enabled:"); ok {
			return v == "1"
		}
	}
	return false
}

// maxRounds bounds the rounds of one cluster check: the first, and up to
// two more on a freshly learnt topology (a redirection seen on the first,
// and one more should the slot move again meanwhile).
const maxRounds = 3

func (k *ClusterChecker) checkCluster(ctx context.Context, o Options) Result {
	hb := Heartbeat{Region: o.Region}
	if o.Heartbeat {
		hb.Seq = k.single.seq.Add(1)
	}
	shards, err := k.topology(ctx, false)
	if err != nil {
		return topologyFailure(o, err)
	}
	var results []ShardResult
	for round := 0; round < maxRounds; round++ {
		results = k.round(ctx, o, shards, hb, results)
		if !needsRefresh(results) || ctx.Err() != nil || round == maxRounds-1 {
			break
		}
		fresh, err := k.topology(ctx, true)
		if err != nil {
			break // the results in hand say what failed
		}
		shards = fresh
	}
	return summarize(o, results)
}

// topologyFailure is the result of a check that could not learn the shards.
func topologyFailure(o Options, err error) Result {
	r := Result{Role: o.ExpectRole}
	if r.Role == Auto {
		r.Role = Primary
	}
	if o.ExpectRole != Auto {
		r.Expect = o.ExpectRole
	}
	r.fail(StepTopology, Classify(err), fmt.Errorf("learn the shards: %w", err))
	return r
}

// needsRefresh reports whether a result says the topology in hand may be
// stale: a redirection (the slot moved, or the node is no longer its
// primary) or a node gone (refused, reset: a failover may have replaced
// it). READONLY is not among them: in a cluster a demoted node redirects,
// so READONLY comes from a read-only group (the secondary of a Global
// Datastore), which no topology changes.
func needsRefresh(results []ShardResult) bool {
	for _, r := range results {
		if r.Healthy {
			continue
		}
		switch r.Reason {
		case ReasonCluster, ReasonRefused, ReasonReset:
			return true
		}
	}
	return false
}

// round checks every shard in parallel. A shard that passed in the previous
// round with the same primary and still owns the slot it was checked on
// keeps that result; a primary whose previous check was redirected is
// checked on the last slot of its shard instead of the first: a resharding
// (redis-cli --cluster reshard) moves a shard's slots from the first one
// up, so the first may be half-migrated (ASK) for a while, and the next one
// after it.
func (k *ClusterChecker) round(ctx context.Context, o Options, shards []Shard, hb Heartbeat, prev []ShardResult) []ShardResult {
	out := make([]ShardResult, len(shards))
	var wg sync.WaitGroup
	for i, s := range shards {
		alt := false
		reuse := -1
		for j, p := range prev {
			if p.Node != s.Primary {
				continue
			}
			if p.Healthy && s.Owns(p.tagSlot) {
				reuse = j
			} else if p.Reason == ReasonCluster {
				alt = true
			}
		}
		if reuse >= 0 {
			out[i] = prev[reuse]
			out[i].shard = s
			out[i].Slots = s.SlotsString()
			continue
		}
		wg.Go(func() { out[i] = k.checkShard(ctx, o, s, hb, alt) })
	}
	wg.Wait()
	return out
}

// checkShard runs the one-node check against a shard's primary, with keys
// that hash to the shard.
func (k *ClusterChecker) checkShard(ctx context.Context, o Options, s Shard, hb Heartbeat, alt bool) ShardResult {
	sr := ShardResult{Slots: s.SlotsString(), Node: s.Primary, NodeID: s.PrimaryID, shard: s}
	if s.Primary == "" {
		sr.Role = Primary
		sr.Step, sr.Reason = StepTopology, ReasonCluster
		sr.Error = "no node serves these slots (the cluster reports them unassigned)"
		sr.tagSlot = -1
		return sr
	}
	sr.tagSlot = s.tagSlot(alt)
	o.tag = SlotTag(sr.tagSlot)
	sr.Tag = o.tag
	nc, err := k.nodeClient(s.Primary)
	var r Result
	if err == nil {
		r = k.checkNode(ctx, o, s.Primary, nc, hb)
	} else {
		r.Role = Primary
		r.fail(StepPing, ReasonUnknown, err)
	}
	if r.HeartbeatAge != nil {
		sec := r.HeartbeatAge.Seconds()
		r.HeartbeatAgeSeconds = &sec
	}
	sr.Healthy, sr.Role, sr.Writable = r.Healthy, r.Role, r.Writable
	sr.Step, sr.Reason, sr.Error, sr.Redialed, sr.RedialReason = r.Step, r.Reason, r.Error, r.Redialed, r.RedialReason
	sr.HeartbeatAge, sr.HeartbeatMissing, sr.HeartbeatAgeSeconds = r.HeartbeatAge, r.HeartbeatMissing, r.HeartbeatAgeSeconds
	sr.heartbeatWritten = r.HeartbeatWritten
	return sr
}

// checkNode is Checker.check for one primary of a cluster: the same redial
// of a warm connection and the same role change, except that a redirection
// is never taken for a role change: it means the topology moved.
func (k *ClusterChecker) checkNode(ctx context.Context, o Options, addr string, conn *redisconn.Client, hb Heartbeat) Result {
	c, warm, err := conn.Get()
	if err != nil {
		r := Result{Role: Primary}
		r.fail(StepPing, ReasonUnknown, err)
		return r
	}
	role := o.ExpectRole
	if role == Auto {
		role = k.nodeRole(addr)
	}
	r, seen := attempt(ctx, c, o, role, hb)
	redialed, redialReason := false, Reason("")
	if warm && (r.Reason == ReasonReadOnly || r.Reason == ReasonReset) && ctx.Err() == nil {
		redialed, redialReason = true, r.Reason
		conn.Drop(c)
		if c, _, err = conn.Get(); err != nil {
			r.fail(StepPing, ReasonUnknown, err)
			return r
		}
		r, seen = attempt(ctx, c, o, role, hb)
	}
	if o.ExpectRole == Auto && seen != "" && seen != role && r.Reason != ReasonCluster && ctx.Err() == nil {
		r, _ = attempt(ctx, c, o, seen, hb)
	}
	r.Redialed = redialed
	if redialed {
		r.RedialReason = redialReason
	}
	if o.ExpectRole == Auto && r.Step != StepPing && r.Step != StepRole && r.Reason != ReasonCluster {
		k.setNodeRole(addr, r.Role)
	}
	if !r.Healthy && (r.Reason.Connection() || r.Reason == ReasonReadOnly) {
		conn.Drop(c)
	}
	return r
}

// nodeClient returns the connection to a primary, building it on first use.
func (k *ClusterChecker) nodeClient(addr string) (*redisconn.Client, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if c, ok := k.nodes[addr]; ok {
		return c, nil
	}
	c, err := k.node(addr)
	if err != nil {
		return nil, fmt.Errorf("node %s: %w", addr, err)
	}
	k.nodes[addr] = c
	return c, nil
}

// nodeRole is the role the node at addr last reported; Primary at first.
func (k *ClusterChecker) nodeRole(addr string) Role {
	k.mu.Lock()
	defer k.mu.Unlock()
	if r, ok := k.roles[addr]; ok {
		return r
	}
	return Primary
}

func (k *ClusterChecker) setNodeRole(addr string, r Role) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.roles[addr] = r
}

// topology returns the shards: the ones in hand while younger than maxAge
// (unless refresh), else learnt afresh from the seed, or, when the seed does
// not answer, from the primaries known so far, one after the other.
func (k *ClusterChecker) topology(ctx context.Context, refresh bool) ([]Shard, error) {
	k.mu.Lock()
	if !refresh && k.topo != nil && time.Since(k.topoAt) < k.maxAge {
		defer k.mu.Unlock()
		return k.topo, nil
	}
	known := make([]string, 0, len(k.topo))
	for _, s := range k.topo {
		if s.Primary != "" {
			known = append(known, s.Primary)
		}
	}
	k.mu.Unlock()

	seed, _, err := k.single.conn.Get()
	var shards []Shard
	if err == nil {
		shards, err = DiscoverShards(ctx, seed, k.tls, k.seed)
		if err != nil && redisconn.Finished(err) {
			k.single.conn.Drop(seed)
		}
	}
	for _, addr := range known {
		if err == nil || ctx.Err() != nil {
			break
		}
		nc, nerr := k.nodeClient(addr)
		if nerr != nil {
			continue
		}
		c, _, nerr := nc.Get()
		if nerr != nil {
			continue
		}
		var derr error
		if shards, derr = DiscoverShards(ctx, c, k.tls, addr); derr == nil {
			err = nil
		} else if redisconn.Finished(derr) {
			nc.Drop(c)
		}
	}
	if err != nil {
		return nil, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.topo, k.topoAt = shards, time.Now()
	k.forgetNodes(shards)
	return shards, nil
}

// forgetNodes closes the connections of nodes no longer primaries.
func (k *ClusterChecker) forgetNodes(shards []Shard) {
	for addr, c := range k.nodes {
		if !slices.ContainsFunc(shards, func(s Shard) bool { return s.Primary == addr }) {
			_ = c.Close()
			delete(k.nodes, addr)
			delete(k.roles, addr)
		}
	}
}

// Shards returns the shards the last check learnt (nil before any cluster
// check).
func (k *ClusterChecker) Shards() []Shard {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Clone(k.topo)
}

// Close releases every connection.
func (k *ClusterChecker) Close() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	errs := []error{k.single.Close()}
	for addr, c := range k.nodes {
		errs = append(errs, c.Close())
		delete(k.nodes, addr)
	}
	return errors.Join(errs...)
}

// DiscoverShards asks one node for the shards: CLUSTER SHARDS (Redis 7,
// Valkey), else CLUSTER SLOTS (Redis 6 and older, or an ACL without
// cluster|shards, answer SHARDS with an error). tls picks the nodes' TLS
// ports; from is the address c reaches (host:port), for nodes the cluster
// names without an address of their own. The shards are in slot order;
// slots no node serves come back as a Shard without a primary.
func DiscoverShards(ctx context.Context, c *redis.Client, tls bool, from string) ([]Shard, error) {
	// Pipelines, not plain commands: see detect.
	pipe := c.Pipeline()
	shardsCmd := pipe.ClusterShards(ctx)
	_, _ = pipe.Exec(ctx)
	shards, err := shardsCmd.Result()
	if err == nil {
		return ShardsFromClusterShards(shards, tls, from), nil
	}
	if !redisconn.ServerReply(err) || Classify(err) == ReasonAuth || Classify(err) == ReasonLoading {
		return nil, err
	}
	pipe = c.Pipeline()
	slotsCmd := pipe.ClusterSlots(ctx)
	_, _ = pipe.Exec(ctx)
	slots, serr := slotsCmd.Result()
	if serr != nil {
		return nil, fmt.Errorf("cluster shards: %v; cluster slots: %w", err, serr)
	}
	return ShardsFromClusterSlots(slots, from), nil
}

// ShardsFromClusterShards reads CLUSTER SHARDS: each shard with slots and a
// node whose role is master becomes a Shard at that node's endpoint (its
// TLS port when tls), in slot order; slots no shard serves become a Shard
// without a primary.
func ShardsFromClusterShards(in []redis.ClusterShard, tls bool, from string) []Shard {
	var out []Shard
	for _, cs := range in {
		if len(cs.Slots) == 0 {
			continue // a shard without slots serves nothing yet
		}
		s := Shard{}
		for _, r := range cs.Slots {
			s.Slots = append(s.Slots, SlotRange{Start: int(r.Start), End: int(r.End)})
		}
		for _, n := range cs.Nodes {
			if n.Role != "master" && n.Role != "primary" {
				continue
			}
			// Valkey leaves out "port" on a TLS-only node (port 0).
			port := n.Port
			if (tls || port == 0) && n.TLSPort > 0 {
				port = n.TLSPort
			}
			s.Primary = nodeAddr(n.Endpoint, n.IP, port, from)
			s.PrimaryID = n.ID
			break
		}
		out = append(out, s)
	}
	return normalize(out)
}

// ShardsFromClusterSlots reads CLUSTER SLOTS: the first node of each range
// is its primary; ranges of one primary make one Shard.
func ShardsFromClusterSlots(in []redis.ClusterSlot, from string) []Shard {
	byPrimary := map[string]int{}
	var out []Shard
	for _, cs := range in {
		if len(cs.Nodes) == 0 {
			continue
		}
		n := cs.Nodes[0]
		host, port, err := net.SplitHostPort(n.Addr)
		addr := n.Addr
		if err == nil {
			p, _ := strconv.ParseInt(port, 10, 64)
			addr = nodeAddr(host, "", p, from)
		}
		key := n.ID
		if key == "" {
			key = addr
		}
		i, ok := byPrimary[key]
		if !ok {
			i = len(out)
			byPrimary[key] = i
			out = append(out, Shard{Primary: addr, PrimaryID: n.ID})
		}
		out[i].Slots = append(out[i].Slots, SlotRange{Start: cs.Start, End: cs.End})
	}
	return normalize(out)
}

// nodeAddr is host:port for a node the cluster names by endpoint (a name or
// an IP, "?" when unknown) or IP; a node named by neither (an empty
// endpoint means "the address you reached") takes the host of from.
func nodeAddr(endpoint, ip string, port int64, from string) string {
	host := endpoint
	if host == "" || host == "?" {
		host = ip
	}
	if host == "" || host == "?" {
		host, _, _ = net.SplitHostPort(from)
	}
	return net.JoinHostPort(host, strconv.FormatInt(port, 10))
}

// normalize sorts each shard's ranges, sorts the shards by first slot and
// adds a primary-less Shard for each run of slots no shard serves.
func normalize(shards []Shard) []Shard {
	for i := range shards {
		slices.SortFunc(shards[i].Slots, func(a, b SlotRange) int { return a.Start - b.Start })
	}
	slices.SortFunc(shards, func(a, b Shard) int { return a.Slots[0].Start - b.Slots[0].Start })
	var covered [SlotCount]bool
	for _, s := range shards {
		for _, r := range s.Slots {
			for i := max(r.Start, 0); i <= r.End && i < SlotCount; i++ {
				covered[i] = true
			}
		}
	}
	var gaps []Shard
	for i := 0; i < SlotCount; {
		if covered[i] {
			i++
			continue
		}
		j := i
		for j+1 < SlotCount && !covered[j+1] {
			j++
		}
		gaps = append(gaps, Shard{Slots: []SlotRange{{Start: i, End: j}}})
		i = j + 1
	}
	if len(gaps) > 0 {
		shards = append(shards, gaps...)
		slices.SortFunc(shards, func(a, b Shard) int { return a.Slots[0].Start - b.Slots[0].Start })
	}
	return shards
}

// summarize sums the shards' results up into one Result.
func summarize(o Options, shards []ShardResult) Result {
	r := Result{Healthy: true, Writable: true, Shards: shards}
	if o.ExpectRole != Auto {
		r.Expect = o.ExpectRole
	}
	var failed []string
	for i, s := range shards {
		if i == 0 || (s.Role != Replica && r.Role == Replica) {
			r.Role = s.Role // a primary anywhere makes the group's role primary
		}
		r.Writable = r.Writable && s.Writable
		if s.Redialed {
			r.Redialed = true
		}
		if s.HeartbeatAge != nil && (r.HeartbeatAge == nil || *s.HeartbeatAge > *r.HeartbeatAge) {
			r.HeartbeatAge = s.HeartbeatAge // the worst shard's lag decides
		}
		r.HeartbeatMissing = r.HeartbeatMissing || s.HeartbeatMissing
		// The group's last writable moment is the latest heartbeat any
		// shard took: a write accepted there may be lost, and the
		// promoter's loss bound (this moment minus the oldest heartbeat
		// replicated, over every shard) then covers every shard's.
		if s.heartbeatWritten.After(r.HeartbeatWritten) {
			r.HeartbeatWritten = s.heartbeatWritten
		}
		if s.Healthy {
			continue
		}
		if r.Healthy {
			r.Healthy, r.Step, r.Reason = false, s.Step, s.Reason
		}
		node := s.Node
		if node == "" {
			node = "no node"
		}
		failed = append(failed, fmt.Sprintf("shard %s at %s: %s at %s: %s", s.Slots, node, s.Reason, s.Step, s.Error))
	}
	if len(shards) == 0 {
		r.Healthy = false
		r.Step, r.Reason, r.Error = StepTopology, ReasonCluster, "the cluster reports no shard"
	}
	if !r.Healthy {
		r.Writable = false
		if len(failed) > 0 {
			r.Error = fmt.Sprintf("%d of %d shards failed: %s", len(failed), len(shards), strings.Join(failed, "; "))
		}
	}
	return r
}
