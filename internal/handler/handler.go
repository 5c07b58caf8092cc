// Package handler is the health-checker Lambda's handler: run one check (of
// one node, or of every shard of a cluster-mode endpoint), publish its
// metrics, return the result. Redis being down is a normal
// result; the handler returns an error only when it could not do its job
// (publish the metrics), so the function's Errors metric means "the checker
// is broken" and the alarm sees missing data, which it treats as breaching.
package handler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/redisha/redisha/internal/check"
	"github.com/redisha/redisha/internal/fence"
	"github.com/redisha/redisha/internal/metrics"
)

// Budgets bound the calls of one invocation besides the check, so that a
// stalled endpoint ends the invocation with a clear error before Lambda's
// own timeout kills it (which would leave no metric and no log line).
type Budgets struct {
	// Token bounds the AUTH token read (Secrets Manager). default: 2s
	Token time.Duration
	// Publish bounds the metrics publish (PutMetricData, retries included).
	// The check's deadline is cut short to leave it. default: 1.5s
	Publish time.Duration
	// Margin is kept after the publish to report a failure. default: 200ms
	Margin time.Duration
}

// DefaultBudgets are the budgets when none are given.
var DefaultBudgets = Budgets{Token: 2 * time.Second, Publish: 1500 * time.Millisecond, Margin: 200 * time.Millisecond}

// TokenError is an invocation that failed because the AUTH token could not
// be read: the checker is broken, Redis was not checked. Lambda reports it
// as errorType "TokenError".
type TokenError struct{ Err error }

func (e *TokenError) Error() string { return "auth token: " + e.Err.Error() }

// Unwrap returns the cause.
func (e *TokenError) Unwrap() error { return e.Err }

// PublishError is an invocation that failed because its metrics did not
// reach CloudWatch: alarms see missing data. Lambda reports it as errorType
// "PublishError".
type PublishError struct{ Err error }

func (e *PublishError) Error() string { return "publish metrics: " + e.Err.Error() }

// Unwrap returns the cause.
func (e *PublishError) Unwrap() error { return e.Err }

// Checker runs one check; *check.Checker is the production one.
type Checker interface {
	Check(ctx context.Context) check.Result
}

var (
	_ Checker = (*check.Checker)(nil)
	_ Checker = (*check.ClusterChecker)(nil)
)

// Tokens supplies the AUTH token; *secret.Source is the production one.
type Tokens interface {
	Token(ctx context.Context) (string, error)
	Invalidate()
}

// Fence judges whether a master node may be reported writable;
// *fence.Fence is the production one.
type Fence interface {
	Read(ctx context.Context) fence.Reading
	Judge(nodeWritable bool, r fence.Reading) fence.Verdict
}

var _ Fence = (*fence.Fence)(nil)

// Handler holds what lives across warm invocations: the Redis client (inside
// the Checker), the metrics publisher, the token cache and the fence, built
// once at init.
type Handler struct {
	checker   Checker
	publisher metrics.Publisher
	tokens    Tokens
	fence     Fence
	log       *slog.Logger
	budgets   Budgets
	warnOnce  sync.Once
}

// WithFence sets the fence and returns h.
func (h *Handler) WithFence(f Fence) *Handler {
	h.fence = f
	return h
}

// New returns a handler. tokens may be nil when Redis needs no AUTH.
func New(c Checker, p metrics.Publisher, tokens Tokens, log *slog.Logger) *Handler {
	if log == nil {
		log = slog.Default()
	}
	return &Handler{checker: c, publisher: p, tokens: tokens, log: log, budgets: DefaultBudgets}
}

// WithBudgets sets the budgets (zero fields keep their defaults) and returns h.
func (h *Handler) WithBudgets(b Budgets) *Handler {
	if b.Token > 0 {
		h.budgets.Token = b.Token
	}
	if b.Publish > 0 {
		h.budgets.Publish = b.Publish
	}
	if b.Margin > 0 {
		h.budgets.Margin = b.Margin
	}
	return h
}

