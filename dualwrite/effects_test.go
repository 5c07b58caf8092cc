package dualwrite_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redisha/redisha/dualwrite"
)

// Commands whose effect depends on a random choice, the clock or the reply
// are mirrored as their effect; writes that reply nil are mirrored when
// they wrote; XREADGROUP, SORT ... STORE and MOVE are mirrored.
func TestMirrorRepeatsEffects(t *testing.T) {
	oldC, newC, _ := pair(t)
	m := newMirror(t, dualwrite.Options{Target: newC})
	oldC.AddHook(m)
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil && err != redis.Nil {
			t.Fatal(err)
		}
	}
	must(oldC.GetSet(ctx, "getset:new", "v1").Err())
	must(oldC.SetArgs(ctx, "setget:new", "v1", redis.SetArgs{Get: true}).Err())
	must(oldC.SetArgs(ctx, "setnxget:new", "v1", redis.SetArgs{Mode: "NX", Get: true}).Err())
	must(oldC.SAdd(ctx, "set", "a", "b", "c", "d", "e", "f", "g", "h").Err())
	for i := 0; i < 3; i++ {
		must(oldC.SPop(ctx, "set").Err())
	}
	must(oldC.SPopN(ctx, "set", 2).Err())
	for i := 0; i < 50; i++ {
		must(oldC.XAdd(ctx, &redis.XAddArgs{Stream: "stream", Values: []string{"n", strconv.Itoa(i)}}).Err())
	}
	must(oldC.XAdd(ctx, &redis.XAddArgs{Stream: "stream", MaxLen: 40, Values: []string{"n", "trim"}}).Err())
	must(oldC.XGroupCreate(ctx, "stream", "g", "0").Err())
	must(oldC.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "g", Consumer: "c1", Streams: []string{"stream", ">"}, Count: 5}).Err())
	must(oldC.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "g", Consumer: "c2", Streams: []string{"stream", ">"}, Count: 3, NoAck: true}).Err())
	must(oldC.RPush(ctx, "tosort", 3, 1, 2).Err())
	must(oldC.SortStore(ctx, "tosort", "sorted", &redis.Sort{}).Err())
	must(oldC.Set(ctx, "moved", "v", 0).Err())
	must(oldC.Move(ctx, "moved", 1).Err())
	must(oldC.Do(ctx, "INCRBYFLOAT", "float", "0.1").Err())
	must(oldC.RPush(ctx, "blist", "x", "y").Err())
	must(oldC.BLPop(ctx, time.Second, "bempty", "blist").Err())
	if err := m.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	closeMirror(t, m)
	if s := m.Stats(); s.Errors != 0 || s.Dropped != 0 || s.Refused != 0 {
		t.Fatalf("stats %+v", s)
	}
	same := func(what string, a, b interface{}) {
		t.Helper()
		if fmt.Sprint(a) != fmt.Sprint(b) {
			t.Errorf("%s: old %v, new %v", what, a, b)
		}
	}
	for _, k := range []string{"getset:new", "setget:new", "setnxget:new", "float"} {
		same(k, oldC.Get(ctx, k).Val(), newC.Get(ctx, k).Val())
	}
	same("spop", oldC.SMembers(ctx, "set").Val(), sorted(newC.SMembers(ctx, "set").Val(), oldC.SMembers(ctx, "set").Val()))
	same("xadd ids", oldC.XRange(ctx, "stream", "-", "+").Val(), newC.XRange(ctx, "stream", "-", "+").Val())
	og, ng := oldC.XInfoGroups(ctx, "stream").Val(), newC.XInfoGroups(ctx, "stream").Val()
	if len(ng) != 1 || og[0].LastDeliveredID != ng[0].LastDeliveredID || og[0].Pending != ng[0].Pending {
		t.Errorf("xreadgroup: old groups %+v, new %+v", og, ng)
	}
	same("sort store", oldC.LRange(ctx, "sorted", 0, -1).Val(), newC.LRange(ctx, "sorted", 0, -1).Val())
	same("move", newC.Exists(ctx, "moved").Val(), int64(0))
	same("blpop", oldC.LRange(ctx, "blist", 0, -1).Val(), newC.LRange(ctx, "blist", 0, -1).Val())
}

// sorted returns b in a's order when both hold the same members.
func sorted(b, a []string) []string {
	in := map[string]bool{}
	for _, x := range b {
		in[x] = true
	}
	out := []string{}
	for _, x := range a {
		if in[x] {
			out = append(out, x)
			delete(in, x)
		}
	}
	for x := range in {
		out = append(out, x)
	}
	return out
}

