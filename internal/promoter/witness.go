package promoter

import (
	"context"
	"net"
	"strings"
)

// The witness's answers: the TXT values of the two failover records of a
// region's witness name. The PRIMARY record ("writable") carries the
// Route 53 health check on the region's writable endpoint; the SECONDARY
// ("not-writable") has none, so it is answered exactly when that check is
// unhealthy.
const (
	WitnessWritable    = "writable"
	WitnessNotWritable = "not-writable"
)

// DNSWitness is a third observer that reads what Route 53's health checkers,
// outside both regions, find of the peer region's writable endpoint: the TXT
// answer of name, through the resolver at server (host:port; empty: the
// system's, in a VPC the Route 53 Resolver). It uses Route 53's data plane
// only, as any client's lookup does: nothing on the recovery path depends on
// a control plane. An answer other than the two values, or none, is no
// verdict.
func DNSWitness(name, server string) func(ctx context.Context) *Observer {
	r := net.DefaultResolver
	if server != "" {
		r = &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, server)
		}}
	}
	return func(ctx context.Context) *Observer {
		txt, err := r.LookupTXT(ctx, name)
		if err != nil {
			return &Observer{Verdict: ObserverUnknown, Detail: "the witness " + name + " did not answer: " + err.Error()}
		}
		answer := strings.TrimSpace(strings.Join(txt, ""))
		switch answer {
		case WitnessWritable:
			return &Observer{Verdict: ObserverUp, Detail: "Route 53's health checkers find the primary region writable (" + name + ")"}
		case WitnessNotWritable:
			return &Observer{Verdict: ObserverDown, Detail: "Route 53's health checkers find the primary region not writable (" + name + ")"}
		}
		return &Observer{Verdict: ObserverUnknown, Detail: "the witness " + name + " answered " + strconvQuote(answer)}
	}
}

func strconvQuote(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return `"` + s + `"`
}
