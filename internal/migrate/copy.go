package migrate

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// CopyOptions shape a copy. The zero value is a sane full copy.
type CopyOptions struct {
	// Mode picks DUMP/RESTORE or the type-aware copy. default: ModeAuto
	Mode Mode
	// Match is the SCAN MATCH pattern of keys to copy. default: "*"
	Match string
	// ScanCount is the SCAN COUNT hint: keys per page and per batch.
	// default: 1000
	ScanCount int
	// Workers is the number of batches in flight across all shards.
	// default: 8
	Workers int
	// MaxRate caps keys per second over the whole copy; 0 is no cap.
	MaxRate float64
	// BigKeyBytes is the size (MEMORY USAGE) above which a key is copied
	// in chunks of Chunk elements instead of one DUMP, so no single value is
	// held whole in memory; -1 turns the size probe off. default: 8 MiB
	BigKeyBytes int64
	// BatchBytes bounds the DUMP payloads held at once by one batch, so
	// memory stays near Workers × BatchBytes. default: 16 MiB
	BatchBytes int64
	// Chunk is the number of elements (or KiB of a string) read and written
	// per round trip in the type-aware copy. default: 1000
	Chunk int
	// Checkpoint is the file that records progress for resuming; "" keeps
	// none. An existing file for the same source resumes the copy.
	Checkpoint string
	// TargetHadKeys is recorded in a new checkpoint: the target held keys
	// before this copy (and any follower) wrote to it. default: false
	TargetHadKeys bool
	// Rescan, with a checkpoint to resume from, copies every key again
	// instead of skipping the ranges the checkpoint records as copied: when
	// nothing followed the source while the copy was down, keys in those
	// ranges may have changed since. The checkpoint still guards the
	// source, target and match, and records the new progress.
	Rescan bool
	// ProgressEvery is how often OnProgress is called (and the checkpoint
	// written). default: 1 second
	ProgressEvery time.Duration
	// OnProgress receives snapshots while the copy runs and a final one
	// with Done set. default: none
	OnProgress func(Progress)
	// BatchTimeout bounds one batch (its reads and writes). default: 60 seconds
	BatchTimeout time.Duration

	// versions, when set, replaces the detected versions (tests simulate a
	// target older than the source with one redis-server binary).
	versions func(src, dst string) (string, string)
}

func (o *CopyOptions) defaults() {
	if o.Mode == "" {
		o.Mode = ModeAuto
	}
	if o.Match == "" {
		o.Match = "*"
	}
	if o.ScanCount <= 0 {
		o.ScanCount = 1000
	}
	if o.Workers <= 0 {
		o.Workers = 8
	}
	if o.BigKeyBytes == 0 {
		o.BigKeyBytes = 8 << 20
	}
	if o.BatchBytes <= 0 {
		o.BatchBytes = 16 << 20
	}
	if o.Chunk <= 0 {
		o.Chunk = 1000
	}
	if o.ProgressEvery <= 0 {
		o.ProgressEvery = time.Second
	}
	if o.BatchTimeout <= 0 {
		o.BatchTimeout = 60 * time.Second
	}
}

// Problem is one key that could not be copied, or one condition the
// operator must know about. Problems never stop a copy.
type Problem struct {
	// Shard is the source master's address.
	Shard string `json:"shard,omitempty"`
	// Key is the key concerned, if any.
	Key string `json:"key,omitempty"`
	// Kind classifies it: restore, module, unsupported, size-probe.
	Kind string `json:"kind"`
	// Err says what happened and what to do.
	Err string `json:"error"`
}

// CopyResult is the outcome of a copy.
type CopyResult struct {
	// Plan is the transfer method chosen and why.
	Plan Plan
	// Progress is the final snapshot.
	Progress Progress
	// Resumed is true when the copy continued from a checkpoint.
	Resumed bool
	// Problems lists the first maxProblems problems; Progress.Failed
	// counts them all.
	Problems []Problem
	// Evicted is how many keys the target evicted while the copy ran
	// (evicted_keys before and after, over every target master): copied
	// keys may be among them. TargetPolicy is the target's
	// maxmemory-policy ("" when CONFIG is refused).
	Evicted      int64  `json:"evicted"`
	TargetPolicy string `json:"target_policy,omitempty"`
}

const maxProblems = 100

// ErrInterrupted is returned (wrapped) when the copy stopped before the end
// because its context ended; the checkpoint, if any, holds the position.
var ErrInterrupted = errors.New("copy interrupted")

