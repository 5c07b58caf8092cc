package promoter

import (
	"fmt"
	"strings"
	"time"

	"github.com/redisha/redisha/internal/check"
)

// Mode is how far the promoter may go when every other guard holds.
type Mode string

// Modes.
const (
	// ModeOff evaluates and logs, and never pages or acts.
	ModeOff Mode = "off"
	// ModeAdvise pages with the reasons and the exact command (the default:
	// automatic promotion is opt-in, as in orchestrator and the AWS DR
	// orchestrator).
	ModeAdvise Mode = "advise"
	// ModeAuto promotes the local member.
	ModeAuto Mode = "auto"
)

// ParseMode reads a mode name; empty means ModeAdvise.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(strings.ToLower(strings.TrimSpace(s))); m {
	case "":
		return ModeAdvise, nil
	case ModeOff, ModeAdvise, ModeAuto:
		return m, nil
	}
	return "", fmt.Errorf("mode %q is unknown: use off, advise or auto", s)
}

// Action is what a decision does.
type Action string

// Actions.
const (
	// ActNone does nothing beyond the log record and the metric.
	ActNone Action = "none"
	// ActAdvise pages with the reasons and the command that would promote.
	ActAdvise Action = "advise"
	// ActPromote fails the Global Datastore over to the local member.
	ActPromote Action = "promote"
)

// Guard names, in evaluation order; they key Decision.Guards.
const (
	GuardEvidence  = "evidence"
	GuardDatastore = "datastore"
	GuardMember    = "member"
	GuardDataLoss  = "data-loss"
	GuardLatch     = "latch"
	GuardMode      = "mode"
)

// Alarm states as CloudWatch names them.
const (
	AlarmOK           = "OK"
	AlarmAlarm        = "ALARM"
	AlarmInsufficient = "INSUFFICIENT_DATA"
)

// Member roles and statuses as ElastiCache reports them (roles upper case,
// statuses lower case; compared case-insensitively).
const (
	RolePrimary      = "PRIMARY"
	RoleSecondary    = "SECONDARY"
	MemberAssociated = "associated"
	StatusAvailable  = "available"
)

// AnyLoss as Input.AcceptedLoss accepts any data loss, including an unknown
// one (the replica was never seen healthy).
const AnyLoss = time.Duration(1<<63 - 1)

// Bounds are the guards' configured limits. Zero fields take the defaults.
type Bounds struct {
	// StallAfter is how long the heartbeat must have stopped advancing in
	// the local replica before the replication path counts as dead. Keep it
	// above the primary region's in-region (Multi-AZ) failover time, during
	// which the heartbeat also stalls and the alarm may fire: that case must
	// not promote across regions. default: 3 minutes (in-region failovers
	// take 1–3 minutes per AWS's FIS templates; measure yours in a drill)
	StallAfter time.Duration
	// HeartbeatInterval is how often the primary's checker writes the
	// heartbeat (the evidence guard's pacing; the data-loss guard no longer
	// adds it to the bound). default: 30 seconds
	HeartbeatInterval time.Duration
	// MaxDataLoss is the most possible loss accepted without an operator:
	// the primary's last writable moment minus the write time of the
	// newest heartbeat the local replica holds, both by the primary's
	// clock (see dataLossGuard). default: 5 seconds
	MaxDataLoss time.Duration
	// Cooldown is how long any promotion, automatic or manual, blocks the
	// next automatic one. default: 1 hour
	Cooldown time.Duration
	// AttemptWindow is how long a recorded decision to promote whose
	// outcome was never recorded keeps other runs from calling again; after
	// it the attempt counts as aborted (the run died, or the store's reply
	// was lost) and the next run retries it. Keep it above CALL_TIMEOUT:
	// the failover call is bounded by it. default: 45 seconds
	AttemptWindow time.Duration
	// PeerSeenWithin is how recently before the heartbeat stopped the peer
	// region's alarm must have been read for "its CloudWatch is
	// unreachable" to count as the region gone silent. Without a recent
	// read, unreachable is more likely a missing route (no NAT, an endpoint
	// that serves only its own region) than a dead region. default: 15
	// minutes
	PeerSeenWithin time.Duration
	// LinkAliveWithin is how recent the primary's last I/O on an up
	// replication link must be for the link to count as alive (the
	// primary-answers veto). default: 30 seconds (the primary pings its
	// replicas every 10 s, repl-ping-replica-period)
	LinkAliveWithin time.Duration
	// SilentMaxDataLoss is the most possible loss accepted without an
	// operator when the primary region is silent (its CloudWatch does not
	// answer, so its last writable moment cannot be read) and the witness
	// dates its end: Route 53's health checkers found its writable endpoint
	// failing, so it took no write after the first run that saw the witness
	// say so. The bound is then that moment minus the newest heartbeat here:
	// the witness's resolution (a heartbeat interval, the health check's
	// reaction, a run) on top of the replication lag. It is an acceptance
	// given in advance, in the deployment: 0 leaves a silent region to a
	// person. The replica must also have been fresh when the primary was
	// last seen healthy (MaxDataLoss plus one heartbeat interval). default: 0
	SilentMaxDataLoss time.Duration
	// MaxHeartbeatSkew is how far in the future a heartbeat may be dated
	// (see MaxHeartbeatSkew, the default); a field so that a rehearsal on a
	// scaled clock scales it with the other bounds.
	MaxHeartbeatSkew time.Duration
}

// Defaults of Bounds.
const (
	DefaultStallAfter        = 3 * time.Minute
	DefaultHeartbeatInterval = 30 * time.Second
	DefaultMaxDataLoss       = 5 * time.Second
	DefaultCooldown          = time.Hour
	DefaultPeerSeenWithin    = 15 * time.Minute
	DefaultAttemptWindow     = 45 * time.Second
	DefaultLinkAliveWithin   = LinkAliveWithin
)

