package dnslocal_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/redisha/redisha/internal/sim/dnslocal"
	"github.com/redisha/redisha/internal/testbed/wait"
)

// fixed is a health check whose status the test decides.
type fixed bool

func (f fixed) Healthy() bool { return bool(f) }

func startZone(t *testing.T, primary, secondary dnslocal.Record) *dnslocal.Server {
	t.Helper()
	srv, err := dnslocal.Start(dnslocal.Options{TTL: 10 * time.Second}, primary, secondary)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return srv
}

// The TXT group follows the CNAME group's rules: the PRIMARY while healthy,
// the SECONDARY when the PRIMARY is unhealthy and the SECONDARY healthy,
// and the PRIMARY when both are unhealthy ("If no record is healthy, all
// records are healthy"); a record without a health check is healthy.
func TestTXTGroupFailoverRules(t *testing.T) {
	srv := startZone(t, dnslocal.Record{Target: endpointA}, dnslocal.Record{Target: endpointB})
	for i, tc := range []struct {
		name               string
		primary, secondary dnslocal.Check
		want               string
	}{
		{"both healthy", fixed(true), fixed(true), "writable"},
		{"primary unhealthy, secondary unchecked", fixed(false), nil, "not-writable"},
		{"primary unhealthy, secondary healthy", fixed(false), fixed(true), "not-writable"},
		{"both unhealthy: all considered healthy, primary answered", fixed(false), fixed(false), "writable"},
		{"secondary unhealthy only", fixed(true), fixed(false), "writable"},
		{"a nil *EndpointCheck is no check", fixed(false), (*dnslocal.EndpointCheck)(nil), "not-writable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := fmt.Sprintf("witness-%d.internal", i)
			if err := srv.AddTXTGroup(name, dnslocal.TXTRecord{Text: "writable", HealthCheck: tc.primary},
				dnslocal.TXTRecord{Text: "not-writable", HealthCheck: tc.secondary}); err != nil {
				t.Fatal(err)
			}
			in := ask(t, srv.Addr(), name, dns.TypeTXT)
			if len(in.Answer) != 1 || !in.Authoritative || in.Rcode != dns.RcodeSuccess {
				t.Fatalf("answer %v (rcode %d): want one authoritative TXT", in.Answer, in.Rcode)
			}
			txt, ok := in.Answer[0].(*dns.TXT)
			if !ok || len(txt.Txt) != 1 || txt.Txt[0] != tc.want || txt.Hdr.Ttl != 10 {
				t.Errorf("TXT %v: want %q with the zone's TTL (10)", in.Answer[0], tc.want)
			}
			if in := ask(t, srv.Addr(), name, dns.TypeA); in.Rcode != dns.RcodeSuccess || len(in.Answer) != 0 {
				t.Errorf("A for a TXT name: rcode %d, %v; want NOERROR with no answer", in.Rcode, in.Answer)
			}
		})
	}
	if in := ask(t, srv.Addr(), "witness-x.internal", dns.TypeTXT); in.Rcode != dns.RcodeNameError {
		t.Errorf("a name without a group: rcode %d, want NXDOMAIN", in.Rcode)
	}
}

