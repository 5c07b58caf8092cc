// Package test holds end-to-end tests over real processes: the Lambda
// binary under a local Runtime API, real redis-server processes and a local
// CloudWatch endpoint that decodes what the SDK really sends.
package test

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redisha/redisha/internal/check"
	"github.com/redisha/redisha/internal/sim/cwlocal"
	"github.com/redisha/redisha/internal/sim/lambdarun"
	"github.com/redisha/redisha/internal/sim/redisserver"
	"github.com/redisha/redisha/internal/testbed/lambdatest"
	"github.com/redisha/redisha/internal/testbed/redistest"
)

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

// bootstrap builds the Lambda binary once per test run, as `make build` does
// but for this machine's architecture.
func bootstrap(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "redisha-e2e-")
		if err != nil {
			buildErr = err
			return
		}
		buildPath = filepath.Join(dir, "bootstrap")
		buildErr = lambdatest.Build(buildPath, "../lambda", "-ldflags=-s -w")
	})
	if buildErr != nil {
		t.Fatalf("build lambda: %v", buildErr)
	}
	return buildPath
}

// function is one running Lambda binary under a local Runtime API.
type function struct{ *lambdatest.Function }

func startFunction(t *testing.T, env ...string) *function {
	t.Helper()
	return &function{lambdatest.Start(t, bootstrap(t), append([]string{"AWS_REGION=us-east-1"}, env...)...)}
}

func (f *function) invoke(t *testing.T, event string) lambdarun.Result {
	t.Helper()
	payload, err := os.ReadFile(filepath.Join("..", "events", event))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := f.API.Invoke(ctx, payload, 10*time.Second)
	if err != nil {
		t.Fatalf("invoke %s: %v", event, err)
	}
	return res
}

type response struct {
	Healthy    bool     `json:"healthy"`
	Role       string   `json:"role"`
	Writable   bool     `json:"writable"`
	Missing    bool     `json:"heartbeat_missing"`
	LatencyMS  float64  `json:"latency_ms"`
	FailedStep string   `json:"failed_step"`
	Reason     string   `json:"reason"`
	Trigger    string   `json:"trigger"`
	Published  bool     `json:"published"`
	LagSeconds *float64 `json:"heartbeat_age_seconds"`
}

func decode(t *testing.T, res lambdarun.Result) response {
	t.Helper()
	if res.Error != nil {
		t.Fatalf("function error: %+v", res.Error)
	}
	var r response
	if err := json.Unmarshal(res.Body, &r); err != nil {
		t.Fatalf("response %s: %v", res.Body, err)
	}
	return r
}

// emfLines returns the Embedded Metric Format documents the function printed.
func emfLines(out string) []map[string]any {
	var docs []map[string]any
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if !strings.Contains(sc.Text(), `"_aws"`) {
			continue
		}
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil {
			docs = append(docs, m)
		}
	}
	return docs
}

