// Package handler is the health-checker Lambda's handler: run one check,
// publish its metrics, return the result. Redis being down is a normal
// result; the handler returns an error only when it could not do its job
// (publish the metrics), so the function's Errors metric means "the checker
// is broken" and the alarm sees missing data, which it treats as breaching.
package handler

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/redisha/redisha/internal/check"
	"github.com/redisha/redisha/internal/metrics"
)

// PublishReserve is the part of the invocation's remaining time kept for
// publishing metrics: the check's deadline is cut short to leave it.
const PublishReserve = 1500 * time.Millisecond

// Checker runs one check; *check.Checker is the production one.
type Checker interface {
	Check(ctx context.Context) check.Result
}

var _ Checker = (*check.Checker)(nil)

// Tokens supplies the AUTH token; *secret.Source is the production one.
type Tokens interface {
	Token(ctx context.Context) (string, error)
	Invalidate()
}

// Handler holds what lives across warm invocations: the Redis client (inside
// the Checker), the metrics publisher and the token cache, built once at init.
type Handler struct {
	checker   Checker
	publisher metrics.Publisher
	tokens    Tokens
	log       *slog.Logger
}

// New returns a handler. tokens may be nil when Redis needs no AUTH.
func New(c Checker, p metrics.Publisher, tokens Tokens, log *slog.Logger) *Handler {
	if log == nil {
		log = slog.Default()
	}
	return &Handler{checker: c, publisher: p, tokens: tokens, log: log}
}

// Response is what one invocation returns.
type Response struct {
	check.Result
	// Trigger says what invoked the function: schedule, stepfunctions or
	// direct.
	Trigger string `json:"trigger"`
	// Published is true when the metrics were accepted.
	Published bool `json:"published"`
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
// none); it is only used to say what triggered the invocation.
func (h *Handler) Handle(ctx context.Context, payload json.RawMessage) (Response, error) {
	var ev Event
	if len(payload) > 0 {
		_ = json.Unmarshal(payload, &ev) // any payload is a valid trigger
	}
	resp := Response{Trigger: ev.Trigger()}
	// Without the token the checker cannot tell anything about Redis: that
	// is the checker failing (an error, missing data), not Redis being down.
	if h.tokens != nil {
		if _, err := h.tokens.Token(ctx); err != nil {
			h.log.ErrorContext(ctx, "auth token unavailable", "error", err)
			return resp, fmt.Errorf("auth token: %w", err)
		}
	}
	checkCtx, cancel := checkContext(ctx)
	res := h.checker.Check(checkCtx)
	cancel()
	if res.Reason == check.ReasonAuth && h.tokens != nil {
		h.tokens.Invalidate() // rotated? the next invocation reads it afresh
	}
	resp.Result = res

	attrs := []any{"healthy", res.Healthy, "role", res.Role, "latency_ms", res.LatencyMS, "trigger", resp.Trigger}
	if res.HeartbeatAgeSeconds != nil {
		attrs = append(attrs, "replication_lag_s", *res.HeartbeatAgeSeconds)
	}
	if res.Healthy {
		h.log.InfoContext(ctx, "check", attrs...)
	} else {
		attrs = append(attrs, "failed_step", res.Step, "reason", res.Reason, "error", res.Error)
		h.log.WarnContext(ctx, "check", attrs...)
	}

	err := h.publisher.Publish(ctx, metrics.Sample{
		Time: res.Start, Healthy: res.Healthy, Latency: res.Latency, ReplicationLag: res.HeartbeatAge,
	})
	if err != nil {
		h.log.ErrorContext(ctx, "publish metrics failed", "error", err)
		return resp, fmt.Errorf("publish metrics: %w", err)
	}
	resp.Published = true
	return resp, nil
}

// checkContext derives the check's context from the invocation's, ending
// PublishReserve before the invocation's deadline so that a stalled Redis
// still leaves time to publish the 0.
func checkContext(ctx context.Context) (context.Context, context.CancelFunc) {
	dl, ok := ctx.Deadline()
	if !ok {
		return context.WithCancel(ctx)
	}
	remaining := time.Until(dl)
	reserve := PublishReserve
	if remaining < 2*reserve {
		reserve = remaining / 2
	}
	return context.WithDeadline(ctx, dl.Add(-reserve))
}
