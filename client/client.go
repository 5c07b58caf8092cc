package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/redisha/redisha/internal/redisconn"
)

// Config says how to reach the writer behind a DNS name. Only Addr is
// required; every other field has a default suited to following a failover.
type Config struct {
	// Addr is host:port of the name applications use, e.g.
	// redis.internal:6379 or, in Kubernetes, redis:6379 (an ExternalName
	// Service).
	Addr string

	// TLS is on unless PlainText is set; TLS: true only says so explicitly
	// (it cannot be combined with PlainText). The certificate is verified
	// against the name the CNAME chain of Addr's host ends at when each
	// connection is dialed (the ElastiCache endpoint the record points to at
	// that moment), never against Addr's host, which no ElastiCache
	// certificate names; that name must be one TLSNames allows.
	TLS bool
	// PlainText turns TLS off, for a server without in-transit encryption
	// (a local Redis, a test). A Password or Credentials is then refused
	// unless AllowPlainTextAuth is set. default: false (TLS on)
	PlainText bool
	// AllowPlainTextAuth lets a PlainText client send its AUTH token, in
	// clear, to whoever the name resolves to. default: false
	AllowPlainTextAuth bool
	// TLSNames lists the only names the chain may end at, e.g. the primary
	// endpoints of both regions; an entry "*.example.com" allows every name
	// under example.com. A dial that resolves to another name fails before
	// any byte is sent, so a DNS answer (a record, a Kubernetes ExternalName
	// Service, a resolver rule) pointing at a host with a valid certificate
	// of its own never receives the AUTH token.
	// default: DefaultTLSNames, the ElastiCache endpoint domains
	TLSNames []string
	// TLSAnyName accepts whatever name the chain ends at, as long as its
	// certificate is valid: DNS integrity then equals credential integrity.
	// It cannot be combined with TLSNames. default: false
	TLSAnyName bool
	// RootCAs are the CAs trusted for the server certificate.
	// default: the system roots
	RootCAs *x509.CertPool

	// Username is the ACL user. default: the default user
	Username string
	// Password is the AUTH token.
	Password string
	// Credentials, when set, supplies the username and password for each new
	// connection (e.g. a rotating token), overriding Username and Password.
	Credentials func(ctx context.Context) (username, password string, err error)
	// DB is the database index. default: 0
	DB int

	// AllowReplica skips the ROLE check on connect, for clients that only
	// read from a replica or reader endpoint. default: false (a connection
	// that reaches a replica is refused and dialed again)
	AllowReplica bool

	// Resolver resolves Addr's host on every dial and recheck.
	// default: net.DefaultResolver
	Resolver *net.Resolver
	// RecheckInterval is how often, at most, the name is resolved again while
	// the client is in use, to retire connections to an endpoint the name no
	// longer points to. Each recheck costs a few DNS queries (three per
	// CNAME hop, two for the addresses). Negative turns rechecks off.
	// default: 1 second
	RecheckInterval time.Duration

	// DialTimeout bounds resolving, connecting and the TLS handshake of one
	// dial. default: 2 seconds
	DialTimeout time.Duration
	// IOTimeout bounds each read and write when the caller's context has no
	// earlier deadline. default: 3 seconds
	IOTimeout time.Duration
	// PoolSize is the number of connections kept. default: go-redis's, 10 per CPU
	PoolSize int
	// ConnMaxLifetime bounds a connection's age, with ±10% jitter so that a
	// pool does not reconnect at once. Negative means no bound.
	// default: 5 minutes
	ConnMaxLifetime time.Duration

	// MaxRetries is how many times a failed command is retried; -1 means
	// none. default: 5
	MaxRetries int
	// MinRetryBackoff is the base of the jittered exponential backoff: retry
	// n waits a random time between MinRetryBackoff and
	// MinRetryBackoff·(1+2ⁿ), capped at MaxRetryBackoff.
	// default: 500 milliseconds
	MinRetryBackoff time.Duration
	// MaxRetryBackoff caps one backoff. default: 10 seconds
	MaxRetryBackoff time.Duration
}

// DefaultTLSNames are the names a TLS client accepts when TLSNames is empty:
// ElastiCache endpoints, which live under these regional domains (e.g.
// master.redis-primary.abc123.use1.cache.amazonaws.com) and have no public
// addresses, so that a redirected name cannot bring one into reach.
var DefaultTLSNames = []string{"*.cache.amazonaws.com", "*.cache.amazonaws.com.cn"}

// Defaults of the Config fields.
const (
	DefaultRecheckInterval = time.Second
	DefaultDialTimeout     = 2 * time.Second
	DefaultIOTimeout       = 3 * time.Second
	DefaultConnMaxLifetime = 5 * time.Minute
	DefaultMaxRetries      = 5
	DefaultMinRetryBackoff = 500 * time.Millisecond
	DefaultMaxRetryBackoff = 10 * time.Second
)

