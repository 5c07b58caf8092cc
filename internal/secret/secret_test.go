package secret

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// secretsEndpoint answers GetSecretValue the way Secrets Manager does
// (awsJson1_1: POST /, X-Amz-Target header, JSON body).
type secretsEndpoint struct {
	mu     sync.Mutex
	value  string
	fail   bool
	calls  atomic.Int64
	lastID string
}

func (e *secretsEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e.calls.Add(1)
	if r.Method != http.MethodPost || r.Header.Get("X-Amz-Target") != "secretsmanager.GetSecretValue" {
		http.Error(w, "unexpected call "+r.Header.Get("X-Amz-Target"), http.StatusBadRequest)
		return
	}
	var in struct{ SecretId string }
	_ = json.NewDecoder(r.Body).Decode(&in)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.lastID = in.SecretId
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	if e.fail {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"__type":"ResourceNotFoundException","Message":"Secrets Manager can't find the specified secret."}`))
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"ARN": in.SecretId, "Name": "redis-auth", "SecretString": e.value})
}

func newClient(t *testing.T, e *secretsEndpoint) *secretsmanager.Client {
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return secretsmanager.New(secretsmanager.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(srv.URL),
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
		RetryMaxAttempts: 1,
	})
}

const arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:redis-auth-AbCdEf"

func TestSecretsManagerCachedAndRefreshed(t *testing.T) {
	e := &secretsEndpoint{value: "first-token-0123456789"}
	s := FromSecretsManager(newClient(t, e), arn, time.Minute)
	now := time.Now()
	s.now = func() time.Time { return now }
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		tok, err := s.Token(ctx)
		if err != nil || tok != "first-token-0123456789" {
			t.Fatalf("token %q, %v", tok, err)
		}
	}
	if n := e.calls.Load(); n != 1 {
		t.Fatalf("%d calls for 3 tokens, want 1 (cached across warm invocations)", n)
	}
	if e.lastID != arn {
		t.Fatalf("asked for %q, want %q", e.lastID, arn)
	}
	// Rotated: Invalidate (after an auth failure) fetches again.
	e.mu.Lock()
	e.value = `{"password":"second-token-0123456789"}`
	e.mu.Unlock()
	s.Invalidate()
	if tok, _ := s.Token(ctx); tok != "second-token-0123456789" {
		t.Fatalf("after invalidate: %q", tok)
	}
	// Aged out: fetched again; a failing refresh keeps the cached token.
	e.mu.Lock()
	e.fail = true
	e.mu.Unlock()
	now = now.Add(2 * time.Minute)
	if tok, err := s.Token(ctx); err != nil || tok != "second-token-0123456789" {
		t.Fatalf("refresh failure must serve the cached token: %q, %v", tok, err)
	}
	if n := e.calls.Load(); n != 3 {
		t.Fatalf("%d calls, want 3", n)
	}
}

func TestSecretsManagerErrors(t *testing.T) {
	e := &secretsEndpoint{fail: true}
	_, err := FromSecretsManager(newClient(t, e), arn, 0).Token(context.Background())
	if err == nil || !strings.Contains(err.Error(), "get secret "+arn) || !strings.Contains(err.Error(), "ResourceNotFound") {
		t.Fatalf("error %v", err)
	}
	e = &secretsEndpoint{value: `{"user":"x"}`}
	_, err = FromSecretsManager(newClient(t, e), arn, 0).Token(context.Background())
	if err == nil || !strings.Contains(err.Error(), `no "password"`) {
		t.Fatalf("error %v", err)
	}
}

func TestParse(t *testing.T) {
	for in, want := range map[string]string{
		"plain-token":                 "plain-token",
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
