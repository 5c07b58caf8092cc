package dnslocal_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redisha/redisha/internal/sim/dnslocal"
	"github.com/redisha/redisha/internal/sim/timescale"
	"github.com/redisha/redisha/internal/testbed/wait"
)

// speed runs the checks fast: a 10-s interval lasts 100 ms of wall time,
// the 2-s response limit 20 ms (loopback answers in well under 1 ms).
const speed = 100

func fastClock(t *testing.T) *timescale.Clock {
	t.Helper()
	c, err := timescale.New(speed)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// endpoint is the writable endpoint's stand-in: it answers each health
// checker with the status code the test sets and counts its answers.
type endpoint struct {
	URL string

	mu      sync.Mutex
	code    int
	per     map[int]int    // checker → code, overriding code
	answers map[[2]int]int // {checker, code} → answers since the last set
}

func newEndpoint(t *testing.T, code int) *endpoint {
	t.Helper()
	e := &endpoint{code: code, per: map[int]int{}, answers: map[[2]int]int{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i, ok := dnslocal.CheckerOf(r)
		if !ok {
			http.Error(w, "not a health checker: "+r.UserAgent(), http.StatusBadRequest)
			return
		}
		e.mu.Lock()
		code, ok := e.per[i]
		if !ok {
			code = e.code
		}
		e.answers[[2]int{i, code}]++
		e.mu.Unlock()
		w.WriteHeader(code)
	}))
	t.Cleanup(srv.Close)
	e.URL = srv.URL + "/writable"
	return e
}

// set answers every checker with code from now on and restarts the count.
func (e *endpoint) set(code int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.code, e.per, e.answers = code, map[int]int{}, map[[2]int]int{}
}

// setFor answers one checker with code.
func (e *endpoint) setFor(checker, code int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.per[checker] = code
}

// answered is how many times checker got code since the last set.
func (e *endpoint) answered(checker, code int) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.answers[[2]int{checker, code}]
}

// stalled accepts connections and never answers, as an endpoint whose
// handler hangs; it records how long each connection was held open.
type stalled struct {
	URL  string
	ln   net.Listener
	once sync.Once
	wg   sync.WaitGroup

	mu    sync.Mutex
	conns []net.Conn
	held  []time.Duration
}

func newStalled(t *testing.T) *stalled {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &stalled{URL: "http://" + ln.Addr().String() + "/writable", ln: ln}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns = append(s.conns, conn)
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				opened := time.Now()
				_, _ = io.Copy(io.Discard, conn) // until the checker gives up
				s.mu.Lock()
				s.held = append(s.held, time.Since(opened))
				s.mu.Unlock()
			}()
		}
	}()
	t.Cleanup(s.Close)
	return s
}

func (s *stalled) Close() {
	s.once.Do(func() {
		s.ln.Close()
		s.mu.Lock()
		for _, c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
}

func (s *stalled) accepted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

func (s *stalled) heldTimes() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.held...)
}