type copier struct {
	o        CopyOptions
	src, dst *Side
	plan     Plan
	absTTL   bool // expiry times travel as absolute times (see expiryClock)
	lim      *limiter
	start    time.Time
	total    int64
	shards   map[string]*shardProgress
	cp       *Checkpoint
	baseCopy int64

	scanned, copied, vanished, failed, bytes atomic.Int64
	noSizeProbe                              atomic.Bool

	// deleteGone makes a key missing on the source be deleted on the
	// target (Follow: the source deleted or expired it); deleted counts them.
	deleteGone bool
	deleted    atomic.Int64

	mu       sync.Mutex
	problems []Problem
}

type job struct {
	shard  Shard
	prog   *shardProgress
	seq    int
	keys   []string
	cursor uint64
}

// Copy copies every key matching o.Match from src to dst and returns when
// all shards are scanned, ctx ends (ErrInterrupted, resumable from the
// checkpoint) or a batch fails for good (e.g. the target is unreachable).
// Keys that cannot be copied one by one are reported in the result.
func Copy(ctx context.Context, src, dst *Side, o CopyOptions) (CopyResult, error) {
	o.defaults()
	if why := SameDeployment(src, dst); why != "" {
		return CopyResult{}, fmt.Errorf("%s: a copy onto itself would replace and delete source keys; give the target's own endpoint", why)
	}
	c := &copier{o: o, src: src, dst: dst, lim: newLimiter(o.MaxRate), start: time.Now(), shards: map[string]*shardProgress{}}
	sv, dv := src.Version, dst.Version
	if o.versions != nil {
		sv, dv = o.versions(sv, dv)
	}
	plan, err := choose(o.Mode, sv, dv)
	if err != nil {
		return CopyResult{}, err
	}
	c.plan = plan
	c.absTTL, c.plan.TTL = expiryClock(ctx, src, dst, sv, dv, "5.0")
	res := CopyResult{Plan: c.plan}
	if err := c.loadCheckpoint(&res); err != nil {
		return res, err
	}
	if c.total, err = src.DBSize(ctx); err != nil {
		return res, err
	}
	if o.Match != "*" {
		// DBSIZE counts every key, not those matching: no percentage or
		// ETA rather than a false one.
		c.total = 0
	}
	evictedBefore, policy, err := dst.Evictions(ctx)
	if err != nil {
		return res, err
	}
	res.TargetPolicy = policy

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan job, o.Workers)
	var failOnce sync.Once
	var runErr error
	fail := func(err error) {
		failOnce.Do(func() { runErr = err; cancel() })
	}
	var scanners, workers sync.WaitGroup
	for _, sh := range src.Shards {
		p := c.shards[sh.Addr]
		if p.state().Done {
			continue
		}
		scanners.Add(1)
		go func() {
			defer scanners.Done()
			if err := c.scan(ctx, sh, p, jobs); err != nil && ctx.Err() == nil {
				fail(err)
			}
		}()
	}
	for i := 0; i < o.Workers; i++ {
		workers.Add(1)
		go func() {
			defer workers.Done()
			for j := range jobs {
				if ctx.Err() != nil {
					continue // drain: unfinished pages stay uncommitted
				}
				if err := c.copyBatch(ctx, j.shard, j.keys); err != nil {
					if ctx.Err() == nil {
						fail(err)
					}
					continue
				}
				j.prog.pageDone(j.seq, j.cursor)
			}
		}()
	}
	stopReport := make(chan struct{})
	reported := make(chan struct{})
	go func() { defer close(reported); c.report(stopReport) }()
	scanners.Wait()
	close(jobs)
	workers.Wait()
	close(stopReport)
	<-reported

	if after, _, err := dst.Evictions(context.WithoutCancel(ctx)); err == nil && after > evictedBefore {
		res.Evicted = after - evictedBefore
		c.note(Problem{Kind: "eviction", Err: fmt.Sprintf(
			"the target evicted %d keys during the copy (maxmemory-policy %s): copied keys may be missing; give the target more memory or set maxmemory-policy noeviction, then copy again and compare", res.Evicted, policyName(policy))})
	}
	res.Progress = c.snapshot(0)
	res.Progress.Done = true
	res.Problems = c.problemList()
	if err := c.saveCheckpoint(); err != nil && runErr == nil {
		runErr = err
	}
	if o.OnProgress != nil {
		o.OnProgress(res.Progress)
	}
	if runErr != nil {
		return res, runErr
	}
	if err := ctx.Err(); err != nil || res.Progress.ShardsDone < res.Progress.Shards {
		return res, fmt.Errorf("%w after %d keys: run again with the same checkpoint to resume", ErrInterrupted, res.Progress.Copied)
	}
	return res, nil
}

