package client

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// follower dials the endpoint a name points to now and tells which pooled
// connections no longer lead there.
type follower struct {
	host, port  string
	resolver    *net.Resolver
	dialer      net.Dialer
	dialTimeout time.Duration
	recheck     time.Duration
	tls         *tls.Config
	allowed     []string // the names the chain may end at, lower-case, no trailing dot; nil: any
	checkRole   bool

	// dials numbers connections in dial order; those numbered below
	// retiredBelow are retired.
	dials        atomic.Uint64
	retiredBelow atomic.Uint64
	// current is the newest answer for the name, from a dial or a recheck.
	current    atomic.Pointer[resolution]
	lookups    atomic.Uint64
	lastLookup atomic.Int64 // unix nanoseconds
	rechecking atomic.Bool
}

// resolution is one answer for the name: where its CNAME chain ends and
// that name's addresses.
type resolution struct {
	name  string
	ips   []netip.Addr
	order uint64 // lookups are ordered by start, so a slow old answer cannot replace a newer one
}

func (r *resolution) has(name string, ip netip.Addr) bool {
	return r.name == name && slices.Contains(r.ips, ip)
}

func newFollower(c Config) *follower {
	host, port, _ := net.SplitHostPort(c.Addr)
	f := &follower{
		host:        host,
		port:        port,
		resolver:    c.Resolver,
		dialTimeout: orDefault(c.DialTimeout, DefaultDialTimeout),
		recheck:     orDefault(c.RecheckInterval, DefaultRecheckInterval),
		tls:         baseTLS(c),
		checkRole:   !c.AllowReplica,
	}
	if f.resolver == nil {
		f.resolver = net.DefaultResolver
	}
	f.dialer = net.Dialer{Timeout: f.dialTimeout, Resolver: f.resolver}
	names := c.TLSNames
	if len(names) == 0 {
		names = DefaultTLSNames
	}
	if f.tls != nil && !c.TLSAnyName {
		for _, n := range names {
			f.allowed = append(f.allowed, canonical(n))
		}
	}
	return f
}

func canonical(name string) string { return strings.ToLower(strings.TrimSuffix(name, ".")) }

// resolve looks up where the name's CNAME chain ends now and that name's
// addresses, and remembers the answer if no newer one is known.
func (f *follower) resolve(ctx context.Context) (*resolution, error) {
	r := &resolution{order: f.lookups.Add(1)}
	f.lastLookup.Store(time.Now().UnixNano())
	if ip, err := netip.ParseAddr(f.host); err == nil {
		r.name, r.ips = f.host, []netip.Addr{ip}
		return r, nil
	}
	name, query, err := f.chainEnd(ctx)
	if err != nil {
		return nil, err
	}
	r.name = name
	ips, err := f.resolver.LookupNetIP(ctx, "ip", query)
	if err != nil {
		return nil, err
	}
	for _, ip := range ips {
		r.ips = append(r.ips, ip.Unmap())
	}
	for {
		cur := f.current.Load()
		if cur != nil && cur.order > r.order {
			return r, nil
		}
		if f.current.CompareAndSwap(cur, r) {
			return r, nil
		}
	}
}

// maxHops bounds a CNAME chain; Kubernetes' ExternalName Service adds one
// hop in front of redis.internal, which adds one in front of the endpoint.
const maxHops = 8

// chainEnd follows the name's CNAME chain to its end, and returns that
// name and how to query it. It asks again from each hop because Go's own
// resolver answers LookupCNAME with the first hop of a longer chain (the
// first CNAME record of the answer).
func (f *follower) chainEnd(ctx context.Context) (name, query string, err error) {
	// The name as given is looked up with the resolver's search list and
	// hosts file (Kubernetes: redis → redis.default.svc.cluster.local);
	// every later hop is absolute.
	query, name = f.host, canonical(f.host)
	for hop := 0; hop < maxHops; hop++ {
		next, err := f.resolver.LookupCNAME(ctx, query)
		if err != nil {
			return "", "", err
		}
		if next = canonical(next); next == name {
			return name, query, nil
		}
		query, name = next+".", next
	}
	return "", "", &net.DNSError{Err: fmt.Sprintf("CNAME chain longer than %d hops", maxHops), Name: f.host}
}

