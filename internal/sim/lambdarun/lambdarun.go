// Package lambdarun runs a Lambda function binary locally the way the
// provided.al2023 runtime does: it serves the Lambda Runtime API
// (/2018-06-01/runtime/invocation/next, …/response, …/error, init/error) on
// loopback, starts the bootstrap process pointed at it, and hands it
// invocations with a deadline. Used by the end-to-end tests and `make run`.
package lambdarun

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/redisha/redisha/internal/sim/childproc"
)

const apiPrefix = "/2018-06-01/runtime/"

// Result is the outcome of one invocation.
type Result struct {
	// RequestID is the invocation's id.
	RequestID string
	// Body is the function's response (nil when it failed).
	Body json.RawMessage
	// Error is the function's error report (nil when it succeeded).
	Error *ErrorBody
	// Duration is from handing the event to the function to its answer.
	Duration time.Duration
}

// ErrorBody is the error document a runtime posts.
type ErrorBody struct {
	Message string `json:"errorMessage"`
	Type    string `json:"errorType"`
}

type invocation struct {
	id       string
	payload  []byte
	deadline time.Time
	done     chan Result
	handed   time.Time
}

// Server is a local Runtime API endpoint.
type Server struct {
	// FunctionARN is sent as Lambda-Runtime-Invoked-Function-Arn.
	FunctionARN string

	ln    net.Listener
	srv   *http.Server
	queue chan *invocation
	quit  chan struct{}

	mu       sync.Mutex
	inflight map[string]*invocation
	initErr  *ErrorBody
	seq      int
}

// NewServer starts a Runtime API server on a free loopback port.
func NewServer() (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Server{
		FunctionARN: "arn:aws:lambda:us-east-1:123456789012:function:redisha-local",
		ln:          ln,
		queue:       make(chan *invocation),
		quit:        make(chan struct{}),
		inflight:    map[string]*invocation{},
	}
	s.srv = &http.Server{Handler: http.HandlerFunc(s.serve), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// Addr is host:port, the value of AWS_LAMBDA_RUNTIME_API.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops the server, releasing a runtime blocked on /next.
func (s *Server) Close() error {
	select {
	case <-s.quit:
	default:
		close(s.quit)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return s.srv.Shutdown(ctx)
}

// InitError is the error the runtime reported at init, if any.
func (s *Server) InitError() *ErrorBody {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.initErr
}

// ErrTimeout means the function did not answer before its deadline.
var ErrTimeout = errors.New("function timed out")

// Invoke hands payload to the function and waits for its answer, at most
// timeout (the function's configured timeout; its deadline header says the
// same) or until ctx ends.
func (s *Server) Invoke(ctx context.Context, payload []byte, timeout time.Duration) (Result, error) {
	s.mu.Lock()
	s.seq++
	id := fmt.Sprintf("00000000-0000-4000-8000-%012d", s.seq)
	s.mu.Unlock()
	inv := &invocation{id: id, payload: payload, deadline: time.Now().Add(timeout), done: make(chan Result, 1)}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case s.queue <- inv: // a runtime took it from /next
	case <-timer.C:
		return Result{RequestID: id}, fmt.Errorf("no runtime asked for an invocation within %s", timeout)
	case <-ctx.Done():
		return Result{RequestID: id}, ctx.Err()
	}
	select {
	case r := <-inv.done:
		return r, nil
	case <-timer.C:
		return Result{RequestID: id}, ErrTimeout
	case <-ctx.Done():
		return Result{RequestID: id}, ctx.Err()
	}
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimPrefix(r.URL.Path, apiPrefix)
	switch {
	case r.Method == http.MethodGet && path == "invocation/next":
		s.next(w, r)
	case r.Method == http.MethodPost && path == "init/error":
		var eb ErrorBody
		_ = json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&eb)
		s.mu.Lock()
		s.initErr = &eb
		s.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	case r.Method == http.MethodPost && strings.HasPrefix(path, "invocation/"):
		s.answer(w, r, strings.TrimPrefix(path, "invocation/"))
	default:
		http.Error(w, "unknown runtime API call "+r.Method+" "+r.URL.Path, http.StatusNotFound)
	}
}

func (s *Server) next(w http.ResponseWriter, r *http.Request) {
	var inv *invocation
	select {
	case inv = <-s.queue:
	case <-s.quit:
		http.Error(w, "shutting down", http.StatusGone)
		return
	case <-r.Context().Done():
		return
	}
	inv.handed = time.Now()
	s.mu.Lock()
	s.inflight[inv.id] = inv
	s.mu.Unlock()
	h := w.Header()
	h.Set("Lambda-Runtime-Aws-Request-Id", inv.id)
	h.Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(inv.deadline.UnixMilli(), 10))
	h.Set("Lambda-Runtime-Invoked-Function-Arn", s.FunctionARN)
	h.Set("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000;Sampled=0")
	h.Set("Content-Type", "application/json")
	_, _ = w.Write(inv.payload)
}

func (s *Server) answer(w http.ResponseWriter, r *http.Request, rest string) {
	id, kind, ok := strings.Cut(rest, "/")
	if !ok || (kind != "response" && kind != "error") {
		http.Error(w, "unknown runtime API call "+r.URL.Path, http.StatusNotFound)
		return
	}
	s.mu.Lock()
	inv := s.inflight[id]
	delete(s.inflight, id)
	s.mu.Unlock()
	if inv == nil {
		http.Error(w, "unknown request id "+id, http.StatusBadRequest)
		return
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 6<<20))
	res := Result{RequestID: id, Duration: time.Since(inv.handed)}
	if kind == "response" {
		res.Body = body
	} else {
		var eb ErrorBody
		if err := json.Unmarshal(body, &eb); err != nil {
			eb.Message = string(body)
		}
		res.Error = &eb
	}
	inv.done <- res
	w.WriteHeader(http.StatusAccepted)
}

// Process is a running function binary.
type Process struct {
	cmd    *exec.Cmd
	exited chan struct{}
	err    error
}

// StartProcess starts the bootstrap binary with the Lambda environment
// (AWS_LAMBDA_RUNTIME_API and the usual function variables) plus env, with
// its stdout and stderr going to out.
func (s *Server) StartProcess(binary string, env []string, out io.Writer) (*Process, error) {
	cmd := exec.Command(binary)
	cmd.Env = append([]string{
		"AWS_LAMBDA_RUNTIME_API=" + s.Addr(),
		"AWS_LAMBDA_FUNCTION_NAME=redisha-local",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128",
		"AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
		"AWS_LAMBDA_LOG_FORMAT=JSON",
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + os.Getenv("HOME"),
	}, env...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = childproc.DieWithParent()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", binary, err)
	}
	p := &Process{cmd: cmd, exited: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.exited) }()
	return p, nil
}

// PID is the process id.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Exited is closed when the process has ended.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// Stop ends the process (SIGTERM, then SIGKILL after 2 s) and waits for it.
func (p *Process) Stop() {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(2 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}
