package client

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestFromEnv(t *testing.T) {
	t.Parallel()
	pw := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(pw, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"REDIS_HOST": "redis.internal", "REDIS_SSL": "true",
		"REDIS_TLS_NAMES": "a.cache.test, b.cache.test", "REDIS_USERNAME": "app", "REDIS_PASSWORD_FILE": pw}
	c, err := FromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	want := Config{Addr: "redis.internal:6379", TLS: true, TLSNames: []string{"a.cache.test", "b.cache.test"}, Username: "app", Password: "s3cret"}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got %+v, want %+v", c, want)
	}
	// Unset, REDIS_SSL means TLS; off, a token needs the explicit opt-in.
	for _, tc := range []struct {
		env  map[string]string
		want Config
	}{
		{map[string]string{"REDIS_HOST": "h"}, Config{Addr: "h:6379", TLS: true}},
		{map[string]string{"REDIS_HOST": "h", "REDIS_SSL": "false", "REDIS_PASSWORD_FILE": pw, "REDIS_ALLOW_PLAINTEXT_AUTH": "true"},
			Config{Addr: "h:6379", PlainText: true, AllowPlainTextAuth: true, Password: "s3cret"}},
		{map[string]string{"REDIS_HOST": "h", "REDIS_TLS_ANY_NAME": "1"}, Config{Addr: "h:6379", TLS: true, TLSAnyName: true}},
	} {
		if c, err := FromEnv(func(k string) string { return tc.env[k] }); err != nil || !reflect.DeepEqual(c, tc.want) {
			t.Errorf("%v: %+v, %v; want %+v", tc.env, c, err, tc.want)
		}
	}
	bad := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{}, "REDIS_HOST is empty"},
		{map[string]string{"REDIS_HOST": "h", "REDIS_SSL": "yes please"}, `REDIS_SSL "yes please" is not a boolean`},
		{map[string]string{"REDIS_HOST": "h", "REDIS_PORT": "x"}, "has no valid port"},
		{map[string]string{"REDIS_HOST": "h", "REDIS_SSL": "false", "REDIS_TLS_NAMES": "a"}, "PlainText turns TLS off"},
		{map[string]string{"REDIS_HOST": "h", "REDIS_SSL": "false", "REDIS_PASSWORD_FILE": pw}, "would send the AUTH token in clear"},
		{map[string]string{"REDIS_HOST": "h", "REDIS_TLS_ANY_NAME": "true", "REDIS_TLS_NAMES": "a"}, "TLSAnyName and TLSNames are both set"},
		{map[string]string{"REDIS_HOST": "h", "REDIS_ALLOW_PLAINTEXT_AUTH": "maybe"}, `REDIS_ALLOW_PLAINTEXT_AUTH "maybe" is not a boolean`},
		{map[string]string{"REDIS_HOST": "h", "REDIS_PASSWORD_FILE": "/nonexistent"}, "REDIS_PASSWORD_FILE"},
	}
	for _, tc := range bad {
		if _, err := FromEnv(func(k string) string { return tc.env[k] }); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.env, err, tc.want)
		}
	}
}
