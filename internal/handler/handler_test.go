package handler

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redisha/redisha/internal/check"
	"github.com/redisha/redisha/internal/config"
	"github.com/redisha/redisha/internal/metrics"
	"github.com/redisha/redisha/internal/redisconn"
	"github.com/redisha/redisha/internal/secret"
	"github.com/redisha/redisha/internal/sim/cwlocal"
	"github.com/redisha/redisha/internal/sim/redisserver"
	"github.com/redisha/redisha/internal/testbed/gdslocal"
	"github.com/redisha/redisha/internal/testbed/redistest"
	"github.com/redisha/redisha/internal/testbed/secretlocal"
)

// recorder is a Publisher that keeps what it was given (the CloudWatch and
// EMF publishers have their own tests against the real SDK and the spec).
type recorder struct {
	mu      sync.Mutex
	samples []metrics.Sample
	err     error
}

func (r *recorder) Publish(_ context.Context, s metrics.Sample) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.samples = append(r.samples, s)
	return r.err
}

type tokens struct {
	tok         string
	err         error
	invalidated int
}

func (t *tokens) Token(context.Context) (string, error) { return t.tok, t.err }
func (t *tokens) Invalidate()                           { t.invalidated++ }

func newHandler(t *testing.T, cfg redisconn.Config, o check.Options, p metrics.Publisher, tk Tokens) (*Handler, *bytes.Buffer) {
	t.Helper()
	k := check.NewChecker(func() (*redis.Client, error) { return redisconn.New(cfg) }, o)
	t.Cleanup(func() { _ = k.Close() })
	var logs bytes.Buffer
	return New(k, p, tk, slog.New(slog.NewJSONHandler(&logs, nil))), &logs
}

