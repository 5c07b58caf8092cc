package client

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redisha/redisha/internal/sim/redisserver"
	"github.com/redisha/redisha/internal/testbed/redistest"
)

// Connections that fail before their first answer (a wrong password, a
// full server) are not retried in a storm however many callers share the
// client: after the first second it opens at most 20 new connections a
// second, counted by the server itself (INFO stats). The callers of the
// wrong password get the server's reason.
func TestSetupFailuresBackOff(t *testing.T) {
	t.Parallel()
	authed := redistest.Start(t, redisserver.Options{Password: "right"})
	full := redistest.Start(t, redisserver.Options{Config: []string{"maxclients 1"}})
	for _, tc := range []struct {
		name  string
		srv   *redisserver.Server
		cfg   Config
		admin *redis.Client
		want  string
	}{
		{"wrong password", authed, Config{Password: "wrong", AllowPlainTextAuth: true}, redistest.Admin(t, authed.Addr, "right", ""), "WRONGPASS"},
		// The admin client is the one the full server takes. Its goodbye
		// line may arrive after the command was written: a reset.
		{"maxclients", full, Config{}, redistest.Admin(t, full.Addr, "", ""), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := tc.cfg
			// No retries: each caller comes back at once, the harshest load.
			cfg.Addr, cfg.PlainText, cfg.MaxRetries = tc.srv.Addr, true, -1
			c, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = c.Close() })
			before := serverConnections(t, tc.admin)
			ctx, cancel := context.WithTimeout(context.Background(), 2500*time.Millisecond)
			defer cancel()
			var wg sync.WaitGroup
			var mu sync.Mutex
			reasons := map[string]int{}
			for range 16 { // an application's request handlers
				wg.Go(func() {
					for ctx.Err() == nil {
						err := c.Ping(ctx).Err()
						var se *SetupError
						if err != nil && ctx.Err() == nil {
							mu.Lock()
							reasons[strconv.FormatBool(errors.As(err, &se))]++
							mu.Unlock()
							if !strings.Contains(err.Error(), tc.want) && !errors.Is(err, redis.ErrPoolTimeout) {
								t.Errorf("%s: %v, want the server's reason %q", tc.name, err, tc.want)
								cancel()
							}
						}
					}
				})
			}
			// The count starts after the first second, while the back-off
			// grows (a measurement window, not a wait for an event).
			<-time.After(time.Second)
			atSecond, from := serverConnections(t, tc.admin), time.Now()
			wg.Wait()
			n, el := serverConnections(t, tc.admin)-atSecond, time.Since(from)
			t.Logf("%s: %d connections in the first second, %d in the next %s (%.1f/s); errors (true: without dialing) %v",
				tc.name, atSecond-before, n, el.Round(time.Millisecond), float64(n)/el.Seconds(), reasons)
			if limit := int64(20*el.Seconds()) + 2; n > limit {
				t.Errorf("%s: %d new connections in %s after the first second, want at most %d (20/s)", tc.name, n, el, limit)
			}
		})
	}
}

// serverConnections is what the server counted in INFO stats: connections
// accepted plus those turned away at maxclients.
func serverConnections(t *testing.T, c *redis.Client) int64 {
	t.Helper()
	info, err := c.Info(context.Background(), "stats").Result()
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, line := range strings.Split(info, "\n") {
		for _, field := range []string{"total_connections_received:", "rejected_connections:"} {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), field); ok {
				k, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					t.Fatalf("INFO stats %s: %v", line, err)
				}
				n += k
			}
		}
	}
	return n
}
