package promoter_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redisha/redisha/internal/check"
	"github.com/redisha/redisha/internal/promoter"
)

var t0 = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

const (
	local  = "us-west-2"
	remote = "us-east-1"
)

// outage is the input of a run four minutes into a primary-region outage:
// the heartbeat (seq 41, 3 s old when last seen advancing) stopped, the
// writable alarm is in ALARM (its CloudWatch was last read when the
// heartbeat last advanced), the local member is an associated SECONDARY of
// an available datastore, mode auto. Every guard holds.
func outage() promoter.Input {
	seen := t0.Add(-4 * time.Minute)
	return promoter.Input{
		LocalRegion: local,
		Mode:        promoter.ModeAuto,
		Prev: promoter.State{
			Epoch:             7,
			HeartbeatSeq:      41,
			HeartbeatWritten:  seen.Add(-3 * time.Second),
			HeartbeatAdvanced: seen,
			HealthyAt:         seen,
			HealthyAge:        3 * time.Second,
			PrimaryRegion:     remote,
			PeerAlarmReadAt:   seen,
		},
		Obs: promoter.Observations{
			Now: t0,
			Datastore: promoter.Datastore{
				Status: "available", PrimaryRegion: remote,
				LocalRole: "SECONDARY", LocalStatus: "associated", GroupStatus: "available",
			},
			Heartbeat: promoter.Heartbeat{Present: true, Value: check.Heartbeat{Written: seen.Add(-3 * time.Second), Region: remote, Seq: 41}},
			Alarm:     promoter.Alarm{Found: true, State: "ALARM"},
			// The primary's checker last wrote 2 s after the newest
			// heartbeat the replica holds: up to 2 s of writes not here.
			LastWrite: promoter.LastWrite{Written: seen.Add(-time.Second)},
		},
	}
}

// freshHeartbeat makes the local replica see heartbeat seq 42, written 1 s
// before now: the primary writes and replication carries it.
func freshHeartbeat(in *promoter.Input) {
	in.Obs.Heartbeat.Value = check.Heartbeat{Written: in.Obs.Now.Add(-time.Second), Region: remote, Seq: 42}
}

