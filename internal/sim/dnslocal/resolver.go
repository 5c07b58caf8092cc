package dnslocal

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/redisha/redisha/internal/sim/timescale"
)

// Resolver is a caching stub resolver that asks one server, as an
// application in a VPC asks the VPC resolver: each record set is kept for
// its TTL, measured on the scenario clock, so a scaled drill sees TTLs
// shrink with everything else. Its methods are safe for concurrent use.
type Resolver struct {
	server string
	clock  *timescale.Clock
	client *dns.Client

	mu    sync.Mutex
	cache map[cacheKey]cached
}

type cacheKey struct {
	name  string
	rtype uint16
}

type cached struct {
	rrs     []dns.RR
	expires time.Time // scenario time
}

// NewResolver asks server (host:port) and keeps answers for their TTL on
// clock; a nil clock is real time.
func NewResolver(server string, clock *timescale.Clock) *Resolver {
	if clock == nil {
		clock, _ = timescale.New(1)
	}
	return &Resolver{server: server, clock: clock, client: &dns.Client{Net: "udp"}, cache: map[cacheKey]cached{}}
}

// Flush forgets every cached answer.
func (r *Resolver) Flush() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cache = map[cacheKey]cached{}
}

// maxChain bounds CNAME chains, as resolvers do, against loops.
const maxChain = 8

// Resolve returns the IPv4 addresses of host and the CNAME chain followed
// (empty when host has an A record itself). An IP literal resolves to
// itself.
func (r *Resolver) Resolve(ctx context.Context, host string) ([]net.IP, []string, error) {
	if ip := net.ParseIP(host); ip != nil {
		return []net.IP{ip}, nil, nil
	}
	name := dns.Fqdn(strings.ToLower(host))
	var chain []string
	for range maxChain {
		if rrs, ok := r.lookupCache(name, dns.TypeCNAME); ok {
			name = rrs[0].(*dns.CNAME).Target
			chain = append(chain, name)
			continue
		}
		if rrs, ok := r.lookupCache(name, dns.TypeA); ok {
			ips := make([]net.IP, 0, len(rrs))
			for _, rr := range rrs {
				ips = append(ips, rr.(*dns.A).A)
			}
			return ips, chain, nil
		}
		if err := r.query(ctx, name); err != nil {
			return nil, chain, err
		}
		if _, okC := r.lookupCache(name, dns.TypeCNAME); !okC {
			if _, okA := r.lookupCache(name, dns.TypeA); !okA {
				return nil, chain, &net.DNSError{Err: "no A record", Name: host, Server: r.server, IsNotFound: true}
			}
		}
	}
	return nil, chain, &net.DNSError{Err: "CNAME chain too long", Name: host, Server: r.server}
}

func (r *Resolver) lookupCache(name string, rtype uint16) ([]dns.RR, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.cache[cacheKey{name, rtype}]
	if !ok || !r.clock.Now().Before(c.expires) {
		return nil, false
	}
	return c.rrs, true
}

// query asks for name's A records and caches every record set answered.
func (r *Resolver) query(ctx context.Context, name string) error {
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	in, _, err := r.client.ExchangeContext(ctx, m, r.server)
	if err != nil {
		return &net.DNSError{Err: err.Error(), Name: name, Server: r.server, IsTimeout: ctx.Err() != nil}
	}
	if in.Rcode == dns.RcodeNameError {
		return &net.DNSError{Err: "no such host", Name: name, Server: r.server, IsNotFound: true}
	}
	if in.Rcode != dns.RcodeSuccess {
		return &net.DNSError{Err: dns.RcodeToString[in.Rcode], Name: name, Server: r.server}
	}
	now := r.clock.Now()
	sets := map[cacheKey]cached{}
	for _, rr := range in.Answer {
		h := rr.Header()
		k := cacheKey{strings.ToLower(h.Name), h.Rrtype}
		c := sets[k]
		c.rrs = append(c.rrs, rr)
		exp := now.Add(time.Duration(h.Ttl) * time.Second)
		if c.expires.IsZero() || exp.Before(c.expires) {
			c.expires = exp
		}
		sets[k] = c
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for k, c := range sets {
		r.cache[k] = c
	}
	return nil
}

// DialContext resolves addr's host through the resolver and dials the
// first address; it fits redis.Options.Dialer.
func (r *Resolver) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	ips, _, err := r.Resolve(ctx, host)
	if err != nil {
		return nil, err
	}
	if len(ips) == 0 {
		return nil, fmt.Errorf("dial %s: no address", addr)
	}
	var d net.Dialer
	return d.DialContext(ctx, network, net.JoinHostPort(ips[0].String(), port))
}
