package migrate

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// FollowOptions shape Follow.
type FollowOptions struct {
	// Match is the key pattern to follow (a PSUBSCRIBE pattern, the same
	// glob syntax as SCAN MATCH), in the source side's database; events of
	// the others are heard (the health check counts them) but not
	// followed. default: "*"
	Match string
	// Mode, BigKeyBytes, Chunk and BatchTimeout are as in CopyOptions.
	Mode         Mode
	BigKeyBytes  int64
	Chunk        int
	BatchTimeout time.Duration
	// Batch is the number of changed keys re-copied per pipeline. default: 500
	Batch int
	// Workers is the number of batches in flight. default: 4
	Workers int
	// NoConfig leaves notify-keyspace-events alone: set it yourself (on
	// ElastiCache, in the parameter group; CONFIG is not allowed there).
	NoConfig bool
	// CopyDone, when set, is closed by the caller when a copy running at
	// the same time has finished: every key changed since Follow started is
	// then copied once more, since the copy may have written an older value
	// of it after Follow wrote the newer one.
	CopyDone <-chan struct{}
	// Reconcile, once CopyDone is closed, scans the target for keys the
	// source does not hold and deletes them through the follower (which
	// owns each key while it works, so a key the source creates meanwhile
	// is copied, not lost). It closes the gap of a copy resumed after
	// nothing followed the source: keys deleted there meanwhile. Only for a
	// target that holds nothing but the source's keys. default: false
	Reconcile bool
	// Resync, after a lost subscription, queues every key of that master
	// (SCAN) so that changes made while it was down are copied too: the
	// cost of a full copy of the shard, paced by the follower's own speed.
	// Deletions made meanwhile are not repaired (the gate finds them).
	// default: false (warn, count the reconnect, leave the rest to the gate)
	Resync bool
	// OnSubscribed is called once every source master is subscribed: from
	// then on no change is missed. default: none
	OnSubscribed func()
	// OnWarning receives conditions the operator must act on (events that
	// cannot be enabled, events lost in a reconnect). default: none
	OnWarning func(string)
	// OnStats receives a snapshot every StatsEvery. default: none
	OnStats func(FollowStats)
	// StatsEvery is the period of OnStats. default: 1 second
	StatsEvery time.Duration
	// CheckEvery is the period of the health check of each source master:
	// the master must still be a master (not demoted by a failover) and,
	// when it changed data (INFO rdb_changes_since_last_save), it must have
	// sent keyspace events (checked only when Match is "*": a pattern
	// leaves changes without events the follower hears); either failure is
	// warned about and counted, and notifications are switched on again
	// where CONFIG allows. FLUSHDB, FLUSHALL and SWAPDB are counted too.
	// default: 10 seconds
	CheckEvery time.Duration

	versions func(src, dst string) (string, string)
}

func (o *FollowOptions) defaults() {
	if o.Match == "" {
		o.Match = "*"
	}
	if o.Batch <= 0 {
		o.Batch = 500
	}
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.StatsEvery <= 0 {
		o.StatsEvery = time.Second
	}
	if o.CheckEvery <= 0 {
		o.CheckEvery = 10 * time.Second
	}
}

// FollowStats is a snapshot of Follow.
type FollowStats struct {
	// Events counts keyspace notifications received.
	Events int64
	// Copied counts keys re-copied; Deleted keys deleted on the target
	// because the source deleted or expired them; Failed keys not copied.
	Copied, Deleted, Failed int64
	// Pending is the number of changed keys waiting to be copied or being
	// copied: 0 means every change seen so far has landed on the target.
	Pending int
	// Lag is how long the oldest waiting change has waited (0 when none
	// waits); LastLag is the wait of the last change applied.
	Lag, LastLag time.Duration
	// Reconnects counts lost subscriptions (events may have been lost).
	Reconnects int64
	// Silent counts health checks that found a source master changing data
	// without sending keyspace events (notifications off: follow was deaf).
	Silent int64
	// Demoted counts health checks that found a followed source node no
	// longer a master and not replicating from one (a failover, and the
	// old node cut off: changes on the new primary are missed). A demoted
	// node that replicates is warned about, not counted: it still sees
	// every write.
	Demoted int64
	// Flushed counts FLUSHDB, FLUSHALL and SWAPDB run on a source master:
	// they send no keyspace event, so what they removed stays on the target.
	Flushed int64
}

