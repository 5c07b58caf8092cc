package probe

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"sort"
	"sync"
	"time"

	"github.com/redisha/redisha/internal/check"
)

// Time is a timestamp that encodes as RFC 3339 with milliseconds, UTC.
type Time time.Time

// MarshalJSON writes e.g. "2026-11-22T08:00:30.123Z".
func (t Time) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Time(t).UTC().Format("2006-01-02T15:04:05.000Z07:00"))
}

// Event is one line of events.jsonl.
type Event struct {
	Time Time `json:"time"`
	// Kind is the series: write or read (empty for run-wide marks).
	Kind Kind `json:"kind,omitempty"`
	// Event: down (first failure), up (first success after failures),
	// fail (a failure inside a window), ok (a sampled success), server
	// (role, run id or IP changed), note, mark.
	Event     string   `json:"event"`
	Seq       int64    `json:"seq,omitempty"`
	LatencyMS *float64 `json:"latency_ms,omitempty"`
	Reason    string   `json:"reason,omitempty"`
	Error     string   `json:"error,omitempty"`
	IP        string   `json:"ip,omitempty"`
	Role      string   `json:"role,omitempty"`
	RunID     string   `json:"run_id,omitempty"`
	Message   string   `json:"message,omitempty"`
	// DurationMS is the window's length, on up events.
	DurationMS *int64 `json:"duration_ms,omitempty"`
}

// Window is one outage of one series: from the start of its first failed
// check to the answer of the first successful check after it.
type Window struct {
	Kind       Kind     `json:"kind"`
	Start      Time     `json:"start"`
	End        Time     `json:"end"`
	DurationMS int64    `json:"duration_ms"`
	ChecksLost int      `json:"checks_lost"`
	Reasons    []string `json:"reasons"`
	// Changes are the role, run id and IP changes seen from the start of
	// the window to its end.
	Changes []string `json:"changes,omitempty"`
	// Open is true when the run ended inside the window (End is the end of
	// the run).
	Open bool `json:"open,omitempty"`

	start, end time.Time
	reasons    map[string]bool
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

// Summary is summary.json and the --json output.
type Summary struct {
	Start           Time    `json:"start"`
	End             Time    `json:"end"`
	ElapsedMS       int64   `json:"elapsed_ms"`
	Checks          int     `json:"checks"`
	ChecksPerSecond float64 `json:"checks_per_second"`
	// Availability is the share of the run during which both writes and
	// reads were available (1 − union of all windows / elapsed).
	Availability    float64                `json:"availability"`
	LongestMS       int64                  `json:"longest_ms"`
	TotalDowntimeMS int64                  `json:"total_downtime_ms"`
	Series          map[Kind]SeriesSummary `json:"series"`
	Windows         []Window               `json:"windows"`
	Changes         []string               `json:"changes,omitempty"`
}

type seriesState struct {
	checks, failed int
	lastSample     time.Time
	// lastOK is when the last successful check got its answer.
	lastOK      time.Time
	open        *Window
	role, runID string
	ip          string
}

// recorder turns checks into events, windows and the summary.
type recorder struct {
	cfg Config

	mu      sync.Mutex
	start   time.Time
	seq     int64
	series  map[Kind]*seriesState
	windows []Window
	changes []string
}

func newRecorder(cfg Config) *recorder {
	return &recorder{cfg: cfg, series: map[Kind]*seriesState{Write: {}, Read: {}}}
}

func (r *recorder) begin() {
	r.mu.Lock()
	r.start = time.Now()
	r.mu.Unlock()
}

func (r *recorder) emit(e Event) {
	if r.cfg.Sink != nil {
		r.cfg.Sink(e)
	}
}

func ms(d time.Duration) *float64 {
	v := float64(d.Microseconds()) / 1000
	return &v
}

// record takes one check.
func (r *recorder) record(kind Kind, start time.Time, lat time.Duration, ok bool, reason check.Reason, errText, ip string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seq++
	s := r.series[kind]
	s.checks++
	e := Event{Time: Time(start), Kind: kind, Seq: r.seq, LatencyMS: ms(lat), IP: ip}
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
		w.DurationMS = end.Sub(w.start).Milliseconds()
		r.windows = append(r.windows, *w)
		e.Event, e.DurationMS = "up", &w.DurationMS
		s.lastSample = start
	case ok:
		if start.Sub(s.lastSample) < r.cfg.SampleEvery {
			return // successes are sampled; failures never are
		}
		s.lastSample = start
		e.Event = "ok"
	default:
		s.failed++
		e.Reason, e.Error = string(reason), errText
		if s.open == nil {
			s.open = &Window{Kind: kind, start: start, Start: Time(start), reasons: map[string]bool{}}
			e.Event = "down"
		} else {
			e.Event = "fail"
		}
		s.open.ChecksLost++
		s.open.addReason(string(reason))
		if kind == Write && reason == check.ReasonTimeout && r.readsServedDuring(start, start.Add(lat)) {
			s.open.addReason(ReasonPausedWrites)
			e.Message = "reads were answered while this write waited: writes paused"
		}
	}
	r.emit(e)
}

