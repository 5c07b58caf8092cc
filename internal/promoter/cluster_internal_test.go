package promoter

import (
	"testing"
	"time"

	"github.com/redisha/redisha/internal/check"
)

// The worst shard decides the heartbeat; the liveliest decides the link: a
// shard still streaming from the primary proves the primary alive, whatever
// the others say, so it keeps vetoing a promotion.
func TestWorstShardAndLiveliestLink(t *testing.T) {
	shards := []check.Shard{
		{Slots: []check.SlotRange{{Start: 0, End: 5460}}, Primary: "10.0.0.1:6379"},
		{Slots: []check.SlotRange{{Start: 5461, End: 10921}}, Primary: "10.0.0.2:6379"},
		{Slots: []check.SlotRange{{Start: 10922, End: 16383}}, Primary: "10.0.0.3:6379"},
	}
	t0 := time.Now()
	hb := func(seq uint64, link Link) Heartbeat {
		return Heartbeat{Present: true, Value: check.Heartbeat{Written: t0.Add(time.Duration(seq) * time.Second), Region: "us-east-1", Seq: seq}, Link: link}
	}
	down := Link{Known: true, Up: false}
	up := func(io time.Duration) Link { return Link{Known: true, Up: true, LastIO: io} }

	got := worstShard(shards, []Heartbeat{hb(9, down), hb(7, up(20*time.Second)), hb(8, up(3*time.Second))})
	if !got.Present || got.Value.Seq != 7 || got.Link != up(3*time.Second) {
		t.Fatalf("got %+v, want seq 7 (the oldest) and the link up 3s ago (the liveliest)", got)
	}
	got = worstShard(shards, []Heartbeat{hb(9, down), {Link: up(time.Second)}, hb(8, down)})
	if got.Present || got.Err != "" || got.Link != up(time.Second) {
		t.Fatalf("a shard without a heartbeat: got %+v, want none, the link up 1s ago kept", got)
	}
	got = worstShard(shards, []Heartbeat{{Link: down}, hb(8, down), {Err: "i/o timeout"}})
	if got.Present || got.Err != "shard 10922-16383 (10.0.0.3:6379): i/o timeout" {
		t.Fatalf("a shard that cannot be read: got %+v, want its error, named", got)
	}
	if got := worstShard(shards, []Heartbeat{hb(9, Link{}), hb(9, Link{}), hb(9, down)}); got.Link != down {
		t.Fatalf("unknown links: got %+v, want the one known", got.Link)
	}
}
