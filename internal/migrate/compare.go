package migrate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/redis/go-redis/v9"
)

// CompareOptions shape a comparison. The zero value compares every key.
type CompareOptions struct {
	// Match is the SCAN MATCH pattern of keys to compare. default: "*"
	Match string
	// Sample, when above 0, compares that many random source keys
	// (RANDOMKEY, shards weighted by size) instead of all; extra keys on
	// the target are then not looked for.
	Sample int
	// ScanCount is the SCAN COUNT hint and batch size. default: 1000
	ScanCount int
	// Workers is the number of batches compared at once. default: 4
	Workers int
	// TTLTolerance is how far the two TTLs of a key may be apart.
	// default: 1 second
	TTLTolerance time.Duration
	// BigKeyBytes is the size (MEMORY USAGE) above which a value is hashed
	// chunk by chunk instead of fetched whole. default: 1 MiB
	BigKeyBytes int64
	// Chunk is the number of elements (KiB for strings) per chunk. default: 1000
	Chunk int
	// MaxDiffs is the number of differences kept in the report; all are
	// counted. default: 1000
	MaxDiffs int
	// Recheck looks again at each difference after the pass and keeps only
	// those still there, so writes in flight during the pass are not
	// reported. default: on (set NoRecheck to turn it off)
	NoRecheck bool
	// BatchTimeout bounds one batch. default: 60 seconds
	BatchTimeout time.Duration
	// QuietWindow turns on the cut-over gate: the source's keyspace
	// notifications are watched from before the pass, and after it, once
	// the source has been quiet (no change) for QuietWindow, every key that
	// changed since the pass began is compared again, as are the
	// differences; this repeats until a window passes with no change, so
	// the report describes both sides as they are at its end. default: 0 (off)
	QuietWindow time.Duration
	// QuietTimeout bounds the wait for a quiet window; when the source is
	// still written after it, the report says so (Quiet false). default: 2 minutes
	QuietTimeout time.Duration
	// OnProgress receives the number of keys checked so far, about once a
	// second. default: none
	OnProgress func(checked int64)
}

func (o *CompareOptions) defaults() {
	if o.Match == "" {
		o.Match = "*"
	}
	if o.ScanCount <= 0 {
		o.ScanCount = 1000
	}
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.TTLTolerance <= 0 {
		o.TTLTolerance = time.Second
	}
	if o.BigKeyBytes <= 0 {
		o.BigKeyBytes = 1 << 20
	}
	if o.Chunk <= 0 {
		o.Chunk = 1000
	}
	if o.MaxDiffs <= 0 {
		o.MaxDiffs = 1000
	}
	if o.BatchTimeout <= 0 {
		o.BatchTimeout = 60 * time.Second
	}
	if o.QuietTimeout <= 0 {
		o.QuietTimeout = 2 * time.Minute
	}
}

// Difference kinds.
const (
	DiffMissing = "missing" // on the source, not on the target
	DiffExtra   = "extra"   // on the target, not on the source
	DiffType    = "type"    // both exist with different types
	DiffValue   = "value"   // same type, different value
	DiffTTL     = "ttl"     // same value, TTLs further apart than the tolerance
)

// Diff is one key that differs.
type Diff struct {
	// Key is the key.
	Key string `json:"key"`
	// Kind is missing, extra, type, value or ttl.
	Kind string `json:"kind"`
	// Source and Target describe each side: type, size, TTL.
	Source string `json:"source"`
	Target string `json:"target"`
	// Fields, for a hash whose value differs, names the fields that differ
	// (up to 20), e.g. "modified_time", "+only_on_target", "-only_on_source".
	Fields []string `json:"fields,omitempty"`
}

