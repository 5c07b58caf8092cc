package drill

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// link is an in-process toxiproxy: a network path that can be cut (a
// partition) and re-pointed (an endpoint following its primary).
type link struct {
	name string
	// Addr is where clients connect (127.0.0.1:port).
	Addr string

	mu       sync.Mutex
	proxy    *toxiproxy.Proxy
	upstream string
	cut      bool
}

func newLink(name, upstream string) (*link, error) {
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	p := toxiproxy.NewProxy(srv, name, "127.0.0.1:0", upstream)
	if err := p.Start(); err != nil {
		return nil, fmt.Errorf("start toxiproxy %s: %w", name, err)
	}
	return &link{name: name, Addr: p.Listen, proxy: p, upstream: upstream}, nil
}

// Upstream is where the link leads.
func (l *link) Upstream() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.upstream
}

// Retarget points the link at a new upstream; its open connections close.
func (l *link) Retarget(upstream string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if upstream == l.upstream {
		return nil
	}
	l.upstream = upstream
	next := &toxiproxy.Proxy{Name: l.name, Listen: l.Addr, Upstream: upstream, Enabled: true}
	if err := l.proxy.Update(next); err != nil {
		return fmt.Errorf("retarget %s to %s: %w", l.name, upstream, err)
	}
	return nil
}

// Cut makes the path silently drop everything, as a partition does: no
// refusal, no reset, data goes nowhere and connections time out.
func (l *link) Cut() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cut {
		return nil
	}
	l.cut = true
	_, err := l.proxy.Toxics.AddToxicJson(strings.NewReader(`{"name":"partition","type":"timeout","stream":"downstream","attributes":{"timeout":0}}`))
	if err == nil {
		_, err = l.proxy.Toxics.AddToxicJson(strings.NewReader(`{"name":"partition-up","type":"timeout","stream":"upstream","attributes":{"timeout":0}}`))
	}
	return err
}

// Heal removes the partition.
func (l *link) Heal() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.cut {
		return nil
	}
	l.cut = false
	ctx := context.Background()
	_ = l.proxy.Toxics.RemoveToxic(ctx, "partition-up")
	return l.proxy.Toxics.RemoveToxic(ctx, "partition")
}

// Close stops the proxy.
func (l *link) Close() { l.proxy.Stop() }

// Delay adds latency d to the path (both directions); 0 removes it.
func (l *link) Delay(d time.Duration) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	_ = l.proxy.Toxics.RemoveToxic(context.Background(), "lag")
	if d <= 0 {
		return nil
	}
	_, err := l.proxy.Toxics.AddToxicJson(strings.NewReader(fmt.Sprintf(
		`{"name":"lag","type":"latency","stream":"downstream","attributes":{"latency":%d}}`, d.Milliseconds())))
	return err
}

// Down stops the path listening: connections are refused at once, as when
// a region's endpoint is gone. Up brings it back on the same address.
func (l *link) Down() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.proxy.Stop()
}

// Up restarts a path that is Down.
func (l *link) Up() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.proxy.Listen = l.Addr
	return l.proxy.Start()
}