// WithDefaults fills zero fields with the defaults.
func (b Bounds) WithDefaults() Bounds {
	set := func(d *time.Duration, def time.Duration) {
		if *d == 0 {
			*d = def
		}
	}
	set(&b.StallAfter, DefaultStallAfter)
	set(&b.HeartbeatInterval, DefaultHeartbeatInterval)
	set(&b.MaxDataLoss, DefaultMaxDataLoss)
	set(&b.Cooldown, DefaultCooldown)
	set(&b.PeerSeenWithin, DefaultPeerSeenWithin)
	set(&b.AttemptWindow, DefaultAttemptWindow)
	set(&b.LinkAliveWithin, DefaultLinkAliveWithin)
	set(&b.MaxHeartbeatSkew, MaxHeartbeatSkew)
	return b
}

// Datastore is the Global Datastore as described this run.
type Datastore struct {
	// Err is why it could not be described; the other fields are then
	// meaningless.
	Err string
	// Status of the Global Datastore: available, modifying, primary-only…
	Status string
	// PrimaryRegion is the region of the member whose role is PRIMARY.
	PrimaryRegion string
	// LocalRole and LocalStatus are the local member's role and status;
	// empty when the local replication group is not a member.
	LocalRole   string
	LocalStatus string
	// GroupStatus is the local replication group's own status (modifying
	// while an engine upgrade or a change runs on it).
	GroupStatus string
	// GroupPending lists the local group's pending modifications.
	GroupPending []string
}

// Heartbeat is the local replica's copy of the primary's heartbeat.
type Heartbeat struct {
	// Err is why it could not be read.
	Err string
	// Present is false when the key does not exist (never written, or
	// expired after the writer stopped).
	Present bool
	// Value is the heartbeat read, when Present.
	Value check.Heartbeat
	// Link is the local node's replication link to the primary, read with
	// the heartbeat (INFO replication).
	Link Link
}

// Link is what the local node says of its replication link to the primary.
type Link struct {
	// Known is false when it could not be read (no +info in the ACL, an
	// engine that hides it): then it vetoes nothing.
	Known bool
	// Up is master_link_status:up; LastIO is master_last_io_seconds_ago,
	// the time since the primary last sent anything (it pings its replicas
	// every 10 s even when idle).
	Up     bool
	LastIO time.Duration
}

// LinkAliveWithin is how recent the primary's last I/O on an up link must
// be for the link to prove the primary alive: two of its 10-s replica pings
// (repl-ping-replica-period) and a margin.
const LinkAliveWithin = 30 * time.Second

// Alarm is the primary region's writable alarm as read from its CloudWatch.
type Alarm struct {
	// Unreachable is set, with Err, when that region's CloudWatch could not
	// be reached before the deadline: the region is silent.
	Unreachable bool
	Err         string
	// Found is false when the alarm does not exist (a configuration error).
	Found bool
	// State is OK, ALARM or INSUFFICIENT_DATA.
	State string
}

// LastWrite is the last moment the primary region was seen taking writes,
// as its own checker stamped it: the newest heartbeat write time it
// published (the HeartbeatWritten metric, read from the primary region's
// CloudWatch). Being stamped by the same clock as the heartbeat in the
// local replica, the difference of the two holds no clock skew.
type LastWrite struct {
	// Written is that moment; zero when it could not be read.
	Written time.Time
	// Err says why it could not be read (no metric configured, CloudWatch
	// unreachable, no datapoint in the window).
	Err string
}

// Observer is an optional third observer's view of the primary.
type Observer struct {
	// Verdict is "down", "up" or "unknown".
	Verdict string
	// Detail says what it saw.
	Detail string
}

// Observer verdicts.
const (
	ObserverDown    = "down"
	ObserverUp      = "up"
	ObserverUnknown = "unknown"
)

// Observations is what one run gathered, each read afresh.
type Observations struct {
	// Now is when the run gathered them (the local clock).
	Now       time.Time
	Datastore Datastore
	Heartbeat Heartbeat
	Alarm     Alarm
	// LastWrite is the primary's last writable moment by its own clock.
	LastWrite LastWrite
	// Observer is nil when no third observer is configured.
	Observer *Observer
}