// CompareReport is the result of a comparison.
type CompareReport struct {
	// Sampled is true for a --sample comparison.
	Sampled bool `json:"sampled"`
	// Checked counts the keys looked at (source keys, plus target-only ones).
	Checked int64 `json:"checked"`
	// Equal counts keys equal in type, value and TTL.
	Equal int64 `json:"equal"`
	// Counts per difference kind.
	Missing int64 `json:"missing"`
	Extra   int64 `json:"extra"`
	Type    int64 `json:"type"`
	Value   int64 `json:"value"`
	TTL     int64 `json:"ttl"`
	// Settled counts differences that were gone on the second look (writes
	// in flight during the pass).
	Settled int64 `json:"settled"`
	// QuietWindow is the option the report was made with; Quiet is true
	// when a window of that length passed with no change on the source and
	// every key changed during the compare was compared again after it:
	// the gate before cut-over. Rechecked counts those keys.
	QuietWindow time.Duration `json:"quiet_window_ns,omitempty"`
	Quiet       bool          `json:"quiet"`
	Rechecked   int64         `json:"rechecked"`
	// Diffs lists the differences (up to MaxDiffs), sorted by key.
	Diffs []Diff `json:"diffs"`
	// Elapsed is how long the comparison took.
	Elapsed time.Duration `json:"elapsed_ns"`
}

// Differences is the total number of keys that differ.
func (r CompareReport) Differences() int64 { return r.Missing + r.Extra + r.Type + r.Value + r.TTL }

// Summary is one line: counts of each kind.
func (r CompareReport) Summary() string {
	what := "all keys"
	if r.Sampled {
		what = "a sample"
	}
	line := fmt.Sprintf("%s: checked %d, equal %d, differences %d (missing %d, extra %d, type %d, value %d, ttl %d; %d settled on a second look) in %s",
		what, r.Checked, r.Equal, r.Differences(), r.Missing, r.Extra, r.Type, r.Value, r.TTL, r.Settled, r.Elapsed.Round(time.Millisecond))
	switch {
	case r.QuietWindow > 0 && r.Quiet:
		line += fmt.Sprintf("; quiet window %s reached, %d changed keys compared again after it", r.QuietWindow, r.Rechecked)
	case r.QuietWindow > 0:
		line += fmt.Sprintf("; NO quiet window of %s: the source was still being written (%d changed keys compared again); pause the writes and run again", r.QuietWindow, r.Rechecked)
	}
	return line
}

// GatePassed is the cut-over gate: no difference and, with a quiet
// window, the window reached.
func (r CompareReport) GatePassed() bool {
	return r.Differences() == 0 && (r.QuietWindow == 0 || r.Quiet)
}

// WriteTable prints the differences as an aligned table and the summary.
func (r CompareReport) WriteTable(w io.Writer) error {
	if len(r.Diffs) > 0 {
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "KEY\tDIFFERENCE\tSOURCE\tTARGET\tFIELDS")
		for _, d := range r.Diffs {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", quoteKey(d.Key), d.Kind, d.Source, d.Target, strings.Join(d.Fields, ","))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if n := r.Differences(); n > int64(len(r.Diffs)) {
			fmt.Fprintf(w, "... and %d more\n", n-int64(len(r.Diffs)))
		}
	}
	_, err := fmt.Fprintln(w, r.Summary())
	return err
}

func quoteKey(k string) string {
	if strings.ContainsAny(k, " \t\r\n") || !isPrint(k) {
		return fmt.Sprintf("%q", k)
	}
	return k
}

func isPrint(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == 0xfffd {
			return false
		}
	}
	return true
}

type comparer struct {
	o        CompareOptions
	src, dst *Side
	abs      bool // expiry read as absolute times on both sides (PEXPIRETIME)
	checked  atomic.Int64
	mu       sync.Mutex
	diffs    []Diff
	equal    int64
}

