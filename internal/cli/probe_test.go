package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redisha/redisha/internal/check"
	"github.com/redisha/redisha/internal/probe"
	"github.com/redisha/redisha/internal/redisconn"
	"github.com/redisha/redisha/internal/redisserver"
	"github.com/redisha/redisha/internal/redistest"
)

func TestProbeWritesSummaryEventsAndSeedLogs(t *testing.T) {
	srv := redistest.Start(t, redisserver.Options{})
	out := t.TempDir()
	seed := filepath.Join(out, "seed")
	code, stdout, stderr := run(t, nil, "probe", "--addr", srv.Addr, "--duration", "1500ms", "--timeout", "300ms",
		"--out", out, "--seed-logs", seed, "--json")
	if code != ExitOK {
		t.Fatalf("exit %d: %s %s", code, stdout, stderr)
	}
	var sum struct {
		Checks          int     `json:"checks"`
		ChecksPerSecond float64 `json:"checks_per_second"`
		Availability    float64 `json:"availability"`
		Windows         []any   `json:"windows"`
	}
	if err := json.Unmarshal([]byte(stdout), &sum); err != nil {
		t.Fatalf("--json output: %v\n%s", err, stdout)
	}
	if sum.Checks == 0 || sum.ChecksPerSecond <= 0 || sum.Availability != 1 || sum.Windows == nil || len(sum.Windows) != 0 {
		t.Fatalf("summary %+v", sum)
	}
	b, err := os.ReadFile(filepath.Join(out, "summary.json"))
	if err != nil || !strings.Contains(string(b), `"checks_per_second"`) || !strings.Contains(string(b), `"windows": []`) {
		t.Fatalf("summary.json: %v %s", err, b)
	}
	for _, e := range readEvents(t, filepath.Join(out, "events.jsonl")) {
		if e["event"] == "down" || e["event"] == "fail" {
			t.Errorf("failure in a healthy run: %v", e)
		}
	}
	if s, _ := os.ReadFile(filepath.Join(seed, "redis_success.log")); !strings.Contains(string(s), " SUCCESS ") ||
		!strings.Contains(string(s), "=== cycle 1 of 1 started at ") {
		t.Fatalf("seed success log: %s", s)
	}
	redistest.AssertNoKeys(t, redistest.Admin(t, srv.Addr, "", ""), check.DefaultPrefix)

	// An outage that lasts to the end makes the exit code 1 and shows in
	// the table as an open window.
	srv.Kill()
	code, stdout, _ = run(t, nil, "probe", "--addr", srv.Addr, "--duration", "500ms", "--timeout", "200ms")
	if code != ExitUnhealthy || !strings.Contains(stdout, "(open)") || !strings.Contains(stdout, "refused") {
		t.Fatalf("exit %d:\n%s", code, stdout)
	}
}

