// Package redistest is the test bed: real redis-server processes (plain,
// TLS, ACL, replicas) on free loopback ports, an in-process toxiproxy for
// network faults, and assertions that no health-check key is left behind.
// Everything a helper starts is stopped by t.Cleanup.
package redistest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/redisha/redisha/internal/redisconn"
	"github.com/redisha/redisha/internal/sim/redisserver"
)

// Start starts a redis-server for the test and stops it at cleanup. A
// missing redis-server fails the test loudly: `make test` installs it.
func Start(t testing.TB, o redisserver.Options) *redisserver.Server {
	t.Helper()
	s, err := redisserver.Start(o)
	if err != nil {
		t.Fatalf("start redis-server: %v", err)
	}
	t.Cleanup(func() { _ = s.Stop() })
	return s
}

// Admin returns a plain client to srv for arranging and asserting, closed at
// cleanup. password may be empty; tlsCA is the CA file for a TLS server.
func Admin(t testing.TB, addr, password string, tlsCA string) *redis.Client {
	t.Helper()
	o := &redis.Options{Addr: addr, Password: password, Protocol: 2, DisableIdentity: true,
		DialTimeout: 2 * time.Second, ReadTimeout: 5 * time.Second, MaxRetries: 2}
	if tlsCA != "" {
		o.TLSConfig = ClientTLS(t, tlsCA, "localhost")
	}
	c := redis.NewClient(o)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// StartReplica starts a replica of primary and waits until its link is up.
func StartReplica(t testing.TB, primary *redisserver.Server, password string) *redisserver.Server {
	t.Helper()
	// Redis waits 5 s by default before a diskless full sync, for more
	// replicas to join; a test has only this one.
	if err := Admin(t, primary.Addr, password, "").ConfigSet(context.Background(), "repl-diskless-sync-delay", "0").Err(); err != nil {
		t.Fatalf("primary %s: config set repl-diskless-sync-delay: %v", primary.Addr, err)
	}
	r := Start(t, redisserver.Options{Password: password,
		Config: []string{"replicaof 127.0.0.1 " + strconv.Itoa(primary.Port)}})
	WaitReplicaLink(t, r.Addr, password)
	return r
}

// WaitReplicaLink waits up to 10 s for master_link_status:up on addr.
func WaitReplicaLink(t testing.TB, addr, password string) {
	t.Helper()
	c := Admin(t, addr, password, "")
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		info, _ := c.Info(context.Background(), "replication").Result()
		if strings.Contains(info, "master_link_status:up") {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("replica %s: link to primary not up after 10s", addr)
}

// WaitReplicaCaughtUp waits up to 10 s until the replica at replicaAddr has
// processed the primary's replication stream up to the primary's offset at
// the time of the call.
func WaitReplicaCaughtUp(t testing.TB, primaryAddr, replicaAddr, password string) {
	t.Helper()
	want := replOffset(t, Admin(t, primaryAddr, password, ""), "master_repl_offset")
	r := Admin(t, replicaAddr, password, "")
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if replOffset(t, r, "slave_repl_offset") >= want {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("replica %s: not caught up with offset %d of %s after 10s", replicaAddr, want, primaryAddr)
}

// replOffset reads one offset field of INFO replication (-1 when absent).
func replOffset(t testing.TB, c *redis.Client, field string) int64 {
	t.Helper()
	info, err := c.Info(context.Background(), "replication").Result()
	if err != nil {
		t.Fatalf("info replication: %v", err)
	}
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err == nil {
				return n
			}
		}
	}
	return -1
}

// AssertNoKeys fails the test when any key under prefix exists in any
// database of the server at addr.
func AssertNoKeys(t testing.TB, c *redis.Client, prefix string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	keys := LeftoverKeys(ctx, t, c, prefix)
	if len(keys) > 0 {
		t.Errorf("keys left behind under %q: %v", prefix, keys)
	}
}

// LeftoverKeys lists the keys under prefix in db 0..15, skipping excluded
// ones (e.g. a heartbeat that is meant to stay).
func LeftoverKeys(ctx context.Context, t testing.TB, c *redis.Client, prefix string, exclude ...string) []string {
	t.Helper()
	var out []string
	for db := 0; db < 16; db++ {
		pipe := c.Pipeline()
		pipe.Select(ctx, db)
		scan := pipe.Keys(ctx, prefix+"*")
		pipe.Select(ctx, 0)
		if _, err := pipe.Exec(ctx); err != nil {
			t.Fatalf("list keys in db %d: %v", db, err)
		}
	next:
		for _, k := range scan.Val() {
			for _, x := range exclude {
				if k == x {
					continue next
				}
			}
			out = append(out, strconv.Itoa(db)+":"+k)
		}
	}
	return out
}

// Certs are PEM files for a TLS test server, signed by a test CA.
type Certs struct {
	redisserver.TLSFiles
}

// NewCerts writes a CA and a server certificate valid for the given DNS
// names (and 127.0.0.1) into a temporary directory.
func NewCerts(t testing.TB, dnsNames ...string) Certs {
	t.Helper()
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "redisha test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	must(t, err)
	caCert, err := x509.ParseCertificate(caDER)
	must(t, err)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: dnsNames0(dnsNames)},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		DNSNames: dnsNames, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	must(t, err)
	keyDER, err := x509.MarshalECPrivateKey(key)
	must(t, err)
	c := Certs{redisserver.TLSFiles{
		CertFile: filepath.Join(dir, "server.crt"),
		KeyFile:  filepath.Join(dir, "server.key"),
		CAFile:   filepath.Join(dir, "ca.crt"),
	}}
	writePEM(t, c.CertFile, "CERTIFICATE", der)
	writePEM(t, c.KeyFile, "EC PRIVATE KEY", keyDER)
	writePEM(t, c.CAFile, "CERTIFICATE", caDER)
	return c
}

