// Package dnslocal is a Route 53 private hosted zone on loopback: a real DNS
// server (github.com/miekg/dns) that answers one name, redis.internal by
// default, with failover-routing semantics driven by health checks, and
// answers the endpoint names the records point to with A records on
// 127.0.0.0/8, so clients resolve through it end to end. A health check is
// either of type CLOUDWATCH_METRIC (HealthCheck, following an alarm) or of
// type HTTP (EndpointCheck, whose health checkers request a URL on
// loopback; see its doc for the rules it follows). AddTXTGroup adds TXT
// failover pairs answered by the same rules, such as a region's witness:
// PRIMARY "writable" with the region's endpoint check, SECONDARY
// "not-writable" without one, so a reader in the other region learns what
// Route 53's health checkers see.
//
// The semantics follow the Route 53 Developer Guide:
//   - routing-policy-failover.html: the PRIMARY record is answered while it
//     is healthy, the SECONDARY one otherwise;
//   - health-checks-how-route-53-chooses-records.html: "Records without a
//     health check are always healthy"; "If no record is healthy, all records
//     are healthy … Route 53 considers all the records in the group to be
//     healthy", so with both unhealthy the PRIMARY is answered ("If Route 53
//     considers both the primary and secondary records unhealthy, Route 53
//     returns the primary record");
//   - HealthCheckConfig.InsufficientDataHealthStatus (API reference): with
//     an alarm in INSUFFICIENT_DATA the check is Healthy, Unhealthy, or
//     LastKnownStatus ("the status of the health check from the last time
//     that CloudWatch had sufficient data … For new health checks that have
//     no last known status, the default status for the health check is
//     healthy").
//
// TTLs go on the wire as configured (real scale): DNS TTLs are whole
// seconds, so 10 s at speed 30 would round to 0. The caching Resolver in
// this package, the stand-in for the VPC resolver and the clients' caches,
// holds each answer for its TTL on the scenario clock, which is where the
// scaling happens.
package dnslocal

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/redisha/redisha/internal/sim/alarmeval"
	"github.com/redisha/redisha/internal/sim/timescale"
)

// InsufficientData is a health check's InsufficientDataHealthStatus.
type InsufficientData string

// What a CLOUDWATCH_METRIC health check reports while its alarm is in
// INSUFFICIENT_DATA.
const (
	Healthy         InsufficientData = "Healthy"
	Unhealthy       InsufficientData = "Unhealthy"
	LastKnownStatus InsufficientData = "LastKnownStatus"
)

// HealthCheck is a Route 53 health check of type CLOUDWATCH_METRIC: its
// status is its alarm's state (OK healthy, ALARM unhealthy).
type HealthCheck struct {
	// Name labels the check in answers' logs and timelines.
	Name string
	// Alarm reads the alarm's state, e.g. alarmeval.Evaluator.StateFunc.
	Alarm func() alarmeval.State
	// InsufficientDataHealthStatus. default: LastKnownStatus (the value
	// CloudFormation and CDK give a CLOUDWATCH_METRIC check left unset)
	InsufficientDataHealthStatus InsufficientData
	// Lag is how long Route 53 takes to follow a change of the alarm's
	// state, on Clock. AWS does not document it; the design assumes about
	// 30 s. default: 0 (follows at once)
	Lag time.Duration
	// Clock keeps Lag's time. default: real time
	Clock *timescale.Clock
	// Inverted reports the opposite status ("Invert health check status").
	Inverted bool

	mu        sync.Mutex
	lastKnown *bool
	seen      []seenState // alarm states within Lag, oldest first
}

type seenState struct {
	at    time.Time
	state alarmeval.State
}

// lagged returns the alarm state Route 53 acts on: the one in effect Lag
// ago (the oldest one seen, until Lag has passed since it was).
func (h *HealthCheck) lagged(st alarmeval.State) alarmeval.State {
	if h.Lag <= 0 {
		return st
	}
	now := time.Now()
	if h.Clock != nil {
		now = h.Clock.Now()
	}
	if n := len(h.seen); n == 0 || h.seen[n-1].state != st {
		h.seen = append(h.seen, seenState{at: now, state: st})
	}
	// Drop the states superseded before now−Lag, keeping the one in effect.
	for len(h.seen) > 1 && !h.seen[1].at.After(now.Add(-h.Lag)) {
		h.seen = h.seen[1:]
	}
	return h.seen[0].state
}

// Healthy is the check's status now. A nil *HealthCheck is no health check:
// always healthy.
func (h *HealthCheck) Healthy() bool {
	if h == nil {
		return true
	}
	return h.healthy() != h.Inverted
}

func (h *HealthCheck) healthy() bool {
	st := h.Alarm()
	h.mu.Lock()
	defer h.mu.Unlock()
	st = h.lagged(st)
	switch st {
	case alarmeval.StateOK:
		ok := true
		h.lastKnown = &ok
		return true
	case alarmeval.StateAlarm:
		ok := false
		h.lastKnown = &ok
		return false
	}
	switch h.InsufficientDataHealthStatus {
	case Healthy:
		return true
	case Unhealthy:
		return false
	default:
		return h.lastKnown == nil || *h.lastKnown
	}
}

