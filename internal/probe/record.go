package probe

import (
	"crypto/rand"
	"encoding/hex"
	"maps"
	"sort"
	"sync"
	"time"

	"github.com/redisha/redisha/internal/check"
)

// Window is one outage of one series: from the start of its first failed
// check to the answer of the first successful check after it.
type Window struct {
	Kind Kind `json:"kind"`
	// Shard names the shard of a cluster-mode endpoint the window is of
	// (its slots when the run began); empty on one node.
	Shard      string         `json:"shard,omitempty"`
	Start      Time           `json:"start"`
	End        Time           `json:"end"`
	DurationMS int64          `json:"duration_ms"`
	ChecksLost int            `json:"checks_lost"`
	Reasons    []check.Reason `json:"reasons"`
	// Changes are the role, run id and IP changes seen from the start of
	// the window to its end.
	Changes []Change `json:"changes,omitempty"`
	// Open is true when the run ended inside the window (End is the end of
	// the run).
	Open bool `json:"open,omitempty"`

	start, end time.Time
	reasons    map[check.Reason]bool
}

// SeriesSummary totals one series.
type SeriesSummary struct {
	Checks          int     `json:"checks"`
	Failed          int     `json:"failed"`
	Availability    float64 `json:"availability"`
	Windows         int     `json:"windows"`
	LongestMS       int64   `json:"longest_ms"`
	TotalDowntimeMS int64   `json:"total_downtime_ms"`
}

// ShardSummary totals one shard of a cluster-mode endpoint.
type ShardSummary struct {
	// Shard is the shard's name: its slots when the run began.
	Shard string `json:"shard"`
	// Tag is the hash tag of the shard's read probe key: the keys of the
	// shard's first slot, wherever a resharding moves it.
	Tag   string        `json:"tag"`
	Write SeriesSummary `json:"write"`
	Read  SeriesSummary `json:"read"`
}

// Summary is summary.json and the --json output.
type Summary struct {
	Start           Time    `json:"start"`
	End             Time    `json:"end"`
	ElapsedMS       int64   `json:"elapsed_ms"`
	Checks          int     `json:"checks"`
	ChecksPerSecond float64 `json:"checks_per_second"`
	// Availability is the share of the run during which both writes and
	// reads were available (1 − union of all windows / elapsed).
	Availability    float64 `json:"availability"`
	LongestMS       int64   `json:"longest_ms"`
	TotalDowntimeMS int64   `json:"total_downtime_ms"`
	// Series totals each kind of check over every shard: a check of a
	// cluster is one round over all its shards, failed when one of them
	// failed; its downtime is the time some shard was down.
	Series map[Kind]SeriesSummary `json:"series"`
	// Shards totals each shard of a cluster-mode endpoint, in slot order;
	// nil on one node.
	Shards  []ShardSummary `json:"shards,omitempty"`
	Windows []Window       `json:"windows"`
	// DataLoss lists each time the read probe key was found missing while
	// it should have been there: a finding of its own, whatever the
	// windows say (a FLUSHALL loses data without an outage).
	DataLoss []DataLoss `json:"data_loss"`
	Changes  []Change   `json:"changes,omitempty"`
}

// Findings says whether the run found anything wrong: an outage window or
// lost data.
func (s *Summary) Findings() bool { return len(s.Windows) > 0 || len(s.DataLoss) > 0 }

// seriesKey names a series: its kind, and on a cluster its shard.
type seriesKey struct {
	kind  Kind
	shard string
}

// rounds counts one kind's checks: on a cluster, one per round over every
// shard, failed when a shard failed.
type rounds struct{ checks, failed int }

type seriesState struct {
	checks, failed int
	lastSample     time.Time
	// lastOK is when the last successful check got its answer.
	lastOK time.Time
	// upAt is when the last window closed (the series answered again).
	upAt        time.Time
	open        *Window
	role, runID string
	ip          string
	// Failures of the open window not yet written: counted, and written
	// as one still_down event per SampleEvery.
	pendingSince time.Time
	pending      map[check.Reason]int
	pendingN     int
}

// recorder turns checks into events, windows and the summary.
type recorder struct {
	cfg Config

	mu       sync.Mutex
	start    time.Time
	seq      int64
	series   map[seriesKey]*seriesState
	rounds   map[Kind]*rounds
	shards   []ShardSummary // the cluster's shards (names, tags), in slot order
	windows  []Window
	changes  []Change
	dataLoss []DataLoss
}