// MayHaveMissed is true when changes may have been missed: a lost
// subscription, a deaf or demoted source master, a flush. Run a compare
// (and copy the differing keys) before relying on the target.
func (s FollowStats) MayHaveMissed() bool { return s.Reconnects+s.Silent+s.Demoted+s.Flushed > 0 }

// String is the live line.
func (s FollowStats) String() string {
	line := fmt.Sprintf("events %d  copied %d  deleted %d  errors %d  pending %d  lag %s (last %s)  reconnects %d",
		s.Events, s.Copied, s.Deleted, s.Failed, s.Pending, s.Lag.Round(time.Millisecond), s.LastLag.Round(time.Millisecond), s.Reconnects)
	if s.Silent > 0 {
		line += fmt.Sprintf("  deaf %d", s.Silent)
	}
	if s.Demoted > 0 {
		line += fmt.Sprintf("  demoted %d", s.Demoted)
	}
	if s.Flushed > 0 {
		line += fmt.Sprintf("  flushed %d", s.Flushed)
	}
	return line
}

// keyspaceFlags are the notify-keyspace-events classes Follow needs: K
// (keyspace channel) and A (every command class, expired and evicted keys
// included).
const keyspaceFlags = "KA"

// queue holds the changed keys of one shard, each once, oldest first. A
// key taken by a worker is in flight until that worker calls done: one key
// is copied by one worker at a time, so an older read of a key can never
// be written after a newer one. A change that arrives while its key is in
// flight marks the key dirty, and done queues it again, so the copy that
// runs after the last change of a key is always the last one to land.
type queue struct {
	mu       sync.Mutex
	keys     []string
	since    map[string]time.Time
	inflight map[string]struct{}
	dirty    map[string]time.Time // changed while in flight: when first
	touched  map[string]struct{}  // keys changed while a copy runs; nil when not tracking
}

func newQueue() *queue {
	return &queue{since: map[string]time.Time{}, inflight: map[string]struct{}{}, dirty: map[string]time.Time{}}
}

func (q *queue) push(key string, at time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.touched != nil {
		q.touched[key] = struct{}{}
	}
	q.pushLocked(key, at)
}

func (q *queue) pushLocked(key string, at time.Time) {
	if _, ok := q.inflight[key]; ok {
		if _, ok := q.dirty[key]; !ok {
			q.dirty[key] = at
		}
		return
	}
	if _, ok := q.since[key]; ok {
		return
	}
	q.since[key] = at
	q.keys = append(q.keys, key)
}

// take removes up to n keys and marks them in flight until done; oldest is
// when the first of them changed.
func (q *queue) take(n int) (keys []string, oldest time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	n = min(n, len(q.keys))
	keys = append([]string(nil), q.keys[:n]...)
	q.keys = q.keys[n:]
	for i, k := range keys {
		if i == 0 {
			oldest = q.since[k]
		}
		delete(q.since, k)
		q.inflight[k] = struct{}{}
	}
	return keys, oldest
}

// done ends the flight of keys taken together; failed puts them back (a
// target outage delays, never loses). Keys changed meanwhile are queued
// again.
func (q *queue) done(keys []string, failed bool, oldest time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, k := range keys {
		delete(q.inflight, k)
		at, changed := q.dirty[k]
		delete(q.dirty, k)
		switch {
		case failed:
			q.pushLocked(k, oldest)
		case changed:
			q.pushLocked(k, at)
		}
	}
}

