package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/redisha/redisha/internal/check"
	"github.com/redisha/redisha/internal/probe"
	"github.com/redisha/redisha/internal/sim/redisserver"
	"github.com/redisha/redisha/internal/testbed/redistest"
	"github.com/redisha/redisha/internal/testbed/wait"
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
	if code != ExitUnhealthy || !strings.Contains(stdout, "(open)") || !strings.Contains(stdout, "refused") ||
		!strings.Contains(stdout, "data    not known: no read succeeded") {
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
		// Once both series are connected and have described the server
		// (two server events), a 500 ms outage.
		if !wait.Until(context.Background(), 10*time.Second, func() bool {
			b, _ := os.ReadFile(filepath.Join(out, eventsFile))
			return strings.Count(string(b), `"event":"server"`) >= 2
		}) {
			return
		}
		srv.Kill()
		time.Sleep(500 * time.Millisecond) // the outage's length
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
		if e["event"] == "cycle" || e["event"] == "break" {
			marks = append(marks, fmt.Sprintf("%v %v %v", e["event"], e["cycle"], e["break_ms"]))
		}
	}
	if len(marks) != 3 || marks[1] != "break 1 300" || marks[2] != "cycle 2 <nil>" {
		t.Errorf("cycle and break events %v", marks)
	}
}

// fakeStatus plays a probe's live state on the fake clock: up for 400 ms,
// down for 700 ms (a 700 ms window), then up again.
type fakeStatus struct{ start time.Time }

func (f fakeStatus) Status() probe.Status {
	el := time.Since(f.start)
	st := probe.Status{Elapsed: el, Checks: int(el / time.Millisecond), WriteUp: true, ReadUp: true}
	switch {
	case el >= 400*time.Millisecond && el < 1100*time.Millisecond:
		st.WriteUp, st.ReadUp, st.OpenSince = false, false, el-400*time.Millisecond
	case el >= 1100*time.Millisecond:
		st.LongestMS, st.WindowsNow, st.DataLoss = 700, 1, 1
	}
	return st
}

// The status line a terminal shows: redrawn in place four times a second,
// with the rate, the state and the longest window so far; cleared at the
// end. On the fake clock, so every redraw is the one expected.
func TestLiveStatus(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var buf bytes.Buffer
		done, finished := make(chan struct{}), make(chan struct{})
		go func() { liveStatus(&buf, fakeStatus{start: time.Now()}, done); close(finished) }()
		time.Sleep(1500*time.Millisecond + time.Millisecond)
		close(done)
		<-finished
		lines := strings.Split(buf.String(), "\r\033[K")
		want := []string{"",
			"0s  250 checks (1000/s)  UP  windows 0, longest 0ms",
			"1s  500 checks (1000/s)  DOWN (writes+reads) for 100ms  windows 0, longest 0ms",
			"1s  750 checks (1000/s)  DOWN (writes+reads) for 350ms  windows 0, longest 0ms",
			"1s  1000 checks (1000/s)  DOWN (writes+reads) for 600ms  windows 0, longest 0ms",
			"1s  1250 checks (1000/s)  UP  DATA LOST ×1  windows 1, longest 700ms",
			"2s  1500 checks (1000/s)  UP  DATA LOST ×1  windows 1, longest 700ms",
			""}
		if !slices.Equal(lines, want) {
			t.Errorf("status lines\n%q\nwant\n%q", lines, want)
		}
	})
}