func TestDecide(t *testing.T) {
	for _, tc := range []struct {
		name   string
		edit   func(in *promoter.Input)
		action promoter.Action
		// refused are the guards that must not hold (mode included).
		refused []string
		// reason is a fragment of the first refused guard's reason, or of
		// the evidence guard's reason when nothing is refused.
		reason string
		notify bool
	}{
		// Where it must act.
		{name: "region silent: heartbeat stalled, alarm in ALARM", edit: func(*promoter.Input) {},
			action: promoter.ActPromote, reason: "writable alarm is in ALARM", notify: true},
		{name: "primary region's CloudWatch unreachable, a third observer sees the primary down", edit: func(in *promoter.Input) {
			in.Obs.Alarm = promoter.Alarm{Unreachable: true, Err: "dial tcp: i/o timeout"}
			in.Obs.Observer = &promoter.Observer{Verdict: promoter.ObserverDown, Detail: "route53 health checkers"}
		}, action: promoter.ActPromote, reason: "CloudWatch is unreachable", notify: true},
		{name: "primary region's CloudWatch unreachable, an operator confirms the region is down", edit: func(in *promoter.Input) {
			in.Obs.Alarm = promoter.Alarm{Unreachable: true, Err: "dial tcp: i/o timeout"}
			in.PrimaryDownConfirmed = true
		}, action: promoter.ActPromote, reason: "an operator confirmed", notify: true},
		{name: "region silent from here (link and CloudWatch), nothing from outside: this region's view alone, paged", edit: func(in *promoter.Input) {
			in.Obs.Alarm = promoter.Alarm{Unreachable: true, Err: "dial tcp: i/o timeout"}
		}, action: promoter.ActNone, refused: []string{promoter.GuardEvidence}, reason: "this region's own view", notify: true},
		{name: "the same in advise mode: paged, no advice", edit: func(in *promoter.Input) {
			in.Obs.Alarm = promoter.Alarm{Unreachable: true, Err: "dial tcp: i/o timeout"}
			in.Mode = promoter.ModeAdvise
		}, action: promoter.ActNone, refused: []string{promoter.GuardEvidence, promoter.GuardMode}, reason: "--primary-down", notify: true},
		{name: "primary region's CloudWatch unreachable, confirmed, last write unreadable too: the loss is bounded by now", edit: func(in *promoter.Input) {
			in.Obs.Alarm = promoter.Alarm{Unreachable: true, Err: "dial tcp: i/o timeout"}
			in.Obs.LastWrite = promoter.LastWrite{Err: "read HeartbeatWritten in us-east-1: dial tcp: i/o timeout"}
			in.PrimaryDownConfirmed = true
		}, action: promoter.ActNone, refused: []string{promoter.GuardDataLoss}, reason: "bounded by now", notify: true},
		{name: "partition (B cut off from A's link and CloudWatch, A healthy): refused, however long", edit: func(in *promoter.Input) {
			in.Obs.Alarm = promoter.Alarm{Unreachable: true, Err: "dial tcp: i/o timeout"}
			in.Obs.LastWrite = promoter.LastWrite{Err: "read HeartbeatWritten in us-east-1: dial tcp: i/o timeout"}
			in.Obs.Now = t0.Add(time.Hour)
			in.Prev.PeerAlarmReadAt = in.Prev.HeartbeatAdvanced
		}, action: promoter.ActNone, refused: []string{promoter.GuardEvidence, promoter.GuardDataLoss}, reason: "a partition between the regions looks the same", notify: true},
		{name: "CloudWatch and last write unreadable, the on-call confirms and accepts the loss shown", edit: func(in *promoter.Input) {
			in.Obs.Alarm = promoter.Alarm{Unreachable: true, Err: "dial tcp: i/o timeout"}
			in.Obs.LastWrite = promoter.LastWrite{Err: "read HeartbeatWritten in us-east-1: dial tcp: i/o timeout"}
			in.PrimaryDownConfirmed = true
			in.AcceptedLoss = 4*time.Minute + 4*time.Second
		}, action: promoter.ActPromote, reason: "CloudWatch is unreachable", notify: true},
		{name: "CloudWatch unreachable, read 14 minutes before the heartbeat stopped, third observer down", edit: func(in *promoter.Input) {
			in.Obs.Alarm = promoter.Alarm{Unreachable: true, Err: "dial tcp: i/o timeout"}
			in.Prev.PeerAlarmReadAt = in.Prev.HeartbeatAdvanced.Add(-14 * time.Minute)
			in.Obs.Observer = &promoter.Observer{Verdict: promoter.ObserverDown, Detail: "route53 health checkers"}
		}, action: promoter.ActPromote, reason: "CloudWatch is unreachable", notify: true},
		{name: "CloudWatch unreachable, read after the heartbeat stopped, third observer down", edit: func(in *promoter.Input) {
			in.Obs.Alarm = promoter.Alarm{Unreachable: true, Err: "dial tcp: i/o timeout"}
			in.Prev.PeerAlarmReadAt = t0.Add(-time.Minute)
			in.Obs.Observer = &promoter.Observer{Verdict: promoter.ObserverDown, Detail: "route53 health checkers"}
		}, action: promoter.ActPromote, reason: "CloudWatch is unreachable", notify: true},
		{name: "stalled region: the alarm still OK (its periods lag), the witness finds the primary not writable", edit: func(in *promoter.Input) {
			in.Obs.Alarm.State = "OK"
			in.Obs.Observer = &promoter.Observer{Verdict: promoter.ObserverDown, Detail: "route53 health checkers"}
		}, action: promoter.ActPromote, reason: "its periods lag", notify: true},
		{name: "link broken, primary healthy: alarm OK and the witness finds it writable", edit: func(in *promoter.Input) {
			in.Obs.Alarm.State = "OK"
			in.Obs.Observer = &promoter.Observer{Verdict: promoter.ObserverUp, Detail: "route53 health checkers"}
		}, action: promoter.ActNone, refused: []string{promoter.GuardEvidence}, reason: "the replication link is broken while the primary may be healthy"},
		{name: "third observer agrees", edit: func(in *promoter.Input) {
			in.Obs.Observer = &promoter.Observer{Verdict: promoter.ObserverDown, Detail: "route53 health checkers"}
		}, action: promoter.ActPromote, reason: "third observer: down", notify: true},
		{name: "advise mode pages with the command instead", edit: func(in *promoter.Input) { in.Mode = promoter.ModeAdvise },
			action: promoter.ActAdvise, refused: []string{promoter.GuardMode}, reason: "advise", notify: true},
		{name: "stale secondary with an operator's accepted loss", edit: func(in *promoter.Input) {
			in.Obs.LastWrite.Written = in.Prev.HeartbeatWritten.Add(2 * time.Minute)
			in.AcceptedLoss = 5 * time.Minute
		}, action: promoter.ActPromote, reason: "writable alarm is in ALARM", notify: true},
		{name: "unknown freshness with any loss accepted", edit: func(in *promoter.Input) {
			in.Prev.HeartbeatWritten, in.Obs.Heartbeat = time.Time{}, promoter.Heartbeat{}
			in.AcceptedLoss = promoter.AnyLoss
		}, action: promoter.ActPromote, reason: "writable alarm is in ALARM", notify: true},
		{name: "heartbeat key expired after the writer stopped", edit: func(in *promoter.Input) {
			in.Obs.Heartbeat = promoter.Heartbeat{Present: false}
		}, action: promoter.ActPromote, reason: "has not advanced for 4m0s", notify: true},
		{name: "cooldown over", edit: func(in *promoter.Input) { in.Prev.PromotedAt = t0.Add(-61 * time.Minute) },
			action: promoter.ActPromote, reason: "ALARM", notify: true},

		// Independent evidence.
		{name: "healthy primary: fresh heartbeat, alarm OK", edit: func(in *promoter.Input) {
			freshHeartbeat(in)
			in.Obs.Alarm.State = "OK"
		}, action: promoter.ActNone, refused: []string{promoter.GuardEvidence}, reason: "primary alive"},
		{name: "partition: observers lose a healthy primary (alarm ALARM)", edit: freshHeartbeat,
			action: promoter.ActNone, refused: []string{promoter.GuardEvidence}, reason: "partition", notify: true},
		{name: "partition: primary region's CloudWatch unreachable from here", edit: func(in *promoter.Input) {
			freshHeartbeat(in)
			in.Obs.Alarm = promoter.Alarm{Unreachable: true, Err: "timeout"}
		}, action: promoter.ActNone, refused: []string{promoter.GuardEvidence}, reason: "never promote", notify: true},
		{name: "no route: peer CloudWatch never reached, heartbeat stalled", edit: func(in *promoter.Input) {
			in.Obs.Alarm = promoter.Alarm{Unreachable: true, Err: "dial tcp: i/o timeout"}
			in.Prev.PeerAlarmReadAt = time.Time{}
		}, action: promoter.ActNone, refused: []string{promoter.GuardEvidence},
			reason: "CloudWatch has never been reachable from here (dial tcp: i/o timeout): the network path is missing", notify: true},
		{name: "no route: peer CloudWatch last reached long before the heartbeat stopped", edit: func(in *promoter.Input) {
			in.Obs.Alarm = promoter.Alarm{Unreachable: true, Err: "dial tcp: i/o timeout"}
			in.Prev.PeerAlarmReadAt = in.Prev.HeartbeatAdvanced.Add(-16 * time.Minute)
		}, action: promoter.ActNone, refused: []string{promoter.GuardEvidence},
			reason: "has not been reachable from here since 2026-11-24T09:40:00Z", notify: true},
		// The witness (Route 53's health checkers) stands outside both
		// regions: its "down" is the view from outside an unread CloudWatch
		// could not give, as an operator's confirmation is.
		{name: "no route, but a third observer outside both regions sees the primary down", edit: func(in *promoter.Input) {
			in.Obs.Alarm = promoter.Alarm{Unreachable: true, Err: "timeout"}
			in.Prev.PeerAlarmReadAt = time.Time{}
			in.Obs.Observer = &promoter.Observer{Verdict: promoter.ObserverDown, Detail: "route53 health checkers"}
		}, action: promoter.ActPromote, reason: "third observer: down", notify: true},
		{name: "no route, and the third observer has no verdict", edit: func(in *promoter.Input) {
			in.Obs.Alarm = promoter.Alarm{Unreachable: true, Err: "timeout"}
			in.Prev.PeerAlarmReadAt = time.Time{}
			in.Obs.Observer = &promoter.Observer{Verdict: promoter.ObserverUnknown, Detail: "no such host"}
		}, action: promoter.ActNone, refused: []string{promoter.GuardEvidence}, reason: "cannot be told from a missing route", notify: true},
		{name: "no route in advise mode: no advice", edit: func(in *promoter.Input) {
			in.Obs.Alarm = promoter.Alarm{Unreachable: true, Err: "timeout"}
			in.Prev.PeerAlarmReadAt = time.Time{}
			in.Mode = promoter.ModeAdvise
		}, action: promoter.ActNone, refused: []string{promoter.GuardEvidence, promoter.GuardMode}, reason: "network path is missing", notify: true},
		{name: "no route, an operator confirms the primary region is down: promote", edit: func(in *promoter.Input) {
			in.Obs.Alarm = promoter.Alarm{Unreachable: true, Err: "timeout"}
			in.Prev.PeerAlarmReadAt = time.Time{}
			in.PrimaryDownConfirmed = true
		}, action: promoter.ActPromote, reason: "an operator confirmed the primary region is down", notify: true},
		{name: "no route, an operator confirms the primary down, the loss unreadable and not accepted", edit: func(in *promoter.Input) {
			in.Obs.Alarm = promoter.Alarm{Unreachable: true, Err: "timeout"}
			in.Obs.LastWrite = promoter.LastWrite{Err: "timeout"}
			in.Prev.PeerAlarmReadAt = time.Time{}
			in.PrimaryDownConfirmed = true
		}, action: promoter.ActNone, refused: []string{promoter.GuardDataLoss}, reason: "--accept-data-loss 4m4s", notify: true},
		{name: "an operator's word never outweighs the alarm read as OK", edit: func(in *promoter.Input) {
			in.Obs.Alarm.State = "OK"
			in.PrimaryDownConfirmed = true
		}, action: promoter.ActNone, refused: []string{promoter.GuardEvidence}, reason: "replication link is broken"},
		{name: "an operator's word never outweighs a fresh heartbeat", edit: func(in *promoter.Input) {
			freshHeartbeat(in)
			in.Obs.Alarm = promoter.Alarm{Unreachable: true, Err: "timeout"}
			in.Prev.PeerAlarmReadAt = time.Time{}
			in.PrimaryDownConfirmed = true
		}, action: promoter.ActNone, refused: []string{promoter.GuardEvidence}, reason: "partition", notify: true},
		{name: "no route with a healthy primary: a configuration problem that pages", edit: func(in *promoter.Input) {
			freshHeartbeat(in)
			in.Obs.Alarm = promoter.Alarm{Unreachable: true, Err: "timeout"}
			in.Prev.PeerAlarmReadAt = time.Time{}
		}, action: promoter.ActNone, refused: []string{promoter.GuardEvidence}, reason: "the heartbeat advanced 0s ago (seq 42), but the other region's CloudWatch has never been reachable", notify: true},
		{name: "in-region failover in the primary region: a 2.5-minute stall with the alarm in ALARM", edit: func(in *promoter.Input) {
			in.Prev.HeartbeatAdvanced = t0.Add(-150 * time.Second)
		}, action: promoter.ActNone, refused: []string{promoter.GuardEvidence}, reason: "in-region failover"},
		{name: "replication link broken while the primary region says writable", edit: func(in *promoter.Input) {
			in.Obs.Alarm.State = "OK"
		}, action: promoter.ActNone, refused: []string{promoter.GuardEvidence}, reason: "replication link is broken"},
		{name: "alarm has insufficient data", edit: func(in *promoter.Input) { in.Obs.Alarm.State = "INSUFFICIENT_DATA" },
			action: promoter.ActNone, refused: []string{promoter.GuardEvidence}, reason: "INSUFFICIENT_DATA"},
		{name: "alarm does not exist", edit: func(in *promoter.Input) { in.Obs.Alarm = promoter.Alarm{} },
			action: promoter.ActNone, refused: []string{promoter.GuardEvidence}, reason: "does not exist"},
		{name: "alarm unreadable for another reason (access denied)", edit: func(in *promoter.Input) {
			in.Obs.Alarm = promoter.Alarm{Err: "AccessDenied"}
		}, action: promoter.ActNone, refused: []string{promoter.GuardEvidence}, reason: "could not be read"},
		{name: "local replica unreadable: pages", edit: func(in *promoter.Input) {
			in.Obs.Heartbeat = promoter.Heartbeat{Err: "connection refused"}
		}, action: promoter.ActNone, refused: []string{promoter.GuardEvidence}, reason: "cannot read the heartbeat", notify: true},
		{name: "local replica unreadable, already paged", edit: func(in *promoter.Input) {
			in.Obs.Heartbeat = promoter.Heartbeat{Err: "connection refused"}
			in.Prev.Notified = "none:evidence:heartbeat-unreadable"
		}, action: promoter.ActNone, refused: []string{promoter.GuardEvidence}, reason: "cannot read the heartbeat"},
		{name: "forged heartbeat (signature does not verify)", edit: func(in *promoter.Input) {
			in.Obs.Heartbeat = promoter.Heartbeat{Err: "healthcheck:heartbeat: " + check.ErrHeartbeatForged.Error()}
		}, action: promoter.ActNone, refused: []string{promoter.GuardEvidence}, reason: "signature does not verify", notify: true},
		{name: "unsigned heartbeat with a key configured", edit: func(in *promoter.Input) {
			in.Obs.Heartbeat = promoter.Heartbeat{Err: "healthcheck:heartbeat: " + check.ErrHeartbeatUnsigned.Error()}
		}, action: promoter.ActNone, refused: []string{promoter.GuardEvidence}, reason: "not signed", notify: true},
		{name: "heartbeat over the cap", edit: func(in *promoter.Input) {
			in.Obs.Heartbeat = promoter.Heartbeat{Err: "healthcheck:heartbeat is 1048576 bytes, over the 128-byte cap"}
		}, action: promoter.ActNone, refused: []string{promoter.GuardEvidence}, reason: "over the 128-byte cap", notify: true},
		{name: "heartbeat of another type", edit: func(in *promoter.Input) {
			in.Obs.Heartbeat = promoter.Heartbeat{Err: "healthcheck:heartbeat holds a value that is not a string"}
		}, action: promoter.ActNone, refused: []string{promoter.GuardEvidence}, reason: "not a string", notify: true},
		{name: "future-dated heartbeat (10 minutes ahead) is no evidence of freshness", edit: func(in *promoter.Input) {
			in.Obs.Heartbeat.Value = check.Heartbeat{Written: t0.Add(10 * time.Minute), Region: remote, Seq: 42}
		}, action: promoter.ActNone, refused: []string{promoter.GuardEvidence}, reason: "ahead of this promoter's clock", notify: true},
		{name: "heartbeat 1.5 s ahead: within the allowed skew", edit: func(in *promoter.Input) {
			in.Obs.Heartbeat.Value = check.Heartbeat{Written: t0.Add(1500 * time.Millisecond), Region: remote, Seq: 42}
			in.Obs.Alarm.State = "OK"
		}, action: promoter.ActNone, refused: []string{promoter.GuardEvidence}, reason: "primary alive"},
		{name: "heartbeat never seen", edit: func(in *promoter.Input) {
			in.Prev = promoter.State{}
			in.Obs.Heartbeat = promoter.Heartbeat{}
		}, action: promoter.ActNone, refused: []string{promoter.GuardEvidence, promoter.GuardDataLoss}, reason: "ever been seen"},
		{name: "stalled and ALARM but the replication link is up: a live primary refusing writes (OOM, BUSY)", edit: func(in *promoter.Input) {
			in.Obs.Heartbeat.Link = promoter.Link{Known: true, Up: true, LastIO: 3 * time.Second}
		}, action: promoter.ActNone, refused: []string{promoter.GuardEvidence}, reason: "replication link to the primary is up", notify: true},
		{name: "link up but silent for a minute: no veto", edit: func(in *promoter.Input) {
			in.Obs.Heartbeat.Link = promoter.Link{Known: true, Up: true, LastIO: time.Minute}
		}, action: promoter.ActPromote, reason: "ALARM", notify: true},
		{name: "link silent beyond a configured LinkAliveWithin (2 s > 1 s): no veto", edit: func(in *promoter.Input) {
			in.Bounds.LinkAliveWithin = time.Second
			in.Obs.Heartbeat.Link = promoter.Link{Known: true, Up: true, LastIO: 2 * time.Second}
		}, action: promoter.ActPromote, reason: "ALARM", notify: true},
		{name: "link down: no veto", edit: func(in *promoter.Input) {
			in.Obs.Heartbeat.Link = promoter.Link{Known: true}
		}, action: promoter.ActPromote, reason: "ALARM", notify: true},
		{name: "third observer sees the primary up", edit: func(in *promoter.Input) {
			in.Obs.Observer = &promoter.Observer{Verdict: promoter.ObserverUp, Detail: "probe from eu-west-1 wrote"}
		}, action: promoter.ActNone, refused: []string{promoter.GuardEvidence}, reason: "third observer sees the primary up"},
		{name: "third observer sees the primary up, in capitals", edit: func(in *promoter.Input) {
			in.Obs.Observer = &promoter.Observer{Verdict: "UP", Detail: "probe from eu-west-1 wrote"}
		}, action: promoter.ActNone, refused: []string{promoter.GuardEvidence}, reason: "third observer sees the primary up"},

		// Datastore.
		{name: "datastore modifying", edit: func(in *promoter.Input) { in.Obs.Datastore.Status = "modifying" },
			action: promoter.ActNone, refused: []string{promoter.GuardDatastore}, reason: "modifying, not available", notify: true},
		{name: "datastore primary-only", edit: func(in *promoter.Input) { in.Obs.Datastore.Status = "primary-only" },
			action: promoter.ActNone, refused: []string{promoter.GuardDatastore}, reason: "primary-only", notify: true},
		{name: "engine upgrade on the local group", edit: func(in *promoter.Input) { in.Obs.Datastore.GroupStatus = "modifying" },
			action: promoter.ActNone, refused: []string{promoter.GuardDatastore}, reason: "engine upgrade", notify: true},
		{name: "local group's status missing from the answer", edit: func(in *promoter.Input) { in.Obs.Datastore.GroupStatus = "" },
			action: promoter.ActNone, refused: []string{promoter.GuardDatastore}, reason: "status is unknown", notify: true},
		{name: "pending modifications on the local group", edit: func(in *promoter.Input) {
			in.Obs.Datastore.GroupPending = []string{"AutomaticFailoverStatus"}
		}, action: promoter.ActNone, refused: []string{promoter.GuardDatastore}, reason: "pending", notify: true},
		{name: "datastore cannot be described", edit: func(in *promoter.Input) {
			in.Obs.Datastore = promoter.Datastore{Err: "throttled"}
		}, action: promoter.ActNone, refused: []string{promoter.GuardDatastore, promoter.GuardMember}, reason: "cannot describe", notify: true},

		// Local member.
		{name: "local member already primary", edit: func(in *promoter.Input) {
			in.Obs.Datastore.LocalRole, in.Obs.Datastore.PrimaryRegion = "PRIMARY", local
		}, action: promoter.ActNone, refused: []string{promoter.GuardMember, promoter.GuardLatch}, reason: "already PRIMARY"},
		{name: "local member disassociating", edit: func(in *promoter.Input) { in.Obs.Datastore.LocalStatus = "disassociating" },
			action: promoter.ActNone, refused: []string{promoter.GuardMember}, reason: "not associated", notify: true},
		{name: "local group not a member", edit: func(in *promoter.Input) { in.Obs.Datastore.LocalRole = "" },
			action: promoter.ActNone, refused: []string{promoter.GuardMember}, reason: "not a member", notify: true},

		// Data-loss bound.
		{name: "stale secondary without override", edit: func(in *promoter.Input) {
			in.Obs.LastWrite.Written = in.Prev.HeartbeatWritten.Add(2 * time.Minute)
		}, action: promoter.ActNone, refused: []string{promoter.GuardDataLoss}, reason: "stale secondary", notify: true},
		{name: "stale secondary, accepted loss too small", edit: func(in *promoter.Input) {
			in.Obs.LastWrite.Written = in.Prev.HeartbeatWritten.Add(2 * time.Minute)
			in.AcceptedLoss = 30 * time.Second
		}, action: promoter.ActNone, refused: []string{promoter.GuardDataLoss}, reason: "accepted by an operator", notify: true},
		{name: "replica 20 s behind, MAX_DATA_LOSS=5s: refused (the heartbeat interval is not added)", edit: func(in *promoter.Input) {
			in.Obs.LastWrite.Written = in.Prev.HeartbeatWritten.Add(20 * time.Second)
			in.Bounds.MaxDataLoss = 5 * time.Second
		}, action: promoter.ActNone, refused: []string{promoter.GuardDataLoss}, reason: "up to 20s of writes not here, over the 5s bound", notify: true},
		{name: "replica 4.9 s behind, MAX_DATA_LOSS=5s: holds", edit: func(in *promoter.Input) {
			in.Obs.LastWrite.Written = in.Prev.HeartbeatWritten.Add(4900 * time.Millisecond)
		}, action: promoter.ActPromote, reason: "ALARM", notify: true},
		{name: "clock skew: the primary region's clock 10 min behind ours changes nothing (both times are its own)", edit: func(in *promoter.Input) {
			skew := -10 * time.Minute
			in.Prev.HeartbeatWritten = in.Prev.HeartbeatWritten.Add(skew)
			in.Obs.Heartbeat.Value.Written = in.Prev.HeartbeatWritten
			in.Obs.LastWrite.Written = in.Prev.HeartbeatWritten.Add(2 * time.Second)
		}, action: promoter.ActPromote, reason: "ALARM", notify: true},
		{name: "clock skew: the primary region's clock 20 s ahead, 20 s of real lag still refused", edit: func(in *promoter.Input) {
			skew := 20 * time.Second
			in.Prev.HeartbeatWritten = in.Prev.HeartbeatWritten.Add(skew)
			in.Obs.Heartbeat.Value.Written = in.Prev.HeartbeatWritten
			in.Obs.LastWrite.Written = in.Prev.HeartbeatWritten.Add(20 * time.Second)
		}, action: promoter.ActNone, refused: []string{promoter.GuardDataLoss}, reason: "up to 20s of writes not here", notify: true},
		{name: "link broke 2 min before the region fell silent: the last write seen earlier is a floor on the loss", edit: func(in *promoter.Input) {
			in.Obs.Alarm = promoter.Alarm{Unreachable: true, Err: "dial tcp: i/o timeout"}
			in.Obs.LastWrite = promoter.LastWrite{Err: "read HeartbeatWritten in us-east-1: dial tcp: i/o timeout"}
			in.Prev.PeerWroteAt = in.Prev.HeartbeatWritten.Add(2 * time.Minute)
			in.PrimaryDownConfirmed = true
		}, action: promoter.ActNone, refused: []string{promoter.GuardDataLoss}, reason: "and at least 2m0s", notify: true},
		{name: "last writable moment unknown: bounded by now, refused", edit: func(in *promoter.Input) {
			in.Obs.LastWrite = promoter.LastWrite{Err: "the primary region's CloudWatch is unreachable"}
		}, action: promoter.ActNone, refused: []string{promoter.GuardDataLoss}, reason: "bounded by now", notify: true},
		{name: "last writable moment unknown, the operator accepts that much", edit: func(in *promoter.Input) {
			in.Obs.LastWrite = promoter.LastWrite{Err: "the primary region's CloudWatch is unreachable"}
			in.AcceptedLoss = 5 * time.Minute
		}, action: promoter.ActPromote, reason: "ALARM", notify: true},
		{name: "freshness unknown", edit: func(in *promoter.Input) {
			in.Prev.HeartbeatWritten, in.Obs.Heartbeat = time.Time{}, promoter.Heartbeat{}
		},
			action: promoter.ActNone, refused: []string{promoter.GuardDataLoss}, reason: "freshness is unknown", notify: true},

		// Latch.
		{name: "a promotion 20 minutes ago", edit: func(in *promoter.Input) { in.Prev.PromotedAt = t0.Add(-20 * time.Minute) },
			action: promoter.ActNone, refused: []string{promoter.GuardLatch}, reason: "latched", notify: true},
		{name: "roles swapped since the last run (a manual promotion elsewhere)", edit: func(in *promoter.Input) {
			in.Prev.PrimaryRegion = "eu-west-1"
		}, action: promoter.ActNone, refused: []string{promoter.GuardLatch}, reason: "latched", notify: true},

		{name: "an attempt recorded 10 s ago may still be in flight", edit: func(in *promoter.Input) {
			in.Prev.AttemptAt = t0.Add(-10 * time.Second)
		}, action: promoter.ActNone, refused: []string{promoter.GuardLatch}, reason: "may still be in flight", notify: true},
		{name: "an attempt that never got an answer (run died, store reply lost) is retried", edit: func(in *promoter.Input) {
			in.Prev.AttemptAt = t0.Add(-time.Minute)
		}, action: promoter.ActPromote, reason: "ALARM", notify: true},
		{name: "an attempt accepted 20 minutes ago latches", edit: func(in *promoter.Input) {
			in.Prev.PromotedAt = t0.Add(-20 * time.Minute)
			in.Prev.AttemptAt = t0.Add(-21 * time.Minute)
		}, action: promoter.ActNone, refused: []string{promoter.GuardLatch}, reason: "latched", notify: true},
		{name: "an operator overrides the latch", edit: func(in *promoter.Input) {
			in.Prev.PromotedAt = t0.Add(-20 * time.Minute)
			in.IgnoreLatch = true
		}, action: promoter.ActPromote, reason: "ALARM", notify: true},
		{name: "an operator overrides the datastore guard (modifying)", edit: func(in *promoter.Input) {
			in.Obs.Datastore.Status = "modifying"
			in.IgnoreDatastoreGuard = true
		}, action: promoter.ActPromote, reason: "ALARM", notify: true},
		{name: "the datastore override cannot stand in for an undescribed datastore", edit: func(in *promoter.Input) {
			in.Obs.Datastore = promoter.Datastore{Err: "throttled"}
			in.IgnoreDatastoreGuard = true
		}, action: promoter.ActNone, refused: []string{promoter.GuardDatastore, promoter.GuardMember}, reason: "cannot describe", notify: true},

		// Mode.
		{name: "mode off", edit: func(in *promoter.Input) { in.Mode = promoter.ModeOff },
			action: promoter.ActNone, refused: []string{promoter.GuardMode}, reason: "off"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := outage()
			tc.edit(&in)
			d := promoter.Decide(in)
			if d.Action != tc.action {
				t.Errorf("action %s, want %s; guards: %+v", d.Action, tc.action, d.Guards)
			}
			if got := d.Refused(); !slices.Equal(got, tc.refused) {
				t.Errorf("refused %v, want %v; guards: %+v", got, tc.refused, d.Guards)
			}
			g := promoter.GuardEvidence
			if len(tc.refused) > 0 {
				g = tc.refused[0]
			}
			if v := d.Verdict(g); !strings.Contains(v.Reason, tc.reason) {
				t.Errorf("%s reason %q, want it to contain %q", g, v.Reason, tc.reason)
			}
			if d.Notify != tc.notify {
				t.Errorf("notify %v, want %v", d.Notify, tc.notify)
			}
			if d.Epoch != in.Prev.Epoch+1 || d.Next.Epoch != d.Epoch {
				t.Errorf("epoch %d (next %d), want %d", d.Epoch, d.Next.Epoch, in.Prev.Epoch+1)
			}
			if len(d.Guards) != 6 {
				t.Errorf("%d verdicts, want one per guard", len(d.Guards))
			}
			for _, v := range d.Guards {
				if v.Reason == "" {
					t.Errorf("guard %s has no reason", v.Guard)
				}
			}
		})
	}
}

