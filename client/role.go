package client

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/redisha/redisha/internal/check"
	"github.com/redisha/redisha/internal/redisconn"
)

// ReplicaError is returned when a new connection reached a replica (ROLE
// answered other than master): the connection is closed and the command is
// retried on a fresh dial. Its text starts with READONLY, as the server's own
// answer to a write on a replica does, so go-redis and the health checker's
// classifier treat both alike.
type ReplicaError struct {
	// Endpoint is the name the CNAME chain ended at when the connection was dialed.
	Endpoint string
	// Role is the ROLE answer, e.g. "slave".
	Role string
}

func (e *ReplicaError) Error() string {
	return fmt.Sprintf("READONLY %s is a %s, not the writer: connection refused, the next attempt dials again", e.Endpoint, e.Role)
}

// RedisError marks ReplicaError as a server-side answer for go-redis.
func (*ReplicaError) RedisError() {}

var _ redis.Error = (*ReplicaError)(nil)

// onConnect checks ROLE on every new connection and refuses a replica: after
// a failover the name may still point at the demoted primary (DNS has not
// moved yet, or a resolver cached it), and a pooled connection there would
// answer every write READONLY or, on ElastiCache, drop it.
func (f *follower) onConnect(ctx context.Context, cn *redis.Conn) error {
	if !f.checkRole {
		return nil
	}
	role, err := cn.Do(ctx, "ROLE").Slice()
	if err != nil {
		// A user whose ACL denies ROLE, or an engine without it, keeps the
		// connection: READONLY answers and rechecks still retire it.
		if r := check.Classify(err); r == check.ReasonNoPerm || r == check.ReasonError {
			return nil
		}
		return err
	}
	if len(role) > 0 && role[0] == "master" {
		return nil
	}
	// Every older connection is suspect too: retire them all.
	f.retireAll()
	e := &ReplicaError{Endpoint: f.host, Role: "replica"}
	if r := f.current.Load(); r != nil {
		e.Endpoint = r.name
	}
	if len(role) > 0 {
		e.Role = fmt.Sprint(role[0])
	}
	return e
}

// retireHook retires the pool when a command finally fails because the
// endpoint turned read-only (READONLY) or dropped the connection (reset:
// ElastiCache's close-on-replica-write), so no pooled connection sends
// another write to the old primary.
type retireHook struct{ f *follower }

var _ redis.Hook = retireHook{}

func (h retireHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h retireHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if err != nil {
			h.observe(err)
		}
		return err
	}
}

func (h retireHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		if err != nil {
			h.observe(err)
			for _, cmd := range cmds {
				if cmd.Err() != nil && cmd.Err() != err {
					h.observe(cmd.Err())
				}
			}
		}
		return err
	}
}

func (h retireHook) observe(err error) {
	if retiresPool(err) {
		h.f.retireAll()
	}
}

// retiresPool reports whether a command's final error means the endpoint
// turned read-only (READONLY, or a ReplicaError from the ROLE check) or
// dropped the connection (ElastiCache's close-on-replica-write). It is the
// health checker's test for a finished connection (redisconn.Finished),
// narrowed with the checker's classifier to the two reasons that say the
// endpoint moved: a timeout, a cancelled context, a refused dial or a DNS
// failure finish one connection but say nothing of the rest of the pool.
func retiresPool(err error) bool {
	if !redisconn.Finished(err) {
		return false
	}
	switch check.Classify(err) {
	case check.ReasonReadOnly, check.ReasonReset:
		return true
	}
	return false
}