// Compare checks the keys of src against dst and reports the differences.
// An error means the comparison could not be completed; differences are
// data in the report.
func Compare(ctx context.Context, src, dst *Side, o CompareOptions) (CompareReport, error) {
	o.defaults()
	start := time.Now()
	c := &comparer{o: o, src: src, dst: dst}
	c.abs, _ = expiryClock(ctx, src, dst, src.Version, dst.Version, "7.0")
	stop := make(chan struct{})
	var reporter sync.WaitGroup
	if o.OnProgress != nil {
		reporter.Add(1)
		go func() {
			defer reporter.Done()
			t := time.NewTicker(time.Second)
			defer t.Stop()
			for {
				select {
				case <-stop:
					return
				case <-t.C:
					o.OnProgress(c.checked.Load())
				}
			}
		}()
	}
	rep := CompareReport{Sampled: o.Sample > 0, QuietWindow: o.QuietWindow}
	var w *changeWatch
	if o.QuietWindow > 0 {
		var err error
		if w, err = watchChanges(ctx, src, o.Match); err != nil {
			close(stop)
			reporter.Wait()
			return rep, err
		}
		defer w.close()
	}
	var err error
	if o.Sample > 0 {
		err = c.sample(ctx)
	} else {
		err = c.full(ctx)
	}
	close(stop)
	reporter.Wait()
	if err != nil {
		return rep, err
	}
	diffs := dedupe(c.diffs)
	if !o.NoRecheck && len(diffs) > 0 {
		if diffs, err = c.recheck(ctx, diffs, &rep); err != nil {
			return rep, err
		}
	}
	if w != nil {
		if diffs, err = c.quiet(ctx, w, diffs, &rep); err != nil {
			return rep, err
		}
	}
	sort.Slice(diffs, func(i, j int) bool { return diffs[i].Key < diffs[j].Key })
	for _, d := range diffs {
		switch d.Kind {
		case DiffMissing:
			rep.Missing++
		case DiffExtra:
			rep.Extra++
		case DiffType:
			rep.Type++
		case DiffValue:
			rep.Value++
		case DiffTTL:
			rep.TTL++
		}
	}
	if len(diffs) > o.MaxDiffs {
		diffs = diffs[:o.MaxDiffs]
	}
	rep.Diffs = diffs
	rep.Checked = c.checked.Load()
	rep.Equal = rep.Checked - rep.Differences()
	rep.Elapsed = time.Since(start)
	return rep, nil
}

// full scans every source shard, then every target shard for extra keys.
func (c *comparer) full(ctx context.Context) error {
	type batch struct {
		keys  []string
		extra bool // keys from the target: only existence on the source is checked
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	batches := make(chan batch, c.o.Workers)
	var firstErr error
	var once sync.Once
	fail := func(err error) { once.Do(func() { firstErr = err; cancel() }) }
	var wg sync.WaitGroup
	for i := 0; i < c.o.Workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range batches {
				if ctx.Err() != nil {
					continue
				}
				var err error
				if b.extra {
					err = c.extraKeys(ctx, b.keys)
				} else {
					err = c.compareKeys(ctx, b.keys)
				}
				if err != nil {
					fail(err)
				}
			}
		}()
	}
	scanSide := func(s *Side, extra bool) {
		var sw sync.WaitGroup
		for _, sh := range s.Shards {
			sw.Add(1)
			go func() {
				defer sw.Done()
				err := scanAll(ctx, sh, c.o.Match, c.o.ScanCount, c.o.BatchTimeout, func(keys []string) error {
					select {
					case batches <- batch{keys: keys, extra: extra}:
						return nil
					case <-ctx.Done():
						return ctx.Err()
					}
				})
				if err != nil && ctx.Err() == nil {
					fail(fmt.Errorf("%s %s: scan: %w", s.Name, sh.Addr, err))
				}
			}()
		}
		sw.Wait()
	}
	scanSide(c.src, false)
	scanSide(c.dst, true)
	close(batches)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

// scanAll pages through a shard, handing each non-empty page to fn.
func scanAll(ctx context.Context, sh Shard, match string, count int, timeout time.Duration, fn func([]string) error) error {
	var cursor uint64
	for {
		sctx, cancel := context.WithTimeout(ctx, timeout)
		keys, next, err := sh.Client.Scan(sctx, cursor, match, int64(count)).Result()
		cancel()
		if err != nil {
			return err
		}
		if len(keys) > 0 {
			if err := fn(keys); err != nil {
				return err
			}
		}
		if next == 0 {
			return nil
		}
		cursor = next
	}
}