// world is a sequence of runs 30 s apart; it carries the state between
// them as the runner does through the latch store.
type world struct {
	t    *testing.T
	in   promoter.Input
	seq  uint64
	last promoter.Decision
}

func newWorld(t *testing.T) *world {
	in := outage()
	in.Prev = promoter.State{}
	in.Obs.Now = t0
	w := &world{t: t, in: in, seq: 100}
	return w
}

// unreachable as run's alarm: the primary region's CloudWatch does not answer.
const unreachable = "unreachable"

// run makes one run 30 s after the previous one; healthy primaries write a
// heartbeat that arrives lagging by lag; alarm is the alarm's state or
// unreachable.
func (w *world) run(primaryWrites bool, lag time.Duration, alarm string) promoter.Decision {
	w.in.Obs.Now = w.in.Obs.Now.Add(30 * time.Second)
	if primaryWrites {
		w.seq++
		w.in.Obs.Heartbeat = promoter.Heartbeat{Present: true, Value: check.Heartbeat{Written: w.in.Obs.Now.Add(-lag), Region: w.in.Obs.Datastore.PrimaryRegion, Seq: w.seq}}
		// Its checker wrote (and published) at now; the replica holds the
		// heartbeat of lag ago.
		w.in.Obs.LastWrite = promoter.LastWrite{Written: w.in.Obs.Now}
	}
	w.in.Obs.Alarm = promoter.Alarm{Found: true, State: alarm}
	if alarm == unreachable {
		w.in.Obs.Alarm = promoter.Alarm{Unreachable: true, Err: "dial tcp 52.94.0.1:443: i/o timeout"}
	}
	w.last = promoter.Decide(w.in)
	w.in.Prev = w.last.Next
	return w.last
}