// State is what the promoter keeps between runs in its region's latch store.
// Decide returns the next one; the runner writes it only if the stored epoch
// is still the one it read, so two concurrent runs cannot both act.
type State struct {
	// Epoch counts decisions; each decision takes the next one.
	Epoch uint64
	// HeartbeatSeq and HeartbeatWritten identify the last heartbeat seen.
	HeartbeatSeq     uint64
	HeartbeatWritten time.Time
	// HeartbeatAdvanced is when (local clock) a new heartbeat was last seen.
	HeartbeatAdvanced time.Time
	// HealthyAt is when the primary was last seen healthy (a new heartbeat
	// arrived), and HealthyAge the heartbeat's age then: the replication lag
	// plus at most one heartbeat interval.
	HealthyAt  time.Time
	HealthyAge time.Duration
	// FreshestAge is the lowest such age among the heartbeats seen within
	// freshWindow intervals of FreshestAt: the replication lag with the
	// least of the runs' phase and scheduling in it, for the freshness
	// check of a silent region.
	FreshestAge time.Duration
	FreshestAt  time.Time
	// PrimaryRegion is the primary member's region as last observed.
	PrimaryRegion string
	// PromotedAt is the last promotion ElastiCache accepted (recorded by
	// the runner once the failover call returned success) or seen (roles
	// swapped), automatic or manual; the latch counts the cooldown from it.
	// A decision to promote alone never sets it: an attempt that aborts
	// (throttled, the run died, the store's reply was lost) must not wedge
	// the region for the cooldown.
	PromotedAt time.Time
	// AttemptAt is when a decision to promote was recorded whose outcome is
	// not yet known (zero when none). Within Bounds.AttemptWindow it keeps
	// a concurrent run from calling again; after it, the attempt counts as
	// aborted and the next run retries and pages.
	AttemptAt time.Time
	// AbortedAt is when the last attempt was recorded as never accepted by
	// ElastiCache (the call failed); the next decision to promote is a
	// retry and says so in its page. Cleared by an accepted promotion.
	AbortedAt time.Time
	// PeerWroteAt is the newest last writable moment of the primary ever
	// read from its region (LastWrite, by the primary's clock). When that
	// region falls silent, it still says the primary took writes at least
	// this late: with the link broken first, more than the replica holds.
	PeerWroteAt time.Time
	// WitnessUpAt is when (local clock) the witness last said the peer
	// takes writes, and WitnessDownAt the first run after it that found the
	// witness saying it does not (zero while it does): the peer took no
	// write Route 53's checkers could see after WitnessDownAt.
	WitnessUpAt   time.Time
	WitnessDownAt time.Time
	// ClockSuspectAt is when this promoter last read a heartbeat dated in
	// its future: its clock (or the writer's) is wrong, so it cannot date a
	// silent region's end against the heartbeat's clock.
	ClockSuspectAt time.Time
	// PeerAlarmReadAt is when (local clock) the peer region's writable alarm
	// was last read successfully, whatever its state: proof that this
	// promoter has a network path to that region's CloudWatch.
	PeerAlarmReadAt time.Time
	// Notified is the signature of the last decision that paged, so a
	// standing condition pages once, not every 30 seconds.
	Notified string
	// ModeOverride is the mode an operator set at run time (`redisha
	// promoter mode|pause`), in force over the deployed one until resumed;
	// ModeSetBy and ModeSetAt say who set it (or resumed) and when.
	ModeOverride Mode
	ModeSetBy    string
	ModeSetAt    time.Time
}

// Input is everything a decision depends on.
type Input struct {
	// LocalRegion is the region this promoter runs in and may promote.
	LocalRegion string
	Obs         Observations
	Prev        State
	Mode        Mode
	Bounds      Bounds
	// AcceptedLoss is an operator's acceptance of more replication lag than
	// Bounds.MaxDataLoss (AnyLoss: any, even unknown). 0: none.
	AcceptedLoss time.Duration
	// PrimaryDownConfirmed is an operator's word that the primary region is
	// down (failover --primary-down), for when its CloudWatch cannot be
	// reached and no recent read makes that evidence: the operator, who
	// checked from outside both regions, is the independent vote. It never
	// outweighs an alarm read as OK, and the heartbeat must still have
	// stalled.
	PrimaryDownConfirmed bool
	// IgnoreLatch and IgnoreDatastoreGuard are an operator's explicit
	// overrides (failover --ignore-latch, --ignore-datastore-guard): the
	// guard is still evaluated, its verdict holds with the refusal it
	// overrode in the reason, and the override is named in
	// Decision.Overrides, the decision log and the page.
	IgnoreLatch          bool
	IgnoreDatastoreGuard bool
}

// Verdict is one guard's answer.
type Verdict struct {
	Guard  string `json:"guard"`
	OK     bool   `json:"ok"`
	Reason string `json:"reason"`
}

// Decision is the outcome of one run.
type Decision struct {
	Epoch  uint64 `json:"epoch"`
	Action Action `json:"action"`
	// Mode is the mode the decision was made in (Input.Mode).
	Mode   Mode      `json:"mode"`
	Guards []Verdict `json:"guards"`
	// PrimaryDown is true when the independent-evidence guard holds.
	PrimaryDown bool `json:"primary_down"`
	// Ready is true when every guard but the mode holds: "could promote
	// right now", a signal worth watching continuously.
	Ready bool `json:"ready"`
	// Notify is true when this decision should page: an action, or a
	// refusal that matters (primary down but another guard refuses, or a
	// partition), the first time it occurs.
	Notify bool `json:"notify"`
	// Note names a refusal of the evidence guard that pages (NotePartition,
	// NotePeerUnreached, NotePeerUnreachedStalled); empty otherwise.
	Note string `json:"note,omitempty"`
	// Overrides names the operator's overrides that changed a verdict
	// (--ignore-latch, --ignore-datastore-guard); empty otherwise.
	Overrides []string `json:"overrides,omitempty"`
	// Retry is set when this decision retries an attempt that never got an
	// answer from ElastiCache (an aborted attempt): it is paged.
	Retry bool `json:"retry,omitempty"`
	// LossAtLeast is what a promotion surely loses when the primary has
	// fallen silent after it was seen writing past the replica's newest
	// heartbeat; the page says it, and no operator should accept less.
	LossAtLeast time.Duration `json:"loss_at_least,omitempty"`
	// Next is the state to store.
	Next State `json:"-"`
}

// Verdict returns the named guard's verdict.
func (d Decision) Verdict(guard string) Verdict {
	for _, v := range d.Guards {
		if v.Guard == guard {
			return v
		}
	}
	return Verdict{Guard: guard, Reason: "not evaluated"}
}

// Refused lists the guards that did not hold.
func (d Decision) Refused() []string {
	var out []string
	for _, v := range d.Guards {
		if !v.OK {
			out = append(out, v.Guard)
		}
	}
	return out
}

