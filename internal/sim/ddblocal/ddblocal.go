// Package ddblocal is a DynamoDB endpoint on loopback for the real
// aws-sdk-go-v2 DynamoDB client (service/dynamodb v1.73.1, JSON 1.0: a POST
// with X-Amz-Target: DynamoDB_20120810.<Operation> and a JSON body). It
// serves GetItem and PutItem with condition expressions (comparisons,
// attribute_exists, attribute_not_exists, AND, OR, NOT, parentheses, #name
// and :value placeholders), which is what a compare-and-set latch needs, and
// answers ConditionalCheckFailedException, ResourceNotFoundException and
// injected throttling in DynamoDB's error shape.
package ddblocal

import (
	"encoding/json"
	"hash/crc32"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/redisha/redisha/internal/sim/localaws"
)

const targetPrefix = "DynamoDB_20120810."

// Failure is an error answer.
type Failure struct {
	Status int
	// Code is the error's shape name, e.g. ThrottlingException.
	Code string
	// AfterWrite applies a PutItem before answering the error: the write
	// happened, its reply was lost.
	AfterWrite bool
}

// Failures DynamoDB gives.
var (
	// Throttled is the request-rate answer; the SDK retries it.
	Throttled = Failure{Status: http.StatusBadRequest, Code: "ThrottlingException"}
	// Unavailable is a 503; the SDK retries it.
	Unavailable = Failure{Status: http.StatusServiceUnavailable, Code: "ServiceUnavailable"}
	// ReplyLost applies a PutItem, then answers a 500 (the SDK retries it:
	// a conditional write's retry then finds its own write).
	ReplyLost = Failure{Status: http.StatusInternalServerError, Code: "InternalServerError", AfterWrite: true}
)

// Item is one item: attribute name → attribute value in DynamoDB's JSON
// form, e.g. {"S": "x"} or {"N": "42"}.
type Item map[string]map[string]any

type table struct {
	key   string
	items map[string]Item // by the key attribute's value, encoded
}

// Server is the local endpoint. Its methods are safe for concurrent use.
type Server struct {
	srv *httptest.Server

	mu       sync.Mutex
	tables   map[string]*table
	failures localaws.Failures[Failure]
	calls    []string
}

// New starts a server on a free port of 127.0.0.1. Close it when done.
func New() *Server {
	s := &Server{tables: map[string]*table{}}
	s.srv = localaws.Serve("ddblocal", s.serve)
	return s
}

// URL is the endpoint, for BaseEndpoint or AWS_ENDPOINT_URL_DYNAMODB.
func (s *Server) URL() string { return s.srv.URL }

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// CreateTable makes an empty table whose partition key is the string or
// number attribute key.
func (s *Server) CreateTable(name, key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tables[name] = &table{key: key, items: map[string]Item{}}
}

// Item returns a copy of the item whose key attribute is key (a string).
func (s *Server) Item(tableName, key string) (Item, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tables[tableName]
	if t == nil {
		return nil, false
	}
	it, ok := t.items[encodeKey(map[string]any{"S": key})]
	return maps.Clone(it), ok
}

// FailNext makes the next len(f) requests fail with f, in order.
func (s *Server) FailNext(f ...Failure) { s.failures.Add(f...) }

// Calls lists the operations received, in order.
func (s *Server) Calls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.calls...)
}

