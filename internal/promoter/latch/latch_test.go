package latch_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/redisha/redisha/internal/promoter"
	"github.com/redisha/redisha/internal/promoter/latch"
	"github.com/redisha/redisha/internal/sim/ddblocal"
)

func setup(t *testing.T) (*ddblocal.Server, *latch.Store, context.Context) {
	t.Helper()
	s := ddblocal.New()
	t.Cleanup(s.Close)
	s.CreateTable("redisha-promoter", latch.KeyAttribute)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return s, latch.New(ddblocal.NewClient(s.URL(), "us-west-2", 3), "redisha-promoter", "ldgnf-redisha/us-west-2"), ctx
}

func TestRoundTrip(t *testing.T) {
	_, st, ctx := setup(t)
	empty, err := st.Load(ctx)
	if err != nil || empty.State.Epoch != 0 || !empty.State.HeartbeatAdvanced.IsZero() {
		t.Fatalf("empty store: %+v, %v", empty, err)
	}
	at := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	want := promoter.Record{
		State: promoter.State{Epoch: 1, HeartbeatSeq: 1<<64 - 2, HeartbeatWritten: at.Add(-2 * time.Second),
			HeartbeatAdvanced: at, HealthyAt: at, HealthyAge: 2300 * time.Millisecond, PrimaryRegion: "us-east-1",
			PromotedAt: at.Add(-time.Hour), Notified: "none:evidence", PeerAlarmReadAt: at.Add(-30 * time.Second), PeerWroteAt: at.Add(-time.Second),
			WitnessUpAt: at.Add(-40 * time.Second), WitnessDownAt: at.Add(-20 * time.Second), ClockSuspectAt: at.Add(-10 * time.Second),
			FreshestAge: 1500 * time.Millisecond, FreshestAt: at.Add(-50 * time.Second),
			ModeOverride: promoter.ModeOff, ModeSetBy: "ops@example", ModeSetAt: at.Add(-time.Minute)},
		LastAction: promoter.ActAdvise, LastRefused: "mode", LastAt: at, Mode: promoter.ModeAdvise,
	}
	if err := st.Save(ctx, 0, want); err != nil {
		t.Fatal(err)
	}
	got, err := st.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("loaded %+v\nwant   %+v", got, want)
	}
}

// TestItemWithoutPeerReadLoads: an item written before the promoter kept
// when it last read the peer's alarm loads whole, as "never read", which
// makes the evidence guard fail closed until the next successful read.
func TestItemWithoutPeerReadLoads(t *testing.T) {
	s, st, ctx := setup(t)
	at := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	num := func(v string) types.AttributeValue { return &types.AttributeValueMemberN{Value: v} }
	_, err := ddblocal.NewClient(s.URL(), "us-west-2", 1).PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String("redisha-promoter"),
		Item: map[string]types.AttributeValue{
			latch.KeyAttribute: &types.AttributeValueMemberS{Value: "ldgnf-redisha/us-west-2"},
			"epoch":            num("12"), "hb_seq": num("41"), "hb_written_ms": num("1795514398000"),
			"hb_advanced_ms": num("1795514400000"), "healthy_at_ms": num("1795514400000"), "healthy_age_ms": num("2000"),
			"primary_region": &types.AttributeValueMemberS{Value: "us-east-1"},
			"notified":       &types.AttributeValueMemberS{Value: "none:evidence:partition"},
			"last_action":    &types.AttributeValueMemberS{Value: "none"}, "last_refused": &types.AttributeValueMemberS{Value: "evidence"},
			"last_at_ms": num("1795514400000"), "mode": &types.AttributeValueMemberS{Value: "auto"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := st.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := promoter.Record{
		State: promoter.State{Epoch: 12, HeartbeatSeq: 41, HeartbeatWritten: at.Add(-2 * time.Second), HeartbeatAdvanced: at,
			HealthyAt: at, HealthyAge: 2 * time.Second, PrimaryRegion: "us-east-1", Notified: "none:evidence:partition"},
		LastAction: promoter.ActNone, LastRefused: "evidence", LastAt: at, Mode: promoter.ModeAuto,
	}
	if got != want {
		t.Fatalf("loaded %+v\nwant   %+v", got, want)
	}
	// The next save adds the field under its own name.
	got.State.Epoch, got.State.PeerAlarmReadAt = 13, at.Add(30*time.Second)
	if err := st.Save(ctx, 12, got); err != nil {
		t.Fatal(err)
	}
	if it, ok := s.Item("redisha-promoter", "ldgnf-redisha/us-west-2"); !ok || it["peer_alarm_read_at_ms"]["N"] != "1795514430000" {
		t.Fatalf("stored item %v", it)
	}
}

func TestOnlyOneOfTwoConcurrentRunsWins(t *testing.T) {
	_, st, ctx := setup(t)
	if err := st.Save(ctx, 0, promoter.Record{State: promoter.State{Epoch: 1}}); err != nil {
		t.Fatal(err)
	}
	// Eight runs read epoch 1 and race to record epoch 2.
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() { errs[i] = st.Save(ctx, 1, promoter.Record{State: promoter.State{Epoch: 2}}) })
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, promoter.ErrConflict):
			t.Fatalf("loser's error %v, want ErrConflict", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d runs won, want exactly 1", won)
	}
	// A run that read nothing cannot overwrite an existing record.
	if err := st.Save(ctx, 0, promoter.Record{State: promoter.State{Epoch: 1}}); !errors.Is(err, promoter.ErrConflict) {
		t.Fatalf("save over an existing record from epoch 0: %v", err)
	}
}

func TestUnreachableStoreIsAnError(t *testing.T) {
	s, st, ctx := setup(t)
	s.Close()
	if _, err := st.Load(ctx); err == nil {
		t.Fatal("load from a closed endpoint succeeded")
	}
}