// ReasonPausedWrites is added to a write window when a write check timed
// out while read checks were being answered: the server was up and
// serving, but held writes back (CLIENT PAUSE … WRITE, the write pause of a
// managed failover, a replica-of switch in progress).
const ReasonPausedWrites = "paused_writes"

// readsServedDuring says whether a read check got its answer well inside
// [from, to], the span of a write check that got none. The first half of
// the timeout is left out: a read answered just after the write was sent
// may have beaten a stall that began in between.
func (r *recorder) readsServedDuring(from, to time.Time) bool {
	ok := r.series[Read].lastOK
	return r.series[Read].open == nil && ok.After(from.Add(r.cfg.Timeout/2)) && !ok.After(to)
}

func (w *Window) addReason(reason string) {
	if !w.reasons[reason] {
		w.reasons[reason] = true
		w.Reasons = append(w.Reasons, reason)
	}
}

// server records the role, run id and IP a series saw on a new connection.
func (r *recorder) server(kind Kind, role, runID, ip string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.series[kind]
	var what []string
	if s.role != "" && role != s.role {
		what = append(what, "role "+s.role+" → "+role)
	}
	if s.runID != "" && runID != s.runID {
		what = append(what, "run id "+short(s.runID)+" → "+short(runID)+" (another server process: restart, replacement or failover)")
	}
	if s.ip != "" && ip != s.ip {
		what = append(what, "ip "+s.ip+" → "+ip)
	}
	first := s.role == ""
	s.role, s.runID, s.ip = role, runID, ip
	if !first && len(what) == 0 {
		return
	}
	now := time.Now()
	for _, w := range what {
		c := now.UTC().Format("15:04:05.000") + " " + string(kind) + ": " + w
		r.changes = append(r.changes, c)
		for _, k := range []Kind{Write, Read} {
			if o := r.series[k].open; o != nil {
				o.Changes = append(o.Changes, c)
			}
		}
		// A change a series sees just after its own window closed belongs
		// to that window too: it is seen on the connection that ended it.
		for i := len(r.windows) - 1; i >= 0 && now.Sub(r.windows[i].end) < 2*r.cfg.Timeout; i-- {
			if r.windows[i].Kind == kind {
				r.windows[i].Changes = append(r.windows[i].Changes, c)
				break
			}
		}
	}
	msg := "connected"
	if len(what) > 0 {
		msg = joinStrings(what)
	}
	r.emit(Event{Time: Time(now), Kind: kind, Event: "server", Role: role, RunID: runID, IP: ip, Message: msg})
}

func (r *recorder) note(kind Kind, msg string) {
	r.emit(Event{Time: Time(time.Now()), Kind: kind, Event: "note", Message: msg})
}

func (r *recorder) mark(msg string) {
	r.emit(Event{Time: Time(time.Now()), Event: "mark", Message: msg})
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
}

func (r *recorder) status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := Status{Elapsed: time.Since(r.start), WriteUp: r.series[Write].open == nil, ReadUp: r.series[Read].open == nil}
	for _, s := range r.series {
		st.Checks += s.checks
		if s.open != nil {
			st.OpenSince = max(st.OpenSince, time.Since(s.open.start))
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
	for _, k := range []Kind{Write, Read} {
		if o := r.series[k].open; o != nil {
			w := *o
			w.end, w.End, w.Open = end, Time(end), true
			w.DurationMS = end.Sub(w.start).Milliseconds()
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
	elapsed := end.Sub(r.start)
	sum := &Summary{Start: Time(r.start), End: Time(end), ElapsedMS: elapsed.Milliseconds(),
		Series: map[Kind]SeriesSummary{}, Windows: windows, Changes: r.changes}
	for _, k := range []Kind{Write, Read} {
		s := r.series[k]
		ss := SeriesSummary{Checks: s.checks, Failed: s.failed}
		for _, w := range windows {
			if w.Kind == k {
				ss.Windows++
				ss.TotalDowntimeMS += w.DurationMS
				ss.LongestMS = max(ss.LongestMS, w.DurationMS)
			}
		}
		ss.Availability = availability(ss.TotalDowntimeMS, elapsed)
		sum.Series[k] = ss
		sum.Checks += s.checks
		sum.LongestMS = max(sum.LongestMS, ss.LongestMS)
	}
	sum.TotalDowntimeMS = unionMS(windows)
	sum.Availability = availability(sum.TotalDowntimeMS, elapsed)
	if elapsed > 0 {
		sum.ChecksPerSecond = float64(sum.Checks) / elapsed.Seconds()
	}
	for i := range sum.Windows {
		if sum.Windows[i].Reasons == nil {
			sum.Windows[i].Reasons = []string{}
		}
	}
	return sum
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

func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

func joinStrings(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += "; "
		}
		out += x
	}
	return out
}
