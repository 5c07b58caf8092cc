package probe_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redisha/redisha/internal/check"
	"github.com/redisha/redisha/internal/probe"
	"github.com/redisha/redisha/internal/redisconn"
	"github.com/redisha/redisha/internal/sim/redisserver"
	"github.com/redisha/redisha/internal/testbed/redistest"
	"github.com/redisha/redisha/internal/testbed/wait"
)

const probeTimeout = 200 * time.Millisecond

// accuracy is how far a measured window may be from the injected fault.
// The probe's own error is a few ms (a check's start, at most one back-off
// pause of 20 ms after the fault clears); the rest of the bound is for the
// test's clock readings around the injection on a loaded 2-core machine
// (other engineers' tests, two redis-servers, the race detector), where a
// goroutine can wait tens of ms to be scheduled. The benchmark in
// test/probe_compare_test.go reports the errors themselves.
const accuracy = 100 * time.Millisecond

// watch collects a probe's events as its Sink delivers them, so a test can
// wait for what it needs to see instead of sleeping.
type watch struct {
	mu     sync.Mutex
	events []probe.Event
	signal chan struct{}
}

func newWatch() *watch { return &watch{signal: make(chan struct{}, 1)} }

func (w *watch) sink(e probe.Event) {
	w.mu.Lock()
	w.events = append(w.events, e)
	w.mu.Unlock()
	select {
	case w.signal <- struct{}{}:
	default:
	}
}

// until waits up to 10 s for cond to hold over the events so far.
func (w *watch) until(t testing.TB, what string, cond func([]probe.Event) bool) {
	t.Helper()
	w.within(t, 10*time.Second, what, cond)
}

// within waits up to d for cond to hold over the events so far.
func (w *watch) within(t testing.TB, d time.Duration, what string, cond func([]probe.Event) bool) {
	t.Helper()
	deadline := time.After(d)
	for {
		w.mu.Lock()
		ok := cond(w.events)
		w.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-w.signal:
		case <-deadline:
			t.Fatalf("no %s within %s", what, d)
		}
	}
}

// log logs every event but sampled successes, for a failed test.
func (w *watch) log(t testing.TB) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, e := range w.events {
		if e.Type != probe.EventOK {
			t.Logf("%s %s %s %s %s lat %v %s %v", time.Time(e.Time).Format("15:04:05.000"), e.Series, e.Shard, e.Type, e.Reason, e.LatencyMS, e.Error, e.Changes)
		}
	}
}

// count counts the events of type typ.
func (w *watch) count(typ probe.EventType) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, e := range w.events {
		if e.Type == typ {
			n++
		}
	}
	return n
}

// healthy says whether each series' latest check event after from is a
// success.
func healthy(from time.Time) func([]probe.Event) bool {
	return func(es []probe.Event) bool {
		last := map[probe.Kind]probe.EventType{}
		for _, e := range es {
			switch e.Type {
			case probe.EventOK, probe.EventUp, probe.EventDown, probe.EventFail, probe.EventStillDown:
				if !time.Time(e.Time).Before(from) || e.Type != probe.EventOK {
					last[e.Series] = e.Type
				}
			}
		}
		ok := func(t probe.EventType) bool { return t == probe.EventOK || t == probe.EventUp }
		return ok(last[probe.Write]) && ok(last[probe.Read])
	}
}

// ready says whether both series have described their server (the probe
// is connected) and each had a success after it.
func ready(es []probe.Event) bool {
	described := map[probe.Kind]bool{}
	var after []probe.Event
	for _, e := range es {
		if e.Type == probe.EventServer {
			described[e.Series] = true
		}
		if described[probe.Write] && described[probe.Read] {
			after = append(after, e)
		}
	}
	return described[probe.Write] && described[probe.Read] && healthy(time.Time{})(after)
}

