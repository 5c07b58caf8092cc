// Package examples holds the tests of the example applications: the Python
// (redis-py) and Node (ioredis) writers run as real processes through a
// failover of real redis-servers behind a loopback DNS name, next to
// go-redis and the client package doing the same writes.
package examples

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redisha/redisha/client"
	"github.com/redisha/redisha/internal/sim/redisserver"
	"github.com/redisha/redisha/internal/testbed/dnstest"
	"github.com/redisha/redisha/internal/testbed/redistest"
)

func TestMain(m *testing.M) { redistest.Main(m) }

// The two regions' endpoints: the same port on two loopback addresses, so
// that only the DNS answer tells them apart, as for ElastiCache endpoints.
const (
	ipA      = "127.0.0.2"
	ipB      = "127.0.0.3"
	nameA    = "master.a.use1.cache.test"
	nameB    = "master.b.usw2.cache.test"
	appName  = "redis.internal"
	password = "s3cret-token"
	// interval is the writers' pause between writes, the same for every
	// application: one writer, about 100 writes a second.
	interval = 10 * time.Millisecond
	// opTimeout is each write's (and connect's) timeout.
	opTimeout = 2 * time.Second
	// horizon bounds the wait for an application's first write after the
	// failover's last step; one that has not written by then has not
	// followed it.
	horizon = 20 * time.Second
)

// bed is a primary A, its replica B (a Global Datastore's secondary), and a
// DNS zone where appName is a CNAME to A's endpoint name.
type bed struct {
	a, b     *redisserver.Server
	port     int
	dns      *dnstest.Server
	caBundle string         // with TLS: both endpoints' CAs, PEM
	cas      *x509.CertPool // the same, for Go clients
	pwFile   string         // the AUTH token, as a mounted secret holds it

	adminA, adminB *redis.Client
}

