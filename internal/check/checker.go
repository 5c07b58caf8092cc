package check

import (
	"context"
	"sync"

	"github.com/redis/go-redis/v9"
)

// Checker runs checks over one long-lived client and replaces that client
// after a connection-level failure, so the next check dials afresh (and
// re-resolves DNS) at once instead of waiting on go-redis's dial back-off,
// which would report a recovered server as still down.
type Checker struct {
	newClient func() (*redis.Client, error)
	opts      Options

	mu     sync.Mutex
	client *redis.Client
}

// NewChecker returns a Checker that builds its client with newClient, lazily
// on the first check and again after each connection-level failure.
func NewChecker(newClient func() (*redis.Client, error), o Options) *Checker {
	return &Checker{newClient: newClient, opts: o}
}

// Options returns the options every check of this Checker uses.
func (k *Checker) Options() Options { return k.opts }

// Check runs one check.
func (k *Checker) Check(ctx context.Context) Result {
	c, err := k.get()
	if err != nil {
		r := Result{Role: k.opts.withDefaults().ExpectRole, Start: k.opts.withDefaults().Now()}
		r.fail(StepPing, ReasonUnknown, err)
		r.finish(r.Start)
		return r
	}
	res := Check(ctx, c, k.opts)
	if !res.Healthy && res.Reason.Connection() {
		k.reset(c)
	}
	return res
}

// Close releases the client.
func (k *Checker) Close() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.client == nil {
		return nil
	}
	err := k.client.Close()
	k.client = nil
	return err
}

func (k *Checker) get() (*redis.Client, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.client != nil {
		return k.client, nil
	}
	c, err := k.newClient()
	if err != nil {
		return nil, err
	}
	k.client = c
	return c, nil
}

func (k *Checker) reset(c *redis.Client) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.client == c {
		k.client = nil
	}
	_ = c.Close()
}
