package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redisha/redisha/internal/sim/redisserver"
	"github.com/redisha/redisha/internal/testbed/gdslocal"
	"github.com/redisha/redisha/internal/testbed/lambdatest"
	"github.com/redisha/redisha/internal/testbed/redistest"
)

// build compiles this binary as the Lambda runs it, for this machine.
func build(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "bootstrap")
	if err := lambdatest.Build(bin, "."); err != nil {
		t.Fatal(err)
	}
	return bin
}

// start runs bin under a local Runtime API in us-west-2.
func start(t *testing.T, bin string, env ...string) *lambdatest.Function {
	t.Helper()
	return lambdatest.Start(t, bin, append([]string{"AWS_REGION=us-west-2"}, env...)...)
}

// The binary under a local Runtime API: a bad environment stops it at init
// naming the variables; a good one makes one decision per invocation
// against the local endpoints and records it.
func TestPromoterBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the Lambda binary: skipped under -short; make test runs it")
	}
	bin := build(t)

	bad := start(t, bin, "REDIS_ADDR=127.0.0.1:1", "REDIS_TLS=false")
	select {
	case <-bad.Proc.Exited():
	case <-time.After(20 * time.Second):
		t.Fatal("the function did not exit on a bad configuration")
	}
	if s := bad.Output(); !strings.Contains(s, "GLOBAL_DATASTORE_ID is not set") || !strings.Contains(s, "LATCH_TABLE is not set") {
		t.Fatalf("init output does not name the variables:\n%s", s)
	}

	redis := redistest.Start(t, redisserver.Options{})
	w := gdslocal.Start(t, gdslocal.Options{})
	env := []string{"REDIS_ADDR=" + redis.Addr, "REDIS_TLS=false", "GLOBAL_DATASTORE_ID=" + w.Datastore,
		"REPLICATION_GROUP_ID=redis-secondary", "PEER_REGION=us-east-1", "PEER_WRITABLE_ALARM=" + gdslocal.AlarmName("us-east-1"),
		"LATCH_TABLE=" + w.LatchTable}
	for k, v := range w.Env() {
		env = append(env, k+"="+v)
	}
	f := start(t, bin, env...)
	for epoch := 1; epoch <= 2; epoch++ {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		res, err := f.API.Invoke(ctx, []byte(`{"source":"aws.events"}`), 10*time.Second)
		cancel()
		if err != nil || res.Error != nil {
			t.Fatalf("invoke %d: %v %+v", epoch, err, res.Error)
		}
		var body struct {
			Decision struct {
				Epoch  int    `json:"epoch"`
				Action string `json:"action"`
				Guards []struct {
					Guard string `json:"guard"`
					OK    bool   `json:"ok"`
				} `json:"guards"`
			} `json:"decision"`
		}
		if err := json.Unmarshal(res.Body, &body); err != nil {
			t.Fatalf("response %s: %v", res.Body, err)
		}
		if body.Decision.Epoch != epoch || body.Decision.Action != "none" || len(body.Decision.Guards) != 6 {
			t.Fatalf("response %s", res.Body)
		}
	}
	f.Proc.Stop()
	if s := f.Output(); strings.Count(s, `"message":"promoter decision"`) != 2 || !strings.Contains(s, `"PromoterReady":0`) {
		t.Fatalf("output lacks the decision records or the metric lines:\n%s", s)
	}
}