func TestProbeUsage(t *testing.T) {
	t.Parallel()
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"probe"}, "--addr is required"},
		{[]string{"probe", "--addr", "127.0.0.1:6379", "--timeout", "0s"}, "--timeout 0s is out of range"},
		{[]string{"probe", "--addr", "127.0.0.1:6379", "--cycles", "0"}, "--cycles 0 is out of range"},
		{[]string{"probe", "--addr", "127.0.0.1:6379", "--duration", "0", "--cycles", "2"}, "--cycles needs a duration"},
		{[]string{"probe", "--addr", "127.0.0.1:6379", "--duration", "-1s"}, "--duration -1s is out of range"},
		{[]string{"probe", "--addr", "127.0.0.1:6379", "--interval", "-1s"}, "--interval -1s is out of range"},
		{[]string{"probe", "--addr", "127.0.0.1:6379", "--break", "-1s"}, "--break -1s is out of range"},
		{[]string{"probe", "--addr", "127.0.0.1:6379", "--key-ttl", "10ms"}, "--key-ttl 10ms is out of range"},
		{[]string{"probe", "--addr", "127.0.0.1:6379", "--sample", "0s"}, "--sample 0s is out of range"},
		{[]string{"probe", "--addr", "127.0.0.1:6379", "--sample", "-1s"}, "--sample -1s is out of range"},
		{[]string{"probe", "--addr", "127.0.0.1:6379", "--timeout", "-1s"}, "--timeout -1s is out of range"},
		{[]string{"probe", "--addr", "127.0.0.1:6379", "--cycles", "-2"}, "--cycles -2 is out of range"},
		{[]string{"probe", "--addr", "127.0.0.1:6379", "--prefix", "a b"}, "--prefix"},
		{[]string{"probe", "--addr", "127.0.0.1:6379", "--tls", "--tls-ca-file", "/nonexistent/ca.pem"}, "--tls-ca-file"},
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
		"--seed-logs", "--quiet", "--force", "paused_writes", "still_down", "Exit 0")
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