func policyName(p string) string {
	if p == "" {
		return "unreadable"
	}
	return p
}

func (c *copier) loadCheckpoint(res *CopyResult) error {
	if c.o.Checkpoint != "" {
		cp, err := LoadCheckpoint(c.o.Checkpoint)
		if err != nil {
			return err
		}
		db := c.src.Shards[0].Client.Options().DB
		if cp != nil {
			if cp.Source != c.src.Addr || cp.Target != c.dst.Addr || cp.Match != c.o.Match || cp.DB != db {
				return fmt.Errorf("checkpoint %s is for %s db %d to %s, match %q; not %s db %d to %s, match %q: pass another --checkpoint or delete it",
					c.o.Checkpoint, cp.Source, cp.DB, cp.Target, cp.Match, c.src.Addr, db, c.dst.Addr, c.o.Match)
			}
			res.Resumed = true
			c.baseCopy = cp.Copied
			if c.o.Rescan {
				cp.Shards, cp.Copied, c.baseCopy = map[string]ShardCheckpoint{}, 0, 0
			}
		} else {
			cp = &Checkpoint{Source: c.src.Addr, Target: c.dst.Addr, Match: c.o.Match, DB: db, Shards: map[string]ShardCheckpoint{},
				TargetHadKeys: c.o.TargetHadKeys}
		}
		c.cp = cp
	}
	for _, sh := range c.src.Shards {
		var st ShardCheckpoint
		if c.cp != nil {
			st = c.cp.Shards[sh.Addr]
		}
		c.shards[sh.Addr] = newShardProgress(st)
	}
	return nil
}

func (c *copier) saveCheckpoint() error {
	if c.cp == nil {
		return nil
	}
	for addr, p := range c.shards {
		c.cp.Shards[addr] = p.state()
	}
	c.cp.Copied = c.baseCopy + c.copied.Load()
	return c.cp.Save(c.o.Checkpoint)
}

// scan pages through one shard from its checkpointed cursor.
func (c *copier) scan(ctx context.Context, sh Shard, p *shardProgress, jobs chan<- job) error {
	cursor := p.state().Cursor
	for {
		sctx, cancel := context.WithTimeout(ctx, c.o.BatchTimeout)
		keys, next, err := sh.Client.Scan(sctx, cursor, c.o.Match, int64(c.o.ScanCount)).Result()
		cancel()
		if err != nil {
			return fmt.Errorf("source %s: scan: %w", sh.Addr, err)
		}
		c.scanned.Add(int64(len(keys)))
		j := job{shard: sh, prog: p, seq: p.page(), keys: keys, cursor: next}
		select {
		case jobs <- j:
		case <-ctx.Done():
			return ctx.Err()
		}
		if next == 0 {
			return nil
		}
		cursor = next
	}
}

func (c *copier) report(stop <-chan struct{}) {
	t := time.NewTicker(c.o.ProgressEvery)
	defer t.Stop()
	last, lastAt := int64(0), c.start
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			done := c.copied.Load() + c.vanished.Load() + c.failed.Load()
			rate := float64(done-last) / now.Sub(lastAt).Seconds()
			last, lastAt = done, now
			if c.o.OnProgress != nil {
				c.o.OnProgress(c.snapshot(rate))
			}
			_ = c.saveCheckpoint() // a failed periodic save is retried next tick and reported at the end
		}
	}
}

func (c *copier) snapshot(rate float64) Progress {
	p := Progress{Elapsed: time.Since(c.start), Scanned: c.scanned.Load(), Copied: c.copied.Load(),
		Vanished: c.vanished.Load(), Failed: c.failed.Load(), Bytes: c.bytes.Load(), Total: c.total,
		Shards: len(c.src.Shards)}
	if rate == 0 && p.Elapsed > 0 {
		rate = float64(p.Copied+p.Vanished+p.Failed) / p.Elapsed.Seconds()
	}
	p.Rate = rate
	if left := p.Total - p.Copied - p.Vanished - p.Failed - c.baseCopy; rate > 0 && left > 0 {
		p.ETA = time.Duration(float64(left) / rate * float64(time.Second))
	}
	for _, s := range c.shards {
		if s.state().Done {
			p.ShardsDone++
		}
	}
	return p
}

func (c *copier) problem(p Problem) {
	c.failed.Add(1)
	c.note(p)
}

// note records a problem without counting a failed key.
func (c *copier) note(p Problem) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.problems) < maxProblems {
		c.problems = append(c.problems, p)
	}
}

func (c *copier) problemList() []Problem {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Problem(nil), c.problems...)
}