func readEvent(t *testing.T, name string) json.RawMessage {
	t.Helper()
	b, err := os.ReadFile("../../events/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestHandleHealthyPublishesAndReturnsResult(t *testing.T) {
	srv := redistest.Start(t, redisserver.Options{})
	rec := &recorder{}
	h, _ := newHandler(t, redisconn.Config{Addr: srv.Addr}, check.Options{Timeout: 2 * time.Second}, rec, nil)
	for _, ev := range []struct{ file, trigger string }{
		{"eventbridge-scheduled.json", "schedule"},
		{"stepfunctions-loop.json", "stepfunctions"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		resp, err := h.Handle(ctx, readEvent(t, ev.file))
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if !resp.Healthy || !resp.Published || resp.Trigger != ev.trigger || resp.LatencyMS <= 0 {
			t.Fatalf("%s: %+v", ev.file, resp)
		}
		b, _ := json.Marshal(resp)
		for _, field := range []string{`"healthy":true`, `"latency_ms":`, `"role":"primary"`, `"writable":true`, `"trigger":"` + ev.trigger} {
			if !bytes.Contains(b, []byte(field)) {
				t.Errorf("response %s lacks %s", b, field)
			}
		}
	}
	if len(rec.samples) != 2 || !rec.samples[0].Healthy || !rec.samples[0].Writable || rec.samples[0].Latency <= 0 {
		t.Fatalf("samples %+v", rec.samples)
	}
	redistest.AssertNoKeys(t, redistest.Admin(t, srv.Addr, "", ""), check.DefaultPrefix)
}

// A stalled server is a failure at the deadline, and the 0 is still
// published within the invocation's deadline.
func TestHandleStalledServerPublishesZeroBeforeDeadline(t *testing.T) {
	srv := redistest.Start(t, redisserver.Options{})
	rec := &recorder{}
	// The check timeout (5 s) is longer than the invocation has left (2 s):
	// the invocation's deadline wins, minus the time kept for publishing.
	h, _ := newHandler(t, redisconn.Config{Addr: srv.Addr}, check.Options{Timeout: 5 * time.Second}, rec, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	if resp, err := h.Handle(ctx, nil); err != nil || !resp.Healthy {
		t.Fatalf("warm-up: %+v %v", resp, err)
	}
	cancel()
	if err := srv.Pause(); err != nil {
		t.Fatal(err)
	}
	defer srv.Resume()
	ctx, cancel = context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	resp, err := h.Handle(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ctx.Err() != nil {
		t.Fatal("the invocation outlived its deadline")
	}
	if resp.Healthy || resp.Reason != check.ReasonTimeout || !resp.Published {
		t.Fatalf("stalled: %+v", resp)
	}
	if last := rec.samples[len(rec.samples)-1]; last.Healthy {
		t.Fatalf("published healthy for a stalled server")
	}
}

func TestHandleDownServerIsAResultNotAnError(t *testing.T) {
	srv := redistest.Start(t, redisserver.Options{})
	srv.Kill()
	rec := &recorder{}
	h, logs := newHandler(t, redisconn.Config{Addr: srv.Addr}, check.Options{Timeout: time.Second}, rec, nil)
	resp, err := h.Handle(context.Background(), nil)
	if err != nil || resp.Healthy || resp.Reason != check.ReasonRefused || !resp.Published {
		t.Fatalf("%+v %v", resp, err)
	}
	if !strings.Contains(logs.String(), `"reason":"refused"`) {
		t.Errorf("log lacks the reason: %s", logs)
	}
}

func TestHandlePublishFailureFailsInvocation(t *testing.T) {
	srv := redistest.Start(t, redisserver.Options{})
	rec := &recorder{err: errors.New("put metric data: throttled")}
	h, logs := newHandler(t, redisconn.Config{Addr: srv.Addr}, check.Options{Timeout: time.Second}, rec, nil)
	resp, err := h.Handle(context.Background(), nil)
	var pe *PublishError
	if !errors.As(err, &pe) || err.Error() != "publish metrics: put metric data: throttled" {
		t.Fatalf("error %T %v, want a *PublishError", err, err)
	}
	if resp.Published || !resp.Healthy {
		t.Fatalf("%+v", resp)
	}
	// The runtime logs a function error, with its type: logged here too, it
	// would appear twice.
	if strings.Contains(logs.String(), `"level":"ERROR"`) {
		t.Errorf("the handler logged the error itself: %s", logs)
	}
}

func TestHandleTokenUnavailableIsAnError(t *testing.T) {
	srv := redistest.Start(t, redisserver.Options{Password: "right-password-123"})
	rec := &recorder{}
	tk := &tokens{err: errors.New("get secret arn:x: AccessDeniedException")}
	h, _ := newHandler(t, redisconn.Config{Addr: srv.Addr}, check.Options{Timeout: time.Second}, rec, tk)
	var te *TokenError
	if _, err := h.Handle(context.Background(), nil); !errors.As(err, &te) || !strings.Contains(err.Error(), "auth token") {
		t.Fatalf("error %T %v, want a *TokenError", err, err)
	}
	if len(rec.samples) != 0 {
		t.Fatal("published a verdict on Redis without being able to check it")
	}
}

func TestHandleAuthFailureInvalidatesToken(t *testing.T) {
	srv := redistest.Start(t, redisserver.Options{Password: "right-password-123"})
	tk := &tokens{tok: "rotated-away-password"}
	cfg := redisconn.Config{Addr: srv.Addr, Credentials: func(ctx context.Context) (string, string, error) {
		tok, err := tk.Token(ctx)
		return "", tok, err
	}}
	rec := &recorder{}
	h, _ := newHandler(t, cfg, check.Options{Timeout: time.Second}, rec, tk)
	resp, err := h.Handle(context.Background(), nil)
	if err != nil || resp.Healthy || resp.Reason != check.ReasonAuth {
		t.Fatalf("%+v %v", resp, err)
	}
	if tk.invalidated != 1 {
		t.Fatalf("token invalidated %d times, want 1", tk.invalidated)
	}
	if strings.Contains(resp.Error, "rotated-away-password") {
		t.Fatalf("error leaks the token: %s", resp.Error)
	}
	tk.tok = "right-password-123"
	if resp, _ := h.Handle(context.Background(), nil); !resp.Healthy {
		t.Fatalf("after rotation: %+v", resp)
	}
}

func TestTrigger(t *testing.T) {
	for in, want := range map[string]string{
		`{"source":"aws.events","detail-type":"Scheduled Event"}`: "schedule",
		`{"source":"redisha.stepfunctions","iteration":1}`:        "stepfunctions",
		`{}`: "direct",
	} {
		var e Event
		_ = json.Unmarshal([]byte(in), &e)
		if got := e.Trigger(); got != want {
			t.Errorf("%s: %s, want %s", in, got, want)
		}
	}
}

// A stalled Secrets Manager or CloudWatch endpoint ends the invocation with
// an error that names the budget, well before the invocation's deadline.
func TestHandleStalledEndpointsEndWithinBudgets(t *testing.T) {
	srv := redistest.Start(t, redisserver.Options{Password: "right-password-123"})
	sm := secretlocal.New("right-password-123")
	t.Cleanup(sm.Close)
	cw := cwlocal.New()
	t.Cleanup(cw.Close)
	tokens := secret.FromSecretsManager(secretlocal.NewClient(sm.URL(), 3), "arn:aws:secretsmanager:us-east-1:1:secret:x", 0)
	cfg := redisconn.Config{Addr: srv.Addr, Credentials: func(ctx context.Context) (string, string, error) {
		tok, err := tokens.Token(ctx)
		return "", tok, err
	}}
	pub := metrics.NewCloudWatch(cwlocal.NewClient(cw.URL(), 3), metrics.Options{})
	h, _ := newHandler(t, cfg, check.Options{Timeout: time.Second}, pub, tokens)
	h.WithBudgets(Budgets{Token: 300 * time.Millisecond, Publish: 300 * time.Millisecond})

	invoke := func() (Response, error, time.Duration) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		start := time.Now()
		resp, err := h.Handle(ctx, nil)
		if ctx.Err() != nil {
			t.Fatal("the invocation outlived its deadline")
		}
		return resp, err, time.Since(start)
	}

	// Cold: no token cached, Secrets Manager stalls.
	sm.Stall(time.Minute)
	_, err, took := invoke()
	var te *TokenError
	if !errors.As(err, &te) || !strings.Contains(err.Error(), "SECRET_TIMEOUT=300ms") {
		t.Fatalf("stalled Secrets Manager: %T %v", err, err)
	}
	if took > 3*time.Second {
		t.Fatalf("stalled Secrets Manager took %s with a 300ms budget", took)
	}
	sm.Stall(0)

	cw.Stall(time.Minute)
	resp, err, took := invoke()
	var pe *PublishError
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), "PUBLISH_TIMEOUT=300ms") || !resp.Healthy {
		t.Fatalf("stalled CloudWatch: %T %v %+v", err, err, resp)
	}
	if took > 3*time.Second {
		t.Fatalf("stalled CloudWatch took %s with a 300ms budget", took)
	}
}

// An invocation with less time than the budgets need says so, once.
func TestHandleShortFunctionTimeoutWarnsOnce(t *testing.T) {
	srv := redistest.Start(t, redisserver.Options{})
	h, logs := newHandler(t, redisconn.Config{Addr: srv.Addr}, check.Options{Timeout: time.Second}, &recorder{}, nil)
	for i := 0; i < 2; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
		resp, err := h.Handle(ctx, nil)
		cancel()
		if err != nil || !resp.Healthy {
			t.Fatalf("invocation %d: %+v %v", i, resp, err)
		}
	}
	if n := strings.Count(logs.String(), "the function timeout is too short"); n != 1 {
		t.Fatalf("warned %d times, want once:\n%s", n, logs)
	}
}

