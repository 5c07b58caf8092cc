package migrate

import (
	"context"
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redisha/redisha/internal/redisconn"
	"github.com/redisha/redisha/internal/sim/redisserver"
	"github.com/redisha/redisha/internal/testbed/redistest"
)

func TestCopyStandalone(t *testing.T) {
	src := open(t, "source", plain(t, redisserver.Options{}))
	dst := open(t, "target", plain(t, redisserver.Options{}))
	fill(t, src.Client, "k", 5000)
	var finals atomic.Int32
	res := runCopy(t, src, dst, CopyOptions{ScanCount: 200, OnProgress: func(p Progress) {
		if p.Done {
			finals.Add(1)
		}
	}})
	if res.Plan.Mode != ModeDump || !strings.Contains(res.Plan.TTL, "absolute") || res.Progress.Copied != 5000 || res.Progress.Failed != 0 || finals.Load() != 1 {
		t.Fatalf("plan %+v progress %+v finals %d", res.Plan, res.Progress, finals.Load())
	}
	rep := mustEqual(t, src, dst)
	if rep.Checked != 5000 {
		t.Fatalf("checked %d keys, want 5000", rep.Checked)
	}
	// Same clock, absolute expiry times: the same millisecond on both sides.
	ctx := context.Background()
	for i := 0; i < 5000; i += 3 * 97 {
		k := "k:" + strconv.Itoa(i)
		s, _ := src.Client.Do(ctx, "PEXPIRETIME", k).Int64()
		d, _ := dst.Client.Do(ctx, "PEXPIRETIME", k).Int64()
		if s <= 0 || s != d {
			t.Errorf("%s: source expires at %d ms, target at %d ms", k, s, d)
		}
	}
}

func TestCopyClusterToCluster(t *testing.T) {
	src := open(t, "source", cluster(t, 3, redisserver.Options{}))
	dst := open(t, "target", cluster(t, 2, redisserver.Options{}))
	if !src.Cluster || len(src.Shards) != 3 || len(dst.Shards) != 2 {
		t.Fatalf("source cluster %v with %d shards, target %d shards", src.Cluster, len(src.Shards), len(dst.Shards))
	}
	fill(t, src.Client, "c", 3000)
	res := runCopy(t, src, dst, CopyOptions{})
	if res.Progress.Copied != 3000 || res.Progress.ShardsDone != 3 {
		t.Fatalf("progress %+v", res.Progress)
	}
	mustEqual(t, src, dst)
}

func TestCopyTLSAuthStandaloneToCluster(t *testing.T) {
	certs := redistest.NewCerts(t, "localhost")
	src := open(t, "source", plain(t, redisserver.Options{TLS: &certs.TLSFiles, Password: "src-secret"}))
	dst := open(t, "target", cluster(t, 2, redisserver.Options{TLS: &certs.TLSFiles, Password: "dst-secret"}))
	fill(t, src.Client, "tls", 1000)
	runCopy(t, src, dst, CopyOptions{})
	mustEqual(t, src, dst)
}

// There is one redis-server binary here, so a target older than the source
// is simulated by injecting the versions the copy detects.
func TestCopyTargetOlderThanSource(t *testing.T) {
	src := open(t, "source", plain(t, redisserver.Options{}))
	dst := open(t, "target", cluster(t, 2, redisserver.Options{}))
	fill(t, src.Client, "v", 1000)
	ctx := context.Background()
	if err := src.Client.XAdd(ctx, &redisXAdd).Err(); err != nil {
		t.Fatal(err)
	}
	older := func(string, string) (string, string) { return "7.2.4", "6.2.14" }

	_, err := Copy(ctx, src, dst, CopyOptions{Mode: ModeDump, versions: older})
	if err == nil || !strings.Contains(err.Error(), "older than source") {
		t.Fatalf("mode dump with an older target: err %v, want a refusal naming the versions", err)
	}

	res := runCopy(t, src, dst, CopyOptions{versions: older})
	if res.Plan.Mode != ModeTyped || !strings.Contains(res.Plan.Reason, "6.2.14") {
		t.Fatalf("plan %+v, want typed naming the target version", res.Plan)
	}
	if res.Progress.Copied != 1000 || res.Progress.Failed != 1 || len(res.Problems) != 1 || res.Problems[0].Kind != "unsupported" {
		t.Fatalf("progress %+v problems %+v: want 1000 copied and the stream reported", res.Progress, res.Problems)
	}
	_ = src.Client.Del(ctx, redisXAdd.Stream)
	mustEqual(t, src, dst)
}

