package test

import (
	"bufio"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

var pidRE = regexp.MustCompile(`\(pid (\d+)\)`)

// alive reports whether a process with this pid still exists (and is not a
// zombie waiting to be reaped).
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	fields := strings.Fields(string(b))
	return len(fields) > 2 && fields[2] != "Z"
}

// `make run`: invocations on a compressed schedule, the metrics printed, a
// stalled primary reported unhealthy, both checkers following a REPLICAOF
// swap, and Ctrl-C stops everything.
func TestLocalRunShowsResultsAndStopsEverything(t *testing.T) {
	runner := buildCommand(t, "redisha-local") // the program behind `make run`
	cmd := exec.Command(runner, "--bootstrap", bootstrap(t), "--minute", "2s", "--outage-round", "2", "--swap-round", "3")
	cmd.Dir = ".." // the runner reads events/ as `make run` does, from the repository root
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()

	lines := make(chan string, 256)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var seen strings.Builder
	var pids []int
	want := map[string]*regexp.Regexp{
		"healthy primary":   regexp.MustCompile(`^primary\s+schedule\s+healthy`),
		"healthy replica":   regexp.MustCompile(`^replica\s+stepfunctions\s+healthy`),
		"stalled primary":   regexp.MustCompile(`^primary\s+\S+\s+UNHEALTHY .*reason=timeout`),
		"status metric":     regexp.MustCompile(`metric: Custom/Redis HealthCheckStatus\{Region=local-1,Role=primary\} = 0 None`),
		"lag metric":        regexp.MustCompile(`metric: Custom/Redis ReplicationLagSeconds\{Region=local-2,Role=replica\}`),
		"recovered primary": regexp.MustCompile(`^-- primary resumed --`),
		// After the REPLICAOF swap each checker follows its node's role.
		"demoted primary":  regexp.MustCompile(`^primary\s+\S+\s+healthy\s+role=replica writable=false`),
		"promoted replica": regexp.MustCompile(`^replica\s+\S+\s+healthy\s+role=primary writable=true`),
		"writable metric":  regexp.MustCompile(`metric: Custom/Redis WritableStatus\{Region=local-2,Role=replica\} = 1 None`),
	}
	deadline := time.After(60 * time.Second)
	for len(want) > 0 {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("runner ended early; missing %v:\n%s", keys(want), seen.String())
			}
			seen.WriteString(l + "\n")
			if strings.Contains(l, "heartbeat_missing") {
				// The runner starts the replica checker only once the
				// primary's first heartbeat has replicated: no spurious
				// 600 s lag at start, and none later while replication runs.
				t.Errorf("a replica check missed the heartbeat: %s", l)
			}
			for _, m := range pidRE.FindAllStringSubmatch(l, -1) {
				n, _ := strconv.Atoi(m[1])
				pids = append(pids, n)
			}
			for name, re := range want {
				if re.MatchString(l) {
					delete(want, name)
				}
			}
		case <-deadline:
			t.Fatalf("missing %v after 60s:\n%s", keys(want), seen.String())
		}
	}
	if len(pids) != 2 {
		t.Fatalf("want the two redis-server pids announced, got %v:\n%s", pids, seen.String())
	}
	// Ctrl-C.
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	go func() {
		for l := range lines {
			seen.WriteString(l + "\n")
		}
	}()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("runner exit after Ctrl-C: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("runner did not stop after Ctrl-C")
	}
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("redis-server pid %d still running after Ctrl-C", pid)
		}
	}
}

func keys(m map[string]*regexp.Regexp) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