func dnsNames0(n []string) string {
	if len(n) == 0 {
		return "localhost"
	}
	return n[0]
}

func writePEM(t testing.TB, path, typ string, der []byte) {
	t.Helper()
	must(t, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600))
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// Proxy is an in-process toxiproxy in front of one upstream.
type Proxy struct {
	// Addr is where clients connect (127.0.0.1:port).
	Addr  string
	proxy *toxiproxy.Proxy
}

// NewProxy starts a toxiproxy listening on a free loopback port and
// forwarding to upstream; it stops at cleanup.
func NewProxy(t testing.TB, upstream string) *Proxy {
	t.Helper()
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	p := toxiproxy.NewProxy(srv, t.Name(), "127.0.0.1:0", upstream)
	if err := p.Start(); err != nil {
		t.Fatalf("start toxiproxy: %v", err)
	}
	t.Cleanup(p.Stop)
	return &Proxy{Addr: p.Listen, proxy: p}
}

// AddToxic adds a toxic given as toxiproxy JSON, e.g.
// {"name":"lat","type":"latency","stream":"downstream","attributes":{"latency":50}}.
func (p *Proxy) AddToxic(t testing.TB, toxicJSON string) {
	t.Helper()
	if _, err := p.proxy.Toxics.AddToxicJson(strings.NewReader(toxicJSON)); err != nil {
		t.Fatalf("add toxic %s: %v", toxicJSON, err)
	}
}

// RemoveToxic removes a toxic by name.
func (p *Proxy) RemoveToxic(t testing.TB, name string) {
	t.Helper()
	if err := p.proxy.Toxics.RemoveToxic(context.Background(), name); err != nil {
		t.Fatalf("remove toxic %s: %v", name, err)
	}
}

// Disable stops the proxy listening and closes its connections (refused).
func (p *Proxy) Disable() { p.proxy.Stop() }

// Enable starts the proxy again on the same address.
func (p *Proxy) Enable(t testing.TB) {
	t.Helper()
	p.proxy.Listen = p.Addr
	if err := p.proxy.Start(); err != nil {
		t.Fatalf("restart toxiproxy: %v", err)
	}
}

// ClientTLS returns a client TLS config trusting the CA in caFile.
func ClientTLS(t testing.TB, caFile, serverName string) *tls.Config {
	t.Helper()
	pemBytes, err := os.ReadFile(caFile)
	must(t, err)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemBytes)
	return &tls.Config{RootCAs: pool, ServerName: serverName, MinVersion: tls.VersionTLS12}
}

// Main runs a package's tests with go-redis's own log silenced (the tests
// assert every failure from results; the library's dial lines would only
// repeat them). Call it from TestMain.
func Main(m *testing.M) {
	redisconn.QuietGoRedisLogger()
	os.Exit(m.Run())
}