// A region's witness, read the way the other region's promoter reads it
// (net.Resolver dialled to the zone): "writable" while the region's
// writable endpoint passes its health check, "not-writable" once the check
// turns unhealthy, and "writable" again after it recovers. The failover
// CNAME driven by the same check moves with it.
func TestTXTWitnessFollowsEndpointCheck(t *testing.T) {
	e := newEndpoint(t, http.StatusOK)
	down := newEndpoint(t, http.StatusServiceUnavailable)
	checkA := startCheck(t, &dnslocal.EndpointCheck{Name: "a-writable", URL: e.URL, RequestInterval: 10 * time.Second,
		FailureThreshold: 2, Clock: fastClock(t)})
	checkB := startCheck(t, &dnslocal.EndpointCheck{Name: "b-writable", URL: down.URL, RequestInterval: 10 * time.Second,
		FailureThreshold: 2, Clock: fastClock(t)})
	srv := startZone(t, dnslocal.Record{Target: endpointA, HealthCheck: checkA}, dnslocal.Record{Target: endpointB})
	if err := srv.SetHost(endpointA, net.ParseIP("127.0.0.11")); err != nil {
		t.Fatal(err)
	}
	if err := srv.SetHost(endpointB, net.ParseIP("127.0.0.12")); err != nil {
		t.Fatal(err)
	}
	const witness = "witness-a.redis.internal"
	if err := srv.AddTXTGroup(witness, dnslocal.TXTRecord{Text: "writable", HealthCheck: checkA},
		dnslocal.TXTRecord{Text: "not-writable"}); err != nil {
		t.Fatal(err)
	}
	// Both checked, both failing: the PRIMARY is answered.
	const both = "both-checked.redis.internal"
	if err := srv.AddTXTGroup(both, dnslocal.TXTRecord{Text: "writable", HealthCheck: checkA},
		dnslocal.TXTRecord{Text: "not-writable", HealthCheck: checkB}); err != nil {
		t.Fatal(err)
	}

	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, srv.Addr())
	}}
	lookup := func(name string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		txt, err := r.LookupTXT(ctx, name)
		if err != nil || len(txt) != 1 {
			t.Fatalf("LookupTXT %s: %v %v, want one text", name, txt, err)
		}
		return txt[0]
	}
	host := func() string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		addrs, err := r.LookupHost(ctx, "redis.internal")
		if err != nil || len(addrs) != 1 {
			t.Fatalf("LookupHost redis.internal: %v %v", addrs, err)
		}
		return addrs[0]
	}

	if got := lookup(witness); got != "writable" {
		t.Fatalf("witness %q while the endpoint answers 200, want writable", got)
	}
	e.set(http.StatusServiceUnavailable)
	wait.For(t, 10*time.Second, "the witness to say not-writable", func() bool { return lookup(witness) == "not-writable" })
	if got := host(); got != "127.0.0.12" {
		t.Errorf("redis.internal → %s with the primary's check unhealthy, want the secondary's 127.0.0.12", got)
	}
	wait.For(t, 10*time.Second, "b's check to turn unhealthy", func() bool { return !checkB.Healthy() })
	if got := lookup(both); got != "writable" {
		t.Errorf("both records unhealthy: %q, want the PRIMARY's writable", got)
	}
	e.set(http.StatusOK)
	wait.For(t, 10*time.Second, "the witness to say writable again", func() bool { return lookup(witness) == "writable" })

	var got []string
	for _, ch := range srv.TXTChanges(witness) {
		got = append(got, string(ch.To)+" "+ch.Text)
	}
	if want := []string{"PRIMARY writable", "SECONDARY not-writable", "PRIMARY writable"}; !slices.Equal(got, want) {
		t.Errorf("witness changes %q, want %q", got, want)
	}
	if which, rec, ok := srv.ChooseTXT(witness); !ok || which != dnslocal.Primary || rec.Text != "writable" {
		t.Errorf("ChooseTXT: %s %q %v, want PRIMARY writable", which, rec.Text, ok)
	}
	if srv.TXTChanges("nothing.internal") != nil {
		t.Error("changes for a name without a group")
	}
}

func TestAddTXTGroupRefuses(t *testing.T) {
	srv := startZone(t, dnslocal.Record{Target: endpointA}, dnslocal.Record{Target: endpointB})
	ok := dnslocal.TXTRecord{Text: "writable"}
	if err := srv.AddTXTGroup("witness.internal", ok, ok); err != nil {
		t.Fatal(err)
	}
	long := dnslocal.TXTRecord{Text: string(make([]byte, 256))}
	for _, tc := range []struct {
		name               string
		primary, secondary dnslocal.TXTRecord
		want               string
	}{
		{"", ok, ok, "dnslocal: AddTXTGroup: name is required"},
		{"Redis.Internal.", ok, ok, "dnslocal: AddTXTGroup Redis.Internal.: the failover CNAME's name can hold no other record: use another name"},
		{"w.internal", ok, dnslocal.TXTRecord{}, "dnslocal: AddTXTGroup w.internal: primary and secondary Text are required"},
		{"w.internal", long, ok, "dnslocal: AddTXTGroup w.internal: a Text longer than 255 bytes: keep each text to one TXT string"},
		{"WITNESS.internal", ok, ok, "dnslocal: AddTXTGroup WITNESS.internal: the name has a TXT group already"},
	} {
		if err := srv.AddTXTGroup(tc.name, tc.primary, tc.secondary); err == nil || err.Error() != tc.want {
			t.Errorf("AddTXTGroup(%q): %v\nwant %s", tc.name, err, tc.want)
		}
	}
}