// A restart in the middle of a run: summary.json carries both windows with
// every documented field, events.jsonl has the down and up lines, and the
// seed-format error log has the failures.
func TestProbeOutageInSummaryAndEvents(t *testing.T) {
	srv := redistest.Start(t, redisserver.Options{})
	out := t.TempDir()
	go func() {
		time.Sleep(700 * time.Millisecond)
		srv.Kill()
		time.Sleep(500 * time.Millisecond)
		_ = srv.Restart()
	}()
	code, stdout, stderr := run(t, nil, "probe", "--addr", srv.Addr, "--duration", "2500ms", "--timeout", "200ms",
		"--out", out, "--seed-logs", out)
	if code != ExitUnhealthy {
		t.Fatalf("exit %d: %s %s", code, stdout, stderr)
	}
	var sum struct {
		Availability float64 `json:"availability"`
		Windows      []struct {
			Kind       string   `json:"kind"`
			Start      string   `json:"start"`
			End        string   `json:"end"`
			DurationMS int64    `json:"duration_ms"`
			ChecksLost int      `json:"checks_lost"`
			Reasons    []string `json:"reasons"`
		} `json:"windows"`
	}
	b, err := os.ReadFile(filepath.Join(out, "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &sum); err != nil {
		t.Fatal(err)
	}
	kinds := map[string]bool{}
	for _, w := range sum.Windows {
		kinds[w.Kind] = true
		start, err1 := time.Parse(time.RFC3339Nano, w.Start)
		end, err2 := time.Parse(time.RFC3339Nano, w.End)
		if err1 != nil || err2 != nil || len(w.Start) != len("2006-01-02T15:04:05.000Z") {
			t.Errorf("window times %q %q: want RFC 3339 with ms", w.Start, w.End)
		}
		if d := end.Sub(start).Milliseconds(); d != w.DurationMS && d != w.DurationMS+1 {
			t.Errorf("duration_ms %d, end − start %d", w.DurationMS, d)
		}
		if w.DurationMS < 300 || w.DurationMS > 1500 || w.ChecksLost < 1 || len(w.Reasons) == 0 {
			t.Errorf("window %+v for a 500 ms kill", w)
		}
	}
	if !kinds["write"] || !kinds["read"] || len(sum.Windows) != 2 || sum.Availability >= 1 {
		t.Fatalf("summary: %s", b)
	}
	counts := map[string]int{}
	for _, e := range readEvents(t, filepath.Join(out, "events.jsonl")) {
		counts[e["event"].(string)]++
	}
	if counts["down"] != 2 || counts["up"] != 2 || counts["server"] < 4 {
		t.Errorf("events: %v", counts)
	}
	if e, _ := os.ReadFile(filepath.Join(out, "redis_error.log")); !strings.Contains(string(e), " FAILURE ") {
		t.Errorf("seed error log: %s", e)
	}
	if !strings.Contains(stdout, "run id") {
		t.Errorf("the restart is not under its window:\n%s", stdout)
	}
	redistest.AssertNoKeys(t, redistest.Admin(t, srv.Addr, "", ""), check.DefaultPrefix)
}

// --interval, --cycles and --break: the seed's flexible schedule.
func TestProbeCyclesOnAnInterval(t *testing.T) {
	srv := redistest.Start(t, redisserver.Options{})
	out := t.TempDir()
	start := time.Now()
	code, stdout, stderr := run(t, nil, "probe", "--addr", srv.Addr, "--duration", "300ms", "--interval", "50ms",
		"--cycles", "2", "--break", "300ms", "--out", out, "--json")
	if code != ExitOK {
		t.Fatalf("exit %d: %s %s", code, stdout, stderr)
	}
	if el := time.Since(start); el < 900*time.Millisecond {
		t.Errorf("2 cycles of 300ms and a 300ms break took %s", el)
	}
	var sum struct {
		Checks int `json:"checks"`
	}
	_ = json.Unmarshal([]byte(stdout), &sum)
	// 2 series × 2 cycles × about 6 checks.
	if sum.Checks < 8 || sum.Checks > 40 {
		t.Errorf("%d checks at a 50ms interval", sum.Checks)
	}
	var marks []string
	for _, e := range readEvents(t, filepath.Join(out, "events.jsonl")) {
		if e["event"] == "mark" {
			marks = append(marks, e["message"].(string))
		}
	}
	if len(marks) != 3 || !strings.Contains(marks[1], "break of 300ms") {
		t.Errorf("marks %v", marks)
	}
}

// The status line a terminal shows: redrawn in place, with the rate, the
// state and the longest window so far; cleared at the end.
func TestLiveStatus(t *testing.T) {
	srv := redistest.Start(t, redisserver.Options{})
	p, err := probe.New(probe.Config{Conn: redisconn.Config{Addr: srv.Addr}, Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	stop, done := make(chan struct{}), make(chan struct{})
	finished := make(chan struct{})
	go func() { p.Run(context.Background(), stop); close(finished) }()
	var buf bytes.Buffer
	statusDone := make(chan struct{})
	go func() { liveStatus(&buf, p, done); close(statusDone) }()
	time.Sleep(400 * time.Millisecond)
	_ = srv.Pause()
	time.Sleep(700 * time.Millisecond)
	_ = srv.Resume()
	time.Sleep(400 * time.Millisecond)
	close(done)
	<-statusDone
	close(stop)
	<-finished
	out := buf.String()
	for _, want := range []string{"\r\033[K", "checks (", "/s)", "  UP  ", "DOWN (writes+reads) for ", "longest "} {
		if !strings.Contains(out, want) {
			t.Errorf("status lines lack %q:\n%q", want, out)
		}
	}
	if !strings.HasSuffix(out, "\r\033[K") {
		t.Errorf("status line not cleared at the end: %q", out[max(0, len(out)-80):])
	}
}

func TestProbeUsage(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"probe"}, "--addr is required"},
		{[]string{"probe", "--addr", "127.0.0.1:6379", "--timeout", "0s"}, "--timeout must be positive"},
		{[]string{"probe", "--addr", "127.0.0.1:6379", "--cycles", "0"}, "--cycles must be at least 1"},
		{[]string{"probe", "--addr", "127.0.0.1:6379", "--duration", "0", "--cycles", "2"}, "--cycles needs a --duration"},
		{[]string{"probe", "--addr", "127.0.0.1:6379", "--duration", "-1s"}, "--duration must not be negative"},
		{[]string{"probe", "--addr", "127.0.0.1:6379", "--interval", "-1s"}, "--interval must not be negative"},
		{[]string{"probe", "--addr", "127.0.0.1:6379", "--break", "-1s"}, "--break must not be negative"},
		{[]string{"probe", "--addr", "127.0.0.1:6379", "--key-ttl", "10ms"}, "--key-ttl must be at least 1s"},
		{[]string{"probe", "--addr", "127.0.0.1:6379", "--sample", "0s"}, "--sample must be positive"},
		{[]string{"probe", "--addr", "127.0.0.1:6379", "--prefix", ""}, "--prefix"},
		{[]string{"probe", "--addr", "127.0.0.1:6379", "--out", "/proc/nope/x"}, "--out"},
		{[]string{"probe", "--addr", "127.0.0.1:6379", "--seed-logs", "/proc/nope/x"}, "--seed-logs"},
		{[]string{"probe", "--addr", "127.0.0.1:6379", "--password-file", "/nonexistent"}, "--password-file"},
		{[]string{"probe", "--addr", "nohostport"}, "--addr"},
	}
	for _, tc := range cases {
		code, _, errOut := run(t, nil, tc.args...)
		if code != ExitUsage || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tc.args, code, errOut, tc.want)
		}
	}
	expectHelp(t, "probe", "--addr", "--tls", "--tls-server-name", "--tls-ca-file", "--user", "--password-file", "--db",
		"--timeout", "--duration", "--interval", "--cycles", "--break", "--out", "--json", "--prefix", "--key-ttl", "--sample",
		"--seed-logs", "--quiet", "paused_writes", "Exit 0")
}

func readEvents(t *testing.T, path string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var e map[string]any
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("%s line %q: %v", path, line, err)
		}
		out = append(out, e)
	}
	return out
}
