package dnslocal

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// TXTRecord is one failover TXT record of a group, e.g. a region's
// witness: PRIMARY "writable" with the region's endpoint check, SECONDARY
// "not-writable" with none, so the answer says what Route 53's health
// checkers (outside both regions) see.
type TXTRecord struct {
	// Text is the record's one string (at most 255 bytes).
	Text string
	// HealthCheck may be nil: the record is then always healthy.
	HealthCheck Check
}

// TXTChange is a change of a TXT group's answer, as observed by a query,
// by ChooseTXT or by the server's polling.
type TXTChange struct {
	// At is wall time, as in Change.
	At   time.Time
	To   Failover
	Text string
}

type txtGroup struct {
	primary, secondary TXTRecord
	last               Failover
	changes            []TXTChange
}

// AddTXTGroup answers TXT queries for name with a failover pair, by the
// same rules as the CNAME group (see Choose) and with the same TTL; other
// query types for name are answered NOERROR with no records, as a name
// that has records of other types only. name must not be the failover
// name nor have a group already.
func (s *Server) AddTXTGroup(name string, primary, secondary TXTRecord) error {
	fq := dns.Fqdn(strings.ToLower(name))
	switch {
	case name == "":
		return errors.New("dnslocal: AddTXTGroup: name is required")
	case fq == s.name:
		return fmt.Errorf("dnslocal: AddTXTGroup %s: the failover CNAME's name can hold no other record: use another name", name)
	case primary.Text == "" || secondary.Text == "":
		return fmt.Errorf("dnslocal: AddTXTGroup %s: primary and secondary Text are required", name)
	case len(primary.Text) > 255 || len(secondary.Text) > 255:
		return fmt.Errorf("dnslocal: AddTXTGroup %s: a Text longer than 255 bytes: keep each text to one TXT string", name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.txt[fq]; dup {
		return fmt.Errorf("dnslocal: AddTXTGroup %s: the name has a TXT group already", name)
	}
	s.txt[fq] = &txtGroup{primary: primary, secondary: secondary}
	return nil
}

// ChooseTXT applies the failover rules to name's TXT group now and returns
// the record answered; ok is false when name has no group.
func (s *Server) ChooseTXT(name string) (which Failover, rec TXTRecord, ok bool) {
	fq := dns.Fqdn(strings.ToLower(name))
	s.mu.Lock()
	g := s.txt[fq]
	s.mu.Unlock()
	if g == nil {
		return "", TXTRecord{}, false
	}
	// Health checks are read without s.mu: they take their own locks.
	which, rec = Primary, g.primary
	if failover(g.primary.HealthCheck, g.secondary.HealthCheck) == Secondary {
		which, rec = Secondary, g.secondary
	}
	s.mu.Lock()
	if which != g.last {
		g.last = which
		g.changes = append(g.changes, TXTChange{At: s.now(), To: which, Text: rec.Text})
	}
	s.mu.Unlock()
	return which, rec, true
}

// TXTChanges lists the changes of name's TXT answer seen so far (the first
// entry is the first answer); nil when name has no group.
func (s *Server) TXTChanges(name string) []TXTChange {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.txt[dns.Fqdn(strings.ToLower(name))]
	if g == nil {
		return nil
	}
	return append([]TXTChange(nil), g.changes...)
}

// txtNames lists the names with a TXT group, sorted.
func (s *Server) txtNames() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	names := make([]string, 0, len(s.txt))
	for n := range s.txt {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// hasTXT tells whether name (fully qualified, lower case) has a TXT group.
func (s *Server) hasTXT(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.txt[name] != nil
}

func (s *Server) txtAnswer(q dns.Question) dns.RR {
	_, rec, _ := s.ChooseTXT(q.Name)
	return &dns.TXT{
		Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: ttlSeconds(s.opts.TTL)},
		Txt: []string{rec.Text},
	}
}
