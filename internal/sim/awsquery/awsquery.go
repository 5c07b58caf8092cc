// Package awsquery is the server side of the AWS Query protocol that the real
// aws-sdk-go-v2 clients of ElastiCache and SNS speak: a SigV4-signed POST of
// a form (Action=…&Version=…&params), answered with an XML document
// <ActionResponse><ActionResult>…</ActionResult><ResponseMetadata/></…> or an
// <ErrorResponse>. The local endpoints (eclocal, snslocal) share it.
package awsquery

import (
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
)

// maxBody bounds a request body; Query requests are small.
const maxBody = 1 << 20

// Request is one decoded Query request.
type Request struct {
	// Action and Version as sent, e.g. FailoverGlobalReplicationGroup and
	// 2015-02-02.
	Action  string
	Version string
	// Region and Service come from the SigV4 credential scope: the region
	// whose endpoint the client meant to call.
	Region  string
	Service string
	// Params are the other form fields.
	Params url.Values
}

// Get returns one parameter ("" when absent).
func (r Request) Get(name string) string { return r.Params.Get(name) }

// Parse decodes r as the SDK's Query protocol sends it, checking what the
// SDK always does: POST, a form content type, a SigV4 signature, the
// service's API version.
func Parse(r *http.Request, version string) (Request, error) {
	var q Request
	if r.Method != http.MethodPost {
		return q, fmt.Errorf("method %s, want POST", r.Method)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		return q, fmt.Errorf("content type %q, want application/x-www-form-urlencoded", ct)
	}
	auth := r.Header.Get("Authorization")
	if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 ") {
		return q, errors.New("request is not SigV4-signed: give the client credentials")
	}
	// Credential=AKID/20261124/us-west-2/elasticache/aws4_request, …
	if i := strings.Index(auth, "Credential="); i >= 0 {
		scope := strings.Split(strings.SplitN(auth[i+len("Credential="):], ",", 2)[0], "/")
		if len(scope) == 5 {
			q.Region, q.Service = scope[2], scope[3]
		}
	}
	if q.Region == "" {
		return q, errors.New("SigV4 credential scope has no region")
	}
	r.Body = http.MaxBytesReader(nil, r.Body, maxBody)
	if err := r.ParseForm(); err != nil {
		return q, fmt.Errorf("form body: %w", err)
	}
	q.Params = r.PostForm
	q.Action, q.Version = q.Params.Get("Action"), q.Params.Get("Version")
	q.Params.Del("Action")
	q.Params.Del("Version")
	switch {
	case q.Action == "":
		return q, errors.New("no Action in the form")
	case q.Version != version:
		return q, fmt.Errorf("version %q, want %q", q.Version, version)
	}
	return q, nil
}

var requestIDs atomic.Uint64

func requestID() string {
	return "local-" + strconv.FormatUint(requestIDs.Add(1), 10)
}

// WriteResult answers action with result encoded as the children of
// <ActionResult>; result is a struct with xml tags (nil: an empty result).
func WriteResult(w http.ResponseWriter, xmlns, action string, result any) {
	var b strings.Builder
	b.WriteString(xml.Header)
	fmt.Fprintf(&b, "<%sResponse xmlns=%q>", action, xmlns)
	if result != nil {
		enc := xml.NewEncoder(&b)
		if err := enc.EncodeElement(result, xml.StartElement{Name: xml.Name{Local: action + "Result"}}); err != nil {
			WriteError(w, xmlns, Failure{Status: http.StatusInternalServerError, Code: "InternalFailure"}, "encode result: "+err.Error())
			return
		}
	}
	fmt.Fprintf(&b, "<ResponseMetadata><RequestId>%s</RequestId></ResponseMetadata></%sResponse>", requestID(), action)
	w.Header().Set("Content-Type", "text/xml")
	_, _ = w.Write([]byte(b.String()))
}

// Failure is an error answer.
type Failure struct {
	// Status is the HTTP status: 400 for a client error or throttling,
	// 404 for a missing resource, 5xx for a service error.
	Status int
	// Code is the error code the SDK maps to its typed errors, e.g.
	// InvalidGlobalReplicationGroupState or Throttling.
	Code string
}

// Throttled is the rate-limit answer every Query service gives; the SDK's
// standard retryer retries it (retry.DefaultThrottleErrorCodes).
var Throttled = Failure{Status: http.StatusBadRequest, Code: "Throttling"}

// WriteError answers with the Query protocol's <ErrorResponse>.
func WriteError(w http.ResponseWriter, xmlns string, f Failure, message string) {
	typ := "Sender"
	if f.Status >= 500 {
		typ = "Receiver"
	}
	var msg strings.Builder
	_ = xml.EscapeText(&msg, []byte(message))
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(f.Status)
	fmt.Fprintf(w, "%s<ErrorResponse xmlns=%q><Error><Type>%s</Type><Code>%s</Code><Message>%s</Message></Error>"+
		"<RequestId>%s</RequestId></ErrorResponse>", xml.Header, xmlns, typ, f.Code, msg.String(), requestID())
}
