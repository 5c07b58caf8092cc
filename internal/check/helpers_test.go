package check_test

import (
	"context"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redisha/redisha/internal/check"
	"github.com/redisha/redisha/internal/redisconn"
	"github.com/redisha/redisha/internal/testbed/redistest"
)

// slack is what a loaded 2-core box may add on top of a check's own
// timeout before its result arrives. Fault tests assert that a result is
// bounded by Timeout+slack, never that it is fast.
const slack = 5 * time.Second

// faultTimeout is the check timeout of the fault tests: short enough to keep
// them quick, long enough that a healthy loopback check never reaches it.
const faultTimeout = 750 * time.Millisecond

// boundedCheck runs one check through k and fails the test when the result
// took longer than the check's timeout plus slack to arrive.
func boundedCheck(t *testing.T, k *check.Checker) check.Result {
	t.Helper()
	timeout := k.Options().Timeout
	if timeout <= 0 {
		t.Fatal("fault tests need a check timeout")
	}
	start := time.Now()
	r := k.Check(context.Background())
	if took := time.Since(start); took > timeout+slack {
		t.Fatalf("result after %s, want within timeout %s + slack %s: %+v", took, timeout, slack, r)
	}
	return r
}

// wantFailure fails the test unless r is unhealthy at step for reason.
func wantFailure(t *testing.T, r check.Result, step check.Step, reason check.Reason) {
	t.Helper()
	if r.Healthy || r.Step != step || r.Reason != reason {
		t.Fatalf("got healthy=%v step=%q reason=%q error=%q; want unhealthy at step %q for reason %q",
			r.Healthy, r.Step, r.Reason, r.Error, step, reason)
	}
	if r.Error == "" {
		t.Fatalf("unhealthy result without error text: %+v", r)
	}
	if r.Latency <= 0 {
		t.Fatalf("latency not measured on a failure: %+v", r)
	}
}

// wantHealthy fails the test unless r is healthy.
func wantHealthy(t *testing.T, r check.Result) {
	t.Helper()
	if !r.Healthy || r.Step != "" || r.Reason != "" || r.Error != "" {
		t.Fatalf("want healthy, got step=%q reason=%q error=%q", r.Step, r.Reason, r.Error)
	}
}

// wantAtDeadline fails the test when a timed-out check gave up well before
// its deadline: a stalled server is a failure at the deadline.
func wantAtDeadline(t *testing.T, r check.Result, timeout time.Duration) {
	t.Helper()
	if r.Latency < timeout*9/10 {
		t.Fatalf("timed out after %s, before the %s deadline", r.Latency, timeout)
	}
}

// eventuallyNoKeys waits up to 5 s for the keys under prefix (bar exclude)
// to be gone from the server behind admin: commands a stalled server
// buffered may still run for a moment after it recovers.
func eventuallyNoKeys(t *testing.T, admin *redis.Client, prefix string, exclude ...string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		keys := redistest.LeftoverKeys(ctx, t, admin, prefix, exclude...)
		cancel()
		if len(keys) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("keys left behind under %q: %v", prefix, keys)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// nxdomainServer is a DNS server on loopback UDP that answers every query
// with NXDOMAIN, so name resolution in tests never leaves the host.
type nxdomainServer struct {
	addr string
	mu   sync.Mutex
	asks []string
}

func startNXDOMAIN(t testing.TB) *nxdomainServer {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen dns: %v", err)
	}
	s := &nxdomainServer{addr: pc.LocalAddr().String()}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if n < 12 {
				continue
			}
			q := append([]byte(nil), buf[:n]...)
			s.mu.Lock()
			s.asks = append(s.asks, questionName(q))
			s.mu.Unlock()
			q[2] |= 0x80                // QR: a response
			q[3] = (q[3] & 0x70) | 0x83 // RA, RCODE 3 = NXDOMAIN
			_, _ = pc.WriteTo(q, from)
		}
	}()
	t.Cleanup(func() { _ = pc.Close(); <-done })
	return s
}

// questionName reads the first question's name from a DNS message.
func questionName(msg []byte) string {
	var labels []string
	for i := 12; i < len(msg); {
		l := int(msg[i])
		if l == 0 || i+1+l > len(msg) {
			break
		}
		labels = append(labels, string(msg[i+1:i+1+l]))
		i += 1 + l
	}
	return strings.Join(labels, ".")
}

func (s *nxdomainServer) questions() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.asks...)
}

// dialer returns a TCP dialer that resolves names through s only.
func (s *nxdomainServer) dialer() func(ctx context.Context, network, addr string) (net.Conn, error) {
	res := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", s.addr)
	}}
	d := &net.Dialer{Resolver: res}
	return d.DialContext
}

func TestMain(m *testing.M) {
	redisconn.QuietGoRedisLogger() // as the programs do: results carry every failure
	os.Exit(m.Run())
}
