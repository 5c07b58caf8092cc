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
