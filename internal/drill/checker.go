package drill

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/redisha/redisha/internal/sim/lambdarun"
)

// scheduledEvent is the EventBridge payload the checker gets every loop.
const scheduledEvent = `{"version":"0","id":"00000000-0000-4000-8000-000000000000","detail-type":"Scheduled Event",` +
	`"source":"aws.events","account":"123456789012","time":"2026-01-01T00:00:00Z","region":"us-east-1",` +
	`"resources":["arn:aws:events:us-east-1:123456789012:rule/redisha-health-check"],"detail":{}}`

// checker is one region's health-checker Lambda: the real binary under a
// local Runtime API.
type checker struct {
	region string
	api    *lambdarun.Server
	proc   *lambdarun.Process

	mu   sync.Mutex
	busy bool
}

// checkResult is the part of the Lambda's answer the drill reads.
type checkResult struct {
	Healthy bool   `json:"healthy"`
	Reason  string `json:"reason"`
	Role    string `json:"role"`
}

func startChecker(bootstrap, region string, env []string, logs io.Writer) (*checker, error) {
	api, err := lambdarun.NewServer()
	if err != nil {
		return nil, fmt.Errorf("checker %s: runtime API: %w", region, err)
	}
	api.FunctionARN = "arn:aws:lambda:us-east-1:123456789012:function:redisha-checker-" + region
	proc, err := api.StartProcess(bootstrap, env, logs)
	if err != nil {
		_ = api.Close()
		return nil, fmt.Errorf("checker %s: %w", region, err)
	}
	return &checker{region: region, api: api, proc: proc}, nil
}

// invoke runs one scheduled invocation unless the previous one is still
// running (EventBridge would start another instance; one is enough here).
// ok is false when it did not run.
func (c *checker) invoke(ctx context.Context, timeout time.Duration) (res checkResult, ran bool, err error) {
	c.mu.Lock()
	if c.busy {
		c.mu.Unlock()
		return res, false, nil
	}
	c.busy = true
	c.mu.Unlock()
	defer func() { c.mu.Lock(); c.busy = false; c.mu.Unlock() }()
	r, err := c.api.Invoke(ctx, []byte(scheduledEvent), timeout)
	if err != nil {
		return res, true, err
	}
	if r.Error != nil {
		return res, true, fmt.Errorf("function error %s: %s", r.Error.Type, r.Error.Message)
	}
	if err := json.Unmarshal(r.Body, &res); err != nil {
		return res, true, fmt.Errorf("decode the checker's answer %q: %w", r.Body, err)
	}
	return res, true, nil
}

func (c *checker) close() {
	c.proc.Stop()
	_ = c.api.Close()
}
