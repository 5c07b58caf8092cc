// Package sweep checks every database index of an endpoint, one result per
// DB: the cron-driven per-DB PING of the upgrade runbook, with timeouts and,
// on request, a no-leftover write/read on each DB. In cluster mode (one DB)
// it checks DB 0 on every shard's primary.
package sweep

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redisha/redisha/internal/check"
	"github.com/redisha/redisha/internal/fielderr"
	"github.com/redisha/redisha/internal/redisconn"
)

// DefaultDatabases is the count assumed when the server will not say
// (ElastiCache blocks CONFIG) — Redis's default.
const DefaultDatabases = 16

// Config shapes a sweep.
type Config struct {
	// Conn is the endpoint; its DB is ignored.
	Conn redisconn.Config
	// DBs to check; nil means all the server has.
	DBs []int
	// RW adds a write/read (SET NX PX, GET, DEL of a unique key) per DB.
	RW bool
	// Timeout bounds each DB's check. default: 2 seconds
	Timeout time.Duration
	// Prefix of the write/read keys. default: healthcheck:
	Prefix string
}

// Result is one DB's (or one shard's) outcome.
type Result struct {
	// Target is the address checked (the endpoint, or a shard's primary).
	Target    string       `json:"target"`
	DB        int          `json:"db"`
	OK        bool         `json:"ok"`
	LatencyMS float64      `json:"latency_ms"`
	Step      check.Step   `json:"failed_step,omitempty"`
	Reason    check.Reason `json:"reason,omitempty"`
	Error     string       `json:"error,omitempty"`
}

// Report is a whole sweep.
type Report struct {
	Time    time.Time `json:"time"`
	Cluster bool      `json:"cluster"`
	// DatabasesFrom says where the DB count came from: "flag", "config"
	// (CONFIG GET databases), "default" (CONFIG refused, as on ElastiCache:
	// 16 assumed), "unreachable" (no answer: 16 assumed) or "cluster".
	DatabasesFrom string   `json:"databases_from"`
	Results       []Result `json:"results"`
}

// Failed counts the results that were not OK.
func (r Report) Failed() int {
	n := 0
	for _, x := range r.Results {
		if !x.OK {
			n++
		}
	}
	return n
}

// DefaultTimeout bounds each DB's check when Config.Timeout is zero.
const DefaultTimeout = 2 * time.Second

// FieldError is a Config field that cannot work (Field is one of the
// Field constants, named as the CLI's flags are).
type FieldError = fielderr.Error

// Config fields a FieldError can be about.
const (
	FieldTimeout = "timeout"
	FieldPrefix  = "prefix"
	FieldDBs     = "dbs"
)

func (c Config) withDefaults() Config {
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Prefix == "" {
		c.Prefix = check.DefaultPrefix
	}
	c.Conn.DB, c.Conn.DialTimeout, c.Conn.IOTimeout = 0, c.Timeout, c.Timeout
	return c
}

// Validate reports the first field that cannot work: a *FieldError for the
// sweep's own fields, redisconn's error for Conn (its DB is ignored). Zero
// values stand for the defaults.
func (c Config) Validate() error {
	c = c.withDefaults()
	if c.Timeout < 0 {
		return fielderr.New(FieldTimeout, "must be positive, e.g. 2s")
	}
	if err := check.ValidatePrefix(c.Prefix); err != nil {
		return &FieldError{Field: FieldPrefix, Err: err}
	}
	for _, db := range c.DBs {
		if db < 0 {
			return fielderr.New(FieldDBs, "%d is negative: use DB indexes of 0 or more", db)
		}
	}
	return c.Conn.Validate()
}

// Run validates the config and sweeps the endpoint.
func Run(ctx context.Context, cfg Config) (Report, error) {
	if err := cfg.Validate(); err != nil {
		return Report{}, err
	}
	cfg = cfg.withDefaults()
	conn := cfg.Conn
	rep := Report{Time: time.Now()}

	admin, err := redisconn.New(conn)
	if err != nil {
		return rep, err
	}
	defer admin.Close()
	if masters, ok := clusterMasters(ctx, admin, cfg.Timeout); ok {
		rep.Cluster, rep.DatabasesFrom = true, "cluster"
		for _, m := range masters {
			node := conn
			node.Addr = m.addr
			if node.TLS && node.TLSServerName == "" {
				// Nodes are dialed by IP; verify the name the user gave.
				node.TLSServerName, _, _ = net.SplitHostPort(conn.Addr)
			}
			nodeCfg := cfg
			// The write/read key must hash to a slot this primary owns.
			nodeCfg.Prefix = cfg.Prefix + "{" + tagForSlot(m.slot) + "}:"
			rep.Results = append(rep.Results, checkDB(ctx, node, 0, nodeCfg))
		}
		return rep, nil
	}

	dbs := cfg.DBs
	rep.DatabasesFrom = "flag"
	if dbs == nil {
		n, from := databases(ctx, admin, cfg.Timeout)
		rep.DatabasesFrom = from
		for i := 0; i < n; i++ {
			dbs = append(dbs, i)
		}
	}
	for _, db := range dbs {
		c := conn
		c.DB = db
		rep.Results = append(rep.Results, checkDB(ctx, c, db, cfg))
	}
	return rep, nil
}