func newBed(t testing.TB, tlsOn bool) *bed {
	t.Helper()
	b := &bed{dns: dnstest.Start(t), pwFile: filepath.Join(t.TempDir(), "auth-token")}
	if err := os.WriteFile(b.pwFile, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	optsA := redisserver.Options{Password: password, Config: []string{"repl-diskless-sync-delay 0", "masterauth " + password}}
	optsB := optsA
	if tlsOn {
		// Each endpoint's certificate names that endpoint only, as on
		// ElastiCache; each server trusts both CAs, so B replicates A.
		ca, cb := redistest.NewCerts(t, nameA), redistest.NewCerts(t, nameB)
		both := readFile(t, ca.CAFile) + readFile(t, cb.CAFile)
		b.caBundle = filepath.Join(t.TempDir(), "cas.pem")
		if err := os.WriteFile(b.caBundle, []byte(both), 0o600); err != nil {
			t.Fatal(err)
		}
		b.cas = x509.NewCertPool()
		b.cas.AppendCertsFromPEM([]byte(both))
		ca.CAFile, cb.CAFile = b.caBundle, b.caBundle
		optsA.TLS, optsB.TLS = &ca.TLSFiles, &cb.TLSFiles
	}
	for attempt := 0; ; attempt++ {
		port, err := redisserver.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		oa, ob := optsA, optsB
		oa.Bind, oa.Port, ob.Bind, ob.Port = ipA, port, ipB, port
		ob.Config = append(append([]string(nil), ob.Config...), "replicaof "+ipA+" "+strconv.Itoa(port))
		if b.a, err = redisserver.Start(oa); err == nil {
			if b.b, err = redisserver.Start(ob); err == nil {
				b.port = port
				break
			}
			_ = b.a.Stop()
		}
		if attempt == 4 {
			t.Fatalf("start two servers on one port: %v", err)
		}
	}
	t.Cleanup(func() { _ = b.a.Stop(); _ = b.b.Stop() })
	b.dns.A(nameA, ipA)
	b.dns.A(nameB, ipB)
	b.dns.CNAME(appName, nameA)
	b.adminA, b.adminB = b.admin(t, b.a, nameA), b.admin(t, b.b, nameB)
	// B holds A's writes from here on: WAIT returns once B acknowledged one,
	// which a diskless sync holds back until its first acknowledgement.
	ctx := context.Background()
	if err := b.adminA.Set(ctx, "bed:streaming", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := b.adminA.Do(ctx, "WAIT", 1, 10000).Int(); err != nil || n != 1 {
		t.Fatalf("primary %s: replica acknowledged %d writes (%v) after 10s", b.a.Addr, n, err)
	}
	return b
}

func readFile(t testing.TB, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// admin is a direct client to one server, for arranging and counting.
func (b *bed) admin(t testing.TB, s *redisserver.Server, name string) *redis.Client {
	o := &redis.Options{Addr: s.Addr, Password: password, Protocol: 2, DisableIdentity: true,
		DialTimeout: 2 * time.Second, ReadTimeout: 5 * time.Second, MaxRetries: -1}
	if b.cas != nil {
		o.TLSConfig = &tls.Config{RootCAs: b.cas, ServerName: name, MinVersion: tls.VersionTLS12}
	}
	c := redis.NewClient(o)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func (b *bed) promoteB(t testing.TB) {
	if err := b.adminB.Do(context.Background(), "REPLICAOF", "NO", "ONE").Err(); err != nil {
		t.Fatalf("promote B: %v", err)
	}
}

func (b *bed) demoteA(t testing.TB) {
	if err := b.adminA.Do(context.Background(), "REPLICAOF", ipB, strconv.Itoa(b.port)).Err(); err != nil {
		t.Fatalf("demote A: %v", err)
	}
}

// flip points appName at B's endpoint, as the Route 53 failover record does.
func (b *bed) flip() { b.dns.CNAME(appName, nameB) }

// The failovers of client/bench_test.go: the managed failover and the DNS
// record in both orders, and the first over TLS.
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
	{name: "demote-then-flip", steps: []step{
		{0, func(t testing.TB, b *bed) { b.promoteB(t); b.demoteA(t) }},
		{500 * time.Millisecond, func(_ testing.TB, b *bed) { b.flip() }},
	}},
	{name: "flip-then-demote", steps: []step{
		{0, func(t testing.TB, b *bed) { b.promoteB(t); b.flip() }},
		{2 * time.Second, func(t testing.TB, b *bed) { b.demoteA(t) }},
	}},
	{name: "demote-then-flip-tls", tls: true, steps: []step{
		{0, func(t testing.TB, b *bed) { b.promoteB(t); b.demoteA(t) }},
		{500 * time.Millisecond, func(_ testing.TB, b *bed) { b.flip() }},
	}},
}

// record is one write as an application reports it: the JSON line the
// example programs print.
type record struct {
	Seq int    `json:"seq"`
	TMs int64  `json:"t_ms"`
	OK  bool   `json:"ok"`
	Err string `json:"err,omitempty"`
}

func (r record) at() time.Time { return time.UnixMilli(r.TMs) }

// recorder collects an application's records as they arrive.
type recorder struct {
	mu      sync.Mutex
	records []record
	changed chan struct{} // receives after each new record (buffer 1)
	done    chan struct{} // closed when the application has stopped writing
}

func newRecorder() *recorder {
	return &recorder{changed: make(chan struct{}, 1), done: make(chan struct{})}
}

func (r *recorder) add(rec record) {
	r.mu.Lock()
	r.records = append(r.records, rec)
	r.mu.Unlock()
	select {
	case r.changed <- struct{}{}:
	default:
	}
}

func (r *recorder) snapshot() []record {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]record(nil), r.records...)
}

// waitOK waits until n successful writes completed after since, and returns
// the time of the n-th; false when the application stopped or within is
// over first.
func (r *recorder) waitOK(since time.Time, n int, within time.Duration) (time.Time, bool) {
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	for {
		seen := 0
		for _, rec := range r.snapshot() {
			if rec.OK && rec.at().After(since) {
				if seen++; seen == n {
					return rec.at(), true
				}
			}
		}
		select {
		case <-r.changed:
		case <-r.done:
			return time.Time{}, false
		case <-deadline.C:
			return time.Time{}, false
		}
	}
}

// An app writes sequence-numbered keys under prefix through appName until
// stopped; stop returns an error when it did not stop cleanly.
type app struct {
	name  string
	start func(t testing.TB, b *bed, prefix string, rec *recorder) (stop func() error)
}

// The example programs' command lines.
var (
	pythonWriter = func(t testing.TB) []string { return []string{python(t), "python/writer.py"} }
	nodeWriter   = func(t testing.TB) []string { return []string{node(t), "node/writer.js"} }
)

var apps = []app{
	{"python", startProcess(pythonWriter)},
	{"node", startProcess(nodeWriter)},
	// go-redis with its defaults, resolving the name on each dial; with TLS it
	// verifies the name the record pointed to before the failover, as an
	// application with a fixed server name does.
	{"go-redis", startGo(func(t testing.TB, b *bed) *redis.Client {
		d := b.dns.Resolver()
		o := &redis.Options{Addr: b.addr(), Password: password, Protocol: 2, DisableIdentity: true,
			DialTimeout: opTimeout, ReadTimeout: opTimeout, WriteTimeout: opTimeout}
		o.Dialer = func(ctx context.Context, network, addr string) (net.Conn, error) {
			return dialVia(ctx, d, network, addr, b.cas, nameA)
		}
		return redis.NewClient(o)
	})},
	{"client", startGo(func(t testing.TB, b *bed) *redis.Client {
		cfg := client.Config{Addr: b.addr(), Password: password, Resolver: b.dns.Resolver()}
		if b.cas != nil {
			cfg.TLS, cfg.RootCAs = true, b.cas
		}
		c, err := client.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return c
	})},
}

func (b *bed) addr() string { return appName + ":" + strconv.Itoa(b.port) }

// startProcess runs an example program with the interface both share:
// settings from the environment, one JSON line per write on stdout, a clean
// exit on SIGTERM.
func startProcess(argv func(testing.TB) []string) func(testing.TB, *bed, string, *recorder) func() error {
	return func(t testing.TB, b *bed, prefix string, rec *recorder) func() error {
		args := argv(t)
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Env = []string{
			"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
			"REDIS_HOST=" + appName, "REDIS_PORT=" + strconv.Itoa(b.port),
			"REDIS_TLS=" + strconv.FormatBool(b.cas != nil), "REDIS_TLS_CA_FILE=" + b.caBundle,
			"REDIS_PASSWORD_FILE=" + b.pwFile, "KEY_PREFIX=" + prefix,
			"INTERVAL_MS=" + strconv.Itoa(int(interval.Milliseconds())),
			"TIMEOUT_MS=" + strconv.Itoa(int(opTimeout.Milliseconds())),
			"REDIS_DNS_SERVER=" + b.dns.Addr,
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatalf("start %s: %v", strings.Join(args, " "), err)
		}
		exited := make(chan error, 1)
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				var r record
				if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
					t.Errorf("%s printed a line that is not a record: %q (%v)", args[1], sc.Text(), err)
					continue
				}
				rec.add(r)
			}
			close(rec.done)
			exited <- cmd.Wait()
		}()
		var once sync.Once
		var stopErr error
		stop := func() error {
			once.Do(func() {
				_ = cmd.Process.Signal(syscall.SIGTERM)
				select {
				case err := <-exited:
					if err != nil {
						stopErr = fmt.Errorf("%s did not exit cleanly on SIGTERM: %v; its stderr:\n%s", args[1], err, lastLines(stderr.String(), 20))
					}
				case <-time.After(10 * time.Second):
					_ = cmd.Process.Kill()
					<-exited
					stopErr = fmt.Errorf("%s still ran 10s after SIGTERM (killed); its stderr:\n%s", args[1], lastLines(stderr.String(), 20))
				}
			})
			return stopErr
		}
		t.Cleanup(func() { _ = stop() })
		return stop
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// startGo runs the same writer loop in this process on a go-redis client.
func startGo(open func(testing.TB, *bed) *redis.Client) func(testing.TB, *bed, string, *recorder) func() error {
	return func(t testing.TB, b *bed, prefix string, rec *recorder) func() error {
		c := open(t, b)
		quit := make(chan struct{})
		go func() {
			defer close(rec.done)
			for seq := 1; ; seq++ {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				err := c.Set(ctx, prefix+strconv.Itoa(seq), seq, 0).Err()
				cancel()
				rec.add(record{Seq: seq, TMs: time.Now().UnixMilli(), OK: err == nil})
				select {
				case <-quit:
					return
				case <-time.After(interval): // the writers' pace, not a synchronisation
				}
			}
		}()
		var once sync.Once
		stop := func() error {
			once.Do(func() { close(quit); <-rec.done; _ = c.Close() })
			return nil
		}
		t.Cleanup(func() { _ = stop() })
		return stop
	}
}

