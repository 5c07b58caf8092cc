package check

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"syscall"

	"github.com/redis/go-redis/v9"

	"github.com/redisha/redisha/internal/redisconn"
)

// Reason classifies why a check failed.
type Reason string

// Reasons, from the network up to the data.
const (
	ReasonRefused    Reason = "refused"    // nothing listens: server down or restarting
	ReasonTimeout    Reason = "timeout"    // no answer before the deadline: stalled, paused or unreachable
	ReasonReset      Reason = "reset"      // connection reset or closed mid-check
	ReasonDNS        Reason = "dns"        // the endpoint name does not resolve
	ReasonTLS        Reason = "tls"        // handshake or certificate failure
	ReasonAuth       Reason = "auth"       // wrong password or user (NOAUTH, WRONGPASS)
	ReasonNoPerm     Reason = "noperm"     // ACL user lacks a command or key (NOPERM)
	ReasonReadOnly   Reason = "readonly"   // a replica answered a write (READONLY)
	ReasonOOM        Reason = "oom"        // maxmemory reached with a noeviction policy (OOM)
	ReasonLoading    Reason = "loading"    // dataset still loading after a restart (LOADING)
	ReasonBusy       Reason = "busy"       // a script or function blocks the server (BUSY)
	ReasonMaster     Reason = "masterdown" // replica lost its primary and serves no stale data (MASTERDOWN)
	ReasonCluster    Reason = "cluster"    // cluster redirection or cluster down (MOVED, ASK, CLUSTERDOWN, TRYAGAIN)
	ReasonMismatch   Reason = "mismatch"   // an answer other than the one written or expected
	ReasonKeyExists  Reason = "key_exists" // the random probe key already existed
	ReasonMaxClients Reason = "maxclients" // the server refused the connection: max number of clients reached
	ReasonCanceled   Reason = "canceled"   // the caller gave up (Ctrl-C, a cancelled context): says nothing of the server
	ReasonError      Reason = "error"      // any other server error
	ReasonUnknown    Reason = "unknown"    // any other client-side failure
)

// redisPrefixes maps the error code a server sends to a reason.
var redisPrefixes = []struct {
	prefix string
	reason Reason
}{
	{"READONLY", ReasonReadOnly},
	{"OOM", ReasonOOM},
	{"NOAUTH", ReasonAuth},
	{"WRONGPASS", ReasonAuth},
	{"ERR invalid password", ReasonAuth},
	{"ERR invalid username-password", ReasonAuth},
	{"ERR AUTH", ReasonAuth},
	{"NOPERM", ReasonNoPerm},
	{"LOADING", ReasonLoading},
	{"BUSY", ReasonBusy},
	{"MASTERDOWN", ReasonMaster},
	{"MOVED", ReasonCluster},
	{"ASK", ReasonCluster},
	{"CLUSTERDOWN", ReasonCluster},
	{"TRYAGAIN", ReasonCluster},
}

// Classify maps an error from go-redis or the network to a Reason.
func Classify(err error) Reason {
	if err == nil {
		return ""
	}
	var rerr redis.Error
	if errors.As(err, &rerr) && redisconn.ServerReply(err) {
		msg := rerr.Error()
		for _, p := range redisPrefixes {
			if strings.HasPrefix(msg, p.prefix) {
				return p.reason
			}
		}
		return ReasonError
	}
	var goodbye *redisconn.ServerGoodbyeError
	if errors.As(err, &goodbye) && strings.Contains(goodbye.Reply, "max number of clients") {
		return ReasonMaxClients
	}
	var (
		dnsErr  *net.DNSError
		certErr *tls.CertificateVerificationError
		hostErr x509.HostnameError
		uaErr   x509.UnknownAuthorityError
		invErr  x509.CertificateInvalidError
		recErr  tls.RecordHeaderError
		alert   tls.AlertError
	)
	switch {
	case errors.As(err, &dnsErr):
		return ReasonDNS
	case errors.As(err, &certErr), errors.As(err, &hostErr), errors.As(err, &uaErr),
		errors.As(err, &invErr), errors.As(err, &recErr), errors.As(err, &alert):
		return ReasonTLS
	case errors.Is(err, syscall.ECONNREFUSED):
		return ReasonRefused
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.Is(err, redis.ErrPoolTimeout):
		return ReasonTimeout
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed),
		errors.Is(err, redis.ErrClosed):
		return ReasonReset
	case errors.Is(err, context.Canceled):
		return ReasonCanceled
	}
	var nerr net.Error
	if errors.As(err, &nerr) && nerr.Timeout() {
		return ReasonTimeout
	}
	if strings.Contains(err.Error(), "tls:") {
		return ReasonTLS
	}
	return ReasonUnknown
}

// Connection reports whether the reason means the connection itself is
// suspect, so a long-lived client should drop it and dial afresh.
func (r Reason) Connection() bool {
	switch r {
	case ReasonRefused, ReasonTimeout, ReasonReset, ReasonDNS, ReasonTLS, ReasonUnknown, ReasonAuth,
		ReasonMaxClients, ReasonCanceled:
		return true
	}
	return false
}
