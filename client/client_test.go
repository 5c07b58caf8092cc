package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redisha/redisha/internal/check"
	"github.com/redisha/redisha/internal/sim/redisserver"
	"github.com/redisha/redisha/internal/testbed/redistest"
	"github.com/redisha/redisha/internal/testbed/wait"
)

func TestValidate(t *testing.T) {
	t.Parallel()
	cases := []struct {
		cfg  Config
		want string
	}{
		{Config{}, "Addr is empty"},
		{Config{Addr: "redis.internal"}, `Addr "redis.internal" is not host:port`},
		{Config{Addr: "redis.internal:0"}, "has no valid port"},
		{Config{Addr: "h:1", DB: -1}, "DB -1 is negative"},
		{Config{Addr: "h:1", PlainText: true, TLSNames: []string{"x"}}, "PlainText turns TLS off"},
		{Config{Addr: "h:1", TLS: true, TLSNames: []string{"x:1"}}, `TLSNames entry "x:1" is not a DNS name`},
		{Config{Addr: "h:1", TLSNames: []string{"*.*.x"}}, `is not a DNS name`},
		{Config{Addr: "h:1", TLS: true, PlainText: true}, "TLS and PlainText are both set"},
		{Config{Addr: "h:1", PlainText: true, Password: "t"}, "would send the AUTH token in clear"},
		{Config{Addr: "h:1", TLSAnyName: true, TLSNames: []string{"x"}}, "TLSAnyName and TLSNames are both set"},
		{Config{Addr: "h:1", IOTimeout: -time.Second}, "must not be negative"},
		{Config{Addr: "h:1", MaxRetries: -2}, "MaxRetries -2 is below -1"},
	}
	for _, tc := range cases {
		if err := tc.cfg.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.cfg, err, tc.want)
		}
		if _, err := New(tc.cfg); err == nil {
			t.Errorf("%+v: New accepted it", tc.cfg)
		}
	}
}

// The options that make a client follow a failover, and the defaults
// modelled on the design's Retry(ExponentialBackoff(cap=10, base=0.5), retries=5).
func TestOptionsDefaults(t *testing.T) {
	t.Parallel()
	o, err := Config{Addr: "redis.internal:6379", TLS: true}.Options()
	if err != nil {
		t.Fatal(err)
	}
	if o.MaxRetries != 5 || o.MinRetryBackoff != 500*time.Millisecond || o.MaxRetryBackoff != 10*time.Second {
		t.Errorf("retries %d, backoff %s..%s", o.MaxRetries, o.MinRetryBackoff, o.MaxRetryBackoff)
	}
	if o.ConnMaxLifetime != DefaultConnMaxLifetime || o.ConnMaxLifetimeJitter != DefaultConnMaxLifetime/10 {
		t.Errorf("lifetime %s ± %s", o.ConnMaxLifetime, o.ConnMaxLifetimeJitter)
	}
	if !o.DisableIdentity || o.MaintNotificationsConfig == nil || o.MaintNotificationsConfig.Mode != "disabled" || o.Protocol != 2 {
		t.Errorf("ElastiCache-incompatible features on: identity off %v, maint %+v, protocol %d", o.DisableIdentity, o.MaintNotificationsConfig, o.Protocol)
	}
	if o.Dialer == nil || o.OnConnect == nil || !o.ContextTimeoutEnabled || o.DialerRetries != 1 {
		t.Errorf("dialer %v, on connect %v, context timeouts %v, dial retries %d", o.Dialer != nil, o.OnConnect != nil, o.ContextTimeoutEnabled, o.DialerRetries)
	}
	if o.TLSConfig == nil || o.TLSConfig.InsecureSkipVerify || o.TLSConfig.ServerName != "" {
		t.Errorf("tls %+v: the name verified is the CNAME target at dial time, never fixed", o.TLSConfig)
	}
	o, _ = Config{Addr: "redis.internal:6379", ConnMaxLifetime: -1, MaxRetries: -1}.Options()
	if o.ConnMaxLifetime != 0 || o.MaxRetries != -1 {
		t.Errorf("lifetime %s, retries %d: negative means none", o.ConnMaxLifetime, o.MaxRetries)
	}
}

