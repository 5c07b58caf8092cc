package migrate

import (
	"bytes"
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redisha/redisha/internal/sim/redisserver"
)

// The seed's outcome, "0 discrepancy except one modified_time", must read
// as exactly that: one hash, one field named.
func TestCompareReportsEachKindOfDifference(t *testing.T) {
	src := open(t, "source", plain(t, redisserver.Options{}))
	dst := open(t, "target", cluster(t, 2, redisserver.Options{}))
	fill(t, src.Client, "d", 500)
	runCopy(t, src, dst, CopyOptions{})
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(dst.Client.HSet(ctx, "d:1", "modified_time", "1800000000").Err())   // value: one field
	must(dst.Client.Del(ctx, "d:5").Err())                                   // missing
	must(dst.Client.Set(ctx, "only-target", "x", 0).Err())                   // extra
	must(dst.Client.Del(ctx, "d:10").Err())                                  // type
	must(dst.Client.SAdd(ctx, "d:10", "not-a-string").Err())                 // ...
	must(dst.Client.PExpire(ctx, "d:15", 10*time.Minute).Err())              // ttl (source: none)
	must(dst.Client.ZAdd(ctx, "d:4", redisZ(99, "c")).Err())                 // value: a score
	must(src.Client.HSet(ctx, "d:6", "only_source", "1").Err())              // hash field only on the source
	must(dst.Client.HSet(ctx, "d:6", "only_target", "1", "name", "x").Err()) // ... and fields only on / different on the target

	rep, err := Compare(ctx, src, dst, CompareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Missing != 1 || rep.Extra != 1 || rep.Type != 1 || rep.Value != 3 || rep.TTL != 1 || rep.Checked != 501 || rep.Equal != 494 {
		t.Fatalf("report: %s\n%+v", rep.Summary(), rep.Diffs)
	}
	byKey := map[string]Diff{}
	for _, d := range rep.Diffs {
		byKey[d.Key] = d
	}
	want := map[string]string{"d:1": "value", "d:5": "missing", "only-target": "extra", "d:10": "type", "d:15": "ttl", "d:4": "value", "d:6": "value"}
	for k, kind := range want {
		if byKey[k].Kind != kind {
			t.Errorf("%s: kind %q, want %q", k, byKey[k].Kind, kind)
		}
	}
	if f := strings.Join(byKey["d:1"].Fields, ","); f != "modified_time" {
		t.Errorf("d:1 fields %q, want modified_time", f)
	}
	if f := strings.Join(byKey["d:6"].Fields, ","); f != "+only_target,-only_source,name" {
		t.Errorf("d:6 fields %q", f)
	}
	var table bytes.Buffer
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(table.String(), "modified_time") || !strings.Contains(table.String(), "differences 7") {
		t.Errorf("table:\n%s", table.String())
	}
	b, _ := json.Marshal(rep)
	var back CompareReport
	if err := json.Unmarshal(b, &back); err != nil || back.Value != 3 || len(back.Diffs) != 7 {
		t.Errorf("json round trip: %v %+v", err, back)
	}
}

func TestCompareBigValuesStreamedAndSampled(t *testing.T) {
	src := open(t, "source", plain(t, redisserver.Options{}))
	dst := open(t, "target", plain(t, redisserver.Options{}))
	ctx := context.Background()
	for _, c := range []*Side{src, dst} {
		pipe := c.Client.Pipeline()
		for i := 0; i < 3000; i++ {
			s := strconv.Itoa(i)
			pipe.HSet(ctx, "big", "f"+s, s)
			pipe.ZAdd(ctx, "bigz", redisZ(float64(i)/10, s))
		}
		if _, err := pipe.Exec(ctx); err != nil {
			t.Fatal(err)
		}
	}
	fill(t, src.Client, "s", 300)
	fill(t, dst.Client, "s", 300)
	if err := dst.Client.HSet(ctx, "big", "f2999", "changed").Err(); err != nil {
		t.Fatal(err)
	}
	rep, err := Compare(ctx, src, dst, CompareOptions{BigKeyBytes: 1024, Chunk: 100})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Value != 1 || rep.Differences() != 1 || rep.Diffs[0].Key != "big" || strings.Join(rep.Diffs[0].Fields, ",") != "f2999" {
		t.Fatalf("%s %+v", rep.Summary(), rep.Diffs)
	}
	rep, err = Compare(ctx, src, dst, CompareOptions{Sample: 50})
	if err != nil || !rep.Sampled || rep.Checked == 0 || rep.Checked > 50 {
		t.Fatalf("sample: %v %s", err, rep.Summary())
	}
}

// Streams are compared as data (entries, last id, groups and their pending
// entries), not by DUMP payload: equal streams laid out differently (as
// across engine versions or node sizes) are equal, and one acknowledged
// entry is a difference.
func TestCompareStreamsAsData(t *testing.T) {
	src := open(t, "source", plain(t, redisserver.Options{}))
	dst := open(t, "target", plain(t, redisserver.Options{Config: []string{"stream-node-max-entries 5"}}))
	ctx := context.Background()
	for _, s := range []*Side{src, dst} {
		for i := 1; i <= 50; i++ {
			if err := s.Client.XAdd(ctx, &redis.XAddArgs{Stream: "events", ID: strconv.Itoa(i) + "-0", Values: []string{"n", strconv.Itoa(i), "kind", "k"}}).Err(); err != nil {
				t.Fatal(err)
			}
		}
		s.Client.XGroupCreate(ctx, "events", "g", "0")
		s.Client.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "g", Consumer: "c", Streams: []string{"events", ">"}, Count: 10})
	}
	if a, b := src.Client.Dump(ctx, "events").Val(), dst.Client.Dump(ctx, "events").Val(); a == b {
		t.Fatal("the two layouts give one DUMP payload: the test shows nothing")
	}
	rep := mustEqual(t, src, dst)
	if rep.Checked != 1 {
		t.Fatalf("checked %d", rep.Checked)
	}
	dst.Client.XAck(ctx, "events", "g", "3-0")
	rep, err := Compare(ctx, src, dst, CompareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Value != 1 || !strings.Contains(rep.Diffs[0].Source, "stream 50 elements") {
		t.Fatalf("after one XACK on the target: %s %+v", rep.Summary(), rep.Diffs)
	}
}