// --out keeps one run: a directory with an earlier run's files is refused
// without --force; with it they are replaced, summary.json by a rename (a
// reader holding the old file keeps reading it whole, never a truncated
// mix).
func TestProbeOutKeepsOneRun(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redisserver.Options{})
	out := t.TempDir()
	old := []byte(`{"an": "earlier run"}` + "\n")
	if err := os.WriteFile(filepath.Join(out, "summary.json"), old, 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"probe", "--addr", srv.Addr, "--duration", "300ms", "--timeout", "200ms", "--out", out}
	code, _, stderr := run(t, nil, args...)
	if code != ExitUsage || !strings.Contains(stderr, "--out") || !strings.Contains(stderr, "--force") {
		t.Fatalf("an --out with an earlier run: exit %d, %s", code, stderr)
	}
	held, err := os.Open(filepath.Join(out, "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	if code, stdout, stderr := run(t, nil, append(args, "--force")...); code != ExitOK {
		t.Fatalf("--force: exit %d: %s %s", code, stdout, stderr)
	}
	if b, _ := io.ReadAll(held); !bytes.Equal(b, old) {
		t.Errorf("summary.json was rewritten in place: a reader of the old file saw %q", b)
	}
	b, err := os.ReadFile(filepath.Join(out, "summary.json"))
	if err != nil || !strings.Contains(string(b), `"checks_per_second"`) {
		t.Fatalf("new summary.json: %v %s", err, b)
	}
	entries, _ := os.ReadDir(out)
	for _, e := range entries {
		if e.Name() != "summary.json" && e.Name() != "events.jsonl" {
			t.Errorf("left in --out: %s", e.Name())
		}
	}
	// An events.jsonl without a summary.json (a run killed outright) is an
	// earlier run too.
	out2 := t.TempDir()
	if err := os.WriteFile(filepath.Join(out2, "events.jsonl"), []byte("{}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := run(t, nil, "probe", "--addr", srv.Addr, "--duration", "300ms", "--out", out2); code != ExitUsage {
		t.Errorf("an --out with a killed run's events.jsonl: exit %d, %s", code, stderr)
	}
}

// Writes that fail (a full disk: /dev/full) are reported on stderr at once,
// once per file; probing goes on; the summary says what was lost; exit 1.
// Not parallel: it swaps openOutFile while no other test runs.
func TestProbeWriteFailuresAreReported(t *testing.T) {
	srv := redistest.Start(t, redisserver.Options{})
	out, seed := t.TempDir(), t.TempDir()
	full := map[string]bool{filepath.Join(out, "events.jsonl"): true, filepath.Join(seed, "redis_success.log"): true}
	openOutFile = func(path string, flag int) (*os.File, error) {
		if full[path] {
			return os.OpenFile("/dev/full", os.O_WRONLY, 0)
		}
		return openNoFollow(path, flag)
	}
	t.Cleanup(func() { openOutFile = openNoFollow })
	code, stdout, stderr := run(t, nil, "probe", "--addr", srv.Addr, "--duration", "500ms", "--timeout", "200ms",
		"--out", out, "--seed-logs", seed, "--force")
	if code != ExitUnhealthy {
		t.Fatalf("exit %d: %s %s", code, stdout, stderr)
	}
	for _, f := range []string{"events.jsonl", "redis_success.log"} {
		if n := strings.Count(stderr, "writing "); n != 2 || !strings.Contains(stderr, f+" failed: write ") || !strings.Contains(stderr, "no space left on device; probing goes on") {
			t.Errorf("stderr reports %d failed files, want 2 with %s:\n%s", n, f, stderr)
		}
	}
	if !strings.Contains(stdout, "output  INCOMPLETE: ") || !strings.Contains(stdout, "windows none") {
		t.Errorf("summary:\n%s", stdout)
	}
	if !strings.Contains(stderr, "the output is incomplete") {
		t.Errorf("the finding does not name the output:\n%s", stderr)
	}
	var sum struct {
		Checks       int      `json:"checks"`
		OutputErrors []string `json:"output_errors"`
	}
	b, _ := os.ReadFile(filepath.Join(out, "summary.json"))
	if err := json.Unmarshal(b, &sum); err != nil || sum.Checks < 10 || len(sum.OutputErrors) != 2 {
		t.Errorf("summary.json %v: %s", err, b)
	}
}

// Lost data is a finding: a FLUSHALL in the middle of a run opens no
// window, yet the run exits 1, the table says so and summary.json counts
// it.
func TestProbeDataLossIsAFinding(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redisserver.Options{})
	admin := redistest.Admin(t, srv.Addr, "", "")
	out := t.TempDir()
	go func() {
		// Once the read probe key is there, lose it.
		if wait.Until(context.Background(), 5*time.Second, func() bool {
			return len(admin.Keys(context.Background(), check.DefaultPrefix+"probe:*").Val()) == 1
		}) {
			_ = admin.FlushAll(context.Background()).Err()
		}
	}()
	code, stdout, stderr := run(t, nil, "probe", "--addr", srv.Addr, "--duration", "2500ms", "--timeout", "200ms", "--out", out)
	if code != ExitUnhealthy || !strings.Contains(stderr, "data lost") {
		t.Fatalf("exit %d: %s %s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "data    LOST 1 time(s)") || !strings.Contains(stdout, "windows none") {
		t.Errorf("table:\n%s", stdout)
	}
	var sum struct {
		DataLoss []struct {
			Time string `json:"time"`
		} `json:"data_loss"`
	}
	b, _ := os.ReadFile(filepath.Join(out, "summary.json"))
	if err := json.Unmarshal(b, &sum); err != nil || len(sum.DataLoss) != 1 {
		t.Errorf("summary.json %v: %s", err, b)
	}
	redistest.AssertNoKeys(t, admin, check.DefaultPrefix)
}

// maxOutPerSecond is the output budget while an endpoint is down: 10 MB
// over a 45-minute upgrade.
const maxOutPerSecond = 10e6 / (45 * 60)

// Against an endpoint that is down the whole run, --out and --seed-logs
// grow by a few hundred bytes a second, not megabytes: state changes and
// one still_down line per series per --sample.
func TestProbeOutputStaysSmallWhileDown(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redisserver.Options{})
	srv.Kill()
	out := t.TempDir()
	start := time.Now()
	code, stdout, stderr := run(t, nil, "probe", "--addr", srv.Addr, "--duration", "3s", "--timeout", "200ms",
		"--out", out, "--seed-logs", out)
	elapsed := time.Since(start)
	if code != ExitUnhealthy {
		t.Fatalf("exit %d: %s %s", code, stdout, stderr)
	}
	var total int64
	entries, _ := os.ReadDir(out)
	for _, e := range entries {
		fi, _ := e.Info()
		total += fi.Size()
	}
	var sum struct {
		Checks int `json:"checks"`
	}
	b, _ := os.ReadFile(filepath.Join(out, "summary.json"))
	_ = json.Unmarshal(b, &sum)
	rate := float64(total) / elapsed.Seconds()
	t.Logf("%d bytes in --out after %s down (%.0f B/s, %.1f MB in 45 min), %d failed checks", total, elapsed.Round(time.Millisecond),
		rate, rate*45*60/1e6, sum.Checks)
	if rate > maxOutPerSecond {
		t.Errorf("%.0f B/s written while down: over 10 MB in 45 minutes", rate)
	}
	if sum.Checks < 100 {
		t.Errorf("%d checks: was the endpoint probed?", sum.Checks)
	}
	counts := map[string]int{}
	for _, e := range readEvents(t, filepath.Join(out, "events.jsonl")) {
		counts[e["event"].(string)]++
	}
	if counts["down"] != 2 || counts["still_down"] < 2 || counts["up"] != 0 {
		t.Errorf("events %v", counts)
	}
	if e, _ := os.ReadFile(filepath.Join(out, "redis_error.log")); !strings.Contains(string(e), " still down since ") {
		t.Errorf("seed error log:\n%s", e)
	}
}