// A write of several keys stays in order with the single-key writes of
// each of its keys, whatever worker those go to.
func TestMirrorMultiKeyWritesKeepOrder(t *testing.T) {
	oldC, newC, _ := pair(t)
	m := newMirror(t, dualwrite.Options{Target: newC, Workers: 8})
	oldC.AddHook(m)
	ctx := context.Background()
	for i := 0; i < 200; i++ {
		a, b := "a:"+strconv.Itoa(i), "b:"+strconv.Itoa(i)
		oldC.MSet(ctx, a, 1, b, 1)
		oldC.Set(ctx, b, 2, 0)
		oldC.Set(ctx, "r:"+strconv.Itoa(i), "old", 0)
		oldC.Rename(ctx, "r:"+strconv.Itoa(i), "rn:"+strconv.Itoa(i))
		oldC.Set(ctx, "rn:"+strconv.Itoa(i), "new", 0)
	}
	closeMirror(t, m)
	wrong := 0
	for i := 0; i < 200; i++ {
		if newC.Get(ctx, "b:"+strconv.Itoa(i)).Val() != "2" || newC.Get(ctx, "rn:"+strconv.Itoa(i)).Val() != "new" {
			wrong++
		}
	}
	if wrong > 0 {
		t.Fatalf("%d of 200 keys wrong on the new side", wrong)
	}
}

// Writes the mirror cannot repeat are refused loudly: counted and reported.
func TestMirrorRefusesScriptsLoudly(t *testing.T) {
	oldC, newC, _ := pair(t)
	var mu sync.Mutex
	var refused []string
	m := newMirror(t, dualwrite.Options{Target: newC, OnRefused: func(n string) { mu.Lock(); refused = append(refused, n); mu.Unlock() }})
	oldC.AddHook(m)
	ctx := context.Background()
	oldC.Eval(ctx, "return redis.call('SET', KEYS[1], 'x')", []string{"scripted"})
	oldC.FlushDB(ctx)
	closeMirror(t, m)
	mu.Lock()
	defer mu.Unlock()
	if m.Stats().Refused != 2 || strings.Join(refused, ",") != "eval,flushdb" {
		t.Fatalf("refused %v, stats %+v", refused, m.Stats())
	}
}

// With the new side stalled, the queue holds at most QueueBytes of writes:
// the newest are dropped and counted, the application's memory is safe.
func TestMirrorQueueBoundedByBytes(t *testing.T) {
	oldC, _, newSrv := pair(t)
	newC := redis.NewClient(&redis.Options{Addr: newSrv.Addr, ContextTimeoutEnabled: true, MaxRetries: -1})
	t.Cleanup(func() { _ = newC.Close() })
	m := newMirror(t, dualwrite.Options{Target: newC, QueueBytes: 1 << 20, Timeout: 200 * time.Millisecond})
	oldC.AddHook(m)
	if err := newSrv.Pause(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = newSrv.Resume() })
	ctx := context.Background()
	value := strings.Repeat("v", 100<<10)
	var peak int64
	for i := 0; i < 100; i++ {
		if err := oldC.Set(ctx, "big:"+strconv.Itoa(i), value, 0).Err(); err != nil {
			t.Fatal(err)
		}
		peak = max(peak, m.Stats().QueuedBytes)
	}
	// About ten writes fit; the worker frees a few more as its writes time
	// out against the stopped new side.
	if s := m.Stats(); peak > 1<<20 || s.Dropped < 50 {
		t.Fatalf("peak queued %d bytes (bound %d), stats %+v", peak, 1<<20, s)
	}
}

// Flush lets a request read its own write from the new side once reads
// have moved there.
func TestMirrorFlushReadsOwnWrite(t *testing.T) {
	oldC, newC, _ := pair(t)
	m := newMirror(t, dualwrite.Options{Target: newC})
	oldC.AddHook(m)
	var readNew dualwrite.Flag
	readNew.Store(true)
	reads := dualwrite.NewSwitch(oldC, newC, readNew.Load)
	ctx := context.Background()
	stale := 0
	for i := 0; i < 200; i++ {
		oldC.Set(ctx, "rw", i, 0)
		if err := m.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if reads.Client().Get(ctx, "rw").Val() != strconv.Itoa(i) {
			stale++
		}
	}
	if stale != 0 {
		t.Fatalf("%d of 200 reads after Flush missed the caller's own write", stale)
	}
}

// XGROUP names its key third: it is ordered with the stream's other writes
// (XGROUP CREATE ... $ right after XADD must see the entry).
func TestMirrorOrdersSubcommandKeys(t *testing.T) {
	oldC, newC, _ := pair(t)
	m := newMirror(t, dualwrite.Options{Target: newC, Workers: 8})
	oldC.AddHook(m)
	ctx := context.Background()
	for i := 0; i < 100; i++ {
		k := "s:" + strconv.Itoa(i)
		oldC.XAdd(ctx, &redis.XAddArgs{Stream: k, Values: []string{"a", "1"}})
		oldC.XGroupCreate(ctx, k, "g", "$")
	}
	closeMirror(t, m)
	wrong := 0
	for i := 0; i < 100; i++ {
		k := "s:" + strconv.Itoa(i)
		og, ng := oldC.XInfoGroups(ctx, k).Val(), newC.XInfoGroups(ctx, k).Val()
		if len(ng) != 1 || og[0].LastDeliveredID != ng[0].LastDeliveredID {
			wrong++
		}
	}
	if wrong > 0 {
		t.Fatalf("%d of 100 groups created out of order on the new side", wrong)
	}
}
