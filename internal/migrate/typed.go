package migrate

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// tempKeySuffix names the target key a chunked copy builds before it is
// renamed over the real key, so readers never see half a value. A random
// part follows it: two copies of one key (a bulk copy and a follower in the
// same process) never share a temporary key.
const tempKeySuffix = ":redisha-migrate-tmp:"

// tempSafetyTTL expires a temporary key left by an interrupted copy.
const tempSafetyTTL = time.Hour

// streamValue reads the value of key (of type typ) in chunks and calls fn
// with each: a string as byte ranges of chunk KiB (one element per call); a
// hash as field, value pairs; a sorted set as member, score pairs; a list
// or set as elements. Hash, set and sorted set chunks come from HSCAN/SSCAN/
// ZSCAN and may repeat an element. A missing key yields no call except for
// strings, which yield one empty chunk.
func streamValue(ctx context.Context, c redis.Cmdable, key, typ string, chunk int, fn func(part []string) error) error {
	switch typ {
	case "string":
		size := int64(chunk) << 10
		for off := int64(0); ; off += size {
			s, err := c.GetRange(ctx, key, off, off+size-1).Result()
			if err != nil {
				return err
			}
			if s != "" || off == 0 {
				if err := fn([]string{s}); err != nil {
					return err
				}
			}
			if int64(len(s)) < size {
				return nil
			}
		}
	case "list":
		for start := int64(0); ; start += int64(chunk) {
			part, err := c.LRange(ctx, key, start, start+int64(chunk)-1).Result()
			if err != nil {
				return err
			}
			if len(part) > 0 {
				if err := fn(part); err != nil {
					return err
				}
			}
			if len(part) < chunk {
				return nil
			}
		}
	case "hash", "set", "zset":
		var cursor uint64
		for {
			var part []string
			var err error
			switch typ {
			case "hash":
				part, cursor, err = c.HScan(ctx, key, cursor, "", int64(chunk)).Result()
			case "set":
				part, cursor, err = c.SScan(ctx, key, cursor, "", int64(chunk)).Result()
			default:
				part, cursor, err = c.ZScan(ctx, key, cursor, "", int64(chunk)).Result()
			}
			if err != nil {
				return err
			}
			if len(part) > 0 {
				if err := fn(part); err != nil {
					return err
				}
			}
			if cursor == 0 {
				return nil
			}
		}
	}
	return fmt.Errorf("type %s cannot be read element by element", typ)
}

// typedCopyable lists the types the type-aware copy handles.
func typedCopyable(typ string) bool {
	switch typ {
	case "string", "hash", "list", "set", "zset":
		return true
	}
	return false
}

// hashTag is the part of a key that decides its cluster slot.
func hashTag(key string) string {
	if s := strings.IndexByte(key, '{'); s >= 0 {
		if e := strings.IndexByte(key[s+1:], '}'); e > 0 {
			return key[s+1 : s+1+e]
		}
	}
	return key
}

// tempKey names a fresh temporary target key for key, in the same cluster
// slot (RENAME needs both in one slot). The real key is never used as its
// own temporary: a rebuild in place would delete the target's good value
// first, and, on a target that is secretly the source, the source's.
func tempKey(key string) string {
	suffix := tempKeySuffix + strconv.FormatUint(rand.Uint64(), 36)
	tag := hashTag(key)
	if cand := "{" + tag + "}" + suffix; hashTag(cand) == tag {
		return cand
	}
	// The name's slot cannot be written as a hash tag of it (a '}' in the
	// name, or an empty "{}"): find a tag with the same slot instead.
	want := slot(key)
	for i := 0; ; i++ {
		t := "redisha-" + strconv.Itoa(i)
		if slot(t) == want {
			return "{" + t + "}" + suffix
		}
	}
}

