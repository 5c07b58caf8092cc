package probe_test

import (
	"context"
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redisha/redisha/internal/check"
	"github.com/redisha/redisha/internal/probe"
	"github.com/redisha/redisha/internal/redisconn"
	"github.com/redisha/redisha/internal/redisserver"
	"github.com/redisha/redisha/internal/redistest"
)

const probeTimeout = 200 * time.Millisecond

// tolerance is how far a measured window may be from the injected fault:
// a window's edges are check starts, so each edge is off by up to one
// check (≤ the timeout) plus scheduling on a loaded 2-core machine.
const tolerance = 2*probeTimeout + 300*time.Millisecond

// run probes cfg while inject runs, then stops the probe and returns the
// summary and the injected fault's measured length.
func run(t *testing.T, cfg probe.Config, inject func() time.Duration) (*probe.Summary, time.Duration) {
	t.Helper()
	cfg.Timeout = probeTimeout
	p, err := probe.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	done := make(chan *probe.Summary, 1)
	go func() { done <- p.Run(context.Background(), stop) }()
	time.Sleep(500 * time.Millisecond) // a healthy baseline first
	injected := inject()
	time.Sleep(700 * time.Millisecond) // and a healthy tail
	close(stop)
	select {
	case s := <-done:
		return s, injected
	case <-time.After(10 * time.Second):
		t.Fatal("probe did not stop within 10s")
		return nil, 0
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
// tolerance of want, and one of the reasons.
func expectWindow(t *testing.T, s *probe.Summary, kind probe.Kind, want time.Duration, reasons ...string) probe.Window {
	t.Helper()
	ws := windows(s, kind)
	if len(ws) != 1 {
		t.Fatalf("%s windows: %+v, want exactly 1", kind, ws)
	}
	w := ws[0]
	got := time.Duration(w.DurationMS) * time.Millisecond
	if w.Open || got < want-tolerance || got > want+tolerance {
		t.Errorf("%s window %s (open %v), injected %s ± %s", kind, got, w.Open, want.Round(time.Millisecond), tolerance)
	}
	if w.ChecksLost < 1 {
		t.Errorf("%s window lost %d checks", kind, w.ChecksLost)
	}
	matched := false
	for _, r := range w.Reasons {
		for _, want := range reasons {
			matched = matched || r == want
		}
	}
	if !matched {
		t.Errorf("%s window reasons %v, want one of %v", kind, w.Reasons, reasons)
	}
	t.Logf("%s window %dms (injected %dms), %d checks lost, reasons %v", kind, w.DurationMS, want.Milliseconds(), w.ChecksLost, w.Reasons)
	return w
}

func noLeftovers(t *testing.T, addr string) {
	t.Helper()
	redistest.AssertNoKeys(t, redistest.Admin(t, addr, "", ""), check.DefaultPrefix)
}

func TestKillAndRestart(t *testing.T) {
	srv := redistest.Start(t, redisserver.Options{})
	s, injected := run(t, probe.Config{Conn: redisconn.Config{Addr: srv.Addr}}, func() time.Duration {
		start := time.Now()
		srv.Kill()
		time.Sleep(800 * time.Millisecond)
		if err := srv.Restart(); err != nil {
			t.Error(err)
		}
		return time.Since(start)
	})
	expectWindow(t, s, probe.Write, injected, "refused", "reset")
	expectWindow(t, s, probe.Read, injected, "refused", "reset")
	if len(s.Changes) == 0 || !strings.Contains(strings.Join(s.Changes, " "), "run id") {
		t.Errorf("restart not seen as a run id change: %v", s.Changes)
	}
	if s.Availability >= 1 || s.Checks < 100 {
		t.Errorf("availability %v, checks %d", s.Availability, s.Checks)
	}
	noLeftovers(t, srv.Addr)
}

// TLS and AUTH on every new connection, the reconnect after a restart
// included.
func TestTLSAndAuthAcrossARestart(t *testing.T) {
	certs := redistest.NewCerts(t, "localhost")
	srv := redistest.Start(t, redisserver.Options{TLS: &certs.TLSFiles, Password: "s3cret"})
	conn := redisconn.Config{Addr: srv.Addr, TLS: true, TLSCAFile: certs.CAFile, TLSServerName: "localhost", Password: "s3cret"}
	s, injected := run(t, probe.Config{Conn: conn}, func() time.Duration {
		start := time.Now()
		srv.Kill()
		time.Sleep(500 * time.Millisecond)
		if err := srv.Restart(); err != nil {
			t.Error(err)
		}
		return time.Since(start)
	})
	expectWindow(t, s, probe.Write, injected, "refused", "reset")
	expectWindow(t, s, probe.Read, injected, "refused", "reset")
	redistest.AssertNoKeys(t, redistest.Admin(t, srv.Addr, "s3cret", certs.CAFile), check.DefaultPrefix)
}

func TestStall(t *testing.T) {
	srv := redistest.Start(t, redisserver.Options{})
	s, injected := run(t, probe.Config{Conn: redisconn.Config{Addr: srv.Addr}}, func() time.Duration {
		start := time.Now()
		_ = srv.Pause()
		time.Sleep(900 * time.Millisecond)
		_ = srv.Resume()
		return time.Since(start)
	})
	expectWindow(t, s, probe.Write, injected, "timeout")
	expectWindow(t, s, probe.Read, injected, "timeout")
	noLeftovers(t, srv.Addr)
}

// CLIENT PAUSE … WRITE: writes stall, reads stay up, and the write window
// says so (paused_writes: reads were answered while writes waited).
func TestPausedWritesAreAWriteWindowOnly(t *testing.T) {
	srv := redistest.Start(t, redisserver.Options{})
	s, injected := run(t, probe.Config{Conn: redisconn.Config{Addr: srv.Addr}}, func() time.Duration {
		redistest.PauseWrites(t, srv.Addr, 900*time.Millisecond)
		time.Sleep(900 * time.Millisecond)
		return 900 * time.Millisecond
	})
	w := expectWindow(t, s, probe.Write, injected, "timeout")
	if !slices.Contains(w.Reasons, probe.ReasonPausedWrites) {
		t.Errorf("write window reasons %v, want %s too", w.Reasons, probe.ReasonPausedWrites)
	}
	if ws := windows(s, probe.Read); len(ws) != 0 {
		t.Errorf("reads went down during a write pause: %+v", ws)
	}
	noLeftovers(t, srv.Addr)
}

// A restart that loads its data from disk: refused while the process is
// gone, then -LOADING until the data set is in memory.
func TestRestartWhileLoading(t *testing.T) {
	srv := redistest.StartLoading(t, 10000, 100*time.Microsecond) // about 1 s to load
	s, injected := run(t, probe.Config{Conn: redisconn.Config{Addr: srv.Addr}}, func() time.Duration {
		start := time.Now()
		srv.Kill()
		if err := srv.Restart(); err != nil { // returns once loaded
			t.Error(err)
		}
		return time.Since(start)
	})
	expectWindow(t, s, probe.Write, injected, "loading")
	expectWindow(t, s, probe.Read, injected, "loading")
	noLeftovers(t, srv.Addr)
}

func TestDebugSleep(t *testing.T) {
	srv := redistest.Start(t, redisserver.Options{})
	s, injected := run(t, probe.Config{Conn: redisconn.Config{Addr: srv.Addr}}, func() time.Duration {
		start := time.Now()
		redistest.DebugSleep(t, srv.Addr, 900*time.Millisecond)
		return time.Since(start)
	})
	expectWindow(t, s, probe.Write, injected, "timeout")
	expectWindow(t, s, probe.Read, injected, "timeout")
	noLeftovers(t, srv.Addr)
}

// A failover: the replica is promoted, the old primary demoted (READONLY on
// the open connection), then the endpoint's name moves to the new primary.
// The probe follows the move on its next dial.
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
		time.Sleep(700 * time.Millisecond)
		target.Store(replica.Addr) // the CNAME flip
		return time.Since(start)
	})
	w := expectWindow(t, s, probe.Write, injected, "readonly")
	if ws := windows(s, probe.Read); len(ws) != 0 {
		t.Errorf("reads went down during a failover that kept both nodes up: %+v", ws)
	}
	expectFailoverChanges(t, w)
	noLeftovers(t, replica.Addr)
}

