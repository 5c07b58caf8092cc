package dnslocal

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/redisha/redisha/internal/sim/timescale"
)

// The response times an HTTP health checker allows, from "How Amazon Route
// 53 determines whether a health check is healthy": "Route 53 must be able
// to establish a TCP connection with the endpoint within four seconds. In
// addition, the endpoint must respond with an HTTP status code of 2xx or
// 3xx within two seconds after connecting." Scenario time: a Clock scales
// them.
const (
	ConnectTimeout  = 4 * time.Second
	ResponseTimeout = 2 * time.Second
)

// UserAgent starts the User-Agent of every health check request, as
// Route 53's does. The ref that follows names the checker ("ref
// checker-N"; GUESS: the real ref is an opaque identifier), which
// CheckerOf reads back.
const UserAgent = "Amazon-Route53-Health-Check-Service"

// EndpointCheck is a Route 53 health check of type HTTP: health checkers
// request URL every RequestInterval, each keeping its own status, and the
// check is healthy while more than 18% of them say so. It follows the Route
// 53 Developer Guide, "How Amazon Route 53 determines whether a health
// check is healthy" and "Values that you specify when you create or update
// health checks":
//   - a checker's request passes when it connects within ConnectTimeout and
//     has "an HTTP status code of 200 or greater and less than 400" within
//     ResponseTimeout after connecting; anything else (a refused
//     connection, a stalled endpoint, 4xx, 5xx) fails it. Redirects are not
//     followed: a 3xx passes as it is;
//   - FailureThreshold is "the number of consecutive health checks that an
//     endpoint must pass or fail for Route 53 to change the current status
//     of the endpoint from unhealthy to healthy or vice versa", counted by
//     each checker on its own results;
//   - "If more than 18% of health checkers report that an endpoint is
//     healthy, Route 53 considers it healthy. If 18% of health checkers or
//     fewer report that an endpoint is healthy, Route 53 considers it
//     unhealthy." So turning unhealthy takes FailureThreshold failures at
//     more than 82% of the checkers, and turning healthy again
//     FailureThreshold passes at more than 18% of them;
//   - "Route 53 considers a new health check to be healthy until there's
//     enough data to determine the actual status, healthy or unhealthy. If
//     you chose the option to invert the health check status, Route 53
//     considers a new health check to be unhealthy until there's enough
//     data." Here every checker starts healthy, so "enough data" is
//     FailureThreshold failures at a checker (GUESS: AWS does not say how
//     much data is enough). A record that must never point at a region that
//     does not take writes is therefore trusted before any request has been
//     made: that is AWS's behaviour, not a choice of this stand-in.
//
// Fields are read by Start and must not change after it. Its methods are
// safe for concurrent use.
type EndpointCheck struct {
	// Name labels the check in timelines.
	Name string
	// URL is requested with GET: an http:// URL whose host is a loopback IP
	// address (the writable endpoint's stand-in; no TLS here, where Route
	// 53's HTTPS checks would not validate the certificate anyway).
	URL string
	// RequestInterval between one checker's requests, on Clock: 10s or 30s
	// ("every 10 seconds or every 30 seconds"). default: 30s (Route 53's)
	RequestInterval time.Duration
	// FailureThreshold: 1 to 10. default: 3 (Route 53's)
	FailureThreshold int
	// Checkers is how many health checkers request URL. Their first
	// requests are spread evenly over one interval, then each keeps its
	// interval (GUESS: Route 53's checkers "don't coordinate with one
	// another", and AWS does not say how many probe an endpoint; the API
	// asks for at least three regions when you choose them). default: 3
	Checkers int
	// Clock keeps the intervals and timeouts. default: real time
	Clock *timescale.Clock
	// Inverted reports the opposite status ("Invert health check status").
	Inverted bool
	// MinTimeout is the least wall time either timeout is given once
	// scaled: at high speeds a loaded machine must not fail a healthy
	// endpoint on scheduling alone. default: none
	MinTimeout time.Duration

	mu       sync.Mutex
	started  bool
	checkers []Observation
	streaks  []int // per checker: consecutive results against its status
	changes  []StatusChange
	cancel   context.CancelFunc
	client   *http.Client
	wg       sync.WaitGroup
}