// Decide evaluates every guard afresh and returns the decision. It is pure:
// the same input gives the same decision.
func Decide(in Input) Decision {
	b := in.Bounds.WithDefaults()
	var future bool
	in.Obs, future = screen(in.Obs, b.MaxHeartbeatSkew)
	now := in.Obs.Now
	next := track(in.Prev, in.Obs, b)
	if future {
		next.ClockSuspectAt = now
	}
	next.Epoch = in.Prev.Epoch + 1
	d := Decision{Epoch: next.Epoch, Mode: in.Mode}

	evidence, note := evidenceGuard(in.Obs, next, b, in.PrimaryDownConfirmed)
	d.PrimaryDown = evidence.OK
	dsv := datastoreGuard(in.Obs.Datastore)
	if !dsv.OK && in.IgnoreDatastoreGuard && in.Obs.Datastore.Err == "" {
		// AWS accepts a failover while the datastore is modifying; the
		// operator takes that on, named in the log and the page.
		dsv = override(dsv, "--ignore-datastore-guard")
		d.Overrides = append(d.Overrides, "ignore-datastore-guard")
	}
	lv, retry := latchGuard(next, now, b)
	if !lv.OK && in.IgnoreLatch {
		lv = override(lv, "--ignore-latch")
		d.Overrides = append(d.Overrides, "ignore-latch")
	}
	d.Guards = []Verdict{
		evidence,
		dsv,
		memberGuard(in.LocalRegion, in.Obs.Datastore),
		dataLossGuard(next, in.Obs, b, in.AcceptedLoss),
		lv,
		modeGuard(in.Mode),
	}
	d.LossAtLeast = lossFloor(next, in.Obs)
	d.Ready = true
	for _, v := range d.Guards[:len(d.Guards)-1] {
		d.Ready = d.Ready && v.OK
	}
	switch {
	case d.Ready && in.Mode == ModeAuto:
		d.Action = ActPromote
		d.Retry = retry || !in.Prev.AbortedAt.IsZero()
		// Only the attempt is recorded: the latch (PromotedAt) starts when
		// ElastiCache accepts the call (the runner records it) or the roles
		// are seen to swap. A run that overlaps this attempt is refused by
		// the attempt window, not by luck.
		next.AttemptAt = now
	case d.Ready && in.Mode == ModeAdvise:
		d.Action = ActAdvise
	default:
		d.Action = ActNone
	}

	// Page on actions and on refusals that matter, once per distinct
	// condition; clear the memory when the condition goes away.
	alreadyPrimary := strings.EqualFold(in.Obs.Datastore.LocalRole, RolePrimary)
	if alreadyPrimary {
		// The heartbeat is ours to write now; its absence is no news.
		note = ""
	}
	matters := in.Mode != ModeOff && !alreadyPrimary && (d.Action != ActNone || d.PrimaryDown || note != "")
	sig := ""
	if matters {
		sig = string(d.Action) + ":" + strings.Join(d.Refused(), ",")
		if note != "" {
			sig += ":" + note
		}
		if len(d.Overrides) > 0 {
			sig += ":override=" + strings.Join(d.Overrides, ",")
		}
	}
	d.Notify = matters && (sig != in.Prev.Notified || d.Action == ActPromote)
	d.Note = note
	next.Notified = sig
	d.Next = next
	return d
}

// MaxHeartbeatSkew is how far in the future (by this promoter's clock) a
// heartbeat's write time may be: regions' clocks (Amazon Time Sync) agree
// to well under a millisecond, so 2 seconds allows for a bad clock while a
// heartbeat dated later is refused as forged or from a wrong clock. Such a
// value would otherwise read as a fresh replica and hide real lag.
const MaxHeartbeatSkew = 2 * time.Second

// screen refuses a heartbeat written in the future beyond skew: it becomes
// an unreadable heartbeat, evidence of nothing. future reports it.
func screen(obs Observations, skew time.Duration) (_ Observations, future bool) {
	if hb := obs.Heartbeat; hb.Err == "" && hb.Present {
		if ahead := hb.Value.Written.Sub(obs.Now); ahead > skew {
			obs.Heartbeat = Heartbeat{Err: fmt.Sprintf("the heartbeat (seq %d) was written %s ahead of this promoter's clock, "+
				"beyond the %s skew allowed: forged, or the writer's clock is wrong", hb.Value.Seq, round(ahead), skew)}
			return obs, true
		}
	}
	return obs, false
}

// freshWindow is how many heartbeat intervals the freshest age is kept for:
// the lowest age of the heartbeats seen in the last two minutes (at 10 s) is
// the replication lag with the least scheduling in it.
const freshWindow = 12

