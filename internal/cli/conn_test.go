package cli

import (
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/redisha/redisha/internal/sim/redisserver"
	"github.com/redisha/redisha/internal/testbed/redistest"
	"github.com/redisha/redisha/internal/testbed/secretlocal"
)

// tokenFile writes token into a file of the given mode.
func tokenFile(t *testing.T, token string, mode os.FileMode) string {
	t.Helper()
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte(token+"\n"), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(pw, mode); err != nil { // past the umask
		t.Fatal(err)
	}
	return pw
}

// byteCounter listens on loopback and counts the bytes clients send it.
func byteCounter(t *testing.T) (addr string, received *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	received = new(atomic.Int64)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				n, _ := io.Copy(io.Discard, c)
				received.Add(n)
			}()
		}
	}()
	return ln.Addr().String(), received
}

// TLS is on unless --tls=false: against a TLS server only the CA is given;
// against a plain-text one, the default fails as a finding.
func TestTLSOnByDefault(t *testing.T) {
	t.Parallel()
	certs := redistest.NewCerts(t, "localhost")
	tlsSrv := redistest.Start(t, redisserver.Options{TLS: &certs.TLSFiles})
	def := map[string]string{"REDISHA_TLS": ""} // the default, not the beds' plain text
	if code, out, errOut := run(t, def, "check", "--addr", tlsSrv.Addr, "--tls-ca-file", certs.CAFile, "--tls-server-name", "localhost"); code != ExitOK {
		t.Errorf("TLS server, no --tls: exit %d, %s %s", code, out, errOut)
	}
	plain := redistest.Start(t, redisserver.Options{})
	if code, out, _ := run(t, def, "check", "--addr", plain.Addr, "--timeout", "500ms"); code != ExitUnhealthy || !strings.Contains(out, "UNHEALTHY") {
		t.Errorf("plain-text server, no --tls: exit %d, %s; want a failed check", code, out)
	}
	if code, _, errOut := run(t, def, "check", "--addr", plain.Addr, "--tls=false"); code != ExitOK {
		t.Errorf("plain-text server, --tls=false: exit %d, %s", code, errOut)
	}
}

// A password with TLS off is refused before a byte is sent, naming --tls
// and the opt-out; --allow-plaintext-auth sends it.
func TestPasswordWithoutTLSRefused(t *testing.T) {
	t.Parallel()
	addr, received := byteCounter(t)
	pw := tokenFile(t, "S3CRET-TOKEN", 0o600)
	for _, cmd := range []string{"check", "probe", "sweep"} {
		code, out, errOut := run(t, nil, cmd, "--addr", addr, "--password-file", pw, "--timeout", "200ms")
		want := "redisha " + cmd + ": --tls (from REDISHA_TLS) is off, so the AUTH token would cross the network in clear"
		if code != ExitUsage || !strings.HasPrefix(errOut, want) || !strings.Contains(errOut, "--allow-plaintext-auth") || out != "" {
			t.Errorf("%s: exit %d, stderr %q; want 2 and %q", cmd, code, errOut, want)
		}
	}
	if n := received.Load(); n != 0 {
		t.Fatalf("the listener received %d bytes: the token left before the refusal", n)
	}
	srv := redistest.Start(t, redisserver.Options{Password: "S3CRET-TOKEN"})
	if code, out, errOut := run(t, nil, "check", "--addr", srv.Addr, "--password-file", pw, "--allow-plaintext-auth"); code != ExitOK {
		t.Errorf("--allow-plaintext-auth: exit %d, %s %s", code, out, errOut)
	}
}

// A password file its group or others may read is refused, naming the flag
// and chmod 600.
func TestPasswordFileMode(t *testing.T) {
	t.Parallel()
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660} {
		pw := tokenFile(t, "S3CRET-TOKEN", mode)
		code, _, errOut := run(t, nil, "check", "--addr", "127.0.0.1:1", "--tls", "--password-file", pw)
		if code != ExitUsage || !strings.HasPrefix(errOut, "redisha check: --password-file: ") || !strings.Contains(errOut, "chmod 600 "+pw) {
			t.Errorf("mode %04o: exit %d, stderr %q; want 2, the flag and chmod 600", mode, code, errOut)
		}
	}
}

// --auth-secret-arn reads the token from Secrets Manager with the real SDK
// client (here the loopback endpoint); a bad ARN, an unreadable secret and
// both sources at once are usage errors naming the flag.
func TestAuthSecretARN(t *testing.T) {
	sm := secretlocal.New(`{"password":"S3CRET-FROM-SM"}`)
	t.Cleanup(sm.Close)
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL_SECRETS_MANAGER": sm.URL(), "AWS_ACCESS_KEY_ID": "AKIDLOCAL", "AWS_SECRET_ACCESS_KEY": "local-secret",
		"AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", "AWS_EC2_METADATA_DISABLED": "true",
		"AWS_MAX_ATTEMPTS": "1",
	} {
		t.Setenv(k, v)
	}
	certs := redistest.NewCerts(t, "localhost")
	srv := redistest.Start(t, redisserver.Options{TLS: &certs.TLSFiles, Password: "S3CRET-FROM-SM"})
	arn := "arn:aws:secretsmanager:eu-west-1:123456789012:secret:redisha-auth-AbCdEf"
	tlsArgs := []string{"--tls", "--tls-ca-file", certs.CAFile, "--tls-server-name", "localhost"}
	args := append([]string{"check", "--addr", srv.Addr, "--auth-secret-arn", arn}, tlsArgs...)
	if code, out, errOut := run(t, nil, args...); code != ExitOK {
		t.Fatalf("--auth-secret-arn: exit %d, %s %s", code, out, errOut)
	}
	if sm.LastID() != arn {
		t.Errorf("asked for secret %q, want %q", sm.LastID(), arn)
	}
	pw := tokenFile(t, "x", 0o600)
	sm.Fail(true)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--auth-secret-arn", "redisha-auth"}, `redisha check: --auth-secret-arn: "redisha-auth" is not a Secrets Manager secret ARN`},
		{[]string{"--auth-secret-arn", arn}, "redisha check: --auth-secret-arn: get secret " + arn},
		{[]string{"--auth-secret-arn", arn, "--password-file", pw}, "redisha check: --password-file and --auth-secret-arn both give the AUTH token"},
	} {
		args := append(append([]string{"check", "--addr", srv.Addr}, tlsArgs...), tc.args...)
		if code, _, errOut := run(t, nil, args...); code != ExitUsage || !strings.HasPrefix(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tc.args, code, errOut, tc.want)
		}
	}
}

// migrate's --from/--to-password-file follow the same rule.
func TestMigratePasswordFileMode(t *testing.T) {
	t.Parallel()
	pw := tokenFile(t, "S3CRET-TOKEN", 0o644)
	code, _, errOut := run(t, nil, "migrate", "copy", "--from", "127.0.0.1:1", "--to", "127.0.0.1:2", "--from-password-file", pw)
	if code != ExitUsage || !strings.HasPrefix(errOut, "redisha migrate copy: --from-password-file: ") || !strings.Contains(errOut, "chmod 600") {
		t.Errorf("exit %d, stderr %q; want 2, the flag and chmod 600", code, errOut)
	}
}
