// Package snslocal is an SNS endpoint on loopback for the real aws-sdk-go-v2
// SNS client (service/sns v1.47.9, AWS Query protocol). It serves Publish,
// records every message and can fail requests, so tests see the pages the
// promoter sends.
package snslocal

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/redisha/redisha/internal/sim/awsquery"
	"github.com/redisha/redisha/internal/sim/localaws"
)

// Version is the SNS API version the SDK sends.
const Version = "2010-03-31"

const xmlns = "http://sns.amazonaws.com/doc/2010-03-31/"

// Message is one published message.
type Message struct {
	TopicARN, Subject, Message string
	// Region is the region whose endpoint received it.
	Region string
}

// Server is the local endpoint. Its methods are safe for concurrent use.
type Server struct {
	srv *httptest.Server

	mu       sync.Mutex
	messages []Message
	failures localaws.Failures[awsquery.Failure]
	changed  localaws.Signal
}

// New starts a server on a free port of 127.0.0.1. Close it when done.
func New() *Server {
	s := &Server{}
	s.srv = localaws.Serve("snslocal", s.serve)
	return s
}

// URL is the endpoint, for BaseEndpoint or AWS_ENDPOINT_URL_SNS.
func (s *Server) URL() string { return s.srv.URL }

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// FailNext makes the next len(f) requests fail with f, in order.
func (s *Server) FailNext(f ...awsquery.Failure) { s.failures.Add(f...) }

// Messages returns the messages published so far.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.messages)
}

// WaitFor waits until n messages have arrived and returns them, or returns
// what arrived and an error after timeout.
func (s *Server) WaitFor(n int, timeout time.Duration) ([]Message, error) {
	if s.changed.Wait(timeout, func() bool { return len(s.Messages()) >= n }) {
		return s.Messages(), nil
	}
	m := s.Messages()
	return m, fmt.Errorf("snslocal: %d messages within %s, want %d", len(m), timeout, n)
}

type publishResult struct {
	MessageID string `xml:"MessageId"`
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	q, err := awsquery.Parse(r, Version)
	if err != nil {
		awsquery.WriteError(w, xmlns, awsquery.Failure{Status: http.StatusBadRequest, Code: "InvalidRequest"}, "snslocal: "+err.Error())
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if f, ok := s.failures.Next(); ok {
		awsquery.WriteError(w, xmlns, f, "injected by snslocal")
		return
	}
	if q.Action != "Publish" {
		awsquery.WriteError(w, xmlns, awsquery.Failure{Status: http.StatusBadRequest, Code: "InvalidAction"}, "snslocal does not serve "+q.Action)
		return
	}
	m := Message{TopicARN: q.Get("TopicArn"), Subject: q.Get("Subject"), Message: q.Get("Message"), Region: q.Region}
	switch {
	case m.TopicARN == "" || m.Message == "":
		awsquery.WriteError(w, xmlns, awsquery.Failure{Status: http.StatusBadRequest, Code: "InvalidParameter"}, "TopicArn and Message are required")
		return
	case len(m.Subject) > 100:
		awsquery.WriteError(w, xmlns, awsquery.Failure{Status: http.StatusBadRequest, Code: "InvalidParameter"}, "Subject is over 100 characters")
		return
	}
	s.messages = append(s.messages, m)
	s.changed.Notify()
	awsquery.WriteResult(w, xmlns, "Publish", publishResult{MessageID: "msg-" + strconv.Itoa(len(s.messages))})
}

// NewClient returns a real SNS client for url in region with static test
// credentials and maxAttempts attempts per call (at least 1).
func NewClient(url, region string, maxAttempts int) *sns.Client {
	return sns.New(sns.Options{
		Region:       region,
		BaseEndpoint: aws.String(url),
		Credentials:  localaws.Credentials,
		Retryer:      localaws.Retryer(maxAttempts),
	})
}