// A managed failover: B promoted, A demoted (READONLY from then on), and
// the name moved to B. Every write after it succeeds, on B, without a
// restart, although the pool held connections to A.
func TestFollowsFailover(t *testing.T) {
	b := newBed(t, true, false)
	c := newTestClient(t, b, Config{PoolSize: 4})
	ctx := context.Background()
	fill(t, c, 4)
	if err := c.Set(ctx, "before", "a", 0).Err(); err != nil {
		t.Fatal(err)
	}
	b.promoteB(t)
	b.demoteA(t)
	b.flip()
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 10; i++ {
				key := fmt.Sprintf("after:%d:%d", w, i)
				if err := c.Set(ctx, key, "b", 0).Err(); err != nil {
					errs <- fmt.Errorf("%s: %w (reason %s)", key, err, check.Classify(err))
				} else if !landedOn(t, b.adminB(t), key, "b") {
					errs <- fmt.Errorf("%s acknowledged but not on the new primary", key)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// The name moves while the old primary still accepts writes (DNS first,
// demotion later): plain go-redis keeps writing to the old endpoint on its
// pooled connections; this client rechecks the name and moves every
// connection to the new endpoint within a recheck, without an error.
func TestRecheckMovesPoolBeforeAnyError(t *testing.T) {
	b := newBed(t, false, false)
	ctx := context.Background()
	c := newTestClient(t, b, Config{PoolSize: 3, RecheckInterval: 50 * time.Millisecond})
	plain := redis.NewClient(plainOptions(b, ""))
	t.Cleanup(func() { _ = plain.Close() })
	fill(t, c, 3)
	fill(t, plain, 3)
	b.flip()

	i := 0
	wait.For(t, 5*time.Second, "writes to reach the new endpoint after the name moved", func() bool {
		i++
		key := fmt.Sprintf("k%d", i)
		if err := c.Set(ctx, key, "v", 0).Err(); err != nil {
			t.Fatalf("set after the name moved: %v", err)
		}
		return landedOn(t, b.adminB(t), key, "v")
	})
	// From then on every connection the pool hands out leads to B.
	fill(t, c, 3)
	for i := 0; i < 9; i++ {
		key := fmt.Sprintf("moved%d", i)
		if err := c.Set(ctx, key, "v", 0).Err(); err != nil || !landedOn(t, b.adminB(t), key, "v") {
			t.Fatalf("%s: %v, or not on the new endpoint", key, err)
		}
	}
	// Plain go-redis: pooled connections never resolve the name again.
	for i := 0; i < 9; i++ {
		key := fmt.Sprintf("plain%d", i)
		if err := plain.Set(ctx, key, "v", 0).Err(); err != nil || !landedOn(t, b.adminA(t), key, "v") {
			t.Fatalf("plain go-redis %s: %v, or not on the old endpoint (this test documents that it stays there)", key, err)
		}
	}
}

// A new connection that reaches a replica (the name still points at the
// demoted primary) is refused after ROLE, with an error that both go-redis
// and the checker's classifier treat as READONLY; once the name points at
// the writer, the next command succeeds.
func TestRoleCheckRefusesReplica(t *testing.T) {
	t.Parallel()
	b := newBed(t, true, false)
	ctx := context.Background()
	b.dns.CNAME(appName, nameB) // B is A's replica
	c := newTestClient(t, b, Config{MaxRetries: 1})
	err := c.Set(ctx, "k", "v", 0).Err()
	var re *ReplicaError
	if !errors.As(err, &re) || re.Endpoint != nameB || re.Role != "slave" {
		t.Fatalf("write through a replica: %v, want a ReplicaError naming %s", err, nameB)
	}
	if r := check.Classify(err); r != check.ReasonReadOnly {
		t.Errorf("classified %s, want readonly", r)
	}
	reader := newTestClient(t, b, Config{AllowReplica: true})
	if err := reader.Get(ctx, "k").Err(); err != redis.Nil {
		t.Errorf("AllowReplica read: %v, want redis.Nil", err)
	}
	b.dns.CNAME(appName, nameA)
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("write once the name points at the writer: %v", err)
	}
}

// A READONLY answer retires every pooled connection, so that none of them
// sends another write to the demoted primary: with no retries and no DNS
// recheck, the connections dialed before it report retired and the next
// writes, each on a connection of its own, all succeed once the name moves.
func TestReadOnlyRetiresPool(t *testing.T) {
	b := newBed(t, true, false)
	ctx := context.Background()
	cfg := Config{Addr: b.addr(), Resolver: b.dns.Resolver(), PoolSize: 3, MaxRetries: -1, RecheckInterval: -1, PlainText: true}
	o, f, err := cfg.build()
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var dialed []*trackedConn
	o.Dialer = func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := f.dial(ctx, network, addr)
		if err == nil {
			mu.Lock()
			dialed = append(dialed, conn.(*trackedConn))
			mu.Unlock()
		}
		return conn, err
	}
	c := redis.NewClient(o)
	c.AddHook(retireHook{f})
	t.Cleanup(func() { _ = c.Close() })
	fill(t, c, 3)
	b.promoteB(t)
	b.demoteA(t)
	if err := c.Set(ctx, "k", "v", 0).Err(); check.Classify(err) != check.ReasonReadOnly {
		t.Fatalf("write to the demoted primary: %v, want READONLY", err)
	}
	mu.Lock()
	for _, tc := range dialed {
		if !tc.retired() {
			t.Errorf("connection %d to %s not retired after READONLY", tc.seq, tc.name)
		}
	}
	mu.Unlock()
	b.flip()
	errs := make(chan error, 3)
	for i := 0; i < 3; i++ {
		go func() {
			// MULTI … EXEC holds its connection for the whole transaction.
			_, err := c.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.Set(ctx, fmt.Sprintf("after%d", i), "v", 0)
				return nil
			})
			errs <- err
		}()
	}
	for i := 0; i < 3; i++ {
		if err := <-errs; err != nil {
			t.Errorf("write after the name moved: %v", err)
		}
	}
}

