package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/redisha/redisha/internal/check"
	"github.com/redisha/redisha/internal/sim/redisserver"
	"github.com/redisha/redisha/internal/testbed/redistest"
)

func TestSweepOutputLogAndExit(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redisserver.Options{})
	log := filepath.Join(t.TempDir(), "redis_db_health.log")
	code, stdout, stderr := run(t, nil, "sweep", "--addr", srv.Addr, "--dbs", "0-2", "--rw", "--log", log)
	if code != ExitOK || !strings.Contains(stdout, "DB 2: RUNNING") || !strings.Contains(stdout, "3 of 3 OK") {
		t.Fatalf("exit %d: %s %s", code, stdout, stderr)
	}
	b, _ := os.ReadFile(log)
	if !strings.Contains(string(b), "===== Redis DB Health Check at ") || !strings.Contains(string(b), "DB 0: RUNNING") {
		t.Fatalf("log: %s", b)
	}
	// A second run appends, as the cron script's >> did.
	if code, _, _ = run(t, nil, "sweep", "--addr", srv.Addr, "--dbs", "0", "--log", log); code != ExitOK {
		t.Fatalf("second run: exit %d", code)
	}
	if b, _ = os.ReadFile(log); strings.Count(string(b), "===== Redis DB Health Check at ") != 2 {
		t.Fatalf("log not appended:\n%s", b)
	}
	redistest.AssertNoKeys(t, redistest.Admin(t, srv.Addr, "", ""), check.DefaultPrefix)

	code, stdout, _ = run(t, nil, "sweep", "--addr", srv.Addr, "--dbs", "0,99")
	if code != ExitUnhealthy || !strings.Contains(stdout, "DB 99: NOT RUNNING") || !strings.Contains(stdout, "DB 0: RUNNING") {
		t.Fatalf("exit %d: %s", code, stdout)
	}
	code, stdout, _ = run(t, nil, "sweep", "--addr", srv.Addr, "--json")
	if code != ExitOK || !strings.Contains(stdout, `"databases_from": "config"`) {
		t.Fatalf("exit %d: %s", code, stdout)
	}
}

// ElastiCache blocks CONFIG: the sweep says it assumes 16 DBs.
func TestSweepConfigBlocked(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redisserver.Options{Config: []string{`rename-command CONFIG ""`}})
	code, stdout, _ := run(t, nil, "sweep", "--addr", srv.Addr)
	if code != ExitOK || !strings.Contains(stdout, "assuming 16 DBs") || !strings.Contains(stdout, "DB 15: RUNNING") {
		t.Fatalf("exit %d: %s", code, stdout)
	}
}

func TestSweepDown(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redisserver.Options{})
	srv.Kill()
	code, stdout, _ := run(t, nil, "sweep", "--addr", srv.Addr, "--dbs", "0-1", "--timeout", "500ms")
	if code != ExitUnhealthy || !strings.Contains(stdout, "DB 1: NOT RUNNING (refused") || !strings.Contains(stdout, "0 of 2 OK") {
		t.Fatalf("exit %d: %s", code, stdout)
	}
	// Without --dbs the count cannot be asked: 16 are assumed, and said so.
	code, stdout, _ = run(t, nil, "sweep", "--addr", srv.Addr, "--timeout", "500ms")
	if code != ExitUnhealthy || !strings.Contains(stdout, "no answer to CONFIG GET databases: assuming 16 DBs") ||
		!strings.Contains(stdout, "0 of 16 OK") {
		t.Fatalf("exit %d: %s", code, stdout)
	}
}

func TestSweepUsage(t *testing.T) {
	t.Parallel()
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"sweep"}, "--addr is required"},
		{[]string{"sweep", "--addr", "127.0.0.1:6379", "--dbs", "5-1"}, `--dbs: "5-1" is not a DB index or range`},
		{[]string{"sweep", "--addr", "127.0.0.1:6379", "--db", "3"}, "use --dbs"},
		{[]string{"sweep", "--addr", "127.0.0.1:6379", "--timeout", "0s"}, "--timeout 0s is out of range"},
		{[]string{"sweep", "--addr", "127.0.0.1:6379", "--log", "/proc/nope/x.log"}, "--log"},
		{[]string{"sweep", "--addr", "127.0.0.1:6379", "extra"}, "unexpected argument"},
	}
	for _, tc := range cases {
		code, _, errOut := run(t, nil, tc.args...)
		if code != ExitUsage || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tc.args, code, errOut, tc.want)
		}
	}
	expectHelp(t, "sweep", "--addr", "--tls", "--tls-server-name", "--tls-ca-file", "--user", "--password-file", "--db",
		"--dbs", "--rw", "--log", "--timeout", "--json", "--prefix", "cluster mode", "Exit 0")
}

// expectHelp asserts that cmd --help exits 0, prints its help on stdout,
// mentions every string in want and gives every flag a description.
func expectHelp(t *testing.T, cmd string, want ...string) {
	t.Helper()
	code, stdout, errOut := run(t, nil, cmd, "--help")
	if code != ExitOK || errOut != "" {
		t.Fatalf("%s --help: exit %d, stderr %q", cmd, code, errOut)
	}
	for _, w := range want {
		if !strings.Contains(stdout, w) {
			t.Errorf("%s --help does not mention %s", cmd, w)
		}
	}
	c, _, err := newRootCmd(Env{}).Find([]string{cmd})
	if err != nil {
		t.Fatal(err)
	}
	c.Flags().VisitAll(func(f *pflag.Flag) {
		if strings.TrimSpace(f.Usage) == "" {
			t.Errorf("%s --help: flag --%s has no description", cmd, f.Name)
		}
	})
}
