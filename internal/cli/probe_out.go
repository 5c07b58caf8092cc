package cli

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/redisha/redisha/internal/check"
	"github.com/redisha/redisha/internal/probe"
)

// Files of a probe run in --out and --seed-logs.
const (
	eventsFile   = "events.jsonl"
	summaryFile  = "summary.json"
	successLog   = "redis_success.log"
	failureLog   = "redis_error.log"
	runbookStamp = "2006-01-02 15:04:05.000" // the runbook scripts' local time stamps
)

// probeOutput writes a probe's events to events.jsonl and, optionally, the
// runbook's two logs, and its summary to summary.json. A write that fails
// (disk full, I/O error) is reported on stderr at once, once per file;
// the run goes on and its summary says what was lost.
type probeOutput struct {
	stderr io.Writer
	cmd    string
	outDir string
	lock   *os.File // --out itself, flock-ed by the run writing to it

	mu                        sync.Mutex
	events, success, failures *outFile
}

// outFile is one output file and the writes to it that failed.
type outFile struct {
	flag, path string
	w          io.WriteCloser
	failed     int
	first      error
}

// openProbeOutput opens the run's files. --out keeps one run: a directory
// holding an earlier run's files is refused unless force, which removes
// them first, and a directory another run is writing to is refused even
// with force (the run holds a lock on it, which the kernel releases however
// the process ends), so a run never mixes with another's: a run killed
// outright leaves its events.jsonl and no summary.json, never an earlier
// run's. The seed logs are appended to across runs, as the runbook's
// scripts did. No path is followed through a symbolic link planted in the
// directories: --out and --seed-logs themselves must not be links, and the
// files are opened with O_NOFOLLOW (a link where a file should be is
// refused, or with force removed, never written through).
func openProbeOutput(outDir, seedDir string, force bool, stderr io.Writer, cmd string) (*probeOutput, error) {
	o := &probeOutput{stderr: stderr, cmd: cmd, outDir: outDir}
	var err error
	if outDir != "" {
		if err := makeOutDir("--out", outDir); err != nil {
			return nil, err
		}
		if o.lock, err = lockOutDir(outDir); err != nil {
			return nil, err
		}
		for _, name := range []string{eventsFile, summaryFile} {
			p := filepath.Join(outDir, name)
			if _, err := os.Lstat(p); err == nil && !force {
				o.close()
				return nil, usagef("--out %s holds an earlier run's %s: give a new directory, or add --force to replace that run", outDir, name)
			}
		}
		// The summary goes first: from here on the directory holds no
		// finished run, and the events file is created anew (a link
		// planted there is removed, not followed).
		for _, name := range []string{summaryFile, eventsFile} {
			if err := os.Remove(filepath.Join(outDir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				o.close()
				return nil, usagef("--out: %w", err)
			}
		}
		if o.events, err = openOut("--out", outDir, eventsFile, os.O_EXCL); err != nil {
			o.close()
			return nil, err
		}
	}
	if seedDir != "" {
		if err := makeOutDir("--seed-logs", seedDir); err != nil {
			o.close()
			return nil, err
		}
		if o.success, err = openOut("--seed-logs", seedDir, successLog, os.O_APPEND); err != nil {
			o.close()
			return nil, err
		}
		if o.failures, err = openOut("--seed-logs", seedDir, failureLog, os.O_APPEND); err != nil {
			o.close()
			return nil, err
		}
	}
	return o, nil
}

// makeOutDir creates dir, refusing one that is a symbolic link: the files
// would land wherever it points.
func makeOutDir(flag, dir string) error {
	if fi, err := os.Lstat(dir); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		return usagef("%s %s is a symbolic link: give the directory it points to, or another", flag, dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return usagef("%s: %w", flag, err)
	}
	return nil
}

// openOut opens dir/name for writing without following a symbolic link.
func openOut(flag, dir, name string, mode int) (*outFile, error) {
	p := filepath.Join(dir, name)
	f, err := openOutFile(p, os.O_CREATE|os.O_WRONLY|mode)
	if err != nil {
		return nil, usagef("%s: %w", flag, err)
	}
	return &outFile{flag: flag, path: p, w: f}, nil
}

// openOutFile opens the probe's output files; a test swaps it for one that
// opens /dev/full, a disk that is always full.
var openOutFile = openNoFollow

// openNoFollow opens path with O_NOFOLLOW, naming the link when path is one.
func openNoFollow(path string, flag int) (*os.File, error) {
	f, err := os.OpenFile(path, flag|syscall.O_NOFOLLOW, 0o644)
	if errors.Is(err, syscall.ELOOP) {
		return nil, fmt.Errorf("%s is a symbolic link: remove it (it is never written through)", path)
	}
	return f, err
}

// lockOutDir takes dir's run lock (flock on the directory itself: no file
// is left behind, and the kernel drops the lock however the process ends),
// or says that another run holds it.
func lockOutDir(dir string) (*os.File, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, usagef("--out: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, usagef("--out %s is in use by another probe run: give another directory, or wait for that run to end", dir)
		}
		return nil, usagef("--out: lock %s: %w", dir, err)
	}
	return f, nil
}