// neverActs makes n runs (heartbeats 2 s behind when primaryWrites), each of
// which must neither act nor see the primary down, and counts the pages.
func (w *world) neverActs(n int, primaryWrites bool, alarm string) (pages int) {
	w.t.Helper()
	for range n {
		d := w.run(primaryWrites, 2*time.Second, alarm)
		if d.Action != promoter.ActNone || d.PrimaryDown {
			w.t.Fatalf("run with heartbeats %v, alarm %s: %s: %+v", primaryWrites, alarm, d.Action, d.Guards)
		}
		if d.Notify {
			pages++
		}
	}
	return pages
}

// swap makes the local region primary (after a promotion) or secondary.
func (w *world) swap(localPrimary bool) {
	ds := &w.in.Obs.Datastore
	if localPrimary {
		ds.LocalRole, ds.PrimaryRegion = "PRIMARY", local
	} else {
		ds.LocalRole, ds.PrimaryRegion = "SECONDARY", remote
	}
}

func TestSecondOutageInsideTheCooldownDoesNotPromote(t *testing.T) {
	w := newWorld(t)
	for range 4 { // healthy: heartbeats arrive 2 s behind
		if d := w.run(true, 2*time.Second, "OK"); d.Action != promoter.ActNone || d.Notify {
			t.Fatalf("healthy run: %s notify %v: %+v", d.Action, d.Notify, d.Guards)
		}
	}
	// The primary region dies: no new heartbeat, alarm ALARM.
	var promoted bool
	for i := range 8 {
		d := w.run(false, 0, "ALARM")
		if d.Action == promoter.ActPromote {
			promoted = true
			if stalled := time.Duration(i+1) * 30 * time.Second; stalled < promoter.DefaultStallAfter {
				t.Fatalf("promoted after %s of stall, before the %s bound", stalled, promoter.DefaultStallAfter)
			}
			break
		}
	}
	if !promoted {
		t.Fatalf("no promotion after 4 min of outage: %+v", w.last.Guards)
	}
	// The promotion completes; the local checker now writes heartbeats.
	w.swap(true)
	w.run(true, 0, "ALARM")
	// An operator fails back 20 minutes later (a planned switchover).
	w.in.Obs.Now = w.in.Obs.Now.Add(20 * time.Minute)
	w.swap(false)
	w.run(true, 2*time.Second, "OK")
	// The primary region dies again inside the hour: the latch holds.
	for range 8 {
		d := w.run(false, 0, "ALARM")
		if d.Action == promoter.ActPromote {
			t.Fatalf("promoted again inside the cooldown: %+v", d.Guards)
		}
	}
	if v := w.last.Verdict(promoter.GuardLatch); v.OK || !strings.Contains(v.Reason, "latched") {
		t.Fatalf("latch verdict %+v", v)
	}
	if !w.last.PrimaryDown {
		t.Fatalf("the second outage is not seen as one: %+v", w.last.Guards)
	}
	// After the cooldown, counted from the failback, it may promote again.
	w.in.Obs.Now = w.in.Obs.Now.Add(time.Hour)
	if d := w.run(false, 0, "ALARM"); d.Action != promoter.ActPromote {
		t.Fatalf("after the cooldown: %s: %+v", d.Action, d.Guards)
	}
}