func newRecorder(cfg Config) *recorder {
	return &recorder{cfg: cfg, series: map[seriesKey]*seriesState{{kind: Write}: {}, {kind: Read}: {}},
		rounds: map[Kind]*rounds{Write: {}, Read: {}}}
}

// setShards makes the recorder one of a cluster: a write and a read series
// per shard, named by name, instead of the one node's.
func (r *recorder) setShards(shards []ShardSummary) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.shards = shards
	r.series = map[seriesKey]*seriesState{}
	for _, s := range shards {
		for _, k := range []Kind{Write, Read} {
			r.series[seriesKey{k, s.Shard}] = &seriesState{}
		}
	}
}

// round counts one check of a cluster: a round over every shard.
func (r *recorder) round(kind Kind, failed bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rounds[kind].checks++
	if failed {
		r.rounds[kind].failed++
	}
}

func (r *recorder) begin() {
	r.mu.Lock()
	r.start = time.Now()
	r.mu.Unlock()
}

// emit hands e to the sink; callers hold r.mu, so the sink sees one event
// at a time, in order.
func (r *recorder) emit(e Event) {
	if r.cfg.Sink != nil {
		r.cfg.Sink(e)
	}
}

func ms(d time.Duration) *float64 {
	v := check.Milliseconds(d)
	return &v
}

// record takes one check of a one-node series.
func (r *recorder) record(kind Kind, start time.Time, lat time.Duration, ok bool, reason check.Reason, errText, ip string) {
	r.mu.Lock()
	r.rounds[kind].checks++
	if !ok {
		r.rounds[kind].failed++
	}
	r.mu.Unlock()
	r.recordShard(kind, "", start, lat, ok, reason, errText, ip)
}

// recordShard takes one check of one series: on a cluster, of one shard
// (the caller counts the round).
func (r *recorder) recordShard(kind Kind, shard string, start time.Time, lat time.Duration, ok bool, reason check.Reason, errText, ip string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seq++
	s := r.series[seriesKey{kind, shard}]
	s.checks++
	e := Event{Time: Time(start), Series: kind, Shard: shard, Seq: r.seq, LatencyMS: ms(lat), IP: ip}
	if ok {
		s.lastOK = start.Add(lat)
	}
	switch {
	case ok && s.open != nil:
		// The window ends when the first successful check got its answer:
		// a check that was sent into a stall succeeds the moment the
		// server resumes, long after it started.
		w := s.open
		s.open = nil
		end := start.Add(lat)
		w.end = end
		w.End = Time(end)
		s.upAt = end
		w.DurationMS = end.Sub(w.start).Milliseconds()
		r.windows = append(r.windows, *w)
		e.Type, e.DurationMS, e.ChecksLost = EventUp, &w.DurationMS, w.ChecksLost
		s.lastSample = start
		s.pending, s.pendingN = nil, 0
	case ok:
		if start.Sub(s.lastSample) < r.cfg.SampleEvery {
			return // successes are sampled; state changes never are
		}
		s.lastSample = start
		e.Type = EventOK
	default:
		s.failed++
		e.Reason, e.Error = reason, errText
		if kind == Write && reason == check.ReasonTimeout && r.readsServedDuring(shard, start, start.Add(lat)) {
			e.PausedWrites = true
		}
		if s.open == nil {
			s.open = &Window{Kind: kind, Shard: shard, start: start, Start: Time(start), reasons: map[check.Reason]bool{}}
			s.pendingSince, s.pending, s.pendingN = start, map[check.Reason]int{}, 0
			e.Type = EventDown
		}
		w := s.open
		w.ChecksLost++
		isNew := w.addReason(reason)
		if e.PausedWrites && w.addReason(ReasonPausedWrites) {
			isNew = true
		}
		switch {
		case e.Type == EventDown:
		case isNew:
			e.Type = EventFail // a new reason is a state change: written at once
		default:
			// The same failure again: counted, and written as one line per
			// SampleEvery, so a long outage costs a few bytes a second.
			s.pending[reason]++
			s.pendingN++
			if start.Sub(s.pendingSince) < r.cfg.SampleEvery {
				return
			}
			since := w.Start
			e = Event{Time: Time(start), Series: kind, Shard: shard, Seq: r.seq, Type: EventStillDown, Since: &since, ChecksLost: w.ChecksLost,
				Failed: s.pendingN, Counts: s.pending, Reason: reason, Error: errText, IP: ip}
			s.pending, s.pendingN = map[check.Reason]int{}, 0
		}
		s.pendingSince = start
	}
	r.emit(e)
}

