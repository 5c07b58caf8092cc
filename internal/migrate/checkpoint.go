package migrate

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Checkpoint is what a copy persists to resume after an interruption: per
// source shard, the SCAN cursor below which every key has been copied.
// Resuming rescans from that cursor; SCAN still returns every key that
// exists for the whole scan, and a key copied twice is simply replaced.
type Checkpoint struct {
	// Source and Target are the addresses the copy was started with.
	Source string `json:"source"`
	Target string `json:"target"`
	// Match is the SCAN MATCH pattern of the copy.
	Match string `json:"match"`
	// DB is the source database index.
	DB int `json:"db"`
	// Shards maps a source master's address to its progress.
	Shards map[string]ShardCheckpoint `json:"shards"`
	// Copied is the number of keys copied so far, over all runs.
	Copied int64 `json:"copied"`
	// TargetHadKeys records that the target held keys when the first run
	// began (CopyOptions.TargetHadKeys): a resume must then not delete
	// target keys the source lacks, since they may not be the source's.
	TargetHadKeys bool `json:"target_had_keys,omitempty"`
	// Updated is when the file was written.
	Updated time.Time `json:"updated"`
}

// ShardCheckpoint is one shard's resume point.
type ShardCheckpoint struct {
	// Cursor is the SCAN cursor to continue from (0 with Done false: not
	// started).
	Cursor uint64 `json:"cursor"`
	// Done is true when the shard's scan completed.
	Done bool `json:"done"`
}

// LoadCheckpoint reads a checkpoint file; a missing file is (nil, nil).
func LoadCheckpoint(path string) (*Checkpoint, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	var c Checkpoint
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("checkpoint %s is not a redisha copy checkpoint (%v): delete it or pass another --checkpoint", path, err)
	}
	if c.Shards == nil {
		c.Shards = map[string]ShardCheckpoint{}
	}
	return &c, nil
}

// Save writes the checkpoint atomically: a temporary file in the same
// directory, synced, then renamed over path, and the directory synced, so
// a crash leaves either the old or the new checkpoint, never a torn one.
func (c *Checkpoint) Save(path string) error {
	c.Updated = time.Now().UTC()
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after the rename
	if _, err = f.Write(append(b, '\n')); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		return fmt.Errorf("checkpoint %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}

// shardProgress tracks which scan pages of one shard are done, so the
// checkpoint only advances past a cursor once every page before it is
// copied (pages finish out of order across workers).
type shardProgress struct {
	mu        sync.Mutex
	committed uint64         // cursor to resume from
	done      bool           // every page done and the scan ended
	next      int            // sequence of the next page handed out
	commit    int            // sequence of the oldest unfinished page
	finished  map[int]uint64 // finished pages ahead of commit: seq -> cursor after it
}

func newShardProgress(cp ShardCheckpoint) *shardProgress {
	return &shardProgress{committed: cp.Cursor, done: cp.Done, finished: map[int]uint64{}}
}

// page registers a page about to be copied and returns its sequence.
func (p *shardProgress) page() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.next++
	return p.next - 1
}

// pageDone records that page seq, after which SCAN returned cursor, is copied.
func (p *shardProgress) pageDone(seq int, cursor uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.finished[seq] = cursor
	for {
		c, ok := p.finished[p.commit]
		if !ok {
			break
		}
		delete(p.finished, p.commit)
		p.commit++
		p.committed = c
		if c == 0 {
			p.done = true
		}
	}
}

func (p *shardProgress) state() ShardCheckpoint {
	p.mu.Lock()
	defer p.mu.Unlock()
	return ShardCheckpoint{Cursor: p.committed, Done: p.done}
}
