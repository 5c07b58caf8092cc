package dualwrite

import (
	"context"
	"errors"
	"hash/maphash"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Target is the client of the new deployment that writes are mirrored to:
// a *redis.Client, *redis.ClusterClient or *redis.Ring. Do not add the
// Mirror to it.
type Target interface {
	Do(ctx context.Context, args ...interface{}) *redis.Cmd
	Pipelined(ctx context.Context, fn func(redis.Pipeliner) error) ([]redis.Cmder, error)
	TxPipelined(ctx context.Context, fn func(redis.Pipeliner) error) ([]redis.Cmder, error)
}

// Options shape a Mirror.
type Options struct {
	// Target receives the mirrored writes. Required.
	Target Target
	// QueueSize is the number of writes waiting to be mirrored, over all
	// workers; beyond it writes are dropped (counted, OnDrop called).
	// default: 10000
	QueueSize int
	// Workers is the number of writes mirrored at once. Writes whose first
	// key is the same go to the same worker, so they stay in order.
	// default: 4
	Workers int
	// Timeout bounds each mirrored write; the target client must honour
	// context deadlines (ContextTimeoutEnabled: true) for it to cut a
	// stalled write short. default: 1 second
	Timeout time.Duration
	// IsWrite says whether a command (lowercase name, e.g. "hset") is
	// mirrored. default: IsWrite
	IsWrite func(name string) bool
	// OnError is called from a worker after a mirrored write failed, e.g.
	// to count a metric. It must not block. default: none
	OnError func(name string, err error)
	// OnDrop is called when a write was not mirrored because the queue was
	// full or the mirror closed. It must not block. default: none
	OnDrop func(name string)
}

// Stats are the mirror's counters since it was created.
type Stats struct {
	// Mirrored counts writes the target accepted.
	Mirrored int64
	// Dropped counts writes not mirrored (queue full or mirror closed).
	Dropped int64
	// Errors counts mirrored writes the target refused or did not answer.
	Errors int64
	// Queued is the number of writes waiting now.
	Queued int64
}

// Mirror is a redis.Hook that mirrors writes to a second deployment.
type Mirror struct {
	o      Options
	queues []chan item
	seed   maphash.Seed
	wg     sync.WaitGroup

	mu     sync.RWMutex // guards closed against sends on closed queues
	closed bool

	mirrored, dropped, errs, queued atomic.Int64
}

var _ redis.Hook = (*Mirror)(nil)

// item is one write, or the writes of one MULTI/EXEC transaction.
type item struct {
	name string
	cmds [][]interface{}
	tx   bool
}

// ErrNoTarget is returned by NewMirror without Options.Target.
var ErrNoTarget = errors.New("dualwrite: Options.Target is nil: give the client of the new deployment")

// NewMirror starts the mirror's workers. Add it to the old deployment's
// client with AddHook, and Close it at shutdown.
func NewMirror(o Options) (*Mirror, error) {
	if o.Target == nil {
		return nil, ErrNoTarget
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 10000
	}
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.Timeout <= 0 {
		o.Timeout = time.Second
	}
	if o.IsWrite == nil {
		o.IsWrite = IsWrite
	}
	m := &Mirror{o: o, seed: maphash.MakeSeed(), queues: make([]chan item, o.Workers)}
	per := max(1, o.QueueSize/o.Workers)
	for i := range m.queues {
		m.queues[i] = make(chan item, per)
		m.wg.Add(1)
		go m.work(m.queues[i])
	}
	return m, nil
}

// Stats returns the counters.
func (m *Mirror) Stats() Stats {
	return Stats{Mirrored: m.mirrored.Load(), Dropped: m.dropped.Load(), Errors: m.errs.Load(), Queued: m.queued.Load()}
}

// Close stops accepting writes and waits until the queued ones are mirrored
// or ctx ends. It does not close the target.
func (m *Mirror) Close(ctx context.Context) error {
	m.mu.Lock()
	if !m.closed {
		m.closed = true
		for _, q := range m.queues {
			close(q)
		}
	}
	m.mu.Unlock()
	done := make(chan struct{})
	go func() { m.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// DialHook leaves dialing alone.
func (m *Mirror) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		return next(ctx, network, addr)
	}
}

// ProcessHook mirrors a single command once the old deployment accepted it.
func (m *Mirror) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if err == nil && m.o.IsWrite(cmd.Name()) {
			m.enqueue(item{name: cmd.Name(), cmds: [][]interface{}{copyArgs(cmd.Args())}})
		}
		return err
	}
}

// ProcessPipelineHook mirrors the accepted writes of a pipeline, each on its
// own, and a MULTI/EXEC transaction as one transaction.
func (m *Mirror) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		tx := len(cmds) > 0 && cmds[0].Name() == "multi"
		var txItem item
		for _, c := range cmds {
			name := c.Name()
			if c.Err() != nil || name == "multi" || name == "exec" || !m.o.IsWrite(name) {
				continue
			}
			if !tx {
				m.enqueue(item{name: name, cmds: [][]interface{}{copyArgs(c.Args())}})
				continue
			}
			if txItem.name == "" {
				txItem.name = name
			}
			txItem.cmds = append(txItem.cmds, copyArgs(c.Args()))
		}
		if len(txItem.cmds) > 0 {
			txItem.tx = true
			m.enqueue(txItem)
		}
		return err
	}
}

// enqueue hands a write to the worker of its first key without waiting.
func (m *Mirror) enqueue(it item) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if !m.closed {
		q := m.queues[m.route(it.cmds[0])]
		select {
		case q <- it:
			m.queued.Add(1)
			return
		default:
		}
	}
	m.dropped.Add(1)
	if m.o.OnDrop != nil {
		m.o.OnDrop(it.name)
	}
}

