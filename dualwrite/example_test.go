package dualwrite_test

import (
	"context"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redisha/redisha/dualwrite"
)

// Mirror the writes of a service to the new cluster and move its reads with
// a file the operator edits (echo new > /etc/myservice/redis-reads).
func Example() {
	ctx := context.Background()
	oldCluster := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{"old.example.internal:6379"}})
	newCluster := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{"new.example.internal:6379"}})

	mirror, err := dualwrite.NewMirror(dualwrite.Options{
		Target:  newCluster,
		OnError: func(cmd string, err error) { slog.Warn("mirror write failed", "cmd", cmd, "err", err) },
		OnDrop:  func(cmd string) { slog.Warn("mirror queue full", "cmd", cmd) },
	})
	if err != nil {
		panic(err)
	}
	oldCluster.AddHook(mirror) // every write the old cluster accepts is replayed on the new one
	defer func() {
		c, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_ = mirror.Close(c) // drain what is queued
	}()

	var readNew dualwrite.Flag
	dualwrite.WatchFile(ctx, "/etc/myservice/redis-reads", time.Second, &readNew, func(err error) { slog.Warn("switch", "err", err) })
	reads := dualwrite.NewSwitch(oldCluster, newCluster, readNew.Load)

	_ = oldCluster.HSet(ctx, "user:42", "name", "Ada").Err() // writes: always the old cluster (mirrored)
	_, _ = reads.Client().HGetAll(ctx, "user:42").Result()   // reads: wherever the switch points
}