// started runs a probe of cfg in the background and waits until it is
// ready (both series connected, described and answered). stop ends the run
// and returns the summary.
func started(t *testing.T, cfg probe.Config) (w *watch, stop func() *probe.Summary) {
	t.Helper()
	w = newWatch()
	cfg.Sink = w.sink
	if cfg.SampleEvery == 0 {
		cfg.SampleEvery = 50 * time.Millisecond
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = probeTimeout
	}
	p, err := probe.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan *probe.Summary, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if t.Failed() {
			w.log(t)
		}
	})
	w.until(t, "healthy baseline", ready)
	return w, func() *probe.Summary {
		cancel()
		select {
		case s := <-done:
			return s
		case <-time.After(10 * time.Second):
			t.Fatal("probe did not stop within 10s")
			return nil
		}
	}
}

// run probes cfg: once the probe is ready it injects the fault, waits until
// both series are healthy again after it, then ends the run and returns
// the summary and the injected fault's measured length.
func run(t *testing.T, cfg probe.Config, inject func() time.Duration, also ...func([]probe.Event) bool) (*probe.Summary, time.Duration) {
	t.Helper()
	w, stop := started(t, cfg)
	injected := inject()
	// Healthy again: a sampled success of each series after the fault.
	w.until(t, "recovery", healthy(time.Now().Add(50*time.Millisecond)))
	for _, cond := range also {
		w.until(t, "what the test waits for", cond)
	}
	return stop(), injected
}

// seen is a condition: an event of type typ has been seen.
func seen(typ probe.EventType) func([]probe.Event) bool {
	return func(es []probe.Event) bool {
		return slices.ContainsFunc(es, func(e probe.Event) bool { return e.Type == typ })
	}
}

func windows(s *probe.Summary, kind probe.Kind) []probe.Window {
	var out []probe.Window
	for _, w := range s.Windows {
		if w.Kind == kind {
			out = append(out, w)
		}
	}
	return out
}

// expectWindow asserts one closed window of kind, its length within
// accuracy (plus late) of want, and one of the reasons.
func expectWindow(t *testing.T, s *probe.Summary, kind probe.Kind, want, late time.Duration, reasons ...string) probe.Window {
	t.Helper()
	ws := windows(s, kind)
	if len(ws) != 1 {
		t.Fatalf("%s windows: %+v, want exactly 1", kind, ws)
	}
	w := ws[0]
	got := time.Duration(w.DurationMS) * time.Millisecond
	if w.Open || got < want-accuracy || got > want+accuracy+late {
		t.Errorf("%s window %s (open %v), injected %s: error %s, allowed −%s…+%s", kind, got, w.Open,
			want.Round(time.Millisecond), (got - want).Round(time.Millisecond), accuracy, accuracy+late)
	}
	if w.ChecksLost < 1 {
		t.Errorf("%s window lost %d checks", kind, w.ChecksLost)
	}
	if !slices.ContainsFunc(w.Reasons, func(r check.Reason) bool { return slices.Contains(reasons, string(r)) }) {
		t.Errorf("%s window reasons %v, want one of %v", kind, w.Reasons, reasons)
	}
	t.Logf("%s window %dms (injected %dms, error %+dms), %d checks lost, reasons %v", kind, w.DurationMS,
		want.Milliseconds(), w.DurationMS-want.Milliseconds(), w.ChecksLost, w.Reasons)
	return w
}

func noLeftovers(t *testing.T, addr string) {
	t.Helper()
	redistest.AssertNoKeys(t, redistest.Admin(t, addr, "", ""), check.DefaultPrefix)
}

// Every fault of the shared catalogue: the windows it must open, their
// length within accuracy of the injected outage, their reasons, and the
// data loss when the fault loses the data set.
func TestFaultCatalogue(t *testing.T) {
	for i, f := range redistest.Faults {
		t.Run(f.Name, func(t *testing.T) {
			if testing.Short() && i > 0 {
				t.Skip("-short runs the catalogue's first fault only; make test runs them all")
			}
			addr, inject := f.Setup(t)
			var also []func([]probe.Event) bool
			if f.LosesData {
				also = append(also, seen(probe.EventDataLoss)) // confirmed after a second
			}
			s, injected := run(t, probe.Config{Conn: redisconn.Config{Addr: addr}}, inject, also...)
			late := time.Duration(0)
			if f.Swallowed {
				late = probeTimeout
			}
			w := expectWindow(t, s, probe.Write, injected, late, f.WriteReasons...)
			if f.ReadReasons != nil {
				expectWindow(t, s, probe.Read, injected, late, f.ReadReasons...)
			} else {
				for _, r := range windows(s, probe.Read) {
					if time.Duration(r.DurationMS)*time.Millisecond > f.ReadBlip {
						t.Errorf("read window %+v: reads should stay up", r)
					}
				}
			}
			switch {
			case f.Name == "client-pause-write-900ms" && !slices.Contains(w.Reasons, probe.ReasonPausedWrites):
				t.Errorf("write window reasons %v, want %s too", w.Reasons, probe.ReasonPausedWrites)
			case f.ReadReasons != nil && f.WriteReasons[0] == "timeout" && slices.Contains(w.Reasons, probe.ReasonPausedWrites):
				t.Errorf("write window reasons %v: a full stall is no write pause", w.Reasons)
			}
			if got := len(s.DataLoss); f.LosesData != (got == 1) {
				t.Errorf("data loss %+v, fault loses data: %v", s.DataLoss, f.LosesData)
			}
		})
	}
}