// Observation is one health checker's view, as GetHealthCheckStatus
// reports it per checker.
type Observation struct {
	// Checker numbers the checker, from 0.
	Checker int
	// Healthy is this checker's status: it changes after FailureThreshold
	// consecutive results against it.
	Healthy bool
	// At is the wall time of its last result (zero before the first).
	At time.Time
	// Report is its last result, in the words of Route 53's StatusReport,
	// e.g. "Success: HTTP Status Code 200, OK" (GUESS: failure wording).
	Report string
}

// StatusChange is a change of the check's status (after Inverted).
type StatusChange struct {
	// At is wall time, as in Server.Changes: Clock.At gives scenario time.
	At      time.Time
	Healthy bool
}

// settings returns the fields with their defaults, or an error naming the
// field and the fix.
func (c *EndpointCheck) settings() (interval time.Duration, threshold, checkers int, err error) {
	label := c.Name
	if label == "" {
		label = c.URL
	}
	fail := func(format string, a ...any) error {
		return fmt.Errorf("dnslocal: endpoint check %q: "+format, append([]any{label}, a...)...)
	}
	u, perr := url.Parse(c.URL)
	if perr != nil || u.Scheme != "http" || u.Host == "" {
		return 0, 0, 0, fail("URL %q: use an http:// URL on loopback", c.URL)
	}
	if ip := net.ParseIP(u.Hostname()); ip == nil || !ip.IsLoopback() {
		return 0, 0, 0, fail("URL %q: the host must be a loopback IP address, e.g. 127.0.0.1", c.URL)
	}
	interval, threshold, checkers = c.RequestInterval, c.FailureThreshold, c.Checkers
	if interval == 0 {
		interval = 30 * time.Second
	}
	if threshold == 0 {
		threshold = 3
	}
	if checkers == 0 {
		checkers = 3
	}
	switch {
	case interval != 10*time.Second && interval != 30*time.Second:
		return 0, 0, 0, fail("RequestInterval %s: use 10s or 30s", c.RequestInterval)
	case threshold < 1 || threshold > 10:
		return 0, 0, 0, fail("FailureThreshold %d: use 1 to 10", c.FailureThreshold)
	case checkers < 1:
		return 0, 0, 0, fail("Checkers %d: use at least 1", c.Checkers)
	}
	return interval, threshold, checkers, nil
}

