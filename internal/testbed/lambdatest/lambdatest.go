// Package lambdatest runs a Lambda function binary in a test: it builds the
// binary as the provided.al2023 runtime runs it and starts it under a local
// Runtime API (package lambdarun), stopped when the test ends.
package lambdatest

import (
	"fmt"
	"os"
	"os/exec"
	"testing"

	"github.com/redisha/redisha/internal/sim/lambdarun"
	"github.com/redisha/redisha/internal/testbed/syncbuf"
)

// Build compiles the main package in dir to the file bin as the Lambda runs
// it (lambda.norpc, no cgo), for this machine. args are extra `go build`
// flags (e.g. "-ldflags=-s -w"). The error carries the compiler's output.
func Build(bin, dir string, args ...string) error {
	cmdArgs := append([]string{"build", "-tags", "lambda.norpc", "-trimpath"}, args...)
	cmd := exec.Command("go", append(cmdArgs, "-o", bin, dir)...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", dir, err, out)
	}
	return nil
}

// Function is one Lambda binary running under a local Runtime API.
type Function struct {
	// API is the Runtime API the function polls: Invoke hands it events.
	API *lambdarun.Server
	// Proc is the function's process.
	Proc *lambdarun.Process
	out  syncbuf.Buffer
}

// Output is what the function has written so far (stdout and stderr).
func (f *Function) Output() string { return f.out.String() }

// Start runs bin under a new local Runtime API with env added to static
// local AWS credentials (give AWS_REGION in env). The process is stopped and
// the API closed when the test ends; the output is logged if it failed.
func Start(t testing.TB, bin string, env ...string) *Function {
	t.Helper()
	api, err := lambdarun.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	f := &Function{API: api}
	f.Proc, err = api.StartProcess(bin, append([]string{"AWS_ACCESS_KEY_ID=AKIDLOCAL", "AWS_SECRET_ACCESS_KEY=local",
		"AWS_EC2_METADATA_DISABLED=true"}, env...), &f.out)
	if err != nil {
		_ = api.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		f.Proc.Stop()
		_ = api.Close()
		if t.Failed() {
			t.Logf("function output:\n%s", f.Output())
		}
	})
	return f
}
