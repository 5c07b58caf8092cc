package migrate

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// maxClockSkew is how far apart the two servers' clocks may be for expiry
// times to travel as absolute times.
const maxClockSkew = 10 * time.Millisecond

// expiryClock decides how expiry times travel. Absolute (PEXPIRETIME on the
// source, Redis 7.0+; RESTORE ... ABSTTL / PEXPIREAT on the target) is exact
// whatever the latency of a batch, provided both servers' clocks agree (on
// AWS both follow the Amazon Time Sync Service); relative (PTTL, then the
// time left when the write is sent) is off by up to one batch's round trip,
// never late. needTarget is the version the target must have for absolute
// times (5.0 for ABSTTL; 7.0 when the target is read with PEXPIRETIME too).
func expiryClock(ctx context.Context, src, dst *Side, srcVersion, dstVersion, needTarget string) (abs bool, why string) {
	if !versionAtLeast(srcVersion, "7.0") || !versionAtLeast(dstVersion, needTarget) {
		return false, fmt.Sprintf("TTLs relative (PTTL): absolute times need source 7.0+ and target %s+", needTarget)
	}
	skew, err := clockSkew(ctx, src.Shards[0].Client, dst.Shards[0].Client)
	if err != nil {
		return false, fmt.Sprintf("TTLs relative (PTTL): server clocks not comparable (%v)", err)
	}
	if skew > maxClockSkew || skew < -maxClockSkew {
		return false, fmt.Sprintf("TTLs relative (PTTL): the servers' clocks are %s apart", skew.Round(time.Millisecond))
	}
	return true, fmt.Sprintf("TTLs as absolute times (PEXPIRETIME, RESTORE ABSTTL): server clocks %s apart", skew.Round(100*time.Microsecond))
}

// clockSkew estimates b's clock minus a's, from TIME on each, each reading
// placed at the middle of its round trip.
func clockSkew(ctx context.Context, a, b *redis.Client) (time.Duration, error) {
	var best time.Duration
	bestRTT := time.Duration(1<<63 - 1)
	for i := 0; i < 3; i++ {
		t0 := time.Now()
		ta, err := a.Time(ctx).Result()
		if err != nil {
			return 0, err
		}
		t1 := time.Now()
		tb, err := b.Time(ctx).Result()
		if err != nil {
			return 0, err
		}
		t2 := time.Now()
		offA := ta.Sub(t0.Add(t1.Sub(t0) / 2))
		offB := tb.Sub(t1.Add(t2.Sub(t1) / 2))
		if rtt := t2.Sub(t0); rtt < bestRTT {
			bestRTT, best = rtt, offB-offA
		}
	}
	return best, nil
}

// versionAtLeast compares major.minor of a redis_version with want.
func versionAtLeast(have, want string) bool {
	h, okH := majorMinor(have)
	w, okW := majorMinor(want)
	return okH && okW && h >= w
}

func majorMinor(v string) (int, bool) {
	p := strings.SplitN(v, ".", 3)
	if len(p) < 2 {
		return 0, false
	}
	major, err1 := strconv.Atoi(p[0])
	minor, err2 := strconv.Atoi(p[1])
	return major*1000 + minor, err1 == nil && err2 == nil
}

// queueExpiry adds the expiry read of key to a pipeline.
func queueExpiry(ctx context.Context, p redis.Pipeliner, key string, abs bool) *redis.Cmd {
	if abs {
		return p.Do(ctx, "PEXPIRETIME", key)
	}
	return p.Do(ctx, "PTTL", key)
}

// expiryAt reads a queued expiry: exists is false for a missing key; at is
// the zero time for a key without expiry. A relative reading is placed at
// t0, the time the request was sent: early by at most the round trip.
func expiryAt(cmd *redis.Cmd, abs bool, t0 time.Time) (at time.Time, exists bool) {
	v, err := cmd.Int64()
	switch {
	case err != nil || v == -2:
		return time.Time{}, false
	case v < 0:
		return time.Time{}, true
	case abs:
		return time.UnixMilli(v), true
	}
	return t0.Add(time.Duration(v) * time.Millisecond), true
}

// restoreArgs is the RESTORE command for a key expiring at at (zero: never);
// ok is false when it has expired already (nothing to restore).
func restoreArgs(key, payload string, at time.Time, abs bool) (args []interface{}, ok bool) {
	if at.IsZero() {
		return []interface{}{"RESTORE", key, 0, payload, "REPLACE"}, true
	}
	left := time.Until(at).Truncate(time.Millisecond)
	if left < time.Millisecond {
		return nil, false // RESTORE with 0 would make it persistent
	}
	if abs {
		return []interface{}{"RESTORE", key, at.UnixMilli(), payload, "REPLACE", "ABSTTL"}, true
	}
	return []interface{}{"RESTORE", key, left.Milliseconds(), payload, "REPLACE"}, true
}

// expireArgs sets the expiry of a key built by the type-aware copy; ok is
// false when it has expired already.
func expireArgs(key string, at time.Time, abs bool) (args []interface{}, ok bool) {
	if at.IsZero() {
		return []interface{}{"PERSIST", key}, true
	}
	left := time.Until(at).Truncate(time.Millisecond)
	if left < time.Millisecond {
		return nil, false
	}
	if abs {
		return []interface{}{"PEXPIREAT", key, at.UnixMilli()}, true
	}
	return []interface{}{"PEXPIRE", key, left.Milliseconds()}, true
}
