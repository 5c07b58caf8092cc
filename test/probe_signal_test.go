package test

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redisha/redisha/internal/check"
	"github.com/redisha/redisha/internal/sim/redisserver"
	"github.com/redisha/redisha/internal/testbed/redistest"
)

// A probe interrupted by SIGINT, SIGTERM or SIGHUP (an SSH session that
// drops) finishes its checks in flight, deletes its probe key, prints and
// writes the summary and leaves no key behind.
func TestProbeInterruptedLeavesNoKeys(t *testing.T) {
	bin := buildCommand(t, "redisha")
	srv := redistest.Start(t, redisserver.Options{})
	admin := redistest.Admin(t, srv.Addr, "", "")
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP} {
		t.Run(sig.String(), func(t *testing.T) {
			out := t.TempDir()
			cmd := exec.Command(bin, "probe", "--addr", srv.Addr, "--tls=false", "--duration", "0", "--out", out)
			stdout, _ := cmd.StdoutPipe()
			cmd.Stderr = cmd.Stdout
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
			// Wait until both series are connected and described (the
			// server events in events.jsonl) and a write check key has
			// been seen: the probe is running flat out.
			deadline := time.Now().Add(10 * time.Second)
			for time.Now().Before(deadline) {
				b, _ := os.ReadFile(filepath.Join(out, "events.jsonl"))
				if strings.Count(string(b), `"event":"server"`) >= 2 && admin.DBSize(context.Background()).Val() > 0 {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			var text strings.Builder
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				text.WriteString(sc.Text() + "\n")
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("exit after %s: %v\n%s", sig, err, text.String())
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("probe did not stop after %s", sig)
			}
			if !strings.Contains(text.String(), "windows none") {
				t.Errorf("no summary after %s:\n%s", sig, text.String())
			}
			if _, err := os.Stat(filepath.Join(out, "summary.json")); err != nil {
				t.Errorf("no summary.json after %s: %v", sig, err)
			}
			redistest.AssertNoKeys(t, admin, check.DefaultPrefix)
			if n := admin.DBSize(context.Background()).Val(); n != 0 {
				t.Errorf("%d keys left", n)
			}
		})
	}
}