func TestPartitionNeverPromotes(t *testing.T) {
	w := newWorld(t)
	// The observers lose the primary for ten minutes while its heartbeats
	// keep arriving: a network problem between them, not an outage.
	if pages := w.neverActs(20, true, "ALARM"); pages != 1 {
		t.Fatalf("%d pages for one standing partition, want 1", pages)
	}
}

// TestNoRouteToThePeerNeverPromotes is a promoter in a VPC without a path
// to the other region's CloudWatch (no NAT): "unreachable" on every run is
// no evidence. It pages once for the missing route, once more when the
// heartbeat stalls, and never promotes.
func TestNoRouteToThePeerNeverPromotes(t *testing.T) {
	w := newWorld(t)
	pages := w.neverActs(4, true, unreachable)
	if pages != 1 {
		t.Fatalf("%d pages for a standing missing route, want 1", pages)
	}
	pages += w.neverActs(20, false, unreachable) // the heartbeat stops for ten minutes
	if pages != 2 {
		t.Fatalf("%d pages, want 2 (the missing route, then the stall it blocks)", pages)
	}
	if v := w.last.Verdict(promoter.GuardEvidence); !strings.Contains(v.Reason, "has never been reachable from here") {
		t.Fatalf("evidence verdict %+v", v)
	}
}

