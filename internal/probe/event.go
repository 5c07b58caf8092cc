package probe

import (
	"encoding/json"
	"time"

	"github.com/redisha/redisha/internal/check"
)

// Time is a timestamp that encodes as RFC 3339 with milliseconds, UTC
// (check.TimeLayout, the layout of every result).
type Time time.Time

// MarshalJSON writes e.g. "2026-11-22T08:00:30.123Z".
func (t Time) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Time(t).UTC().Format(check.TimeLayout))
}

// EventType says what an event records.
type EventType string

// Event types. Every state change is an event of its own, written at once;
// what repeats (successes, failures with a reason already seen in the
// window) is sampled or counted, so the event log stays small however long
// an outage lasts.
const (
	// EventDown is the first failure of a window.
	EventDown EventType = "down"
	// EventFail is a failure whose reason is new to its window.
	EventFail EventType = "fail"
	// EventStillDown sums up, once per SampleEvery while a window is open,
	// the failures since the last line: Failed checks, Counts per reason.
	EventStillDown EventType = "still_down"
	// EventUp is the success that closed a window (DurationMS, ChecksLost).
	EventUp EventType = "up"
	// EventOK is a sampled success: at most one per series per SampleEvery.
	EventOK EventType = "ok"
	// EventServer is a series' first connection, or a change of role, run
	// id or IP seen on a new connection (Changes).
	EventServer EventType = "server"
	// EventCycle marks the start of a cycle (Cycle of Cycles).
	EventCycle EventType = "cycle"
	// EventBreak marks the end of a cycle and the start of the break
	// (BreakMS).
	EventBreak EventType = "break"
	// EventDataLoss is the read probe key found missing while it should
	// have been there, and still missing a second later (a node in a full
	// resync may show an empty data set for a moment): the data set was
	// lost (FLUSHALL, a restart without persistence, a failover to a
	// replica that did not have it). Its time is the first read that
	// found the key missing.
	EventDataLoss EventType = "data_loss"
	// EventKeyWriteFailed is a failed write of the read probe key (at
	// start, or when writing it again after a loss): noted once until a
	// write succeeds.
	EventKeyWriteFailed EventType = "key_write_failed"
	// EventKeyWritten is the read probe key written again after a loss or
	// a failed write.
	EventKeyWritten EventType = "key_written"
)

// Event is one line of events.jsonl. Which fields are set depends on Type.
type Event struct {
	Time Time `json:"time"`
	// Series is write or read (empty for run-wide events).
	Series Kind `json:"kind,omitempty"`
	// Shard names the shard of a cluster-mode endpoint (its slots when the
	// run began) a series event is of; empty on one node.
	Shard string    `json:"shard,omitempty"`
	Type  EventType `json:"event"`
	// Seq numbers the checks of the run (on check events).
	Seq       int64        `json:"seq,omitempty"`
	LatencyMS *float64     `json:"latency_ms,omitempty"`
	Reason    check.Reason `json:"reason,omitempty"`
	Error     string       `json:"error,omitempty"`
	IP        string       `json:"ip,omitempty"`
	// PausedWrites is set on a write that timed out while reads were
	// answered (the window gets the paused_writes reason).
	PausedWrites bool `json:"paused_writes,omitempty"`
	// Role and RunID are what a new connection found (server events).
	Role    string   `json:"role,omitempty"`
	RunID   string   `json:"run_id,omitempty"`
	Changes []Change `json:"changes,omitempty"`
	// DurationMS is the window's length, on up events.
	DurationMS *int64 `json:"duration_ms,omitempty"`
	// ChecksLost is the window's failed checks so far (still_down) or in
	// all (up).
	ChecksLost int `json:"checks_lost,omitempty"`
	// Since is the start of the open window (still_down).
	Since *Time `json:"since,omitempty"`
	// Failed and Counts are the failures since the previous line of the
	// window, in all and per reason (still_down).
	Failed int                  `json:"failed,omitempty"`
	Counts map[check.Reason]int `json:"counts,omitempty"`
	// Cycle and Cycles number the cycle (cycle, break events).
	Cycle  int `json:"cycle,omitempty"`
	Cycles int `json:"cycles,omitempty"`
	// BreakMS is the break that follows a cycle (break events).
	BreakMS *int64 `json:"break_ms,omitempty"`
}

// ChangeField names what changed on a new connection.
type ChangeField string

// What a series can see change.
const (
	// ChangeRole: the server's role (master → slave is a demotion).
	ChangeRole ChangeField = "role"
	// ChangeRunID: another server process (restart, replacement or the
	// other node after a failover).
	ChangeRunID ChangeField = "run_id"
	// ChangeIP: the endpoint's name resolved to another address.
	ChangeIP ChangeField = "ip"
	// ChangePrimary: another node serves a cluster shard's slots as its
	// primary (a failover; a resharding that moved the shard's first slot).
	ChangePrimary ChangeField = "primary"
)

// Change is one change of role, run id or IP, seen by a series on a new
// connection.
type Change struct {
	Time   Time        `json:"time"`
	Series Kind        `json:"kind"`
	Shard  string      `json:"shard,omitempty"`
	Field  ChangeField `json:"field"`
	From   string      `json:"from"`
	To     string      `json:"to"`
}

// DataLoss is one time the read probe key was found missing while it
// should have been there, and stayed missing for a second.
type DataLoss struct {
	// Time is the first read that found it missing.
	Time Time `json:"time"`
	// Shard names the shard whose read probe key it was (cluster mode).
	Shard string `json:"shard,omitempty"`
	// KeyAgeMS is how long before the key had last been written.
	KeyAgeMS int64 `json:"key_age_ms"`
}
