package promoter

import (
	"context"
	"errors"
	"time"
)

// ErrConflict is returned by a StateStore's Save when another run recorded
// a decision since this one loaded the state: this run's view is stale and
// it must not act.
var ErrConflict = errors.New("another run recorded a newer decision")

// Record is what the store keeps: the state and a summary of the last
// decision, for `redisha status`.
type Record struct {
	State State
	// LastAction, LastRefused (comma-separated guards) and LastAt describe
	// the last decision.
	LastAction  Action
	LastRefused string
	LastAt      time.Time
	// Mode is the mode the last decision ran in ("" for an operator's
	// command that is not a promoter run).
	Mode Mode
}

// StateStore keeps the promoter's Record in its own region.
type StateStore interface {
	// Load returns the stored record; the zero Record when there is none.
	Load(ctx context.Context) (Record, error)
	// Save stores r if the stored epoch is still prev; otherwise it
	// returns an error wrapping ErrConflict.
	Save(ctx context.Context, prev uint64, r Record) error
}

// SetMode records an operator's run-time mode for the promoter whose state
// s keeps: every later run decides in mode, whatever mode it was deployed
// with, until SetMode is called again with "" (resume: the deployed mode).
// by names who set it (kept with the state, logged with every decision).
// It takes the next epoch, so a run that loaded the state before acts on
// nothing; a run that records a decision in between makes it try again.
func SetMode(ctx context.Context, s StateStore, mode Mode, by string, now time.Time) (Record, error) {
	if mode != "" {
		m, err := ParseMode(string(mode))
		if err != nil {
			return Record{}, err
		}
		mode = m
	}
	var err error
	for range 5 {
		var rec Record
		if rec, err = s.Load(ctx); err != nil {
			return Record{}, err
		}
		prev := rec.State.Epoch
		rec.State.Epoch = prev + 1
		rec.State.ModeOverride, rec.State.ModeSetBy, rec.State.ModeSetAt = mode, by, now
		if err = s.Save(ctx, prev, rec); err == nil {
			return rec, nil
		}
		if !errors.Is(err, ErrConflict) {
			return Record{}, err
		}
	}
	return Record{}, err
}
