package migrate

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redisha/redisha/internal/redisconn"
	"github.com/redisha/redisha/internal/sim/redisserver"
	"github.com/redisha/redisha/internal/testbed/redistest"
)

// startFollow runs Follow until the test ends and returns once it is
// subscribed.
func startFollow(t *testing.T, src, dst *Side, o FollowOptions) func() FollowStats {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	subscribed := make(chan struct{})
	o.OnSubscribed = func() { close(subscribed) }
	if o.OnWarning == nil {
		o.OnWarning = func(s string) { t.Log("follow:", s) }
	}
	var stats FollowStats
	done := make(chan error, 1)
	go func() {
		var err error
		stats, err = Follow(ctx, src, dst, o)
		done <- err
	}()
	select {
	case <-subscribed:
	case err := <-done:
		t.Fatalf("follow: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("follow: not subscribed after 20s")
	}
	var once sync.Once
	stop := func() FollowStats {
		once.Do(func() { cancel(); <-done })
		return stats
	}
	t.Cleanup(func() { stop() })
	return stop
}

// converge waits until a full compare finds no difference.
func converge(t *testing.T, src, dst *Side) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		rep, err := Compare(context.Background(), src, dst, CompareOptions{NoRecheck: true, TTLTolerance: 200 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Differences() == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no convergence after 30s: %s %+v", rep.Summary(), rep.Diffs[:min(5, len(rep.Diffs))])
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestFollowKeepsTargetCurrent(t *testing.T) {
	src := open(t, "source", plain(t, redisserver.Options{}))
	dst := open(t, "target", cluster(t, 2, redisserver.Options{}))
	fill(t, src.Client, "f", 500)
	runCopy(t, src, dst, CopyOptions{})
	var last atomic.Pointer[FollowStats]
	stop := startFollow(t, src, dst, FollowOptions{StatsEvery: 20 * time.Millisecond,
		OnStats: func(s FollowStats) { last.Store(&s) }})
	ctx := context.Background()
	pipe := src.Client.Pipeline()
	pipe.Set(ctx, "f:new", "fresh", 0)
	pipe.HSet(ctx, "f:1", "modified_time", "1800000000")
	pipe.Del(ctx, "f:2", "f:3")
	pipe.PExpire(ctx, "f:4", 20*time.Millisecond)
	pipe.Rename(ctx, "f:5", "f:5-renamed")
	pipe.LPush(ctx, "f:7", "head")
	pipe.ZIncrBy(ctx, "f:9", 1, "a")
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	converge(t, src, dst)
	// The data converging does not mean follow is done: the target's copy
	// of f:4 expires by itself, before follow has handled the source's
	// expiry event. What this test means is that follow saw every change
	// and deleted f:2, f:3, f:4 (expired) and f:5 (renamed away) itself.
	waitStats(t, &last, func(s FollowStats) bool { return s.Events >= 8 && s.Deleted >= 4 && s.Pending == 0 })
	stop()
	converge(t, src, dst)
}

// waitStats waits until follow's latest stats satisfy ok, and fails with
// the last snapshot after 30 seconds.
func waitStats(t *testing.T, last *atomic.Pointer[FollowStats], ok func(FollowStats) bool) {
	t.Helper()
	waitUntil(t, "follow stats", func() (bool, string) {
		s := last.Load()
		return s != nil && ok(*s), fmt.Sprintf("last %+v", s)
	})
}

// waitUntil polls ok until it holds and fails after 30 seconds with what
// and ok's last description of the state.
func waitUntil(t *testing.T, what string, ok func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		done, state := ok()
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached after 30s; %s", what, state)
		}
		time.Sleep(10 * time.Millisecond) // polls observed state; the waited-for condition is not time
	}
}

// Writes during the copy: Follow started first, told when the copy is done,
// brings the target to exactly the source.
func TestCopyWithWritesConvergesWithFollow(t *testing.T) {
	src := open(t, "source", plain(t, redisserver.Options{}))
	dst := open(t, "target", cluster(t, 2, redisserver.Options{}))
	fill(t, src.Client, "w", 5000)
	copyDone := make(chan struct{})
	startFollow(t, src, dst, FollowOptions{CopyDone: copyDone})

	ctx, stopWriter := context.WithCancel(context.Background())
	var writer sync.WaitGroup
	writer.Add(1)
	go func() {
		defer writer.Done()
		r := rand.New(rand.NewPCG(1, 2))
		for i := 0; ctx.Err() == nil; i++ {
			k := "w:" + strconv.Itoa(r.IntN(5500))
			switch i % 6 {
			case 0:
				src.Client.Set(ctx, k, "overwritten-"+strconv.Itoa(i), 0)
			case 1:
				src.Client.Del(ctx, k)
			case 2:
				src.Client.HSet(ctx, "w:hash:"+strconv.Itoa(r.IntN(50)), "modified_time", i)
			case 3:
				src.Client.PExpire(ctx, k, time.Duration(5+r.IntN(50))*time.Millisecond)
			case 4:
				src.Client.RPush(ctx, "w:list:"+strconv.Itoa(r.IntN(50)), i)
			case 5:
				src.Client.Set(ctx, k, i, time.Hour)
			}
		}
	}()
	runCopy(t, src, dst, CopyOptions{ScanCount: 100, Workers: 2})
	close(copyDone)
	stopWriter()
	writer.Wait()
	converge(t, src, dst)
}

// Where CONFIG is not allowed (ElastiCache) and notifications are off,
// follow cannot tell at start; its health check finds the master changing
// data with no event, says which parameter to set and counts the checks.
func TestFollowDeafSourceIsWarnedAbout(t *testing.T) {
	src := open(t, "source", plain(t, redisserver.Options{Config: []string{`rename-command CONFIG ""`}}))
	dst := open(t, "target", plain(t, redisserver.Options{}))
	warnings := make(chan string, 100)
	var last atomic.Pointer[FollowStats]
	startFollow(t, src, dst, FollowOptions{CheckEvery: 100 * time.Millisecond, StatsEvery: 20 * time.Millisecond,
		OnStats: func(s FollowStats) { last.Store(&s) }, OnWarning: func(s string) { warnings <- s }})
	select {
	case w := <-warnings:
		t.Fatalf("warning before any change: %q", w)
	default:
	}
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if err := src.Client.Set(ctx, "deaf:"+strconv.Itoa(i), "v", 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	waitStats(t, &last, func(s FollowStats) bool { return s.Silent > 0 && s.MayHaveMissed() })
	w := <-warnings
	if !strings.Contains(w, "sends no keyspace event") || !strings.Contains(w, "parameter group") {
		t.Fatalf("warning %q does not say follow is deaf and which parameter to set", w)
	}
}

// A source set up as on ElastiCache (CONFIG refused, notify-keyspace-events
// from the parameter group) is followed without any warning.
func TestFollowConfiguredSourceNoFalseWarning(t *testing.T) {
	src := open(t, "source", plain(t, redisserver.Options{Config: []string{`rename-command CONFIG ""`, "notify-keyspace-events KEA"}}))
	dst := open(t, "target", plain(t, redisserver.Options{}))
	var warned atomic.Int64
	var last atomic.Pointer[FollowStats]
	// A check period long enough that no event is late by a whole period
	// on a loaded machine (a late event would read as a deaf master).
	startFollow(t, src, dst, FollowOptions{CheckEvery: 250 * time.Millisecond, StatsEvery: 20 * time.Millisecond,
		OnStats:   func(s FollowStats) { last.Store(&s) },
		OnWarning: func(s string) { warned.Add(1); t.Log("follow:", s) }})
	ctx := context.Background()
	for i := 0; i < 20; i++ {
		if err := src.Client.Set(ctx, "ok:"+strconv.Itoa(i), i, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	converge(t, src, dst)
	// Several health checks must have run over the changes.
	waitStats(t, &last, func(s FollowStats) bool { return s.Copied >= 20 && s.Pending == 0 })
	n := last.Load().Events
	for i := 20; i < 25; i++ {
		src.Client.Set(ctx, "ok:"+strconv.Itoa(i), i, 0)
	}
	waitStats(t, &last, func(s FollowStats) bool { return s.Events >= n+5 })
	if warned.Load() != 0 || last.Load().MayHaveMissed() {
		t.Fatalf("%d warnings on a correctly configured source; stats %+v", warned.Load(), last.Load())
	}
}

// A restarted source forgets notify-keyspace-events set with CONFIG SET:
// follow switches it on again when it subscribes again, and later changes
// reach the target.
func TestFollowSourceRestartKeepsFollowing(t *testing.T) {
	srv := redistest.Start(t, redisserver.Options{})
	src := open(t, "source", redisconn.Config{Addr: srv.Addr})
	dst := open(t, "target", plain(t, redisserver.Options{}))
	warnings := make(chan string, 100)
	startFollow(t, src, dst, FollowOptions{CheckEvery: 100 * time.Millisecond, OnWarning: func(s string) { warnings <- s }})
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	waitUntil(t, "subscribed again", func() (bool, string) {
		select {
		case w := <-warnings:
			return strings.Contains(w, "subscribed again"), w
		default:
			return false, "no warning yet"
		}
	})
	if err := src.Client.Set(ctx, "after-restart", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the change after the restart on the target", func() (bool, string) {
		v, err := dst.Client.Get(ctx, "after-restart").Result()
		return v == "v", fmt.Sprintf("target: %q %v", v, err)
	})
}

// After a failover the followed node is a replica: follow says so and
// counts it, instead of listening to it in silence.
func TestFollowDemotedSourceIsWarnedAbout(t *testing.T) {
	primary := redistest.Start(t, redisserver.Options{})
	replica := redistest.StartReplica(t, primary, "")
	src := open(t, "source", redisconn.Config{Addr: primary.Addr})
	dst := open(t, "target", plain(t, redisserver.Options{}))
	var last atomic.Pointer[FollowStats]
	warnings := make(chan string, 100)
	startFollow(t, src, dst, FollowOptions{CheckEvery: 50 * time.Millisecond, StatsEvery: 20 * time.Millisecond,
		OnStats: func(s FollowStats) { last.Store(&s) }, OnWarning: func(s string) { warnings <- s }})
	redistest.Failover(t, primary, replica, "")
	waitStats(t, &last, func(s FollowStats) bool { return s.Demoted > 0 })
	for {
		w := <-warnings
		if strings.Contains(w, "is now a slave") && strings.Contains(w, "new primary") {
			return
		}
	}
}

// Keyspace notifications are per node: follow subscribes to every master
// of a cluster source.
func TestFollowClusterSource(t *testing.T) {
	src := open(t, "source", cluster(t, 3, redisserver.Options{}))
	dst := open(t, "target", plain(t, redisserver.Options{}))
	fill(t, src.Client, "cs", 300)
	runCopy(t, src, dst, CopyOptions{})
	stop := startFollow(t, src, dst, FollowOptions{})
	ctx := context.Background()
	for i := 0; i < 300; i += 7 {
		k := "cs:" + strconv.Itoa(i)
		if i%2 == 0 {
			src.Client.Del(ctx, k)
		} else {
			src.Client.Set(ctx, k, "changed", 0)
		}
	}
	converge(t, src, dst)
	if s := stop(); s.Deleted == 0 || s.Copied == 0 {
		t.Fatalf("stats %+v", s)
	}
}

// TestUnreadableExpiryDeletesNothing: a source that refuses the expiry read
// (here an ACL) must leave the target key alone and report the key, in both
// DUMP and type-aware copies; before, the refusal read as "key gone" and the
// follower deleted the key on the target.
func TestUnreadableExpiryDeletesNothing(t *testing.T) {
	src := open(t, "source", plain(t, redisserver.Options{}))
	dst := open(t, "target", plain(t, redisserver.Options{}))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, k := range []string{"k:dump", "k:typed"} {
		if err := src.Client.Set(ctx, k, "source", 0).Err(); err != nil {
			t.Fatal(err)
		}
		if err := dst.Client.Set(ctx, k, "target", 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := src.Client.Do(ctx, "ACL", "SETUSER", "default", "-pttl", "-pexpiretime").Err(); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []Mode{ModeDump, ModeTyped} {
		key := "k:dump"
		if mode == ModeTyped {
			key = "k:typed"
		}
		co := CopyOptions{Mode: mode}
		co.defaults()
		c := &copier{o: co, src: src, dst: dst, plan: Plan{Mode: mode}, deleteGone: true, absTTL: false}
		if err := c.copyBatch(ctx, src.Shards[0], []string{key}); err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
		if v, err := dst.Client.Get(ctx, key).Result(); err != nil || v != "target" {
			t.Fatalf("%s: target %s = %q, %v; want it untouched", mode, key, v, err)
		}
		if c.deleted.Load() != 0 || c.failed.Load() != 1 {
			t.Fatalf("%s: deleted %d failed %d; want 0 and 1", mode, c.deleted.Load(), c.failed.Load())
		}
	}
}

// One key is copied by one worker at a time: a change that arrives while
// its key is being copied is held until that copy ends, then queued again,
// so the last change always wins.
func TestFollowQueueOneWorkerPerKey(t *testing.T) {
	q := newQueue()
	t0 := time.Now()
	q.push("k", t0)
	keys, _ := q.take(10)
	if len(keys) != 1 {
		t.Fatalf("take = %v", keys)
	}
	q.push("k", t0.Add(time.Millisecond)) // changed while a worker copies it
	if again, _ := q.take(10); len(again) != 0 {
		t.Fatalf("a second worker took %v while the first still copies it", again)
	}
	if n, _ := q.state(); n != 1 {
		t.Fatalf("pending %d while k is in flight; want 1", n)
	}
	q.done(keys, false, t0)
	if again, _ := q.take(10); len(again) != 1 || again[0] != "k" {
		t.Fatalf("after the copy ended, take = %v; want k queued again for its newer change", again)
	}
	q.done([]string{"k"}, false, t0)
	if n, _ := q.state(); n != 0 {
		t.Fatalf("pending %d; want 0", n)
	}
	// A failed batch goes back to the queue.
	q.push("f", t0)
	keys, _ = q.take(10)
	q.done(keys, true, t0)
	if n, _ := q.state(); n != 1 {
		t.Fatalf("pending %d after a failed batch; want it queued again", n)
	}
}

// Temporary keys are fresh for every chunked copy and share the key's slot,
// also for names whose slot no hash tag of the name can reach.
func TestTempKeySameSlotNeverTheKey(t *testing.T) {
	// Values from CLUSTER KEYSLOT in the Redis documentation.
	for key, want := range map[string]uint16{"somekey": 11058, "foo{hash_tag}": 2515, "bar{hash_tag}": 2515} {
		if got := slot(key); got != want {
			t.Errorf("slot(%q) = %d; want %d", key, got, want)
		}
	}
	for _, key := range []string{"plain", "{user1}:x", "a}b", "t:bigname:{}x", "odd}{name", "a{b", ""} {
		a, b := tempKey(key), tempKey(key)
		if a == b || a == key || b == key {
			t.Errorf("tempKey(%q) = %q, %q: want two fresh names, never the key", key, a, b)
		}
		if slot(a) != slot(key) || slot(b) != slot(key) {
			t.Errorf("tempKey(%q) = %q: slot %d, key's slot %d", key, a, slot(a), slot(key))
		}
	}
}

// Keys written while follow re-copies them end equal to the source: a big
// key copied in chunks written many times a second, and small keys whose newer value a
// slow batch's older read could otherwise overwrite for good.
func TestFollowRaceOneKeyLastChangeWins(t *testing.T) {
	src := open(t, "source", plain(t, redisserver.Options{}))
	dst := open(t, "target", cluster(t, 2, redisserver.Options{}))
	ctx := context.Background()
	const big = "race:big"
	pipe := src.Client.Pipeline()
	for i := 0; i < 50000; i++ {
		pipe.HSet(ctx, big, "field:"+strconv.Itoa(i), strings.Repeat("v", 20))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	runCopy(t, src, dst, CopyOptions{BigKeyBytes: 4096, Chunk: 100})
	startFollow(t, src, dst, FollowOptions{BigKeyBytes: 4096, Chunk: 100, Workers: 4, Batch: 50})

	slow := strings.Repeat("b", 2<<20) // a batch that takes a while
	tick := time.NewTicker(3 * time.Millisecond)
	defer tick.Stop()
	for i := 0; i < 60; i++ {
		<-tick.C // paces the load; nothing waits on follow here
		k := "race:small:" + strconv.Itoa(i)
		p := src.Client.Pipeline()
		p.HSet(ctx, big, "hot", i)
		p.Set(ctx, "race:slow", slow[:len(slow)-i], 0)
		p.Set(ctx, k, "v1", 0)
		if _, err := p.Exec(ctx); err != nil {
			t.Fatal(err)
		}
		<-tick.C
		if err := src.Client.Set(ctx, k, "v2", 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	converge(t, src, dst)
	if n, _ := dst.Client.HLen(ctx, big).Result(); n != 50001 {
		t.Fatalf("target %s has %d fields; want 50001", big, n)
	}
}

// A copy resumed from its checkpoint while nothing followed the source in
// between: rescanning brings changed and new keys, reconciling deletes on
// the target what the source deleted meanwhile.
func TestResumedCopyWithFollowClosesTheGap(t *testing.T) {
	src := open(t, "source", plain(t, redisserver.Options{}))
	dst := open(t, "target", cluster(t, 2, redisserver.Options{}))
	fill(t, src.Client, "gap", 2000)
	cp := filepath.Join(t.TempDir(), "cp.json")
	runCopy(t, src, dst, CopyOptions{Checkpoint: cp})
	// Down: the source changes and nothing follows it.
	ctx := context.Background()
	pipe := src.Client.Pipeline()
	pipe.Set(ctx, "gap:new", "v", 0)
	pipe.Set(ctx, "gap:0", "changed", 0)
	pipe.Del(ctx, "gap:1", "gap:6")
	pipe.Rename(ctx, "gap:2", "gap:2-renamed")
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	copyDone := make(chan struct{})
	startFollow(t, src, dst, FollowOptions{CopyDone: copyDone, Reconcile: true})
	res := runCopy(t, src, dst, CopyOptions{Checkpoint: cp, Rescan: true})
	close(copyDone)
	if !res.Resumed || res.Progress.Copied < 1998 {
		t.Fatalf("resumed %v, copied %d; want every key copied again", res.Resumed, res.Progress.Copied)
	}
	converge(t, src, dst)
}