// dial is the go-redis Dialer: resolve afresh, connect to the first address
// that answers, and verify TLS against the name the chain ends at.
func (f *follower) dial(ctx context.Context, network, _ string) (net.Conn, error) {
	seq := f.dials.Add(1)
	ctx, cancel := context.WithTimeout(ctx, f.dialTimeout)
	defer cancel()
	r, err := f.resolve(ctx)
	if err != nil {
		return nil, err
	}
	if f.allowed != nil && !nameAllowed(f.allowed, r.name) {
		return nil, &NameError{Host: f.host, Name: r.name, Allowed: f.allowed}
	}
	if len(r.ips) == 0 {
		return nil, &net.DNSError{Err: "no addresses", Name: r.name, IsNotFound: true}
	}
	var conn net.Conn
	var ip netip.Addr
	for _, ip = range r.ips {
		if conn, err = f.dialer.DialContext(ctx, network, net.JoinHostPort(ip.String(), f.port)); err == nil {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	if f.tls != nil {
		tc := f.tls.Clone()
		tc.ServerName = r.name
		tconn := tls.Client(conn, tc)
		if err := tconn.HandshakeContext(ctx); err != nil {
			_ = conn.Close()
			return nil, err
		}
		conn = tconn
	}
	return &trackedConn{Conn: conn, f: f, seq: seq, name: r.name, ip: ip}, nil
}

// nameAllowed reports whether name is in allowed, where an entry
// "*.example.com" stands for every name under example.com.
func nameAllowed(allowed []string, name string) bool {
	for _, a := range allowed {
		if a == name || strings.HasPrefix(a, "*.") && strings.HasSuffix(name, a[1:]) {
			return true
		}
	}
	return false
}

// retireAll retires every connection dialed so far.
func (f *follower) retireAll() { f.retiredBelow.Store(f.dials.Load() + 1) }

// maybeRecheck resolves the name again in the background when the last
// answer is older than the recheck interval. It runs on connection use, so
// an idle client sends no queries.
func (f *follower) maybeRecheck() {
	if f.recheck <= 0 || time.Now().UnixNano()-f.lastLookup.Load() < int64(f.recheck) {
		return
	}
	if !f.rechecking.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer f.rechecking.Store(false)
		ctx, cancel := context.WithTimeout(context.Background(), f.dialTimeout)
		defer cancel()
		_, _ = f.resolve(ctx) // a failed lookup keeps the last answer: DNS trouble retires nothing
	}()
}

// NameError means the name's CNAME chain ended at a name that
// Config.TLSNames (or DefaultTLSNames) does not allow; nothing was sent.
type NameError struct {
	// Host is Addr's host; Name is where its chain ended.
	Host, Name string
	// Allowed are the names accepted.
	Allowed []string
}

func (e *NameError) Error() string {
	return fmt.Sprintf("client: %s resolves to %s, which is not in TLSNames %v: add it to TLSNames (or fix the DNS record); nothing was sent to it",
		e.Host, e.Name, e.Allowed)
}

// errRetired is what a retired connection returns instead of sending.
var errRetired = errors.New("client: connection retired: the name now points elsewhere or the endpoint turned read-only")

// trackedConn is a pooled connection that knows which endpoint it reached.
// go-redis health-checks an idle connection through SyscallConn before each
// use: a retired one fails that check and is closed without a retry.
type trackedConn struct {
	net.Conn
	f    *follower
	seq  uint64
	name string
	ip   netip.Addr
}

func (c *trackedConn) retired() bool {
	if c.seq < c.f.retiredBelow.Load() {
		return true
	}
	r := c.f.current.Load()
	return r != nil && !r.has(c.name, c.ip)
}

// SyscallConn is how go-redis's pool checks an idle connection before use.
func (c *trackedConn) SyscallConn() (syscall.RawConn, error) {
	c.f.maybeRecheck()
	if c.retired() {
		return nil, errRetired
	}
	if sc, ok := c.Conn.(syscall.Conn); ok {
		return sc.SyscallConn()
	}
	// TLS: go-redis does not peek under TLS (an unread record is not a
	// reply); neither do we.
	return noPeek{}, nil
}

// Write refuses to send on a retired connection, for any path that skips
// the pool's check. Nothing reaches the server, so a retry runs the command
// once.
func (c *trackedConn) Write(p []byte) (int, error) {
	if c.retired() {
		return 0, &net.OpError{Op: "write", Net: "tcp", Addr: c.RemoteAddr(), Err: errRetired}
	}
	return c.Conn.Write(p)
}

// noPeek is a syscall.RawConn whose checks find nothing to report.
type noPeek struct{}

func (noPeek) Control(func(fd uintptr)) error    { return nil }
func (noPeek) Read(func(fd uintptr) bool) error  { return nil }
func (noPeek) Write(func(fd uintptr) bool) error { return nil }