// sample compares o.Sample random source keys.
func (c *comparer) sample(ctx context.Context) error {
	sizes := make([]int64, len(c.src.Shards))
	var total int64
	for i, sh := range c.src.Shards {
		n, err := sh.Client.DBSize(ctx).Result()
		if err != nil {
			return fmt.Errorf("source %s: dbsize: %w", sh.Addr, err)
		}
		sizes[i], total = n, total+n
	}
	if total == 0 {
		return nil
	}
	seen := map[string]bool{}
	for left := c.o.Sample; left > 0; {
		n := min(left, c.o.ScanCount)
		perShard := make([]int, len(sizes))
		for i := 0; i < n; i++ {
			r := rand.Int64N(total)
			for s, sz := range sizes {
				if r < sz {
					perShard[s]++
					break
				}
				r -= sz
			}
		}
		var keys []string
		for s, k := range perShard {
			if k == 0 {
				continue
			}
			pipe := c.src.Shards[s].Client.Pipeline()
			cmds := make([]*redis.StringCmd, k)
			for i := range cmds {
				cmds[i] = pipe.RandomKey(ctx)
			}
			if _, err := pipe.Exec(ctx); err != nil && !isReplyError(err) {
				return fmt.Errorf("source %s: randomkey: %w", c.src.Shards[s].Addr, err)
			}
			for _, cmd := range cmds {
				if k, err := cmd.Result(); err == nil && !seen[k] {
					seen[k] = true
					keys = append(keys, k)
				}
			}
		}
		if err := c.compareKeys(ctx, keys); err != nil {
			return err
		}
		left -= n
	}
	return nil
}

// keyMeta is what one side says about one key.
type keyMeta struct {
	typ      string    // "none" when absent
	expireAt time.Time // zero: no expiry
	// slack is how early expireAt may be: the round trip of a relative
	// (PTTL) reading; 0 for an absolute one.
	slack  time.Duration
	size   int64 // MEMORY USAGE; 0 when unknown
	digest string
}

func (m keyMeta) describe() string {
	if m.typ == "none" {
		return "absent"
	}
	ttl := "no ttl"
	if !m.expireAt.IsZero() {
		ttl = "ttl " + time.Until(m.expireAt).Round(time.Millisecond).String()
	}
	n := ""
	if i := strings.IndexByte(m.digest, '/'); i >= 0 {
		unit := " elements"
		if m.typ == "string" {
			unit = " bytes"
		}
		n = " " + m.digest[i+1:] + unit
	}
	return m.typ + n + ", " + ttl
}

// meta reads type, expiry and size of keys on one side in one pipeline.
func meta(ctx context.Context, c redis.Cmdable, keys []string, abs bool) ([]keyMeta, error) {
	pipe := c.Pipeline()
	types := make([]*redis.StatusCmd, len(keys))
	ttls := make([]*redis.Cmd, len(keys))
	sizes := make([]*redis.IntCmd, len(keys))
	for i, k := range keys {
		types[i] = pipe.Type(ctx, k)
		ttls[i] = queueExpiry(ctx, pipe, k, abs)
		sizes[i] = pipe.MemoryUsage(ctx, k)
	}
	t0 := time.Now()
	if _, err := pipe.Exec(ctx); err != nil && !isReplyError(err) {
		return nil, err
	}
	var slack time.Duration
	if !abs {
		slack = time.Since(t0)
	}
	out := make([]keyMeta, len(keys))
	for i := range keys {
		at, _ := expiryAt(ttls[i], abs, t0)
		out[i] = keyMeta{typ: types[i].Val(), expireAt: at, slack: slack, size: sizes[i].Val()}
		if out[i].typ == "" {
			out[i].typ = "none"
		}
	}
	return out, nil
}