func TestCopyBigKeysInChunks(t *testing.T) {
	src := open(t, "source", plain(t, redisserver.Options{}))
	dst := open(t, "target", plain(t, redisserver.Options{}))
	ctx := context.Background()
	fill(t, src.Client, "small", 100)
	pipe := src.Client.Pipeline()
	for i := 0; i < 5000; i++ {
		s := strconv.Itoa(i)
		pipe.HSet(ctx, "big:hash", "f"+s, "v"+s)
		pipe.RPush(ctx, "big:list", s)
		pipe.SAdd(ctx, "big:set", s)
		pipe.ZAdd(ctx, "big:zset", redisZ(float64(i)/3, s))
	}
	pipe.Set(ctx, "big:string", strings.Repeat("0123456789abcdef", 1<<16), 0) // 1 MiB
	pipe.PExpire(ctx, "big:hash", time.Hour)
	// A name no temporary key can share a cluster slot with.
	pipe.SAdd(ctx, "odd}{name", "a", "b")
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	res := runCopy(t, src, dst, CopyOptions{BigKeyBytes: 4096, Chunk: 64})
	if res.Progress.Copied != 106 || res.Progress.Failed != 0 {
		t.Fatalf("progress %+v problems %+v", res.Progress, res.Problems)
	}
	mustEqual(t, src, dst)
	if n, _ := dst.Client.Keys(ctx, "*"+tempKeySuffix+"*").Result(); len(n) != 0 {
		t.Fatalf("temporary keys left on the target: %v", n)
	}
}

// Both ways expiry times travel: absolute (source 7.0+) and relative (PTTL,
// an older source simulated by injecting its version).
func TestCopyKeysExpiringDuringCopy(t *testing.T) {
	for _, tc := range []struct {
		name     string
		versions func(string, string) (string, string)
	}{
		{"absolute", nil},
		{"relative", func(string, string) (string, string) { return "6.2.14", "7.0.15" }},
	} {
		t.Run(tc.name, func(t *testing.T) { expiringDuringCopy(t, tc.name, tc.versions) })
	}
}

