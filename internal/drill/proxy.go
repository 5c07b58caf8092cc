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
	srv      *toxiproxy.ApiServer
	proxy    *toxiproxy.Proxy
	upstream string
	cut      bool
	lag      time.Duration
}

// retargetWait is how long Retarget waits for toxiproxy to restart on the
// new upstream before replacing the proxy (see Retarget).
const retargetWait = 150 * time.Millisecond

func newLink(name, upstream string) (*link, error) {
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	p := toxiproxy.NewProxy(srv, name, "127.0.0.1:0", upstream)
	if err := p.Start(); err != nil {
		return nil, fmt.Errorf("start toxiproxy %s: %w", name, err)
	}
	return &link{name: name, Addr: p.Listen, srv: srv, proxy: p, upstream: upstream}, nil
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
	old := l.proxy
	done := make(chan error, 1)
	go func() { done <- old.Update(next) }()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("retarget %s to %s: %w", l.name, upstream, err)
		}
		return nil
	case <-time.After(retargetWait):
	}
	// toxiproxy's accept loop dials the upstream with no timeout, and its
	// Update waits for that loop: with the old upstream stalled (SIGSTOP,
	// its backlog full) the dial hangs for minutes. The old listener is
	// already closed, so a new proxy takes the address over, with the
	// link's toxics; the old Update fails to listen again when it ends.
	p := toxiproxy.NewProxy(l.srv, l.name, l.Addr, upstream)
	var err error
	for range 50 {
		if err = p.Start(); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("retarget %s to %s: a new proxy: %w", l.name, upstream, err)
	}
	l.proxy = p
	if l.cut {
		err = l.addPartition()
	}
	if l.lag > 0 && err == nil {
		_, err = l.proxy.Toxics.AddToxicJson(strings.NewReader(fmt.Sprintf(
			`{"name":"lag","type":"latency","stream":"downstream","attributes":{"latency":%d}}`, l.lag.Milliseconds())))
	}
	return err
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
	return l.addPartition()
}

// addPartition adds the partition's toxics; the caller holds l.mu.
func (l *link) addPartition() error {
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
	l.lag = max(d, 0)
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
