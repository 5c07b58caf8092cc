package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redisha/redisha/internal/check"
	"github.com/redisha/redisha/internal/sim/redisserver"
	"github.com/redisha/redisha/internal/testbed/redistest"
)

// run runs the command line in-process and returns its exit code and output.
// The beds' servers speak plain text, so run sets REDISHA_TLS=false, as a
// plain-text deployment would, unless env holds REDISHA_TLS itself (even
// as "", to see the default).
func run(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	getenv := func(k string) string {
		if v, ok := env[k]; ok || k != "REDISHA_TLS" {
			return v
		}
		return "false"
	}
	code = Main(args, Env{Stdout: &out, Stderr: &errb, Getenv: getenv})
	return code, out.String(), errb.String()
}

func TestCheckJSONCountAndExitCodes(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redisserver.Options{})
	code, out, errOut := run(t, nil, "check", "--addr", srv.Addr, "--count", "3", "--interval", "1ms", "--json")
	if code != ExitOK {
		t.Fatalf("exit %d, stderr %s", code, errOut)
	}
	sc := bufio.NewScanner(strings.NewReader(out))
	n := 0
	for sc.Scan() {
		var r struct {
			Healthy   bool    `json:"healthy"`
			LatencyMS float64 `json:"latency_ms"`
			Role      string  `json:"role"`
		}
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		if !r.Healthy || r.LatencyMS <= 0 || r.Role != "primary" {
			t.Fatalf("line %q", sc.Text())
		}
		n++
	}
	if n != 3 {
		t.Fatalf("%d JSON lines, want 3:\n%s", n, out)
	}
	redistest.AssertNoKeys(t, redistest.Admin(t, srv.Addr, "", ""), check.DefaultPrefix)

	srv.Kill()
	code, out, _ = run(t, nil, "check", "--addr", srv.Addr, "--timeout", "500ms")
	if code != ExitUnhealthy || !strings.Contains(out, "UNHEALTHY") || !strings.Contains(out, "reason=refused") {
		t.Fatalf("down server: exit %d, %s", code, out)
	}
}

// aclServer starts a server whose only user is "checker" with the token
// checker-secret-1, and writes tokenFile (that token, maybe with white space
// around it) to a password file.
func aclServer(t *testing.T, tokenFile string) (*redisserver.Server, string) {
	t.Helper()
	srv := redistest.Start(t, redisserver.Options{Config: []string{
		"user default off", "user checker on >checker-secret-1 ~healthcheck:* +ping +set +get +del +select",
	}})
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte(tokenFile), 0o600); err != nil {
		t.Fatal(err)
	}
	return srv, pw
}

func TestCheckPasswordFileACLAndReplica(t *testing.T) {
	t.Parallel()
	srv, pw := aclServer(t, "checker-secret-1\n")
	code, out, errOut := run(t, nil, "check", "--addr", srv.Addr, "--user", "checker", "--password-file", pw, "--allow-plaintext-auth")
	if code != ExitOK {
		t.Fatalf("exit %d: %s %s", code, out, errOut)
	}
	if strings.Contains(out+errOut, "checker-secret-1") {
		t.Fatal("the password reached the output")
	}
	// The same through REDISHA_PASSWORD_FILE.
	if code, out, _ := run(t, map[string]string{"REDISHA_PASSWORD_FILE": pw, "REDISHA_ALLOW_PLAINTEXT_AUTH": "1"}, "check", "--addr", srv.Addr, "--user", "checker"); code != ExitOK {
		t.Fatalf("env password file: exit %d %s", code, out)
	}

	primary := redistest.Start(t, redisserver.Options{})
	replica := redistest.StartReplica(t, primary, "")
	code, out, _ = run(t, nil, "check", "--addr", replica.Addr)
	if code != ExitUnhealthy || !strings.Contains(out, "reason=readonly") {
		t.Fatalf("primary check of a replica: exit %d %s", code, out)
	}
	code, out, _ = run(t, nil, "check", "--addr", replica.Addr, "--expect-role", "replica")
	if code != ExitOK {
		t.Fatalf("replica check of a replica: exit %d %s", code, out)
	}
}