// write writes b whole, or counts the failure and reports the first one.
func (o *probeOutput) write(f *outFile, b []byte) {
	if f == nil {
		return
	}
	if _, err := f.w.Write(b); err != nil {
		f.failed++
		if f.first == nil {
			f.first = err
			fmt.Fprintf(o.stderr, "%s: writing %s failed: %v; probing goes on, but this file is incomplete\n", o.cmd, f.path, err)
		}
	}
}

// event is the probe's Sink: each line is written at once (no buffer), so a
// run that is killed outright keeps what it saw.
func (o *probeOutput) event(e probe.Event) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.events != nil {
		b, err := json.Marshal(e)
		if err != nil { // not expected: every field marshals
			b = []byte(fmt.Sprintf(`{"event":"encode_error","error":%q}`, err.Error()))
		}
		o.write(o.events, append(b, '\n'))
	}
	if o.success == nil {
		return
	}
	ts := time.Time(e.Time).Local().Format(runbookStamp)
	series := string(e.Series)
	if e.Shard != "" {
		series += " of shard " + e.Shard
	}
	switch e.Type {
	case probe.EventOK, probe.EventUp:
		o.write(o.success, fmt.Appendf(nil, "%s SUCCESS %d: Redis %s OK\n", ts, e.Seq, series))
	case probe.EventDown, probe.EventFail:
		o.write(o.failures, fmt.Appendf(nil, "%s FAILURE %d: %s failed (%s) → Response: %s\n", ts, e.Seq, series, e.Reason, e.Error))
	case probe.EventStillDown:
		o.write(o.failures, fmt.Appendf(nil, "%s FAILURE %d: %s still down since %s: %d more failed checks (%s) → Response: %s\n",
			ts, e.Seq, series, time.Time(*e.Since).Local().Format(runbookStamp), e.Failed, counts(e.Counts), e.Error))
	case probe.EventDataLoss:
		of := ""
		if e.Shard != "" {
			of = " of shard " + e.Shard
		}
		o.write(o.failures, fmt.Appendf(nil, "%s DATA LOSS: the read probe key%s is missing: the data set was lost or not replicated\n", ts, of))
	case probe.EventKeyWriteFailed:
		o.write(o.failures, fmt.Appendf(nil, "%s NOTE: could not write the read probe key (%s) → Response: %s\n", ts, e.Reason, e.Error))
	case probe.EventCycle, probe.EventBreak:
		line := fmt.Appendf(nil, "=== %s at %s ===\n", cycleText(e), ts)
		o.write(o.success, line)
		o.write(o.failures, line)
	}
}

// counts renders failures per reason, most first: "refused ×5120, reset ×1".
func counts(c map[check.Reason]int) string {
	rs := make([]check.Reason, 0, len(c))
	for r := range c {
		rs = append(rs, r)
	}
	slices.SortFunc(rs, func(a, b check.Reason) int {
		if c[a] != c[b] {
			return c[b] - c[a]
		}
		return strings.Compare(string(a), string(b))
	})
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = fmt.Sprintf("%s ×%d", r, c[r])
	}
	return strings.Join(parts, ", ")
}

func cycleText(e probe.Event) string {
	if e.Type == probe.EventBreak {
		return fmt.Sprintf("cycle %d ended, break of %s", e.Cycle, time.Duration(*e.BreakMS)*time.Millisecond)
	}
	return fmt.Sprintf("cycle %d of %d started", e.Cycle, e.Cycles)
}

// probeReport is summary.json and --json: the probe's summary and what the
// run could not write.
type probeReport struct {
	*probe.Summary
	// OutputErrors lists the files with failed writes.
	OutputErrors []string `json:"output_errors,omitempty"`
}