// copyBatch copies one scan page.
func (c *copier) copyBatch(ctx context.Context, sh Shard, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	if err := c.lim.wait(ctx, len(keys)); err != nil {
		return err
	}
	if c.plan.Mode == ModeTyped {
		for _, k := range keys {
			if err := c.copyOneTyped(ctx, sh, k); err != nil {
				return err
			}
		}
		return nil
	}
	bctx, cancel := context.WithTimeout(ctx, c.o.BatchTimeout)
	defer cancel()
	sizes, err := c.sizes(bctx, sh, keys)
	if err != nil {
		return err
	}
	var small, big, gone []string
	var smallBytes int64
	flush := func() error {
		if len(small) == 0 {
			return nil
		}
		err := c.dumpRestore(bctx, sh, small)
		small, smallBytes = small[:0], 0
		return err
	}
	for i, k := range keys {
		switch s := sizes[i]; {
		case s < 0:
			c.vanished.Add(1)
			gone = append(gone, k)
		case c.o.BigKeyBytes > 0 && s > c.o.BigKeyBytes:
			big = append(big, k)
		default:
			if smallBytes+s > c.o.BatchBytes {
				if err := flush(); err != nil {
					return err
				}
			}
			small, smallBytes = append(small, k), smallBytes+s
		}
	}
	if err := flush(); err != nil {
		return err
	}
	if err := c.deleteGoneKeys(bctx, gone); err != nil {
		return err
	}
	for _, k := range big {
		if err := c.copyOneTyped(ctx, sh, k); err != nil {
			return err
		}
	}
	return nil
}

// sizes returns MEMORY USAGE of each key: -1 for a key that no longer
// exists, 0 when the size cannot be probed (the probe is then turned off
// for the rest of the copy and the fact reported once).
func (c *copier) sizes(ctx context.Context, sh Shard, keys []string) ([]int64, error) {
	out := make([]int64, len(keys))
	if c.o.BigKeyBytes < 0 || c.noSizeProbe.Load() {
		return out, nil
	}
	pipe := sh.Client.Pipeline()
	cmds := make([]*redis.IntCmd, len(keys))
	for i, k := range keys {
		cmds[i] = pipe.MemoryUsage(ctx, k)
	}
	if _, err := pipe.Exec(ctx); err != nil && !isReplyError(err) {
		return nil, fmt.Errorf("source %s: memory usage: %w", sh.Addr, err)
	}
	for i, cmd := range cmds {
		n, err := cmd.Result()
		switch {
		case err == nil:
			out[i] = n
		case errors.Is(err, redis.Nil):
			out[i] = -1
		default:
			if c.noSizeProbe.CompareAndSwap(false, true) {
				c.note(Problem{Shard: sh.Addr, Kind: "size-probe", Err: fmt.Sprintf(
					"MEMORY USAGE refused (%v): big keys cannot be detected and are copied whole with DUMP; allow MEMORY USAGE for the copy user", err)})
			}
			return make([]int64, len(keys)), nil
		}
	}
	return out, nil
}

// dumpRestore copies keys with one pipeline of PTTL+DUMP on the source and
// one of RESTORE ... REPLACE on the target.
func (c *copier) dumpRestore(ctx context.Context, sh Shard, keys []string) error {
	pipe := sh.Client.Pipeline()
	ttls := make([]*redis.Cmd, len(keys))
	dumps := make([]*redis.StringCmd, len(keys))
	for i, k := range keys {
		ttls[i] = queueExpiry(ctx, pipe, k, c.absTTL)
		dumps[i] = pipe.Dump(ctx, k)
	}
	t0 := time.Now()
	if _, err := pipe.Exec(ctx); err != nil && !isReplyError(err) {
		return fmt.Errorf("source %s: dump: %w", sh.Addr, err)
	}
	tpipe := c.dst.Client.Pipeline()
	restores := make([]*redis.Cmd, len(keys))
	sizes := make([]int, len(keys))
	n, dels := 0, 0
	gone := func(k string) {
		c.vanished.Add(1)
		if c.deleteGone {
			tpipe.Del(ctx, k)
			n, dels = n+1, dels+1
		}
	}
	for i, k := range keys {
		payload, err := dumps[i].Result()
		if errors.Is(err, redis.Nil) {
			gone(k)
			continue
		}
		if err != nil {
			c.problem(Problem{Shard: sh.Addr, Key: k, Kind: "dump", Err: "source DUMP: " + err.Error()})
			continue
		}
		if err := ttls[i].Err(); err != nil {
			// An unreadable expiry is not a missing key: never treat it as
			// gone (Follow would delete the key on the target).
			c.problem(Problem{Shard: sh.Addr, Key: k, Kind: "dump", Err: "source expiry: " + err.Error()})
			continue
		}
		at, exists := expiryAt(ttls[i], c.absTTL, t0)
		args, ok := restoreArgs(k, payload, at, c.absTTL)
		if !exists || !ok {
			gone(k) // expired on the source meanwhile
			continue
		}
		restores[i] = tpipe.Do(ctx, args...)
		sizes[i] = len(payload)
		n++
	}
	if n == 0 {
		return nil
	}
	if _, err := tpipe.Exec(ctx); err != nil && !isReplyError(err) {
		return fmt.Errorf("target %s: restore: %w", c.dst.Addr, err)
	}
	c.deleted.Add(int64(dels))
	for i, r := range restores {
		if r == nil {
			continue
		}
		if err := r.Err(); err != nil {
			if err := c.restoreFailed(ctx, sh, keys[i], err); err != nil {
				return err
			}
			continue
		}
		c.copied.Add(1)
		c.bytes.Add(int64(sizes[i]))
	}
	return nil
}