// The same failover with a real endpoint in front (a proxy whose target
// moves, closing its connections, as a DNS flip plus the old primary's
// restart do): the probe's own dialer follows it.
func TestFailoverBehindAnEndpointThatMoves(t *testing.T) {
	oldPrimary := redistest.Start(t, redisserver.Options{})
	replica := redistest.StartReplica(t, oldPrimary, "")
	endpoint := redistest.NewProxy(t, oldPrimary.Addr)
	s, injected := run(t, probe.Config{Conn: redisconn.Config{Addr: endpoint.Addr}}, func() time.Duration {
		start := time.Now()
		redistest.Failover(t, oldPrimary, replica, "")
		time.Sleep(700 * time.Millisecond)
		endpoint.Retarget(t, replica.Addr)
		return time.Since(start)
	})
	w := expectWindow(t, s, probe.Write, injected, "readonly")
	expectFailoverChanges(t, w)
	// Reads were served by the demoted primary until the move, and the
	// move itself cut them only for a reconnect.
	for _, r := range windows(s, probe.Read) {
		if r.DurationMS > 100 {
			t.Errorf("read window %+v in a failover", r)
		}
	}
	noLeftovers(t, replica.Addr)
}

// expectFailoverChanges asserts that a failover's write window lists the
// demotion seen on the READONLY answer and the new primary's run id.
func expectFailoverChanges(t *testing.T, w probe.Window) {
	t.Helper()
	changes := strings.Join(w.Changes, "\n")
	if !strings.Contains(changes, "role master → slave") || !strings.Contains(changes, "run id") {
		t.Errorf("a failover window without the demotion and the new primary in its changes:\n%s", changes)
	}
	t.Logf("changes:\n%s", changes)
}

