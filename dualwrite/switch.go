package dualwrite

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Switch is the killswitch for reads: Client returns the new deployment's
// client while the flag is on, the old one otherwise. Flipping the flag
// takes effect on the next call; no connection is closed or opened.
type Switch struct {
	old, new redis.UniversalClient
	useNew   func() bool
}

// NewSwitch returns a Switch reading useNew on every call, so it must be
// cheap (an atomic load: Flag.Load, or a value another goroutine refreshes).
func NewSwitch(old, new redis.UniversalClient, useNew func() bool) *Switch {
	return &Switch{old: old, new: new, useNew: useNew}
}

// Client is the client reads should use now.
func (s *Switch) Client() redis.UniversalClient {
	if s.useNew() {
		return s.new
	}
	return s.old
}

// UsingNew reports the flag's current value.
func (s *Switch) UsingNew() bool { return s.useNew() }

// Flag is a switch value safe for concurrent use; its Load method is a
// useNew function for NewSwitch.
type Flag struct{ atomic.Bool }

// WatchFile sets flag from the file at path every period until ctx ends:
// "1", "true", "on" or "new" (any case, surrounding space ignored) turn it
// on; "0", "false", "off", "old" or a missing file turn it off. Anything
// else, an empty file included, leaves the flag as it is and is passed to
// onErr (which may be nil), so a half-written file never flips reads. It reads the file
// once before returning, so the flag is right from the start.
func WatchFile(ctx context.Context, path string, period time.Duration, flag *Flag, onErr func(error)) {
	if period <= 0 {
		period = time.Second
	}
	read := func() {
		on, err := readFlagFile(path)
		if err != nil {
			if onErr != nil {
				onErr(err)
			}
			return
		}
		flag.Store(on)
	}
	read()
	go func() {
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				read()
			}
		}
	}()
}

func readFlagFile(path string) (bool, error) {
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("dualwrite: read switch file: %w", err)
	}
	switch v := string(bytes.ToLower(bytes.TrimSpace(b))); v {
	case "1", "true", "on", "new":
		return true, nil
	case "0", "false", "off", "old":
		return false, nil
	default:
		if on, err := strconv.ParseBool(v); err == nil {
			return on, nil
		}
		return false, fmt.Errorf("dualwrite: switch file %s holds %q: write new or old (true/false)", path, v)
	}
}
