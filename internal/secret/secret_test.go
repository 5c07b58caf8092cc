package secret

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redisha/redisha/internal/testbed/secretlocal"
)

func newEndpoint(t *testing.T, value string) *secretlocal.Server {
	t.Helper()
	e := secretlocal.New(value)
	t.Cleanup(e.Close)
	return e
}

const arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:redis-auth-AbCdEf"

func TestSecretsManagerCachedAndRefreshed(t *testing.T) {
	e := newEndpoint(t, "first-token-0123456789")
	s := FromSecretsManager(secretlocal.NewClient(e.URL(), 1), arn, time.Minute)
	now := time.Now()
	s.now = func() time.Time { return now }
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		tok, err := s.Token(ctx)
		if err != nil || tok != "first-token-0123456789" {
			t.Fatalf("token %q, %v", tok, err)
		}
	}
	if n := e.Calls(); n != 1 {
		t.Fatalf("%d calls for 3 tokens, want 1 (cached across warm invocations)", n)
	}
	if e.LastID() != arn {
		t.Fatalf("asked for %q, want %q", e.LastID(), arn)
	}
	// Rotated: Invalidate (after an auth failure) fetches again.
	e.SetValue(`{"password":" second-token-0123456789\n"}`)
	s.Invalidate()
	if tok, _ := s.Token(ctx); tok != "second-token-0123456789" {
		t.Fatalf("after invalidate: %q", tok)
	}
	// Aged out: fetched again; a failing refresh keeps the cached token.
	e.Fail(true)
	now = now.Add(2 * time.Minute)
	if tok, err := s.Token(ctx); err != nil || tok != "second-token-0123456789" {
		t.Fatalf("refresh failure must serve the cached token: %q, %v", tok, err)
	}
	if n := e.Calls(); n != 3 {
		t.Fatalf("%d calls, want 3", n)
	}
}

func TestSecretsManagerErrors(t *testing.T) {
	e := newEndpoint(t, "")
	e.Fail(true)
	_, err := FromSecretsManager(secretlocal.NewClient(e.URL(), 1), arn, 0).Token(context.Background())
	if err == nil || !strings.Contains(err.Error(), "get secret "+arn) || !strings.Contains(err.Error(), "ResourceNotFound") {
		t.Fatalf("error %v", err)
	}
	e = newEndpoint(t, `{"user":"x"}`)
	_, err = FromSecretsManager(secretlocal.NewClient(e.URL(), 1), arn, 0).Token(context.Background())
	if err == nil || !strings.Contains(err.Error(), `no "password"`) {
		t.Fatalf("error %v", err)
	}
}

func TestParse(t *testing.T) {
	for in, want := range map[string]string{
		"plain-token":                 "plain-token",
		"  spaced-token\r\n":          "spaced-token",
		`{"password":" e\n"}`:         "e",
		`{"authToken":"a"}`:           "a",
		`{"auth_token":"b"}`:          "b",
		`{"token":"c","password":""}`: "c",
		`{"password":"d"}`:            "d",
	} {
		got, err := parse(in)
		if err != nil || got != want {
			t.Errorf("parse(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "  ", `{"nope":1}`, `{bad json`} {
		if _, err := parse(in); err == nil {
			t.Errorf("parse(%q): want error", in)
		}
	}
}

func TestFromFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(p, []byte("file-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if tok, err := FromFile(p).Token(context.Background()); err != nil || tok != "file-token" {
		t.Fatalf("%q %v", tok, err)
	}
	empty := filepath.Join(t.TempDir(), "empty")
	_ = os.WriteFile(empty, nil, 0o600)
	if _, err := FromFile(empty).Token(context.Background()); err == nil || !strings.Contains(err.Error(), "is empty") {
		t.Fatalf("empty file: %v", err)
	}
}

// A stalled endpoint ends the read at the caller's deadline.
func TestSecretsManagerStalledEndsAtDeadline(t *testing.T) {
	e := newEndpoint(t, "token-0123456789")
	e.Stall(time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := FromSecretsManager(secretlocal.NewClient(e.URL(), 3), arn, 0).Token(ctx)
	if err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v, want the deadline", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("took %s after a 300ms deadline", took)
	}
}

func TestKeyRefusesAShortKey(t *testing.T) {
	dir := t.TempDir()
	short, long := dir+"/short", dir+"/long"
	if err := os.WriteFile(short, []byte("too-short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(long, []byte(strings.Repeat("k", 40)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := KeyFromFile(short).Bytes(context.Background()); err == nil || !strings.Contains(err.Error(), "under 32") {
		t.Fatalf("short key: %v", err)
	}
	if k, err := KeyFromFile(long).Bytes(context.Background()); err != nil || len(k) != 40 {
		t.Fatalf("long key: %d bytes, %v", len(k), err)
	}
}