// summary writes summary.json (when --out is set) and returns the report,
// with every failed write listed.
func (o *probeOutput) summary(s *probe.Summary) probeReport {
	o.mu.Lock()
	defer o.mu.Unlock()
	r := probeReport{Summary: s}
	for _, f := range []*outFile{o.events, o.success, o.failures} {
		if f != nil && f.failed > 0 {
			r.OutputErrors = append(r.OutputErrors, fmt.Sprintf("%d writes to %s failed (%v)", f.failed, f.path, f.first))
		}
	}
	if o.outDir != "" {
		p := filepath.Join(o.outDir, summaryFile)
		if err := o.eventsStillOurs(); err != nil {
			fmt.Fprintf(o.stderr, "%s: %s not written: %v\n", o.cmd, p, err)
			r.OutputErrors = append(r.OutputErrors, fmt.Sprintf("%s not written (%v)", p, err))
		} else if err := writeFileAtomic(p, r); err != nil {
			fmt.Fprintf(o.stderr, "%s: writing %s failed: %v\n", o.cmd, p, err)
			r.OutputErrors = append(r.OutputErrors, fmt.Sprintf("%s not written (%v)", p, err))
		}
	}
	return r
}

// eventsStillOurs checks that --out's events.jsonl is the file this run
// wrote, so the summary never lands beside another run's events (one that
// removed the lock file, or a person who moved the files).
func (o *probeOutput) eventsStillOurs() error {
	f, ok := o.events.w.(*os.File)
	if !ok {
		return nil
	}
	mine, err := f.Stat()
	if err != nil {
		return err
	}
	if !mine.Mode().IsRegular() {
		return nil // a device or a pipe holds no run
	}
	there, err := os.Lstat(o.events.path)
	if err != nil || !os.SameFile(mine, there) {
		return fmt.Errorf("%s is no longer this run's events file", o.events.path)
	}
	return nil
}

// close closes the files and releases --out's lock.
func (o *probeOutput) close() {
	for _, f := range []*outFile{o.events, o.success, o.failures} {
		if f != nil {
			_ = f.w.Close()
		}
	}
	if o.lock != nil {
		_ = o.lock.Close()
	}
}

// writeFileAtomic writes v as indented JSON to a temporary file beside path
// and renames it over path: a reader sees the old file or the whole new
// one, never a truncated one.
func writeFileAtomic(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a successful rename: nothing to remove
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// liveStatus redraws one status line on the terminal four times a second.
func liveStatus(w io.Writer, p interface{ Status() probe.Status }, done <-chan struct{}) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	var prev probe.Status
	for {
		select {
		case <-done:
			fmt.Fprint(w, "\r\033[K")
			return
		case <-t.C:
		}
		st := p.Status()
		state := "UP"
		switch {
		case !st.WriteUp && !st.ReadUp:
			state = fmt.Sprintf("DOWN (writes+reads) for %s", st.OpenSince.Round(time.Millisecond))
		case !st.WriteUp:
			state = fmt.Sprintf("WRITES DOWN for %s", st.OpenSince.Round(time.Millisecond))
		case !st.ReadUp:
			state = fmt.Sprintf("READS DOWN for %s", st.OpenSince.Round(time.Millisecond))
		}
		if st.DataLoss > 0 {
			state += fmt.Sprintf("  DATA LOST ×%d", st.DataLoss)
		}
		// The rate over the last redraw: it drops the moment checks start
		// to wait on a stalled server.
		rate := 0.0
		if d := st.Elapsed - prev.Elapsed; d > 0 {
			rate = float64(st.Checks-prev.Checks) / d.Seconds()
		}
		prev = st
		fmt.Fprintf(w, "\r\033[K%s  %d checks (%.0f/s)  %s  windows %d, longest %dms",
			st.Elapsed.Round(time.Second), st.Checks, rate, state, st.WindowsNow, st.LongestMS)
	}
}

