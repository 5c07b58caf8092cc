package promoter

import (
	"context"
	"fmt"
	"strconv"
	"strings"
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
	// Key returns the heartbeat key (HEARTBEAT_KEY_SECRET_ARN or
	// HEARTBEAT_KEY_FILE); with one, an unsigned or wrongly signed
	// heartbeat is refused, never read as evidence. nil: heartbeats are not
	// verified (any holder of the Redis token can write one).
	Key func(ctx context.Context) ([]byte, error)
}

var _ Endpoint = RedisEndpoint{}

func (e RedisEndpoint) prefix() string {
	if e.Prefix == "" {
		return check.DefaultPrefix
	}
	return e.Prefix
}

// Heartbeat reads <prefix>heartbeat capped: STRLEN and GETRANGE 0
// check.MaxHeartbeatLen-1 in one pipeline, so a value an application stored
// there is never read whole. A value of another type, over the cap,
// unsigned or wrongly signed (with a key) is an error that says which,
// never the value itself.
func (e RedisEndpoint) Heartbeat(ctx context.Context) Heartbeat {
	key, hb := e.signingKey(ctx)
	if hb.Err != "" {
		return hb
	}
	return readHeartbeat(ctx, e.Client, e.prefix()+"heartbeat", key)
}

// signingKey reads the heartbeat key, nil when heartbeats are not verified;
// a Heartbeat carrying the error when it cannot be read.
func (e RedisEndpoint) signingKey(ctx context.Context) ([]byte, Heartbeat) {
	if e.Key == nil {
		return nil, Heartbeat{}
	}
	k, err := e.Key(ctx)
	if err != nil {
		return nil, Heartbeat{Err: "the heartbeat key cannot be read, so no heartbeat can be verified: " + err.Error()}
	}
	return k, Heartbeat{}
}

// readHeartbeat reads the heartbeat name on c as Heartbeat says, verified
// with key (nil: not verified).
func readHeartbeat(ctx context.Context, c *redis.Client, name string, key []byte) Heartbeat {
	pipe := c.Pipeline()
	n := pipe.StrLen(ctx, name)
	v := pipe.GetRange(ctx, name, 0, check.MaxHeartbeatLen-1)
	info := pipe.Info(ctx, "replication")
	_, _ = pipe.Exec(ctx) // each command's own error is read below
	link := parseLink(info.Val(), info.Err())
	for _, err := range []error{n.Err(), v.Err()} {
		switch {
		case err == nil:
		case strings.HasPrefix(err.Error(), "WRONGTYPE"):
			return Heartbeat{Err: fmt.Sprintf("%s holds a value that is not a string: not a checker's heartbeat (an application wrote the key)", name)}
		default:
			return Heartbeat{Err: "read " + name + ": " + err.Error()}
		}
	}
	switch {
	case n.Val() == 0:
		return Heartbeat{Link: link} // absent (a string is never empty here)
	case n.Val() > check.MaxHeartbeatLen:
		return Heartbeat{Err: fmt.Sprintf("%s is %d bytes, over the %d-byte cap: not a checker's heartbeat", name, n.Val(), check.MaxHeartbeatLen)}
	}
	hb, err := check.VerifyHeartbeat(v.Val(), key)
	if err != nil {
		return Heartbeat{Err: name + ": " + err.Error()}
	}
	return Heartbeat{Present: true, Value: hb, Link: link}
}

// parseLink reads master_link_status and master_last_io_seconds_ago from
// INFO replication; unknown on an error (NOPERM without +info) or on a node
// that is not a replica.
func parseLink(info string, err error) Link {
	if err != nil {
		return Link{}
	}
	var l Link
	var status, lastIO bool
	for line := range strings.Lines(info) {
		k, val, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			continue
		}
		switch k {
		case "master_link_status":
			l.Up, status = val == "up", true
		case "master_last_io_seconds_ago":
			if s, err := strconv.Atoi(val); err == nil && s >= 0 {
				l.LastIO, lastIO = time.Duration(s)*time.Second, true
			}
		}
	}
	l.Known = status && (lastIO || !l.Up)
	return l
}

// Write sets <prefix>promoter:write to the current time for a minute: a real
// write, refused (READONLY, or a disconnect with close-on-replica-write)
// while the node is still a replica.
func (e RedisEndpoint) Write(ctx context.Context) error {
	return e.Client.Set(ctx, e.prefix()+"promoter:write", strconv.FormatInt(time.Now().UnixMilli(), 10), time.Minute).Err()
}