// TestRegionGoesSilentAfterBeingReached: the promoter reads the peer's
// alarm while the primary is healthy, then the whole region goes silent
// (heartbeat and CloudWatch). From here that is a lost region or a
// partition: auto mode pages once and waits for a view from outside; with a
// third observer that sees the primary down it promotes.
func TestRegionGoesSilentAfterBeingReached(t *testing.T) {
	w := newWorld(t)
	for range 4 {
		w.run(true, 2*time.Second, "OK")
	}
	read := w.last.Next.PeerAlarmReadAt
	if !read.Equal(w.in.Obs.Now) {
		t.Fatalf("peer alarm read at %s, want the last run's %s", read, w.in.Obs.Now)
	}
	pages := 0
	for range 10 {
		d := w.run(false, 0, unreachable)
		if !d.Next.PeerAlarmReadAt.Equal(read) {
			t.Fatalf("an unreachable read moved the last successful read to %s", d.Next.PeerAlarmReadAt)
		}
		if d.Action == promoter.ActPromote {
			t.Fatalf("promoted on this region's own view: %+v", d.Guards)
		}
		// The first run may see the heartbeat still fresh: "partition".
		if d.Notify && d.Note != promoter.NotePartition {
			pages++
			if d.Note != promoter.NoteRegionSilent {
				t.Fatalf("paged with note %q: %+v", d.Note, d.Guards)
			}
		}
	}
	if pages != 1 {
		t.Fatalf("%d pages about a silent region, want 1", pages)
	}
	w.in.Obs.Observer = &promoter.Observer{Verdict: promoter.ObserverDown, Detail: "probe from eu-west-1"}
	if d := w.run(false, 0, unreachable); d.Action != promoter.ActPromote {
		t.Fatalf("no promotion with a third observer that sees the primary down: %+v", d.Guards)
	}
}

func TestStaleSecondaryMeasuredFromTheLastHealthyHeartbeat(t *testing.T) {
	w := newWorld(t)
	for range 4 { // replication 2 minutes behind while the primary is healthy
		w.run(true, 2*time.Minute, "OK")
	}
	for range 7 {
		w.run(false, 0, "ALARM")
	}
	d := w.last
	if d.Action != promoter.ActNone || !d.PrimaryDown {
		t.Fatalf("stale secondary: %s: %+v", d.Action, d.Guards)
	}
	if v := d.Verdict(promoter.GuardDataLoss); v.OK || !strings.Contains(v.Reason, "up to 2m0s of writes not here") {
		t.Fatalf("data-loss verdict %+v", v)
	}
	// An operator accepts 3 minutes of loss.
	w.in.AcceptedLoss = 3 * time.Minute
	if d := w.run(false, 0, "ALARM"); d.Action != promoter.ActPromote {
		t.Fatalf("with accepted loss: %s: %+v", d.Action, d.Guards)
	}
}