// Validate reports the first setting that cannot work, naming the field and
// the fix. Addr and DB follow the health checker's rules (redisconn), so an
// application and the checker accept the same endpoint settings.
func (c Config) Validate() error {
	if err := (redisconn.Config{Addr: c.Addr, DB: c.DB}).Validate(); err != nil {
		var fe *redisconn.FieldError
		if errors.As(err, &fe) {
			// The checker's fields addr and db are this Config's Addr and DB.
			field := map[string]string{redisconn.FieldAddr: "Addr", redisconn.FieldDB: "DB"}[fe.Field]
			if field == "" {
				field = fe.Field
			}
			return fmt.Errorf("client: %s %w", field, fe.Err)
		}
		return fmt.Errorf("client: %w", err)
	}
	if c.TLS && c.PlainText {
		return errors.New("client: TLS and PlainText are both set: drop PlainText to keep TLS on")
	}
	if c.PlainText && (len(c.TLSNames) > 0 || c.RootCAs != nil || c.TLSAnyName) {
		return errors.New("client: TLSNames, TLSAnyName or RootCAs is set but PlainText turns TLS off: drop PlainText or them")
	}
	if c.PlainText && (c.Password != "" || c.Credentials != nil) && !c.AllowPlainTextAuth {
		return errors.New("client: Password or Credentials with PlainText would send the AUTH token in clear: drop PlainText to keep TLS on, or set AllowPlainTextAuth for a server that has no TLS")
	}
	if c.TLSAnyName && len(c.TLSNames) > 0 {
		return errors.New("client: TLSAnyName and TLSNames are both set: keep TLSNames (the names to accept) or TLSAnyName (any name)")
	}
	for _, n := range c.TLSNames {
		if n = strings.TrimPrefix(n, "*."); n == "" || strings.ContainsAny(n, " :/*") {
			return fmt.Errorf("client: TLSNames entry %q is not a DNS name: list endpoint names such as master.x.use1.cache.amazonaws.com, or *.domain", n)
		}
	}
	if c.DialTimeout < 0 || c.IOTimeout < 0 || c.MinRetryBackoff < 0 || c.MaxRetryBackoff < 0 {
		return errors.New("client: DialTimeout, IOTimeout, MinRetryBackoff and MaxRetryBackoff must not be negative: leave them 0 for the defaults")
	}
	if c.MaxRetries < -1 {
		return fmt.Errorf("client: MaxRetries %d is below -1: use -1 for no retries or 0 for the default", c.MaxRetries)
	}
	return nil
}

// New returns a go-redis client that follows failovers of c.Addr (see the
// package documentation). Close it as any go-redis client.
func New(c Config) (*redis.Client, error) {
	o, f, err := c.build()
	if err != nil {
		return nil, err
	}
	rc := redis.NewClient(o)
	rc.AddHook(retireHook{f})
	return rc, nil
}

// Options returns the go-redis options New uses, for an application that
// adjusts them before calling redis.NewClient. Such a client lacks only the
// hook that retires the pool after a command fails with READONLY or a reset;
// the ROLE check and DNS rechecks still retire what that hook would.
func (c Config) Options() (*redis.Options, error) {
	o, _, err := c.build()
	return o, err
}

func (c Config) build() (*redis.Options, *follower, error) {
	if err := c.Validate(); err != nil {
		return nil, nil, err
	}
	f := newFollower(c)
	lifetime := orDefault(c.ConnMaxLifetime, DefaultConnMaxLifetime)
	retries := c.MaxRetries
	if retries == 0 {
		retries = DefaultMaxRetries
	}
	io := orDefault(c.IOTimeout, DefaultIOTimeout)
	o := &redis.Options{
		Addr:                       c.Addr,
		Dialer:                     f.dial,
		OnConnect:                  f.onConnect,
		Username:                   c.Username,
		Password:                   c.Password,
		CredentialsProviderContext: c.Credentials,
		DB:                         c.DB,
		// RESP2: every ElastiCache engine version speaks it.
		Protocol:              2,
		DialTimeout:           f.dialTimeout,
		ReadTimeout:           io,
		WriteTimeout:          io,
		ContextTimeoutEnabled: true,
		PoolSize:              c.PoolSize,
		ConnMaxLifetime:       lifetime,
		ConnMaxLifetimeJitter: lifetime / 10,
		MaxRetries:            retries,
		MinRetryBackoff:       orDefault(c.MinRetryBackoff, DefaultMinRetryBackoff),
		MaxRetryBackoff:       orDefault(c.MaxRetryBackoff, DefaultMaxRetryBackoff),
		// One dial per attempt: the command retries above are the one
		// backoff policy, and each attempt resolves the name again.
		DialerRetries: 1,
		// ElastiCache rejects CLIENT SETINFO and CLIENT MAINT_NOTIFICATIONS.
		DisableIdentity:          true,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	}
	if lifetime < 0 {
		o.ConnMaxLifetime, o.ConnMaxLifetimeJitter = 0, 0
	}
	if !c.PlainText {
		// go-redis does not use it for dialing (the Dialer does TLS); it is
		// set so that code inspecting the options sees TLS is on.
		o.TLSConfig = f.tls
	}
	return o, f, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// baseTLS is the TLS configuration every dial clones, adding the name the
// CNAME chain ends at as ServerName.
func baseTLS(c Config) *tls.Config {
	if c.PlainText {
		return nil
	}
	return &tls.Config{RootCAs: c.RootCAs, MinVersion: tls.VersionTLS12}
}