// TLS and AUTH on every new connection, the reconnect after a restart
// included; the restart is a new run id under the windows.
func TestTLSAndAuthAcrossARestart(t *testing.T) {
	certs := redistest.NewCerts(t, "localhost")
	srv := redistest.Start(t, redisserver.Options{TLS: &certs.TLSFiles, Password: "s3cret"})
	conn := redisconn.Config{Addr: srv.Addr, TLS: true, TLSCAFile: certs.CAFile, TLSServerName: "localhost", Password: "s3cret"}
	s, injected := run(t, probe.Config{Conn: conn}, func() time.Duration {
		start := time.Now()
		srv.Kill()
		time.Sleep(500 * time.Millisecond) // the outage's length
		if err := srv.Restart(); err != nil {
			t.Error(err)
		}
		return time.Since(start)
	})
	expectWindow(t, s, probe.Write, injected, 0, "refused", "reset")
	expectWindow(t, s, probe.Read, injected, 0, "refused", "reset")
	if !slices.ContainsFunc(s.Changes, func(c probe.Change) bool { return c.Field == probe.ChangeRunID }) {
		t.Errorf("restart not seen as a run id change: %+v", s.Changes)
	}
	redistest.AssertNoKeys(t, redistest.Admin(t, srv.Addr, "s3cret", certs.CAFile), check.DefaultPrefix)
}

// A failover: the replica is promoted, the old primary demoted (READONLY on
// the open connection), then the endpoint's name moves to the new primary.
// The probe follows the move on its next dial, and the window lists the
// demotion and the new primary's run id.
func TestFailoverReadOnlyWindowFollowsTheEndpoint(t *testing.T) {
	oldPrimary := redistest.Start(t, redisserver.Options{})
	replica := redistest.StartReplica(t, oldPrimary, "")
	var target atomic.Value
	target.Store(oldPrimary.Addr)
	// The dialer stands for DNS: it dials whatever the endpoint name points at.
	dial := func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, target.Load().(string))
	}
	s, injected := run(t, probe.Config{Conn: redisconn.Config{Addr: "redis.internal:6379", Dialer: dial}}, func() time.Duration {
		start := time.Now()
		redistest.Failover(t, oldPrimary, replica, "")
		time.Sleep(700 * time.Millisecond) // READONLY until the name moves: the window's length
		target.Store(replica.Addr)         // the CNAME flip
		return time.Since(start)
	})
	w := expectWindow(t, s, probe.Write, injected, 0, "readonly")
	if ws := windows(s, probe.Read); len(ws) != 0 {
		t.Errorf("reads went down during a failover that kept both nodes up: %+v", ws)
	}
	has := func(f probe.ChangeField, from, to string) bool {
		return slices.ContainsFunc(w.Changes, func(c probe.Change) bool {
			return c.Field == f && (from == "" || c.From == from) && (to == "" || c.To == to)
		})
	}
	if !has(probe.ChangeRole, "master", "slave") || !has(probe.ChangeRunID, "", "") {
		t.Errorf("a failover window without the demotion and the new primary in its changes: %+v", w.Changes)
	}
	if len(s.DataLoss) != 0 {
		t.Errorf("a failover to an in-sync replica lost data: %+v", s.DataLoss)
	}
	noLeftovers(t, replica.Addr)
}