func TestDecidingToPromoteRecordsAnAttemptNotTheLatch(t *testing.T) {
	d := promoter.Decide(outage())
	if d.Action != promoter.ActPromote || !d.Next.PromotedAt.IsZero() || !d.Next.AttemptAt.Equal(t0) || d.Retry {
		t.Fatalf("promote decision: action %s, promoted %s, attempt %s, retry %v", d.Action, d.Next.PromotedAt, d.Next.AttemptAt, d.Retry)
	}
	in := outage()
	in.Prev.AttemptAt = t0.Add(-time.Minute)
	if d := promoter.Decide(in); !d.Retry || !strings.Contains(d.Verdict(promoter.GuardLatch).Reason, "aborted") {
		t.Fatalf("retry of an aborted attempt: %+v", d)
	}
	in = outage()
	in.Prev.PromotedAt = t0.Add(-time.Minute)
	in.IgnoreLatch = true
	d = promoter.Decide(in)
	if v := d.Verdict(promoter.GuardLatch); !v.OK || !strings.Contains(v.Reason, "OVERRIDDEN by an operator (--ignore-latch): latched") ||
		!slices.Equal(d.Overrides, []string{"ignore-latch"}) {
		t.Fatalf("override: %+v %v", v, d.Overrides)
	}
}

func TestHeartbeatHistory(t *testing.T) {
	w := newWorld(t)
	d := w.run(true, 4*time.Second, "OK")
	if got := d.Next.HealthyAge; got != 4*time.Second {
		t.Fatalf("healthy age %s, want 4s", got)
	}
	advanced := d.Next.HeartbeatAdvanced
	// The same heartbeat read again: not an advance.
	d = w.run(false, 0, "OK")
	if !d.Next.HeartbeatAdvanced.Equal(advanced) || d.Next.HealthyAge != 4*time.Second {
		t.Fatalf("a re-read heartbeat moved the history: %+v", d.Next)
	}
	// A writer clock ahead of ours never gives a negative age.
	d = w.run(true, -1500*time.Millisecond, "OK") // ahead, within MaxHeartbeatSkew
	if d.Next.HealthyAge != 0 {
		t.Fatalf("healthy age %s with a clock ahead, want 0", d.Next.HealthyAge)
	}
}