func (q *queue) state() (n int, oldest time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.keys) > 0 {
		oldest = q.since[q.keys[0]]
	}
	return len(q.keys) + len(q.inflight), oldest
}

// requeueTouched stops tracking and queues every key changed meanwhile.
func (q *queue) requeueTouched(at time.Time) {
	q.mu.Lock()
	touched := q.touched
	q.touched = nil
	q.mu.Unlock()
	for k := range touched {
		q.push(k, at)
	}
}

// Follow keeps dst current with src from src's keyspace notifications until
// ctx ends: each changed key is copied again (DUMP/RESTORE REPLACE, or the
// type-aware copy), and a key the source deleted or expired is deleted on
// the target — the only deletion redisha makes there, and only because the
// source made it. Start Follow before (or with) Copy so that no change made
// during the copy is missed. It returns the final stats and ctx's error,
// or an error when the source cannot be subscribed.
func Follow(ctx context.Context, src, dst *Side, o FollowOptions) (FollowStats, error) {
	o.defaults()
	if why := SameDeployment(src, dst); why != "" {
		return FollowStats{}, fmt.Errorf("%s: following it would copy its own writes for ever; give the target's own endpoint", why)
	}
	warn := func(s string) {
		if o.OnWarning != nil {
			o.OnWarning(s)
		}
	}
	co := CopyOptions{Mode: o.Mode, BigKeyBytes: o.BigKeyBytes, Chunk: o.Chunk, BatchTimeout: o.BatchTimeout, versions: o.versions}
	co.defaults()
	sv, dv := src.Version, dst.Version
	if o.versions != nil {
		sv, dv = o.versions(sv, dv)
	}
	plan, err := choose(co.Mode, sv, dv)
	if err != nil {
		return FollowStats{}, err
	}
	c := &copier{o: co, src: src, dst: dst, plan: plan, deleteGone: true}
	c.absTTL, _ = expiryClock(ctx, src, dst, sv, dv, "5.0")

	for _, sh := range src.Shards {
		// Unreadable (ElastiCache) is not warned about: the health check
		// warns when the master changes data and no event arrives.
		if st, msg := checkNotifications(ctx, sh, !o.NoConfig); st == notifyOff {
			warn(msg)
		}
	}
	var events, reconnects, silent, demoted, flushed atomic.Int64
	var lastLag atomic.Int64
	queues := make([]*queue, len(src.Shards))
	heard := make([]atomic.Int64, len(src.Shards)) // events of any database, per master
	wake := make(chan struct{}, 1)
	subs := make([]*redis.PubSub, len(src.Shards))
	db := src.Shards[0].Client.Options().DB
	for i, sh := range src.Shards {
		queues[i] = newQueue()
		if o.CopyDone != nil {
			queues[i].touched = map[string]struct{}{}
		}
		// Every database: events of the others prove notifications are on
		// (the health check compares them with the master's changes); only
		// this database's keys are queued.
		ps := sh.Client.PSubscribe(ctx, "__keyspace@*__:"+o.Match)
		if _, err := ps.Receive(ctx); err != nil {
			for _, p := range subs[:i] {
				_ = p.Close()
			}
			_ = ps.Close()
			return FollowStats{}, fmt.Errorf("source %s: psubscribe: %w", sh.Addr, err)
		}
		subs[i] = ps
	}
	// The health checks' baselines, before anyone is told follow is on: a
	// change made after OnSubscribed must count as a change since them.
	checks := make([]*health, len(src.Shards))
	bases := make([]reading, len(src.Shards))
	for i, sh := range src.Shards {
		checks[i] = &health{sh: sh, heard: &heard[i], silent: &silent, demoted: &demoted, flushed: &flushed, warn: warn,
			setConfig: !o.NoConfig, allKeys: o.Match == "*"}
		bases[i], _, _ = checks[i].read(ctx)
	}
	if o.OnSubscribed != nil {
		o.OnSubscribed()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for i, ps := range subs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Closing the subscription ends a receive at once; the receive
			// itself waits out its timeout whatever ctx does.
			stop := context.AfterFunc(ctx, func() { _ = ps.Close() })
			defer stop()
			defer ps.Close()
			l := listener{ps: ps, sh: src.Shards[i], db: db, q: queues[i], wake: wake, events: &events, heard: &heard[i],
				reconnects: &reconnects, warn: warn, setConfig: !o.NoConfig, resync: o.Resync, match: o.Match,
				resyncBound: 20 * o.Batch, wg: &wg}
			l.run(ctx)
		}()
		wg.Add(1)
		go func() {
			defer wg.Done()
			checks[i].run(ctx, o.CheckEvery, bases[i])
		}()
	}
	if o.CopyDone != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case <-ctx.Done():
			case <-o.CopyDone:
				now := time.Now()
				for _, q := range queues {
					q.requeueTouched(now)
				}
				select {
				case wake <- struct{}{}:
				default:
				}
				if o.Reconcile {
					if err := reconcile(ctx, src, dst, o.Match, queues, wake); err != nil && ctx.Err() == nil {
						warn("reconcile (deleting target keys the source lacks) failed: " + err.Error() + "; run migrate compare to find extra keys")
					}
				}
			}
		}()
	}
	stats := func() FollowStats {
		s := FollowStats{Events: events.Load(), Copied: c.copied.Load(), Deleted: c.deleted.Load(), Failed: c.failed.Load(),
			LastLag: time.Duration(lastLag.Load()), Reconnects: reconnects.Load(), Silent: silent.Load(), Demoted: demoted.Load(), Flushed: flushed.Load()}
		for _, q := range queues {
			n, oldest := q.state()
			s.Pending += n
			if n > 0 {
				s.Lag = max(s.Lag, time.Since(oldest))
			}
		}
		return s
	}
	// Workers take batches from the shard queues in turn.
	var next atomic.Int64
	var workFailed atomic.Value
	for w := 0; w < o.Workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				did := false
				for range queues {
					i := int(next.Add(1)) % len(queues)
					keys, oldest := queues[i].take(o.Batch)
					if len(keys) == 0 {
						continue
					}
					did = true
					err := c.copyBatch(ctx, src.Shards[i], keys)
					queues[i].done(keys, err != nil, oldest)
					if err != nil {
						if ctx.Err() != nil {
							return
						}
						workFailed.Store(err.Error())
						select {
						case <-ctx.Done():
							return
						case <-time.After(time.Second):
						}
						continue
					}
					lastLag.Store(int64(time.Since(oldest)))
				}
				if !did {
					select {
					case <-ctx.Done():
					case <-wake:
					case <-time.After(100 * time.Millisecond):
					}
				}
			}
		}()
	}
	t := time.NewTicker(o.StatsEvery)
	defer t.Stop()
	var lastWarned string
	for {
		select {
		case <-ctx.Done():
			cancel()
			wg.Wait()
			s := stats()
			if o.OnStats != nil {
				o.OnStats(s)
			}
			return s, ctx.Err()
		case <-t.C:
			if e, _ := workFailed.Load().(string); e != "" && e != lastWarned {
				lastWarned = e
				warn("re-copy failed, retrying: " + e)
			}
			if o.OnStats != nil {
				o.OnStats(stats())
			}
		}
	}
}

