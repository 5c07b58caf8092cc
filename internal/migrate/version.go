package migrate

import (
	"fmt"
	"strconv"
	"strings"
)

// Mode is how values travel from source to target.
type Mode string

const (
	// ModeAuto uses DUMP/RESTORE when the target can read the source's
	// DUMP payloads, else the type-aware copy.
	ModeAuto Mode = "auto"
	// ModeDump always uses DUMP/RESTORE and refuses a target older than
	// the source.
	ModeDump Mode = "dump"
	// ModeTyped always uses the type-aware copy (GET/HSCAN/SSCAN/ZSCAN/
	// LRANGE on the source, SET/HSET/SADD/ZADD/RPUSH on the target).
	ModeTyped Mode = "typed"
)

// ParseMode checks a mode name.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case ModeAuto, ModeDump, ModeTyped:
		return m, nil
	case "":
		return ModeAuto, nil
	}
	return "", fmt.Errorf("mode %q is unknown: use auto, dump or typed", s)
}

// rdbVersion is the RDB (and DUMP payload) version a Redis release writes
// and the highest it accepts in RESTORE. ok is false when the version string
// cannot be read. Releases newer than the table are taken as the newest
// known (the target may accept more; the source may write more: RESTORE's
// own check still runs, and a refused payload falls back per key).
func rdbVersion(redisVersion string) (v int, ok bool) {
	parts := strings.SplitN(redisVersion, ".", 3)
	if len(parts) < 2 {
		return 0, false
	}
	major, err1 := strconv.Atoi(parts[0])
	minor, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil {
		return 0, false
	}
	mm := major*100 + minor
	switch {
	case mm < 206:
		return 0, true // no DUMP/RESTORE at all
	case mm < 302:
		return 6, true
	case mm < 400:
		return 7, true
	case mm < 500:
		return 8, true
	case mm < 700:
		return 9, true
	case mm < 702:
		return 10, true
	case mm < 704:
		return 11, true
	default:
		return 12, true
	}
}

// Plan is the decision taken before a copy starts.
type Plan struct {
	// Mode is ModeDump or ModeTyped.
	Mode Mode `json:"mode"`
	// Reason explains the choice in one sentence.
	Reason string `json:"reason"`
	// TTL says how expiry times travel and why.
	TTL string `json:"ttl"`
}

// choose picks DUMP/RESTORE or the type-aware copy from both versions, or
// refuses with the reason.
func choose(want Mode, srcVersion, dstVersion string) (Plan, error) {
	if want == ModeTyped {
		return Plan{Mode: ModeTyped, Reason: "type-aware copy requested"}, nil
	}
	src, ok1 := rdbVersion(srcVersion)
	dst, ok2 := rdbVersion(dstVersion)
	switch {
	case !ok1 || !ok2:
		if want == ModeDump {
			return Plan{Mode: ModeDump, Reason: fmt.Sprintf("versions unreadable (source %q, target %q): DUMP/RESTORE as requested", srcVersion, dstVersion)}, nil
		}
		return Plan{Mode: ModeTyped, Reason: fmt.Sprintf("versions unreadable (source %q, target %q): type-aware copy, which any version accepts", srcVersion, dstVersion)}, nil
	case src == 0 || dst == 0:
		if want == ModeDump {
			return Plan{}, fmt.Errorf("mode dump: source %s or target %s predates DUMP/RESTORE (2.6): use --mode typed", srcVersion, dstVersion)
		}
		return Plan{Mode: ModeTyped, Reason: "a side predates DUMP/RESTORE (2.6): type-aware copy"}, nil
	case src > dst:
		reason := fmt.Sprintf("target %s (DUMP payload v%d) is older than source %s (v%d): RESTORE would fail with \"DUMP payload version or checksum are wrong\"", dstVersion, dst, srcVersion, src)
		if want == ModeDump {
			return Plan{}, fmt.Errorf("mode dump refused: %s; upgrade the target or use --mode auto/typed (type-aware copy: strings, hashes, lists, sets, sorted sets; no streams or module types)", reason)
		}
		return Plan{Mode: ModeTyped, Reason: reason + "; using the type-aware copy"}, nil
	}
	return Plan{Mode: ModeDump, Reason: fmt.Sprintf("target %s (DUMP payload v%d) reads source %s payloads (v%d): DUMP/RESTORE", dstVersion, dst, srcVersion, src)}, nil
}