// The handler as Build wires it from the environment, against a real
// 3-shard cluster: one shard's primary killed makes HealthCheckStatus and
// WritableStatus 0, and the log line and the response name that shard.
func TestBuildClusterEndpointOneShardDown(t *testing.T) {
	servers := redistest.StartCluster(t, 3, redisserver.Options{})
	cfg, err := config.FromEnv(func(k string) string {
		return map[string]string{config.EnvAddr: servers[0].Addr, config.EnvTLS: "false", config.EnvMetricsMode: "emf",
			config.EnvCheckTimeout: "1s", config.EnvAWSRegion: "us-east-1"}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	invoke, logs := buildEMF(t, cfg)
	resp, emf := invoke()
	if !resp.Healthy || !resp.Writable || len(resp.Shards) != 3 || emf["HealthCheckStatus"] != 1.0 || emf["WritableStatus"] != 1.0 {
		t.Fatalf("healthy cluster: %+v, EMF %v", resp.Result, emf)
	}

	servers[2].Kill()
	resp, emf = invoke()
	if resp.Healthy || resp.Writable || emf["HealthCheckStatus"] != 0.0 || emf["WritableStatus"] != 0.0 {
		t.Fatalf("one shard down: %+v, EMF %v", resp.Result, emf)
	}
	shard := "shard 10922-16383 at " + servers[2].Addr
	if !strings.Contains(resp.Error, shard) || !strings.Contains(logs.String(), shard) || !strings.Contains(logs.String(), `"failed_shards":1`) {
		t.Fatalf("the failing shard is not named: error %q, logs %s", resp.Error, logs.String())
	}
}

// The handler as Build wires it with GLOBAL_DATASTORE_ID: a master node in a region
// the Global Datastore does not name as primary (an old primary back
// undemoted) is reported healthy but not writable, and says why; once the
// datastore names the region, it is writable again.
func TestBuildFencesAMasterTheDatastoreDoesNotName(t *testing.T) {
	srv := redistest.Start(t, redisserver.Options{})
	_, roles := gdslocal.Fence(t, "ldgnf-redisha", "us-west-2")
	cfg, err := config.FromEnv(func(k string) string {
		return map[string]string{config.EnvAddr: srv.Addr, config.EnvTLS: "false", config.EnvMetricsMode: "emf",
			config.EnvCheckTimeout: "2s", config.EnvAWSRegion: "us-east-1", config.EnvDatastoreID: "ldgnf-redisha"}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	invoke, logs := buildEMF(t, cfg)
	resp, emf := invoke()
	if !resp.Healthy || resp.Writable || emf["WritableStatus"] != 0.0 || resp.DatastorePrimary != "us-west-2" ||
		!strings.Contains(resp.Fenced, "the datastore's primary is us-west-2") || !strings.Contains(logs.String(), `"fenced"`) ||
		emf["HeartbeatWritten"] != nil {
		t.Fatalf("fenced master: %+v, EMF %v, logs %s", resp, emf, logs.String())
	}
	roles("us-east-1")
	if resp, emf := invoke(); !resp.Writable || emf["WritableStatus"] != 1.0 || resp.Fenced != "" {
		t.Fatalf("named primary: %+v, EMF %v", resp, emf)
	}
}

// buildEMF builds the handler from cfg with EMF output; invoke runs one
// scheduled check and returns the response and its EMF line, logs collects
// the handler's log.
func buildEMF(t *testing.T, cfg config.Config) (invoke func() (Response, map[string]any), logs *bytes.Buffer) {
	t.Helper()
	var stdout bytes.Buffer
	logs = &bytes.Buffer{}
	h, closeFn, err := Build(context.Background(), cfg, &stdout, slog.New(slog.NewJSONHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = closeFn() })
	return func() (Response, map[string]any) {
		t.Helper()
		stdout.Reset()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		resp, err := h.Handle(ctx, readEvent(t, "eventbridge-scheduled.json"))
		if err != nil {
			t.Fatal(err)
		}
		var emf map[string]any
		if err := json.Unmarshal(stdout.Bytes(), &emf); err != nil {
			t.Fatalf("EMF line %q: %v", stdout.String(), err)
		}
		return resp, emf
	}, logs
}