// slot is the cluster slot of key: CRC16 (XMODEM) of its hash tag, mod 16384.
func slot(key string) uint16 {
	var crc uint16
	for _, b := range []byte(hashTag(key)) {
		crc ^= uint16(b) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc & 16383
}

// copyOneTyped copies one key element by element in chunks: for a target
// older than the source, and for keys too big for one DUMP. The value is
// built under a temporary key (expiring after an hour, should the copy be
// interrupted) and renamed over the key at the end with the key's TTL. A
// server's refusal is reported as a problem; a connection failure is
// returned.
func (c *copier) copyOneTyped(ctx context.Context, sh Shard, key string) error {
	pipe := sh.Client.Pipeline()
	typeCmd := pipe.Type(ctx, key)
	ttlCmd := queueExpiry(ctx, pipe, key, c.absTTL)
	t0 := time.Now()
	if _, err := pipe.Exec(ctx); err != nil && !isReplyError(err) {
		return fmt.Errorf("source %s: type: %w", sh.Addr, err)
	}
	typ := typeCmd.Val()
	switch {
	case typ == "none":
		c.vanished.Add(1)
		return c.deleteGoneKeys(ctx, []string{key})
	case !typedCopyable(typ) && c.plan.Mode == ModeDump:
		// A big stream (or module value) has no chunked path: DUMP it whole
		// rather than leave it behind.
		return c.dumpRestore(ctx, sh, []string{key})
	case !typedCopyable(typ):
		c.problem(Problem{Shard: sh.Addr, Key: key, Kind: "unsupported", Err: fmt.Sprintf(
			"type %s not copied: the type-aware copy handles strings, hashes, lists, sets and sorted sets only", typ)})
		return nil
	}
	if err := ttlCmd.Err(); err != nil {
		// An unreadable expiry is not a missing key: report it, delete nothing.
		return c.typedErr(sh, key, "read expiry", err)
	}
	w := c.dst.Client
	tmp := tempKey(key)
	if err := w.Del(ctx, tmp).Err(); err != nil {
		return c.typedErr(sh, key, "clear temporary key", err)
	}
	var written int64
	err := streamValue(ctx, sh.Client, key, typ, c.o.Chunk, func(part []string) error {
		p := w.Pipeline()
		args := make([]interface{}, 0, len(part)+2)
		switch typ {
		case "string":
			args = append(args, "APPEND", tmp, part[0])
		case "hash":
			args = append(args, "HSET", tmp)
		case "list":
			args = append(args, "RPUSH", tmp)
		case "set":
			args = append(args, "SADD", tmp)
		case "zset":
			args = append(args, "ZADD", tmp)
			for i := 0; i+1 < len(part); i += 2 {
				args = append(args, part[i+1], part[i]) // ZSCAN gives member, score
			}
		}
		if typ != "string" && typ != "zset" {
			for _, s := range part {
				args = append(args, s)
			}
		}
		for _, s := range part {
			written += int64(len(s))
		}
		p.Do(ctx, args...)
		p.PExpire(ctx, tmp, tempSafetyTTL)
		_, err := p.Exec(ctx)
		return err
	})
	if err != nil {
		return c.typedErr(sh, key, "chunked copy", err)
	}
	n, err := w.Exists(ctx, tmp).Result()
	if err != nil {
		return c.typedErr(sh, key, "exists", err)
	}
	if n == 0 { // the source key vanished before its first chunk
		c.vanished.Add(1)
		return c.deleteGoneKeys(ctx, []string{key})
	}
	at, exists := expiryAt(ttlCmd, c.absTTL, t0)
	expire, ok := expireArgs(tmp, at, c.absTTL)
	ok = ok && exists
	p := w.Pipeline()
	if ok {
		p.Do(ctx, expire...)
	} else {
		p.Del(ctx, tmp) // expired on the source meanwhile: drop our own temporary key
	}
	if ok {
		p.Rename(ctx, tmp, key)
	}
	if _, err := p.Exec(ctx); err != nil {
		return c.typedErr(sh, key, "finish", err)
	}
	if !ok {
		c.vanished.Add(1)
		return c.deleteGoneKeys(ctx, []string{key})
	}
	c.copied.Add(1)
	c.bytes.Add(written)
	return nil
}

func (c *copier) typedErr(sh Shard, key, step string, err error) error {
	if isReplyError(err) && !errors.Is(err, redis.Nil) {
		c.problem(Problem{Shard: sh.Addr, Key: key, Kind: "restore", Err: fmt.Sprintf("type-aware copy, %s: %v", step, err)})
		return nil
	}
	return fmt.Errorf("copy %q (%s): %w", key, step, err)
}