// Check is a Route 53 health check as a record sees it: its status now.
// *HealthCheck (CLOUDWATCH_METRIC) and *EndpointCheck (HTTP) satisfy it.
type Check interface {
	Healthy() bool
}

var (
	_ Check = (*HealthCheck)(nil)
	_ Check = (*EndpointCheck)(nil)
)

// healthy is a record's status: "Records without a health check are always
// healthy". A nil pointer in the interface counts as no check too (both
// kinds answer healthy on a nil receiver), as a nil *HealthCheck did when
// Record held that type.
func healthy(c Check) bool { return c == nil || c.Healthy() }

// failover applies the group's rules: the PRIMARY while it is healthy, the
// SECONDARY when the PRIMARY is not and the SECONDARY is, and the PRIMARY
// when neither is ("If no record is healthy, all records are healthy").
func failover(primary, secondary Check) Failover {
	if !healthy(primary) && healthy(secondary) {
		return Secondary
	}
	return Primary
}

// Record is one failover record of the group.
type Record struct {
	// Target is the CNAME's value: an endpoint name.
	Target string
	// HealthCheck may be nil: the record is then always healthy.
	HealthCheck Check
}

// Failover says which record of the group an answer came from.
type Failover string

// The two failover record types.
const (
	Primary   Failover = "PRIMARY"
	Secondary Failover = "SECONDARY"
)

// Options shape the zone.
type Options struct {
	// Name is the failover name. default: redis.internal
	Name string
	// TTL of the failover CNAMEs. default: 10s (the design's record TTL)
	TTL time.Duration
	// HostTTL of the endpoint names' A records. ElastiCache does not
	// document its endpoints' TTL. default: 5s
	HostTTL time.Duration
	// Addr to listen on (UDP and TCP). default: 127.0.0.1 on a free port
	Addr string
	// PollInterval is how often (wall time) the health checks read their
	// alarms between queries, as Route 53's checkers do on their own
	// schedule; it keeps LastKnownStatus and Changes current. default: 20ms
	PollInterval time.Duration
}

func (o Options) withDefaults() Options {
	if o.Name == "" {
		o.Name = "redis.internal"
	}
	if o.TTL == 0 {
		o.TTL = 10 * time.Second
	}
	if o.HostTTL == 0 {
		o.HostTTL = 5 * time.Second
	}
	if o.Addr == "" {
		o.Addr = "127.0.0.1:0"
	}
	if o.PollInterval == 0 {
		o.PollInterval = 20 * time.Millisecond
	}
	return o
}

// Server is the zone's DNS server. Its methods are safe for concurrent use.
type Server struct {
	opts               Options
	name               string // fully qualified
	primary, secondary Record

	udp, tcp *dns.Server
	addr     string
	quit     chan struct{}
	once     sync.Once

	mu      sync.Mutex
	hosts   map[string]net.IP // fully qualified endpoint name → address
	queries int
	last    Failover
	changes []Change
	txt     map[string]*txtGroup // fully qualified name → TXT failover group
	now     func() time.Time
}

// Change is a change of the failover answer, as observed by a query or by
// Choose.
type Change struct {
	At     time.Time
	To     Failover
	Target string
}

// Start serves the failover group on loopback. primary.Target and
// secondary.Target must be endpoint names; give their addresses with
// SetHost.
func Start(o Options, primary, secondary Record) (*Server, error) {
	o = o.withDefaults()
	if primary.Target == "" || secondary.Target == "" {
		return nil, errors.New("dnslocal: primary and secondary Target are required: give each record its endpoint name")
	}
	host, _, err := net.SplitHostPort(o.Addr)
	if err != nil {
		return nil, fmt.Errorf("dnslocal: Addr %q: %w: use host:port", o.Addr, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("dnslocal: Addr %q: listen on a loopback address", o.Addr)
	}
	s := &Server{opts: o, name: dns.Fqdn(strings.ToLower(o.Name)), primary: primary, secondary: secondary,
		hosts: map[string]net.IP{}, txt: map[string]*txtGroup{}, now: time.Now, quit: make(chan struct{})}
	pc, ln, err := listen(o.Addr)
	if err != nil {
		return nil, err
	}
	s.addr = pc.LocalAddr().String()
	h := dns.HandlerFunc(s.serve)
	s.udp = &dns.Server{PacketConn: pc, Handler: h}
	s.tcp = &dns.Server{Listener: ln, Handler: h}
	started := make(chan struct{}, 2)
	s.udp.NotifyStartedFunc = func() { started <- struct{}{} }
	s.tcp.NotifyStartedFunc = func() { started <- struct{}{} }
	go func() { _ = s.udp.ActivateAndServe() }()
	go func() { _ = s.tcp.ActivateAndServe() }()
	for range 2 {
		select {
		case <-started:
		case <-time.After(5 * time.Second):
			s.Close()
			return nil, errors.New("dnslocal: server did not start within 5s")
		}
	}
	s.Choose()
	go s.poll()
	return s, nil
}

func (s *Server) poll() {
	t := time.NewTicker(s.opts.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			s.Choose()
			for _, name := range s.txtNames() {
				s.ChooseTXT(name)
			}
		case <-s.quit:
			return
		}
	}
}

