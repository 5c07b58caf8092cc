package drill

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
	"github.com/redis/go-redis/v9/maintnotifications"

	// Imported for its go-redis logger setting: pool messages about dials
	// to a dead node are the drill's normal case, not news.
	_ "github.com/redisha/redisha/internal/redisconn"
	"github.com/redisha/redisha/internal/sim/redisserver"
)

// Node is one redis-server process on its own loopback address.
type Node struct {
	// Name is e.g. "a1".
	Name string
	// IP is the node's loopback address; Addr is IP:port.
	IP   net.IP
	Addr string
	srv  *redisserver.Server
}

// PID is the node's process id (0 when stopped).
func (n *Node) PID() int { return n.srv.PID() }

// Region is one region's replication group: a primary node and a replica,
// the name of its primary endpoint, and the path its observers take to it.
type Region struct {
	// Name is "a" or "b".
	Name string
	// Endpoint is the DNS name of the group's primary endpoint.
	Endpoint string
	Nodes    [2]*Node
	// Observed is where the region's observers (its checker) connect: a
	// path to the group's primary that a partition can cut.
	Observed *link

	primary int // index in Nodes of the group's primary
}

// Topology is two regions on loopback joined as a Global Datastore: region
// B's primary replicates from region A's over an inter-region link (a
// toxiproxy that always leads to the datastore's primary, and that can be
// broken). Its methods are safe for concurrent use.
type Topology struct {
	// Port is the port every node listens on (each on its own address),
	// as every ElastiCache endpoint listens on the same port.
	Port    int
	Regions [2]*Region
	// Link is the inter-region replication path; it leads to the primary
	// region's primary node.
	Link *link
	// OnEndpointMove is called when a region's primary endpoint moves to
	// another node (an in-region failover), with the node's address.
	OnEndpointMove func(region string, ip net.IP)

	mu     sync.Mutex
	global int // index in Regions of the datastore's primary region
	// down marks a region stopped or stalled: the control plane cannot
	// reach it, so a failover leaves its primary as it was, and the
	// region's return says whether it is demoted then.
	down [2]bool
}

// nodeIPs are the nodes' loopback addresses: a1 a2 b1 b2.
var nodeIPs = [2][2]string{{"127.0.0.21", "127.0.0.22"}, {"127.0.0.31", "127.0.0.32"}}

// EndpointName is the DNS name of a region's primary endpoint.
func EndpointName(region string) string {
	return "master.redisha-" + region + ".cache.internal"
}

// nodeConfig tunes replication for a drill: no delay before a full sync,
// and a replica notices a dead link in seconds.
var nodeConfig = []string{"repl-diskless-sync-delay 0", "repl-timeout 5", "repl-ping-replica-period 1"}

// StartTopology starts the four nodes and the links and waits until
// replication is up everywhere. Close stops everything.
func StartTopology(ctx context.Context) (*Topology, error) {
	for attempt := 0; ; attempt++ {
		t, err := startTopology(ctx)
		if err == nil || attempt == 4 || !strings.Contains(err.Error(), "in use") {
			return t, err
		}
	}
}

func startTopology(ctx context.Context) (t *Topology, err error) {
	port, err := freePortOnAll()
	if err != nil {
		return nil, err
	}
	t = &Topology{Port: port}
	defer func() {
		if err != nil {
			t.Close()
		}
	}()
	start := func(name, ip string, replicaOf string) (*Node, error) {
		cfg := append([]string{}, nodeConfig...)
		if replicaOf != "" {
			h, p, _ := net.SplitHostPort(replicaOf)
			cfg = append(cfg, "replicaof "+h+" "+p)
		}
		srv, err := redisserver.Start(redisserver.Options{Bind: ip, Port: port, Config: cfg})
		if err != nil {
			return nil, fmt.Errorf("node %s: %w", name, err)
		}
		return &Node{Name: name, IP: net.ParseIP(ip), Addr: srv.Addr, srv: srv}, nil
	}
	for i, name := range []string{"a", "b"} {
		t.Regions[i] = &Region{Name: name, Endpoint: EndpointName(name)}
	}
	a, b := t.Regions[0], t.Regions[1]
	if a.Nodes[0], err = start("a1", nodeIPs[0][0], ""); err != nil {
		return t, err
	}
	if a.Nodes[1], err = start("a2", nodeIPs[0][1], a.Nodes[0].Addr); err != nil {
		return t, err
	}
	if t.Link, err = newLink("inter-region", a.Nodes[0].Addr); err != nil {
		return t, err
	}
	if b.Nodes[0], err = start("b1", nodeIPs[1][0], t.Link.Addr); err != nil {
		return t, err
	}
	if b.Nodes[1], err = start("b2", nodeIPs[1][1], b.Nodes[0].Addr); err != nil {
		return t, err
	}
	for _, r := range t.Regions {
		if r.Observed, err = newLink("observers-"+r.Name, r.Nodes[0].Addr); err != nil {
			return t, err
		}
	}
	for _, n := range []*Node{a.Nodes[1], b.Nodes[0], b.Nodes[1]} {
		if err := waitLinkUp(ctx, n.Addr, 15*time.Second); err != nil {
			return t, fmt.Errorf("node %s: %w", n.Name, err)
		}
	}
	return t, nil
}