// Bad usage exits 2 with a message naming the flag, before anything runs.
func TestCheckUsageErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"check"}, "--addr is required"},
		{[]string{"check", "--addr", "localhost"}, `--addr "localhost" is not host:port`},
		{[]string{"check", "--addr", "localhost:0"}, "has no valid port"},
		{[]string{"check", "--addr", "127.0.0.1:6379", "--timeout", "0s"}, "--timeout 0s is out of range: give 1ms to 10m0s"},
		{[]string{"check", "--addr", "127.0.0.1:6379", "--timeout", "soon"}, `invalid argument "soon" for "--timeout" flag`},
		{[]string{"check", "--addr", "127.0.0.1:6379", "--expect-role", "master"}, `--expect-role: role "master" is unknown: use auto, primary or replica`},
		{[]string{"check", "--addr", "127.0.0.1:6379", "--count", "-1"}, "--count -1 is out of range: give 0 (until Ctrl-C) or 1 to"},
		{[]string{"check", "--addr", "127.0.0.1:6379", "--tls-server-name", "x"}, "--tls-server-name is set but TLS is off"},
		{[]string{"check", "--addr", "127.0.0.1:6379", "--db", "-2"}, "--db -2 is out of range: give 0 to 65536"},
		{[]string{"check", "--addr", "127.0.0.1:6379", "--password-file", "/nonexistent/pw"}, "--password-file: open /nonexistent/pw"},
		{[]string{"check", "--addr", "127.0.0.1:6379", "--key-ttl", "10ms"}, "--key-ttl 10ms is out of range: give 1s to 24h0m0s"},
		{[]string{"check", "--addr", "127.0.0.1:6379", "extra"}, `unexpected argument "extra"`},
		{[]string{"check", "--no-such-flag"}, "unknown flag: --no-such-flag"},
		{[]string{"nosuchcommand"}, `unknown command "nosuchcommand"`},
	}
	for _, tc := range cases {
		code, _, errOut := run(t, nil, tc.args...)
		if code != ExitUsage || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tc.args, code, errOut, tc.want)
		}
	}
}

func TestHelp(t *testing.T) {
	t.Parallel()
	code, out, _ := run(t, nil, "--help")
	if code != ExitOK || !strings.Contains(out, "check") || !strings.Contains(out, "probe") || !strings.Contains(out, "sweep") {
		t.Fatalf("exit %d %s", code, out)
	}
	expectHelp(t, "check", "--addr", "--tls", "--tls-server-name", "--tls-ca-file", "--user", "--password-file", "--db",
		"--timeout", "--count", "--interval", "--json", "--expect-role", "--heartbeat", "--prefix", "--key-ttl",
		"REDISHA_ADDR", "REDISHA_PASSWORD_FILE")
}

// A wrong password checked back to back (--interval 0) does not storm the
// server: after such a failure the next check waits, so the run opens at
// most 20 connections a second, ~8 (counted by the server, INFO stats).
func TestCheckBacksOffOnAWrongPassword(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redisserver.Options{Password: "right"})
	admin := redistest.Admin(t, srv.Addr, "right", "")
	pw := tokenFile(t, "wrong", 0o600)
	before := serverConnections(t, admin)
	start := time.Now()
	code, out, _ := run(t, nil, "check", "--addr", srv.Addr, "--password-file", pw, "--allow-plaintext-auth",
		"--count", "6", "--interval", "0", "--timeout", "500ms")
	n, el := serverConnections(t, admin)-before, time.Since(start)
	if code != ExitUnhealthy || strings.Count(out, "reason=auth") != 6 {
		t.Fatalf("exit %d, %s; want 6 auth failures", code, out)
	}
	t.Logf("%d connections in %s (%.1f/s)", n, el.Round(time.Millisecond), float64(n)/el.Seconds())
	if rate := float64(n) / el.Seconds(); rate > 20 {
		t.Errorf("%d connections in %s: %.0f/s, want at most 20/s", n, el, rate)
	}
}

// serverConnections reads the connections the server accepted from INFO
// stats.
func serverConnections(t *testing.T, c *redis.Client) int64 {
	t.Helper()
	info, err := c.Info(context.Background(), "stats").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "total_connections_received:"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no total_connections_received in INFO stats")
	return 0
}

// A cluster is checked shard by shard, as the Lambda checks it: one line a
// shard, and the shard whose primary is gone named.
func TestCheckCluster(t *testing.T) {
	servers := redistest.StartCluster(t, 2, redisserver.Options{})
	code, stdout, stderr := run(t, nil, "check", "--addr", servers[0].Addr, "--tls=false")
	if code != ExitOK || !strings.Contains(stdout, "  shard 0-8191 at "+servers[0].Addr+" healthy role=primary") ||
		!strings.Contains(stdout, "  shard 8192-16383 at "+servers[1].Addr+" healthy") {
		t.Fatalf("exit %d:\n%s\n%s", code, stdout, stderr)
	}
	// off checks the one node named: its unique key may hash to the other
	// shard (MOVED, reason cluster), which is what a one-node check of a
	// cluster node finds.
	if _, stdout, _ = run(t, nil, "check", "--addr", servers[0].Addr, "--tls=false", "--cluster", "off"); strings.Contains(stdout, "shard") {
		t.Fatalf("--cluster off: %s", stdout)
	}
	servers[1].Kill()
	code, stdout, _ = run(t, nil, "check", "--addr", servers[0].Addr, "--tls=false", "--cluster", "on", "--timeout", "500ms")
	if code != ExitUnhealthy || !strings.Contains(stdout, "  shard 8192-16383 at "+servers[1].Addr+" UNHEALTHY") ||
		!strings.Contains(stdout, "  shard 0-8191 at "+servers[0].Addr+" healthy") {
		t.Fatalf("one shard down: exit %d:\n%s", code, stdout)
	}
	if code, _, stderr = run(t, nil, "check", "--addr", servers[0].Addr, "--tls=false", "--cluster", "sharded"); code != ExitUsage ||
		!strings.Contains(stderr, "--cluster: ") {
		t.Fatalf("--cluster sharded: exit %d: %s", code, stderr)
	}
}
