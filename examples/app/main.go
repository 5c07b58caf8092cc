// Command app is a small application on github.com/redisha/redisha/client:
// it writes a counter and reads it back at a fixed interval and prints one
// line per step, so a failover shows as a few slow or failed steps and then
// writes on the new primary.
//
// It reads the variables of deploy/k8s's ConfigMap. Against a local server:
//
//	redis-server --port 6379 &
//	REDIS_HOST=localhost REDIS_SSL=false go run ./examples/app -duration 5s
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redisha/redisha/client"
)

func main() {
	interval := flag.Duration("interval", 500*time.Millisecond, "time between steps")
	duration := flag.Duration("duration", 0, "stop after this long (0: until interrupted)")
	key := flag.String("key", "example:counter", "key the counter is kept in")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), `Usage: app [flags]

Writes a counter (INCR) and reads it back every -interval through a client that
follows failovers, printing one line per step. Settings come from the
environment, as deploy/k8s's ConfigMap gives them: REDIS_HOST (required),
REDIS_PORT (6379), REDIS_SSL (true), REDIS_TLS_NAMES, REDIS_USERNAME,
REDIS_PASSWORD_FILE.

Flags:
`)
		flag.PrintDefaults()
	}
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stdout, nil))
	if err := run(log, *interval, *duration, *key); err != nil {
		log.Error("stopped", "error", err)
		os.Exit(1)
	}
}

func run(log *slog.Logger, interval, duration time.Duration, key string) error {
	cfg, err := client.FromEnv(os.Getenv)
	if err != nil {
		return err
	}
	rdb, err := client.New(cfg)
	if err != nil {
		return err
	}
	defer rdb.Close()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, duration)
		defer cancel()
	}
	log.Info("started", "addr", cfg.Addr, "tls", cfg.TLS)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		step(ctx, log, rdb, key, interval)
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// step writes and reads once, each within a deadline of its own, as a
// request handler would.
func step(parent context.Context, log *slog.Logger, rdb *redis.Client, key string, budget time.Duration) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(parent, max(budget, 2*time.Second))
	defer cancel()
	n, err := rdb.Incr(ctx, key).Result()
	if err == nil {
		// After a failover the counter may restart lower: writes the old
		// primary took and had not replicated are gone. Treat it as a cache.
		_, err = rdb.Get(ctx, key).Result()
	}
	switch {
	case parent.Err() != nil: // stopping
	case err != nil:
		log.Warn("step failed", "error", err, "ms", time.Since(start).Milliseconds())
	default:
		log.Info("step", "counter", n, "ms", time.Since(start).Milliseconds())
	}
}