func TestLambdaEMFModeWithSampleEvents(t *testing.T) {
	srv := redistest.Start(t, redisserver.Options{})
	f := startFunction(t, "REDIS_ADDR="+srv.Addr, "REDIS_TLS=false", "METRICS_MODE=emf", "HEARTBEAT=true")
	for _, ev := range []struct{ file, trigger string }{
		{"eventbridge-scheduled.json", "schedule"},
		{"stepfunctions-loop.json", "stepfunctions"},
	} {
		r := decode(t, f.invoke(t, ev.file))
		if !r.Healthy || !r.Published || r.Role != "primary" || r.Trigger != ev.trigger || r.LatencyMS <= 0 {
			t.Fatalf("%s: %+v", ev.file, r)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	var docs []map[string]any
	for time.Now().Before(deadline) {
		if docs = emfLines(f.Output()); len(docs) >= 2 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(docs) != 2 {
		t.Fatalf("%d EMF documents, want 2:\n%s", len(docs), f.Output())
	}
	for _, d := range docs {
		if d["HealthCheckStatus"] != float64(1) {
			t.Errorf("EMF HealthCheckStatus %v, want 1: %v", d["HealthCheckStatus"], d)
		}
		if _, ok := d["HealthCheckLatency"].(float64); !ok {
			t.Errorf("EMF lacks HealthCheckLatency: %v", d)
		}
	}
	// The heartbeat stays (it is meant to); nothing else does.
	admin := redistest.Admin(t, srv.Addr, "", "")
	if keys := redistest.LeftoverKeys(context.Background(), t, admin, check.DefaultPrefix, check.DefaultPrefix+"heartbeat"); len(keys) > 0 {
		t.Fatalf("keys left behind: %v", keys)
	}
	if ttl := admin.PTTL(context.Background(), check.DefaultPrefix+"heartbeat").Val(); ttl <= 0 {
		t.Fatalf("heartbeat has no TTL (%s)", ttl)
	}
}

func TestLambdaBadConfigurationFailsAtInit(t *testing.T) {
	f := startFunction(t, "REDIS_TLS=maybe", "CHECK_TIMEOUT=2")
	select {
	case <-f.Proc.Exited():
	case <-time.After(10 * time.Second):
		t.Fatal("the function did not exit on a bad configuration")
	}
	out := f.Output()
	for _, want := range []string{"invalid configuration", "REDIS_ADDR is not set", `REDIS_TLS=\"maybe\": use true or false`, `CHECK_TIMEOUT=\"2\"`} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestLambdaAPIModePublishesToCloudWatch(t *testing.T) {
	primary := redistest.Start(t, redisserver.Options{})
	replica := redistest.StartReplica(t, primary, "")
	cw := cwlocal.New()
	defer cw.Close()
	common := []string{"AWS_ENDPOINT_URL_CLOUDWATCH=" + cw.URL(), "REDIS_TLS=false", "HEARTBEAT=true"}
	fp := startFunction(t, append(common, "REDIS_ADDR="+primary.Addr, "METRIC_DIMENSIONS=Role=primary", "METRIC_HIGH_RESOLUTION=true")...)
	// The replica's checker runs in the default role, auto.
	fr := startFunction(t, append(common, "REDIS_ADDR="+replica.Addr, "METRIC_DIMENSIONS=Role=replica", "PUBLISH_TIMEOUT=500ms")...)

	if r := decode(t, fp.invoke(t, "eventbridge-scheduled.json")); !r.Healthy || !r.Published || r.Trigger != "schedule" {
		t.Fatalf("primary: %+v", r)
	}
	// The replica reads the heartbeat the primary wrote once it replicated.
	var r response
	deadline := time.Now().Add(5 * time.Second)
	for {
		r = decode(t, fr.invoke(t, "stepfunctions-loop.json"))
		if (r.LagSeconds != nil && !r.Missing) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !r.Healthy || r.Role != "replica" || r.Writable || r.LagSeconds == nil || *r.LagSeconds < 0 || *r.LagSeconds > 10 {
		t.Fatalf("replica: %+v", r)
	}
	data := cw.Received()
	byName := map[string]cwlocal.Datum{}
	for _, d := range data {
		key := d.MetricName + "/" + d.Dimensions[0].Value
		byName[key] = d
		if d.Namespace != "Custom/Redis" {
			t.Errorf("namespace %s", d.Namespace)
		}
	}
	for key, want := range map[string]float64{"HealthCheckStatus/primary": 1, "HealthCheckStatusHighRes/primary": 1, "HealthCheckStatus/replica": 1,
		"WritableStatus/primary": 1, "WritableStatus/replica": 0} {
		if d, ok := byName[key]; !ok || d.Value != want {
			t.Errorf("%s: %+v (ok %v), want %g", key, d, ok, want)
		}
	}
	if d, ok := byName["ReplicationLagSeconds/replica"]; !ok || d.Unit != "Seconds" {
		t.Errorf("replication lag not published: %v", data)
	}
	if d := byName["HealthCheckLatency/primary"]; d.Unit != "Milliseconds" || d.Value <= 0 {
		t.Errorf("latency: %+v", d)
	}

	// Redis down: a result, 0 published, no function error.
	primary.Kill()
	r = decode(t, fp.invoke(t, "eventbridge-scheduled.json"))
	if r.Healthy || r.Reason != "refused" || !r.Published {
		t.Fatalf("primary down: %+v", r)
	}
	for _, name := range []string{"HealthCheckStatus", "WritableStatus"} {
		if d := lastDatum(cw.Received(), name, "primary"); d.Value != 0 {
			t.Fatalf("published %+v, want %s 0", d, name)
		}
	}

	// CloudWatch failing: the invocation fails (the function's Errors metric).
	// A stalled endpoint: the invocation ends at its publish budget.
	cw.Stall(time.Minute)
	res := fr.invoke(t, "stepfunctions-loop.json")
	cw.Stall(0)
	if res.Error == nil || !strings.Contains(res.Error.Message, "publish metrics: no answer within PUBLISH_TIMEOUT=500ms") ||
		res.Error.Type != "PublishError" {
		t.Fatalf("publish failure: %+v body %s", res.Error, res.Body)
	}
	// Logged once, at ERROR, with the type that says what failed.
	// The output travels through a pipe: once a later invocation's line is
	// there, every line of the failed one is too.
	next := fr.invoke(t, "stepfunctions-loop.json")
	if r := decode(t, next); !r.Published {
		t.Fatalf("after the publish failure: %+v", r)
	}
	for deadline := time.Now().Add(5 * time.Second); len(linesWith(fr.Output(), next.RequestID)) == 0; {
		if time.Now().After(deadline) {
			t.Fatalf("no log line of invocation %s:\n%s", next.RequestID, fr.Output())
		}
		time.Sleep(20 * time.Millisecond)
	}
	logged := linesWith(fr.Output(), "publish metrics")
	if len(logged) != 1 || !strings.Contains(logged[0], `"level":"ERROR"`) || !strings.Contains(logged[0], "PublishError") {
		t.Fatalf("the function error is logged %d times, want once at ERROR with its type:\n%s", len(logged), strings.Join(logged, "\n"))
	}
	// The ready line shows the effective role.
	if !strings.Contains(fr.Output(), `"role":"auto"`) {
		t.Errorf("ready line lacks the role:\n%s", fr.Output())
	}
}

func linesWith(out, sub string) []string {
	var ls []string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, sub) {
			ls = append(ls, l)
		}
	}
	return ls
}

// lastDatum is the last datum of a metric for a Role dimension value.
func lastDatum(data []cwlocal.Datum, name, role string) cwlocal.Datum {
	var last cwlocal.Datum
	for _, d := range data {
		if d.MetricName == name && len(d.Dimensions) > 0 && d.Dimensions[0].Value == role {
			last = d
		}
	}
	return last
}

// Files that would certainly fail later fail at init, naming the variable.
func TestLambdaBadFilesFailAtInit(t *testing.T) {
	notPEM := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f := startFunction(t, "REDIS_ADDR=127.0.0.1:6379", "REDIS_PASSWORD_FILE=/nonexistent/redis-token", "REDIS_TLS_CA_FILE="+notPEM)
	select {
	case <-f.Proc.Exited():
	case <-time.After(10 * time.Second):
		t.Fatal("the function did not exit on unusable files")
	}
	out := f.Output()
	for _, want := range []string{`REDIS_PASSWORD_FILE=\"/nonexistent/redis-token\": no such file or directory`,
		`REDIS_TLS_CA_FILE=\"` + notPEM + `\": the file holds no PEM certificate`} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