// listen opens UDP and TCP on the same port; with port 0 it tries other
// free UDP ports when the TCP port of the same number is taken.
func listen(addr string) (net.PacketConn, net.Listener, error) {
	_, port, _ := net.SplitHostPort(addr)
	var err error
	for range 10 {
		var pc net.PacketConn
		if pc, err = net.ListenPacket("udp", addr); err != nil {
			return nil, nil, fmt.Errorf("dnslocal: listen udp %s: %w", addr, err)
		}
		var ln net.Listener
		if ln, err = net.Listen("tcp", pc.LocalAddr().String()); err == nil {
			return pc, ln, nil
		}
		pc.Close()
		if port != "0" {
			break
		}
	}
	return nil, nil, fmt.Errorf("dnslocal: listen tcp on %s: %w", addr, err)
}

// Addr is the server's host:port (UDP and TCP).
func (s *Server) Addr() string { return s.addr }

// Name is the failover name, fully qualified.
func (s *Server) Name() string { return s.name }

// Close stops the server.
func (s *Server) Close() {
	s.once.Do(func() { close(s.quit) })
	_ = s.udp.Shutdown()
	_ = s.tcp.Shutdown()
}

// SetHost answers name with an A record for ip (a loopback address), as an
// endpoint's DNS name resolves to its node; setting it again moves the name,
// as an in-region failover does.
func (s *Server) SetHost(name string, ip net.IP) error {
	if ip4 := ip.To4(); ip4 == nil || !ip4.IsLoopback() {
		return fmt.Errorf("dnslocal: SetHost %s: %s is not an IPv4 loopback address: use 127.0.0.0/8", name, ip)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hosts[dns.Fqdn(strings.ToLower(name))] = ip.To4()
	return nil
}

// Queries is how many queries were answered.
func (s *Server) Queries() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queries
}

// Choose applies the failover rules now and returns the record answered.
func (s *Server) Choose() (Failover, Record) {
	which, rec := Primary, s.primary
	if failover(s.primary.HealthCheck, s.secondary.HealthCheck) == Secondary {
		rec = s.secondary
		which = Secondary
	}
	s.mu.Lock()
	if which != s.last {
		s.last = which
		s.changes = append(s.changes, Change{At: s.now(), To: which, Target: rec.Target})
	}
	s.mu.Unlock()
	return which, rec
}

// Changes lists the changes of the answer seen so far (the first entry is
// the first answer).
func (s *Server) Changes() []Change {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Change(nil), s.changes...)
}

func ttlSeconds(d time.Duration) uint32 { return uint32(d.Round(time.Second) / time.Second) }

func (s *Server) serve(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	s.mu.Lock()
	s.queries++
	s.mu.Unlock()
	if len(req.Question) != 1 {
		m.Rcode = dns.RcodeFormatError
		_ = w.WriteMsg(m)
		return
	}
	q := req.Question[0]
	qname := strings.ToLower(q.Name)
	switch {
	case qname == s.name:
		_, rec := s.Choose()
		target := dns.Fqdn(strings.ToLower(rec.Target))
		m.Answer = append(m.Answer, &dns.CNAME{
			Hdr:    dns.RR_Header{Name: q.Name, Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: ttlSeconds(s.opts.TTL)},
			Target: target,
		})
		if q.Qtype == dns.TypeA || q.Qtype == dns.TypeANY {
			if a := s.a(target); a != nil {
				m.Answer = append(m.Answer, a)
			}
		}
	default:
		// A name may have a TXT group and an A record; asked for a type it
		// lacks, it is NOERROR with no answer, not NXDOMAIN.
		txt, a := s.hasTXT(qname), s.a(qname)
		if !txt && a == nil {
			m.Rcode = dns.RcodeNameError
			break
		}
		if txt && (q.Qtype == dns.TypeTXT || q.Qtype == dns.TypeANY) {
			m.Answer = append(m.Answer, s.txtAnswer(q))
		}
		if a != nil && (q.Qtype == dns.TypeA || q.Qtype == dns.TypeANY) {
			m.Answer = append(m.Answer, a)
		}
	}
	_ = w.WriteMsg(m)
}

func (s *Server) a(name string) *dns.A {
	s.mu.Lock()
	ip := s.hosts[name]
	s.mu.Unlock()
	if ip == nil {
		return nil
	}
	return &dns.A{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: ttlSeconds(s.opts.HostTTL)}, A: ip}
}
