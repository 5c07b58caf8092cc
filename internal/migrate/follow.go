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
	// glob syntax as SCAN MATCH). default: "*"
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
}

// String is the live line.
func (s FollowStats) String() string {
	return fmt.Sprintf("events %d  copied %d  deleted %d  errors %d  pending %d  lag %s (last %s)  reconnects %d",
		s.Events, s.Copied, s.Deleted, s.Failed, s.Pending, s.Lag.Round(time.Millisecond), s.LastLag.Round(time.Millisecond), s.Reconnects)
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

	if !o.NoConfig {
		for _, sh := range src.Shards {
			if msg := enableNotifications(ctx, sh); msg != "" {
				warn(msg)
			}
		}
	}
	var events, reconnects atomic.Int64
	var lastLag atomic.Int64
	queues := make([]*queue, len(src.Shards))
	wake := make(chan struct{}, 1)
	subs := make([]*redis.PubSub, len(src.Shards))
	for i, sh := range src.Shards {
		queues[i] = newQueue()
		if o.CopyDone != nil {
			queues[i].touched = map[string]struct{}{}
		}
		db := sh.Client.Options().DB
		ps := sh.Client.PSubscribe(ctx, "__keyspace@"+strconv.Itoa(db)+"__:"+o.Match)
		if _, err := ps.Receive(ctx); err != nil {
			for _, p := range subs[:i] {
				_ = p.Close()
			}
			_ = ps.Close()
			return FollowStats{}, fmt.Errorf("source %s: psubscribe: %w", sh.Addr, err)
		}
		subs[i] = ps
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
			defer ps.Close()
			listen(ctx, ps, src.Shards[i].Addr, queues[i], wake, &events, &reconnects, warn)
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
			}
		}()
	}
	stats := func() FollowStats {
		s := FollowStats{Events: events.Load(), Copied: c.copied.Load(), Deleted: c.deleted.Load(), Failed: c.failed.Load(),
			LastLag: time.Duration(lastLag.Load()), Reconnects: reconnects.Load()}
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

// listen moves keyspace events of one shard into its queue until ctx ends.
func listen(ctx context.Context, ps *redis.PubSub, addr string, q *queue, wake chan struct{}, events, reconnects *atomic.Int64, warn func(string)) {
	for ctx.Err() == nil {
		msg, err := ps.ReceiveTimeout(ctx, 5*time.Second)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			var ne interface{ Timeout() bool }
			if errors.As(err, &ne) && ne.Timeout() {
				_ = ps.Ping(ctx) // an idle link must still be alive
				continue
			}
			reconnects.Add(1)
			warn(fmt.Sprintf("source %s: subscription lost (%v) at %s: changes until it is back may be missed; run migrate compare (and copy) afterwards",
				addr, err, time.Now().Format(time.RFC3339)))
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
			// reconnect.
			warn(fmt.Sprintf("source %s: subscribed again (%s) at %s", addr, m.Kind, time.Now().Format(time.RFC3339)))
		case *redis.Message:
			i := strings.Index(m.Channel, "__:")
			if i < 0 {
				continue
			}
			events.Add(1)
			q.push(m.Channel[i+3:], time.Now())
			select {
			case wake <- struct{}{}:
			default:
			}
		case *redis.Pong:
		}
	}
}

// enableNotifications makes sure the shard publishes keyspace events,
// adding K and A to notify-keyspace-events; it returns what the operator
// must do when that is not allowed, or "".
func enableNotifications(ctx context.Context, sh Shard) string {
	cur, err := sh.Client.ConfigGet(ctx, "notify-keyspace-events").Result()
	if err == nil {
		v := cur["notify-keyspace-events"]
		if strings.ContainsRune(v, 'K') && strings.ContainsRune(v, 'A') {
			return ""
		}
		want := v
		for _, f := range keyspaceFlags {
			if !strings.ContainsRune(want, f) {
				want += string(f)
			}
		}
		if err = sh.Client.ConfigSet(ctx, "notify-keyspace-events", want).Err(); err == nil {
			return ""
		}
	}
	return fmt.Sprintf("source %s: cannot set notify-keyspace-events (%v): set it to KA (or KEA) yourself — on ElastiCache in the cluster's parameter group (parameter notify-keyspace-events) — or follow sees no change", sh.Addr, err)
}
