package migrate

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"strconv"

	"github.com/cespare/xxhash/v2"
	"github.com/redis/go-redis/v9"
)

// digester hashes a value incrementally, type by type, so equal values give
// equal digests whatever their encoding or server version (a DUMP payload
// differs between versions and encodings, so it cannot be compared).
// Lists and strings hash in order; hashes, sets and sorted sets sum one hash
// per element, so the order the server returns them in does not matter.
type digester struct {
	typ     string
	ordered *xxhash.Digest
	sum     uint64
	n       int64
	// seen drops elements SCAN returned twice; nil when the value came in
	// one reply (no repeats possible).
	seen map[uint64]struct{}
}

func newDigester(typ string, streamed bool) *digester {
	d := &digester{typ: typ}
	switch typ {
	case "string", "list":
		d.ordered = xxhash.New()
	default:
		if streamed {
			d.seen = map[uint64]struct{}{}
		}
	}
	return d
}

// add takes one chunk in streamValue's layout.
func (d *digester) add(part []string) {
	switch d.typ {
	case "string":
		for _, s := range part {
			_, _ = d.ordered.WriteString(s)
			d.n += int64(len(s))
		}
	case "list":
		var l [8]byte
		for _, s := range part {
			binary.LittleEndian.PutUint64(l[:], uint64(len(s)))
			_, _ = d.ordered.Write(l[:])
			_, _ = d.ordered.WriteString(s)
			d.n++
		}
	case "set":
		for _, s := range part {
			d.element(s, "")
		}
	case "hash":
		for i := 0; i+1 < len(part); i += 2 {
			d.element(part[i], part[i+1])
		}
	case "zset":
		for i := 0; i+1 < len(part); i += 2 {
			// Versions format the same score differently ("0.1" vs
			// "0.10000000000000001"): compare the number.
			f, err := strconv.ParseFloat(part[i+1], 64)
			score := part[i+1]
			if err == nil {
				score = strconv.FormatUint(math.Float64bits(f), 16)
			}
			d.element(part[i], score)
		}
	}
}

func (d *digester) element(name, value string) {
	h := xxhash.Sum64String(name)
	if d.seen != nil {
		if _, dup := d.seen[h]; dup {
			return
		}
		d.seen[h] = struct{}{}
	}
	x := xxhash.New()
	var l [8]byte
	binary.LittleEndian.PutUint64(l[:], uint64(len(name)))
	_, _ = x.Write(l[:])
	_, _ = x.WriteString(name)
	_, _ = x.WriteString(value)
	d.sum += x.Sum64()
	d.n++
}

// String is the digest and the element count (bytes for a string).
func (d *digester) String() string {
	s := d.sum
	if d.ordered != nil {
		s = d.ordered.Sum64()
	}
	return fmt.Sprintf("%016x/%d", s, d.n)
}

// streamDigest hashes a stream as data: every entry (id, fields and values
// in order), the last generated id (XSETID, deleted tails), and each
// consumer group's name, last delivered id and pending entries (id and
// consumer; idle times and delivery counts differ by nature). The count
// after the slash is the number of entries.
func streamDigest(ctx context.Context, c redis.Cmdable, key string, chunk int) (string, error) {
	do, ok := c.(interface {
		Do(ctx context.Context, args ...interface{}) *redis.Cmd
	})
	if !ok {
		return "", fmt.Errorf("stream %q: client cannot send XRANGE", key)
	}
	h := xxhash.New()
	var n int64
	write := func(s string) {
		var l [8]byte
		binary.LittleEndian.PutUint64(l[:], uint64(len(s)))
		_, _ = h.Write(l[:])
		_, _ = h.WriteString(s)
	}
	for start := "-"; ; {
		v, err := do.Do(ctx, "XRANGE", key, start, "+", "COUNT", chunk).Slice()
		if err != nil {
			return "", err
		}
		for _, e := range v {
			entry, _ := e.([]interface{})
			if len(entry) != 2 {
				return "", fmt.Errorf("stream %q: unexpected XRANGE entry %v", key, e)
			}
			id, _ := entry[0].(string)
			write(id)
			fields, _ := entry[1].([]interface{})
			for _, f := range fields {
				s, _ := f.(string)
				write(s)
			}
			n++
			start = "(" + id
		}
		if len(v) < chunk {
			break
		}
	}
	info, err := c.XInfoStream(ctx, key).Result()
	if err != nil {
		return "", err
	}
	write("last:" + info.LastGeneratedID)
	groups, err := c.XInfoGroups(ctx, key).Result()
	if err != nil {
		return "", err
	}
	for _, g := range groups {
		write("group:" + g.Name + " " + g.LastDeliveredID + " " + strconv.FormatInt(g.Pending, 10))
		for start := "-"; ; {
			p, err := c.XPendingExt(ctx, &redis.XPendingExtArgs{Stream: key, Group: g.Name, Start: start, End: "+", Count: int64(chunk)}).Result()
			if err != nil {
				return "", err
			}
			for _, e := range p {
				write(e.ID + " " + e.Consumer)
				start = "(" + e.ID
			}
			if len(p) < chunk {
				break
			}
		}
	}
	return fmt.Sprintf("%016x/%d", h.Sum64(), n), nil
}
