package lambdaurl_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redisha/redisha/internal/sim/lambdaurl"
	"github.com/redisha/redisha/internal/sim/redisserver"
	"github.com/redisha/redisha/internal/testbed/lambdatest"
	"github.com/redisha/redisha/internal/testbed/redistest"
	"github.com/redisha/redisha/internal/testbed/wait"
)

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// bootstrap builds the checker's Lambda binary once per test run, as the
// function runs it, for this machine.
func bootstrap(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the Lambda binary: skipped under -short; make test runs it")
	}
	buildOnce.Do(func() {
		if buildDir, buildErr = os.MkdirTemp("", "redisha-lambdaurl-"); buildErr == nil {
			buildErr = lambdatest.Build(filepath.Join(buildDir, "bootstrap"), "../../../lambda", "-ldflags=-s -w")
		}
	})
	if buildErr != nil {
		t.Fatalf("build lambda: %v", buildErr)
	}
	return filepath.Join(buildDir, "bootstrap")
}

// function runs the bootstrap with env under a local Runtime API and puts
// a function URL in front of it; both stop when the test ends.
func function(t *testing.T, o lambdaurl.Options, env ...string) (*lambdatest.Function, *lambdaurl.Server) {
	t.Helper()
	f := lambdatest.Start(t, bootstrap(t), append([]string{"AWS_REGION=us-east-1", "REDIS_TLS=false"}, env...)...)
	u, err := lambdaurl.Start(f.API, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = u.Close() })
	return f, u
}

// get is a plain net/http request, bounded so that a hang fails the test.
func get(t *testing.T, method, url string) (int, string, http.Header) {
	t.Helper()
	status, body, h, err := fetch(method, url)
	if err != nil {
		t.Fatal(err)
	}
	return status, body, h
}

// fetch is get for a goroutine other than the test's.
func fetch(method, url string) (int, string, http.Header, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return 0, "", nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", nil, fmt.Errorf("%s %s: %w", method, url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), resp.Header, err
}

// The checker's binary in writable-url mode behind the function URL: 200
// from a primary, 503 from its replica, through plain HTTP requests.
func TestWritableEndpointBehindFunctionURL(t *testing.T) {
	primary := redistest.Start(t, redisserver.Options{})
	replica := redistest.StartReplica(t, primary, "")
	pf, pu := function(t, lambdaurl.Options{}, "REDIS_ADDR="+primary.Addr, "CHECKER_SERVE=writable-url")
	_, ru := function(t, lambdaurl.Options{}, "REDIS_ADDR="+replica.Addr, "CHECKER_SERVE=writable-url")

	status, body, h := get(t, http.MethodGet, pu.URL()+"/writable")
	if status != http.StatusOK || body != "writable us-east-1\n" || h.Get("Cache-Control") != "no-store" {
		t.Fatalf("primary: %d %q %v", status, body, h)
	}
	if status, body, _ := get(t, http.MethodGet, ru.URL()+"/writable"); status != http.StatusServiceUnavailable || body != "not writable: the node is a replica\n" {
		t.Fatalf("replica: %d %q", status, body)
	}
	if status, body, _ := get(t, http.MethodHead, pu.URL()+"/writable"); status != http.StatusOK || body != "" {
		t.Fatalf("HEAD: %d %q", status, body)
	}
	if status, _, _ := get(t, http.MethodGet, pu.URL()+"/"); status != http.StatusNotFound {
		t.Fatalf("GET /: %d", status)
	}
	// Requests at once take turns on the one process.
	var wg sync.WaitGroup
	statuses, errs := make([]int, 4), make([]error, 4)
	for i := range statuses {
		wg.Go(func() { statuses[i], _, _, errs[i] = fetch(http.MethodGet, pu.URL()+"/writable") })
	}
	wg.Wait()
	for i, s := range statuses {
		if s != http.StatusOK || errs[i] != nil {
			t.Errorf("concurrent request %d: %d %v", i, s, errs[i])
		}
	}
	if out := pf.Output(); !strings.Contains(out, "writable endpoint ready") {
		t.Errorf("the function did not say which handler started:\n%s", out)
	}
	redistest.AssertNoKeys(t, redistest.Admin(t, primary.Addr, "", ""), "healthcheck:")
}

// A function that does not answer within its timeout is a 502; the next
// request, once it runs again, is served.
func TestFunctionTimeoutIs502(t *testing.T) {
	primary := redistest.Start(t, redisserver.Options{})
	f, u := function(t, lambdaurl.Options{Timeout: 2 * time.Second}, "REDIS_ADDR="+primary.Addr, "CHECKER_SERVE=writable-url")
	if status, _, _ := get(t, http.MethodGet, u.URL()+"/writable"); status != http.StatusOK {
		t.Fatalf("warm-up: %d", status)
	}
	if err := syscall.Kill(f.Proc.PID(), syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	resumed := false
	t.Cleanup(func() {
		if !resumed {
			_ = syscall.Kill(f.Proc.PID(), syscall.SIGCONT)
		}
	})
	if status, body, _ := get(t, http.MethodGet, u.URL()+"/writable"); status != http.StatusBadGateway || body != "Internal Server Error" {
		t.Fatalf("stopped function: %d %q", status, body)
	}
	if err := syscall.Kill(f.Proc.PID(), syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	resumed = true
	wait.For(t, 20*time.Second, "a 200 once the function runs again", func() bool {
		status, _, _ := get(t, http.MethodGet, u.URL()+"/writable")
		return status == http.StatusOK
	})
}

// A function error is a 502; a function in loop mode, whose response has no
// statusCode, is answered 200 as JSON.
func TestFunctionErrorIs502(t *testing.T) {
	primary := redistest.Start(t, redisserver.Options{})
	// CloudWatch at a port nothing listens on: the publish fails, and the
	// checker reports it as a function error (PublishError).
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	_ = ln.Close()
	_, failing := function(t, lambdaurl.Options{Timeout: 10 * time.Second}, "REDIS_ADDR="+primary.Addr, "METRICS_MODE=api",
		"AWS_ENDPOINT_URL_CLOUDWATCH=http://"+closed, "AWS_ACCESS_KEY_ID=AKIDLOCAL", "AWS_SECRET_ACCESS_KEY=local", "PUBLISH_TIMEOUT=300ms")
	if status, body, _ := get(t, http.MethodGet, failing.URL()+"/"); status != http.StatusBadGateway || body != "Internal Server Error" {
		t.Fatalf("function error: %d %q", status, body)
	}
	_, loop := function(t, lambdaurl.Options{Timeout: 10 * time.Second}, "REDIS_ADDR="+primary.Addr, "METRICS_MODE=emf")
	status, body, h := get(t, http.MethodGet, loop.URL()+"/")
	if status != http.StatusOK || h.Get("Content-Type") != "application/json" || !strings.Contains(body, `"healthy":true`) {
		t.Fatalf("loop mode: %d %q %v", status, body, h)
	}
}
