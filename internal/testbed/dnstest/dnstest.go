// Package dnstest is a small authoritative DNS server on loopback for tests:
// names answer with a CNAME or with IPv4 addresses, and a record can be
// changed at any moment, as a Route 53 failover record flips. Resolver
// returns a net.Resolver that asks only this server.
package dnstest

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/miekg/dns"
)

// Server answers A and CNAME questions from a mutable table.
type Server struct {
	// Addr is the UDP address the server listens on (127.0.0.1:port).
	Addr string

	srv     *dns.Server
	queries atomic.Int64

	mu     sync.Mutex
	cnames map[string]string
	addrs  map[string][]netip.Addr
	ttl    uint32
}

// Start starts a server on a free loopback UDP port, stopped at cleanup.
func Start(t testing.TB) *Server {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("dnstest: listen: %v", err)
	}
	s := &Server{Addr: pc.LocalAddr().String(), cnames: map[string]string{}, addrs: map[string][]netip.Addr{}, ttl: 1}
	started := make(chan struct{})
	s.srv = &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(s.serve), NotifyStartedFunc: func() { close(started) }}
	go func() { _ = s.srv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() { _ = s.srv.Shutdown() })
	return s
}

// CNAME makes name an alias of target, replacing any record of name.
func (s *Server) CNAME(name, target string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.addrs, fqdn(name))
	s.cnames[fqdn(name)] = fqdn(target)
}

// A makes name answer with the given IPv4 addresses, replacing any record of name.
func (s *Server) A(name string, ips ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.cnames, fqdn(name))
	var as []netip.Addr
	for _, ip := range ips {
		as = append(as, netip.MustParseAddr(ip))
	}
	s.addrs[fqdn(name)] = as
}

// Queries is the number of questions answered so far.
func (s *Server) Queries() int64 { return s.queries.Load() }

// Resolver returns a pure-Go resolver that sends every question to s.
func (s *Server) Resolver() *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", s.Addr)
	}}
}

func (s *Server) serve(w dns.ResponseWriter, req *dns.Msg) {
	s.queries.Add(1)
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	if len(req.Question) == 1 {
		s.answer(m, req.Question[0])
	}
	_ = w.WriteMsg(m)
}

// answer follows the CNAME chain from the question's name and adds the
// final name's addresses for an A question, as a recursive resolver does.
func (s *Server) answer(m *dns.Msg, q dns.Question) {
	s.mu.Lock()
	defer s.mu.Unlock()
	name := strings.ToLower(q.Name)
	for hops := 0; hops < 8; hops++ {
		if target, ok := s.cnames[name]; ok {
			m.Answer = append(m.Answer, &dns.CNAME{Hdr: s.hdr(name, dns.TypeCNAME), Target: target})
			if q.Qtype == dns.TypeCNAME {
				return
			}
			name = target
			continue
		}
		ips, ok := s.addrs[name]
		if !ok {
			if len(m.Answer) == 0 {
				m.Rcode = dns.RcodeNameError
			}
			return
		}
		if q.Qtype == dns.TypeA {
			for _, ip := range ips {
				m.Answer = append(m.Answer, &dns.A{Hdr: s.hdr(name, dns.TypeA), A: net.IP(ip.AsSlice())})
			}
		}
		return
	}
}

func (s *Server) hdr(name string, typ uint16) dns.RR_Header {
	return dns.RR_Header{Name: name, Rrtype: typ, Class: dns.ClassINET, Ttl: s.ttl}
}

func fqdn(name string) string { return dns.Fqdn(strings.ToLower(name)) }
