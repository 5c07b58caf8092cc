package writeprobe_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/redisha/redisha/internal/check"
	"github.com/redisha/redisha/internal/config"
	"github.com/redisha/redisha/internal/sim/redisserver"
	"github.com/redisha/redisha/internal/testbed/gdslocal"
	"github.com/redisha/redisha/internal/testbed/redistest"
	"github.com/redisha/redisha/internal/testbed/syncbuf"
	"github.com/redisha/redisha/internal/writeprobe"
)

func TestMain(m *testing.M) { redistest.Main(m) }

// probe is a writable endpoint built as the Lambda builds it, served on
// loopback.
type probe struct {
	h    *writeprobe.Handler
	url  string
	logs *syncbuf.Buffer
}

// start builds the handler from the environment env (with REDIS_TLS=false
// and AWS_REGION=us-east-1 unless env says otherwise) and serves it.
func start(t *testing.T, env map[string]string) *probe {
	t.Helper()
	all := map[string]string{config.EnvTLS: "false", config.EnvAWSRegion: "us-east-1", config.EnvServe: "writable-url"}
	for k, v := range env {
		all[k] = v
	}
	cfg, err := config.FromEnv(func(k string) string { return all[k] })
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncbuf.Buffer{}
	h, closeFn, err := writeprobe.Build(context.Background(), cfg, slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = closeFn() })
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &probe{h: h, url: srv.URL, logs: logs}
}

// do sends one request, bounded well beyond the probe's own budget so a
// hang fails the test instead of stalling it.
func (p *probe) do(t *testing.T, method, path string) (int, string, http.Header) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, p.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("%s %s: Cache-Control %q, want no-store", method, path, cc)
	}
	return resp.StatusCode, string(body), resp.Header
}

// logLines are the handler's log lines so far.
func (p *probe) logLines(t *testing.T) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(p.logs.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		lines = append(lines, m)
	}
	return lines
}

func TestPrimaryIsWritableAndLeavesNoKey(t *testing.T) {
	srv := redistest.Start(t, redisserver.Options{})
	p := start(t, map[string]string{config.EnvAddr: srv.Addr})
	for i := 0; i < 2; i++ { // cold, then warm
		status, body, h := p.do(t, http.MethodGet, writeprobe.Path)
		if status != http.StatusOK || body != "writable us-east-1\n" || !strings.HasPrefix(h.Get("Content-Type"), "text/plain") {
			t.Fatalf("request %d: %d %q %v", i, status, body, h)
		}
	}
	// No heartbeat either: only the loop's checker writes it.
	redistest.AssertNoKeys(t, redistest.Admin(t, srv.Addr, "", ""), check.DefaultPrefix)
	// One line a request, at debug: Route 53 asks more than once a second.
	lines := p.logLines(t)
	if len(lines) != 2 || lines[0]["level"] != "DEBUG" || lines[0]["writable"] != true || lines[0]["status"] != 200.0 {
		t.Fatalf("log lines %v", lines)
	}
	if status, body, _ := p.do(t, http.MethodHead, writeprobe.Path); status != http.StatusOK || body != "" {
		t.Fatalf("HEAD: %d %q", status, body)
	}
}

func TestReplicaIsNotWritable(t *testing.T) {
	primary := redistest.Start(t, redisserver.Options{})
	replica := redistest.StartReplica(t, primary, "")
	p := start(t, map[string]string{config.EnvAddr: replica.Addr})
	for i := 0; i < 2; i++ { // the role learnt, then remembered
		status, body, _ := p.do(t, http.MethodGet, writeprobe.Path)
		if status != http.StatusServiceUnavailable || body != "not writable: the node is a replica\n" {
			t.Fatalf("request %d: %d %q", i, status, body)
		}
	}
	// The secondary's steady state, asked more than once a second: at debug.
	lines := p.logLines(t)
	if len(lines) != 2 || lines[0]["level"] != "DEBUG" || lines[0]["status"] != 503.0 || lines[0]["role"] != "replica" {
		t.Fatalf("log lines %v", lines)
	}
}

// A stalled server answers nothing: the request still ends, with a 503,
// because the check's deadline is the probe's, not the server's.
func TestStalledPrimaryIs503(t *testing.T) {
	srv := redistest.Start(t, redisserver.Options{})
	p := start(t, map[string]string{config.EnvAddr: srv.Addr})
	if status, _, _ := p.do(t, http.MethodGet, writeprobe.Path); status != http.StatusOK {
		t.Fatalf("warm-up: %d", status)
	}
	if err := srv.Pause(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Resume() })
	status, body, _ := p.do(t, http.MethodGet, writeprobe.Path)
	if status != http.StatusServiceUnavailable || body != "not writable: timeout at ping\n" {
		t.Fatalf("stalled: %d %q", status, body)
	}
}

func TestStoppedServerIs503WithoutItsAddress(t *testing.T) {
	srv := redistest.Start(t, redisserver.Options{})
	srv.Kill()
	p := start(t, map[string]string{config.EnvAddr: srv.Addr})
	status, body, _ := p.do(t, http.MethodGet, writeprobe.Path)
	if status != http.StatusServiceUnavailable || body != "not writable: refused at ping\n" {
		t.Fatalf("stopped: %d %q", status, body)
	}
	// The body is public; the log line, private, says where.
	if strings.Contains(body, "127.0.0.1") || !strings.Contains(p.logs.String(), srv.Addr) {
		t.Fatalf("body %q, logs %s", body, p.logs.String())
	}
}

