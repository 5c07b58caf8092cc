package verifylocal

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"

	"github.com/miekg/dns"

	"github.com/redisha/redisha/internal/sim/awsquery"
)

// KMS answers GetKeyPolicy as KMS does (awsJson1_1: POST with
// X-Amz-Target: TrentService.GetKeyPolicy and a JSON body): Policies by
// key id or ARN; an unknown key is NotFoundException.
type KMS struct {
	Policies map[string]string
}

// ServeHTTP answers one GetKeyPolicy request.
func (k *KMS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var in struct{ KeyId, PolicyName string }
	body, _ := io.ReadAll(r.Body)
	if r.Method != http.MethodPost || r.Header.Get("X-Amz-Target") != "TrentService.GetKeyPolicy" ||
		r.Header.Get("Content-Type") != "application/x-amz-json-1.1" || json.Unmarshal(body, &in) != nil || in.PolicyName != "default" {
		http.Error(w, "not an awsJson1_1 GetKeyPolicy request for the default policy", http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	policy, ok := k.Policies[in.KeyId]
	if !ok {
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]string{"__type": "NotFoundException", "message": "Key '" + in.KeyId + "' does not exist"})
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]string{"Policy": policy, "PolicyName": "default"})
}

// CloudWatchKeyPolicy is a key policy that lets the account administer the
// key and, when cloudWatch, CloudWatch publish to a topic under it.
func CloudWatchKeyPolicy(cloudWatch bool) string {
	stmts := []map[string]any{{"Sid": "Admin", "Effect": "Allow", "Principal": map[string]any{"AWS": "arn:aws:iam::123456789012:root"},
		"Action": "kms:*", "Resource": "*"}}
	if cloudWatch {
		stmts = append(stmts, map[string]any{"Sid": "CloudWatchAlarms", "Effect": "Allow",
			"Principal": map[string]any{"Service": "cloudwatch.amazonaws.com"},
			"Action":    []string{"kms:Decrypt", "kms:GenerateDataKey*"}, "Resource": "*"})
	}
	b, _ := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": stmts})
	return string(b)
}

// IAM answers SimulatePrincipalPolicy as IAM does (Query/XML, version
// 2010-05-08): each asked action on each resource is "allowed" when
// Allowed[role] holds "action resource" (or "action *"), else
// "implicitDeny". It records what it was asked.
type IAM struct {
	Allowed map[string][]string // by role ARN
	mu      sync.Mutex
	asked   []string
}

const iamXMLNS = "https://iam.amazonaws.com/doc/2010-05-08/"

type evaluation struct {
	EvalActionName   string
	EvalResourceName string
	EvalDecision     string
}

type simulateResult struct {
	EvaluationResults []evaluation `xml:"EvaluationResults>member"`
	IsTruncated       bool
}

// ServeHTTP answers one SimulatePrincipalPolicy request.
func (i *IAM) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q, err := awsquery.Parse(r, "2010-05-08")
	if err == nil && (q.Action != "SimulatePrincipalPolicy" || q.Service != "iam") {
		err = fmt.Errorf("action %s of service %s, want SimulatePrincipalPolicy of iam", q.Action, q.Service)
	}
	if err != nil {
		awsquery.WriteError(w, iamXMLNS, awsquery.Failure{Status: http.StatusBadRequest, Code: "InvalidAction"}, err.Error())
		return
	}
	role := q.Get("PolicySourceArn")
	grants, ok := i.Allowed[role]
	if !ok {
		awsquery.WriteError(w, iamXMLNS, awsquery.Failure{Status: http.StatusNotFound, Code: "NoSuchEntity"}, "role "+role+" not found")
		return
	}
	members := func(list string) []string {
		var out []string
		for n := 1; q.Get(fmt.Sprintf("%s.member.%d", list, n)) != ""; n++ {
			out = append(out, q.Get(fmt.Sprintf("%s.member.%d", list, n)))
		}
		return out
	}
	resources := members("ResourceArns")
	if len(resources) == 0 {
		resources = []string{"*"}
	}
	var res simulateResult
	for _, a := range members("ActionNames") {
		for _, rsc := range resources {
			i.mu.Lock()
			i.asked = append(i.asked, a+" "+rsc)
			i.mu.Unlock()
			decision := "implicitDeny"
			for _, g := range grants {
				if g == a+" "+rsc || g == a+" *" {
					decision = "allowed"
				}
			}
			res.EvaluationResults = append(res.EvaluationResults, evaluation{a, rsc, decision})
		}
	}
	awsquery.WriteResult(w, iamXMLNS, "SimulatePrincipalPolicy", res)
}

// Asked returns "action resource" for each evaluation asked so far.
func (i *IAM) Asked() []string {
	i.mu.Lock()
	defer i.mu.Unlock()
	return append([]string(nil), i.asked...)
}

// DNS is a loopback DNS server answering CNAME and A records over UDP, for
// a net.Resolver whose Dial goes to it.
type DNS struct {
	srv  *dns.Server
	Addr string
}

// StartDNS serves, as a DNS server does, cnames (name → target) and every other name as an A
// record for 127.0.0.1; names without a trailing dot.
func StartDNS(cnames map[string]string) (*DNS, error) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	mux := dns.NewServeMux()
	mux.HandleFunc(".", func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(req)
		m.Authoritative = true
		q := req.Question[0]
		name := q.Name
		for range 8 { // a CNAME query gets one hop, an A query the chain and the address
			target, ok := cnames[strings.TrimSuffix(name, ".")]
			if !ok || (q.Qtype == dns.TypeCNAME && len(m.Answer) > 0) {
				break
			}
			m.Answer = append(m.Answer, &dns.CNAME{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: 30},
				Target: dns.Fqdn(target)})
			name = dns.Fqdn(target)
		}
		if q.Qtype == dns.TypeA {
			m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 30},
				A: net.IPv4(127, 0, 0, 1)})
		}
		_ = w.WriteMsg(m)
	})
	started := make(chan struct{})
	d := &DNS{srv: &dns.Server{PacketConn: pc, Handler: mux, NotifyStartedFunc: func() { close(started) }}, Addr: pc.LocalAddr().String()}
	go func() { _ = d.srv.ActivateAndServe() }()
	<-started
	return d, nil
}

// Resolver is a pure-Go resolver that asks only this server.
func (d *DNS) Resolver() *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var dialer net.Dialer
		return dialer.DialContext(ctx, "udp", d.Addr)
	}}
}

// Close stops the server.
func (d *DNS) Close() { _ = d.srv.Shutdown() }