// reconcile scans every target master for keys matching match that the
// source lacks and queues them in the follower, which deletes them on the
// target unless the source holds them by then.
func reconcile(ctx context.Context, src, dst *Side, match string, queues []*queue, wake chan struct{}) error {
	for _, sh := range dst.Shards {
		var cursor uint64
		for {
			keys, next, err := sh.Client.Scan(ctx, cursor, match, 1000).Result()
			if err != nil {
				return fmt.Errorf("target %s: scan: %w", sh.Addr, err)
			}
			pipe := src.Client.Pipeline()
			exists := make([]*redis.IntCmd, len(keys))
			for i, k := range keys {
				exists[i] = pipe.Exists(ctx, k)
			}
			if len(keys) > 0 {
				if _, err := pipe.Exec(ctx); err != nil {
					return fmt.Errorf("source: exists: %w", err)
				}
			}
			now := time.Now()
			for i, k := range keys {
				if exists[i].Val() != 0 || strings.Contains(k, tempKeySuffix) {
					continue
				}
				n, err := src.shardFor(ctx, k)
				if err != nil {
					return err
				}
				queues[n].push(k, now)
			}
			select {
			case wake <- struct{}{}:
			default:
			}
			if next == 0 {
				break
			}
			cursor = next
		}
	}
	return nil
}