func TestParseMode(t *testing.T) {
	for in, want := range map[string]promoter.Mode{"": promoter.ModeAdvise, "AUTO": promoter.ModeAuto, " off ": promoter.ModeOff} {
		if got, err := promoter.ParseMode(in); err != nil || got != want {
			t.Errorf("ParseMode(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := promoter.ParseMode("yes"); err == nil || !strings.Contains(err.Error(), "off, advise or auto") {
		t.Errorf("ParseMode(yes) error %v", err)
	}
}

// The replication link breaks first: the primary keeps writing (its
// CloudWatch says so, its alarm OK) while no heartbeat reaches the replica;
// then the region falls silent. Its last writable moment can no longer be
// read, but the one read before still says it wrote two minutes past what
// the replica holds: the guard refuses, the page names the floor, and an
// operator's accepted amount below it is no acceptance.
func TestLinkBrokenThenRegionSilentRemembersTheLastWrite(t *testing.T) {
	w := newWorld(t)
	for range 4 {
		w.run(true, 2*time.Second, "OK")
	}
	newest := w.in.Obs.Heartbeat.Value.Written
	for range 4 { // the link is down: the heartbeat stops, the primary writes on
		w.in.Obs.Now = w.in.Obs.Now.Add(30 * time.Second)
		w.in.Obs.LastWrite = promoter.LastWrite{Written: w.in.Obs.Now}
		w.in.Obs.Alarm = promoter.Alarm{Found: true, State: "OK"}
		w.last = promoter.Decide(w.in)
		w.in.Prev = w.last.Next
		if w.last.Action != promoter.ActNone {
			t.Fatalf("link down, primary healthy: %s", w.last.Action)
		}
	}
	wrote := w.in.Obs.LastWrite.Written
	if !w.in.Prev.PeerWroteAt.Equal(wrote) {
		t.Fatalf("PeerWroteAt %s, want the last read %s", w.in.Prev.PeerWroteAt, wrote)
	}
	w.in.Obs.LastWrite = promoter.LastWrite{Err: "read HeartbeatWritten in us-east-1: dial tcp: i/o timeout"}
	w.in.PrimaryDownConfirmed = true // the operator's word: the evidence guard holds
	var d promoter.Decision
	for range 6 {
		d = w.run(false, 0, unreachable)
	}
	floor := wrote.Sub(newest)
	v := d.Verdict(promoter.GuardDataLoss)
	if d.Action == promoter.ActPromote || v.OK || d.LossAtLeast != floor || !strings.Contains(v.Reason, "and at least "+floor.String()) {
		t.Fatalf("action %s, loss at least %s (want %s), data-loss verdict %+v", d.Action, d.LossAtLeast, floor, v)
	}
	// An amount between the floor and the bound by now is still refused,
	// since the bound by now (the upper end) is over it.
	w.in.AcceptedLoss = floor + time.Second
	if d := w.run(false, 0, unreachable); d.Action == promoter.ActPromote {
		t.Fatalf("promoted with %s accepted, under the upper bound", w.in.AcceptedLoss)
	}
	// A fresh read of the primary's last write replaces the memory.
	w.in.Obs.LastWrite = promoter.LastWrite{Written: wrote}
	if d := w.run(false, 0, "ALARM"); d.LossAtLeast != 0 {
		t.Fatalf("with the last write read now, LossAtLeast %s", d.LossAtLeast)
	}
}

// witnessWorld is a world whose promoter reads a witness and accepts, in
// advance, 45 s of possible loss for a silent region.
func witnessWorld(t *testing.T) *world {
	w := newWorld(t)
	w.in.Bounds.SilentMaxDataLoss = 45 * time.Second
	return w
}

// witnessed makes one run with the witness saying verdict.
func (w *world) witnessed(primaryWrites bool, lag time.Duration, alarm, verdict string) promoter.Decision {
	w.in.Obs.Observer = &promoter.Observer{Verdict: verdict, Detail: "redisha-us-east-1.witness.internal"}
	if !primaryWrites {
		// A silent region: its CloudWatch cannot say when it last wrote.
		w.in.Obs.LastWrite = promoter.LastWrite{Err: "read HeartbeatWritten in us-east-1: dial tcp: i/o timeout"}
	}
	return w.run(primaryWrites, lag, alarm)
}

// TestSilentRegionDatedByTheWitness: the whole primary region goes silent
// (heartbeat, CloudWatch) and the witness turns "down" at the next run.
// Its last write is no later than that run, so the possible loss is about
// one run and one heartbeat interval: within the advance acceptance, the
// promoter promotes once the stall bound has passed, with no operator.
func TestSilentRegionDatedByTheWitness(t *testing.T) {
	w := witnessWorld(t)
	for range 4 {
		w.witnessed(true, 2*time.Second, "OK", promoter.ObserverUp)
	}
	lastHeartbeat := w.in.Obs.Heartbeat.Value.Written
	var promoted promoter.Decision
	for range 10 {
		d := w.witnessed(false, 0, unreachable, promoter.ObserverDown)
		if d.Action == promoter.ActPromote {
			promoted = d
			break
		}
		if d.PrimaryDown {
			t.Fatalf("primary down before the stall bound: %+v", d.Guards)
		}
	}
	if promoted.Action != promoter.ActPromote {
		t.Fatalf("a silent region the witness sees down was not promoted: %+v", w.last.Guards)
	}
	down := promoted.Next.WitnessDownAt
	if want := lastHeartbeat.Add(32 * time.Second); !down.Equal(want) {
		t.Fatalf("witness down at %s, want the first silent run %s", down, want)
	}
	if v := promoted.Verdict(promoter.GuardDataLoss); !strings.Contains(v.Reason, "up to 32s of writes not here") ||
		!strings.Contains(v.Reason, "SILENT_MAX_DATA_LOSS") {
		t.Fatalf("data-loss verdict %+v", v)
	}
}

// TestSilentRegionWithoutAdvanceAcceptanceWaitsForAPerson: the same
// outage with SILENT_MAX_DATA_LOSS 0 (the deployment accepts nothing in
// advance): the evidence holds, the loss is bounded by now, refused.
func TestSilentRegionWithoutAdvanceAcceptanceWaitsForAPerson(t *testing.T) {
	w := newWorld(t)
	for range 4 {
		w.witnessed(true, 2*time.Second, "OK", promoter.ObserverUp)
	}
	for range 10 {
		w.witnessed(false, 0, unreachable, promoter.ObserverDown)
	}
	d := w.last
	if d.Action != promoter.ActNone || !d.PrimaryDown {
		t.Fatalf("%s, primary down %v: %+v", d.Action, d.PrimaryDown, d.Guards)
	}
	if v := d.Verdict(promoter.GuardDataLoss); v.OK || !strings.Contains(v.Reason, "bounded by now") {
		t.Fatalf("data-loss verdict %+v", v)
	}
}

// TestWitnessRefusesWhatItCannotDate covers the silent-region cases the
// witness must not pass: a link that broke while the primary kept taking
// writes (the witness says "up" long after the heartbeat stopped), a
// replica that was already stale, and a witness never seen "up" (nothing
// dates the end).
func TestWitnessRefusesWhatItCannotDate(t *testing.T) {
	t.Run("link broke first, the region went silent two minutes later", func(t *testing.T) {
		w := witnessWorld(t)
		for range 4 {
			w.witnessed(true, 2*time.Second, "OK", promoter.ObserverUp)
		}
		for range 4 { // no heartbeat arrives; the primary still takes writes
			w.in.Obs.Observer = &promoter.Observer{Verdict: promoter.ObserverUp}
			w.run(false, 0, unreachable)
		}
		for range 10 {
			if d := w.witnessed(false, 0, unreachable, promoter.ObserverDown); d.Action == promoter.ActPromote {
				t.Fatalf("promoted a primary that outlived its link: %+v", d.Guards)
			}
		}
		if v := w.last.Verdict(promoter.GuardDataLoss); v.OK || !strings.Contains(v.Reason, "over the 45s bound") {
			t.Fatalf("data-loss verdict %+v", v)
		}
	})
	t.Run("stale secondary", func(t *testing.T) {
		w := witnessWorld(t)
		for range 4 {
			w.witnessed(true, time.Minute, "OK", promoter.ObserverUp)
		}
		for range 10 {
			w.witnessed(false, 0, unreachable, promoter.ObserverDown)
		}
		if v := w.last.Verdict(promoter.GuardDataLoss); v.OK || !strings.Contains(v.Reason, "stale secondary") {
			t.Fatalf("data-loss verdict %+v", v)
		}
		w.in.AcceptedLoss = 2 * time.Minute
		if d := w.witnessed(false, 0, unreachable, promoter.ObserverDown); d.Action != promoter.ActPromote {
			t.Fatalf("an operator accepted two minutes: %+v", d.Guards)
		}
	})
	t.Run("witness never seen up", func(t *testing.T) {
		w := witnessWorld(t)
		for range 4 {
			w.witnessed(true, 2*time.Second, "OK", promoter.ObserverUnknown)
		}
		for range 10 {
			w.witnessed(false, 0, unreachable, promoter.ObserverDown)
		}
		if d := w.last; d.Action == promoter.ActPromote || !strings.Contains(d.Verdict(promoter.GuardDataLoss).Reason, "bounded by now") {
			t.Fatalf("%s: %+v", d.Action, d.Guards)
		}
	})
	t.Run("a clock that read a heartbeat from its future", func(t *testing.T) {
		w := witnessWorld(t)
		for range 4 {
			w.witnessed(true, 2*time.Second, "OK", promoter.ObserverUp)
		}
		// A heartbeat dated 30 s ahead: this promoter's clock is behind.
		w.in.Obs.Observer = &promoter.Observer{Verdict: promoter.ObserverUp}
		w.in.Obs.Now = w.in.Obs.Now.Add(30 * time.Second)
		w.seq++
		w.in.Obs.Heartbeat = promoter.Heartbeat{Present: true, Value: check.Heartbeat{Written: w.in.Obs.Now.Add(30 * time.Second), Region: remote, Seq: w.seq}}
		w.last = promoter.Decide(w.in)
		w.in.Prev = w.last.Next
		if w.last.Next.ClockSuspectAt.IsZero() {
			t.Fatal("a heartbeat from the future did not mark the clock")
		}
		for range 10 {
			w.witnessed(false, 0, unreachable, promoter.ObserverDown)
		}
		if v := w.last.Verdict(promoter.GuardDataLoss); v.OK || !strings.Contains(v.Reason, "dated in its future") {
			t.Fatalf("data-loss verdict %+v", v)
		}
	})
	t.Run("witness up vetoes", func(t *testing.T) {
		w := witnessWorld(t)
		for range 4 {
			w.witnessed(true, 2*time.Second, "OK", promoter.ObserverUp)
		}
		for range 10 {
			if d := w.witnessed(false, 0, unreachable, promoter.ObserverUp); d.PrimaryDown || d.Action != promoter.ActNone {
				t.Fatalf("%s: %+v", d.Action, d.Guards)
			}
		}
	})
}

// The freshness of a silent region's replica is the freshest heartbeat of
// the last two minutes, not the last one: a heartbeat seen a run late (the
// runs' phase, a slow run) does not make a current replica stale.
func TestWitnessFreshnessIsTheFreshestRecentHeartbeat(t *testing.T) {
	w := witnessWorld(t)
	for _, lag := range []time.Duration{2 * time.Second, 2 * time.Second, 3 * time.Second, 40 * time.Second} {
		w.witnessed(true, lag, "OK", promoter.ObserverUp)
	}
	if got := w.last.Next.FreshestAge; got != 2*time.Second {
		t.Fatalf("freshest age %s, want 2s", got)
	}
	for range 10 {
		w.witnessed(false, 0, unreachable, promoter.ObserverDown)
	}
	// The newest heartbeat is 40 s behind its write: the possible loss
	// dated by the witness is over the bound, but not for staleness.
	if v := w.last.Verdict(promoter.GuardDataLoss); strings.Contains(v.Reason, "stale secondary") {
		t.Fatalf("a current replica with one late heartbeat read as stale: %+v", v)
	}
}
