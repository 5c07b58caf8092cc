package latch_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/redisha/redisha/internal/ddblocal"
	"github.com/redisha/redisha/internal/latch"
	"github.com/redisha/redisha/internal/promoter"
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
			PromotedAt: at.Add(-time.Hour), Notified: "none:evidence"},
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