// digests fills in the digest of each present key, whole for small values
// (one pipeline) and chunk by chunk for big ones.
func (c *comparer) digests(ctx context.Context, cl redis.Cmdable, keys []string, ms []keyMeta) error {
	pipe := cl.Pipeline()
	cmds := make([]*redis.Cmd, len(keys))
	for i, k := range keys {
		m := &ms[i]
		if m.typ == "none" {
			continue
		}
		if m.typ == "stream" {
			// Entries, ids and consumer groups, read as data: a DUMP payload
			// carries the RDB version and differs across engine versions.
			d, err := streamDigest(ctx, cl, k, c.o.Chunk)
			if err != nil && !isReplyError(err) {
				return err
			}
			m.digest = d
			continue
		}
		if !typedCopyable(m.typ) {
			// Module types: no portable digest; compare the DUMP payload
			// (equal payloads are equal values).
			cmds[i] = pipe.Do(ctx, "DUMP", k)
			continue
		}
		if m.size > c.o.BigKeyBytes || m.size == 0 {
			d := newDigester(m.typ, true)
			if err := streamValue(ctx, cl, k, m.typ, c.o.Chunk, func(p []string) error { d.add(p); return nil }); err != nil && !isReplyError(err) {
				return err
			}
			m.digest = d.String()
			continue
		}
		switch m.typ {
		case "string":
			cmds[i] = pipe.Do(ctx, "GET", k)
		case "hash":
			cmds[i] = pipe.Do(ctx, "HGETALL", k)
		case "list":
			cmds[i] = pipe.Do(ctx, "LRANGE", k, 0, -1)
		case "set":
			cmds[i] = pipe.Do(ctx, "SMEMBERS", k)
		case "zset":
			cmds[i] = pipe.Do(ctx, "ZRANGE", k, 0, -1, "WITHSCORES")
		}
	}
	if _, err := pipe.Exec(ctx); err != nil && !isReplyError(err) {
		return err
	}
	for i, cmd := range cmds {
		if cmd == nil {
			continue
		}
		v, err := cmd.Result()
		if err != nil {
			ms[i].typ = "none" // gone between the two round trips
			continue
		}
		if !typedCopyable(ms[i].typ) {
			s, _ := v.(string)
			d := newDigester("string", false)
			d.add([]string{s})
			ms[i].digest = "dump:" + d.String()
			continue
		}
		d := newDigester(ms[i].typ, false)
		d.add(toStrings(v))
		ms[i].digest = d.String()
	}
	return nil
}

func toStrings(v interface{}) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []interface{}:
		out := make([]string, len(x))
		for i, e := range x {
			out[i], _ = e.(string)
		}
		return out
	}
	return nil
}

// compareKeys compares source keys on both sides.
func (c *comparer) compareKeys(ctx context.Context, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, c.o.BatchTimeout)
	defer cancel()
	diffs, err := c.diffKeys(ctx, keys)
	if err != nil {
		return err
	}
	c.checked.Add(int64(len(keys)))
	c.mu.Lock()
	c.diffs = append(c.diffs, diffs...)
	c.mu.Unlock()
	return nil
}

func (c *comparer) diffKeys(ctx context.Context, keys []string) ([]Diff, error) {
	sm, err := meta(ctx, c.src.Client, keys, c.abs)
	if err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	dm, err := meta(ctx, c.dst.Client, keys, c.abs)
	if err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}
	if err := c.digests(ctx, c.src.Client, keys, sm); err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	if err := c.digests(ctx, c.dst.Client, keys, dm); err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}
	var diffs []Diff
	for i, k := range keys {
		s, d := sm[i], dm[i]
		kind := ""
		switch {
		case s.typ == "none" && d.typ == "none":
			continue // vanished from both: nothing to compare
		case s.typ == "none":
			kind = DiffExtra
		case d.typ == "none":
			kind = DiffMissing
		case s.typ != d.typ:
			kind = DiffType
		case s.digest != d.digest:
			kind = DiffValue
		case !ttlClose(s, d, c.o.TTLTolerance):
			kind = DiffTTL
		default:
			continue
		}
		df := Diff{Key: k, Kind: kind, Source: s.describe(), Target: d.describe()}
		if kind == DiffValue && s.typ == "hash" {
			if df.Fields, err = c.hashFields(ctx, k); err != nil {
				return nil, err
			}
		}
		diffs = append(diffs, df)
	}
	return diffs, nil
}

