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
	// QueueBytes bounds the memory the waiting writes hold (their
	// arguments, plus 16 bytes per argument), over all workers: an outage
	// of the new deployment must never cost the application more than this.
	// Drop policy: a write that does not fit is not mirrored (the newest is
	// dropped, the queued ones are kept, so the order of what is mirrored
	// holds); it is counted in Stats.Dropped and passed to OnDrop. Its key
	// then differs on the new side until copied again: the compare before
	// cut-over finds it. default: 32 MiB
	QueueBytes int64
	// QueueSize bounds the number of waiting writes as well, per worker
	// QueueSize/Workers. default: 10000
	QueueSize int
	// Workers is the number of writes mirrored at once. Writes whose key is
	// the same go to the same worker, so they stay in order; a write of
	// several keys (MSET, RENAME, a transaction) waits for every worker to
	// reach it, so it stays in order with all of them. default: 4
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
	// OnRefused is called when the old deployment accepted a write the
	// mirror does not repeat (a script, FLUSHDB, XCLAIM: see effects.go and
	// docs/migration.md). It must not block. default: none
	OnRefused func(name string)
}

// Stats are the mirror's counters since it was created.
type Stats struct {
	// Mirrored counts writes the target accepted.
	Mirrored int64
	// Dropped counts writes not mirrored (queue full or mirror closed).
	Dropped int64
	// Errors counts mirrored writes the target refused or did not answer.
	Errors int64
	// Refused counts writes the old deployment accepted that the mirror
	// does not repeat (OnRefused).
	Refused int64
	// Queued is the number of writes waiting now; QueuedBytes the memory
	// they hold, bounded by Options.QueueBytes.
	Queued, QueuedBytes int64
}

// Mirror is a redis.Hook that mirrors writes to a second deployment.
type Mirror struct {
	o      Options
	queues []chan item
	seed   maphash.Seed
	wg     sync.WaitGroup

	// mu guards closed against sends on closed queues; a write of several
	// keys holds it exclusively while it places its barrier in every
	// queue, so all workers meet barriers in one order.
	mu     sync.RWMutex
	closed bool

	mirrored, dropped, errs, refused, queued, queuedBytes atomic.Int64
}

var _ redis.Hook = (*Mirror)(nil)

// item is one write, the writes of one MULTI/EXEC transaction, or the
// effects of one command; with bar set, it is one queue's part of a
// barrier.
type item struct {
	name string
	cmds [][]interface{}
	tx   bool
	size int64
	bar  *barrier
}

// barrier orders a write of several keys (or a Flush) with every worker:
// each worker stops at it after sending what it held before; the owner
// then sends the write and releases them all.
type barrier struct {
	owner   int
	arrived chan struct{} // one per other worker
	release chan struct{}
	it      item // the write; none for a Flush
	done    chan struct{}
}

// ErrNoTarget is returned by NewMirror without Options.Target.
var ErrNoTarget = errors.New("dualwrite: Options.Target is nil: give the client of the new deployment")

// ErrQueueFull is returned by Flush when the queue has no room for it.
var ErrQueueFull = errors.New("dualwrite: mirror queue full (the new deployment is slow or down): nothing to wait for")

// NewMirror starts the mirror's workers. Add it to the old deployment's
// client with AddHook, and Close it at shutdown.
func NewMirror(o Options) (*Mirror, error) {
	if o.Target == nil {
		return nil, ErrNoTarget
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 10000
	}
	if o.QueueBytes <= 0 {
		o.QueueBytes = 32 << 20
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
		go m.work(i, m.queues[i])
	}
	return m, nil
}

