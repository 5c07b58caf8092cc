package promoter_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redisha/redisha/internal/promoter"
	"github.com/redisha/redisha/internal/sim/dnslocal"
	"github.com/redisha/redisha/internal/sim/timescale"
)

// The witness as deployed: a TXT failover pair on a Route 53 HTTPS check of
// a writable endpoint, served by the zone's DNS server and read with a real
// lookup. Writable while the endpoint answers 200, not-writable once the
// checkers find it failing, no verdict for a name or an answer it does not
// know.
func TestDNSWitnessReadsRoute53sVerdict(t *testing.T) {
	var writable atomic.Bool
	writable.Store(true)
	endpoint := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if writable.Load() {
			w.WriteHeader(http.StatusOK)
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(endpoint.Close)
	clock, err := timescale.New(100) // a 10-s interval lasts 100 ms
	if err != nil {
		t.Fatal(err)
	}
	check := &dnslocal.EndpointCheck{Name: "us-east-1 writable endpoint", URL: endpoint.URL + "/writable",
		RequestInterval: 10 * time.Second, FailureThreshold: 1, Checkers: 3, Clock: clock}
	if err := check.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(check.Close)
	zone, err := dnslocal.Start(dnslocal.Options{TTL: 5 * time.Second},
		dnslocal.Record{Target: "a.cache.internal"}, dnslocal.Record{Target: "b.cache.internal"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(zone.Close)
	const name = "us-east-1.witness.redis.internal"
	if err := zone.AddTXTGroup(name, dnslocal.TXTRecord{Text: promoter.WitnessWritable, HealthCheck: check},
		dnslocal.TXTRecord{Text: promoter.WitnessNotWritable}); err != nil {
		t.Fatal(err)
	}
	if err := zone.AddTXTGroup("odd.witness.redis.internal", dnslocal.TXTRecord{Text: "maybe"}, dnslocal.TXTRecord{Text: "perhaps"}); err != nil {
		t.Fatal(err)
	}
	ask := func(n string) *promoter.Observer {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return promoter.DNSWitness(n, zone.Addr())(ctx)
	}
	waitFor := func(verdict string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			o := ask(name)
			if o.Verdict == verdict {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the witness says %s (%s), want %s", o.Verdict, o.Detail, verdict)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitFor(promoter.ObserverUp)
	writable.Store(false)
	waitFor(promoter.ObserverDown)
	writable.Store(true)
	waitFor(promoter.ObserverUp)
	for _, n := range []string{"nowhere.witness.redis.internal", "odd.witness.redis.internal"} {
		if o := ask(n); o.Verdict != promoter.ObserverUnknown {
			t.Errorf("%s: verdict %s (%s), want unknown", n, o.Verdict, o.Detail)
		}
	}
}