// ReasonPausedWrites is added to a write window when a write check timed
// out while read checks were being answered: the server was up and
// serving, but held writes back (CLIENT PAUSE … WRITE, the write pause of a
// managed failover, a replica-of switch in progress).
const ReasonPausedWrites check.Reason = "paused_writes"

// readsServedDuring says whether a read check got its answer well inside
// [from, to], the span of a write check that got none, with reads up all
// the while. The first half of the timeout is left out: a read answered
// just after the write was sent may have beaten a stall that began in
// between. A read outage that ended inside the span is the tail of a full
// stall (the write was sent into it), not a write pause.
func (r *recorder) readsServedDuring(shard string, from, to time.Time) bool {
	s := r.series[seriesKey{Read, shard}]
	return s.open == nil && s.lastOK.After(from.Add(r.cfg.Timeout/2)) && !s.lastOK.After(to) && !s.upAt.After(from)
}

// addReason adds reason to the window and says whether it was new.
func (w *Window) addReason(reason check.Reason) bool {
	if w.reasons[reason] {
		return false
	}
	w.reasons[reason] = true
	w.Reasons = append(w.Reasons, reason)
	return true
}

// server records the role, run id and IP a series saw on a new connection.
func (r *recorder) server(kind Kind, role, runID, ip string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.series[seriesKey{kind, ""}]
	now := time.Now()
	var changes []Change
	for _, c := range []struct {
		f        ChangeField
		from, to string
	}{{ChangeRole, s.role, role}, {ChangeRunID, s.runID, runID}, {ChangeIP, s.ip, ip}} {
		if c.from != "" && c.from != c.to {
			changes = append(changes, Change{Time: Time(now), Series: kind, Field: c.f, From: c.from, To: c.to})
		}
	}
	first := s.role == ""
	s.role, s.runID, s.ip = role, runID, ip
	if !first && len(changes) == 0 {
		return
	}
	r.attach(kind, "", now, changes)
	r.emit(Event{Time: Time(now), Series: kind, Type: EventServer, Role: role, RunID: runID, IP: ip, Changes: changes})
}

// attach lists changes seen by a series of shard at now under the windows
// they fall in: the shard's open windows, and the series' own window just
// closed (a change seen just after it is seen on the connection that ended
// it).
func (r *recorder) attach(kind Kind, shard string, now time.Time, changes []Change) {
	r.changes = append(r.changes, changes...)
	for _, k := range []Kind{Write, Read} {
		if o := r.series[seriesKey{k, shard}].open; o != nil {
			o.Changes = append(o.Changes, changes...)
		}
	}
	for i := len(r.windows) - 1; i >= 0 && now.Sub(r.windows[i].end) < 2*r.cfg.Timeout; i-- {
		if r.windows[i].Kind == kind && r.windows[i].Shard == shard {
			r.windows[i].Changes = append(r.windows[i].Changes, changes...)
			break
		}
	}
}

// primaryChanged records that another node now serves a shard of a
// cluster as its primary (a failover, or a resharding that moved the
// shard's first slot).
func (r *recorder) primaryChanged(shard, from, to string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	changes := []Change{{Time: Time(now), Series: Write, Shard: shard, Field: ChangePrimary, From: from, To: to}}
	r.attach(Write, shard, now, changes)
	r.emit(Event{Time: Time(now), Series: Write, Shard: shard, Type: EventServer, Changes: changes})
}

// lost records the read probe key of shard (empty on one node) found
// missing, written at written.
func (r *recorder) lost(shard string, at, written time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.dataLoss = append(r.dataLoss, DataLoss{Time: Time(at), Shard: shard, KeyAgeMS: at.Sub(written).Milliseconds()})
	r.emit(Event{Time: Time(at), Series: Read, Shard: shard, Type: EventDataLoss})
}

// event emits a run-wide or series event that is no check.
func (r *recorder) event(e Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if time.Time(e.Time).IsZero() {
		e.Time = Time(time.Now())
	}
	r.emit(e)
}

// Status is the live state for the status line.
type Status struct {
	Elapsed    time.Duration
	Checks     int
	WriteUp    bool
	ReadUp     bool
	LongestMS  int64
	OpenSince  time.Duration
	WindowsNow int
	DataLoss   int
}