// track updates the heartbeat and role history with this run's observations.
func track(prev State, obs Observations, b Bounds) State {
	next := prev
	now := obs.Now
	if hb := obs.Heartbeat; hb.Err == "" && hb.Present {
		v := hb.Value
		if v.Seq != prev.HeartbeatSeq || !v.Written.Equal(prev.HeartbeatWritten) || prev.HeartbeatAdvanced.IsZero() {
			// A new heartbeat arrived: the primary wrote and replication
			// carried it, so the primary is healthy as the data path sees it.
			next.HeartbeatSeq, next.HeartbeatWritten, next.HeartbeatAdvanced = v.Seq, v.Written, now
			next.HealthyAt = now
			next.HealthyAge = max(now.Sub(v.Written), 0) // clocks of two regions: never negative
			if next.FreshestAt.IsZero() || now.Sub(next.FreshestAt) > freshWindow*b.HeartbeatInterval || next.HealthyAge <= next.FreshestAge {
				next.FreshestAge, next.FreshestAt = next.HealthyAge, now
			}
		}
	}
	if ds := obs.Datastore; ds.Err == "" && ds.PrimaryRegion != "" {
		if prev.PrimaryRegion != "" && prev.PrimaryRegion != ds.PrimaryRegion {
			// Roles swapped since the last run: a promotion happened (ours,
			// another region's, the console's). It starts the cooldown and
			// ends any attempt.
			next.PromotedAt = now
			next.AttemptAt, next.AbortedAt = time.Time{}, time.Time{}
		}
		next.PrimaryRegion = ds.PrimaryRegion
	}
	if w := obs.LastWrite.Written; w.After(prev.PeerWroteAt) {
		next.PeerWroteAt = w
	}
	if a := obs.Alarm; a.Err == "" && !a.Unreachable {
		// An answer, even "no such alarm": the route to the peer's
		// CloudWatch exists.
		next.PeerAlarmReadAt = now
	}
	switch observerVerdict(obs.Observer) {
	case ObserverUp:
		next.WitnessUpAt, next.WitnessDownAt = now, time.Time{}
	case ObserverDown:
		// Dated only after an "up": a witness never seen up dates nothing.
		if next.WitnessDownAt.IsZero() && !next.WitnessUpAt.IsZero() {
			next.WitnessDownAt = now
		}
	}
	return next
}

// observerVerdict is the third observer's verdict, normalised (compared as
// the alarm states are, case-insensitively: an "UP" must veto, not pass as
// "no verdict"); ObserverUnknown when there is none.
func observerVerdict(o *Observer) string {
	if o == nil {
		return ObserverUnknown
	}
	switch v := strings.ToLower(strings.TrimSpace(o.Verdict)); v {
	case ObserverDown, ObserverUp:
		return v
	}
	return ObserverUnknown
}

// Notes evidenceGuard attaches to a refusal that pages, once per condition.
const (
	// NotePartition: fresh heartbeats while the observers lose the primary.
	NotePartition = "partition"
	// NotePeerUnreached: the peer's CloudWatch is unreachable and was not
	// read recently enough for that to mean anything.
	NotePeerUnreached = "peer-unreached"
	// NotePeerUnreachedStalled: the same while the heartbeat has stalled,
	// a refusal during what may be an outage (pages again): an operator,
	// whose own route reaches the peer, decides.
	NotePeerUnreachedStalled = "peer-unreached-stalled"
	// NotePrimaryAnswers: the heartbeat stalled and the observers see the
	// primary down, but the replication link is up: the primary's server
	// lives and refuses writes (OOM, BUSY) or its checker broke.
	NotePrimaryAnswers = "primary-answers"
	// NoteHeartbeatUnreadable: the heartbeat in the local replica cannot
	// be read or is not a checker's (unsigned, forged, future-dated, over
	// the cap, another type): the promoter is blind, and says so once.
	NoteHeartbeatUnreadable = "heartbeat-unreadable"
	// NoteRegionSilent: the heartbeat stalled and the primary region's
	// CloudWatch is unreachable from here, with no view from outside this
	// region: a lost region or a partition. A person decides.
	NoteRegionSilent = "region-silent"
)