// checkDB checks one DB on a client of its own (SELECT happens on connect).
func checkDB(ctx context.Context, conn redisconn.Config, db int, cfg Config) Result {
	res := Result{Target: conn.Addr, DB: db}
	c, err := redisconn.New(conn)
	if err != nil {
		res.Reason, res.Error = check.ReasonUnknown, err.Error()
		return res
	}
	defer c.Close()
	cctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	if cfg.RW {
		r := check.Check(cctx, c, check.Options{Prefix: cfg.Prefix, ExpectRole: check.Primary})
		res.OK, res.LatencyMS, res.Step, res.Reason, res.Error = r.Healthy, r.LatencyMS, r.Step, r.Reason, r.Error
		return res
	}
	start := time.Now()
	v, err := c.Ping(cctx).Result()
	res.LatencyMS = check.Milliseconds(time.Since(start))
	switch {
	case err != nil:
		res.Step, res.Reason, res.Error = check.StepPing, check.Classify(err), err.Error()
	case v != "PONG":
		res.Step, res.Reason, res.Error = check.StepPing, check.ReasonMismatch, fmt.Sprintf("ping answered %q", v)
	default:
		res.OK = true
	}
	return res
}

// databases asks the server how many DBs it has. ElastiCache refuses
// CONFIG ("default": Redis's default of 16 is assumed); a server that does
// not answer at all gets the same 16 ("unreachable"), each then reported
// with its own failure.
func databases(ctx context.Context, c *redis.Client, timeout time.Duration) (int, string) {
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	m, err := c.ConfigGet(cctx, "databases").Result()
	if err == nil {
		if n, err := strconv.Atoi(m["databases"]); err == nil && n > 0 {
			return n, "config"
		}
	}
	if err != nil && check.Classify(err).Connection() {
		return DefaultDatabases, "unreachable"
	}
	return DefaultDatabases, "default"
}

type master struct {
	addr string
	slot int // one slot it serves
}

// clusterMasters lists the shards' primaries when cluster mode is on.
func clusterMasters(ctx context.Context, c *redis.Client, timeout time.Duration) ([]master, bool) {
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	info, err := c.Info(cctx, "cluster").Result()
	if err != nil || !strings.Contains(info, "cluster_enabled:1") {
		return nil, false
	}
	nodes, err := c.ClusterNodes(cctx).Result()
	if err != nil {
		return nil, false
	}
	return parseMasters(nodes), true
}

// parseMasters reads CLUSTER NODES: "<id> <ip:port@cport[,host]> <flags>
// <master> <ping> <pong> <epoch> <link> <slot> <slot-range> …". Primaries
// without slots serve no data and are skipped.
func parseMasters(nodes string) []master {
	var out []master
	for _, line := range strings.Split(nodes, "\n") {
		f := strings.Fields(line)
		if len(f) < 9 || !strings.Contains(f[2], "master") || strings.Contains(f[2], "fail") {
			continue
		}
		addr, _, _ := strings.Cut(f[1], "@")
		lo, _, _ := strings.Cut(f[8], "-")
		slot, err := strconv.Atoi(lo)
		if addr == "" || strings.HasPrefix(addr, ":") || err != nil {
			continue
		}
		out = append(out, master{addr: addr, slot: slot})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].addr < out[j].addr })
	return out
}

// tagForSlot finds a short hash tag whose key slot is slot.
func tagForSlot(slot int) string {
	for i := 0; ; i++ {
		tag := strconv.Itoa(i)
		if int(crc16(tag))%16384 == slot {
			return tag
		}
	}
}

// crc16 is the CRC16-CCITT (XMODEM) of Redis Cluster's key slots.
func crc16(s string) uint16 {
	var crc uint16
	for i := 0; i < len(s); i++ {
		crc ^= uint16(s[i]) << 8
		for b := 0; b < 8; b++ {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

// ParseDBs reads a DB list such as "0-15" or "0,3,5-7".
func ParseDBs(s string) ([]int, error) {
	var out []int
	seen := map[int]bool{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		a, err1 := strconv.Atoi(lo)
		b := a
		var err2 error
		if isRange {
			b, err2 = strconv.Atoi(hi)
		}
		if err1 != nil || err2 != nil || a < 0 || b < a {
			return nil, fmt.Errorf("%q is not a DB index or range: write e.g. 0-15 or 0,3,5-7", part)
		}
		if b-a > 10000 {
			return nil, errors.New("range too large: at most 10000 DBs")
		}
		for i := a; i <= b; i++ {
			if !seen[i] {
				seen[i] = true
				out = append(out, i)
			}
		}
	}
	return out, nil
}
