package dnslocal_test

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/redisha/redisha/internal/sim/alarmeval"
	"github.com/redisha/redisha/internal/sim/dnslocal"
	"github.com/redisha/redisha/internal/sim/timescale"
)

const (
	endpointA = "master.redis-a.use1.cache.internal"
	endpointB = "master.redis-b.usw2.cache.internal"
)

// alarm is a settable alarm state.
type alarm struct {
	mu sync.Mutex
	s  alarmeval.State
}

func (a *alarm) set(s alarmeval.State) { a.mu.Lock(); a.s = s; a.mu.Unlock() }
func (a *alarm) get() alarmeval.State  { a.mu.Lock(); defer a.mu.Unlock(); return a.s }

type zone struct {
	srv        *dnslocal.Server
	alarmA     *alarm
	alarmB     *alarm
	hcA, hcB   *dnslocal.HealthCheck
	secondary  dnslocal.Record
	primaryRec dnslocal.Record
}

func start(t *testing.T, o dnslocal.Options, secondaryChecked bool, insufficient dnslocal.InsufficientData) *zone {
	t.Helper()
	z := &zone{alarmA: &alarm{s: alarmeval.StateOK}, alarmB: &alarm{s: alarmeval.StateOK}}
	z.hcA = &dnslocal.HealthCheck{Name: "a-writable", Alarm: z.alarmA.get, InsufficientDataHealthStatus: insufficient}
	z.hcB = &dnslocal.HealthCheck{Name: "b-writable", Alarm: z.alarmB.get, InsufficientDataHealthStatus: insufficient}
	z.primaryRec = dnslocal.Record{Target: endpointA, HealthCheck: z.hcA}
	z.secondary = dnslocal.Record{Target: endpointB}
	if secondaryChecked {
		z.secondary.HealthCheck = z.hcB
	}
	srv, err := dnslocal.Start(o, z.primaryRec, z.secondary)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	if err := srv.SetHost(endpointA, net.ParseIP("127.0.0.11")); err != nil {
		t.Fatal(err)
	}
	if err := srv.SetHost(endpointB, net.ParseIP("127.0.0.12")); err != nil {
		t.Fatal(err)
	}
	z.srv = srv
	return z
}

// ask sends one real DNS query over UDP.
func ask(t *testing.T, server, name string, qtype uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	in, _, err := (&dns.Client{}).ExchangeContext(ctx, m, server)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// cname returns the target the server gives for redis.internal.
func cname(t *testing.T, z *zone) string {
	t.Helper()
	in := ask(t, z.srv.Addr(), "redis.internal", dns.TypeA)
	for _, rr := range in.Answer {
		if c, ok := rr.(*dns.CNAME); ok {
			return strings.TrimSuffix(c.Target, ".")
		}
	}
	t.Fatalf("no CNAME in %v", in)
	return ""
}

// Route 53 failover routing: the primary while healthy, the secondary once
// the primary is unhealthy and the secondary healthy, the primary again when
// both are unhealthy; a SECONDARY without a health check is always healthy.
func TestFailoverRouting(t *testing.T) {
	ok, bad, none := alarmeval.StateOK, alarmeval.StateAlarm, alarmeval.StateInsufficientData
	for _, tc := range []struct {
		name             string
		secondaryChecked bool
		insufficient     dnslocal.InsufficientData
		a, b             alarmeval.State
		want             string
	}{
		{"both healthy", true, dnslocal.Unhealthy, ok, ok, endpointA},
		{"primary unhealthy", true, dnslocal.Unhealthy, bad, ok, endpointB},
		{"both unhealthy: all considered healthy, primary answered", true, dnslocal.Unhealthy, bad, bad, endpointA},
		{"secondary unhealthy only", true, dnslocal.Unhealthy, ok, bad, endpointA},
		{"secondary without health check is always healthy", false, dnslocal.Unhealthy, bad, bad, endpointB},
		{"insufficient data as unhealthy", true, dnslocal.Unhealthy, none, ok, endpointB},
		{"insufficient data as healthy", true, dnslocal.Healthy, none, ok, endpointA},
		{"insufficient data, no last known status: healthy", true, dnslocal.LastKnownStatus, none, ok, endpointA},
	} {
		t.Run(tc.name, func(t *testing.T) {
			z := start(t, dnslocal.Options{}, tc.secondaryChecked, tc.insufficient)
			z.alarmA.set(tc.a)
			z.alarmB.set(tc.b)
			if got := cname(t, z); got != tc.want {
				t.Errorf("redis.internal → %s, want %s", got, tc.want)
			}
		})
	}
}

func TestLastKnownStatusHoldsTheLastAlarmVerdict(t *testing.T) {
	z := start(t, dnslocal.Options{}, true, dnslocal.LastKnownStatus)
	z.alarmA.set(alarmeval.StateAlarm)
	if got := cname(t, z); got != endpointB {
		t.Fatalf("primary in ALARM: %s", got)
	}
	z.alarmA.set(alarmeval.StateInsufficientData)
	if got := cname(t, z); got != endpointB {
		t.Errorf("INSUFFICIENT_DATA after ALARM with LastKnownStatus: %s, want the secondary still", got)
	}
	z.alarmA.set(alarmeval.StateOK)
	if got := cname(t, z); got != endpointA {
		t.Fatalf("primary OK again: %s", got)
	}
	z.alarmA.set(alarmeval.StateInsufficientData)
	if got := cname(t, z); got != endpointA {
		t.Errorf("INSUFFICIENT_DATA after OK: %s, want the primary", got)
	}
}

// The answer carries the CNAME with the configured TTL and the endpoint's
// A record; the standard library's resolver, dialled to the server, follows
// it to the loopback address.
func TestAnswersThroughNetResolver(t *testing.T) {
	z := start(t, dnslocal.Options{TTL: 10 * time.Second, HostTTL: 5 * time.Second}, true, dnslocal.Unhealthy)
	in := ask(t, z.srv.Addr(), "redis.internal", dns.TypeA)
	if len(in.Answer) != 2 || in.Answer[0].Header().Ttl != 10 || in.Answer[1].Header().Ttl != 5 || !in.Authoritative {
		t.Fatalf("answer %v: want an authoritative CNAME (TTL 10) then an A (TTL 5)", in.Answer)
	}
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, z.srv.Addr())
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	addrs, err := r.LookupHost(ctx, "redis.internal")
	if err != nil || len(addrs) != 1 || addrs[0] != "127.0.0.11" {
		t.Fatalf("LookupHost: %v %v, want [127.0.0.11]", addrs, err)
	}
	z.alarmA.set(alarmeval.StateAlarm)
	if addrs, err = r.LookupHost(ctx, "redis.internal"); err != nil || addrs[0] != "127.0.0.12" {
		t.Fatalf("after the primary's alarm: %v %v, want [127.0.0.12]", addrs, err)
	}
	if _, err := r.LookupHost(ctx, "other.internal"); err == nil {
		t.Error("an unknown name resolved")
	}
	if ch := z.srv.Changes(); len(ch) != 2 || ch[1].To != dnslocal.Secondary {
		t.Errorf("changes %+v: want PRIMARY then SECONDARY", ch)
	}
}

