package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/redisha/redisha/internal/sim/redisserver"
	"github.com/redisha/redisha/internal/testbed/redistest"
)

// Exit codes: 0 healthy, 1 a finding, 2 bad usage, the same for every
// command; the error is printed once, as "redisha <command>: <message>".
func TestExitCodes(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redisserver.Options{})
	for _, cmd := range []string{"check", "sweep"} {
		if code, out, errOut := run(t, nil, cmd, "--addr", srv.Addr, "--timeout", "1s"); code != ExitOK || errOut != "" {
			t.Errorf("%s healthy: exit %d, stderr %q, stdout %s", cmd, code, errOut, out)
		}
		code, _, errOut := run(t, nil, cmd, "--addr", srv.Addr, "--no-such-flag")
		if code != ExitUsage || errOut != "redisha "+cmd+": unknown flag: --no-such-flag (see 'redisha "+cmd+" --help')\n" {
			t.Errorf("%s bad flag: exit %d, stderr %q", cmd, code, errOut)
		}
	}
	down := redistest.Start(t, redisserver.Options{})
	down.Kill()
	code, _, errOut := run(t, nil, "check", "--addr", down.Addr, "--timeout", "500ms", "--count", "2", "--interval", "1ms")
	if code != ExitUnhealthy || errOut != "redisha check: 2 of 2 checks were unhealthy\n" {
		t.Errorf("check of a down server: exit %d, stderr %q", code, errOut)
	}
	code, _, errOut = run(t, nil, "sweep", "--addr", down.Addr, "--timeout", "500ms", "--dbs", "0-1")
	if code != ExitUnhealthy || !strings.HasPrefix(errOut, "redisha sweep: 2 of 2 DBs did not answer") {
		t.Errorf("sweep of a down server: exit %d, stderr %q", code, errOut)
	}
	if code, _, errOut := run(t, nil, "nosuchcommand"); code != ExitUsage || strings.Count(errOut, "unknown command") != 1 {
		t.Errorf("unknown command: exit %d, stderr %q", code, errOut)
	}
	if code, out, _ := run(t, nil, "completion", "bash"); code != ExitOK || !strings.Contains(out, "redisha") {
		t.Errorf("completion bash: exit %d", code)
	}
}

// Every connection flag falls back to its REDISHA_ variable; a flag on the
// command line wins; a bad variable is a usage error naming it.
func TestConnEnvFallback(t *testing.T) {
	t.Parallel()
	// The token saved with white space around it, as secrets often are.
	srv, pw := aclServer(t, "  checker-secret-1 \r\n\n")
	env := map[string]string{
		"REDISHA_ADDR": srv.Addr, "REDISHA_USER": "checker", "REDISHA_PASSWORD_FILE": pw, "REDISHA_DB": "1", "REDISHA_TLS": "false",
		"REDISHA_ALLOW_PLAINTEXT_AUTH": "true",
	}
	code, out, errOut := run(t, env, "check", "--json")
	if code != ExitOK {
		t.Fatalf("from the environment: exit %d, %s %s", code, out, errOut)
	}

	// Flags beat the environment: a wrong REDISHA_ADDR and REDISHA_USER are
	// overridden on the command line, and a bad REDISHA_DB is not even read.
	wrong := map[string]string{
		"REDISHA_ADDR": "127.0.0.1:1", "REDISHA_USER": "nobody", "REDISHA_PASSWORD_FILE": pw, "REDISHA_DB": "not-a-number",
		"REDISHA_ALLOW_PLAINTEXT_AUTH": "true",
	}
	if code, out, errOut := run(t, wrong, "check", "--addr", srv.Addr, "--user", "checker", "--db", "0"); code != ExitOK {
		t.Fatalf("flags over environment: exit %d, %s %s", code, out, errOut)
	}

	cases := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"REDISHA_ADDR": srv.Addr, "REDISHA_DB": "x"}, `redisha check: REDISHA_DB="x"`},
		{map[string]string{"REDISHA_ADDR": srv.Addr, "REDISHA_TLS": "maybe"}, `redisha check: REDISHA_TLS="maybe"`},
		{map[string]string{"REDISHA_ADDR": "nohostport"}, `redisha check: --addr (from REDISHA_ADDR) "nohostport" is not host:port`},
		{map[string]string{"REDISHA_ADDR": srv.Addr, "REDISHA_DB": "-1"}, `redisha check: REDISHA_DB="-1" is out of range: give 0 to 65536, as for --db`},
		{map[string]string{"REDISHA_ADDR": srv.Addr, "REDISHA_DB": "1000000"}, `redisha check: REDISHA_DB="1000000" is out of range`},
		{map[string]string{"REDISHA_ADDR": srv.Addr, "REDISHA_PASSWORD_FILE": "/nonexistent/pw"}, "redisha check: --password-file (from REDISHA_PASSWORD_FILE): open /nonexistent/pw"},
	}
	for _, tc := range cases {
		if code, _, errOut := run(t, tc.env, "check"); code != ExitUsage || !strings.HasPrefix(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tc.env, code, errOut, tc.want)
		}
	}
}

// A missing or non-PEM --tls-ca-file, and an empty --prefix, are usage
// errors naming the flag in every command, before anything runs.
func TestSharedUsageRules(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.txt")
	if err := os.WriteFile(notPEM, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Nothing listens here: a run that got past validation would fail as a
	// finding (exit 1), not as bad usage.
	addr := "127.0.0.1:1"
	for _, cmd := range []string{"check", "probe", "sweep"} {
		for _, tc := range []struct {
			args []string
			want string
		}{
			{[]string{"--tls", "--tls-ca-file", filepath.Join(dir, "missing.pem")}, "redisha " + cmd + ": --tls-ca-file: "},
			{[]string{"--tls", "--tls-ca-file", notPEM}, "redisha " + cmd + ": --tls-ca-file: "},
			{[]string{"--prefix", ""}, "redisha " + cmd + ": --prefix: key prefix is empty"},
			{[]string{"--prefix", "a b"}, "redisha " + cmd + ": --prefix: "},
		} {
			args := append([]string{cmd, "--addr", addr, "--timeout", "200ms"}, tc.args...)
			code, out, errOut := run(t, nil, args...)
			if code != ExitUsage || !strings.HasPrefix(errOut, tc.want) || strings.Count(errOut, "\n") != 1 || out != "" {
				t.Errorf("%v: exit %d, stdout %q, stderr %q; want 2 and %q", args, code, out, errOut, tc.want)
			}
		}
	}
}