// route picks the worker from the command's first key (its second word).
func (m *Mirror) route(args []interface{}) int {
	if len(m.queues) == 1 || len(args) < 2 {
		return 0
	}
	var h maphash.Hash
	h.SetSeed(m.seed)
	switch k := args[1].(type) {
	case string:
		_, _ = h.WriteString(k)
	case []byte:
		_, _ = h.Write(k)
	default:
		return 0
	}
	return int(h.Sum64() % uint64(len(m.queues)))
}

// maxBatch bounds the writes a worker sends in one pipeline.
const maxBatch = 128

// work mirrors the writes of one queue in order. Writes already waiting are
// sent together in one pipeline (one round trip), so a busy mirror costs
// the machine little more than an idle one.
func (m *Mirror) work(q <-chan item) {
	defer m.wg.Done()
	batch := make([]item, 0, maxBatch)
	for it := range q {
		batch = append(batch[:0], it)
	fill:
		for len(batch) < maxBatch {
			select {
			case more, ok := <-q:
				if !ok {
					break fill
				}
				batch = append(batch, more)
			default:
				break fill
			}
		}
		m.queued.Add(-int64(len(batch)))
		// Plain writes go in pipelines; a transaction is sent on its own,
		// in its place, so the order stays the order of the old deployment.
		start := 0
		for i, b := range batch {
			if b.tx {
				m.send(batch[start:i])
				m.sendTx(b)
				start = i + 1
			}
		}
		m.send(batch[start:])
	}
}

func (m *Mirror) send(items []item) {
	if len(items) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), m.o.Timeout)
	defer cancel()
	if len(items) == 1 {
		m.done(items[0].name, m.o.Target.Do(ctx, items[0].cmds[0]...).Err())
		return
	}
	cmds, _ := m.o.Target.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, it := range items {
			p.Do(ctx, it.cmds[0]...)
		}
		return nil
	})
	for i, it := range items {
		err := context.DeadlineExceeded
		if i < len(cmds) {
			err = cmds[i].Err()
		}
		m.done(it.name, err)
	}
}

func (m *Mirror) sendTx(it item) {
	ctx, cancel := context.WithTimeout(context.Background(), m.o.Timeout)
	defer cancel()
	_, err := m.o.Target.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for _, args := range it.cmds {
			p.Do(ctx, args...)
		}
		return nil
	})
	m.done(it.name, err)
}

// done counts one mirrored write's outcome.
func (m *Mirror) done(name string, err error) {
	if err != nil && !errors.Is(err, redis.Nil) {
		m.errs.Add(1)
		if m.o.OnError != nil {
			m.o.OnError(name, err)
		}
		return
	}
	m.mirrored.Add(1)
}

// copyArgs copies a command's arguments, byte slices included: the caller
// may reuse its buffers once the old deployment answered.
func copyArgs(args []interface{}) []interface{} {
	out := make([]interface{}, len(args))
	for i, a := range args {
		if b, ok := a.([]byte); ok {
			a = append([]byte(nil), b...)
		}
		out[i] = a
	}
	return out
}

// writeCommands are the core commands that change data. FLUSHDB/FLUSHALL,
// scripts and module commands are left out on purpose: add them through
// Options.IsWrite if the application's writes use them.
var writeCommands = map[string]bool{}

func init() {
	for _, c := range []string{
		// strings and keys
		"set", "setex", "psetex", "setnx", "setrange", "append", "incr", "incrby", "incrbyfloat", "decr", "decrby",
		"getset", "getdel", "getex", "mset", "msetnx", "setbit", "bitop", "bitfield", "del", "unlink", "expire",
		"pexpire", "expireat", "pexpireat", "persist", "rename", "renamenx", "copy", "restore", "touch",
		// hashes
		"hset", "hsetnx", "hmset", "hdel", "hincrby", "hincrbyfloat", "hexpire", "hpexpire", "hexpireat",
		"hpexpireat", "hpersist", "hgetdel", "hgetex", "hsetex",
		// lists
		"lpush", "rpush", "lpushx", "rpushx", "lpop", "rpop", "lset", "linsert", "lrem", "ltrim", "lmove",
		"rpoplpush", "lmpop", "blpop", "brpop", "blmove", "brpoplpush", "blmpop",
		// sets
		"sadd", "srem", "spop", "smove", "sinterstore", "sunionstore", "sdiffstore",
		// sorted sets
		"zadd", "zincrby", "zrem", "zremrangebyscore", "zremrangebyrank", "zremrangebylex", "zpopmin", "zpopmax",
		"bzpopmin", "bzpopmax", "zmpop", "bzmpop", "zunionstore", "zinterstore", "zdiffstore", "zrangestore",
		// streams, hyperloglog, geo
		"xadd", "xdel", "xtrim", "xack", "xclaim", "xautoclaim", "xgroup", "xsetid",
		"pfadd", "pfmerge", "geoadd", "geosearchstore",
	} {
		writeCommands[c] = true
	}
}

// IsWrite reports whether a command (lowercase name) is one of the core
// commands that change data.
func IsWrite(name string) bool { return writeCommands[name] }

// String describes the counters, e.g. for a log line.
func (s Stats) String() string {
	return "mirrored " + strconv.FormatInt(s.Mirrored, 10) + " dropped " + strconv.FormatInt(s.Dropped, 10) +
		" errors " + strconv.FormatInt(s.Errors, 10) + " queued " + strconv.FormatInt(s.Queued, 10)
}
