package main

import (
	"bytes"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redisha/redisha/internal/sim/redisserver"
	"github.com/redisha/redisha/internal/testbed/redistest"
)

// The example runs against a local redis-server as its documentation says.
func TestRunAgainstLocalServer(t *testing.T) {
	srv := redistest.Start(t, redisserver.Options{})
	t.Setenv("REDIS_HOST", "localhost")
	t.Setenv("REDIS_PORT", strconv.Itoa(srv.Port))
	t.Setenv("REDIS_SSL", "false") // the test server speaks plain text
	var out bytes.Buffer
	if err := run(slog.New(slog.NewTextHandler(&out, nil)), 50*time.Millisecond, 300*time.Millisecond, "example:test"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "counter=3") || strings.Contains(out.String(), "failed") {
		t.Errorf("output:\n%s", out.String())
	}
	t.Setenv("REDIS_HOST", "")
	if err := run(slog.New(slog.NewTextHandler(&out, nil)), time.Second, time.Second, "k"); err == nil || !strings.Contains(err.Error(), "REDIS_HOST is empty") {
		t.Errorf("without REDIS_HOST: %v", err)
	}
}
