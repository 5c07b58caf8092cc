package lambdaurl

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"

	"github.com/redisha/redisha/internal/sim/lambdarun"
)

// Function is what a function URL invokes; *lambdarun.Server, the Runtime
// API the function's processes poll, is the one this stand-in is for.
type Function interface {
	Invoke(ctx context.Context, payload []byte, timeout time.Duration) (lambdarun.Result, error)
}

var _ Function = (*lambdarun.Server)(nil)

// Defaults.
const (
	// DefaultTimeout is Lambda's default function timeout.
	DefaultTimeout = 3 * time.Second
	// MaxBody is the synchronous invocation payload quota.
	MaxBody = 6 << 20
)

// Options shape a function URL.
type Options struct {
	// Addr is where to listen: a loopback address. default: 127.0.0.1:0
	Addr string
	// Timeout is the function's timeout: each invocation's deadline.
	// default: DefaultTimeout
	Timeout time.Duration
	// Concurrency is how many invocations may run at once: the number of
	// bootstrap processes the caller started under the Runtime API.
	// default: 1
	Concurrency int
	// Region names the URL's domain. default: us-east-1
	Region string
	// AccountID is the function owner's account. default: 123456789012
	AccountID string
	// URLID is the URL's id, the first label of its domain.
	// default: "redishalocal" and the port
	URLID string
	// Log says why a request was answered 502. default: slog.Default()
	Log *slog.Logger
}

// Server is a function URL on loopback.
type Server struct {
	fn    Function
	o     Options
	ln    net.Listener
	srv   *http.Server
	slots chan struct{}
}

// Start listens on o.Addr (loopback only) and serves fn there.
func Start(fn Function, o Options) (*Server, error) {
	if o.Addr == "" {
		o.Addr = "127.0.0.1:0"
	}
	if err := loopback(o.Addr); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return nil, fmt.Errorf("function URL: %w", err)
	}
	// A name such as localhost is checked again once it resolved.
	if tcp, ok := ln.Addr().(*net.TCPAddr); !ok || !tcp.IP.IsLoopback() {
		_ = ln.Close()
		return nil, fmt.Errorf("function URL: %s listens on %s, which is not loopback", o.Addr, ln.Addr())
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 1
	}
	if o.Region == "" {
		o.Region = "us-east-1"
	}
	if o.AccountID == "" {
		o.AccountID = "123456789012"
	}
	if o.URLID == "" {
		o.URLID = "redishalocal" + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	s := &Server{fn: fn, o: o, ln: ln, slots: make(chan struct{}, o.Concurrency)}
	s.srv = &http.Server{Handler: http.HandlerFunc(s.serve), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// loopback refuses a listen address that is not on loopback: the stand-in
// serves a function URL with auth type NONE, for this machine only.
func loopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("function URL: listen address %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("function URL: listen address %q is not loopback: use 127.0.0.1:port or [::1]:port", addr)
	}
	return nil
}

// Addr is host:port of the listener.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// URL is the function URL, http://host:port (no trailing slash).
func (s *Server) URL() string { return "http://" + s.Addr() }

// Domain is the domain name the events carry, as AWS names a function
// URL's: <url-id>.lambda-url.<region>.on.aws.
func (s *Server) Domain() string { return s.o.URLID + ".lambda-url." + s.o.Region + ".on.aws" }

// Close stops the server, waiting up to 2 s for requests in flight. The
// function's processes are the caller's to stop.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		return s.srv.Close()
	}
	return nil
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
	if err != nil {
		http.Error(w, "Bad Request", http.StatusBadRequest)
		return
	}
	if len(body) > MaxBody {
		http.Error(w, "Request Entity Too Large", http.StatusRequestEntityTooLarge)
		return
	}
	ev := s.event(r, body, time.Now())
	payload, err := json.Marshal(ev)
	if err != nil {
		s.badGateway(w, ev, fmt.Errorf("encode the event: %w", err))
		return
	}
	select {
	case s.slots <- struct{}{}:
	case <-r.Context().Done():
		return // the client left while waiting
	}
	res, err := s.fn.Invoke(r.Context(), payload, s.o.Timeout)
	<-s.slots
	if r.Context().Err() != nil {
		return // the client left: nobody reads an answer, nothing to report
	}
	switch {
	case errors.Is(err, lambdarun.ErrTimeout):
		s.badGateway(w, ev, fmt.Errorf("the function timed out after %s", s.o.Timeout))
		return
	case err != nil:
		s.badGateway(w, ev, err)
		return
	case res.Error != nil:
		s.badGateway(w, ev, fmt.Errorf("function error %s: %s", res.Error.Type, res.Error.Message))
		return
	}
	resp, err := response(res.Body)
	if err != nil {
		s.badGateway(w, ev, err)
		return
	}
	out, err := responseBody(resp)
	if err != nil {
		s.badGateway(w, ev, err)
		return
	}
	for k, v := range resp.Headers {
		w.Header().Set(k, v)
	}
	for _, c := range resp.Cookies {
		w.Header().Add("Set-Cookie", c)
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(out) // nothing is written for HEAD
}