// Stats returns the counters.
func (m *Mirror) Stats() Stats {
	return Stats{Mirrored: m.mirrored.Load(), Dropped: m.dropped.Load(), Errors: m.errs.Load(), Refused: m.refused.Load(),
		Queued: m.queued.Load(), QueuedBytes: m.queuedBytes.Load()}
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

// Flush waits until every write the mirror took before the call has been
// sent to the target (mirrored or failed), or ctx ends. A request that
// writes through the old deployment and then reads the new one calls Flush
// in between to read its own write: the mirror is asynchronous, and without
// it such a read sees the previous value almost every time.
func (m *Mirror) Flush(ctx context.Context) error {
	b, ok := m.placeBarrier(item{})
	if !ok {
		return ErrQueueFull
	}
	select {
	case <-b.done:
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
		if err != nil && !errors.Is(err, redis.Nil) {
			return err // refused or unanswered: nothing known to mirror
		}
		if cmds := m.effects(cmd); len(cmds) > 0 {
			m.enqueue(item{name: cmd.Name(), cmds: cmds})
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
			if name == "multi" || name == "exec" {
				continue
			}
			eff := m.effects(c)
			if len(eff) == 0 {
				continue
			}
			if !tx {
				m.enqueue(item{name: name, cmds: eff})
				continue
			}
			if txItem.name == "" {
				txItem.name = name
			}
			txItem.cmds = append(txItem.cmds, eff...)
		}
		if len(txItem.cmds) > 0 {
			txItem.tx = true
			m.enqueue(txItem)
		}
		return err
	}
}

// effects is what to mirror for one accepted command (see effect); a
// command the mirror cannot repeat is counted and reported. It never
// panics into the application's write path.
func (m *Mirror) effects(cmd redis.Cmder) (out [][]interface{}) {
	defer func() {
		if recover() != nil {
			out = nil
			m.refuse(cmd.Name())
		}
	}()
	out, refused := effect(cmd, m.o.IsWrite)
	if refused {
		m.refuse(cmd.Name())
		return nil
	}
	for i, args := range out {
		out[i] = copyArgs(args)
	}
	return out
}

func (m *Mirror) refuse(name string) {
	m.refused.Add(1)
	if m.o.OnRefused != nil {
		m.o.OnRefused(name)
	}
}

// size is what an item holds in memory, roughly.
func size(cmds [][]interface{}) int64 {
	var n int64
	for _, args := range cmds {
		for _, a := range args {
			n += 16
			switch v := a.(type) {
			case string:
				n += int64(len(v))
			case []byte:
				n += int64(len(v))
			}
		}
	}
	return n
}

// enqueue hands a write to the worker of its key without waiting; a write
// of several keys, or a transaction, becomes a barrier.
func (m *Mirror) enqueue(it item) {
	it.size = size(it.cmds)
	if it.tx || len(it.cmds) > 1 && !sameKey(it.cmds) || isMultiKey(it.cmds[0]) {
		if _, ok := m.placeBarrier(it); !ok {
			m.drop(it.name)
		}
		return
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if !m.closed && m.reserve(it.size) {
		q := m.queues[m.route(it.cmds[0])]
		select {
		case q <- it:
			m.queued.Add(1)
			return
		default:
			m.queuedBytes.Add(-it.size)
		}
	}
	m.drop(it.name)
}

// reserve counts size against QueueBytes, or says it does not fit.
func (m *Mirror) reserve(size int64) bool {
	if m.queuedBytes.Add(size) > m.o.QueueBytes {
		m.queuedBytes.Add(-size)
		return false
	}
	return true
}

func (m *Mirror) drop(name string) {
	m.dropped.Add(1)
	if m.o.OnDrop != nil {
		m.o.OnDrop(name)
	}
}

// placeBarrier puts one part of a barrier in every queue, all or none.
func (m *Mirror) placeBarrier(it item) (*barrier, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, false
	}
	// Workers only take from the queues while the lock is held, so room
	// seen here is room at the sends below.
	for _, q := range m.queues {
		if len(q) >= cap(q) {
			return nil, false
		}
	}
	if !m.reserve(it.size) {
		return nil, false
	}
	owner := 0
	if it.cmds != nil {
		owner = m.route(it.cmds[0])
	}
	b := &barrier{owner: owner, arrived: make(chan struct{}, len(m.queues)), release: make(chan struct{}), it: it, done: make(chan struct{})}
	for _, q := range m.queues {
		q <- item{bar: b, size: 0}
	}
	if it.cmds != nil {
		m.queued.Add(1)
	}
	return b, true
}

// sameKey is true when every command names the same key.
func sameKey(cmds [][]interface{}) bool {
	first := keyOf(cmds[0])
	for _, c := range cmds[1:] {
		k := keyOf(c)
		if k == nil || first == nil || anyString(k) != anyString(first) {
			return false
		}
	}
	return true
}

// route picks the worker from the command's key.
func (m *Mirror) route(args []interface{}) int {
	if len(m.queues) == 1 {
		return 0
	}
	var h maphash.Hash
	h.SetSeed(m.seed)
	switch k := keyOf(args).(type) {
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
func (m *Mirror) work(w int, q <-chan item) {
	defer m.wg.Done()
	batch := make([]item, 0, maxBatch)
	flush := func() {
		m.send(batch)
		batch = batch[:0]
	}
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
		// Plain writes go in pipelines; a barrier (a write of several keys
		// or a transaction) is met in its place, so the order stays the
		// order of the old deployment.
		items := append([]item(nil), batch...)
		batch = batch[:0]
		for _, b := range items {
			if b.bar != nil {
				flush()
				m.meet(w, b.bar)
				continue
			}
			m.release(b)
			batch = append(batch, b)
		}
		flush()
	}
}

// release takes an item off the queue's accounting.
func (m *Mirror) release(it item) {
	m.queued.Add(-1)
	m.queuedBytes.Add(-it.size)
}

// meet waits at a barrier: the owner, once every other worker has sent
// what came before, sends the write and lets them all go on.
func (m *Mirror) meet(w int, b *barrier) {
	if w != b.owner {
		b.arrived <- struct{}{}
		<-b.release
		return
	}
	for range len(m.queues) - 1 {
		<-b.arrived
	}
	if b.it.cmds != nil {
		m.release(b.it)
		if b.it.tx {
			m.sendTx(b.it)
		} else {
			m.send([]item{b.it})
		}
	}
	close(b.done)
	close(b.release)
}

func (m *Mirror) send(items []item) {
	if len(items) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), m.o.Timeout)
	defer cancel()
	if len(items) == 1 && len(items[0].cmds) == 1 {
		m.done(items[0].name, m.o.Target.Do(ctx, items[0].cmds[0]...).Err())
		return
	}
	cmds, _ := m.o.Target.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, it := range items {
			for _, c := range it.cmds {
				p.Do(ctx, c...)
			}
		}
		return nil
	})
	n := 0
	for _, it := range items {
		var err error
		for range it.cmds {
			e := error(context.DeadlineExceeded)
			if n < len(cmds) {
				e = cmds[n].Err()
			}
			n++
			if err == nil && e != nil && !errors.Is(e, redis.Nil) {
				err = e
			}
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

// writeCommands are the core commands that change data and are mirrored
// (some as their effect: see effects.go). Scripts, FLUSHDB/FLUSHALL and the
// others in refusedCommands are counted as refused instead; module commands
// are neither: add them through Options.IsWrite if the application's
// writes use them.
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
		"rpoplpush", "lmpop", "blpop", "brpop", "blmove", "brpoplpush", "blmpop", "move",
		// sets
		"sadd", "srem", "spop", "smove", "sinterstore", "sunionstore", "sdiffstore",
		// sorted sets
		"zadd", "zincrby", "zrem", "zremrangebyscore", "zremrangebyrank", "zremrangebylex", "zpopmin", "zpopmax",
		"bzpopmin", "bzpopmax", "zmpop", "bzmpop", "zunionstore", "zinterstore", "zdiffstore", "zrangestore",
		// streams, hyperloglog, geo
		"xadd", "xdel", "xtrim", "xack", "xgroup", "xsetid", "xreadgroup",
		"pfadd", "pfmerge", "geoadd", "geosearchstore",
	} {
		writeCommands[c] = true
	}
}

// IsWrite reports whether a command (lowercase name) is one of the core
// commands that change data and are mirrored (SORT is mirrored too when it
// has STORE).
func IsWrite(name string) bool { return writeCommands[name] }

// String describes the counters, e.g. for a log line.
func (s Stats) String() string {
	return "mirrored " + strconv.FormatInt(s.Mirrored, 10) + " dropped " + strconv.FormatInt(s.Dropped, 10) +
		" errors " + strconv.FormatInt(s.Errors, 10) + " queued " + strconv.FormatInt(s.Queued, 10)
}