// --duration is a bound: with --interval 4s and --duration 500ms the run
// ends after about 500 ms (it ran the whole 4 s interval before).
func TestProbeDurationBoundsTheInterval(t *testing.T) {
	srv := redistest.Start(t, redisserver.Options{})
	start := time.Now()
	code, stdout, stderr := run(t, nil, "probe", "--addr", srv.Addr, "--interval", "4s", "--duration", "500ms", "--timeout", "200ms")
	if el := time.Since(start); code != ExitOK || el > 1500*time.Millisecond {
		t.Fatalf("exit %d after %s: %s %s", code, el, stdout, stderr)
	}
}

// A cluster is probed shard by shard: the table names each shard, and a
// shard whose primary is down is the one window; nothing is left behind.
func TestProbeCluster(t *testing.T) {
	servers := redistest.StartCluster(t, 2, redisserver.Options{})
	code, stdout, stderr := run(t, nil, "probe", "--addr", servers[0].Addr, "--tls=false", "--duration", "1s", "--timeout", "300ms")
	if code != ExitOK || !strings.Contains(stderr, "a cluster of 2 shard(s): 0-8191 | 8192-16383") ||
		!strings.Contains(stdout, "shard (slots at start)") || !strings.Contains(stdout, "8192-16383") {
		t.Fatalf("exit %d:\n%s\n%s", code, stdout, stderr)
	}
	for _, s := range servers {
		if keys, err := redistest.Admin(t, s.Addr, "", "").Keys(context.Background(), check.DefaultPrefix+"*").Result(); err != nil || len(keys) != 0 {
			t.Fatalf("%s: keys left behind: %v %v", s.Addr, keys, err)
		}
	}

	servers[1].Kill()
	code, stdout, stderr = run(t, nil, "probe", "--addr", servers[0].Addr, "--tls=false", "--duration", "600ms", "--timeout", "200ms", "--cluster", "on")
	if code != ExitUnhealthy || !strings.Contains(stdout, "write  8192-16383") || strings.Contains(stdout, "write  0-8191") {
		t.Fatalf("one shard down: exit %d:\n%s\n%s", code, stdout, stderr)
	}

	one := redistest.Start(t, redisserver.Options{})
	code, _, stderr = run(t, nil, "probe", "--addr", one.Addr, "--tls=false", "--duration", "300ms", "--cluster", "on")
	if code == ExitOK || !strings.Contains(stderr, "--cluster on: ") || !strings.Contains(stderr, "not a cluster") {
		t.Fatalf("--cluster on against one node: exit %d: %s", code, stderr)
	}
	if code, _, stderr = run(t, nil, "probe", "--addr", one.Addr, "--tls=false", "--cluster", "sharded"); code != ExitUsage ||
		!strings.Contains(stderr, "--cluster ") {
		t.Fatalf("--cluster sharded: exit %d: %s", code, stderr)
	}
}