func TestNoFaultNoWindowAndSummary(t *testing.T) {
	srv := redistest.Start(t, redisserver.Options{})
	admin := redistest.Admin(t, srv.Addr, "", "")
	s, _ := run(t, probe.Config{Conn: redisconn.Config{Addr: srv.Addr}}, func() time.Duration {
		// The read probe key carries an expiry: a run killed outright
		// leaves it for minutes, not for good.
		keys := admin.Keys(context.Background(), check.DefaultPrefix+"probe:*").Val()
		if len(keys) != 1 {
			t.Errorf("read probe keys mid-run: %v", keys)
		}
		for _, k := range keys {
			if ttl := admin.PTTL(context.Background(), k).Val(); ttl <= 0 || ttl > 11*time.Minute {
				t.Errorf("read probe key %s expires in %s", k, ttl)
			}
		}
		return 0
	})
	if len(s.Windows) != 0 || len(s.DataLoss) != 0 || s.Availability != 1 || s.Checks == 0 || s.ChecksPerSecond <= 0 || s.Findings() {
		t.Fatalf("%+v", s)
	}
	noLeftovers(t, srv.Addr)
}

// Cycles with breaks: both cycles run, the break is not probed.
func TestCyclesAndBreak(t *testing.T) {
	srv := redistest.Start(t, redisserver.Options{})
	w := newWatch()
	p, err := probe.New(probe.Config{Conn: redisconn.Config{Addr: srv.Addr}, Timeout: probeTimeout,
		Duration: 300 * time.Millisecond, Cycles: 2, Break: 300 * time.Millisecond, Interval: 10 * time.Millisecond, Sink: w.sink})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	s := p.Run(context.Background())
	if el := time.Since(start); el < 900*time.Millisecond || el > 5*time.Second {
		t.Errorf("2 cycles of 300ms with a 300ms break took %s", el)
	}
	if w.count(probe.EventCycle) != 2 || w.count(probe.EventBreak) != 1 || len(s.Windows) != 0 {
		t.Fatalf("events %+v, windows %v", w.events, s.Windows)
	}
	// With a 10 ms interval, each series makes at most ~30 checks a cycle.
	if s.Checks > 2*2*40 {
		t.Errorf("%d checks: the interval was not honoured", s.Checks)
	}
	noLeftovers(t, srv.Addr)
}