// The caching resolver keeps the old answer for the TTL on the scenario
// clock: at speed 100 a 10-s TTL lasts 100 ms of wall time.
func TestResolverHonoursScaledTTL(t *testing.T) {
	z := start(t, dnslocal.Options{TTL: 10 * time.Second, HostTTL: 10 * time.Second}, true, dnslocal.Unhealthy)
	clock, err := timescale.New(100)
	if err != nil {
		t.Fatal(err)
	}
	r := dnslocal.NewResolver(z.srv.Addr(), clock)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ips, chain, err := r.Resolve(ctx, "redis.internal")
	if err != nil || ips[0].String() != "127.0.0.11" || len(chain) != 1 {
		t.Fatalf("resolve: %v %v %v", ips, chain, err)
	}
	z.alarmA.set(alarmeval.StateAlarm)
	moved := time.Now()
	if ips, _, _ = r.Resolve(ctx, "redis.internal"); ips[0].String() != "127.0.0.11" {
		t.Fatalf("answer changed within the TTL: %v", ips)
	}
	queries := z.srv.Queries()
	for ips[0].String() != "127.0.0.12" {
		if ctx.Err() != nil {
			t.Fatal("the cached answer never expired")
		}
		time.Sleep(5 * time.Millisecond)
		if ips, _, err = r.Resolve(ctx, "redis.internal"); err != nil {
			t.Fatal(err)
		}
	}
	if el := clock.Scale(time.Since(moved)); el < 9*time.Second {
		t.Errorf("followed the move after %s of scenario time, before the 10-s TTL", el)
	}
	if z.srv.Queries() == queries {
		t.Error("no new query after expiry")
	}
}

func TestRefusesNonLoopback(t *testing.T) {
	z := start(t, dnslocal.Options{}, true, dnslocal.Unhealthy)
	if err := z.srv.SetHost("x.internal", net.ParseIP("10.0.0.1")); err == nil {
		t.Error("SetHost took a non-loopback address")
	}
	if _, err := dnslocal.Start(dnslocal.Options{Addr: "0.0.0.0:0"}, z.primaryRec, z.secondary); err == nil {
		t.Error("Start listened beyond loopback")
	}
	if in := ask(t, z.srv.Addr(), "nothing.internal", dns.TypeA); in.Rcode != dns.RcodeNameError {
		t.Errorf("unknown name: rcode %d, want NXDOMAIN", in.Rcode)
	}
}

// Route 53 follows the alarm Lag later: a change shorter than Lag is still
// seen, late, and the answer moves only once Lag has passed.
func TestHealthCheckLag(t *testing.T) {
	clock, err := timescale.New(100)
	if err != nil {
		t.Fatal(err)
	}
	a := &alarm{s: alarmeval.StateOK}
	hc := &dnslocal.HealthCheck{Alarm: a.get, InsufficientDataHealthStatus: dnslocal.Unhealthy, Lag: 30 * time.Second, Clock: clock}
	if !hc.Healthy() {
		t.Fatal("OK alarm: unhealthy")
	}
	a.set(alarmeval.StateAlarm)
	changed := clock.Now()
	if !hc.Healthy() {
		t.Fatal("followed the alarm at once despite the lag")
	}
	deadline := time.Now().Add(10 * time.Second)
	for hc.Healthy() {
		if time.Now().After(deadline) {
			t.Fatal("never followed the alarm")
		}
		time.Sleep(time.Millisecond)
	}
	if el := clock.Since(changed); el < 30*time.Second {
		t.Errorf("followed after %s, before the 30-s lag", el)
	}
}

// A nil *HealthCheck in a Record is no health check, as it was when the
// field had that type: the record is always healthy.
func TestNilHealthCheckIsNoCheck(t *testing.T) {
	var none *dnslocal.HealthCheck
	a := &alarm{s: alarmeval.StateAlarm}
	srv, err := dnslocal.Start(dnslocal.Options{},
		dnslocal.Record{Target: endpointA, HealthCheck: &dnslocal.HealthCheck{Alarm: a.get}},
		dnslocal.Record{Target: endpointB, HealthCheck: none})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	if which, rec := srv.Choose(); which != dnslocal.Secondary || rec.Target != endpointB {
		t.Errorf("primary in ALARM, secondary with a nil check: %s %s, want SECONDARY %s", which, rec.Target, endpointB)
	}
}