// The cut-over gate: with a quiet window, keys changed after the pass
// compared them are compared again once the source is quiet, so the
// report describes both sides at its end; a source never quiet fails the
// gate.
func TestCompareQuietWindowRechecksChangedKeys(t *testing.T) {
	src := open(t, "source", plain(t, redisserver.Options{}))
	dst := open(t, "target", plain(t, redisserver.Options{}))
	fill(t, src.Client, "q", 200)
	runCopy(t, src, dst, CopyOptions{})
	ctx := context.Background()
	write := func(n int) <-chan struct{} {
		done := make(chan struct{})
		go func() {
			defer close(done)
			tick := time.NewTicker(20 * time.Millisecond)
			defer tick.Stop()
			for i := 0; i < n; i++ {
				<-tick.C // paces the writes
				src.Client.Set(ctx, "q:hot", i, 0)
			}
		}()
		return done
	}
	done := write(25)
	rep, err := Compare(ctx, src, dst, CompareOptions{QuietWindow: 200 * time.Millisecond})
	<-done
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Quiet || rep.Rechecked == 0 || rep.Missing != 1 || len(rep.Diffs) != 1 || rep.Diffs[0].Key != "q:hot" || rep.GatePassed() {
		t.Fatalf("gate: %s %+v", rep.Summary(), rep.Diffs)
	}
	// Made equal, the gate passes.
	runCopy(t, src, dst, CopyOptions{Match: "q:hot"})
	if rep, err = Compare(ctx, src, dst, CompareOptions{QuietWindow: 100 * time.Millisecond}); err != nil || !rep.GatePassed() {
		t.Fatalf("gate after the copy: %v %s", err, rep.Summary())
	}
	// Never quiet: the gate fails and says so.
	done = write(100)
	rep, err = Compare(ctx, src, dst, CompareOptions{QuietWindow: time.Second, QuietTimeout: 500 * time.Millisecond})
	<-done
	if err != nil || rep.Quiet || rep.GatePassed() || !strings.Contains(rep.Summary(), "NO quiet window") {
		t.Fatalf("never quiet: %v %s", err, rep.Summary())
	}
}