// evidenceGuard holds when the heartbeat has stopped advancing in the local
// replica for StallAfter and the primary region's writable alarm is in ALARM
// or its CloudWatch is unreachable although it was read within
// PeerSeenWithin before the heartbeat stopped, and then only with a view
// from outside this region (a third observer that sees the primary down,
// or an operator's confirmation); a third observer that sees the primary up
// vetoes. note names a refusal that must page:
// a partition (fresh heartbeats while the observers cannot reach the
// primary) or a missing route to the peer's CloudWatch.
func evidenceGuard(obs Observations, st State, b Bounds, confirmed bool) (v Verdict, note string) {
	v.Guard = GuardEvidence
	hb := obs.Heartbeat
	if hb.Err != "" {
		v.Reason = "cannot read the heartbeat in the local replica: " + hb.Err
		return v, NoteHeartbeatUnreadable
	}
	if st.HeartbeatAdvanced.IsZero() {
		v.Reason = "no heartbeat has ever been seen in the local replica: is the primary's checker writing heartbeats?"
		return v, ""
	}
	stalled := obs.Now.Sub(st.HeartbeatAdvanced)
	observersDown, alarmWhy := alarmVote(obs.Alarm)
	if confirmed && obs.Alarm.Unreachable {
		alarmWhy += "; an operator confirmed the primary region is down"
	}
	// A third observer outside both regions (the witness: Route 53's health
	// checkers) that sees the primary down is a view from outside, as an
	// operator's confirmation is: without it, an unreachable CloudWatch
	// that was never read proves nothing.
	outside := confirmed || observerVerdict(obs.Observer) == ObserverDown
	if obs.Alarm.Unreachable && !peerSeenBefore(st, b.PeerSeenWithin) && !outside {
		// Fail closed: without a recent read, unreachable proves nothing.
		why := peerUnreachedWhy(st, obs.Alarm, b.PeerSeenWithin)
		if stalled < b.StallAfter {
			v.Reason = fmt.Sprintf("the heartbeat advanced %s ago (seq %d), but %s", round(stalled), st.HeartbeatSeq, why)
			return v, NotePeerUnreached
		}
		v.Reason = fmt.Sprintf("the heartbeat has not advanced for %s (seq %d, stall bound %s), but %s",
			round(stalled), st.HeartbeatSeq, b.StallAfter, why)
		return v, NotePeerUnreachedStalled
	}
	if stalled < b.StallAfter {
		if observersDown && stalled >= 2*b.HeartbeatInterval {
			v.Reason = fmt.Sprintf("the heartbeat has not advanced for %s (seq %d), under the %s stall bound, and %s: "+
				"wait (an in-region failover in the primary region stalls it too)", round(stalled), st.HeartbeatSeq, b.StallAfter, alarmWhy)
			return v, ""
		}
		if observersDown {
			v.Reason = fmt.Sprintf("partition: the heartbeat advanced %s ago (seq %d) while %s: replication still reaches us, "+
				"the primary is alive; never promote on this", round(stalled), st.HeartbeatSeq, alarmWhy)
			return v, NotePartition
		}
		v.Reason = fmt.Sprintf("primary alive: the heartbeat advanced %s ago (seq %d), under the %s stall bound",
			round(stalled), st.HeartbeatSeq, b.StallAfter)
		return v, ""
	}
	stallWhy := fmt.Sprintf("the heartbeat has not advanced for %s (seq %d, stall bound %s)", round(stalled), st.HeartbeatSeq, b.StallAfter)
	if a := obs.Alarm; !observersDown && a.Err == "" && a.Found && observerVerdict(obs.Observer) == ObserverDown {
		// The alarm aggregates periods of a minute; the witness probes the
		// write path every few seconds from outside both regions. With the
		// heartbeat stalled past the bound, its "down" is the fresher word,
		// and an alarm not yet in ALARM is only lagging.
		observersDown = true
		alarmWhy += " (its periods lag)"
	}
	if !observersDown {
		v.Reason = stallWhy + " but " + alarmWhy + ": the replication link is broken while the primary may be healthy"
		return v, ""
	}
	if l := hb.Link; l.Known && l.Up && l.LastIO <= b.LinkAliveWithin {
		// The region is not gone: its primary still streams to us. A live
		// primary that refuses writes (maxmemory with noeviction, a busy
		// script) or a broken checker fails both signals at once; promoting
		// would split the writers. Page: someone must fix the primary.
		v.Reason = fmt.Sprintf("%s and %s, but the replication link to the primary is up (last I/O %s ago): the primary answers "+
			"and refuses writes (OOM, BUSY) or its checker cannot write; never promote on this", stallWhy, alarmWhy, round(l.LastIO))
		return v, NotePrimaryAnswers
	}
	observerDown := false
	if o := obs.Observer; o != nil {
		switch observerVerdict(o) {
		case ObserverDown:
			observerDown = true
			alarmWhy += "; third observer: down (" + o.Detail + ")"
		case ObserverUp:
			v.Reason = stallWhy + " and " + alarmWhy + ", but the third observer sees the primary up (" + o.Detail + ")"
			return v, ""
		default:
			alarmWhy += "; third observer: no verdict (" + o.Detail + ")"
		}
	}
	if obs.Alarm.Unreachable && !confirmed && !observerDown {
		// Both signals are this region's own view: a partition between
		// the regions (the link and the route to the peer's CloudWatch)
		// looks exactly like a lost region from here. Only a view from
		// outside counts: the peer's alarm read from its region, a third
		// observer, or a person who checked.
		v.Reason = stallWhy + " and " + alarmWhy + ", but both are this region's own view: a partition between the regions " +
			"looks the same from here. Independent evidence is needed: the primary region's alarm in ALARM, a third observer " +
			"that sees the primary down, or an operator who finds the primary region down (redisha failover --to <this region> " +
			"--apply --primary-down; docs/failover.md)"
		return v, NoteRegionSilent
	}
	v.OK = true
	v.Reason = stallWhy + " and " + alarmWhy
	return v, ""
}

// peerSeenBefore reports whether the peer's alarm was read within window
// before the heartbeat last advanced (or at any time since): the route to
// its CloudWatch existed while the primary was still seen healthy.
func peerSeenBefore(st State, window time.Duration) bool {
	return !st.PeerAlarmReadAt.IsZero() && st.HeartbeatAdvanced.Sub(st.PeerAlarmReadAt) <= window
}

// peerUnreachedWhy is the verdict when the peer's CloudWatch is unreachable
// and was not read recently enough to count.
func peerUnreachedWhy(st State, a Alarm, window time.Duration) string {
	since := "has never been reachable from here"
	if !st.PeerAlarmReadAt.IsZero() {
		since = fmt.Sprintf("has not been reachable from here since %s (more than %s before the heartbeat last advanced)",
			st.PeerAlarmReadAt.UTC().Format(time.RFC3339), window)
	}
	return "the other region's CloudWatch " + since + " (" + a.Err + "): the network path is missing (see docs/failover.md); " +
		"a silent region cannot be told from a missing route"
}

// alarmVote reads the primary region's writable alarm as a DOWN vote.
func alarmVote(a Alarm) (down bool, why string) {
	switch {
	case a.Unreachable:
		return true, "the primary region's CloudWatch is unreachable (" + a.Err + ")"
	case a.Err != "":
		return false, "the primary region's writable alarm could not be read (" + a.Err + ")"
	case !a.Found:
		return false, "the primary region's writable alarm does not exist (check PEER_WRITABLE_ALARM)"
	case strings.EqualFold(a.State, AlarmAlarm):
		return true, "the primary region's writable alarm is in ALARM"
	}
	return false, "the primary region's writable alarm is " + a.State
}

func datastoreGuard(ds Datastore) Verdict {
	v := Verdict{Guard: GuardDatastore}
	switch {
	case ds.Err != "":
		v.Reason = "cannot describe the Global Datastore: " + ds.Err
	case !strings.EqualFold(ds.Status, StatusAvailable):
		v.Reason = fmt.Sprintf("the Global Datastore is %s, not available: wait and re-check (a promotion or change is in flight, "+
			"or only the primary is left)", ds.Status)
	case ds.GroupStatus == "":
		// An answer without the group's status is no evidence that it is
		// idle: fail closed, as for any other unread field.
		v.Reason = "the local replication group's status is unknown (not in the answer): wait and re-check"
	case !strings.EqualFold(ds.GroupStatus, StatusAvailable):
		v.Reason = fmt.Sprintf("the local replication group is %s, not available (an engine upgrade or change is in flight)", ds.GroupStatus)
	case len(ds.GroupPending) > 0:
		v.Reason = "the local replication group has pending modifications: " + strings.Join(ds.GroupPending, ", ")
	default:
		v.OK = true
		v.Reason = "the Global Datastore and the local replication group are available"
	}
	return v
}

