package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redisha/redisha/internal/gdslocal"
	"github.com/redisha/redisha/internal/lambdarun"
	"github.com/redisha/redisha/internal/redisserver"
	"github.com/redisha/redisha/internal/redistest"
)

// build compiles this binary as the Lambda runs it (lambda.norpc), for this
// machine.
func build(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "bootstrap")
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-trimpath", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// start runs bin under a local Runtime API. Its output is read only once
// the process has exited (Exited, or after Stop): the copy into the buffer
// is then complete.
func start(t *testing.T, bin string, env ...string) (*lambdarun.Server, *lambdarun.Process, *bytes.Buffer) {
	t.Helper()
	api, err := lambdarun.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	out := &bytes.Buffer{}
	proc, err := api.StartProcess(bin, append([]string{"AWS_REGION=us-west-2", "AWS_ACCESS_KEY_ID=AKIDLOCAL",
		"AWS_SECRET_ACCESS_KEY=local", "AWS_EC2_METADATA_DISABLED=true"}, env...), out)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		proc.Stop()
		_ = api.Close()
		if t.Failed() {
			t.Logf("function output:\n%s", out.String())
		}
	})
	return api, proc, out
}

// The binary under a local Runtime API: a bad environment stops it at init
// naming the variables; a good one makes one decision per invocation
// against the local endpoints and records it.
func TestPromoterBinary(t *testing.T) {
	bin := build(t)

	_, proc, out := start(t, bin, "REDIS_ADDR=127.0.0.1:1", "REDIS_TLS=false")
	select {
	case <-proc.Exited():
	case <-time.After(20 * time.Second):
		t.Fatal("the function did not exit on a bad configuration")
	}
	if s := out.String(); !strings.Contains(s, "GLOBAL_DATASTORE_ID is not set") || !strings.Contains(s, "LATCH_TABLE is not set") {
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
	api, proc, out := start(t, bin, env...)
	for epoch := 1; epoch <= 2; epoch++ {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		res, err := api.Invoke(ctx, []byte(`{"source":"aws.events"}`), 10*time.Second)
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
	proc.Stop()
	if s := out.String(); strings.Count(s, `"message":"promoter decision"`) != 2 || !strings.Contains(s, `"PromoterReady":0`) {
		t.Fatalf("output lacks the decision records or the metric lines:\n%s", s)
	}
}