func TestToxiproxyTimeoutAndReset(t *testing.T) {
	srv := redistest.Start(t, redisserver.Options{})
	for _, toxic := range []struct{ json, reason string }{
		{`{"name":"t","type":"timeout","stream":"downstream","attributes":{"timeout":0}}`, "timeout"},
		{`{"name":"t","type":"reset_peer","stream":"upstream","attributes":{"timeout":0}}`, "reset"},
	} {
		t.Run(toxic.reason, func(t *testing.T) {
			p := redistest.NewProxy(t, srv.Addr)
			s, injected := run(t, probe.Config{Conn: redisconn.Config{Addr: p.Addr}}, func() time.Duration {
				start := time.Now()
				p.AddToxic(t, toxic.json)
				time.Sleep(800 * time.Millisecond)
				p.RemoveToxic(t, "t")
				return time.Since(start)
			})
			expectWindow(t, s, probe.Write, injected, toxic.reason)
			expectWindow(t, s, probe.Read, injected, toxic.reason)
		})
	}
	noLeftovers(t, srv.Addr)
}

func TestNoFaultNoWindowAndSummary(t *testing.T) {
	srv := redistest.Start(t, redisserver.Options{})
	var events atomic.Int64
	admin := redistest.Admin(t, srv.Addr, "", "")
	s, _ := run(t, probe.Config{Conn: redisconn.Config{Addr: srv.Addr}, Sink: func(probe.Event) { events.Add(1) }},
		func() time.Duration {
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
	if len(s.Windows) != 0 || s.Availability != 1 || s.Checks == 0 || s.ChecksPerSecond <= 0 {
		t.Fatalf("%+v", s)
	}
	// Successes are sampled (about one per series per second), not logged
	// one by one.
	if n := events.Load(); n > 20 || n < 2 {
		t.Errorf("%d events for %d healthy checks", n, s.Checks)
	}
	noLeftovers(t, srv.Addr)
}

// Cycles with breaks: both cycles run, the break is not probed.
func TestCyclesAndBreak(t *testing.T) {
	srv := redistest.Start(t, redisserver.Options{})
	var marks []string
	p, err := probe.New(probe.Config{Conn: redisconn.Config{Addr: srv.Addr}, Timeout: probeTimeout,
		Duration: 300 * time.Millisecond, Cycles: 2, Break: 300 * time.Millisecond, Interval: 10 * time.Millisecond,
		Sink: func(e probe.Event) {
			if e.Event == "mark" {
				marks = append(marks, e.Message)
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	s := p.Run(context.Background(), make(chan struct{}))
	if el := time.Since(start); el < 900*time.Millisecond || el > 5*time.Second {
		t.Errorf("2 cycles of 300ms with a 300ms break took %s", el)
	}
	if len(marks) != 3 || len(s.Windows) != 0 {
		t.Fatalf("marks %v, windows %v", marks, s.Windows)
	}
	// With a 10 ms interval, each series makes at most ~30 checks a cycle.
	if s.Checks > 2*2*40 {
		t.Errorf("%d checks: the interval was not honoured", s.Checks)
	}
	noLeftovers(t, srv.Addr)
}
