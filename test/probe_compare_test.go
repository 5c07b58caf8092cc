package test

import (
	"bufio"
	"context"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redisha/redisha/internal/probe"
	"github.com/redisha/redisha/internal/redisconn"
	"github.com/redisha/redisha/internal/sim/redisserver"
	"github.com/redisha/redisha/internal/testbed/redistest"
)

// redisCLI is the redis-cli the runbook's script forks (package
// redis-tools, installed with redis-server).
const redisCLI = "/usr/bin/redis-cli"

// probeResult is what one tool measured in one run.
type probeResult struct {
	checks  int
	elapsed time.Duration
	longest time.Duration // the longest outage window it reported
}

// BenchmarkProbeVsSeedScript runs redisha probe and the runbook's bash
// probe against the same local server and the same injected fault, and
// reports each tool's checks per second and the error of its longest
// window against the injected outage (ms; negative means it saw less): the
// mean, the smallest and the largest over the runs.
func BenchmarkProbeVsSeedScript(b *testing.B) {
	if _, err := os.Stat(redisCLI); err != nil {
		b.Fatalf("%s not found: install redis-tools (it comes with redis-server)", redisCLI)
	}
	for _, f := range redistest.Faults {
		for _, tool := range []string{"redisha", "seed-bash"} {
			b.Run(f.Name+"/"+tool, func(b *testing.B) {
				var errSum, rateSum float64
				errMin, errMax := math.Inf(1), math.Inf(-1)
				n := 0
				for b.Loop() {
					addr, inject := f.Setup(b)
					var res probeResult
					var injected time.Duration
					if tool == "redisha" {
						res, injected = runRedisha(b, addr, inject)
					} else {
						res, injected = runSeedScript(b, addr, inject)
					}
					e := float64((res.longest - injected).Milliseconds())
					errSum += e
					errMin, errMax = math.Min(errMin, e), math.Max(errMax, e)
					rateSum += float64(res.checks) / res.elapsed.Seconds()
					n++
				}
				b.ReportMetric(errSum/float64(n), "window-error-ms")
				b.ReportMetric(errMin, "min-error-ms")
				b.ReportMetric(errMax, "max-error-ms")
				b.ReportMetric(rateSum/float64(n), "checks/s")
			})
		}
	}
}

func runRedisha(b *testing.B, addr string, inject func() time.Duration) (probeResult, time.Duration) {
	p, err := probe.New(probe.Config{Conn: redisconn.Config{Addr: addr}, Timeout: 250 * time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan *probe.Summary, 1)
	go func() { done <- p.Run(ctx) }()
	time.Sleep(time.Second)
	injected := inject()
	time.Sleep(1500 * time.Millisecond)
	stop()
	s := <-done
	return probeResult{checks: s.Series[probe.Write].Checks, elapsed: time.Duration(s.ElapsedMS) * time.Millisecond,
		longest: time.Duration(s.Series[probe.Write].LongestMS) * time.Millisecond}, injected
}

// seedScript starts the runbook's bash probe against addr for runFor
// seconds, its logs in a temporary directory.
func seedScript(tb testing.TB, addr string, runFor int) (cmd *exec.Cmd, okLog, errLog string) {
	tb.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		tb.Fatal(err)
	}
	dir := tb.TempDir()
	okLog, errLog = filepath.Join(dir, "redis_success.log"), filepath.Join(dir, "redis_error.log")
	cmd = exec.Command("bash", "../bench/seed_downtime_probe.sh", host, port, strconv.Itoa(runFor), okLog, errLog)
	cmd.Env = append(os.Environ(), "REDIS_CLI="+redisCLI)
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() })
	return cmd, okLog, errLog
}

func runSeedScript(b *testing.B, addr string, inject func() time.Duration) (probeResult, time.Duration) {
	start := time.Now()
	// Long enough to outlast the slowest fault (about 2.5 s from 1 s in)
	// with a healthy tail: the script counts whole seconds from its start.
	cmd, okLog, errLog := seedScript(b, addr, 6)
	time.Sleep(time.Second)
	injected := inject()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		b.Fatal("seed script did not finish")
	}
	elapsed := time.Since(start)
	checks, longest := seedWindows(b, okLog, errLog)
	return probeResult{checks: checks, elapsed: elapsed, longest: longest}, injected
}

// seedWindows reads the script's two logs as an operator would: a window
// from the first FAILURE to the next SUCCESS, by check number.
func seedWindows(b *testing.B, okLog, errLog string) (checks int, longest time.Duration) {
	type line struct {
		n  int
		t  time.Time
		ok bool
	}
	var lines []line
	for _, p := range []string{okLog, errLog} {
		fh, err := os.Open(p)
		if err != nil {
			b.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) < 4 || (f[2] != "SUCCESS" && f[2] != "FAILURE") {
				continue
			}
			t, err := time.ParseInLocation("2006-01-02 15:04:05.000", f[0]+" "+f[1], time.Local)
			n, err2 := strconv.Atoi(strings.TrimSuffix(f[3], ":"))
			if err != nil || err2 != nil {
				continue
			}
			lines = append(lines, line{n, t, f[2] == "SUCCESS"})
		}
		fh.Close()
	}
	byN := make(map[int]line, len(lines))
	maxN := 0
	for _, l := range lines {
		byN[l.n] = l
		maxN = max(maxN, l.n)
	}
	var open *time.Time
	for n := 1; n <= maxN; n++ {
		l, ok := byN[n]
		if !ok {
			continue
		}
		switch {
		case !l.ok && open == nil:
			t := l.t
			open = &t
		case l.ok && open != nil:
			longest = time.Duration(math.Max(float64(longest), float64(l.t.Sub(*open))))
			open = nil
		}
	}
	return len(lines), longest
}

// TestSeedScriptMissesAStall documents why the runbook's probe cannot be
// trusted for stalls: redis-cli has no timeout, so a stalled server is a
// slow success and no failure is ever logged.
func TestSeedScriptMissesAStall(t *testing.T) {
	if _, err := os.Stat(redisCLI); err != nil {
		t.Fatalf("%s not found: install redis-tools (it comes with redis-server)", redisCLI)
	}
	srv := redistest.Start(t, redisserver.Options{})
	cmd, okLog, errLog := seedScript(t, srv.Addr, 3)
	time.Sleep(800 * time.Millisecond)
	_ = srv.Pause()
	time.Sleep(900 * time.Millisecond)
	_ = srv.Resume()
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	errs, _ := os.ReadFile(errLog)
	if strings.Contains(string(errs), "FAILURE") {
		t.Fatalf("the seed script logged a failure for a stall:\n%s", errs)
	}
	oks, _ := os.ReadFile(okLog)
	if !strings.Contains(string(oks), "SUCCESS") {
		t.Fatalf("the seed script logged nothing:\n%s", oks)
	}
}