// ttlClose is true when both keys expire within tol of each other (plus
// the uncertainty of relative readings), or neither expires.
func ttlClose(a, b keyMeta, tol time.Duration) bool {
	if a.expireAt.IsZero() || b.expireAt.IsZero() {
		return a.expireAt.IsZero() && b.expireAt.IsZero()
	}
	tol += max(a.slack, b.slack)
	d := a.expireAt.Sub(b.expireAt)
	return d <= tol && d >= -tol
}

// extraKeys reports target keys absent from the source.
func (c *comparer) extraKeys(ctx context.Context, keys []string) error {
	ctx, cancel := context.WithTimeout(ctx, c.o.BatchTimeout)
	defer cancel()
	pipe := c.src.Client.Pipeline()
	cmds := make([]*redis.IntCmd, len(keys))
	for i, k := range keys {
		cmds[i] = pipe.Exists(ctx, k)
	}
	if _, err := pipe.Exec(ctx); err != nil && !isReplyError(err) {
		return fmt.Errorf("source: exists: %w", err)
	}
	var extra []string
	for i, cmd := range cmds {
		if cmd.Val() == 0 {
			extra = append(extra, keys[i])
		}
	}
	if len(extra) == 0 {
		return nil
	}
	// Extra keys count as checked; present ones were checked from the source.
	c.checked.Add(int64(len(extra)))
	dm, err := meta(ctx, c.dst.Client, extra, c.abs)
	if err != nil {
		return fmt.Errorf("target: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, k := range extra {
		c.diffs = append(c.diffs, Diff{Key: k, Kind: DiffExtra, Source: "absent", Target: dm[i].describe()})
	}
	return nil
}

// dedupe keeps one difference per key, the last found: a key deleted
// between the source and the target scans was listed twice.
func dedupe(diffs []Diff) []Diff {
	at := map[string]int{}
	out := diffs[:0:0]
	for _, d := range diffs {
		if i, ok := at[d.Key]; ok {
			out[i] = d
			continue
		}
		at[d.Key] = len(out)
		out = append(out, d)
	}
	return out
}

// changeWatch collects the source keys changed since it started, from
// keyspace notifications.
type changeWatch struct {
	mu      sync.Mutex
	changed map[string]struct{}
	last    time.Time // last change seen
	subs    []*redis.PubSub
	wg      sync.WaitGroup
}

// watchChanges subscribes to every source master; notifications must be on
// (they are switched on where CONFIG allows).
func watchChanges(ctx context.Context, src *Side, match string) (*changeWatch, error) {
	w := &changeWatch{changed: map[string]struct{}{}, last: time.Now()}
	prefix := "__keyspace@" + strconv.Itoa(src.DB) + "__:"
	for _, sh := range src.Shards {
		if st, msg := checkNotifications(ctx, sh, true); st == notifyOff {
			w.close()
			return nil, fmt.Errorf("quiet window: %s", msg)
		}
		ps := sh.Client.PSubscribe(ctx, prefix+match)
		if _, err := ps.Receive(ctx); err != nil {
			_ = ps.Close()
			w.close()
			return nil, fmt.Errorf("quiet window: source %s: psubscribe: %w", sh.Addr, err)
		}
		w.subs = append(w.subs, ps)
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			for m := range ps.Channel() {
				key := strings.TrimPrefix(m.Channel, prefix)
				w.mu.Lock()
				w.changed[key] = struct{}{}
				w.last = time.Now()
				w.mu.Unlock()
			}
		}()
	}
	return w, nil
}

// take returns the keys changed since the last take and when the last
// change was seen.
func (w *changeWatch) take() (keys []string, last time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for k := range w.changed {
		keys = append(keys, k)
	}
	w.changed = map[string]struct{}{}
	return keys, w.last
}

func (w *changeWatch) lastChange() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.last
}

func (w *changeWatch) close() {
	for _, ps := range w.subs {
		_ = ps.Close()
	}
	w.wg.Wait()
}

