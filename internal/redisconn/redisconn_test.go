package redisconn

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9/maintnotifications"
)

// Validate names the field at fault in a *FieldError whose message starts
// with the field's label.
func TestValidate(t *testing.T) {
	t.Parallel()
	cases := []struct {
		cfg   Config
		field string
		want  string
	}{
		{Config{}, FieldAddr, "addr is empty"},
		{Config{Addr: "redis.internal"}, FieldAddr, `addr "redis.internal" is not host:port`},
		{Config{Addr: ":6379"}, FieldAddr, `addr ":6379" is not host:port`},
		{Config{Addr: "h:x"}, FieldAddr, "has no valid port"},
		{Config{Addr: "h:1", DB: -1}, FieldDB, "db -1 is negative"},
		{Config{Addr: "h:1", TLSServerName: "x"}, FieldTLSServerName, "tls server name is set but TLS is off"},
		{Config{Addr: "h:1", TLSCAFile: "x"}, FieldTLSCAFile, "tls CA file is set but TLS is off"},
		{Config{Addr: "h:1", DialTimeout: -time.Second}, FieldTimeout, "timeouts must not be negative"},
	}
	for _, tc := range cases {
		err := tc.cfg.Validate()
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field || !strings.HasPrefix(err.Error(), tc.field+" ") ||
			!strings.Contains(err.Error(), tc.want) || errors.Unwrap(err) != fe.Err {
			t.Errorf("%+v: %#v, want a *FieldError on %s saying %q", tc.cfg, err, tc.field, tc.want)
		}
	}
	if err := (Config{Addr: "[::1]:6379"}).Validate(); err != nil {
		t.Errorf("IPv6 loopback: %v", err)
	}
}

func TestRedactedNeverShowsPassword(t *testing.T) {
	t.Parallel()
	s := Config{Addr: "redis.internal:6379", TLS: true, Username: "checker", Password: "s3cret-token", DB: 2}.Redacted()
	if strings.Contains(s, "s3cret") || !strings.Contains(s, "rediss://redis.internal:6379") || !strings.Contains(s, "user=checker") || !strings.Contains(s, "db=2") {
		t.Fatalf("%q", s)
	}
}

// The options a checker depends on: no retries, one dial, deadlines from the
// context, no maintenance notifications, TLS verification on.
func TestOptionsForChecking(t *testing.T) {
	t.Parallel()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := (Config{Addr: "h:1", TLS: true, TLSCAFile: ca}).Options(); err == nil || !strings.Contains(err.Error(), "holds no PEM certificate") {
		t.Fatalf("bad CA file: %v", err)
	}
	o, err := Config{Addr: "redis.internal:6379", TLS: true, TLSServerName: "master.x.cache.amazonaws.com"}.Options()
	if err != nil {
		t.Fatal(err)
	}
	if o.MaxRetries != -1 || o.DialerRetries != 1 || !o.ContextTimeoutEnabled || o.PoolSize != 1 {
		t.Errorf("retries %d, dial retries %d, context timeouts %v, pool %d", o.MaxRetries, o.DialerRetries, o.ContextTimeoutEnabled, o.PoolSize)
	}
	if o.DialTimeout != DefaultTimeout || o.ReadTimeout != DefaultTimeout || o.WriteTimeout != DefaultTimeout {
		t.Errorf("timeouts %s %s %s", o.DialTimeout, o.ReadTimeout, o.WriteTimeout)
	}
	if o.MaintNotificationsConfig == nil || o.MaintNotificationsConfig.Mode != maintnotifications.ModeDisabled {
		t.Errorf("maintenance notifications not disabled: %+v", o.MaintNotificationsConfig)
	}
	if o.TLSConfig == nil || o.TLSConfig.InsecureSkipVerify || o.TLSConfig.ServerName != "master.x.cache.amazonaws.com" {
		t.Errorf("tls %+v", o.TLSConfig)
	}
	if o.Dialer == nil {
		t.Error("no context-aware dialer")
	}
	o, _ = Config{Addr: "redis.internal:6379", TLS: true}.Options()
	if o.TLSConfig.ServerName != "redis.internal" {
		t.Errorf("default server name %q, want the host of addr", o.TLSConfig.ServerName)
	}
}
