package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redisha/redisha/dualwrite"
	"github.com/redisha/redisha/internal/migrate"
	"github.com/redisha/redisha/internal/redisconn"
	"github.com/redisha/redisha/internal/sim/redisserver"
	"github.com/redisha/redisha/internal/testbed/redistest"
	"github.com/redisha/redisha/internal/testbed/syncbuf"
	"github.com/redisha/redisha/internal/testbed/wait"
)

// TestMigrateSoak is the migration procedure under load: an application
// writes 2,000 times a second (mixed types) through dualwrite while
// 'migrate copy --follow' runs; the follower is killed and resumed from its
// checkpoint, the source is killed and restarted (AOF, fsync always); then
// the writes stop and the gate runs (compare --quiet-window, repair,
// compare). It ends with no difference and every write the application saw
// acknowledged present on the target.
//
// REDISHA_SOAK sets the load's duration (default 12s; e.g. 2h for a long
// soak), REDISHA_SOAK_RATE the writes per second (default 2000), and
// REDISHA_SOAK_CLUSTER=1 makes the target a cluster of 3 masters.
func TestMigrateSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("the soak test runs about 15 s: skipped under -short (make test runs it)")
	}
	load, rate := 12*time.Second, 2000
	if v := os.Getenv("REDISHA_SOAK"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			t.Fatalf("REDISHA_SOAK=%q: give a duration such as 10m", v)
		}
		load = d
	}
	if v := os.Getenv("REDISHA_SOAK_RATE"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 20 {
			t.Fatalf("REDISHA_SOAK_RATE=%q: give writes per second, at least 20", v)
		}
		rate = n
	}
	srcSrv := redistest.Start(t, redisserver.Options{Config: []string{"appendonly yes", "appendfsync always"}})
	// The target: a standalone server, or with REDISHA_SOAK_CLUSTER=1 a
	// cluster of 3 masters (standalone into cluster mode).
	var dstAddr string
	var targetClient, checkClient redis.UniversalClient
	if os.Getenv("REDISHA_SOAK_CLUSTER") != "" {
		nodes := redistest.StartCluster(t, 3, redisserver.Options{})
		dstAddr = nodes[0].Addr
		targetClient, checkClient = redistest.ClusterClient(t, nodes, "", ""), redistest.ClusterClient(t, nodes, "", "")
	} else {
		srv := redistest.Start(t, redisserver.Options{})
		dstAddr = srv.Addr
		targetClient = redis.NewClient(&redis.Options{Addr: dstAddr, ContextTimeoutEnabled: true, DialTimeout: time.Second})
		checkClient = redistest.Admin(t, dstAddr, "", "")
	}
	ctx, cancel := context.WithTimeout(context.Background(), load+3*time.Minute)
	defer cancel()
	bulk := redistest.Admin(t, srcSrv.Addr, "", "")
	for start := 0; start < 20000; start += 1000 {
		p := bulk.Pipeline()
		for i := start; i < start+1000; i++ {
			p.HSet(ctx, "bulk:"+strconv.Itoa(i), "name", "n"+strconv.Itoa(i), "modified_time", i)
			if i%3 == 0 {
				p.Expire(ctx, "bulk:"+strconv.Itoa(i), time.Hour)
			}
		}
		if _, err := p.Exec(ctx); err != nil {
			t.Fatal(err)
		}
	}

	app := startSoakApp(t, ctx, srcSrv.Addr, targetClient, rate)
	src, err := migrate.Open(ctx, "source", redisconn.Config{Addr: srcSrv.Addr}, migrate.SideOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := migrate.Open(ctx, "target", redisconn.Config{Addr: dstAddr}, migrate.SideOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	pairs := []sidePair{{src: src, dst: dst}}
	cp := filepath.Join(t.TempDir(), "copy.checkpoint")
	follow := func() (*syncbuf.Buffer, context.CancelFunc, <-chan error) {
		var out syncbuf.Buffer
		fctx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() {
			done <- runCopy(fctx, Env{Stdout: &out, Stderr: &out}, pairs, migrate.CopyOptions{Checkpoint: cp, Workers: 4},
				copyFlags{follow: true, allowNonEmpty: true})
		}()
		waitOutput(t, &out, "copy done")
		return &out, stop, done
	}
	quarter := int64(rate) * int64(load/time.Second) / 4

	started := time.Now()
	out1, kill1, done1 := follow()
	app.waitAcked(t, quarter)
	kill1() // the follower dies
	err1 := <-done1
	app.waitAcked(t, int64(rate)) // a second of writes nothing follows
	out2, stop2, done2 := follow()
	app.waitAcked(t, quarter)
	if err := srcSrv.Restart(); err != nil { // the source dies and comes back from its AOF
		t.Fatal(err)
	}
	app.waitAcked(t, 2*quarter)
	app.stop()
	loadTime := time.Since(started)

	// The gate: quiet source, every changed key compared again, repair.
	gateStart := time.Now()
	rep, err := migrate.Compare(ctx, src, dst, migrate.CompareOptions{QuietWindow: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	first := rep
	if rep.Differences() > 0 {
		keys := make([]string, len(rep.Diffs))
		for i, d := range rep.Diffs {
			keys[i] = d.Key
		}
		if _, err := migrate.CopyKeys(ctx, src, dst, keys, migrate.CopyOptions{}); err != nil {
			t.Fatal(err)
		}
		if rep, err = migrate.Compare(ctx, src, dst, migrate.CompareOptions{QuietWindow: 500 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
	}
	gateTime := time.Since(gateStart)
	stop2()
	err2 := <-done2
	missing := app.verify(t, checkClient)
	ms := app.mirror.Stats()
	t.Logf("load %s: %d writes acknowledged (%.0f/s), %d failed while the source restarted; mirror %s refused %d",
		loadTime.Round(time.Millisecond), app.acked.Load(), float64(app.acked.Load())/loadTime.Seconds(), app.failed.Load(), ms, ms.Refused)
	app.mu.Lock()
	t.Logf("mirror errors by command: %v", app.mirrorErrs)
	app.mu.Unlock()
	t.Logf("first follower ended with: %v; second: %v", err1, err2)
	t.Logf("gate in %s: first compare %s; %v", gateTime.Round(time.Millisecond), first.Summary(), first.Diffs[:min(len(first.Diffs), 10)])
	t.Logf("final compare %s", rep.Summary())
	if !rep.GatePassed() || missing > 0 {
		t.Fatalf("after the gate: %s; %d acknowledged writes missing on the target\nfollower 1:\n%s\nfollower 2:\n%s",
			rep.Summary(), missing, tail(out1.String()), tail(out2.String()))
	}
}

func tail(s string) string {
	if len(s) > 4000 {
		return "..." + s[len(s)-4000:]
	}
	return s
}

// soakApp is the application: writes through a client of the source with
// the dualwrite mirror to the target, and a log of what was acknowledged
// in a form the target can be checked against (fields, members, entries).
type soakApp struct {
	old    *redis.Client
	mirror *dualwrite.Mirror
	cancel context.CancelFunc
	wg     sync.WaitGroup

	acked, failed atomic.Int64

	mu       sync.Mutex
	fields   map[string][]string // hash → fields written
	elements map[string][]string // list, set, sorted set → elements added
	ids      map[string][]string // stream → entry ids
	// mirrorErrs counts the mirror's failed writes per command: replays
	// the new side refuses because the follower already moved the key on.
	mirrorErrs map[string]int
}

func startSoakApp(t *testing.T, ctx context.Context, srcAddr string, target redis.UniversalClient, rate int) *soakApp {
	t.Helper()
	a := &soakApp{fields: map[string][]string{}, elements: map[string][]string{}, ids: map[string][]string{}, mirrorErrs: map[string]int{}}
	m, err := dualwrite.NewMirror(dualwrite.Options{Target: target, OnError: func(name string, _ error) {
		a.mu.Lock()
		a.mirrorErrs[name]++
		a.mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	old := redis.NewClient(&redis.Options{Addr: srcAddr, ContextTimeoutEnabled: true, DialTimeout: time.Second,
		ReadTimeout: time.Second, MaxRetries: -1})
	old.AddHook(m)
	a.old, a.mirror = old, m
	actx, cancel := context.WithCancel(ctx)
	a.cancel = cancel
	// Each writer keeps up with its share of the rate: behind, it writes
	// without waiting; ahead, it waits for the next tick.
	const writers = 4
	start := time.Now()
	for g := 0; g < writers; g++ {
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			tick := time.NewTicker(5 * time.Millisecond)
			defer tick.Stop()
			for n := 0; ; {
				due := int(time.Since(start).Seconds() * float64(rate) / writers)
				for ; n < due && actx.Err() == nil; n++ {
					a.write(actx, g+writers*n)
				}
				select {
				case <-actx.Done():
					return
				case <-tick.C: // paces the load
				}
			}
		}()
	}
	t.Cleanup(func() {
		a.stop()
		_ = old.Close()
		_ = target.Close()
	})
	return a
}

// write makes write number i, of a kind picked by i.
func (a *soakApp) write(ctx context.Context, i int) {
	s := strconv.Itoa(i)
	var err error
	var logIt func()
	switch i % 20 {
	case 0, 1, 2, 3, 4:
		err = a.old.Set(ctx, "soak:s:"+strconv.Itoa(i%3000), "v"+s, 0).Err()
	case 5:
		err = a.old.Set(ctx, "soak:t:"+strconv.Itoa(i%500), s, time.Duration(1+i%4)*time.Second).Err()
	case 6, 7:
		k := "soak:h:" + strconv.Itoa(i%200)
		err = a.old.HSet(ctx, k, "f"+s, s).Err()
		logIt = func() { a.fields[k] = append(a.fields[k], "f"+s) }
	case 8:
		err = a.old.HIncrBy(ctx, "soak:h:"+strconv.Itoa(i%200), "n", 1).Err()
	case 9:
		err = a.old.Incr(ctx, "soak:c:"+strconv.Itoa(i%100)).Err()
	case 10:
		err = a.old.Del(ctx, "soak:s:"+strconv.Itoa((i+7)%3000)).Err()
	case 11:
		k := strconv.Itoa(i % 50)
		if err = a.old.Set(ctx, "soak:r:"+k, s, 0).Err(); err == nil {
			err = a.old.Rename(ctx, "soak:r:"+k, "soak:rn:"+k).Err()
		}
	case 12:
		err = a.old.PExpire(ctx, "soak:s:"+strconv.Itoa((i+3)%3000), time.Duration(500+i%3000)*time.Millisecond).Err()
	case 13:
		err = a.old.Persist(ctx, "soak:s:"+strconv.Itoa((i+11)%3000)).Err()
	case 14:
		k := "soak:l:" + strconv.Itoa(i%100)
		err = a.old.RPush(ctx, k, s).Err()
		logIt = func() { a.elements[k] = append(a.elements[k], s) }
	case 15:
		k := "soak:set:" + strconv.Itoa(i%100)
		err = a.old.SAdd(ctx, k, "m"+s).Err()
		logIt = func() { a.elements[k] = append(a.elements[k], "m"+s) }
	case 16:
		k := "soak:z:" + strconv.Itoa(i%100)
		err = a.old.ZAdd(ctx, k, redis.Z{Score: float64(i), Member: "m" + s}).Err()
		logIt = func() { a.elements[k] = append(a.elements[k], "m"+s) }
	case 17:
		k := "soak:x:" + strconv.Itoa(i%20)
		var id string
		id, err = a.old.XAdd(ctx, &redis.XAddArgs{Stream: k, Values: []string{"seq", s}}).Result()
		logIt = func() { a.ids[k] = append(a.ids[k], id) }
	case 18:
		err = a.old.SAdd(ctx, "soak:pop", "p"+s).Err()
	case 19:
		err = a.old.SPop(ctx, "soak:pop").Err()
		if errors.Is(err, redis.Nil) {
			err = nil
		}
	}
	if err != nil {
		if ctx.Err() == nil {
			a.failed.Add(1)
		}
		return
	}
	a.acked.Add(1)
	if logIt != nil {
		a.mu.Lock()
		logIt()
		a.mu.Unlock()
	}
}

// waitAcked waits until n more writes have been acknowledged: the load's
// own clock.
func (a *soakApp) waitAcked(t *testing.T, n int64) {
	t.Helper()
	want := a.acked.Load() + n
	wait.For(t, time.Duration(n)*time.Millisecond+time.Minute, fmt.Sprintf("%d acknowledged writes", want),
		func() bool { return a.acked.Load() >= want })
}

// stop ends the writes and drains the mirror.
func (a *soakApp) stop() {
	a.cancel()
	a.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = a.mirror.Close(ctx)
}

// verify counts the acknowledged writes missing on the target.
func (a *soakApp) verify(t *testing.T, dst redis.UniversalClient) (missing int) {
	t.Helper()
	ctx := context.Background()
	a.mu.Lock()
	defer a.mu.Unlock()
	report := func(what string) {
		if missing++; missing <= 10 {
			t.Errorf("acknowledged but missing on the target: %s", what)
		}
	}
	for k, fs := range a.fields {
		vals := dst.HMGet(ctx, k, fs...).Val()
		for i, v := range vals {
			if v == nil {
				report(k + " field " + fs[i])
			}
		}
	}
	for k, els := range a.elements {
		typ := dst.Type(ctx, k).Val()
		have := map[string]bool{}
		switch typ {
		case "list":
			for _, e := range dst.LRange(ctx, k, 0, -1).Val() {
				have[e] = true
			}
		case "set":
			for _, e := range dst.SMembers(ctx, k).Val() {
				have[e] = true
			}
		case "zset":
			for _, e := range dst.ZRange(ctx, k, 0, -1).Val() {
				have[e] = true
			}
		}
		for _, e := range els {
			if !have[e] {
				report(fmt.Sprintf("%s (%s) element %s", k, typ, e))
			}
		}
	}
	for k, ids := range a.ids {
		have := map[string]bool{}
		for _, m := range dst.XRange(ctx, k, "-", "+").Val() {
			have[m.ID] = true
		}
		for _, id := range ids {
			if !have[id] {
				report(k + " entry " + id)
			}
		}
	}
	return missing
}
