// Package redisconn turns redisha's connection settings into a go-redis client
// tuned for health checking: explicit timeouts, no hidden retries, one small
// pool, TLS verification on, and no maintenance notifications (ElastiCache
// rejects CLIENT MAINT_NOTIFICATIONS).
package redisconn

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/redisha/redisha/internal/fielderr"
)

// Config is how to reach one Redis endpoint.
type Config struct {
	// Addr is host:port of the endpoint, e.g. redis.internal:6379.
	Addr string
	// TLS turns on TLS. Verification is always on.
	TLS bool
	// TLSServerName overrides the name verified in the server certificate:
	// clients reach ElastiCache through a CNAME (redis.internal) whose name is
	// not in the certificate. default: the host part of Addr.
	TLSServerName string
	// TLSCAFile is a PEM bundle of extra trusted CAs. default: system roots.
	TLSCAFile string
	// Username is the ACL user. default: none (the default user).
	Username string
	// Password is the AUTH token. It never appears in logs or errors.
	Password string
	// Credentials, when set, supplies the username and password for each
	// new connection (e.g. a cached Secrets Manager token), overriding
	// Username and Password. It is called with the dial's context.
	Credentials func(ctx context.Context) (username, password string, err error) `json:"-"`
	// DB is the database index. default: 0
	DB int
	// DialTimeout bounds TCP connect plus the TLS handshake when the caller's
	// context has no earlier deadline. default: 2 seconds
	DialTimeout time.Duration
	// IOTimeout bounds each read and write when the caller's context has no
	// earlier deadline. default: 2 seconds
	IOTimeout time.Duration
	// PoolSize is the number of connections kept. A checker needs one.
	// default: 1
	PoolSize int
	// Dialer, when set, replaces the TCP dialer; TLS is still layered on top.
	// Tests use it to count round trips on the dialed connection.
	Dialer func(ctx context.Context, network, addr string) (net.Conn, error) `json:"-"`
}

// DefaultTimeout is the dial and I/O timeout when none is given.
const DefaultTimeout = 2 * time.Second

// FieldError is a setting that cannot work: Field is one of the Field
// constants, so that callers can say which of their own settings (a flag,
// an environment variable) is at fault without parsing messages. Its
// message is the field followed by Err, e.g. `db -2 is negative: use a
// database index of 0 or more`.
type FieldError = fielderr.Error

// The fields Validate reports on, as messages name them.
const (
	FieldAddr          = "addr"
	FieldDB            = "db"
	FieldTLSServerName = "tls server name"
	FieldTLSCAFile     = "tls CA file"
	FieldTimeout       = "timeouts" // DialTimeout or IOTimeout
)

var fieldErr = fielderr.New

// Validate reports the first setting that cannot work as a *FieldError.
func (c Config) Validate() error {
	if c.Addr == "" {
		return fieldErr(FieldAddr, "is empty: give the endpoint as host:port, e.g. redis.internal:6379")
	}
	host, port, err := net.SplitHostPort(c.Addr)
	if err != nil || host == "" {
		return fieldErr(FieldAddr, "%q is not host:port: give e.g. redis.internal:6379", c.Addr)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return fieldErr(FieldAddr, "%q has no valid port: use a port from 1 to 65535", c.Addr)
	}
	if c.DB < 0 {
		return fieldErr(FieldDB, "%d is negative: use a database index of 0 or more", c.DB)
	}
	if c.TLSServerName != "" && !c.TLS {
		return fieldErr(FieldTLSServerName, "is set but TLS is off: turn TLS on or drop the server name")
	}
	if c.TLSCAFile != "" && !c.TLS {
		return fieldErr(FieldTLSCAFile, "is set but TLS is off: turn TLS on or drop the CA file")
	}
	if c.DialTimeout < 0 || c.IOTimeout < 0 {
		return fieldErr(FieldTimeout, "must not be negative")
	}
	return nil
}

// Redacted describes the endpoint without secrets, for logs.
func (c Config) Redacted() string {
	s := c.Addr
	if c.TLS {
		s = "rediss://" + s
	} else {
		s = "redis://" + s
	}
	if c.Username != "" {
		s += " user=" + c.Username
	}
	if c.Password != "" {
		s += " password=xxxxx"
	}
	if c.DB != 0 {
		s += " db=" + strconv.Itoa(c.DB)
	}
	return s
}

// TLSConfig builds the TLS settings, or nil when TLS is off.
func (c Config) TLSConfig() (*tls.Config, error) {
	if !c.TLS {
		return nil, nil
	}
	name := c.TLSServerName
	if name == "" {
		name, _, _ = net.SplitHostPort(c.Addr)
	}
	tc := &tls.Config{ServerName: name, MinVersion: tls.VersionTLS12}
	if c.TLSCAFile != "" {
		pem, err := os.ReadFile(c.TLSCAFile)
		if err != nil {
			return nil, fmt.Errorf("read tls CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls CA file %s holds no PEM certificate", c.TLSCAFile)
		}
		tc.RootCAs = pool
	}
	return tc, nil
}

// Options returns go-redis options for the config.
func (c Config) Options() (*redis.Options, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	tc, err := c.TLSConfig()
	if err != nil {
		return nil, err
	}
	dial := orDefault(c.DialTimeout, DefaultTimeout)
	io := orDefault(c.IOTimeout, DefaultTimeout)
	pool := c.PoolSize
	if pool <= 0 {
		pool = 1
	}
	o := &redis.Options{
		Addr:      c.Addr,
		Username:  c.Username,
		Password:  c.Password,
		DB:        c.DB,
		TLSConfig: tc,
		// RESP2: every ElastiCache engine version speaks it (go-redis still
		// opens each connection with HELLO 2, which carries AUTH).
		Protocol:    2,
		DialTimeout: dial,
		// A check must not retry past its budget: one dial, no command retries.
		DialerRetries:         1,
		MaxRetries:            -1,
		ReadTimeout:           io,
		WriteTimeout:          io,
		ContextTimeoutEnabled: true,
		PoolSize:              pool,
		PoolTimeout:           dial,
		DisableIdentity:       true,
		MaintNotificationsConfig: &maintnotifications.Config{
			Mode: maintnotifications.ModeDisabled,
		},
		CredentialsProviderContext: c.Credentials,
	}
	// Our own dialer, so that the TLS handshake too ends at the caller's
	// deadline (go-redis's default TLS dial honours only DialTimeout).
	dialTCP := c.Dialer
	if dialTCP == nil {
		nd := &net.Dialer{Timeout: dial}
		dialTCP = nd.DialContext
	}
	o.Dialer = func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := dialTCP(ctx, network, addr)
		if err == nil && tc != nil {
			conn, err = tlsHandshake(ctx, conn, tc)
		}
		if err != nil {
			return nil, err
		}
		return newGoodbyeConn(conn), nil
	}
	return o, nil
}

// New returns a client for the config.
func New(c Config) (*redis.Client, error) {
	o, err := c.Options()
	if err != nil {
		return nil, err
	}
	return redis.NewClient(o), nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// tlsHandshake runs the client handshake on a dialed connection within ctx.
func tlsHandshake(ctx context.Context, conn net.Conn, tc *tls.Config) (net.Conn, error) {
	tconn := tls.Client(conn, tc)
	if err := tconn.HandshakeContext(ctx); err != nil {
		_ = conn.Close()
		return nil, err
	}
	return tconn, nil
}
