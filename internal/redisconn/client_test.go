package redisconn_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redisha/redisha/internal/redisconn"
	"github.com/redisha/redisha/internal/sim/redisserver"
	"github.com/redisha/redisha/internal/testbed/redistest"
)

func TestClientWarmDropAndDials(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redisserver.Options{})
	rc, err := redisconn.NewClient(redisconn.Config{Addr: srv.Addr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rc.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	c, warm, err := rc.Get()
	if err != nil || warm {
		t.Fatalf("first Get: warm %v, %v", warm, err)
	}
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	again, warm, _ := rc.Get()
	if again != c || !warm || rc.Dials() != 1 || rc.RemoteAddr() != srv.Addr {
		t.Fatalf("second Get: same %v warm %v dials %d remote %s", again == c, warm, rc.Dials(), rc.RemoteAddr())
	}
	rc.Drop(c)
	fresh, warm, _ := rc.Get()
	if fresh == c || warm {
		t.Fatalf("after Drop: same client %v, warm %v", fresh == c, warm)
	}
	if err := fresh.Ping(ctx).Err(); err != nil || rc.Dials() != 2 {
		t.Fatalf("fresh client: %v, %d dials", err, rc.Dials())
	}
	rc.Drop(c) // an old client: the current one stays
	if cur, _, _ := rc.Get(); cur != fresh {
		t.Fatal("dropping an old client dropped the current one")
	}
}

// Which real errors finish a connection.
func TestFinished(t *testing.T) {
	t.Parallel()
	primary := redistest.Start(t, redisserver.Options{})
	replica := redistest.StartReplica(t, primary, "")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rc := redistest.Admin(t, replica.Addr, "", "")
	pc := redistest.Admin(t, primary.Addr, "", "")
	pc.Set(ctx, "text", "x", time.Minute)

	readOnly := rc.Set(ctx, "k", "v", time.Minute).Err()
	missing := pc.Get(ctx, "nothing-here").Err()
	notInt := pc.Incr(ctx, "text").Err()
	primary.Kill()
	down := redis.NewClient(&redis.Options{Addr: primary.Addr, MaxRetries: -1})
	defer down.Close()
	refused := down.Ping(ctx).Err()
	for _, tc := range []struct {
		name           string
		err            error
		finished, repl bool
	}{
		{"nil", nil, false, false},
		{"missing key", missing, false, false},
		{"READONLY", readOnly, true, true},
		{"other server error", notInt, false, true},
		{"refused", refused, true, false},
		{"deadline", context.DeadlineExceeded, true, false},
	} {
		if tc.name != "nil" && tc.err == nil {
			t.Fatalf("%s: the fault produced no error", tc.name)
		}
		if got := redisconn.Finished(tc.err); got != tc.finished {
			t.Errorf("%s: Finished(%v) = %v, want %v", tc.name, tc.err, got, tc.finished)
		}
		if tc.err != nil && !errors.Is(tc.err, redis.Nil) {
			if got := redisconn.ServerReply(tc.err); got != tc.repl {
				t.Errorf("%s: ServerReply(%v) = %v, want %v", tc.name, tc.err, got, tc.repl)
			}
		}
	}
}