func startCheck(t *testing.T, c *dnslocal.EndpointCheck) *dnslocal.EndpointCheck {
	t.Helper()
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// statuses is each checker's own status.
func statuses(c *dnslocal.EndpointCheck) []bool {
	var out []bool
	for _, o := range c.Observations() {
		out = append(out, o.Healthy)
	}
	return out
}

// "Route 53 considers a new health check to be healthy until there's enough
// data to determine the actual status … If you chose the option to invert
// the health check status, Route 53 considers a new health check to be
// unhealthy until there's enough data."
func TestEndpointCheckNewCheckIsHealthyUntilEnoughData(t *testing.T) {
	clock := fastClock(t)
	e := newEndpoint(t, http.StatusServiceUnavailable)
	c := &dnslocal.EndpointCheck{URL: e.URL, RequestInterval: 30 * time.Second, FailureThreshold: 3, Clock: clock}
	inv := &dnslocal.EndpointCheck{URL: e.URL, RequestInterval: 30 * time.Second, FailureThreshold: 3, Clock: clock, Inverted: true}
	if !c.Healthy() || inv.Healthy() {
		t.Fatalf("before Start: healthy %v, inverted %v; want a new check's true, false", c.Healthy(), inv.Healthy())
	}
	startCheck(t, c)
	startCheck(t, inv)
	// Three failures a checker take two 30-s intervals (600 ms here).
	if !c.Healthy() || inv.Healthy() {
		t.Fatalf("just started on a failing endpoint: healthy %v, inverted %v; want true, false", c.Healthy(), inv.Healthy())
	}
	wait.For(t, 10*time.Second, "the failing endpoint's check to turn unhealthy", func() bool { return !c.Healthy() })
	wait.For(t, 10*time.Second, "the inverted check to turn healthy", inv.Healthy)
	for i := range 3 {
		if n := e.answered(i, http.StatusServiceUnavailable); n < 3 {
			t.Errorf("checker %d was answered 503 %d times: want the FailureThreshold (3) before the status changed", i, n)
		}
	}
	if ch := c.Changes(); len(ch) != 2 || !ch[0].Healthy || ch[1].Healthy {
		t.Errorf("changes %+v: want healthy (new) then unhealthy", ch)
	}
	if ch := inv.Changes(); len(ch) != 2 || ch[0].Healthy || !ch[1].Healthy {
		t.Errorf("inverted changes %+v: want unhealthy (new) then healthy", ch)
	}
}

// FailureThreshold is "the number of consecutive health checks that an
// endpoint must pass or fail for Route 53 to change the current status of
// the endpoint from unhealthy to healthy or vice versa", and the check is
// healthy while more than 18% of the checkers say so: it turns unhealthy
// once every one of 3 checkers has failed 3 times, and healthy again once
// one of them has passed 3 times.
func TestEndpointCheckFailureThreshold(t *testing.T) {
	e := newEndpoint(t, http.StatusOK)
	c := startCheck(t, &dnslocal.EndpointCheck{Name: "a-writable", URL: e.URL, RequestInterval: 10 * time.Second,
		FailureThreshold: 3, Clock: fastClock(t)})
	wait.For(t, 10*time.Second, "every checker's first success", func() bool {
		for _, o := range c.Observations() {
			if !strings.HasPrefix(o.Report, "Success: HTTP Status Code 200") {
				return false
			}
		}
		return true
	})
	if !c.Healthy() {
		t.Fatal("unhealthy while the endpoint answers 200")
	}

	e.set(http.StatusServiceUnavailable)
	wait.For(t, 10*time.Second, "the check to turn unhealthy on 503", func() bool { return !c.Healthy() })
	for i := range 3 {
		if n := e.answered(i, http.StatusServiceUnavailable); n < 3 {
			t.Errorf("unhealthy after checker %d had %d failures: want FailureThreshold (3) at every checker (more than 82%%)", i, n)
		}
	}
	for _, o := range c.Observations() {
		if o.Healthy || o.Report != "Failure: HTTP Status Code 503, Service Unavailable" {
			t.Errorf("checker %d: %+v: want unhealthy on a 503", o.Checker, o)
		}
	}

	e.set(http.StatusFound) // a 3xx passes as it is
	wait.For(t, 10*time.Second, "the check to turn healthy again on 302", c.Healthy)
	best := 0
	for i := range 3 {
		best = max(best, e.answered(i, http.StatusFound))
	}
	if best < 3 {
		t.Errorf("healthy again after at most %d passes at any checker: want FailureThreshold (3) at one", best)
	}
	ch := c.Changes()
	if len(ch) != 3 || !ch[0].Healthy || ch[1].Healthy || !ch[2].Healthy || ch[2].At.Before(ch[1].At) {
		t.Errorf("changes %+v: want healthy, unhealthy, healthy in order", ch)
	}
}

// "If more than 18% of health checkers report that an endpoint is healthy,
// Route 53 considers it healthy. If 18% of health checkers or fewer report
// that an endpoint is healthy, Route 53 considers it unhealthy." Checkers
// below passing are answered 200, the others 503.
func TestEndpointCheckMoreThan18PercentHealthy(t *testing.T) {
	for _, tc := range []struct {
		checkers, passing int
		want              bool
	}{
		{3, 1, true},   // 33%
		{3, 0, false},  // 0%
		{5, 1, true},   // 20%
		{6, 1, false},  // 16.7%
		{10, 2, true},  // 20%
		{10, 1, false}, // 10%
	} {
		t.Run(fmt.Sprintf("%d of %d", tc.passing, tc.checkers), func(t *testing.T) {
			e := newEndpoint(t, http.StatusServiceUnavailable)
			for i := range tc.passing {
				e.setFor(i, http.StatusOK)
			}
			c := startCheck(t, &dnslocal.EndpointCheck{URL: e.URL, RequestInterval: 10 * time.Second,
				FailureThreshold: 2, Checkers: tc.checkers, Clock: fastClock(t)})
			// Checkers start healthy; the failing ones change after two failures.
			wait.For(t, 10*time.Second, "every failing checker to turn unhealthy", func() bool {
				for i, ok := range statuses(c) {
					if ok != (i < tc.passing) {
						return false
					}
				}
				return true
			})
			if got := c.Healthy(); got != tc.want {
				t.Errorf("%d of %d checkers healthy: check healthy %v, want %v", tc.passing, tc.checkers, got, tc.want)
			}
		})
	}
}

// A stalled endpoint fails: the status code is due "within two seconds
// after connecting", and the checker gives up then; an endpoint that
// refuses connections fails at once.
func TestEndpointCheckStalledOrClosedEndpointFails(t *testing.T) {
	t.Run("stalled", func(t *testing.T) {
		clock := fastClock(t)
		s := newStalled(t)
		c := startCheck(t, &dnslocal.EndpointCheck{URL: s.URL, RequestInterval: 10 * time.Second, FailureThreshold: 2, Clock: clock})
		wait.For(t, 10*time.Second, "the stalled endpoint's check to turn unhealthy", func() bool { return !c.Healthy() })
		for _, o := range c.Observations() {
			if o.Report != "Failure: no HTTP status code within 2s after connecting" {
				t.Errorf("checker %d: report %q, want the 2-s limit after connecting", o.Checker, o.Report)
			}
		}
		c.Close()
		limit := clock.Wall(dnslocal.ResponseTimeout)
		for _, held := range s.heldTimes() {
			// Given up after the limit (measured from the accept, a little
			// after the checker connected), long before the next request.
			if held < limit/2 || held > clock.Wall(10*time.Second) {
				t.Errorf("a checker held a stalled connection for %s: want about %s (2 s at speed %d)", held, limit, speed)
			}
		}
	})
	t.Run("closed", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		srv.Close()
		c := startCheck(t, &dnslocal.EndpointCheck{URL: srv.URL, RequestInterval: 10 * time.Second, FailureThreshold: 2, Clock: fastClock(t)})
		wait.For(t, 10*time.Second, "the closed endpoint's check to turn unhealthy", func() bool { return !c.Healthy() })
		for _, o := range c.Observations() {
			if !strings.HasPrefix(o.Report, "Failure: could not connect") {
				t.Errorf("checker %d: report %q, want could not connect", o.Checker, o.Report)
			}
		}
	})
}

