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

	"github.com/redis/go-redis/v9"

	"github.com/redisha/redisha/internal/redisconn"
	"github.com/redisha/redisha/internal/sim/redisserver"
	"github.com/redisha/redisha/internal/testbed/redistest"
	"github.com/redisha/redisha/internal/testbed/wait"
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

// waitUntil waits (wait.Until) until ok holds and fails after 30 seconds
// with what and ok's last description of the state.
func waitUntil(t *testing.T, what string, ok func() (bool, string)) {
	t.Helper()
	var state string
	if !wait.Until(context.Background(), 30*time.Second, func() (done bool) { done, state = ok(); return done }) {
		t.Fatalf("still waiting for %s after 30s; %s", what, state)
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

// After a failover the followed node is a replica: while it replicates
// from the new primary, follow says so and still sees every write; once
// it is cut off, follow warns and counts it.
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
	redistest.WaitReplicaLink(t, primary.Addr, "")
	waitWarning(t, warnings, "is now a replica")
	// The write to the new primary reaches the demoted node by replication.
	ctx := context.Background()
	if err := redistest.Admin(t, replica.Addr, "", "").Set(ctx, "after-failover", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the write to the new primary on the target", func() (bool, string) {
		v, err := dst.Client.Get(ctx, "after-failover").Result()
		return v == "v", fmt.Sprintf("%q %v", v, err)
	})
	if s := last.Load(); s.MayHaveMissed() {
		t.Fatalf("a replicating demoted node counted as missing changes: %+v", s)
	}
	replica.Kill() // the new primary goes away: the old node is cut off
	waitStats(t, &last, func(s FollowStats) bool { return s.Demoted > 0 && s.MayHaveMissed() })
	waitWarning(t, warnings, "changes made on its primary are missed")
}

// waitWarning waits for a warning containing want.
func waitWarning(t *testing.T, warnings <-chan string, want string) {
	t.Helper()
	waitUntil(t, "warning "+strconv.Quote(want), func() (bool, string) {
		for {
			select {
			case w := <-warnings:
				if strings.Contains(w, want) {
					return true, w
				}
			default:
				return false, "not yet"
			}
		}
	})
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

// FLUSHDB sends no keyspace event: follow cannot delete what it removed,
// but says so, counts it, and the deaf check does not mistake it.
func TestFollowSourceFlushIsWarnedAbout(t *testing.T) {
	src := open(t, "source", plain(t, redisserver.Options{}))
	dst := open(t, "target", plain(t, redisserver.Options{}))
	fill(t, src.Client, "fl", 100)
	runCopy(t, src, dst, CopyOptions{})
	var last atomic.Pointer[FollowStats]
	warnings := make(chan string, 100)
	startFollow(t, src, dst, FollowOptions{CheckEvery: 50 * time.Millisecond, StatsEvery: 20 * time.Millisecond,
		OnStats: func(s FollowStats) { last.Store(&s) }, OnWarning: func(s string) { warnings <- s }})
	if err := src.Client.FlushDB(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	waitStats(t, &last, func(s FollowStats) bool { return s.Flushed == 1 && s.MayHaveMissed() })
	waitWarning(t, warnings, "ran FLUSHDB")
	// Two more checks over the flush: it is not taken for deafness.
	n := last.Load().Flushed
	src.Client.FlushDB(context.Background())
	waitStats(t, &last, func(s FollowStats) bool { return s.Flushed > n })
	if s := last.Load(); s.Silent != 0 {
		t.Fatalf("a flush read as a deaf master: %+v", s)
	}
}

// A change made while the subscription is down has no event: with Resync,
// every key of the master is copied again after the reconnect, so it lands;
// without, follow only says changes may have been missed.
func TestFollowResyncAfterReconnect(t *testing.T) {
	for _, resync := range []bool{false, true} {
		t.Run(fmt.Sprintf("resync=%v", resync), func(t *testing.T) {
			src := open(t, "source", plain(t, redisserver.Options{}))
			dst := open(t, "target", plain(t, redisserver.Options{}))
			fill(t, src.Client, "rs", 200)
			runCopy(t, src, dst, CopyOptions{})
			var last atomic.Pointer[FollowStats]
			warnings := make(chan string, 100)
			startFollow(t, src, dst, FollowOptions{Resync: resync, StatsEvery: 20 * time.Millisecond,
				OnStats: func(s FollowStats) { last.Store(&s) }, OnWarning: func(s string) { warnings <- s }})
			ctx := context.Background()
			// Cut the subscription and write in one transaction: the
			// write's notification finds no subscriber, however soon the
			// listener subscribes again (on a loaded machine a separate
			// write could come after that).
			if _, err := src.Client.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.Do(ctx, "CLIENT", "KILL", "TYPE", "pubsub")
				p.Set(ctx, "rs:in-the-gap", "v", 0)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			waitWarning(t, warnings, "subscribed again")
			if !resync {
				waitStats(t, &last, func(s FollowStats) bool { return s.Reconnects > 0 && s.MayHaveMissed() && s.Pending == 0 })
				if n, _ := dst.Client.Exists(ctx, "rs:in-the-gap").Result(); n != 0 {
					t.Fatal("the change in the gap reached the target without a resync: the test shows nothing")
				}
				return
			}
			waitWarning(t, warnings, "resync after the reconnect queued")
			converge(t, src, dst)
		})
	}
}
