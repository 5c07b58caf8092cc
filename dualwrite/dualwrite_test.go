package dualwrite_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redisha/redisha/dualwrite"
	"github.com/redisha/redisha/internal/sim/redisserver"
	"github.com/redisha/redisha/internal/testbed/redistest"
)

func pair(t *testing.T) (oldC, newC *redis.Client, newSrv *redisserver.Server) { return pairTB(t) }

func pairTB(t testing.TB) (oldC, newC *redis.Client, newSrv *redisserver.Server) {
	t.Helper()
	o := redistest.Start(t, redisserver.Options{})
	n := redistest.Start(t, redisserver.Options{})
	return redistest.Admin(t, o.Addr, "", ""), redistest.Admin(t, n.Addr, "", ""), n
}

func newMirror(t *testing.T, o dualwrite.Options) *dualwrite.Mirror {
	t.Helper()
	m, err := dualwrite.NewMirror(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close(context.Background()) })
	return m
}

func closeMirror(t *testing.T, m *dualwrite.Mirror) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := m.Close(ctx); err != nil {
		t.Fatalf("close: %v", err)
	}
}

func TestMirrorReplaysAcceptedWrites(t *testing.T) {
	oldC, newC, _ := pair(t)
	m := newMirror(t, dualwrite.Options{Target: newC})
	oldC.AddHook(m)
	ctx := context.Background()
	for i := 0; i < 200; i++ {
		oldC.Set(ctx, "seq", i, 0) // same key: mirrored in order
	}
	oldC.HSet(ctx, "h", "name", "a", "modified_time", "1")
	oldC.Incr(ctx, "n")
	oldC.Set(ctx, "gone", "x", 0)
	oldC.Del(ctx, "gone")
	oldC.Get(ctx, "seq")                                           // a read: not mirrored
	oldC.HIncrBy(ctx, "wrongtype-on-old", "f", 1)                  // accepted
	oldC.Incr(ctx, "h")                                            // refused by the old (WRONGTYPE): not mirrored
	oldC.SetNX(ctx, "seq", "ignored", 0)                           // false: nothing changed, not mirrored
	oldC.SetArgs(ctx, "seq", "ignored", redis.SetArgs{Mode: "NX"}) // nil reply: nothing changed, not mirrored
	_, _ = oldC.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.RPush(ctx, "l", "a", "b")
		p.SAdd(ctx, "s", "x")
		p.Get(ctx, "l-not-a-string")
		return nil
	})
	_, _ = oldC.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.ZAdd(ctx, "z", redis.Z{Score: 1.5, Member: "m"})
		p.PExpire(ctx, "z", time.Hour)
		return nil
	})
	closeMirror(t, m)
	s := m.Stats()
	if s.Dropped != 0 || s.Errors != 0 || s.Mirrored != 200+8 {
		t.Fatalf("stats %+v", s)
	}
	for _, k := range []string{"seq", "n"} {
		if a, b := oldC.Get(ctx, k).Val(), newC.Get(ctx, k).Val(); a != b {
			t.Errorf("%s: old %q, new %q", k, a, b)
		}
	}
	if newC.Get(ctx, "seq").Val() != "199" || newC.Exists(ctx, "gone").Val() != 0 ||
		newC.HGet(ctx, "h", "modified_time").Val() != "1" || newC.LLen(ctx, "l").Val() != 2 ||
		newC.ZScore(ctx, "z", "m").Val() != 1.5 || newC.PTTL(ctx, "z").Val() <= 0 {
		t.Errorf("new deployment differs: seq %q gone %d l %d", newC.Get(ctx, "seq").Val(), newC.Exists(ctx, "gone").Val(), newC.LLen(ctx, "l").Val())
	}
}

// A stalled new deployment must neither slow nor fail the old path: writes
// beyond the queue are dropped and counted, the stalled ones time out and
// are counted as errors.
func TestMirrorStalledTargetNeverBlocksOldPath(t *testing.T) {
	oldC, _, newSrv := pair(t)
	// The mirror's Timeout bounds a write only on a client that honours
	// context deadlines.
	newC := redis.NewClient(&redis.Options{Addr: newSrv.Addr, ContextTimeoutEnabled: true, MaxRetries: -1, DialTimeout: time.Second})
	t.Cleanup(func() { _ = newC.Close() })
	var drops, errs atomic.Int64
	m := newMirror(t, dualwrite.Options{Target: newC, QueueSize: 8, Workers: 2, Timeout: 200 * time.Millisecond,
		OnDrop:  func(string) { drops.Add(1) },
		OnError: func(string, error) { errs.Add(1) }})
	oldC.AddHook(m)
	if err := newSrv.Pause(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = newSrv.Resume() })
	ctx := context.Background()
	for i := 0; i < 500; i++ {
		if err := oldC.Set(ctx, "k"+strconv.Itoa(i), i, 0).Err(); err != nil {
			t.Fatalf("old path failed while the new deployment is stalled: %v", err)
		}
	}
	closeMirror(t, m)
	s := m.Stats()
	if s.Dropped < 400 || s.Errors == 0 || s.Dropped+s.Errors+s.Mirrored != 500 || drops.Load() != s.Dropped || errs.Load() != s.Errors {
		t.Fatalf("stats %+v (callbacks: drops %d errors %d)", s, drops.Load(), errs.Load())
	}
}

func TestMirrorNeedsTarget(t *testing.T) {
	if _, err := dualwrite.NewMirror(dualwrite.Options{}); err != dualwrite.ErrNoTarget {
		t.Fatalf("err %v", err)
	}
}

func TestSwitchFollowsFile(t *testing.T) {
	oldC, newC, _ := pair(t)
	path := filepath.Join(t.TempDir(), "read-from")
	var flag dualwrite.Flag
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errs := make(chan error, 10)
	dualwrite.WatchFile(ctx, path, 10*time.Millisecond, &flag, func(err error) { errs <- err })
	sw := dualwrite.NewSwitch(oldC, newC, flag.Load)
	if sw.Client() != oldC {
		t.Fatal("no file: reads must stay on the old deployment")
	}
	waitFor := func(want redis.UniversalClient) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for sw.Client() != want {
			if time.Now().After(deadline) {
				t.Fatalf("switch did not follow the file; UsingNew=%v", sw.UsingNew())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	if err := os.WriteFile(path, []byte("new\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(newC)
	if err := os.WriteFile(path, []byte("maybe"), 0o600); err != nil {
		t.Fatal(err)
	}
	select {
	case <-errs:
	case <-time.After(5 * time.Second):
		t.Fatal("a garbled file was not reported")
	}
	if !sw.UsingNew() {
		t.Fatal("a garbled file flipped reads")
	}
	if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(oldC)
}
