package cli

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redisha/redisha/internal/sim/redisserver"
	"github.com/redisha/redisha/internal/testbed/redistest"
	"github.com/redisha/redisha/internal/testbed/syncbuf"
	"github.com/redisha/redisha/internal/testbed/wait"
)

// hasEvents reports whether path holds at least one event line.
func hasEvents(path string) bool {
	b, err := os.ReadFile(path)
	return err == nil && strings.Contains(string(b), "\n")
}

// startCLI runs the CLI with args as a process of its own (see helperArgs),
// so that the test can kill it outright; it is killed at cleanup.
func startCLI(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	a, err := json.Marshal(args)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperArgs+"="+string(a))
	var stderr syncbuf.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("%v stderr:\n%s", args, stderr.String())
		}
	})
	return cmd
}

// A run killed outright (SIGKILL) in a reused folder leaves its own
// events.jsonl and no summary.json, never the earlier run's summary beside
// it; its lock dies with it, so the next run with --force may start.
func TestProbeOutKilledRunLeavesNoOtherSummary(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redisserver.Options{})
	dir := t.TempDir()
	base := []string{"probe", "--addr", srv.Addr, "--tls=false", "--timeout", "300ms", "--out", dir, "--quiet"}
	if code, _, errOut := run(t, nil, append(base, "--duration", "300ms")...); code != ExitOK {
		t.Fatalf("first run: exit %d, %s", code, errOut)
	}
	// The first line is the run's first event, with its time: the second
	// run's differs (a file's inode may be reused, so it cannot tell).
	firstLine := func() string {
		b, _ := os.ReadFile(filepath.Join(dir, eventsFile))
		line, _, _ := strings.Cut(string(b), "\n")
		return line
	}
	first := firstLine()
	killed := startCLI(t, append(base, "--duration", "1m", "--force")...)
	wait.For(t, 10*time.Second, "the second run's events", func() bool {
		return hasEvents(filepath.Join(dir, eventsFile)) && firstLine() != first
	})
	if err := killed.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = killed.Wait()
	if _, err := os.Stat(filepath.Join(dir, summaryFile)); err == nil {
		t.Fatal("the killed run's events.jsonl sits beside a summary.json it never wrote")
	}
	if code, _, errOut := run(t, nil, append(base, "--duration", "300ms", "--force")...); code != ExitOK {
		t.Fatalf("--force after a killed run: exit %d, %s", code, errOut)
	}
}

// A run into a folder another run is writing to is refused, --force or
// not: the other run's summary would land beside this one's events.
func TestProbeOutInUseIsRefused(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redisserver.Options{})
	dir := t.TempDir()
	base := []string{"probe", "--addr", srv.Addr, "--tls=false", "--timeout", "300ms", "--out", dir, "--quiet"}
	done := make(chan int, 1)
	go func() {
		code, _, _ := run(t, nil, append(base, "--duration", "2s")...)
		done <- code
	}()
	wait.For(t, 10*time.Second, "the first run's events", func() bool { return hasEvents(filepath.Join(dir, eventsFile)) })
	code, out, errOut := run(t, nil, append(base, "--duration", "300ms", "--force")...)
	if want := "redisha probe: --out " + dir + " is in use by another probe run"; code != ExitUsage || !strings.HasPrefix(errOut, want) || out != "" {
		t.Errorf("second run: exit %d, stderr %q; want 2 and %q", code, errOut, want)
	}
	if code := <-done; code != ExitOK {
		t.Fatalf("first run: exit %d", code)
	}
	var sum struct {
		Checks int `json:"checks"`
	}
	b, err := os.ReadFile(filepath.Join(dir, summaryFile))
	if err != nil || json.Unmarshal(b, &sum) != nil || sum.Checks == 0 {
		t.Fatalf("the first run's summary: %v %s", err, b)
	}
}

// Output paths never follow a symbolic link planted in them: a link where
// events.jsonl goes is removed with --force (its target untouched), a link
// where a seed log or sweep's --log goes is refused, and so is an --out
// that is itself a link.
func TestOutputPathsDoNotFollowSymlinks(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redisserver.Options{})
	victims := t.TempDir()
	victim := func(name string) string {
		p := filepath.Join(victims, name)
		if err := os.WriteFile(p, []byte("precious\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	link := func(target, path string) {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, path); err != nil {
			t.Fatal(err)
		}
	}
	out, seed, logDir := t.TempDir(), t.TempDir(), t.TempDir()
	v1, v2, v3 := victim("v1"), victim("v2"), victim("v3")
	link(v1, filepath.Join(out, eventsFile))
	link(v2, filepath.Join(seed, failureLog))
	link(v3, filepath.Join(logDir, "health.log"))
	outLink := filepath.Join(t.TempDir(), "out-link")
	link(t.TempDir(), outLink)

	base := []string{"probe", "--addr", srv.Addr, "--tls=false", "--timeout", "300ms", "--duration", "300ms", "--quiet"}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--out", out}, "redisha probe: --out " + out + " holds an earlier run's events.jsonl"},
		{[]string{"--seed-logs", seed}, "redisha probe: --seed-logs: " + filepath.Join(seed, failureLog) + " is a symbolic link"},
		{[]string{"--out", outLink, "--force"}, "redisha probe: --out " + outLink + " is a symbolic link"},
	} {
		if code, _, errOut := run(t, nil, append(base, tc.args...)...); code != ExitUsage || !strings.HasPrefix(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tc.args, code, errOut, tc.want)
		}
	}
	if code, _, errOut := run(t, nil, "sweep", "--addr", srv.Addr, "--tls=false", "--dbs", "0", "--log", filepath.Join(logDir, "health.log")); code != ExitUsage || !strings.Contains(errOut, "is a symbolic link") {
		t.Errorf("sweep --log through a link: exit %d, stderr %q", code, errOut)
	}
	if code, _, errOut := run(t, nil, append(base, "--out", out, "--force")...); code != ExitOK {
		t.Fatalf("--force over a planted link: exit %d, %s", code, errOut)
	}
	if fi, err := os.Lstat(filepath.Join(out, eventsFile)); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("events.jsonl after --force: %v, %v; want a regular file", fi, err)
	}
	for _, v := range []string{v1, v2, v3} {
		if b, _ := os.ReadFile(v); string(b) != "precious\n" {
			t.Errorf("%s was written through a link: %q", v, b)
		}
	}
}