func (r *recorder) status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := Status{Elapsed: time.Since(r.start), WriteUp: true, ReadUp: true, DataLoss: len(r.dataLoss)}
	for _, c := range r.rounds {
		st.Checks += c.checks
	}
	for k, s := range r.series {
		if s.open != nil {
			st.OpenSince = max(st.OpenSince, time.Since(s.open.start))
			if k.kind == Write {
				st.WriteUp = false
			} else {
				st.ReadUp = false
			}
		}
	}
	for _, w := range r.windows {
		st.LongestMS = max(st.LongestMS, w.DurationMS)
	}
	st.WindowsNow = len(r.windows)
	return st
}

// summary closes open windows at the end of the run and totals.
func (r *recorder) summary() *Summary {
	r.mu.Lock()
	defer r.mu.Unlock()
	end := time.Now()
	windows := append([]Window{}, r.windows...)
	for _, k := range r.seriesKeys() {
		if o := r.series[k].open; o != nil {
			w := *o
			w.end, w.End, w.Open = end, Time(end), true
			w.DurationMS = end.Sub(w.start).Milliseconds()
			w.reasons = maps.Clone(o.reasons)
			windows = append(windows, w)
		}
	}
	// By start; the write window first when both series went down at once.
	sort.SliceStable(windows, func(i, j int) bool {
		if !windows[i].start.Equal(windows[j].start) {
			return windows[i].start.Before(windows[j].start)
		}
		return windows[i].Kind == Write && windows[j].Kind == Read
	})
	total := func(kind Kind, shard *string, ss *SeriesSummary) {
		var of []Window
		for _, w := range windows {
			if w.Kind == kind && (shard == nil || w.Shard == *shard) {
				of = append(of, w)
				ss.LongestMS = max(ss.LongestMS, w.DurationMS)
			}
		}
		ss.Windows = len(of)
		ss.TotalDowntimeMS = unionMS(of)
		ss.Availability = availability(ss.TotalDowntimeMS, end.Sub(r.start))
	}
	elapsed := end.Sub(r.start)
	sum := &Summary{Start: Time(r.start), End: Time(end), ElapsedMS: elapsed.Milliseconds(),
		Series: map[Kind]SeriesSummary{}, Windows: windows, Changes: r.changes,
		DataLoss: append([]DataLoss{}, r.dataLoss...)}
	for _, k := range []Kind{Write, Read} {
		ss := SeriesSummary{Checks: r.rounds[k].checks, Failed: r.rounds[k].failed}
		total(k, nil, &ss)
		sum.Series[k] = ss
		sum.Checks += ss.Checks
		sum.LongestMS = max(sum.LongestMS, ss.LongestMS)
	}
	for _, sh := range r.shards {
		for _, k := range []Kind{Write, Read} {
			st := r.series[seriesKey{k, sh.Shard}]
			ss := SeriesSummary{Checks: st.checks, Failed: st.failed}
			total(k, &sh.Shard, &ss)
			if k == Write {
				sh.Write = ss
			} else {
				sh.Read = ss
			}
		}
		sum.Shards = append(sum.Shards, sh)
	}
	sum.TotalDowntimeMS = unionMS(windows)
	sum.Availability = availability(sum.TotalDowntimeMS, elapsed)
	if elapsed > 0 {
		sum.ChecksPerSecond = float64(sum.Checks) / elapsed.Seconds()
	}
	for i := range sum.Windows {
		if sum.Windows[i].Reasons == nil {
			sum.Windows[i].Reasons = []check.Reason{}
		}
	}
	return sum
}

// seriesKeys lists the series in a stable order: per shard (slot order),
// write before read.
func (r *recorder) seriesKeys() []seriesKey {
	if r.shards == nil {
		return []seriesKey{{kind: Write}, {kind: Read}}
	}
	var ks []seriesKey
	for _, s := range r.shards {
		ks = append(ks, seriesKey{Write, s.Shard}, seriesKey{Read, s.Shard})
	}
	return ks
}

func availability(downMS int64, elapsed time.Duration) float64 {
	if elapsed <= 0 {
		return 1
	}
	a := 1 - float64(downMS)/float64(elapsed.Milliseconds())
	return max(0, min(1, a))
}

// unionMS is the time covered by at least one window (write and read
// windows of one outage overlap).
func unionMS(ws []Window) int64 {
	var total int64
	var curStart, curEnd time.Time
	for i, w := range ws { // sorted by start
		if i == 0 || w.start.After(curEnd) {
			total += curEnd.Sub(curStart).Milliseconds()
			curStart, curEnd = w.start, w.end
			continue
		}
		if w.end.After(curEnd) {
			curEnd = w.end
		}
	}
	return total + curEnd.Sub(curStart).Milliseconds()
}

func randomHex() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