// listener moves keyspace events of one source master into its queue.
type listener struct {
	ps         *redis.PubSub
	sh         Shard
	db         int // the database followed; events of others only count in heard
	q          *queue
	wake       chan struct{}
	events     *atomic.Int64
	heard      *atomic.Int64
	reconnects *atomic.Int64
	warn       func(string)
	setConfig  bool
	// resync queues every key of the master after a reconnect, holding
	// the queue under resyncBound keys.
	resync      bool
	match       string
	resyncBound int
	resyncing   atomic.Bool
	wg          *sync.WaitGroup // Follow waits for a resync to end
}

// resyncAll queues every key of the master matching the pattern, a SCAN
// page at a time, waiting while the queue holds resyncBound keys or more.
func (l *listener) resyncAll(ctx context.Context) {
	defer l.wg.Done()
	defer l.resyncing.Store(false)
	var cursor uint64
	n := 0
	for ctx.Err() == nil {
		keys, next, err := l.sh.Client.Scan(ctx, cursor, l.match, 1000).Result()
		if err != nil {
			if ctx.Err() == nil {
				l.warn(fmt.Sprintf("source %s: resync after the reconnect stopped after %d keys (%v): run migrate compare", l.sh.Addr, n, err))
			}
			return
		}
		now := time.Now()
		for _, k := range keys {
			l.q.push(k, now)
		}
		n += len(keys)
		select {
		case l.wake <- struct{}{}:
		default:
		}
		if next == 0 {
			l.warn(fmt.Sprintf("source %s: resync after the reconnect queued %d keys", l.sh.Addr, n))
			return
		}
		cursor = next
		for {
			if pending, _ := l.q.state(); pending < l.resyncBound {
				break
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(10 * time.Millisecond): // the queue drains at the workers' pace
			}
		}
	}
}

// run listens until ctx ends.
func (l *listener) run(ctx context.Context) {
	prefix := "__keyspace@" + strconv.Itoa(l.db) + "__:"
	for ctx.Err() == nil {
		msg, err := l.ps.ReceiveTimeout(ctx, 5*time.Second)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			var ne interface{ Timeout() bool }
			if errors.As(err, &ne) && ne.Timeout() {
				_ = l.ps.Ping(ctx) // an idle link must still be alive
				continue
			}
			l.reconnects.Add(1)
			l.warn(fmt.Sprintf("source %s: subscription lost (%v) at %s: changes until it is back may be missed; run migrate compare (and copy) afterwards",
				l.sh.Addr, err, time.Now().Format(time.RFC3339)))
			select {
			case <-ctx.Done():
				return
			case <-time.After(200 * time.Millisecond):
			}
			continue
		}
		switch m := msg.(type) {
		case *redis.Subscription:
			// The first confirmation was read by Follow: this one follows a
			// reconnect, maybe to a restarted server that forgot a
			// notify-keyspace-events set with CONFIG SET.
			var state string
			switch st, msg := checkNotifications(ctx, l.sh, l.setConfig); st {
			case notifyOn:
				state = "notifications on"
			case notifySwitchedOn:
				state = "notifications were off (a restart?) and are switched on again"
			case notifyUnknown:
				state = "notifications cannot be read: the health check warns if the master changes data without events"
			default:
				state = "BUT " + msg
			}
			if l.resync && l.resyncing.CompareAndSwap(false, true) {
				state += "; every key of it is copied again (resync)"
				l.wg.Add(1)
				go l.resyncAll(ctx)
			}
			l.warn(fmt.Sprintf("source %s: subscribed again (%s) at %s, %s", l.sh.Addr, m.Kind, time.Now().Format(time.RFC3339), state))
		case *redis.Message:
			l.heard.Add(1)
			key, ok := strings.CutPrefix(m.Channel, prefix)
			if !ok {
				continue // another database
			}
			l.events.Add(1)
			l.q.push(key, time.Now())
			select {
			case l.wake <- struct{}{}:
			default:
			}
		case *redis.Pong:
		}
	}
}