func expiringDuringCopy(t *testing.T, clock string, versions func(string, string) (string, string)) {
	src := open(t, "source", plain(t, redisserver.Options{}))
	dst := open(t, "target", plain(t, redisserver.Options{}))
	ctx := context.Background()
	pipe := src.Client.Pipeline()
	for i := 0; i < 3000; i++ {
		pipe.Set(ctx, "short:"+strconv.Itoa(i), "v", time.Duration(1+i%40)*time.Millisecond)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	res := runCopy(t, src, dst, CopyOptions{ScanCount: 100, Workers: 2, versions: versions})
	if res.Progress.Failed != 0 || !strings.Contains(res.Plan.TTL, clock) {
		t.Fatalf("plan %+v problems %+v", res.Plan, res.Problems)
	}
	// Whatever was copied carries its TTL: none may outlive the source.
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, err := dst.Client.DBSize(ctx).Result()
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			left, _ := dst.Client.Keys(ctx, "*").Result()
			t.Fatalf("%d keys outlived their source TTL, e.g. %v", n, left[:min(3, len(left))])
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestCopyInterruptAndResume(t *testing.T) {
	src := open(t, "source", plain(t, redisserver.Options{}))
	dst := open(t, "target", cluster(t, 2, redisserver.Options{}))
	fill(t, src.Client, "r", 6000)
	cp := filepath.Join(t.TempDir(), "copy.checkpoint")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	first, err := Copy(ctx, src, dst, CopyOptions{ScanCount: 100, Workers: 2, MaxRate: 5000, Checkpoint: cp,
		ProgressEvery: 10 * time.Millisecond, OnProgress: func(p Progress) {
			if p.Copied >= 1500 {
				cancel()
			}
		}})
	if !errors.Is(err, ErrInterrupted) {
		t.Fatalf("first run: err %v, want ErrInterrupted", err)
	}
	saved, err := LoadCheckpoint(cp)
	if err != nil || saved == nil || saved.Shards[src.Addr].Done || saved.Shards[src.Addr].Cursor == 0 {
		t.Fatalf("checkpoint after interruption: %+v, %v", saved, err)
	}
	second := runCopy(t, src, dst, CopyOptions{ScanCount: 100, Checkpoint: cp})
	if !second.Resumed || second.Progress.Copied >= 6000 || second.Progress.Copied+first.Progress.Copied < 6000 {
		t.Fatalf("resume: resumed %v, first copied %d, second %d: want the second to continue, not start over",
			second.Resumed, first.Progress.Copied, second.Progress.Copied)
	}
	mustEqual(t, src, dst)
	// A checkpoint is for one source, target and pattern.
	if _, err := Copy(context.Background(), src, dst, CopyOptions{Checkpoint: cp, Match: "r:1*"}); err == nil || !strings.Contains(err.Error(), "pass another --checkpoint") {
		t.Fatalf("checkpoint reused for another pattern: %v", err)
	}
	// A finished checkpoint makes a third run a no-op.
	third := runCopy(t, src, dst, CopyOptions{ScanCount: 100, Checkpoint: cp})
	if third.Progress.Copied != 0 {
		t.Fatalf("third run copied %d keys from a finished checkpoint", third.Progress.Copied)
	}
}

func TestCopyMaxRate(t *testing.T) {
	src := open(t, "source", plain(t, redisserver.Options{}))
	dst := open(t, "target", plain(t, redisserver.Options{}))
	fill(t, src.Client, "m", 600)
	start := time.Now()
	runCopy(t, src, dst, CopyOptions{ScanCount: 100, MaxRate: 1000})
	// 600 keys at 1000 keys/s in pages of ~100: at least ~0.4 s. Only a
	// lower bound: a loaded machine is slower, never faster.
	if d := time.Since(start); d < 400*time.Millisecond {
		t.Fatalf("600 keys at --max-rate 1000 took %s, want at least 0.4s", d)
	}
}

// A key the target refuses (here: out of memory; in production also a
// module type the target lacks) is reported and the copy goes on.
func TestCopyReportsRefusedKeysAndGoesOn(t *testing.T) {
	src := open(t, "source", plain(t, redisserver.Options{}))
	dst := open(t, "target", plain(t, redisserver.Options{Config: []string{"maxmemory 3mb", "maxmemory-policy noeviction"}}))
	ctx := context.Background()
	fill(t, src.Client, "ok", 200)
	for i := 0; i < 40; i++ {
		if err := src.Client.Set(ctx, "fat:"+strconv.Itoa(i), strings.Repeat("x", 256<<10), 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	res, err := Copy(ctx, src, dst, CopyOptions{})
	if err != nil {
		t.Fatalf("copy stopped: %v", err)
	}
	if res.Progress.Failed == 0 || len(res.Problems) == 0 || res.Problems[0].Kind != "restore" || !strings.Contains(res.Problems[0].Err, "OOM") {
		t.Fatalf("progress %+v problems %+v", res.Progress, res.Problems[:min(2, len(res.Problems))])
	}
	if res.Progress.Copied+res.Progress.Failed != 240 {
		t.Fatalf("copied %d + failed %d, want 240 keys accounted for", res.Progress.Copied, res.Progress.Failed)
	}
}

// One deployment under two addresses (a host name and its IP; two nodes of
// one cluster) is recognised by its run id or node ids: copy and follow
// refuse before writing anything, and the source keeps its keys.
func TestSameDeploymentUnderAnotherAddressRefused(t *testing.T) {
	ctx := context.Background()
	s := redistest.Start(t, redisserver.Options{})
	_, port, _ := strings.Cut(s.Addr, ":")
	src := open(t, "source", redisconn.Config{Addr: s.Addr})
	dst := open(t, "target", redisconn.Config{Addr: "localhost:" + port})
	if err := src.Client.HSet(ctx, "t:bigname:a}b", "f", strings.Repeat("x", 10000)).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := Copy(ctx, src, dst, CopyOptions{BigKeyBytes: 100}); err == nil || !strings.Contains(err.Error(), "same server") {
		t.Fatalf("copy onto itself: err %v; want a refusal naming the same server", err)
	}
	if _, err := Follow(ctx, src, dst, FollowOptions{}); err == nil || !strings.Contains(err.Error(), "same server") {
		t.Fatalf("follow onto itself: err %v; want a refusal", err)
	}
	if n, _ := src.Client.Exists(ctx, "t:bigname:a}b").Result(); n != 1 {
		t.Fatal("the source key is gone")
	}

	nodes := redistest.StartCluster(t, 3, redisserver.Options{})
	a := open(t, "source", redisconn.Config{Addr: nodes[0].Addr})
	b := open(t, "target", redisconn.Config{Addr: nodes[1].Addr})
	if why := SameDeployment(a, b); !strings.Contains(why, "same cluster") {
		t.Fatalf("two nodes of one cluster: %q", why)
	}
	if _, err := Copy(ctx, a, b, CopyOptions{}); err == nil {
		t.Fatal("copy between two nodes of one cluster was not refused")
	}
	other := open(t, "target", plain(t, redisserver.Options{}))
	if why := SameDeployment(src, other); why != "" {
		t.Fatalf("two servers taken for one: %s", why)
	}
	if !strings.Contains(src.Identity(), "run id "+src.Shards[0].RunID) || len(src.Shards[0].RunID) != 40 {
		t.Fatalf("identity %q", src.Identity())
	}
}

// Keys the target evicts during the copy are counted and reported, not
// hidden behind "100%".
func TestCopyReportsTargetEvictions(t *testing.T) {
	src := open(t, "source", plain(t, redisserver.Options{}))
	dst := open(t, "target", plain(t, redisserver.Options{Config: []string{"maxmemory 3mb", "maxmemory-policy allkeys-lru"}}))
	fill(t, src.Client, "ev", 20000)
	res, err := Copy(context.Background(), src, dst, CopyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Evicted == 0 || res.TargetPolicy != "allkeys-lru" {
		t.Fatalf("evicted %d policy %q; want evictions counted", res.Evicted, res.TargetPolicy)
	}
	found := false
	for _, p := range res.Problems {
		found = found || (p.Kind == "eviction" && strings.Contains(p.Err, "allkeys-lru"))
	}
	if !found {
		t.Fatalf("no eviction problem in %+v", res.Problems)
	}
}
