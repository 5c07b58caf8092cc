// Package secret supplies the Redis AUTH token: from Secrets Manager by ARN
// (cached across warm Lambda invocations) or from a local file.
package secret

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// GetSecretValueAPI is the one Secrets Manager call the checker makes.
type GetSecretValueAPI interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput,
		optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

var _ GetSecretValueAPI = (*secretsmanager.Client)(nil)

// DefaultMaxAge is how long a fetched token is reused before it is read
// again, so a rotated token is picked up without a cold start.
const DefaultMaxAge = 15 * time.Minute

// Source hands out the token, fetching it at most once per MaxAge.
type Source struct {
	fetch  func(ctx context.Context) (string, error)
	maxAge time.Duration
	now    func() time.Time

	mu      sync.Mutex
	token   string
	fetched time.Time
}

// FromSecretsManager reads the token from the secret arn. The secret string
// is the token itself or a JSON object with a "password", "authToken",
// "auth_token" or "token" member; surrounding white space is dropped (a
// token never has any, and a pasted one often does).
func FromSecretsManager(api GetSecretValueAPI, arn string, maxAge time.Duration) *Source {
	return newSource(func(ctx context.Context) (string, error) {
		out, err := api.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: &arn})
		if err != nil {
			return "", fmt.Errorf("get secret %s: %w", arn, err)
		}
		if out.SecretString == nil {
			return "", fmt.Errorf("secret %s has no string value: store the AUTH token as a string", arn)
		}
		tok, err := parse(*out.SecretString)
		if err != nil {
			return "", fmt.Errorf("secret %s: %w", arn, err)
		}
		return tok, nil
	}, maxAge)
}

// FromFile reads the token from a file (surrounding white space dropped).
func FromFile(path string) *Source {
	return newSource(func(context.Context) (string, error) {
		b, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("read password file: %w", err)
		}
		tok := strings.TrimSpace(string(b))
		if tok == "" {
			return "", fmt.Errorf("password file %s is empty: put the AUTH token in it", path)
		}
		return tok, nil
	}, DefaultMaxAge)
}

func newSource(fetch func(context.Context) (string, error), maxAge time.Duration) *Source {
	if maxAge <= 0 {
		maxAge = DefaultMaxAge
	}
	return &Source{fetch: fetch, maxAge: maxAge, now: time.Now}
}

// Token returns the cached token, fetching it when missing or older than
// MaxAge. A failed refresh of a cached token keeps serving the old one: a
// Secrets Manager hiccup must not look like a Redis outage.
func (s *Source) Token(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.token != "" && s.now().Sub(s.fetched) < s.maxAge {
		return s.token, nil
	}
	tok, err := s.fetch(ctx)
	if err != nil {
		if s.token != "" {
			return s.token, nil
		}
		return "", err
	}
	s.token, s.fetched = tok, s.now()
	return tok, nil
}

// Invalidate drops the cached token so the next Token call fetches it again
// (after Redis refused it: the token may have been rotated).
func (s *Source) Invalidate() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fetched = time.Time{}
}

func parse(s string) (string, error) {
	t := strings.TrimSpace(s)
	if strings.HasPrefix(t, "{") {
		var m map[string]any
		if err := json.Unmarshal([]byte(t), &m); err != nil {
			return "", errors.New("secret looks like JSON but does not parse")
		}
		for _, k := range []string{"password", "authToken", "auth_token", "token"} {
			if v, ok := m[k].(string); ok && strings.TrimSpace(v) != "" {
				return strings.TrimSpace(v), nil
			}
		}
		return "", errors.New(`secret JSON has no "password", "authToken", "auth_token" or "token" string member`)
	}
	if t == "" {
		return "", errors.New("secret string is empty")
	}
	return t, nil
}

// MinKeyLen is the shortest heartbeat key accepted: 32 bytes, the size of
// HMAC-SHA256's output (RFC 2104 §3 advises no less than it).
const MinKeyLen = 32

// Key is the heartbeat key: the HMAC key only the checkers and the
// promoters hold (HEARTBEAT_KEY_SECRET_ARN, or HEARTBEAT_KEY_FILE for local
// runs), read and cached like the AUTH token.
type Key struct{ src *Source }

// KeyFromSecretsManager reads the heartbeat key from the secret arn (its
// string, or a JSON object's "password", "token"… member, as for the
// token; a generated secret's password is that).
func KeyFromSecretsManager(api GetSecretValueAPI, arn string, maxAge time.Duration) Key {
	return Key{FromSecretsManager(api, arn, maxAge)}
}

// KeyFromFile reads the heartbeat key from a file.
func KeyFromFile(path string) Key { return Key{FromFile(path)} }

// Bytes returns the key, refusing one shorter than MinKeyLen. Never log it.
func (k Key) Bytes(ctx context.Context) ([]byte, error) {
	s, err := k.src.Token(ctx)
	if err != nil {
		return nil, fmt.Errorf("heartbeat key: %w", err)
	}
	if len(s) < MinKeyLen {
		return nil, fmt.Errorf("heartbeat key is %d bytes, under %d: store a longer random key (e.g. a generated secret of 64 characters)", len(s), MinKeyLen)
	}
	return []byte(s), nil
}