// A command that finally fails READONLY or with a reset (ElastiCache drops
// a client that writes to a replica) retires the pool; other failures do not.
func TestHookRetiresOnReadOnlyAndReset(t *testing.T) {
	cases := []struct {
		err    error
		retire bool
	}{
		{redis.Nil, false},
		{io.EOF, true},
		{&ReplicaError{Endpoint: "x", Role: "slave"}, true},
		{redis.ErrClosed, true},
		{context.DeadlineExceeded, false},
		{context.Canceled, false},
		{&net.DNSError{Err: "no such host", Name: "redis.internal", IsNotFound: true}, false},
		{&net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, false},
		{errors.New("LOADING Redis is loading the dataset in memory"), false},
		{errors.New("OOM command not allowed"), false},
	}
	for _, tc := range cases {
		f := newFollower(Config{Addr: "h:1"})
		f.dials.Add(3)
		h := retireHook{f}
		err := h.ProcessHook(func(context.Context, redis.Cmder) error { return tc.err })(context.Background(), redis.NewCmd(context.Background()))
		if err != tc.err {
			t.Errorf("hook changed the error %v to %v", tc.err, err)
		}
		if got := f.retiredBelow.Load() == 4; got != tc.retire {
			t.Errorf("%v: retired %v, want %v", tc.err, got, tc.retire)
		}
	}
}

// A name without a CNAME works too: one from DNS, and localhost from the
// hosts file through the default resolver.
func TestPlainName(t *testing.T) {
	t.Parallel()
	b := newBed(t, false, false)
	b.dns.A(appName, ipA)
	c := newTestClient(t, b, Config{})
	if err := c.Set(context.Background(), "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	local := redistest.Start(t, redisserver.Options{})
	lc, err := New(Config{Addr: net.JoinHostPort("localhost", strconv.Itoa(local.Port)), PlainText: true})
	if err != nil {
		t.Fatal(err)
	}
	defer lc.Close()
	if err := lc.Set(context.Background(), "k", "v", 0).Err(); err != nil {
		t.Fatalf("localhost: %v", err)
	}
}
