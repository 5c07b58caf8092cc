package lambdaurl

import (
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// The guide's request example, sent over HTTP, becomes its event.
func TestEventFollowsTheGuidesExample(t *testing.T) {
	s := &Server{o: Options{Region: "us-west-2", AccountID: "123456789012", URLID: "abcdefg"}}
	r := httptest.NewRequest(http.MethodPost, "/my/path?parameter1=value1&parameter1=value2&parameter2=value", strings.NewReader("Hello from client!"))
	r.Header.Set("Header1", "value1")
	r.Header.Add("Header2", "value1")
	r.Header.Add("Header2", "value2")
	r.Header.Set("Cookie", "cookie1; cookie2")
	r.Header.Set("User-Agent", "agent")
	r.RemoteAddr = "127.0.0.1:40000"
	now := time.Date(2020, 3, 12, 19, 3, 58, 390e6, time.UTC)
	ev := s.event(r, []byte("Hello from client!"), now)

	if ev.Version != "2.0" || ev.RawPath != "/my/path" || ev.RawQueryString != "parameter1=value1&parameter1=value2&parameter2=value" {
		t.Errorf("version %q, rawPath %q, rawQueryString %q", ev.Version, ev.RawPath, ev.RawQueryString)
	}
	if ev.Headers["header1"] != "value1" || ev.Headers["header2"] != "value1,value2" || ev.Headers["host"] != "example.com" {
		t.Errorf("headers %v", ev.Headers)
	}
	if _, ok := ev.Headers["cookie"]; ok || !slices.Equal(ev.Cookies, []string{"cookie1", "cookie2"}) {
		t.Errorf("cookies %v, headers %v", ev.Cookies, ev.Headers)
	}
	if !reflect.DeepEqual(ev.QueryStringParameters, map[string]string{"parameter1": "value1,value2", "parameter2": "value"}) {
		t.Errorf("queryStringParameters %v", ev.QueryStringParameters)
	}
	rc := ev.RequestContext
	if rc.AccountID != "123456789012" || rc.APIID != "abcdefg" || rc.DomainPrefix != "abcdefg" ||
		rc.DomainName != "abcdefg.lambda-url.us-west-2.on.aws" || rc.Time != "12/Mar/2020:19:03:58 +0000" ||
		rc.TimeEpoch != 1584039838390 || len(rc.RequestID) != 36 {
		t.Errorf("requestContext %+v", rc)
	}
	if h := rc.HTTP; h.Method != "POST" || h.Path != "/my/path" || h.Protocol != "HTTP/1.1" || h.SourceIP != "127.0.0.1" || h.UserAgent != "agent" {
		t.Errorf("requestContext.http %+v", h)
	}
	if ev.Body != "Hello from client!" || ev.IsBase64Encoded {
		t.Errorf("body %q, base64 %v", ev.Body, ev.IsBase64Encoded)
	}
}

// A binary body goes base64-encoded; text stays as it is.
func TestEventBody(t *testing.T) {
	s := &Server{o: Options{Region: "us-east-1", URLID: "x"}}
	png := []byte{0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a}
	for _, tc := range []struct {
		contentType string
		body        []byte
		base64      bool
	}{
		{"text/plain; charset=utf-8", []byte("hello"), false},
		{"application/json", []byte(`{"a":1}`), false},
		{"application/vnd.api+json", []byte(`{"a":1}`), false},
		{"application/x-www-form-urlencoded", []byte("a=1&b=2"), false},
		{"", []byte("hello"), false},
		{"image/png", png, true},
		{"application/octet-stream", []byte("hello"), true},
		{"text/plain", png, true}, // not UTF-8, whatever it says
	} {
		r := httptest.NewRequest(http.MethodPost, "/", nil)
		if tc.contentType != "" {
			r.Header.Set("Content-Type", tc.contentType)
		}
		ev := s.event(r, tc.body, time.Now())
		want := string(tc.body)
		if tc.base64 {
			want = base64.StdEncoding.EncodeToString(tc.body)
		}
		if ev.IsBase64Encoded != tc.base64 || ev.Body != want {
			t.Errorf("%q: body %q base64 %v, want %q base64 %v", tc.contentType, ev.Body, ev.IsBase64Encoded, want, tc.base64)
		}
	}
}

// The guide's three response examples, and what cannot be answered.
func TestResponse(t *testing.T) {
	for _, tc := range []struct {
		name, out string
		status    int
		body      string
		header    string // content-type, as given or inferred
		fails     bool
	}{
		{"string", `"Hello, world!"`, 200, `"Hello, world!"`, "application/json", false},
		{"JSON", `{"message": "Hello, world!"}`, 200, `{"message": "Hello, world!"}`, "application/json", false},
		{"custom", `{"statusCode": 201, "headers": {"Content-Type": "application/json", "My-Custom-Header": "Custom Value"},
			"body": "{ \"message\": \"Hello, world!\" }", "isBase64Encoded": false}`, 201, `{ "message": "Hello, world!" }`, "application/json", false},
		{"not JSON", `Hello`, 0, "", "", true},
		{"status out of range", `{"statusCode": 0}`, 0, "", "", true},
	} {
		resp, err := response([]byte(tc.out))
		if tc.fails {
			if err == nil {
				t.Errorf("%s: answered %+v, want an error (502)", tc.name, resp)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		ct := resp.Headers["content-type"] + resp.Headers["Content-Type"]
		if resp.StatusCode != tc.status || resp.Body != tc.body || ct != tc.header {
			t.Errorf("%s: %+v", tc.name, resp)
		}
	}
	resp, _ := response([]byte(`{"statusCode": 200, "body": "aGk=", "isBase64Encoded": true}`))
	if b, err := responseBody(resp); err != nil || string(b) != "hi" {
		t.Errorf("base64 body: %q %v", b, err)
	}
}

// The URL has auth type NONE: it never listens beyond this machine.
func TestStartRefusesNonLoopback(t *testing.T) {
	for _, addr := range []string{":0", "0.0.0.0:0", "[::]:0", "10.0.0.1:0", "example.com:80", "no-port"} {
		if s, err := Start(nil, Options{Addr: addr}); err == nil {
			_ = s.Close()
			t.Errorf("%s: listening", addr)
		}
	}
	for _, addr := range []string{"127.0.0.1:0", "localhost:0"} {
		s, err := Start(nil, Options{Addr: addr})
		if err != nil {
			t.Errorf("%s: %v", addr, err)
			continue
		}
		if err := s.Close(); err != nil {
			t.Errorf("%s: close: %v", addr, err)
		}
	}
}
