// Package clusterfront plays the nodes of an ElastiCache cluster-mode
// replication group over standalone redis-server processes, so that each
// shard of a Global Datastore's secondary can replicate from its shard in the
// primary region with REPLICAOF, as ElastiCache's do. A real cluster-mode
// redis-server cannot: it refuses REPLICAOF, and its replicas may only
// follow a primary of their own cluster.
//
// A Front listens for one node and forwards every command to that node's
// redis-server, unchanged, one at a time in order (pipelines included); it
// answers the cluster surface itself from the Cluster it belongs to: CLUSTER
// SHARDS, SLOTS, NODES, MYID, INFO and KEYSLOT; INFO with cluster_enabled:1;
// READONLY, READWRITE and ASKING; MOVED for a key another shard serves, and,
// on a node that is not its shard's primary, for a key command of a
// connection that did not ask READONLY (or a write), as a cluster replica
// answers; SELECT of a database other than 0 refused. What the node's
// redis-server answers stays its own: ROLE (master, or slave of the other
// region's primary on a secondary), READONLY errors from a replica, the data.
// The front's own answers wait for a PING of the node, so a stopped or
// stalled node answers nothing, as it would.
//
// Guesses, since AWS documents no wire-level behaviour of a secondary
// cluster: that its shard primaries are shown as primaries (role master in
// CLUSTER SHARDS) and answer writes with READONLY, as the single-shard
// secondary's primary does; that it answers MOVED for keys of other shards as
// a cluster does. Keys are found by a table of the key commands applications
// and redisha use (first argument; every argument for DEL, EXISTS, UNLINK,
// MGET, TOUCH; every other for MSET): a command outside it is forwarded
// without a slot check. SUBSCRIBE and MONITOR are not supported.
package clusterfront

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redisha/redisha/internal/check"
)

// SlotRange is a range of hash slots, both ends included.
type SlotRange struct{ Start, End int }

// EvenSlots splits the 16384 slots over n shards as redis-cli --cluster
// create does (and as a new ElastiCache group's shards are laid out): n=3
// gives 0-5460, 5461-10922, 10923-16383.
func EvenSlots(n int) [][]SlotRange {
	out := make([][]SlotRange, n)
	per := float64(check.SlotCount) / float64(n)
	first, cursor := 0, 0.0
	for i := range n {
		last := int(cursor + per - 1 + 0.5)
		if last > check.SlotCount-1 || i == n-1 {
			last = check.SlotCount - 1
		}
		out[i] = []SlotRange{{first, last}}
		first, cursor = last+1, cursor+per
	}
	return out
}

// Cluster is one replication group in cluster mode: its shards, each with
// its nodes (Fronts) and which of them is the primary. Its methods are safe
// for concurrent use.
type Cluster struct {
	mu        sync.Mutex
	shards    []*shard
	endpoints []*Front
}

type shard struct {
	slots   []SlotRange
	nodes   []*Front
	primary int
}

// NewCluster returns a cluster with the given slot layout (one entry a
// shard) and no nodes yet.
func NewCluster(layout [][]SlotRange) *Cluster {
	c := &Cluster{}
	for _, s := range layout {
		c.shards = append(c.shards, &shard{slots: s})
	}
	return c
}

// SetPrimary makes node the primary of shard in the cluster's answers (its
// redis-server's role is the caller's business: REPLICAOF).
func (c *Cluster) SetPrimary(shardIdx, node int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.shards[shardIdx].primary = node
}

// Front is one node: listeners that forward to its redis-server, one per
// view. A view is a set of addresses the whole cluster is seen at: a client
// that reached a node through view v is told of every node at its address in
// v (CLUSTER SHARDS, SLOTS, NODES, MOVED), so two kinds of clients (the
// applications and the region's observers, say) can be partitioned apart.
type Front struct {
	// Addr is the address of view 0, Addrs those of every view.
	Addr  string
	Addrs []string
	// ID is the node's cluster id (40 hex digits).
	ID string

	backend func() string // where the node's redis-server is
	cluster *Cluster
	shard   int // -1: the configuration endpoint, no node

	mu      sync.Mutex
	lns     []net.Listener
	conns   map[net.Conn]*session
	stopped bool
	cut     []chan struct{} // per view: non-nil while cut, closed by Heal
}

