package client

import (
	"context"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// BenchmarkGet is the steady-state cost of one command: go-redis as an
// application sets it up (the name resolved on each dial) against a client
// of this package, both to the same server through the same name.
func BenchmarkGet(b *testing.B) {
	bed := newBed(b, false, false)
	ctx := context.Background()
	clients := map[string]*redis.Client{
		"go-redis": redis.NewClient(plainOptions(bed, "")),
		"client":   newTestClient(b, bed, Config{}),
	}
	for _, name := range []string{"go-redis", "client"} {
		c := clients[name]
		if err := c.Set(ctx, "bench", "value", 0).Err(); err != nil {
			b.Fatal(err)
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := c.Get(ctx, "bench").Err(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	_ = clients["go-redis"].Close()
}

// A failover as the writers see it: steps at offsets from its start.
type scenario struct {
	name  string
	tls   bool
	steps []step
}

type step struct {
	at time.Duration
	do func(testing.TB, *bed)
}

var scenarios = []scenario{
	// The managed failover first, the DNS record half a second later.
	{name: "demote-then-flip", steps: []step{
		{0, func(t testing.TB, b *bed) { b.promoteB(t); b.demoteA(t) }},
		{500 * time.Millisecond, func(_ testing.TB, b *bed) { b.flip() }},
	}},
	// The record moves first; the old primary takes writes for 2 s more
	// until it is demoted, and every write it took then is lost.
	{name: "flip-then-demote", steps: []step{
		{0, func(t testing.TB, b *bed) { b.promoteB(t); b.flip() }},
		{2 * time.Second, func(t testing.TB, b *bed) { b.demoteA(t) }},
	}},
	// demote-then-flip over TLS, each endpoint with its own certificate.
	{name: "demote-then-flip-tls", tls: true, steps: []step{
		{0, func(t testing.TB, b *bed) { b.promoteB(t); b.demoteA(t) }},
		{500 * time.Millisecond, func(_ testing.TB, b *bed) { b.flip() }},
	}},
}

// The clients compared.
var variants = []struct {
	name string
	new  func(testing.TB, *bed) *redis.Client
}{
	{"go-redis", func(t testing.TB, b *bed) *redis.Client { return redis.NewClient(plainTLS(b, nil)) }},
	{"go-redis+lifetime-1s", func(t testing.TB, b *bed) *redis.Client {
		return redis.NewClient(plainTLS(b, func(o *redis.Options) { o.ConnMaxLifetime = time.Second }))
	}},
	{"client", func(t testing.TB, b *bed) *redis.Client {
		return newClient(t, b, Config{})
	}},
	// go-redis's default backoff, to tell the backoff's share of the window.
	{"client+backoff-10ms", func(t testing.TB, b *bed) *redis.Client {
		return newClient(t, b, Config{MinRetryBackoff: 10 * time.Millisecond, MaxRetryBackoff: time.Second})
	}},
}

// plainTLS is plainOptions verifying the name the record points to before
// the failover, as an application with a fixed server name does.
func plainTLS(b *bed, adjust func(*redis.Options)) *redis.Options {
	name := ""
	if b.cas != nil {
		name = nameA
	}
	o := plainOptions(b, name)
	if adjust != nil {
		adjust(o)
	}
	return o
}

// newClient is a client of this package with its default backoffs.
func newClient(t testing.TB, b *bed, cfg Config) *redis.Client {
	cfg.Addr, cfg.Resolver = b.addr(), b.dns.Resolver()
	if b.cas != nil {
		cfg.TLS, cfg.RootCAs, cfg.TLSNames = true, b.cas, testNames
	} else {
		cfg.PlainText = true
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// BenchmarkFailover measures, per failover, what writers see: the longest
// time without a successful write (window-ms) and the writes acknowledged
// but missing from the new primary afterwards (lost-writes). Run it with
// -benchtime=3x; each iteration is one failover on fresh servers.
func BenchmarkFailover(b *testing.B) {
	for _, sc := range scenarios {
		for _, v := range variants {
			b.Run(sc.name+"/"+v.name, func(b *testing.B) {
				var window time.Duration
				var lost, iterations int
				for b.Loop() {
					r := runFailover(b, sc, v.new)
					window += r.window
					lost += r.lost
					iterations++
				}
				b.ReportMetric(float64(window.Milliseconds())/float64(iterations), "window-ms")
				b.ReportMetric(float64(lost)/float64(iterations), "lost-writes")
			})
		}
	}
}

type failoverResult struct {
	window time.Duration
	lost   int
}

// horizon is how long writers run after the last step at most; a client
// that has not recovered by then is reported with a window this long.
const horizon = 10 * time.Second

// runFailover runs 4 writers (one SET of a unique key every millisecond
// each) on fresh servers through one failover, and stops once every writer
// has written again after the last step, or at the horizon.
func runFailover(t testing.TB, sc scenario, open func(testing.TB, *bed) *redis.Client) failoverResult {
	b := newBed(t, true, sc.tls)
	c := open(t, b)
	defer c.Close()
	const writers = 4
	type write struct {
		key  string
		done time.Time
	}
	var mu sync.Mutex
	var acked []write
	var last time.Time
	stepsDone := make(chan struct{}) // closed after the last step, when last is set
	stop := make(chan struct{})
	recovered := make([]chan struct{}, writers)
	var wg sync.WaitGroup
	for w := range writers {
		recovered[w] = make(chan struct{})
		wg.Add(1)
		go func() {
			defer wg.Done()
			var after time.Time
			signalled := false
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				case <-stepsDone:
					after = last
				default:
				}
				key := fmt.Sprintf("w%d:%d", w, i)
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				err := c.Set(ctx, key, "v", 0).Err()
				cancel()
				if err == nil {
					now := time.Now()
					mu.Lock()
					acked = append(acked, write{key, now})
					mu.Unlock()
					if !signalled && !after.IsZero() && now.After(after) {
						signalled = true
						close(recovered[w])
					}
				}
				time.Sleep(time.Millisecond)
			}
		}()
	}
	// Connect the admin clients now, so that the steps run back to back.
	if err := b.adminA(t).Ping(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // warm pools
	start := time.Now()
	for _, s := range sc.steps {
		time.Sleep(time.Until(start.Add(s.at)))
		s.do(t, b)
	}
	last = time.Now()
	close(stepsDone)
	wait, cancel := context.WithTimeout(context.Background(), horizon)
	defer cancel()
	for w := range writers {
		select {
		case <-recovered[w]:
		case <-wait.Done():
		}
	}
	close(stop)
	wg.Wait()

	var r failoverResult
	sort.Slice(acked, func(i, j int) bool { return acked[i].done.Before(acked[j].done) })
	prev := start
	for _, w := range acked {
		if w.done.After(start) && w.done.Sub(prev) > r.window {
			r.window = w.done.Sub(prev)
		}
		if w.done.After(prev) {
			prev = w.done
		}
	}
	if end := last.Add(horizon); len(acked) == 0 || acked[len(acked)-1].done.Before(last) {
		r.window = end.Sub(prev)
	}
	r.lost = countMissing(t, b.adminB(t), acked, func(w write) string { return w.key })
	return r
}

// countMissing counts the keys absent from the server behind c.
func countMissing[T any](t testing.TB, c *redis.Client, items []T, key func(T) string) int {
	t.Helper()
	ctx := context.Background()
	missing := 0
	for i := 0; i < len(items); i += 1000 {
		pipe := c.Pipeline()
		var cmds []*redis.IntCmd
		for _, it := range items[i:min(i+1000, len(items))] {
			cmds = append(cmds, pipe.Exists(ctx, key(it)))
		}
		if _, err := pipe.Exec(ctx); err != nil && !strings.Contains(err.Error(), "nil") {
			t.Fatalf("count missing keys: %v", err)
		}
		for _, cmd := range cmds {
			if cmd.Val() == 0 {
				missing++
			}
		}
	}
	return missing
}

// BenchmarkIdleCheck is what the client adds to each command: go-redis's
// check of an idle connection before use (here with no recheck due), which
// loopback round trips in BenchmarkGet are too noisy to show.
func BenchmarkIdleCheck(b *testing.B) {
	f := newFollower(Config{Addr: "redis.internal:6379"})
	f.lastLookup.Store(time.Now().Add(time.Hour).UnixNano())
	f.current.Store(&resolution{name: nameA, ips: []netip.Addr{netip.MustParseAddr(ipA)}})
	c := &trackedConn{f: f, seq: f.dials.Add(1), name: nameA, ip: netip.MustParseAddr(ipA)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.SyscallConn(); err != nil {
			b.Fatal(err)
		}
	}
}