// A master in a region the Global Datastore does not name as primary (an
// old primary back undemoted) is not writable; once the datastore names the
// region, it is.
func TestFencedMasterIs503(t *testing.T) {
	srv := redistest.Start(t, redisserver.Options{})
	ec, roles := gdslocal.Fence(t, "ldgnf-redisha", "us-west-2")
	p := start(t, map[string]string{config.EnvAddr: srv.Addr, config.EnvDatastoreID: "ldgnf-redisha"})
	status, body, _ := p.do(t, http.MethodGet, writeprobe.Path)
	if status != http.StatusServiceUnavailable || body != "not writable: fenced, the datastore's primary is us-west-2\n" {
		t.Fatalf("fenced: %d %q", status, body)
	}
	if !strings.Contains(p.logs.String(), `"datastore_primary":"us-west-2"`) {
		t.Errorf("the log does not say which region is primary: %s", p.logs.String())
	}
	roles("us-east-1")
	if status, body, _ := p.do(t, http.MethodGet, writeprobe.Path); status != http.StatusOK {
		t.Fatalf("named primary: %d %q", status, body)
	}
	// Route 53 asks more than once a second: an answer naming this region
	// serves the next requests for FenceReuse, without a call to the API.
	calls := len(ec.Calls())
	for range 5 {
		if status, body, _ := p.do(t, http.MethodGet, writeprobe.Path); status != http.StatusOK {
			t.Fatalf("named primary, again: %d %q", status, body)
		}
	}
	if n := len(ec.Calls()) - calls; n != 0 {
		t.Errorf("%d API calls for five requests within %s of a read naming this region, want 0", n, writeprobe.FenceReuse)
	}
}

// Only GET and HEAD of /writable run a check: a scanner probing / writes
// nothing.
func TestOtherPathsAndMethodsWriteNothing(t *testing.T) {
	srv := redistest.Start(t, redisserver.Options{})
	p := start(t, map[string]string{config.EnvAddr: srv.Addr})
	admin := redistest.Admin(t, srv.Addr, "", "")
	if err := admin.ConfigResetStat(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		method, path string
		status       int
	}{
		{http.MethodGet, "/", http.StatusNotFound},
		{http.MethodGet, "/writable/", http.StatusNotFound},
		{http.MethodGet, "/favicon.ico", http.StatusNotFound},
		{http.MethodPost, writeprobe.Path, http.StatusMethodNotAllowed},
		{http.MethodDelete, writeprobe.Path, http.StatusMethodNotAllowed},
	} {
		status, _, h := p.do(t, tc.method, tc.path)
		if status != tc.status {
			t.Errorf("%s %s: %d, want %d", tc.method, tc.path, status, tc.status)
		}
		if tc.status == http.StatusMethodNotAllowed && h.Get("Allow") != "GET, HEAD" {
			t.Errorf("%s %s: Allow %q", tc.method, tc.path, h.Get("Allow"))
		}
	}
	stats, err := admin.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(stats, "cmdstat_set:") || strings.Contains(stats, "cmdstat_ping:") {
		t.Fatalf("a refused request reached Redis:\n%s", stats)
	}
}

// The function URL adapter gives the same answers from a payload format
// 2.0 event.
func TestHandleFunctionURL(t *testing.T) {
	srv := redistest.Start(t, redisserver.Options{})
	p := start(t, map[string]string{config.EnvAddr: srv.Addr})
	req := func(method, path string) events.LambdaFunctionURLRequest {
		return events.LambdaFunctionURLRequest{Version: "2.0", RawPath: path,
			RequestContext: events.LambdaFunctionURLRequestContext{HTTP: events.LambdaFunctionURLRequestContextHTTPDescription{Method: method, Path: path}}}
	}
	for _, tc := range []struct {
		method, path string
		status       int
		body         string
	}{
		{http.MethodGet, writeprobe.Path, 200, "writable us-east-1\n"},
		{http.MethodHead, writeprobe.Path, 200, ""},
		{http.MethodGet, "/", 404, "not found\n"},
		{http.MethodPut, writeprobe.Path, 405, "method not allowed\n"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		resp, err := p.h.HandleFunctionURL(ctx, req(tc.method, tc.path))
		cancel()
		if err != nil || resp.StatusCode != tc.status || resp.Body != tc.body || resp.Headers["Cache-Control"] != "no-store" {
			t.Errorf("%s %s: %+v %v", tc.method, tc.path, resp, err)
		}
	}
}

// A cluster is writable only when every shard's primary takes the write.
func TestClusterEveryShardMustTakeTheWrite(t *testing.T) {
	servers := redistest.StartCluster(t, 3, redisserver.Options{})
	p := start(t, map[string]string{config.EnvAddr: servers[0].Addr, config.EnvClusterMode: "on"})
	if status, body, _ := p.do(t, http.MethodGet, writeprobe.Path); status != http.StatusOK {
		t.Fatalf("healthy cluster: %d %q", status, body)
	}
	for _, s := range servers {
		// One database in cluster mode.
		if keys := redistest.Admin(t, s.Addr, "", "").Keys(context.Background(), check.DefaultPrefix+"*").Val(); len(keys) > 0 {
			t.Errorf("%s: keys left behind: %v", s.Addr, keys)
		}
	}
	// A shard whose primary holds writes back fails the region.
	admin := redistest.Admin(t, servers[2].Addr, "", "")
	if err := admin.Do(context.Background(), "CLIENT", "PAUSE", "60000", "WRITE").Err(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = admin.Do(context.Background(), "CLIENT", "UNPAUSE").Err() })
	status, body, _ := p.do(t, http.MethodGet, writeprobe.Path)
	if status != http.StatusServiceUnavailable || !strings.HasPrefix(body, "not writable: timeout at ") {
		t.Fatalf("one shard paused for writes: %d %q", status, body)
	}
}
