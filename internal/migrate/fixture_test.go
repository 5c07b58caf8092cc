package migrate

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redisha/redisha/internal/redisconn"
	"github.com/redisha/redisha/internal/sim/redisserver"
	"github.com/redisha/redisha/internal/testbed/redistest"
)

// fill writes n keys named prefix:N of five types in turn (string, hash,
// list, set, sorted set), a third of them with a TTL of 1-2 hours.
func fill(t testing.TB, c redis.Cmdable, prefix string, n int) {
	t.Helper()
	ctx := context.Background()
	for start := 0; start < n; start += 500 {
		pipe := c.Pipeline()
		for i := start; i < min(start+500, n); i++ {
			k := prefix + ":" + strconv.Itoa(i)
			switch i % 5 {
			case 0:
				pipe.Set(ctx, k, fmt.Sprintf("value-%d-%0100d", i, i), 0)
			case 1:
				pipe.HSet(ctx, k, "name", "user"+strconv.Itoa(i), "modified_time", strconv.Itoa(1700000000+i), "n", i)
			case 2:
				pipe.RPush(ctx, k, "a", "b", strconv.Itoa(i), "d", "e")
			case 3:
				pipe.SAdd(ctx, k, "x", "y", strconv.Itoa(i))
			case 4:
				pipe.ZAdd(ctx, k, redis.Z{Score: 0.1, Member: "a"}, redis.Z{Score: float64(i), Member: "b"}, redis.Z{Score: -2.5e10, Member: "c"})
			}
			if i%3 == 0 {
				pipe.PExpire(ctx, k, time.Hour+time.Duration(i)*time.Millisecond)
			}
		}
		if _, err := pipe.Exec(ctx); err != nil {
			t.Fatalf("fill: %v", err)
		}
	}
}

// plain is a standalone server and its connection settings.
func plain(t testing.TB, o redisserver.Options) redisconn.Config {
	t.Helper()
	s := redistest.Start(t, o)
	cfg := redisconn.Config{Addr: s.Addr, Password: o.Password}
	if o.TLS != nil {
		cfg.TLS, cfg.TLSCAFile, cfg.TLSServerName = true, o.TLS.CAFile, "localhost"
	}
	return cfg
}

// cluster starts an n-master cluster and returns settings for its first node.
func cluster(t testing.TB, n int, o redisserver.Options) redisconn.Config {
	t.Helper()
	servers := redistest.StartCluster(t, n, o)
	cfg := redisconn.Config{Addr: servers[0].Addr, Password: o.Password}
	if o.TLS != nil {
		cfg.TLS, cfg.TLSCAFile, cfg.TLSServerName = true, o.TLS.CAFile, "localhost"
	}
	return cfg
}

func open(t testing.TB, name string, cfg redisconn.Config) *Side {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := Open(ctx, name, cfg, SideOptions{})
	if err != nil {
		t.Fatalf("open %s: %v", name, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// mustEqual compares both sides in full and fails on any difference.
func mustEqual(t testing.TB, src, dst *Side) CompareReport {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep, err := Compare(ctx, src, dst, CompareOptions{TTLTolerance: 100 * time.Millisecond})
	if err != nil {
		t.Fatalf("compare: %v", err)
	}
	if rep.Differences() != 0 {
		t.Fatalf("differences after copy: %s\n%+v", rep.Summary(), rep.Diffs[:min(len(rep.Diffs), 10)])
	}
	return rep
}

func runCopy(t testing.TB, src, dst *Side, o CopyOptions) CopyResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := Copy(ctx, src, dst, o)
	if err != nil {
		t.Fatalf("copy: %v (problems %+v)", err, res.Problems)
	}
	return res
}

var redisXAdd = redis.XAddArgs{Stream: "events:stream", Values: []string{"a", "1"}}

func redisZ(score float64, member string) redis.Z { return redis.Z{Score: score, Member: member} }
