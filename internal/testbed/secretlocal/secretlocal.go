// Package secretlocal is a loopback Secrets Manager endpoint for tests: it
// answers GetSecretValue the way the service does (awsJson1_1: POST /, an
// X-Amz-Target header, a JSON body), so the real aws-sdk-go-v2 client is
// what tests exercise. It can fail or stall on demand.
package secretlocal

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// Server is a running endpoint on loopback.
type Server struct {
	srv   *httptest.Server
	calls atomic.Int64
	quit  chan struct{}

	mu     sync.Mutex
	value  string
	fail   bool
	stall  time.Duration
	lastID string
}

// New starts an endpoint whose secret string is value.
func New(value string) *Server {
	s := &Server{value: value, quit: make(chan struct{})}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// URL is the endpoint's base URL (AWS_ENDPOINT_URL_SECRETS_MANAGER).
func (s *Server) URL() string { return s.srv.URL }

// Close stops the endpoint, releasing stalled requests.
func (s *Server) Close() {
	close(s.quit)
	s.srv.CloseClientConnections()
	s.srv.Close()
}

// SetValue replaces the secret string (a rotation).
func (s *Server) SetValue(v string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.value = v
}

// Fail makes every request answer ResourceNotFoundException, or not.
func (s *Server) Fail(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = on
}

// Stall makes every request wait d before it is answered, or until the
// client gives up or the server closes; 0 turns it off.
func (s *Server) Stall(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stall = d
}

// Calls counts the requests received.
func (s *Server) Calls() int64 { return s.calls.Load() }

// LastID is the SecretId of the last request.
func (s *Server) LastID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastID
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.calls.Add(1)
	if r.Method != http.MethodPost || r.Header.Get("X-Amz-Target") != "secretsmanager.GetSecretValue" {
		http.Error(w, "unexpected call "+r.Header.Get("X-Amz-Target"), http.StatusBadRequest)
		return
	}
	var in struct{ SecretId string }
	_ = json.NewDecoder(r.Body).Decode(&in)
	s.mu.Lock()
	s.lastID = in.SecretId
	value, fail, stall := s.value, s.fail, s.stall
	s.mu.Unlock()
	if stall > 0 {
		select {
		case <-time.After(stall):
		case <-r.Context().Done():
			return
		case <-s.quit:
			return
		}
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	if fail {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"__type":"ResourceNotFoundException","Message":"Secrets Manager can't find the specified secret."}`))
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"ARN": in.SecretId, "Name": "redis-auth", "SecretString": value})
}

// NewClient returns a Secrets Manager client for the endpoint at url with
// static test credentials and at most maxAttempts attempts per call.
func NewClient(url string, maxAttempts int) *secretsmanager.Client {
	return secretsmanager.New(secretsmanager.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(url),
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
		RetryMaxAttempts: maxAttempts,
	})
}