// badGateway answers a failed invocation as (we guess) Lambda does.
func (s *Server) badGateway(w http.ResponseWriter, ev events.LambdaFunctionURLRequest, err error) {
	s.o.Log.Warn("function URL: 502", "request_id", ev.RequestContext.RequestID, "method", ev.RequestContext.HTTP.Method,
		"path", ev.RawPath, "error", err.Error())
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusBadGateway)
	_, _ = io.WriteString(w, "Internal Server Error")
}

// event is the payload format 2.0 event of the request r with body, as
// received at now.
func (s *Server) event(r *http.Request, body []byte, now time.Time) events.LambdaFunctionURLRequest {
	ev := events.LambdaFunctionURLRequest{
		Version:        "2.0",
		RawPath:        r.URL.EscapedPath(),
		RawQueryString: r.URL.RawQuery,
		Headers:        map[string]string{},
		RequestContext: events.LambdaFunctionURLRequestContext{
			AccountID:    s.o.AccountID,
			RequestID:    requestID(),
			APIID:        s.o.URLID,
			DomainName:   s.Domain(),
			DomainPrefix: s.o.URLID,
			Time:         now.UTC().Format("02/Jan/2006:15:04:05 -0700"),
			TimeEpoch:    now.UnixMilli(),
			HTTP: events.LambdaFunctionURLRequestContextHTTPDescription{
				Method:    r.Method,
				Path:      r.URL.EscapedPath(),
				Protocol:  r.Proto,
				SourceIP:  sourceIP(r.RemoteAddr),
				UserAgent: r.UserAgent(),
			},
		},
	}
	for name, values := range r.Header {
		name = strings.ToLower(name)
		if name == "cookie" {
			for _, v := range values {
				for c := range strings.SplitSeq(v, ";") {
					if c = strings.TrimSpace(c); c != "" {
						ev.Cookies = append(ev.Cookies, c)
					}
				}
			}
			continue
		}
		ev.Headers[name] = strings.Join(values, ",")
	}
	if r.Host != "" {
		ev.Headers["host"] = r.Host
	}
	if q := r.URL.Query(); len(q) > 0 {
		ev.QueryStringParameters = map[string]string{}
		for k, vs := range q {
			ev.QueryStringParameters[k] = strings.Join(vs, ",")
		}
	}
	if len(body) > 0 {
		if binary(r.Header.Get("Content-Type"), body) {
			ev.Body, ev.IsBase64Encoded = base64.StdEncoding.EncodeToString(body), true
		} else {
			ev.Body = string(body)
		}
	}
	return ev
}

// binary says whether a body goes base64-encoded (GUESS: which types).
func binary(contentType string, body []byte) bool {
	if !utf8.Valid(body) {
		return true
	}
	if contentType == "" {
		return false
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return true
	}
	switch {
	case strings.HasPrefix(mt, "text/"), mt == "application/json", mt == "application/xml", mt == "application/javascript",
		mt == "application/x-www-form-urlencoded", strings.HasSuffix(mt, "+json"), strings.HasSuffix(mt, "+xml"):
		return false
	}
	return true
}

// response reads a function's output as a function URL does: a response
// object with a statusCode, or any other valid JSON answered 200 as
// application/json.
func response(out []byte) (events.LambdaFunctionURLResponse, error) {
	if !json.Valid(out) {
		return events.LambdaFunctionURLResponse{}, errors.New("the function's response is not valid JSON")
	}
	var probe map[string]json.RawMessage
	if json.Unmarshal(out, &probe) == nil {
		if _, ok := probe["statusCode"]; ok {
			var resp events.LambdaFunctionURLResponse
			if err := json.Unmarshal(out, &resp); err != nil {
				return resp, fmt.Errorf("the function's response: %w", err)
			}
			if resp.StatusCode < 100 || resp.StatusCode > 599 {
				return resp, fmt.Errorf("the function's response has statusCode %d", resp.StatusCode)
			}
			return resp, nil
		}
	}
	return events.LambdaFunctionURLResponse{StatusCode: http.StatusOK,
		Headers: map[string]string{"content-type": "application/json"}, Body: string(out)}, nil
}

// responseBody is the HTTP body of resp.
func responseBody(resp events.LambdaFunctionURLResponse) ([]byte, error) {
	if !resp.IsBase64Encoded {
		return []byte(resp.Body), nil
	}
	b, err := base64.StdEncoding.DecodeString(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("the function's base64 body: %w", err)
	}
	return b, nil
}

// sourceIP is the host of a remote address.
func sourceIP(remote string) string {
	if host, _, err := net.SplitHostPort(remote); err == nil {
		return host
	}
	return remote
}

// requestID is a random version 4 UUID, as Lambda's request ids are.
func requestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