// Response is what one invocation returns.
type Response struct {
	check.Result
	// Trigger says what invoked the function: schedule, stepfunctions or
	// direct.
	Trigger string `json:"trigger"`
	// Published is true when the metrics were accepted.
	Published bool `json:"published"`
	// DatastorePrimary is the Global Datastore's primary region as the
	// fence read it; empty without a fence or when unknown.
	DatastorePrimary string `json:"datastore_primary,omitempty"`
	// Fenced says why a node that answers as master is reported not
	// writable.
	Fenced string `json:"fenced,omitempty"`
}

// Event is the part of an invocation payload the handler reads: an
// EventBridge scheduled event carries source "aws.events"; the Step Functions
// loop sends source "redisha.stepfunctions" and its iteration.
type Event struct {
	Source     string `json:"source"`
	DetailType string `json:"detail-type"`
	Time       string `json:"time"`
	Iteration  int    `json:"iteration"`
}

// Trigger names what sent the event.
func (e Event) Trigger() string {
	switch {
	case e.Source == "aws.events" || e.DetailType == "Scheduled Event":
		return "schedule"
	case e.Source == "redisha.stepfunctions" || e.Source == "stepfunctions":
		return "stepfunctions"
	}
	return "direct"
}

// Handle runs one check and publishes it. The payload may be any JSON (or
// none); it is only used to say what triggered the invocation. The error,
// when there is one, is a *TokenError or a *PublishError; it is not logged
// here: the Lambda runtime logs it once, with its type.
func (h *Handler) Handle(ctx context.Context, payload json.RawMessage) (Response, error) {
	var ev Event
	if len(payload) > 0 {
		_ = json.Unmarshal(payload, &ev) // any payload is a valid trigger
	}
	resp := Response{Trigger: ev.Trigger()}
	h.warnShortDeadline(ctx)
	// Without the token the checker cannot tell anything about Redis: that
	// is the checker failing (an error, missing data), not Redis being down.
	if h.tokens != nil {
		tctx, cancel := h.budget(ctx, h.budgets.Token)
		_, err := h.tokens.Token(tctx)
		cancel()
		if err != nil {
			return resp, &TokenError{Err: budgetErr(err, tctx, "SECRET_TIMEOUT", h.budgets.Token)}
		}
	}
	checkCtx, cancel := context.WithDeadline(ctx, h.checkDeadline(ctx))
	// The fence reads the datastore's primary beside the check, within the
	// same deadline.
	var reading fence.Reading
	var wg sync.WaitGroup
	if h.fence != nil {
		wg.Go(func() { reading = h.fence.Read(checkCtx) })
	}
	res := h.checker.Check(checkCtx)
	wg.Wait()
	cancel()
	if h.fence != nil {
		resp.DatastorePrimary = reading.Primary
		if v := h.fence.Judge(res.Writable, reading); res.Writable && !v.Writable {
			// The heartbeat a fenced master wrote is no write of the
			// datastore: the other region's promoter must not read it as
			// the primary's last writable moment.
			res.Writable, resp.Fenced = false, v.Reason
			res.HeartbeatWritten = time.Time{}
		}
	}
	if res.Reason == check.ReasonAuth && h.tokens != nil {
		h.tokens.Invalidate() // rotated? the next invocation reads it afresh
	}
	resp.Result = res
	h.logResult(ctx, resp)
	pctx, cancel := h.budget(ctx, h.budgets.Publish)
	defer cancel()
	err := h.publisher.Publish(pctx, metrics.Sample{
		Time: res.Start, Healthy: res.Healthy, Latency: res.Latency, ReplicationLag: res.HeartbeatAge, Writable: res.Writable,
		HeartbeatWritten: res.HeartbeatWritten,
	})
	if err != nil {
		return resp, &PublishError{Err: budgetErr(err, pctx, "PUBLISH_TIMEOUT", h.budgets.Publish)}
	}
	resp.Published = true
	return resp, nil
}