// deleteGoneKeys deletes on the target keys gone from the source, when the
// copier follows deletions.
func (c *copier) deleteGoneKeys(ctx context.Context, keys []string) error {
	if !c.deleteGone || len(keys) == 0 {
		return nil
	}
	pipe := c.dst.Client.Pipeline()
	for _, k := range keys {
		pipe.Del(ctx, k)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("target %s: del: %w", c.dst.Addr, err)
	}
	c.deleted.Add(int64(len(keys)))
	return nil
}

// restoreFailed handles a key RESTORE refused: a payload from a newer
// version is copied type by type; anything else is reported.
func (c *copier) restoreFailed(ctx context.Context, sh Shard, key string, err error) error {
	msg := err.Error()
	if strings.Contains(msg, "payload version") {
		return c.copyOneTyped(ctx, sh, key)
	}
	typ, _ := sh.Client.Type(ctx, key).Result()
	kind, hint := "restore", ""
	if !isCoreType(typ) && typ != "" && typ != "none" {
		kind = "module"
		hint = fmt.Sprintf(": type %s belongs to a module; load the same module (and version) on the target, then copy again with --match for these keys", typ)
	}
	c.problem(Problem{Shard: sh.Addr, Key: key, Kind: kind, Err: "target RESTORE: " + msg + hint})
	return nil
}

func isCoreType(t string) bool {
	switch t {
	case "string", "hash", "list", "set", "zset", "stream":
		return true
	}
	return false
}

// isReplyError is true for a server's error reply (as opposed to a network
// or context failure): one key's error must not fail the whole batch.
func isReplyError(err error) bool {
	var re redis.Error
	return errors.As(err, &re)
}

// CopyKeys copies the given keys again from src to dst, and deletes on dst
// those the source no longer holds: the repair of the keys a compare found
// different. Problems are reported in the result as for Copy.
func CopyKeys(ctx context.Context, src, dst *Side, keys []string, o CopyOptions) (CopyResult, error) {
	o.defaults()
	if why := SameDeployment(src, dst); why != "" {
		return CopyResult{}, fmt.Errorf("%s: give the target's own endpoint", why)
	}
	c := &copier{o: o, src: src, dst: dst, lim: newLimiter(o.MaxRate), start: time.Now(), shards: map[string]*shardProgress{}, deleteGone: true}
	sv, dv := src.Version, dst.Version
	if o.versions != nil {
		sv, dv = o.versions(sv, dv)
	}
	plan, err := choose(o.Mode, sv, dv)
	if err != nil {
		return CopyResult{}, err
	}
	c.plan = plan
	c.absTTL, c.plan.TTL = expiryClock(ctx, src, dst, sv, dv, "5.0")
	byShard := make([][]string, len(src.Shards))
	for _, k := range keys {
		i, err := src.shardFor(ctx, k)
		if err != nil {
			return CopyResult{Plan: c.plan}, err
		}
		byShard[i] = append(byShard[i], k)
	}
	for i, ks := range byShard {
		for start := 0; start < len(ks); start += o.ScanCount {
			if err := c.copyBatch(ctx, src.Shards[i], ks[start:min(start+o.ScanCount, len(ks))]); err != nil {
				return CopyResult{Plan: c.plan, Progress: c.snapshot(0), Problems: c.problemList()}, err
			}
		}
	}
	res := CopyResult{Plan: c.plan, Progress: c.snapshot(0), Problems: c.problemList()}
	res.Progress.Done = true
	return res, nil
}
