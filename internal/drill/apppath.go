package drill

import (
	"context"
	"net"
	"os"
	"sync"
	"time"
)

// appPaths are the routes from each region's applications to each region's
// nodes, which a game-day partition can cut ([app-a, redis-b]). A cut route
// behaves like a lost one: a dial or a read hangs until its deadline and then
// times out; nothing is refused or reset, so the applications see what they
// would see in a real network partition.
type appPaths struct {
	mu  sync.Mutex
	cut map[[2]string]bool // {app region, node region}
}

func (p *appPaths) set(app, node string, cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cut == nil {
		p.cut = map[[2]string]bool{}
	}
	p.cut[[2]string{app, node}] = cut
}

func (p *appPaths) isCut(app, node string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cut[[2]string{app, node}]
}

// dialer wraps dial for the applications of region app: regionOf names the
// region of the address a connection reached.
func (p *appPaths) dialer(app string, regionOf func(net.IP) string,
	dial func(context.Context, string, string) (net.Conn, error)) func(context.Context, string, string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		var node string
		if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
			node = regionOf(ta.IP)
		}
		cut := func() bool { return node != "" && p.isCut(app, node) }
		if cut() {
			_ = c.Close()
			// The SYN is never answered.
			select {
			case <-ctx.Done():
			case <-time.After(10 * time.Second):
			}
			return nil, &net.OpError{Op: "dial", Net: network, Err: os.ErrDeadlineExceeded}
		}
		return &cutConn{Conn: c, cut: cut}, nil
	}
}

// cutConn is a connection whose route can be cut: once cut, reads and writes
// hang until their deadline and time out.
type cutConn struct {
	net.Conn
	cut func() bool

	mu           sync.Mutex
	rDead, wDead time.Time
}

func (c *cutConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	c.rDead, c.wDead = t, t
	c.mu.Unlock()
	return c.Conn.SetDeadline(t)
}

func (c *cutConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.rDead = t
	c.mu.Unlock()
	return c.Conn.SetReadDeadline(t)
}

func (c *cutConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	c.wDead = t
	c.mu.Unlock()
	return c.Conn.SetWriteDeadline(t)
}

// hang waits until the deadline *d (at most 10 s: no deadline set is a
// client's bug, not the partition's) and returns a timeout.
func (c *cutConn) hang(d *time.Time) error {
	c.mu.Lock()
	deadline := *d
	c.mu.Unlock()
	wait := 10 * time.Second
	if !deadline.IsZero() {
		wait = min(time.Until(deadline), wait)
	}
	if wait > 0 {
		time.Sleep(wait)
	}
	return os.ErrDeadlineExceeded
}

func (c *cutConn) Read(b []byte) (int, error) {
	if c.cut() {
		return 0, c.hang(&c.rDead)
	}
	return c.Conn.Read(b)
}

func (c *cutConn) Write(b []byte) (int, error) {
	if c.cut() {
		return 0, c.hang(&c.wDead)
	}
	return c.Conn.Write(b)
}

// regionOfIP names the region of the node at ip ("" when none is).
func (t *Topology) regionOfIP(ip net.IP) string {
	for _, r := range t.Regions {
		for _, n := range r.nodes() {
			if n.IP.Equal(ip) {
				return r.Name
			}
		}
	}
	return ""
}