type request struct {
	TableName                 string            `json:"TableName"`
	Key                       Item              `json:"Key"`
	Item                      Item              `json:"Item"`
	ConsistentRead            *bool             `json:"ConsistentRead"`
	ConditionExpression       string            `json:"ConditionExpression"`
	ExpressionAttributeNames  map[string]string `json:"ExpressionAttributeNames"`
	ExpressionAttributeValues Item              `json:"ExpressionAttributeValues"`
	ReturnValues              string            `json:"ReturnValues"`
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	switch {
	case r.Method != http.MethodPost:
		writeError(w, Failure{Status: http.StatusBadRequest, Code: "SerializationException"}, "method "+r.Method+", want POST")
		return
	case r.Header.Get("Content-Type") != "application/x-amz-json-1.0":
		writeError(w, Failure{Status: http.StatusBadRequest, Code: "SerializationException"}, "content type "+r.Header.Get("Content-Type")+", want application/x-amz-json-1.0")
		return
	case !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 "):
		writeError(w, Failure{Status: http.StatusBadRequest, Code: "MissingAuthenticationTokenException"}, "request is not SigV4-signed")
		return
	case !strings.HasPrefix(target, targetPrefix):
		writeError(w, Failure{Status: http.StatusBadRequest, Code: "UnknownOperationException"}, "X-Amz-Target "+target)
		return
	}
	op := strings.TrimPrefix(target, targetPrefix)
	var in request
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.UseNumber()
	if err := dec.Decode(&in); err != nil {
		writeError(w, Failure{Status: http.StatusBadRequest, Code: "SerializationException"}, "body: "+err.Error())
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, op)
	f, failed := s.failures.Next()
	if failed && !(f.AfterWrite && op == "PutItem") {
		writeError(w, f, "injected by ddblocal")
		return
	}
	t := s.tables[in.TableName]
	if t == nil {
		writeError(w, Failure{Status: http.StatusBadRequest, Code: "ResourceNotFoundException"}, "Requested resource not found: Table: "+in.TableName+" not found")
		return
	}
	switch op {
	case "GetItem":
		s.getItem(w, t, in)
	case "PutItem":
		if failed {
			// The write happens; its answer is replaced by the failure.
			rec := httptest.NewRecorder()
			s.putItem(rec, t, in)
			if rec.Code == http.StatusOK {
				writeError(w, f, "injected by ddblocal after the write")
				return
			}
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.Code)
			_, _ = w.Write(rec.Body.Bytes())
			return
		}
		s.putItem(w, t, in)
	default:
		writeError(w, Failure{Status: http.StatusBadRequest, Code: "UnknownOperationException"}, "ddblocal does not serve "+op)
	}
}

func (s *Server) getItem(w http.ResponseWriter, t *table, in request) {
	k, ok := in.Key[t.key]
	if !ok || len(in.Key) != 1 {
		writeError(w, Failure{Status: http.StatusBadRequest, Code: "ValidationException"}, "The provided key element does not match the schema")
		return
	}
	out := map[string]any{}
	if it, ok := t.items[encodeKey(k)]; ok {
		out["Item"] = it
	}
	writeJSON(w, out)
}

func (s *Server) putItem(w http.ResponseWriter, t *table, in request) {
	k, ok := in.Item[t.key]
	if !ok {
		writeError(w, Failure{Status: http.StatusBadRequest, Code: "ValidationException"}, "One or more parameter values were invalid: Missing the key "+t.key+" in the item")
		return
	}
	old := t.items[encodeKey(k)]
	if in.ConditionExpression != "" {
		cond, err := parseCondition(in.ConditionExpression, in.ExpressionAttributeNames, in.ExpressionAttributeValues)
		if err != nil {
			writeError(w, Failure{Status: http.StatusBadRequest, Code: "ValidationException"}, "Invalid ConditionExpression: "+err.Error())
			return
		}
		if !cond(old) {
			writeError(w, Failure{Status: http.StatusBadRequest, Code: "ConditionalCheckFailedException"}, "The conditional request failed")
			return
		}
	}
	t.items[encodeKey(k)] = in.Item
	out := map[string]any{}
	if in.ReturnValues == "ALL_OLD" && old != nil {
		out["Attributes"] = old
	}
	writeJSON(w, out)
}

func encodeKey(v map[string]any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, Failure{Status: http.StatusInternalServerError, Code: "InternalServerError"}, err.Error())
		return
	}
	write(w, http.StatusOK, b)
}

// write answers with the CRC32 header DynamoDB sends; the SDK checks the
// body against it.
func write(w http.ResponseWriter, status int, b []byte) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.Header().Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(b)), 10))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func writeError(w http.ResponseWriter, f Failure, msg string) {
	b, _ := json.Marshal(map[string]string{"__type": "com.amazonaws.dynamodb.v20120810#" + f.Code, "message": msg})
	write(w, f.Status, b)
}

// NewClient returns a real DynamoDB client for url in region, with static
// test credentials and the SDK's standard retryer allowing maxAttempts
// attempts per call (at least 1; backoff capped at 20 ms).
func NewClient(url, region string, maxAttempts int) *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{
		Region:       region,
		BaseEndpoint: aws.String(url),
		Credentials:  localaws.Credentials,
		Retryer:      localaws.Retryer(maxAttempts),
	})
}