// Start starts the health checkers. Close stops them.
func (c *EndpointCheck) Start() error {
	interval, threshold, n, err := c.settings()
	if err != nil {
		return err
	}
	clock := c.Clock
	if clock == nil {
		clock, _ = timescale.New(1)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.started {
		return fmt.Errorf("dnslocal: endpoint check %q: already started: start a new EndpointCheck", c.Name)
	}
	c.started = true
	c.checkers = make([]Observation, n)
	for i := range c.checkers {
		c.checkers[i] = Observation{Checker: i, Healthy: true}
	}
	c.streaks = make([]int, n)
	c.changes = []StatusChange{{At: time.Now(), Healthy: c.statusLocked()}}
	c.client = newCheckerClient(clock, c.MinTimeout)
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	first := clock.Now()
	for i := range n {
		c.wg.Add(1)
		go c.run(ctx, clock, i, first.Add(interval*time.Duration(i)/time.Duration(n)), interval, threshold)
	}
	return nil
}

// newCheckerClient makes one request a connection, as a checker opens a
// new connection for every check, with Route 53's time limits on clock.
func newCheckerClient(clock *timescale.Clock, floor time.Duration) *http.Client {
	dialer := &net.Dialer{Timeout: max(clock.Wall(ConnectTimeout), floor)}
	return &http.Client{
		Transport: &http.Transport{
			DisableKeepAlives: true,
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				conn, err := dialer.DialContext(ctx, network, addr)
				if err != nil {
					return nil, err
				}
				// The status code is due "within two seconds after
				// connecting": the deadline covers the request and the
				// response's head.
				if err := conn.SetDeadline(time.Now().Add(max(clock.Wall(ResponseTimeout), floor))); err != nil {
					conn.Close()
					return nil, err
				}
				return conn, nil
			},
		},
		// A 3xx passes as it is; where it points is not checked.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Close stops every health checker and waits for them; a request under way
// is abandoned without a result. The check keeps its last status.
func (c *EndpointCheck) Close() {
	if c == nil {
		return
	}
	c.mu.Lock()
	cancel, client := c.cancel, c.client
	c.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	c.wg.Wait()
	client.CloseIdleConnections()
}

func (c *EndpointCheck) run(ctx context.Context, clock *timescale.Clock, i int, next time.Time, interval time.Duration, threshold int) {
	defer c.wg.Done()
	for {
		if err := clock.SleepUntil(ctx, next); err != nil {
			return
		}
		ok, report := c.request(ctx, i)
		if ctx.Err() != nil {
			return
		}
		c.record(i, ok, report, threshold)
		// A request that overran its slot delays the next one to the next
		// slot; a checker never makes up for lost requests.
		for now := clock.Now(); !next.After(now); {
			next = next.Add(interval)
		}
	}
}

// request makes one health check request: pass or fail, and why.
func (c *EndpointCheck) request(ctx context.Context, i int) (bool, string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.URL, nil)
	if err != nil {
		return false, "Failure: " + err.Error()
	}
	req.Header.Set("User-Agent", fmt.Sprintf("%s (ref checker-%d; report http://amzn.to/1vsZADi)", UserAgent, i))
	resp, err := c.client.Do(req)
	if err != nil {
		return false, failureReport(err)
	}
	resp.Body.Close()
	code := resp.StatusCode
	if code >= 200 && code < 400 {
		return true, fmt.Sprintf("Success: HTTP Status Code %d, %s", code, http.StatusText(code))
	}
	return false, fmt.Sprintf("Failure: HTTP Status Code %d, %s", code, http.StatusText(code))
}

func failureReport(err error) string {
	var op *net.OpError
	connecting := errors.As(err, &op) && op.Op == "dial"
	var ne net.Error
	timeout := errors.As(err, &ne) && ne.Timeout()
	switch {
	case connecting && timeout:
		return fmt.Sprintf("Failure: no TCP connection within %s", ConnectTimeout)
	case connecting:
		return "Failure: could not connect: " + op.Err.Error()
	case timeout:
		return fmt.Sprintf("Failure: no HTTP status code within %s after connecting", ResponseTimeout)
	}
	return "Failure: " + err.Error()
}

// record applies one result of checker i.
func (c *EndpointCheck) record(i int, ok bool, report string, threshold int) {
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	before := c.statusLocked()
	k := &c.checkers[i]
	k.At, k.Report = now, report
	if ok == k.Healthy {
		c.streaks[i] = 0
	} else if c.streaks[i]++; c.streaks[i] >= threshold {
		k.Healthy, c.streaks[i] = ok, 0
	}
	if after := c.statusLocked(); after != before {
		c.changes = append(c.changes, StatusChange{At: now, Healthy: after})
	}
}

// healthyShare is Route 53's aggregate rule: healthy when "more than 18% of
// health checkers report that an endpoint is healthy" (in integers, so 9
// of 50 is exactly 18%: unhealthy).
func healthyShare(healthy, checkers int) bool { return healthy*100 > checkers*18 }

func (c *EndpointCheck) statusLocked() bool {
	if c.checkers == nil {
		return !c.Inverted // a new check
	}
	n := 0
	for _, k := range c.checkers {
		if k.Healthy {
			n++
		}
	}
	return healthyShare(n, len(c.checkers)) != c.Inverted
}

// Healthy is the check's status now. Before Start it is a new check's
// (healthy, or unhealthy when Inverted). A nil *EndpointCheck is no health
// check: always healthy.
func (c *EndpointCheck) Healthy() bool {
	if c == nil {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.statusLocked()
}

// Observations is each health checker's status and last result (none
// before Start).
func (c *EndpointCheck) Observations() []Observation {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Observation(nil), c.checkers...)
}

// Changes lists the check's status from Start on: its first entry is the
// new check's status, then one entry a change.
func (c *EndpointCheck) Changes() []StatusChange {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]StatusChange(nil), c.changes...)
}

// CheckerOf tells which checker of an EndpointCheck made a request (from
// its User-Agent), so an endpoint's stand-in can answer checkers apart, as
// a network partition would.
func CheckerOf(r *http.Request) (int, bool) {
	var n int
	rest, ok := strings.CutPrefix(r.UserAgent(), UserAgent+" (ref checker-")
	if !ok {
		return 0, false
	}
	if _, err := fmt.Sscanf(rest, "%d;", &n); err != nil {
		return 0, false
	}
	return n, true
}