// result is what the writers saw of one failover.
type result struct {
	recovered bool
	window    time.Duration // the longest time without a successful write, from the failover's start
	lost      int           // acknowledged writes missing from the new primary
	failed    map[string]int
}

// runFailover runs one application through one failover on fresh servers.
func runFailover(t testing.TB, sc scenario, a app) result {
	b := newBed(t, sc.tls)
	rec := newRecorder()
	prefix := "app:" + a.name + ":"
	stop := a.start(t, b, prefix, rec)
	// Warm: the application connected and writes steadily.
	if _, ok := rec.waitOK(time.Time{}, 20, 30*time.Second); !ok {
		_ = stop()
		t.Fatalf("%s: no 20 successful writes before the failover: %+v", a.name, tail(rec.snapshot(), 5))
	}
	start := time.Now()
	for _, s := range sc.steps {
		time.Sleep(time.Until(start.Add(s.at))) // the scenario's own timing
		s.do(t, b)
	}
	last := time.Now()
	_, recovered := rec.waitOK(last, 3, horizon)
	if err := stop(); err != nil {
		t.Error(err)
	}

	r := result{recovered: recovered, failed: map[string]int{}}
	records := rec.snapshot()
	prev := start
	var keys []string
	for _, w := range records {
		if !w.OK {
			if w.at().After(start) {
				r.failed[cmpOr(w.Err, "error")]++
			}
			continue
		}
		keys = append(keys, prefix+strconv.Itoa(w.Seq))
		if w.at().After(start) && w.at().Sub(prev) > r.window {
			r.window = w.at().Sub(prev)
		}
		if w.at().After(prev) {
			prev = w.at()
		}
	}
	if !recovered {
		r.window = last.Add(horizon).Sub(start)
	}
	r.lost = countMissing(t, b.adminB, keys)
	return r
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func tail(rs []record, n int) []record { return rs[max(0, len(rs)-n):] }

// countMissing counts the keys absent from the server behind c.
func countMissing(t testing.TB, c *redis.Client, keys []string) int {
	ctx := context.Background()
	missing := 0
	for i := 0; i < len(keys); i += 1000 {
		pipe := c.Pipeline()
		var cmds []*redis.IntCmd
		for _, k := range keys[i:min(i+1000, len(keys))] {
			cmds = append(cmds, pipe.Exists(ctx, k))
		}
		if _, err := pipe.Exec(ctx); err != nil {
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

// Each example program follows each failover: it writes again on the new
// primary after the last step, through the name, with TLS verified against
// the new endpoint's certificate, and exits cleanly on SIGTERM.
func TestExamplesFollowFailover(t *testing.T) {
	for _, a := range apps[:2] {
		for _, sc := range scenarios {
			t.Run(a.name+"/"+sc.name, func(t *testing.T) {
				r := runFailover(t, sc, a)
				if !r.recovered {
					t.Fatalf("%s never wrote again within %s of the failover's last step (failed writes by reason: %v)", a.name, horizon, r.failed)
				}
				t.Logf("%s %s: window %d ms, %d lost writes, failed writes by reason %v",
					a.name, sc.name, r.window.Milliseconds(), r.lost, r.failed)
			})
		}
	}
}

// BenchmarkExamplesFailover measures, per failover, the window without a
// successful write (window-ms) and the acknowledged writes missing from the
// new primary (lost-writes) of each application: the two example programs
// beside go-redis and the client package doing the same writes (one writer,
// one SET every 10 ms). Run with -benchtime=3x; each iteration is one
// failover on fresh servers.
func BenchmarkExamplesFailover(b *testing.B) {
	for _, sc := range scenarios {
		for _, a := range apps {
			b.Run(sc.name+"/"+a.name, func(b *testing.B) {
				var window time.Duration
				var lost, n int
				for b.Loop() {
					r := runFailover(b, sc, a)
					window += r.window
					lost += r.lost
					n++
				}
				b.ReportMetric(float64(window.Milliseconds())/float64(n), "window-ms")
				b.ReportMetric(float64(lost)/float64(n), "lost-writes")
			})
		}
	}
}

// python is an interpreter that has the redis package (Debian's
// python3-redis installs it for /usr/bin/python3, which a python3 earlier on
// PATH may not see).
func python(t testing.TB) string {
	var tried []string
	for _, p := range []string{"/usr/bin/python3", "python3"} {
		if out, err := exec.Command(p, "-c", "import redis, sys; sys.exit(tuple(int(x) for x in redis.__version__.split('.')[:2]) < (4, 3))").CombinedOutput(); err == nil {
			return p
		} else {
			tried = append(tried, fmt.Sprintf("%s: %v %s", p, err, strings.TrimSpace(lastLines(string(out), 1))))
		}
	}
	t.Fatalf("no python3 with redis-py 4.3 or later (%s): run make deps-examples (apt-get install python3-redis)", strings.Join(tried, "; "))
	return ""
}

// node is the node binary, once examples/node's pinned modules are installed.
func node(t testing.TB) string {
	p, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node not found: run make deps-examples (apt-get install nodejs npm): %v", err)
	}
	if _, err := os.Stat("node/node_modules/ioredis/package.json"); errors.Is(err, os.ErrNotExist) {
		t.Fatal("examples/node has no node_modules/ioredis: run make deps-examples (npm ci in examples/node)")
	}
	return p
}

// dialVia dials addr resolving its name through r, as go-redis's own dialer
// does with the system resolver; with cas, TLS verifies serverName.
func dialVia(ctx context.Context, r *net.Resolver, network, addr string, cas *x509.CertPool, serverName string) (net.Conn, error) {
	d := &net.Dialer{Timeout: opTimeout, Resolver: r}
	conn, err := d.DialContext(ctx, network, addr)
	if err != nil || cas == nil {
		return conn, err
	}
	tc := tls.Client(conn, &tls.Config{RootCAs: cas, ServerName: serverName, MinVersion: tls.VersionTLS12})
	if err := tc.HandshakeContext(ctx); err != nil {
		_ = conn.Close()
		return nil, err
	}
	return tc, nil
}

// A bad setting stops both programs before they connect: exit code 2 and a
// message naming the variable, as the Lambda and the CLI do.
func TestExamplesRefuseBadSettings(t *testing.T) {
	for _, a := range []struct {
		name string
		argv func(testing.TB) []string
	}{
		{"python", pythonWriter},
		{"node", nodeWriter},
	} {
		for _, tc := range []struct{ env, want string }{
			{"REDIS_PORT=http", "REDIS_PORT="},
			{"INTERVAL_MS=-5", "INTERVAL_MS="},
			{"REDIS_TLS=maybe", "REDIS_TLS="},
			{"REDIS_PASSWORD_FILE=/nonexistent/token", "REDIS_PASSWORD_FILE=/nonexistent/token"},
			{"REDIS_DNS_SERVER=localhost", "REDIS_DNS_SERVER="},
		} {
			t.Run(a.name+"/"+tc.env, func(t *testing.T) {
				args := a.argv(t)
				cmd := exec.Command(args[0], args[1:]...)
				cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "REDIS_HOST=127.0.0.1", tc.env}
				out, err := cmd.CombinedOutput()
				var exit *exec.ExitError
				if !errors.As(err, &exit) || exit.ExitCode() != 2 || !strings.Contains(string(out), tc.want) {
					t.Errorf("%s with %s: %v, output %q; want exit code 2 naming %s", a.name, tc.env, err, out, tc.want)
				}
			})
		}
	}
}