// quiet waits for a window with no change on the source and compares again
// every key changed since the pass began, and every difference, until a
// window passes with no change.
func (c *comparer) quiet(ctx context.Context, w *changeWatch, diffs []Diff, rep *CompareReport) ([]Diff, error) {
	deadline := time.Now().Add(c.o.QuietTimeout)
	keep := map[string]Diff{}
	for _, d := range diffs {
		keep[d.Key] = d
	}
	for {
		// Wait until the source has been quiet for a whole window.
		for {
			since := time.Since(w.lastChange())
			if since >= c.o.QuietWindow {
				break
			}
			if time.Now().After(deadline) {
				return mapDiffs(keep), nil
			}
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(min(c.o.QuietWindow-since, time.Until(deadline)+time.Millisecond)):
			}
		}
		changed, last := w.take()
		keys := slices.Clone(changed)
		for k := range keep {
			keys = append(keys, k)
		}
		rep.Rechecked += int64(len(changed))
		slices.Sort(keys)
		keys = slices.Compact(keys)
		for start := 0; start < len(keys); start += c.o.ScanCount {
			part := keys[start:min(start+c.o.ScanCount, len(keys))]
			bctx, cancel := context.WithTimeout(ctx, c.o.BatchTimeout)
			again, err := c.diffKeys(bctx, part)
			cancel()
			if err != nil {
				return nil, err
			}
			for _, k := range part {
				delete(keep, k)
			}
			for _, d := range again {
				keep[d.Key] = d
			}
		}
		// Quiet if nothing changed while those keys were compared.
		if w.lastChange().Equal(last) {
			rep.Quiet = true
			return mapDiffs(keep), nil
		}
		if time.Now().After(deadline) {
			return mapDiffs(keep), nil
		}
	}
}

func mapDiffs(m map[string]Diff) []Diff {
	out := make([]Diff, 0, len(m))
	for _, d := range m {
		out = append(out, d)
	}
	return out
}

// recheck looks at each difference again and keeps those still there.
func (c *comparer) recheck(ctx context.Context, diffs []Diff, rep *CompareReport) ([]Diff, error) {
	var out []Diff
	for start := 0; start < len(diffs); start += c.o.ScanCount {
		part := diffs[start:min(start+c.o.ScanCount, len(diffs))]
		keys := make([]string, len(part))
		for i, d := range part {
			keys[i] = d.Key
		}
		bctx, cancel := context.WithTimeout(ctx, c.o.BatchTimeout)
		again, err := c.diffKeys(bctx, keys)
		cancel()
		if err != nil {
			return nil, err
		}
		rep.Settled += int64(len(part) - len(again))
		out = append(out, again...)
	}
	return out, nil
}

// maxFieldNames bounds the field names listed for one hash.
const maxFieldNames = 20

// hashFields names the fields of a hash that differ: "name" for a different
// value, "-name" when only the source has it, "+name" when only the target
// has it. Both sides are read chunk by chunk.
func (c *comparer) hashFields(ctx context.Context, key string) ([]string, error) {
	var out []string
	walk := func(from, to redis.Cmdable, onlyPrefix string, reportDiffering bool) error {
		return streamValue(ctx, from, key, "hash", c.o.Chunk, func(part []string) error {
			fields := make([]string, 0, len(part)/2)
			for i := 0; i+1 < len(part); i += 2 {
				fields = append(fields, part[i])
			}
			vals, err := to.HMGet(ctx, key, fields...).Result()
			if err != nil {
				return err
			}
			for i, v := range vals {
				name := fields[i]
				switch {
				case len(out) >= maxFieldNames:
					return errEnough
				case v == nil:
					out = appendOnce(out, onlyPrefix+name)
				case reportDiffering && v.(string) != part[2*i+1]:
					out = appendOnce(out, name)
				}
			}
			return nil
		})
	}
	err := walk(c.src.Client, c.dst.Client, "-", true)
	if err == nil {
		err = walk(c.dst.Client, c.src.Client, "+", false)
	}
	if err != nil && !errors.Is(err, errEnough) {
		return nil, fmt.Errorf("hash %q fields: %w", key, err)
	}
	sort.Strings(out)
	return out, nil
}

var errEnough = errors.New("enough field names")

func appendOnce(s []string, v string) []string {
	for _, x := range s {
		if x == v {
			return s
		}
	}
	return append(s, v)
}
