package writeprobe

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/redisha/redisha/internal/check"
	"github.com/redisha/redisha/internal/config"
	"github.com/redisha/redisha/internal/fence"
	"github.com/redisha/redisha/internal/handler"
)

// Path is the one path that runs a check.
const Path = "/writable"

// Options shape a Handler.
type Options struct {
	// Checker runs the write check; required. Build gives it options for a
	// write check without heartbeat, the role learnt from the node.
	Checker handler.Checker
	// Fence judges a master against the datastore's primary. default: none
	// (the node's role alone decides)
	Fence handler.Fence
	// Tokens is invalidated when Redis refuses the token, so the next
	// request reads it afresh. default: none
	Tokens handler.Tokens
	// Region is named in the 200's body. default: none
	Region string
	// Timeout bounds one request's check, within the request's own
	// deadline. default and at most: config.MaxWritableCheck
	Timeout time.Duration
	// Log gets one line a request: debug for a 200, warn for a 503.
	// default: slog.Default()
	Log *slog.Logger
}

// Handler answers /writable; it lives across warm invocations, holding the
// Redis client (inside the Checker) and the fence's last reading. It is
// safe for concurrent use.
type Handler struct {
	o Options

	mu        sync.Mutex
	fenceRead fence.Reading // the last successful read of the fence
	fenceAt   time.Time     // when it was taken
}

// FenceReuse is how long a successful read naming this region the
// datastore's primary serves later requests: Route 53 asks more than once a
// second, and the ElastiCache API need not be (the loop's checker reads it
// once a check). A failover away from this region is seen up to this late,
// while ElastiCache demotes the node at the failover's end anyway.
const FenceReuse = 5 * time.Second

var _ http.Handler = (*Handler)(nil)