// The duration is a bound: an interval longer than the run does not
// stretch it (it ran a whole interval before).
func TestDurationBoundsAnInterval(t *testing.T) {
	srv := redistest.Start(t, redisserver.Options{})
	p, err := probe.New(probe.Config{Conn: redisconn.Config{Addr: srv.Addr}, Timeout: probeTimeout,
		Duration: 500 * time.Millisecond, Interval: 4 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	s := p.Run(context.Background())
	// 500 ms, plus at most one check in flight and the key's deletion.
	if el := time.Since(start); el > 500*time.Millisecond+3*probeTimeout {
		t.Errorf("--duration 500ms with --interval 4s ran %s", el)
	}
	if s.Series[probe.Write].Checks != 1 || s.Series[probe.Read].Checks != 1 {
		t.Errorf("checks %+v", s.Series)
	}
	noLeftovers(t, srv.Addr)
}

// A FLUSHALL loses the data set without any outage: the probe counts it
// as lost data, once, writes the key again and finds it from then on.
func TestFlushAllIsDataLoss(t *testing.T) {
	srv := redistest.Start(t, redisserver.Options{})
	admin := redistest.Admin(t, srv.Addr, "", "")
	w, stop := started(t, probe.Config{Conn: redisconn.Config{Addr: srv.Addr}})
	if err := admin.FlushAll(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	w.until(t, "the key written again", seen(probe.EventKeyWritten))
	w.until(t, "more reads", healthy(time.Now().Add(100*time.Millisecond)))
	s := stop()
	if len(s.DataLoss) != 1 || len(s.Windows) != 0 || !s.Findings() {
		t.Fatalf("data loss %+v, windows %+v", s.DataLoss, s.Windows)
	}
	if n := w.count(probe.EventDataLoss); n != 1 {
		t.Errorf("%d data_loss events, want 1", n)
	}
	noLeftovers(t, srv.Addr)
}

// A node restarted as a replica of an empty primary: the read key is gone
// and every write of it is refused (READONLY). The loss is recorded once
// and the failed write is noted once, not on every read.
func TestReadKeyRewriteRefusedIsNotedOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("a 7 s scenario: skipped under -short; make test runs it")
	}
	empty := redistest.Start(t, redisserver.Options{})
	srv := redistest.Start(t, redisserver.Options{})
	w, stop := started(t, probe.Config{Conn: redisconn.Config{Addr: srv.Addr}})
	admin := redistest.Admin(t, srv.Addr, "", "")
	if err := admin.Do(context.Background(), "REPLICAOF", "127.0.0.1", strconv.Itoa(empty.Port)).Err(); err != nil {
		t.Fatal(err)
	}
	redistest.WaitReplicaLink(t, srv.Addr, "")
	w.until(t, "the failed write of the key", seen(probe.EventKeyWriteFailed))
	// Twenty more sampled reads (a second at least), each finding no key.
	failedAt := time.Now()
	w.until(t, "a second of reads", func(es []probe.Event) bool {
		n := 0
		for _, e := range es {
			if e.Series == probe.Read && e.Type == probe.EventOK && time.Time(e.Time).After(failedAt) {
				n++
			}
		}
		return n >= 20
	})
	s := stop()
	if n := w.count(probe.EventKeyWriteFailed); n != 1 {
		t.Errorf("%d key_write_failed events in a second of READONLY, want 1", n)
	}
	if n := w.count(probe.EventDataLoss); n != 1 || len(s.DataLoss) != 1 {
		t.Errorf("%d data_loss events, summary %+v; want 1", n, s.DataLoss)
	}
	if s.Series[probe.Read].Checks < 10 {
		t.Errorf("only %d reads", s.Series[probe.Read].Checks)
	}
}

// A whole run against an endpoint that is down: the event log holds the
// state changes and one still_down line per series per SampleEvery, not a
// line per failed check.
func TestDownEndpointEventsAreAggregated(t *testing.T) {
	srv := redistest.Start(t, redisserver.Options{})
	srv.Kill()
	var bytes, events atomic.Int64
	p, err := probe.New(probe.Config{Conn: redisconn.Config{Addr: srv.Addr}, Timeout: probeTimeout,
		Duration: 2 * time.Second, SampleEvery: 500 * time.Millisecond, Sink: func(e probe.Event) {
			events.Add(1)
			bytes.Add(int64(len(e.Error) + 200)) // about a JSON line
		}})
	if err != nil {
		t.Fatal(err)
	}
	s := p.Run(context.Background())
	failed := s.Series[probe.Write].Failed + s.Series[probe.Read].Failed
	// Per series: down, then one still_down per 500 ms; plus the cycle and
	// the key write that failed at start.
	if n := events.Load(); n > 2*(1+2*2+1)+2 || failed < 20 {
		t.Errorf("%d events for %d failed checks in 2s", n, failed)
	}
	t.Logf("%d events (~%d bytes) for %d failed checks", events.Load(), bytes.Load(), failed)
}

// Reconnect storm: against a replica every write is READONLY, which drops
// the connection. The redial backs off while the failure repeats, so the
// write series opens at most ~100 connections a second (thousands before).
func TestSustainedReadOnlyBacksOff(t *testing.T) {
	primary := redistest.Start(t, redisserver.Options{})
	replica := redistest.StartReplica(t, primary, "")
	admin := redistest.Admin(t, replica.Addr, "", "")
	before := connectionsReceived(t, admin)
	start := time.Now()
	p, err := probe.New(probe.Config{Conn: redisconn.Config{Addr: replica.Addr}, Timeout: probeTimeout, Duration: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	s := p.Run(context.Background())
	rate := float64(connectionsReceived(t, admin)-before) / time.Since(start).Seconds()
	t.Logf("%.0f new connections/s during a sustained READONLY (%d write checks)", rate, s.Series[probe.Write].Checks)
	if rate > 200 {
		t.Errorf("%.0f new connections/s: the redial does not back off", rate)
	}
	if w := windows(s, probe.Write); len(w) != 1 || w[0].Reasons[0] != check.ReasonReadOnly || s.Series[probe.Write].Checks < 50 {
		t.Errorf("write windows %+v after %d checks", w, s.Series[probe.Write].Checks)
	}
}

// Failures a quick retry cannot fix, a wrong password and a full server
// (maxclients), cost at most 20 new connections a second after the first
// second, counted by the server itself (INFO stats).
func TestWrongPasswordAndMaxClientsBackOff(t *testing.T) {
	t.Parallel()
	authed := redistest.Start(t, redisserver.Options{Password: "right"})
	full := redistest.Start(t, redisserver.Options{Config: []string{"maxclients 1"}})
	for _, tc := range []struct {
		name  string
		conn  redisconn.Config
		admin *redis.Client
	}{
		{"wrong password", redisconn.Config{Addr: authed.Addr, Password: "wrong"}, redistest.Admin(t, authed.Addr, "right", "")},
		// The admin client is the one the full server takes.
		{"maxclients", redisconn.Config{Addr: full.Addr}, redistest.Admin(t, full.Addr, "", "")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := probe.New(probe.Config{Conn: tc.conn, Timeout: probeTimeout, Duration: 2500 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			before := connectionsReceived(t, tc.admin)
			done := make(chan *probe.Summary, 1)
			start := time.Now()
			go func() { done <- p.Run(context.Background()) }()
			// The first second may cost more while the back-off grows; the
			// count starts after it (a measurement window, not a wait for
			// something to happen).
			<-time.After(time.Second)
			atSecond, from := connectionsReceived(t, tc.admin), time.Now()
			s := <-done
			n, el := connectionsReceived(t, tc.admin)-atSecond, time.Since(from)
			t.Logf("%s: %d connections in the first second, %d in the next %s (%.1f/s), %d checks",
				tc.name, atSecond-before, n, el.Round(time.Millisecond), float64(n)/el.Seconds(), s.Checks)
			if limit := int64(20*el.Seconds()) + 2; n > limit {
				t.Errorf("%s: %d new connections in %s after the first second, want at most %d (20/s)", tc.name, n, el, limit)
			}
			if w := windows(s, probe.Write); len(w) != 1 || time.Since(start) < 2*time.Second {
				t.Errorf("%s: write windows %+v", tc.name, w)
			}
		})
	}
}

// A refused dial heals in moments (a restarting server): the back-off
// stays short, ~100 dials a second per series, counted at the dialer.
func TestRefusedBackOff(t *testing.T) {
	t.Parallel()
	down := redistest.Start(t, redisserver.Options{})
	down.Kill()
	for _, tc := range []struct {
		name string
		conn redisconn.Config
	}{
		{"refused", redisconn.Config{Addr: down.Addr}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var dials atomic.Int64
			tc.conn.Dialer = func(ctx context.Context, network, addr string) (net.Conn, error) {
				dials.Add(1)
				var d net.Dialer
				return d.DialContext(ctx, network, addr)
			}
			p, err := probe.New(probe.Config{Conn: tc.conn, Timeout: probeTimeout, Duration: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			s := p.Run(context.Background())
			// Two series, and the start's key write.
			rate := float64(dials.Load()) / time.Since(start).Seconds() / 2
			t.Logf("%s: %.0f dials/s per series, %d checks", tc.name, rate, s.Checks)
			if rate > 200 {
				t.Errorf("%s: %.0f dials/s per series", tc.name, rate)
			}
		})
	}
}

// connectionsReceived reads from INFO stats the connections the server
// accepted (total_connections_received) plus those it turned away at
// maxclients (rejected_connections), which the first does not count.
func connectionsReceived(t *testing.T, c *redis.Client) int64 {
	t.Helper()
	info, err := c.Info(context.Background(), "stats").Result()
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	found := 0
	for _, line := range strings.Split(info, "\n") {
		for _, field := range []string{"total_connections_received:", "rejected_connections:"} {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), field); ok {
				k, _ := strconv.ParseInt(v, 10, 64)
				n += k
				found++
			}
		}
	}
	if found != 2 {
		t.Fatal("no total_connections_received or rejected_connections in INFO stats")
	}
	return n
}

// A library caller cannot start a run that cannot work or never ends: the
// config validates itself and names the field.
func TestConfigValidate(t *testing.T) {
	conn := redisconn.Config{Addr: "127.0.0.1:6379"}
	for _, tc := range []struct {
		cfg   probe.Config
		field string
	}{
		{probe.Config{Conn: conn, Timeout: -time.Second}, probe.FieldTimeout},
		{probe.Config{Conn: conn, Duration: -time.Second}, probe.FieldDuration},
		{probe.Config{Conn: conn, Interval: -time.Second}, probe.FieldInterval},
		{probe.Config{Conn: conn, Cycles: -1}, probe.FieldCycles},
		{probe.Config{Conn: conn, Cycles: 2}, probe.FieldCycles}, // no duration: would never end
		{probe.Config{Conn: conn, Break: -time.Second}, probe.FieldBreak},
		{probe.Config{Conn: conn, KeyTTL: 10 * time.Millisecond}, probe.FieldKeyTTL},
		{probe.Config{Conn: conn, SampleEvery: -time.Second}, probe.FieldSampleEvery},
		{probe.Config{Conn: conn, Prefix: "a b"}, probe.FieldPrefix},
	} {
		_, err := probe.New(tc.cfg)
		var fe *probe.FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field || !strings.HasPrefix(err.Error(), tc.field+" ") {
			t.Errorf("%+v: %v, want a %q field error", tc.cfg, err, tc.field)
		}
	}
	if _, err := probe.New(probe.Config{Conn: conn, Cycles: 2, Duration: time.Second}); err != nil {
		t.Errorf("a valid config: %v", err)
	}
	if _, err := probe.New(probe.Config{}); err == nil {
		t.Error("no address: no error")
	}
}

// A missing or non-PEM CA file is an error of New: the probe never starts
// a run of failed handshakes (~100k failed checks/s before).
func TestBadCAFileIsAnErrorBeforeTheRun(t *testing.T) {
	notPEM := filepath.Join(t.TempDir(), "ca.txt")
	if err := os.WriteFile(notPEM, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, ca := range []string{filepath.Join(t.TempDir(), "missing.pem"), notPEM} {
		p, err := probe.New(probe.Config{Conn: redisconn.Config{Addr: "127.0.0.1:6379", TLS: true, TLSCAFile: ca}})
		if err == nil || p != nil {
			t.Errorf("CA file %s: probe %v, error %v", ca, p, err)
		}
	}
}

// Connection kills (CLIENT KILL TYPE normal, as a maintenance, a proxy or
// an idle-timeout does) show in both series alike: each series measures
// what an application without retries sees, so a kill is a failed check of
// the write series too, not hidden by a redial within the check. A kill that
// lands while a connection sits idle between two checks is replaced by
// go-redis's own check of idle connections, without an error, in both
// series as in an application: each series shows most kills, not all.
func TestClientKillShowsInBothSeries(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redisserver.Options{})
	admin := redistest.Admin(t, srv.Addr, "", "")
	ctx := context.Background()
	w, stop := started(t, probe.Config{Conn: redisconn.Config{Addr: srv.Addr}, Duration: time.Minute})
	const kills = 20
	for range kills {
		// Both series connected again: the admin and two more clients.
		wait.For(t, 10*time.Second, "both series connected", func() bool {
			list, err := admin.ClientList(ctx).Result()
			return err == nil && strings.Count(list, "\n") >= 3
		})
		// Kill while both series are mid-run: each has checked since.
		from := time.Now()
		w.until(t, "checks after reconnecting", healthy(from))
		if err := admin.Do(ctx, "CLIENT", "KILL", "TYPE", "normal").Err(); err != nil {
			t.Fatal(err)
		}
	}
	w.until(t, "recovery", healthy(time.Now().Add(50*time.Millisecond)))
	s := stop()
	nw, nr := len(windows(s, probe.Write)), len(windows(s, probe.Read))
	t.Logf("%d kills: %d write windows, %d read windows", kills, nw, nr)
	if nw < kills/4 || nr < kills/4 {
		t.Errorf("%d kills: %d write windows, %d read windows; want each series to show most of them", kills, nw, nr)
	}
}