// health checks one source master every period: still a master, and not
// changing data in silence.
type health struct {
	sh                       Shard
	heard                    *atomic.Int64
	silent, demoted, flushed *atomic.Int64
	warn                     func(string)
	setConfig                bool
	allKeys                  bool // every key is followed, so every change has an event
}

// reading is one health check's view of a master.
type reading struct {
	changes int64 // rdb_changes_since_last_save
	heard   int64
	flushes int64 // FLUSHDB, FLUSHALL and SWAPDB calls (INFO commandstats)
	ok      bool
}

// flushCommands empty or swap whole databases without a keyspace event.
var flushCommands = []string{"flushdb", "flushall", "swapdb"}

// commandCalls sums the calls of the given commands in INFO commandstats
// text (lines like "cmdstat_flushdb:calls=2,usec=...").
func commandCalls(info string, names []string) (n int64) {
	for _, name := range names {
		v := infoField(info, "cmdstat_"+name)
		calls, _, _ := strings.Cut(strings.TrimPrefix(v, "calls="), ",")
		c, _ := strconv.ParseInt(calls, 10, 64)
		n += c
	}
	return n
}

// read takes one reading of the master.
func (h *health) read(ctx context.Context) (reading, string, error) {
	info, err := h.sh.Client.Info(ctx, "persistence", "replication", "commandstats").Result()
	if err != nil {
		return reading{}, "", err
	}
	r := reading{heard: h.heard.Load(), ok: true, flushes: commandCalls(info, flushCommands)}
	r.changes, _ = strconv.ParseInt(infoField(info, "rdb_changes_since_last_save"), 10, 64)
	role := infoField(info, "role")
	if role != "master" {
		role += " link " + infoField(info, "master_link_status")
	}
	return r, role, nil
}