func memberGuard(region string, ds Datastore) Verdict {
	v := Verdict{Guard: GuardMember}
	switch {
	case ds.Err != "":
		v.Reason = "unknown: the Global Datastore could not be described"
	case ds.LocalRole == "":
		v.Reason = "the local replication group in " + region + " is not a member of the Global Datastore"
	case strings.EqualFold(ds.LocalRole, RolePrimary):
		v.Reason = "the local member is already PRIMARY: nothing to promote"
	case !strings.EqualFold(ds.LocalRole, RoleSecondary):
		v.Reason = "the local member's role is " + ds.LocalRole
	case !strings.EqualFold(ds.LocalStatus, MemberAssociated):
		v.Reason = "the local member is SECONDARY but " + ds.LocalStatus + ", not associated"
	default:
		v.OK = true
		v.Reason = "the local member is SECONDARY and associated"
	}
	return v
}

// dataLossGuard bounds what promoting can lose: the writes the primary took
// after the newest heartbeat the local replica holds. It measures
// lastWrite - HeartbeatWritten, both stamped by the primary region's
// checker (no skew between regions enters). When the primary's last
// writable moment cannot be read, "now" by the local clock stands in for
// it: an upper bound, larger by the skew of the two clocks and by however
// long the primary has been gone, so the guard refuses unless an operator
// accepts. What it cannot see: writes acknowledged within the last check
// interval before the region died (after the last heartbeat the checker
// published), which any asynchronous replication loses.
func dataLossGuard(st State, obs Observations, b Bounds, accepted time.Duration) Verdict {
	v := Verdict{Guard: GuardDataLoss}
	if st.HeartbeatWritten.IsZero() {
		if accepted == AnyLoss {
			v.OK = true
			v.Reason = "the replica's freshness is unknown; an operator accepted any data loss"
			return v
		}
		v.Reason = "the replica's freshness is unknown (no heartbeat ever seen in it): refusing without an operator's --accept-data-loss any"
		return v
	}
	bound, who := b.MaxDataLoss, "configured"
	if accepted > bound {
		bound, who = accepted, "accepted by an operator"
	}
	newest := st.HeartbeatWritten
	if obs.LastWrite.Written.IsZero() && b.SilentMaxDataLoss > 0 && !st.WitnessDownAt.IsZero() {
		return witnessedLoss(v, st, obs, b, accepted)
	}
	var loss time.Duration
	var how string
	if lw := obs.LastWrite; !lw.Written.IsZero() {
		loss = max(lw.Written.Sub(newest), 0)
		how = fmt.Sprintf("the primary was last seen taking writes at %s and the newest heartbeat here was written at %s "+
			"(both by the primary's clock): up to %s of writes not here", lw.Written.UTC().Format(time.RFC3339Nano),
			newest.UTC().Format(time.RFC3339Nano), round(loss))
	} else {
		loss = max(obs.Now.Sub(newest), 0)
		why := lw.Err
		if why == "" {
			why = "not read"
		}
		how = fmt.Sprintf("the primary's last writable moment is unknown (%s), so it is bounded by now: the newest heartbeat here "+
			"was written %s ago (%s; includes any clock skew between the regions): up to %s of writes not here",
			why, round(loss), newest.UTC().Format(time.RFC3339Nano), round(loss))
		if floor := lossFloor(st, obs); floor > 0 {
			how += fmt.Sprintf(", and at least %s: the primary was seen taking writes at %s, after the newest heartbeat here "+
				"(the replication link broke before the region fell silent)", round(floor), st.PeerWroteAt.UTC().Format(time.RFC3339Nano))
		}
	}
	if accepted == AnyLoss {
		v.OK = true
		v.Reason = how + "; an operator accepted any data loss"
		return v
	}
	if loss > bound {
		v.Reason = fmt.Sprintf("stale secondary: %s, over the %s bound (%s); refuse unless an operator accepts that much "+
			"(--accept-data-loss %s)", how, round(bound), who, acceptHint(loss))
		return v
	}
	v.OK = true
	v.Reason = fmt.Sprintf("%s, within %s (%s)", how, round(bound), who)
	return v
}

