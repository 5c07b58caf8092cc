package client_test

import (
	"context"
	"log"
	"time"

	"github.com/redisha/redisha/client"
)

// A client for the failover record, verifying TLS against either region's
// primary endpoint, whichever the record points to.
func ExampleNew() {
	rdb, err := client.New(client.Config{
		Addr: "redis.internal:6379", // TLS is on by default
		TLSNames: []string{
			"master.redis-primary.xxxxxx.use1.cache.amazonaws.com",
			"master.redis-secondary.xxxxxx.usw2.cache.amazonaws.com",
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := rdb.Set(ctx, "greeting", "hello", time.Minute).Err(); err != nil {
		log.Printf("set: %v", err) // after a failover, retried on the new primary first
	}
}
