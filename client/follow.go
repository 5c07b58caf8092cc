package client

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
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

	gate setupGate
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
	if err := f.gate.admit(time.Now()); err != nil {
		return nil, err
	}
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
			f.gate.failed(err.Error()) // a connection and a handshake spent
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

	// answered is set by the first reply that is not an error: the
	// connection got past HELLO/AUTH. asked is set by the first write (a
	// connection go-redis only test-dials is closed unasked). closed
	// guards Close's report.
	answered, asked, closed atomic.Bool
	refusal                 atomic.Pointer[string] // the server's error line before that, e.g. WRONGPASS ...
}

// Read notes whether the server answered the connection's setup or
// refused it (WRONGPASS, NOAUTH, max number of clients, NOPERM on HELLO).
func (c *trackedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && !c.answered.Load() {
		if p[0] != '-' {
			c.answered.Store(true)
			c.f.gate.ok()
		} else if c.refusal.Load() == nil {
			line, _, _ := strings.Cut(string(p[1:n]), "\r\n")
			c.refusal.Store(&line)
		}
	}
	return n, err
}

// Close reports a connection that was asked something and closed before
// any good answer as a failed setup, which spaces the next dials
// (setupGate).
func (c *trackedConn) Close() error {
	if c.asked.Load() && !c.answered.Load() && c.closed.CompareAndSwap(false, true) {
		why := "closed before its first answer"
		if r := c.refusal.Load(); r != nil {
			why = *r
		}
		c.f.gate.failed(why)
	}
	return c.Conn.Close()
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
	c.asked.Store(true)
	return c.Conn.Write(p)
}

// noPeek is a syscall.RawConn whose checks find nothing to report.
type noPeek struct{}

func (noPeek) Control(func(fd uintptr)) error    { return nil }
func (noPeek) Read(func(fd uintptr) bool) error  { return nil }
func (noPeek) Write(func(fd uintptr) bool) error { return nil }

// setupGate spaces dials while connections keep failing before their first
// good answer: a wrong password or user, an ACL without HELLO, a full server
// (maxclients), a certificate that does not verify. A quick retry fixes none
// of these, and a pool with many callers would otherwise open a connection
// (and a TLS handshake) per command: hundreds a second, which keeps a full
// server full and fills its log. go-redis's own dial back-off sees only
// dials that fail, not connections refused after the dial.
//
// After n such failures in a row, one dial is let through every
// min(5 ms·2ⁿ⁻¹, 50 ms), the cap jittered to 50–75 ms: at most 20 new
// connections a second once the streak is four long, i.e. well within the
// first second. Other dials in between fail at once with a *SetupError
// naming the last failure. A connection that gets a good answer ends the
// streak.
type setupGate struct {
	streak atomic.Int64
	next   atomic.Int64 // unix nanoseconds before which no dial starts
	last   atomic.Pointer[string]
}

// Spacing of the dials during a streak of failed setups.
const (
	setupBackoffBase = 5 * time.Millisecond
	setupBackoffCap  = 50 * time.Millisecond
)

// spacing is the time between dials after n failed setups in a row.
func (g *setupGate) spacing(n int64) time.Duration {
	if n <= 0 {
		return 0
	}
	if n < 5 {
		return min(setupBackoffCap, setupBackoffBase<<(n-1))
	}
	return setupBackoffCap + time.Duration(rand.Int64N(int64(setupBackoffCap/2)))
}

// admit lets a dial start now, or says why not.
func (g *setupGate) admit(now time.Time) error {
	n := g.streak.Load()
	if n == 0 {
		return nil
	}
	for {
		next := g.next.Load()
		if now.UnixNano() < next {
			why := "a connection failed"
			if l := g.last.Load(); l != nil {
				why = *l
			}
			return &SetupError{Failures: n, Wait: time.Duration(next - now.UnixNano()), Last: why}
		}
		if g.next.CompareAndSwap(next, now.Add(g.spacing(n)).UnixNano()) {
			return nil
		}
	}
}

// failed notes a connection that failed its setup.
func (g *setupGate) failed(why string) {
	g.last.Store(&why)
	n := g.streak.Add(1)
	at := time.Now().Add(g.spacing(n)).UnixNano()
	for {
		next := g.next.Load()
		if next >= at || g.next.CompareAndSwap(next, at) {
			return
		}
	}
}

// ok notes a connection that got a good answer.
func (g *setupGate) ok() {
	if g.streak.Load() != 0 {
		g.streak.Store(0)
	}
}

// SetupError is what a dial returns, without connecting, while the client
// spaces its dials after connections that failed before their first good
// answer (see Config's package documentation).
type SetupError struct {
	// Failures is how many connections in a row failed their setup.
	Failures int64
	// Wait is how long until the next dial may start.
	Wait time.Duration
	// Last is the last failure, e.g. the server's "WRONGPASS ..." line.
	Last string
}

func (e *SetupError) Error() string {
	return fmt.Sprintf("client: not connecting for another %s: the last %d connection(s) failed before their first answer: %s",
		e.Wait.Round(time.Millisecond), e.Failures, e.Last)
}