// printSummary prints the report as the table an operator reads.
func printSummary(w io.Writer, r probeReport) {
	s := r.Summary
	bw := bufio.NewWriter(w)
	defer bw.Flush()
	fmt.Fprintf(bw, "\nrun     %s → %s (%.1fs)\n", fmtTime(s.Start), fmtTime(s.End), float64(s.ElapsedMS)/1000)
	fmt.Fprintf(bw, "checks  %d (%.0f/s)\n", s.Checks, s.ChecksPerSecond)
	fmt.Fprintf(bw, "avail.  %.4f%% (writes %.4f%%, reads %.4f%%)\n", 100*s.Availability,
		100*s.Series[probe.Write].Availability, 100*s.Series[probe.Read].Availability)
	fmt.Fprintf(bw, "down    %dms in total, longest window %dms\n", s.TotalDowntimeMS, s.LongestMS)
	switch rs := s.Series[probe.Read]; {
	case len(s.DataLoss) == 0 && rs.Checks == rs.Failed:
		fmt.Fprintln(bw, "data    not known: no read succeeded")
	case len(s.DataLoss) == 0:
		fmt.Fprintln(bw, "data    no loss: the read probe key was there at every read")
	default:
		fmt.Fprintf(bw, "data    LOST %d time(s): the read probe key vanished (FLUSHALL, a restart without persistence, a failover to a replica that lacked it)\n", len(s.DataLoss))
		for _, d := range s.DataLoss {
			of := ""
			if d.Shard != "" {
				of = ", shard " + d.Shard
			}
			fmt.Fprintf(bw, "        at %s (written %dms before%s)\n", fmtTime(d.Time), d.KeyAgeMS, of)
		}
	}
	for _, e := range r.OutputErrors {
		fmt.Fprintf(bw, "output  INCOMPLETE: %s\n", e)
	}
	if len(s.Shards) > 0 {
		fmt.Fprintf(bw, "\n%-24s  %-9s  %-9s  %7s  %9s\n", "shard (slots at start)", "writes", "reads", "windows", "longest")
		for _, sh := range s.Shards {
			fmt.Fprintf(bw, "%-24s  %8.4f%%  %8.4f%%  %7d  %7dms\n", sh.Shard, 100*sh.Write.Availability, 100*sh.Read.Availability,
				sh.Write.Windows+sh.Read.Windows, max(sh.Write.LongestMS, sh.Read.LongestMS))
		}
	}
	if len(s.Windows) == 0 {
		fmt.Fprintln(bw, "windows none: no check failed")
		return
	}
	shardCol := len(s.Shards) > 0
	if shardCol {
		fmt.Fprintf(bw, "\n%-5s  %-16s  %-24s  %-24s  %10s  %6s  %s\n", "kind", "shard", "start", "end", "duration", "lost", "reasons")
	} else {
		fmt.Fprintf(bw, "\n%-5s  %-24s  %-24s  %10s  %6s  %s\n", "kind", "start", "end", "duration", "lost", "reasons")
	}
	for _, win := range s.Windows {
		end := fmtTime(win.End)
		if win.Open {
			end += " (open)"
		}
		if shardCol {
			fmt.Fprintf(bw, "%-5s  %-16s  %-24s  %-24s  %8dms  %6d  %v\n", win.Kind, win.Shard, fmtTime(win.Start), end, win.DurationMS, win.ChecksLost, win.Reasons)
		} else {
			fmt.Fprintf(bw, "%-5s  %-24s  %-24s  %8dms  %6d  %v\n", win.Kind, fmtTime(win.Start), end, win.DurationMS, win.ChecksLost, win.Reasons)
		}
		for _, c := range win.Changes {
			fmt.Fprintf(bw, "       %s\n", changeText(c))
		}
	}
}

// changeText renders a change as the table shows it, e.g.
// "2026-11-23T01:08:57.607Z write: run id 916d9592 → 1cc04d69 (another server process: ...)".
func changeText(c probe.Change) string {
	at := fmtTime(c.Time)
	switch c.Field {
	case probe.ChangeRunID:
		return fmt.Sprintf("%s %s: run id %s → %s (another server process: restart, replacement or failover)",
			at, c.Series, short(c.From), short(c.To))
	case probe.ChangeRole:
		return fmt.Sprintf("%s %s: role %s → %s", at, c.Series, c.From, c.To)
	case probe.ChangePrimary:
		return fmt.Sprintf("%s shard %s: primary %s → %s (a failover, or its first slot resharded)", at, c.Shard, c.From, c.To)
	default:
		return fmt.Sprintf("%s %s: %s %s → %s", at, c.Series, c.Field, c.From, c.To)
	}
}

func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

func fmtTime(t probe.Time) string {
	return time.Time(t).UTC().Format(check.TimeLayout)
}