// Serve starts a front for a new node of shard, listening at each view's
// address (host:port), forwarding to the redis-server at backend. The first
// node of a shard is its primary until SetPrimary says otherwise. Every
// front of a cluster has the same number of views.
func (c *Cluster) Serve(shardIdx int, backend string, listen ...string) (*Front, error) {
	var id [20]byte
	_, _ = rand.Read(id[:])
	f := &Front{Addr: listen[0], Addrs: listen, ID: hex.EncodeToString(id[:]), backend: func() string { return backend },
		cluster: c, shard: shardIdx, conns: map[net.Conn]*session{}, cut: make([]chan struct{}, len(listen))}
	if err := f.Start(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.shards[shardIdx].nodes = append(c.shards[shardIdx].nodes, f)
	c.mu.Unlock()
	return f, nil
}

// ServeEndpoint starts the group's configuration endpoint at each view's
// address: not a node (the cluster does not name it), a way in that always
// leads to a live one, as ElastiCache's configuration endpoint resolves to
// a node that answers. A connection is forwarded to the redis-server of
// the first shard's primary when it was made (alive unless every node is
// gone); the cluster surface is answered as any node answers it, and every
// key command is redirected (MOVED) to the shard that serves it.
func (c *Cluster) ServeEndpoint(listen ...string) (*Front, error) {
	f := &Front{Addr: listen[0], Addrs: listen, ID: strings.Repeat("0", 40), cluster: c, shard: -1,
		conns: map[net.Conn]*session{}, cut: make([]chan struct{}, len(listen))}
	f.backend = func() string {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, s := range c.shards {
			if p := s.nodes[s.primary]; !p.Stopped() {
				return p.backend()
			}
		}
		return c.shards[0].nodes[c.shards[0].primary].backend()
	}
	if err := f.Start(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.endpoints = append(c.endpoints, f)
	c.mu.Unlock()
	return f, nil
}

// Start listens again after Stop (a node restarted).
func (f *Front) Start() error {
	var lns []net.Listener
	for _, addr := range f.Addrs {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			for _, l := range lns {
				_ = l.Close()
			}
			return fmt.Errorf("cluster front %s: %w", addr, err)
		}
		lns = append(lns, ln)
	}
	f.mu.Lock()
	f.lns, f.stopped = lns, false
	f.mu.Unlock()
	for v, ln := range lns {
		go f.accept(ln, v)
	}
	return nil
}

// Cut makes view v a partition: its connections, open or new, get no
// answer (they time out); nothing is refused or reset. Heal ends it.
func (f *Front) Cut(v int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cut[v] == nil {
		f.cut[v] = make(chan struct{})
	}
}

// Heal ends a Cut of view v.
func (f *Front) Heal(v int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cut[v] != nil {
		close(f.cut[v])
		f.cut[v] = nil
	}
}

// cutOf is the channel a connection of view v waits on while it is cut;
// nil when it is not.
func (f *Front) cutOf(v int) chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cut[v]
}

// Stop closes the listener and every connection: the node is gone (its
// process killed), connections are refused.
func (f *Front) Stop() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stopped = true
	for _, ln := range f.lns {
		_ = ln.Close()
	}
	f.lns = nil
	for c, s := range f.conns {
		_ = c.Close()
		s.close()
	}
}

// Stopped says whether the node is stopped.
func (f *Front) Stopped() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stopped
}

func (f *Front) accept(ln net.Listener, view int) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		f.mu.Lock()
		if f.stopped {
			f.mu.Unlock()
			_ = c.Close()
			continue
		}
		s := &session{view: view, done: make(chan struct{})}
		f.conns[c] = s
		f.mu.Unlock()
		go f.serve(c, s)
	}
}

// session is one client connection's state.
type session struct {
	view     int
	done     chan struct{} // closed when the connection ends
	once     sync.Once
	mu       sync.Mutex // guards be against Stop's close
	be       net.Conn
	beR      *bufio.Reader
	readOnly bool // READONLY asked: a replica serves reads of its shard
	asking   bool // ASKING asked: the next command is served whatever its slot
}

// close closes the connection to the node's redis-server.
func (s *session) close() {
	s.once.Do(func() { close(s.done) })
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.be != nil {
		_ = s.be.Close()
	}
}