// witnessedLoss is the data-loss guard for a primary region whose last
// writable moment cannot be read (its CloudWatch is silent) but whose end
// the witness dates: Route 53's health checkers, outside both regions,
// found its writable endpoint failing at st.WitnessDownAt (this promoter's
// clock), so its last write is no later. The possible loss is that moment
// minus the newest heartbeat here (two clocks: Amazon Time Sync keeps them
// within a millisecond, and a heartbeat from the future is refused), and
// must be within SilentMaxDataLoss, the deployment's advance acceptance.
// The replica must also have been fresh when the primary was last seen
// healthy: a stale one would lose its lag, whatever the witness says.
func witnessedLoss(v Verdict, st State, obs Observations, b Bounds, accepted time.Duration) Verdict {
	newest := st.HeartbeatWritten
	loss := max(st.WitnessDownAt.Sub(newest), lossFloor(st, obs), 0)
	how := fmt.Sprintf("the primary region is silent; the witness (Route 53's health checkers) found it not writable by %s and "+
		"the newest heartbeat here was written at %s: up to %s of writes not here", st.WitnessDownAt.UTC().Format(time.RFC3339Nano),
		newest.UTC().Format(time.RFC3339Nano), round(loss))
	if floor := lossFloor(st, obs); floor > 0 {
		how += fmt.Sprintf(", and at least %s (the primary was seen taking writes after the newest heartbeat here)", round(floor))
	}
	if accepted == AnyLoss {
		v.OK = true
		v.Reason = how + "; an operator accepted any data loss"
		return v
	}
	if t := st.ClockSuspectAt; !t.IsZero() && obs.Now.Sub(t) < b.Cooldown {
		// The bound compares this promoter's clock with the writer's; a
		// heartbeat from its future says they disagree, and once a stalled
		// heartbeat ages past the skew it would be read and under-count.
		v.Reason = fmt.Sprintf("%s, but this promoter read a heartbeat dated in its future at %s: its clock or the writer's is wrong, "+
			"so the witness cannot date the loss; fix the clock, or an operator accepts (--accept-data-loss)", how, t.UTC().Format(time.RFC3339))
		if accepted > 0 && accepted >= loss {
			v.OK = true
			v.Reason = how + "; the clocks disagree, and an operator accepted " + round(accepted).String()
		}
		return v
	}
	fresh, age := b.MaxDataLoss+b.HeartbeatInterval, st.FreshestAge
	if st.FreshestAt.IsZero() {
		age = st.HealthyAge
	}
	if age > fresh && accepted < age {
		v.Reason = fmt.Sprintf("stale secondary: while the primary was seen healthy the freshest heartbeat here was %s old, over "+
			"MAX_DATA_LOSS (%s) and one heartbeat interval (%s); refuse unless an operator accepts that much (--accept-data-loss %s)",
			round(age), round(b.MaxDataLoss), round(b.HeartbeatInterval), acceptHint(max(age, loss)))
		return v
	}
	bound, who := b.SilentMaxDataLoss, "accepted for a silent region by the deployment (SILENT_MAX_DATA_LOSS)"
	if accepted > bound {
		bound, who = accepted, "accepted by an operator"
	}
	if loss > bound {
		v.Reason = fmt.Sprintf("%s, over the %s bound (%s); refuse unless an operator accepts that much (--accept-data-loss %s)",
			how, round(bound), who, acceptHint(loss))
		return v
	}
	v.OK = true
	v.Reason = fmt.Sprintf("%s, within %s (%s); the freshest heartbeat here was %s old while the primary was seen healthy",
		how, round(bound), who, round(age))
	return v
}

// lossFloor is what promoting surely loses when the primary's last writable
// moment cannot be read now: the writes between the newest heartbeat here
// and the last moment the primary was seen taking writes (both by its
// clock). Zero when it is known now, or nothing says more than the replica
// holds.
func lossFloor(st State, obs Observations) time.Duration {
	if !obs.LastWrite.Written.IsZero() || st.HeartbeatWritten.IsZero() {
		return 0
	}
	return max(st.PeerWroteAt.Sub(st.HeartbeatWritten), 0)
}

// acceptHint is the smallest whole second over loss, for the page.
func acceptHint(loss time.Duration) string {
	return (loss.Truncate(time.Second) + time.Second).String()
}

// latchGuard refuses within the cooldown of an accepted (or seen)
// promotion, and while a recorded attempt may still be in flight. An
// attempt older than the attempt window never got an answer: it aborted,
// and retry reports that this decision would retry it.
func latchGuard(st State, now time.Time, b Bounds) (v Verdict, retry bool) {
	v.Guard = GuardLatch
	if !st.PromotedAt.IsZero() {
		if until := st.PromotedAt.Add(b.Cooldown); now.Before(until) {
			v.Reason = fmt.Sprintf("latched: a promotion at %s; no automatic promotion until %s (cooldown %s); "+
				"fail back with a planned switchover", st.PromotedAt.UTC().Format(time.RFC3339), until.UTC().Format(time.RFC3339), b.Cooldown)
			return v, false
		}
	}
	if !st.AttemptAt.IsZero() && st.AttemptAt.After(st.PromotedAt) {
		if age := now.Sub(st.AttemptAt); age < b.AttemptWindow {
			v.Reason = fmt.Sprintf("an attempt recorded at %s (%s ago) may still be in flight: its outcome is not recorded; "+
				"it counts as aborted after %s", st.AttemptAt.UTC().Format(time.RFC3339), round(age), b.AttemptWindow)
			return v, false
		}
		v.OK = true
		v.Reason = fmt.Sprintf("no accepted promotion within the %s cooldown; the attempt recorded at %s never got an answer "+
			"from ElastiCache (aborted): retrying", b.Cooldown, st.AttemptAt.UTC().Format(time.RFC3339))
		return v, true
	}
	v.OK = true
	v.Reason = "no promotion within the " + b.Cooldown.String() + " cooldown"
	return v, false
}

// override turns a refusal into a hold an operator took responsibility for,
// keeping the refusal in the reason.
func override(v Verdict, flag string) Verdict {
	v.OK = true
	v.Reason = "OVERRIDDEN by an operator (" + flag + "): " + v.Reason
	return v
}

func modeGuard(m Mode) Verdict {
	v := Verdict{Guard: GuardMode}
	switch m {
	case ModeAuto:
		v.OK, v.Reason = true, "auto: may promote"
	case ModeAdvise:
		v.Reason = "advise: page with the command, do not act"
	default:
		v.Reason = "off: evaluate only"
	}
	return v
}

func round(d time.Duration) time.Duration {
	if d == AnyLoss {
		return d
	}
	return d.Round(100 * time.Millisecond)
}