// Close stops every checker, even one waiting on a stalled endpoint, and
// leaves no goroutine behind.
func TestEndpointCheckCloseLeavesNothingRunning(t *testing.T) {
	before := runtime.NumGoroutine()
	clock, err := timescale.New(10) // the 2-s limit lasts 200 ms: Close comes first
	if err != nil {
		t.Fatal(err)
	}
	s := newStalled(t)
	c := &dnslocal.EndpointCheck{URL: s.URL, RequestInterval: 10 * time.Second, Checkers: 5, Clock: clock}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	wait.For(t, 10*time.Second, "a checker's request in flight", func() bool { return s.accepted() > 0 })
	closing := time.Now()
	c.Close()
	if el := time.Since(closing); el >= clock.Wall(dnslocal.ResponseTimeout) {
		t.Errorf("Close took %s: it waited for the request's time limit instead of abandoning it", el)
	}
	c.Close() // twice is harmless
	s.Close()
	wait.For(t, 10*time.Second, "goroutines back to the count before the check", func() bool {
		return runtime.NumGoroutine() <= before
	})
	if err := c.Start(); err == nil || !strings.Contains(err.Error(), "already started") {
		t.Errorf("Start after Close: %v, want already started", err)
	}
}

func TestEndpointCheckRefusesBadSettings(t *testing.T) {
	const ok = "http://127.0.0.1:1/writable"
	for _, tc := range []struct {
		check *dnslocal.EndpointCheck
		want  string
	}{
		{&dnslocal.EndpointCheck{Name: "a"}, `dnslocal: endpoint check "a": URL "": use an http:// URL on loopback`},
		{&dnslocal.EndpointCheck{URL: "https://127.0.0.1:1/"}, `dnslocal: endpoint check "https://127.0.0.1:1/": URL "https://127.0.0.1:1/": use an http:// URL on loopback`},
		{&dnslocal.EndpointCheck{Name: "a", URL: "http://example.com/"}, `dnslocal: endpoint check "a": URL "http://example.com/": the host must be a loopback IP address, e.g. 127.0.0.1`},
		{&dnslocal.EndpointCheck{Name: "a", URL: "http://10.0.0.1/"}, `dnslocal: endpoint check "a": URL "http://10.0.0.1/": the host must be a loopback IP address, e.g. 127.0.0.1`},
		{&dnslocal.EndpointCheck{Name: "a", URL: ok, RequestInterval: 15 * time.Second}, `dnslocal: endpoint check "a": RequestInterval 15s: use 10s or 30s`},
		{&dnslocal.EndpointCheck{Name: "a", URL: ok, FailureThreshold: 11}, `dnslocal: endpoint check "a": FailureThreshold 11: use 1 to 10`},
		{&dnslocal.EndpointCheck{Name: "a", URL: ok, FailureThreshold: -1}, `dnslocal: endpoint check "a": FailureThreshold -1: use 1 to 10`},
		{&dnslocal.EndpointCheck{Name: "a", URL: ok, Checkers: -1}, `dnslocal: endpoint check "a": Checkers -1: use at least 1`},
	} {
		err := tc.check.Start()
		if err == nil {
			tc.check.Close()
		}
		if err == nil || err.Error() != tc.want {
			t.Errorf("Start: %v\nwant %s", err, tc.want)
		}
	}
}

func TestCheckerOf(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	if _, ok := dnslocal.CheckerOf(r); ok {
		t.Error("a request without the health checker's User-Agent was taken for one")
	}
	r.Header.Set("User-Agent", dnslocal.UserAgent+" (ref checker-7; report http://amzn.to/1vsZADi)")
	if n, ok := dnslocal.CheckerOf(r); !ok || n != 7 {
		t.Errorf("CheckerOf = %d %v, want 7", n, ok)
	}
}