func (f *Front) serve(c net.Conn, s *session) {
	defer func() {
		_ = c.Close()
		s.close()
		f.mu.Lock()
		delete(f.conns, c)
		f.mu.Unlock()
	}()
	r, w := bufio.NewReader(c), bufio.NewWriter(c)
	for {
		raw, args, err := readCommand(r)
		if err != nil {
			return
		}
		if len(args) == 0 {
			continue
		}
		if cut := f.cutOf(s.view); cut != nil {
			select { // a partition: no answer until it heals
			case <-cut:
			case <-s.done:
				return
			}
		}
		reply, err := f.handle(s, raw, args)
		if err != nil {
			return // the node's redis-server is gone: so is the connection
		}
		if _, err := w.Write(reply); err != nil {
			return
		}
		if r.Buffered() == 0 {
			if err := w.Flush(); err != nil {
				return
			}
		}
	}
}

// handle answers one command: the cluster surface itself (after a PING of
// the node), the rest forwarded.
func (f *Front) handle(s *session, raw []byte, args []string) ([]byte, error) {
	name := strings.ToUpper(args[0])
	asking := s.asking
	s.asking = false
	switch name {
	case "CLUSTER":
		if err := f.ping(s); err != nil {
			return nil, err
		}
		return f.clusterCommand(args[1:], s.view), nil
	case "READONLY", "READWRITE", "ASKING":
		if err := f.ping(s); err != nil {
			return nil, err
		}
		s.readOnly = name == "READONLY" || (name == "ASKING" && s.readOnly)
		s.asking = name == "ASKING"
		return simple("OK"), nil
	case "SELECT":
		if len(args) == 2 && args[1] != "0" {
			return errorReply("ERR SELECT is not allowed in cluster mode"), nil
		}
	}
	if moved := f.redirect(name, args, s.view, s.readOnly, asking); moved != nil {
		return moved, nil
	}
	reply, err := f.forward(s, raw)
	if err != nil {
		return nil, err
	}
	if name == "INFO" {
		reply = rewriteBulk(reply, "cluster_enabled:0", "cluster_enabled:1")
	}
	return reply, nil
}

// forward sends the request to the node's redis-server and returns its
// reply.
func (f *Front) forward(s *session, raw []byte) ([]byte, error) {
	s.mu.Lock()
	if s.be == nil {
		be, err := net.DialTimeout("tcp", f.backend(), 2*time.Second)
		if err != nil {
			s.mu.Unlock()
			return nil, err
		}
		s.be, s.beR = be, bufio.NewReader(be)
	}
	s.mu.Unlock()
	if _, err := s.be.Write(raw); err != nil {
		return nil, err
	}
	return readReply(s.beR)
}

// ping makes sure the node's redis-server answers before the front answers
// for it. Its reply (PONG, or NOAUTH before AUTH) does not matter: that it
// came does.
func (f *Front) ping(s *session) error {
	_, err := f.forward(s, []byte("*1\r\n$4\r\nPING\r\n"))
	return err
}

// redirect is the MOVED a cluster node answers for a key command it does not
// serve; nil when it serves it (or the command has no key the table knows).
func (f *Front) redirect(name string, args []string, view int, readOnly, asking bool) []byte {
	keys, write := commandKeys(name, args)
	if len(keys) == 0 {
		return nil
	}
	slot := check.KeySlot(keys[0])
	for _, k := range keys[1:] {
		if check.KeySlot(k) != slot {
			return errorReply("CROSSSLOT Keys in request don't hash to the same slot")
		}
	}
	f.cluster.mu.Lock()
	defer f.cluster.mu.Unlock()
	owner := f.cluster.owner(slot)
	if owner == nil {
		return errorReply("CLUSTERDOWN Hash slot not served")
	}
	primary := owner.nodes[owner.primary]
	if f.shard >= 0 && owner == f.cluster.shards[f.shard] {
		if primary == f || asking || (readOnly && !write) {
			return nil
		}
	}
	return errorReply("MOVED " + strconv.Itoa(slot) + " " + primary.Addrs[view])
}

func (c *Cluster) owner(slot int) *shard {
	for _, s := range c.shards {
		for _, r := range s.slots {
			if slot >= r.Start && slot <= r.End {
				return s
			}
		}
	}
	return nil
}