// freePortOnAll finds a port free on every node address.
func freePortOnAll() (int, error) {
	for range 20 {
		port, err := redisserver.FreePort()
		if err != nil {
			return 0, err
		}
		ok := true
		for _, ips := range nodeIPs {
			for _, ip := range ips {
				l, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
				if err != nil {
					ok = false
					break
				}
				l.Close()
			}
		}
		if ok {
			return port, nil
		}
	}
	return 0, errors.New("no port free on every node address (127.0.0.21-22, 127.0.0.31-32)")
}

// Close stops every node by PID and every link.
func (t *Topology) Close() {
	for _, r := range t.Regions {
		if r == nil {
			continue
		}
		for _, n := range r.Nodes {
			if n != nil {
				_ = n.srv.Stop()
			}
		}
		if r.Observed != nil {
			r.Observed.Close()
		}
	}
	if t.Link != nil {
		t.Link.Close()
	}
}

// Region returns the region named name ("a" or "b").
func (t *Topology) Region(name string) *Region {
	for _, r := range t.Regions {
		if r.Name == name {
			return r
		}
	}
	panic("drill: no region " + name)
}

// index is the region's index in Regions.
func (t *Topology) index(region string) int {
	if region == t.Regions[1].Name {
		return 1
	}
	return 0
}

// Primary is the region's primary node.
func (t *Topology) Primary(region string) *Node {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := t.Region(region)
	return r.Nodes[r.primary]
}

// Replica is the region's replica node.
func (t *Topology) Replica(region string) *Node {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := t.Region(region)
	return r.Nodes[1-r.primary]
}

// PrimaryRegion is the region whose member is the datastore's PRIMARY.
func (t *Topology) PrimaryRegion() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.Regions[t.global].Name
}

// StopRegion kills every node of the region (a region lost).
func (t *Topology) StopRegion(region string) {
	t.setDown(region, true)
	for _, n := range t.Region(region).Nodes {
		n.srv.Kill()
	}
}

// StallRegion stops every node of the region with SIGSTOP: sockets stay
// open and nothing answers.
func (t *Topology) StallRegion(region string) error {
	t.setDown(region, true)
	for _, n := range t.Region(region).Nodes {
		if err := n.srv.Pause(); err != nil {
			return fmt.Errorf("stall %s: %w", n.Name, err)
		}
	}
	return nil
}

// ResumeRegion continues a stalled region. demote re-points its primary to
// the datastore's primary when the region lost that role while stalled;
// without it, the region's primary is still a master (AWS documents the
// demotion only for an old primary it could reach).
func (t *Topology) ResumeRegion(ctx context.Context, region string, demote bool) error {
	for _, n := range t.Region(region).Nodes {
		if err := n.srv.Resume(); err != nil {
			return fmt.Errorf("resume %s: %w", n.Name, err)
		}
	}
	t.mu.Lock()
	idx := t.index(region)
	upstream, primary := t.upstreamOf(idx), t.Regions[idx].Nodes[t.Regions[idx].primary]
	t.mu.Unlock()
	t.setDown(region, false)
	if demote && upstream != "" {
		return replicaOf(ctx, primary.Addr, upstream)
	}
	return nil
}

func (t *Topology) setDown(region string, down bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.down[t.index(region)] = down
}

// CrashPrimary kills the region's primary node only.
func (t *Topology) CrashPrimary(region string) *Node {
	n := t.Primary(region)
	n.srv.Kill()
	return n
}

// BreakLink cuts the inter-region replication link; HealLink restores it.
func (t *Topology) BreakLink() error { return t.Link.Cut() }

// HealLink restores the inter-region replication link.
func (t *Topology) HealLink() error { return t.Link.Heal() }

// PartitionObservers cuts the path between the region's observers and its
// primary; the primary itself, replication and applications are unaffected.
func (t *Topology) PartitionObservers(region string) error { return t.Region(region).Observed.Cut() }

// HealObservers restores the observers' path.
func (t *Topology) HealObservers(region string) error { return t.Region(region).Observed.Heal() }

// upstreamOf is where a region's primary replicates from: nothing for the
// datastore's primary region, the inter-region link for the other.
func (t *Topology) upstreamOf(regionIdx int) string {
	if regionIdx == t.global {
		return ""
	}
	return t.Link.Addr
}

// FailoverInRegion promotes the region's replica to the group's primary,
// as ElastiCache's Multi-AZ automatic failover does: the endpoint moves to
// it, the observers' path and (for the primary region) the inter-region
// link follow, and the old primary, when it answers, becomes its replica.
func (t *Topology) FailoverInRegion(ctx context.Context, region string) error {
	t.mu.Lock()
	idx := t.index(region)
	r := t.Regions[idx]
	old, next := r.Nodes[r.primary], r.Nodes[1-r.primary]
	r.primary = 1 - r.primary
	upstream := t.upstreamOf(idx)
	global := idx == t.global
	t.mu.Unlock()

	if err := replicaOf(ctx, next.Addr, upstream); err != nil {
		return fmt.Errorf("promote %s: %w", next.Name, err)
	}
	if err := r.Observed.Retarget(next.Addr); err != nil {
		return err
	}
	if global {
		if err := t.Link.Retarget(next.Addr); err != nil {
			return err
		}
	}
	if t.OnEndpointMove != nil {
		t.OnEndpointMove(region, next.IP)
	}
	_ = replicaOf(ctx, old.Addr, next.Addr) // a dead old primary is re-pointed when it returns
	return nil
}