// New returns a Handler.
func New(o Options) *Handler {
	if o.Timeout <= 0 || o.Timeout > config.MaxWritableCheck {
		o.Timeout = config.MaxWritableCheck
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	return &Handler{o: o}
}

// Build wires a Handler from the checker's configuration, once per cold
// start, with the health checker's own parts (handler.NewParts): token
// source, Redis client or cluster checker, fence. The check is the write
// check whatever EXPECT_ROLE and HEARTBEAT say: the role is learnt from the
// node (a replica is read-checked, never written), and no heartbeat is
// written. Its timeout is cfg.WritableCheckTimeout(). Nothing here touches
// the network. close releases the clients.
func Build(ctx context.Context, cfg config.Config, log *slog.Logger) (h *Handler, close func() error, err error) {
	timeout := cfg.WritableCheckTimeout()
	cfg.Check.ExpectRole, cfg.Check.Heartbeat, cfg.Check.Timeout = check.Auto, false, timeout
	// No heartbeat: its key is not needed, nor AWS for it.
	cfg.HeartbeatKeySecretARN, cfg.HeartbeatKeyFile = "", ""
	cfg.Redis.DialTimeout, cfg.Redis.IOTimeout = timeout, timeout
	p, err := handler.NewParts(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	o := Options{Checker: p.Checker, Region: cfg.Fence.Region, Timeout: timeout, Log: log}
	if o.Region == "" {
		o.Region = cfg.Check.Region
	}
	// Typed nils would read as set.
	if p.Fence != nil {
		o.Fence = p.Fence
	}
	if p.Tokens != nil {
		o.Tokens = p.Tokens
	}
	return New(o), p.Close, nil
}

// Outcome is one probe's verdict.
type Outcome struct {
	// Writable is true only when the write was proven and the fence allows
	// it.
	Writable bool
	// Reason says in one line why the region is not writable: for the
	// 503's body, so it names no endpoint and carries no error text.
	// Empty when writable.
	Reason string
	// Result is the check's result (its Error may name addresses: logs
	// only).
	Result check.Result
	// DatastorePrimary is the datastore's primary region as the fence read
	// it; empty without a fence or when unknown.
	DatastorePrimary string
}

// fenceReuse is FenceReuse, or less with a short check budget: never
// longer than two and a half checks, so a reading does not outlive the
// checks it served (a rehearsal's scaled budget scales it too).
func (h *Handler) fenceReuse() time.Duration {
	return min(FenceReuse, h.o.Timeout*5/2)
}

// recentFence sets *r to the last fence read when it is younger than
// FenceReuse, with its age.
func (h *Handler) recentFence(r *fence.Reading) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.fenceAt.IsZero() || time.Since(h.fenceAt) >= h.fenceReuse() {
		return false
	}
	*r = h.fenceRead
	r.Age = time.Since(h.fenceAt)
	return true
}

// Probe runs one write check, and the fence's read beside it, within the
// handler's timeout and ctx's deadline (less a margin to answer in).
func (h *Handler) Probe(ctx context.Context) Outcome {
	ctx, cancel := h.deadline(ctx)
	defer cancel()
	var reading fence.Reading
	done := make(chan struct{})
	switch {
	case h.o.Fence == nil:
		close(done)
	case h.recentFence(&reading):
		close(done)
	default:
		go func() {
			defer close(done)
			reading = h.o.Fence.Read(ctx)
			// Only an answer naming this region serves later requests: a
			// fenced node re-reads every time, so it is let back the
			// moment the datastore names its region again.
			if reading.Err == nil && reading.Age == 0 && reading.Primary == h.o.Region {
				h.mu.Lock()
				h.fenceRead, h.fenceAt = reading, time.Now()
				h.mu.Unlock()
			}
		}()
	}
	res := h.o.Checker.Check(ctx)
	<-done
	if res.Reason == check.ReasonAuth && h.o.Tokens != nil {
		h.o.Tokens.Invalidate() // rotated? the next request reads it afresh
	}
	out := Outcome{Result: res, DatastorePrimary: reading.Primary}
	switch {
	case !res.Healthy:
		out.Reason = fmt.Sprintf("not writable: %s at %s", res.Reason, res.Step)
	case !res.Writable && res.Role == check.Replica:
		out.Reason = "not writable: the node is a replica"
	case !res.Writable:
		out.Reason = "not writable: no write proven"
	case h.o.Fence != nil && !h.o.Fence.Judge(true, reading).Writable:
		primary := reading.Primary
		if primary == "" {
			primary = "unknown"
		}
		out.Reason = "not writable: fenced, the datastore's primary is " + primary
	default:
		out.Writable = true
	}
	return out
}

// deadline bounds a check: the handler's timeout, and ending the margin
// before ctx's own deadline so that a 503 still goes out.
func (h *Handler) deadline(ctx context.Context) (context.Context, context.CancelFunc) {
	end := time.Now().Add(h.o.Timeout)
	if dl, ok := ctx.Deadline(); ok {
		if last := dl.Add(-config.InvocationMargin); last.Before(end) {
			end = last
		}
	}
	return context.WithDeadline(ctx, end)
}

// answer is one HTTP answer, before either adapter writes it.
type answer struct {
	status int
	body   string
}

// serve answers method and path: a probe on GET or HEAD of Path, a refusal
// otherwise.
func (h *Handler) serve(ctx context.Context, method, path string) answer {
	if path != Path {
		h.o.Log.DebugContext(ctx, "refused", "status", http.StatusNotFound, "method", clip(method), "path", clip(path))
		return answer{http.StatusNotFound, "not found\n"}
	}
	if method != http.MethodGet && method != http.MethodHead {
		h.o.Log.DebugContext(ctx, "refused", "status", http.StatusMethodNotAllowed, "method", clip(method), "path", path)
		return answer{http.StatusMethodNotAllowed, "method not allowed\n"}
	}
	out := h.Probe(ctx)
	res := out.Result
	attrs := []any{"writable", out.Writable, "role", res.Role, "latency_ms", res.LatencyMS}
	if out.DatastorePrimary != "" {
		attrs = append(attrs, "datastore_primary", out.DatastorePrimary)
	}
	if res.Redialed {
		attrs = append(attrs, "redialed", true, "redial_reason", res.RedialReason)
	}
	if out.Writable {
		h.o.Log.DebugContext(ctx, "writable", append(attrs, "status", http.StatusOK)...)
		return answer{http.StatusOK, "writable " + h.o.Region + "\n"}
	}
	attrs = append(attrs, "status", http.StatusServiceUnavailable, "why", out.Reason)
	if !res.Healthy {
		attrs = append(attrs, "failed_step", res.Step, "reason", res.Reason, "error", res.Error)
	}
	if res.Healthy && res.Role == "replica" {
		// A healthy replica (the secondary region, in steady state) is not
		// writable by design: Route 53 asks more than once a second, so
		// its answers stay at debug; failures are what deserve a line.
		h.o.Log.DebugContext(ctx, "not writable", attrs...)
	} else {
		h.o.Log.WarnContext(ctx, "not writable", attrs...)
	}
	return answer{http.StatusServiceUnavailable, out.Reason + "\n"}
}

// headers are every answer's: plain text, never cached (a cached 200 would
// outlive the write it proved).
func headers(method string) map[string]string {
	h := map[string]string{"Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-store"}
	if method != http.MethodGet && method != http.MethodHead {
		h["Allow"] = "GET, HEAD"
	}
	return h
}

// HandleFunctionURL is the Lambda function URL adapter (payload format
// 2.0). It never returns an error: a region that is not writable is a 503,
// not a failed invocation.
func (h *Handler) HandleFunctionURL(ctx context.Context, req events.LambdaFunctionURLRequest) (events.LambdaFunctionURLResponse, error) {
	method, path := req.RequestContext.HTTP.Method, req.RawPath
	if path == "" {
		path = req.RequestContext.HTTP.Path
	}
	a := h.serve(ctx, method, path)
	resp := events.LambdaFunctionURLResponse{StatusCode: a.status, Headers: headers(method), Body: a.body}
	if method == http.MethodHead {
		resp.Body = ""
	}
	return resp, nil
}

// ServeHTTP is the net/http adapter: the same answers as HandleFunctionURL,
// bounded by the request's context.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a := h.serve(r.Context(), r.Method, r.URL.Path)
	for k, v := range headers(r.Method) {
		w.Header().Set(k, v)
	}
	w.WriteHeader(a.status)
	if r.Method != http.MethodHead {
		_, _ = w.Write([]byte(a.body))
	}
}

// clip bounds what a caller sent before it reaches a log line.
func clip(s string) string {
	const limit = 64
	if len(s) <= limit {
		return s
	}
	return strings.ToValidUTF8(s[:limit], "") + "…"
}