func (h *Handler) logResult(ctx context.Context, resp Response) {
	res := resp.Result
	attrs := []any{"healthy", res.Healthy, "role", res.Role, "writable", res.Writable, "latency_ms", res.LatencyMS,
		"trigger", resp.Trigger}
	if resp.DatastorePrimary != "" {
		attrs = append(attrs, "datastore_primary", resp.DatastorePrimary)
	}
	if resp.Fenced != "" {
		// A master the datastore does not name: an operator must look.
		attrs = append(attrs, "fenced", resp.Fenced)
		h.log.WarnContext(ctx, "check", attrs...)
		return
	}
	if res.Expect != "" {
		attrs = append(attrs, "expect_role", res.Expect)
	}
	if res.Redialed {
		attrs = append(attrs, "redialed", true, "redial_reason", res.RedialReason)
	}
	if res.Remote != "" {
		attrs = append(attrs, "remote", res.Remote)
	}
	if res.HeartbeatAgeSeconds != nil {
		attrs = append(attrs, "replication_lag_s", *res.HeartbeatAgeSeconds)
	}
	if res.HeartbeatMissing {
		attrs = append(attrs, "heartbeat_missing", true)
	}
	if res.Shards != nil {
		failed := 0
		for _, s := range res.Shards {
			if !s.Healthy {
				failed++
			}
		}
		attrs = append(attrs, "shards", len(res.Shards), "failed_shards", failed)
	}
	if res.Healthy {
		h.log.InfoContext(ctx, "check", attrs...)
		return
	}
	attrs = append(attrs, "failed_step", res.Step, "reason", res.Reason, "error", res.Error)
	h.log.WarnContext(ctx, "check", attrs...)
}

// budget derives a context for one call: at most d, and ending the margin
// before the invocation's deadline.
func (h *Handler) budget(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	end := time.Now().Add(d)
	if dl, ok := ctx.Deadline(); ok {
		if last := dl.Add(-h.budgets.Margin); last.Before(end) {
			end = last
		}
	}
	return context.WithDeadline(ctx, end)
}

// checkDeadline ends the check early enough to leave the publish its budget
// (or, on a short invocation, half of what is left), so that a stalled Redis
// still leaves time to publish the 0. The check's own timeout applies within.
func (h *Handler) checkDeadline(ctx context.Context) time.Time {
	dl, ok := ctx.Deadline()
	if !ok {
		return time.Now().Add(24 * time.Hour)
	}
	reserve := h.budgets.Publish + h.budgets.Margin
	if remaining := time.Until(dl); remaining < 2*reserve {
		reserve = remaining / 2
	}
	return dl.Add(-reserve)
}

// warnShortDeadline says once per process when an invocation has less time
// than its budgets need: the function's timeout is too short.
func (h *Handler) warnShortDeadline(ctx context.Context) {
	dl, ok := ctx.Deadline()
	if !ok {
		return
	}
	need := h.budgets.Publish + h.budgets.Margin + h.budgets.Token
	if remaining := time.Until(dl); remaining < need+time.Second {
		h.warnOnce.Do(func() {
			h.log.WarnContext(ctx, "the function timeout is too short for the budgets: raise it, or lower SECRET_TIMEOUT, CHECK_TIMEOUT and PUBLISH_TIMEOUT",
				"remaining_ms", check.Milliseconds(remaining), "token_budget_ms", check.Milliseconds(h.budgets.Token),
				"publish_budget_ms", check.Milliseconds(h.budgets.Publish))
		})
	}
}

// budgetErr says which budget ran out when the call's own deadline ended
// it, so the log names the setting to look at.
func budgetErr(err error, ctx context.Context, name string, d time.Duration) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("no answer within %s=%s: %w", name, d, err)
	}
	return err
}