// run checks every period from base, the reading taken once subscribed.
func (h *health) run(ctx context.Context, every time.Duration, base reading) {
	t := time.NewTicker(every)
	defer t.Stop()
	prev, prev2 := base, reading{}
	wasDemoted, wasReplica, wasDeaf := false, false, false
	read := func() (reading, string, error) { return h.read(ctx) }
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cur, role, err := read()
		if err != nil {
			if ctx.Err() == nil && prev.ok {
				h.warn(fmt.Sprintf("source %s: health check: %v", h.sh.Addr, err))
			}
			prev, prev2 = reading{}, reading{}
			continue
		}
		if prev.ok && cur.flushes > prev.flushes {
			h.flushed.Add(cur.flushes - prev.flushes)
			h.warn(fmt.Sprintf("source %s ran FLUSHDB, FLUSHALL or SWAPDB (%d times since the last check): they send no keyspace event, so the keys they removed stay on the target; pass the gate (migrate compare --repair deletes them)", h.sh.Addr, cur.flushes-prev.flushes))
		}
		// A demoted master that replicates from the new primary still sees
		// every write, by replication, and sends their events: follow goes
		// on, late by the replication lag. Once its link is down it sees
		// nothing the primary is written.
		switch {
		case role == "master":
			wasDemoted, wasReplica = false, false
		case strings.HasSuffix(role, " link up"):
			if !wasReplica {
				h.warn(fmt.Sprintf("source %s is now a replica (a failover): follow still sees the new primary's writes through replication, late by the replication lag; restart follow against the new primary before this node goes away, then pass the gate", h.sh.Addr))
			}
			wasReplica, wasDemoted = true, false
		default:
			h.demoted.Add(1)
			if !wasDemoted {
				h.warn(fmt.Sprintf("source %s is a %s (a failover?): changes made on its primary are missed; restart follow against the new primary, then run migrate compare", h.sh.Addr, role))
			}
			wasDemoted = true
		}
		// The master changed data between the two readings before this one,
		// and no event has arrived since the first of them: a whole period
		// has passed for those events to arrive, so notifications are off.
		// A flush changes data without events, by design: not deafness.
		deaf := h.allKeys && prev2.ok && prev.ok && grew(prev2.changes, prev.changes) && cur.heard == prev2.heard &&
			cur.flushes == prev2.flushes
		if deaf {
			h.silent.Add(1)
			st, msg := checkNotifications(ctx, h.sh, h.setConfig)
			switch st {
			case notifyOn:
				msg = "notify-keyspace-events reads as on"
			case notifySwitchedOn:
				msg = "notify-keyspace-events was off (a restart?) and is switched on again"
			}
			if !wasDeaf {
				h.warn(fmt.Sprintf("source %s changes data but sends no keyspace event: follow is deaf and those changes are missed (%s); once events flow, run migrate copy and compare", h.sh.Addr, msg))
			}
		}
		wasDeaf = deaf
		prev2, prev = prev, cur
	}
}

// grew is true when a change counter moved: it went up, or a save reset it
// and changes followed.
func grew(before, after int64) bool { return after > before || (after < before && after > 0) }

// notifyState is what checkNotifications found.
type notifyState int

const (
	notifyOn         notifyState = iota // K and A are set
	notifySwitchedOn                    // they were not; CONFIG SET added them
	notifyUnknown                       // CONFIG GET is refused (ElastiCache)
	notifyOff                           // they are not set and cannot be
)

// checkNotifications makes sure the master publishes keyspace events: it
// adds K and A to notify-keyspace-events when set is true and CONFIG is
// allowed, and otherwise checks the value where CONFIG GET is allowed. msg
// says what the operator must do.
func checkNotifications(ctx context.Context, sh Shard, set bool) (st notifyState, msg string) {
	cur, err := sh.Client.ConfigGet(ctx, "notify-keyspace-events").Result()
	v, ok := cur["notify-keyspace-events"]
	if err != nil || !ok {
		return notifyUnknown, fmt.Sprintf("source %s: notify-keyspace-events cannot be read (CONFIG refused): it must be KEA — on ElastiCache set it in the cluster's parameter group (parameter notify-keyspace-events)", sh.Addr)
	}
	if strings.ContainsRune(v, 'K') && strings.ContainsRune(v, 'A') {
		return notifyOn, ""
	}
	if set {
		want := v
		for _, f := range keyspaceFlags {
			if !strings.ContainsRune(want, f) {
				want += string(f)
			}
		}
		if err = sh.Client.ConfigSet(ctx, "notify-keyspace-events", want).Err(); err == nil {
			return notifySwitchedOn, ""
		}
	}
	why := "it is " + strconv.Quote(v)
	if err != nil {
		why += fmt.Sprintf(" and CONFIG SET failed (%v)", err)
	}
	return notifyOff, fmt.Sprintf("source %s: notify-keyspace-events must contain K and A (%s): set it to KEA yourself — on ElastiCache in the cluster's parameter group (parameter notify-keyspace-events) — or follow sees no change", sh.Addr, why)
}
