package promoter

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redisha/redisha/internal/check"
)

// RedisEndpoint is the local replication group's endpoint through go-redis
// (build the client with redisconn: explicit timeouts, no hidden retries).
type RedisEndpoint struct {
	Client *redis.Client
	// Prefix is the checker's key prefix; the heartbeat is <Prefix>heartbeat
	// and the verification write goes to <Prefix>promoter:write.
	// default: check.DefaultPrefix
	Prefix string
}

var _ Endpoint = RedisEndpoint{}

func (e RedisEndpoint) prefix() string {
	if e.Prefix == "" {
		return check.DefaultPrefix
	}
	return e.Prefix
}

// Heartbeat reads <prefix>heartbeat.
func (e RedisEndpoint) Heartbeat(ctx context.Context) Heartbeat {
	s, err := e.Client.Get(ctx, e.prefix()+"heartbeat").Result()
	switch {
	case errors.Is(err, redis.Nil):
		return Heartbeat{}
	case err != nil:
		return Heartbeat{Err: err.Error()}
	}
	hb, err := check.ParseHeartbeat(s)
	if err != nil {
		return Heartbeat{Err: err.Error()}
	}
	return Heartbeat{Present: true, Value: hb}
}

// Write sets <prefix>promoter:write to the current time for a minute: a real
// write, refused (READONLY, or a disconnect with close-on-replica-write)
// while the node is still a replica.
func (e RedisEndpoint) Write(ctx context.Context) error {
	return e.Client.Set(ctx, e.prefix()+"promoter:write", strconv.FormatInt(time.Now().UnixMilli(), 10), time.Minute).Err()
}