// clusterCommand answers CLUSTER's subcommands from the cluster's layout.
func (f *Front) clusterCommand(args []string, view int) []byte {
	if len(args) == 0 {
		return errorReply("ERR wrong number of arguments for 'cluster' command")
	}
	f.cluster.mu.Lock()
	defer f.cluster.mu.Unlock()
	switch strings.ToUpper(args[0]) {
	case "MYID":
		return bulk(f.ID)
	case "KEYSLOT":
		if len(args) != 2 {
			return errorReply("ERR wrong number of arguments for 'cluster|keyslot' command")
		}
		return integer(check.KeySlot(args[1]))
	case "INFO":
		return bulk(f.cluster.info())
	case "SLOTS":
		return f.cluster.slots(view)
	case "SHARDS":
		return f.cluster.shardsReply(view)
	case "NODES":
		return bulk(f.cluster.nodes(f, view))
	}
	return errorReply("ERR the drill's cluster front does not play CLUSTER " + strings.ToUpper(args[0]))
}

func (c *Cluster) info() string {
	known := 0
	for _, s := range c.shards {
		known += len(s.nodes)
	}
	return fmt.Sprintf("cluster_enabled:1\r\ncluster_state:ok\r\ncluster_slots_assigned:%d\r\ncluster_slots_ok:%d\r\n"+
		"cluster_known_nodes:%d\r\ncluster_size:%d\r\n", check.SlotCount, check.SlotCount, known, len(c.shards))
}

// ordered lists a shard's nodes primary first.
func (s *shard) ordered() []*Front {
	out := []*Front{s.nodes[s.primary]}
	for i, n := range s.nodes {
		if i != s.primary {
			out = append(out, n)
		}
	}
	return out
}

func nodeHostPort(f *Front, view int) (string, int) {
	h, p, _ := net.SplitHostPort(f.Addrs[view])
	port, _ := strconv.Atoi(p)
	return h, port
}

func (c *Cluster) slots(view int) []byte {
	var ranges [][]byte
	for _, s := range c.shards {
		for _, r := range s.slots {
			items := [][]byte{integer(r.Start), integer(r.End)}
			for _, n := range s.ordered() {
				h, p := nodeHostPort(n, view)
				items = append(items, array(bulk(h), integer(p), bulk(n.ID)))
			}
			ranges = append(ranges, array(items...))
		}
	}
	return array(ranges...)
}

func (c *Cluster) shardsReply(view int) []byte {
	var out [][]byte
	for _, s := range c.shards {
		var slots [][]byte
		for _, r := range s.slots {
			slots = append(slots, integer(r.Start), integer(r.End))
		}
		var nodes [][]byte
		for i, n := range s.ordered() {
			h, p := nodeHostPort(n, view)
			role, health := "replica", "online"
			if i == 0 {
				role = "master"
			}
			if n.Stopped() {
				health = "failed"
			}
			nodes = append(nodes, array(bulk("id"), bulk(n.ID), bulk("port"), integer(p), bulk("ip"), bulk(h),
				bulk("endpoint"), bulk(h), bulk("role"), bulk(role), bulk("replication-offset"), integer(0),
				bulk("health"), bulk(health)))
		}
		out = append(out, array(bulk("slots"), array(slots...), bulk("nodes"), array(nodes...)))
	}
	return array(out...)
}

func (c *Cluster) nodes(self *Front, view int) string {
	var b strings.Builder
	for _, s := range c.shards {
		primary := s.nodes[s.primary]
		for i, n := range s.ordered() {
			h, p := nodeHostPort(n, view)
			flags, master := "master", "-"
			if i > 0 {
				flags, master = "slave", primary.ID
			}
			if n == self {
				flags = "myself," + flags
			}
			if n.Stopped() {
				flags += ",fail"
			}
			fmt.Fprintf(&b, "%s %s:%d@%d %s %s 0 0 1 connected", n.ID, h, p, p+10000, flags, master)
			if i == 0 {
				for _, r := range s.slots {
					fmt.Fprintf(&b, " %d-%d", r.Start, r.End)
				}
			}
			b.WriteString("\n")
		}
	}
	return b.String()
}

// Close stops every front of the cluster.
func (c *Cluster) Close() {
	c.mu.Lock()
	all := append([]*Front(nil), c.endpoints...)
	for _, s := range c.shards {
		all = append(all, s.nodes...)
	}
	c.mu.Unlock()
	for _, f := range all {
		f.Stop()
	}
}