// FailoverGlobal makes region the datastore's primary, as
// FailoverGlobalReplicationGroup does once complete: its primary node stops
// replicating and takes writes, the inter-region link leads to it, and the
// other region's primary, when it answers, replicates from it.
func (t *Topology) FailoverGlobal(ctx context.Context, region string) error {
	t.mu.Lock()
	idx := t.index(region)
	t.global = idx
	r, other := t.Regions[idx], t.Regions[1-idx]
	next, old := r.Nodes[r.primary], other.Nodes[other.primary]
	oldDown := t.down[1-idx]
	t.mu.Unlock()
	if err := replicaOf(ctx, next.Addr, ""); err != nil {
		return fmt.Errorf("promote %s: %w", next.Name, err)
	}
	if err := t.Link.Retarget(next.Addr); err != nil {
		return err
	}
	if !oldDown {
		// The old primary stops accepting writes; a region the control plane
		// cannot reach is left as it was (its return decides).
		_ = replicaOf(ctx, old.Addr, t.Link.Addr)
	}
	return nil
}

// RestoreRegion brings a stopped region back and re-points it to the
// current roles: its primary replicates from the datastore's primary when
// the region is no longer the primary region (unless demote is false: then
// it comes back a master, as an old primary the control plane never
// reached might), its replica from its primary.
func (t *Topology) RestoreRegion(ctx context.Context, region string, demote bool) error {
	t.mu.Lock()
	idx := t.index(region)
	r := t.Regions[idx]
	upstream := t.upstreamOf(idx)
	primary, replica := r.Nodes[r.primary], r.Nodes[1-r.primary]
	t.mu.Unlock()
	for _, n := range r.Nodes {
		if n.PID() == 0 {
			if err := n.srv.Restart(); err != nil {
				return fmt.Errorf("restart %s: %w", n.Name, err)
			}
		} else {
			_ = n.srv.Resume()
		}
	}
	t.setDown(region, false)
	if !demote {
		upstream = ""
	}
	if err := replicaOf(ctx, primary.Addr, upstream); err != nil {
		return err
	}
	return replicaOf(ctx, replica.Addr, primary.Addr)
}

// replicaOf runs REPLICAOF on addr: NO ONE when upstream is empty.
func replicaOf(ctx context.Context, addr, upstream string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	c := adminClient(addr)
	defer c.Close()
	args := []any{"REPLICAOF", "NO", "ONE"}
	if upstream != "" {
		h, p, _ := net.SplitHostPort(upstream)
		args = []any{"REPLICAOF", h, p}
	}
	if err := c.Do(ctx, args...).Err(); err != nil {
		return fmt.Errorf("%s: %v: %w", addr, args, err)
	}
	return nil
}

func adminClient(addr string) *redis.Client { return newClient(addr, nil, time.Second, 1) }

// newClient is a go-redis client with explicit timeouts and no hidden
// retries. Maintenance notifications are off: with them on, go-redis looks
// the address's host up through the system resolver when the client is
// built, which for redis.internal (known only to the drill's zone) costs
// two seconds of resolver timeout per client.
func newClient(addr string, dial func(context.Context, string, string) (net.Conn, error), timeout time.Duration, pool int) *redis.Client {
	return redis.NewClient(&redis.Options{Addr: addr, Dialer: dial, Protocol: 2, DisableIdentity: true,
		MaxRetries: -1, DialerRetries: 1, PoolSize: pool, DialTimeout: timeout, ReadTimeout: timeout,
		WriteTimeout: timeout, ContextTimeoutEnabled: true,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}})
}

// Role is the node's ROLE reply's first element (master or slave), or the
// error that kept it from answering.
func Role(ctx context.Context, addr string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	c := adminClient(addr)
	defer c.Close()
	v, err := c.Do(ctx, "ROLE").Slice()
	if err != nil {
		return "", err
	}
	if len(v) == 0 {
		return "", errors.New("empty ROLE reply")
	}
	s, _ := v[0].(string)
	return s, nil
}

// waitLinkUp waits for master_link_status:up on addr.
func waitLinkUp(ctx context.Context, addr string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c := adminClient(addr)
	defer c.Close()
	for {
		info, _ := c.Info(ctx, "replication").Result()
		if strings.Contains(info, "master_link_status:up") {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("replication link not up after %s", timeout)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// SlowLink delays the inter-region replication stream by d (wall time), so
// the secondary lags by d; 0 removes the delay.
func (t *Topology) SlowLink(d time.Duration) error { return t.Link.Delay(d) }
