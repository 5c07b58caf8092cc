package redisconn

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/redis/go-redis/v9"
)

// Client is one long-lived go-redis client that is thrown away as soon as
// its connection is finished, so the next use dials afresh and resolves the
// endpoint's name again. After a failover the endpoint's name points at the
// promoted node while an open connection still reaches the demoted one
// (which answers READONLY, or, with ElastiCache's close-on-replica-write,
// drops the connection); go-redis's own pool would also wait out a dial
// back-off after failed dials. A Client follows the endpoint at once.
//
// Use: c, warm, err := rc.Get(); run commands on c; if Finished(err) for
// their error, rc.Drop(c). It is safe for concurrent use.
type Client struct {
	newClient func() (*redis.Client, error)

	mu     sync.Mutex
	client *redis.Client
	used   bool // client has served a Get before: its connection is warm

	dials  atomic.Int64
	remote atomic.Value // string: the address the last dial reached
}

// NewClient returns a Client for the config; the first Get builds the
// go-redis client and the first command dials. The config is checked here.
func NewClient(cfg Config) (*Client, error) {
	rc := &Client{}
	base := cfg.Dialer
	if base == nil {
		d := &net.Dialer{Timeout: orDefault(cfg.DialTimeout, DefaultTimeout)}
		base = d.DialContext
	}
	cfg.Dialer = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := base(ctx, network, addr)
		if err == nil {
			rc.dials.Add(1)
			rc.remote.Store(c.RemoteAddr().String())
		}
		return c, err
	}
	if _, err := cfg.Options(); err != nil {
		return nil, err
	}
	rc.newClient = func() (*redis.Client, error) { return New(cfg) }
	return rc, nil
}

// NewClientFunc returns a Client that builds each go-redis client with
// newClient (for callers that wrap or count dials themselves).
func NewClientFunc(newClient func() (*redis.Client, error)) *Client {
	return &Client{newClient: newClient}
}

// Get returns the current go-redis client, building one when there is none.
// warm is true when that client served an earlier Get, so its connection
// may be left over from before the endpoint moved.
func (c *Client) Get() (client *redis.Client, warm bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.client == nil {
		nc, err := c.newClient()
		if err != nil {
			return nil, false, err
		}
		c.client, c.used = nc, false
	}
	warm, c.used = c.used, true
	return c.client, warm, nil
}

// Drop closes client and forgets it when it is still the current one, so
// the next Get dials afresh.
func (c *Client) Drop(client *redis.Client) {
	c.mu.Lock()
	if c.client == client {
		c.client = nil
	}
	c.mu.Unlock()
	_ = client.Close()
}

// Dials counts the connections dialed so far (clients from NewClient only).
func (c *Client) Dials() int64 { return c.dials.Load() }

// RemoteAddr is the ip:port the last dial reached, "" before any (clients
// from NewClient only): it changes when the endpoint's name moved.
func (c *Client) RemoteAddr() string {
	s, _ := c.remote.Load().(string)
	return s
}

// Close releases the current client.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.client == nil {
		return nil
	}
	err := c.client.Close()
	c.client = nil
	return err
}

// Finished reports whether err means the connection it came on is done
// with: any failure of the connection itself (refused, reset, closed,
// timed out, DNS, TLS), and a READONLY answer, which on a client of a
// primary endpoint means it still talks to a node that was demoted. Other
// server answers (OOM, NOPERM, LOADING, a missing key) leave it usable.
func Finished(err error) bool {
	if err == nil || errors.Is(err, redis.Nil) {
		return false
	}
	if ServerReply(err) {
		return strings.HasPrefix(err.Error(), "READONLY")
	}
	return true
}

// ServerReply reports whether err is an error reply sent by the server
// (go-redis's Error interface is satisfied by network errors too).
func ServerReply(err error) bool {
	var rerr redis.Error
	if !errors.As(err, &rerr) {
		return false
	}
	var nerr net.Error
	return !errors.As(err, &nerr) && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) &&
		!errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled)
}

// QuietGoRedisLogger silences go-redis's global logger. go-redis logs dial
// failures on its own; redisha reports every failure in its results, so the
// library's lines would only repeat them. Programs call it once at start.
func QuietGoRedisLogger() { redis.SetLogger(discardLogger{}) }

type discardLogger struct{}

func (discardLogger) Printf(context.Context, string, ...interface{}) {}

// ServerGoodbyeError is a connection failure after the server said why it
// was closing the connection (e.g. "ERR max number of clients reached",
// which redis-server sends unasked and then closes): the reason would
// otherwise be lost behind a reset or a broken pipe.
type ServerGoodbyeError struct {
	// Reply is the server's error line, without the leading '-'.
	Reply string
	// Err is the connection error that followed.
	Err error
}

func (e *ServerGoodbyeError) Error() string {
	return "server closed the connection: " + e.Reply + " (" + e.Err.Error() + ")"
}

// Unwrap returns the connection error.
func (e *ServerGoodbyeError) Unwrap() error { return e.Err }

// goodbyeConn remembers a maxclients error line that is the first reply the
// server sent (go-redis reads it as HELLO's reply and then fails on the next
// write, dropping it), and attaches it to the connection errors that follow.
type goodbyeConn struct {
	net.Conn
	mu      sync.Mutex
	first   bool
	goodbye string
}

func newGoodbyeConn(c net.Conn) net.Conn {
	g := &goodbyeConn{Conn: c, first: true}
	if _, ok := c.(syscall.Conn); ok {
		return goodbyeSysConn{g}
	}
	return g
}

// goodbyeSysConn keeps the raw socket reachable, so go-redis's pool still
// peeks at idle plain-TCP connections before reusing them (it does not for
// TLS, whose outer connection has no raw socket).
type goodbyeSysConn struct{ *goodbyeConn }

// SyscallConn returns the raw socket of the wrapped connection.
func (c goodbyeSysConn) SyscallConn() (syscall.RawConn, error) {
	return c.Conn.(syscall.Conn).SyscallConn()
}

func (c *goodbyeConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.first && n > 0 {
		c.first = false
		if b[0] == '-' && strings.Contains(string(b[:n]), "max number of clients") {
			line, _, _ := strings.Cut(string(b[1:n]), "\r\n")
			c.goodbye = line
		}
	}
	return n, c.wrap(err)
}

func (c *goodbyeConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.mu.Lock()
	defer c.mu.Unlock()
	return n, c.wrap(err)
}

func (c *goodbyeConn) wrap(err error) error {
	if err == nil || c.goodbye == "" {
		return err
	}
	return &ServerGoodbyeError{Reply: c.goodbye, Err: err}
}
