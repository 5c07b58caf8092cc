package check

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Heartbeat is the value a primary's checker writes to <prefix>heartbeat on
// every write check. Replicas (in-region and across the Global Datastore)
// read it back: its age is the replication lag as the data path sees it, and
// its Seq advancing is the promoter's evidence that the primary still writes.
type Heartbeat struct {
	// Written is when the primary's checker wrote it (millisecond precision).
	Written time.Time
	// Region is the AWS region (or any name) of the writer. May be empty.
	Region string
	// Seq increases by one with each write of one checker process; a restart
	// starts again from a random base, so only "changed" is meaningful.
	Seq uint64
}

// MaxHeartbeatLen is the most a reader of the heartbeat key reads (STRLEN
// and GETRANGE 0 MaxHeartbeatLen-1 in one pipeline) and accepts: a signed
// heartbeat is at most about 100 bytes (13 + region + 20 + 32 and three
// spaces), so anything longer is not a checker's write, and a reader never
// allocates what an application chose to store under the key.
const MaxHeartbeatLen = 128

// macLen is the length of the signature on the wire: HMAC-SHA256 truncated
// to 128 bits (RFC 2104 §5 allows truncation to half the output), in hex.
const macLen = 32

// Errors of VerifyHeartbeat; they never carry the value read (an
// application may have written anything there).
var (
	// ErrHeartbeatUnsigned: a key is configured but the value carries no
	// signature (an older checker, or anyone with the Redis token).
	ErrHeartbeatUnsigned = errors.New("the heartbeat is not signed although a heartbeat key is configured: " +
		"not a checker's write (or the primary's checker runs without HEARTBEAT_KEY_SECRET_ARN)")
	// ErrHeartbeatForged: the signature does not verify with the key.
	ErrHeartbeatForged = errors.New("the heartbeat's signature does not verify: forged, or the checker and this reader " +
		"hold different heartbeat keys")
)

// String is the unsigned wire form: "<unix ms> <region> <seq>", or the bare
// unix milliseconds when Region is empty and Seq is 0 (the form older
// checkers wrote, which ParseHeartbeat still reads).
func (h Heartbeat) String() string {
	ms := strconv.FormatInt(h.Written.UnixMilli(), 10)
	if h.Region == "" && h.Seq == 0 {
		return ms
	}
	return h.base()
}

// base is "<unix ms> <region> <seq>", the signed part.
func (h Heartbeat) base() string {
	region := h.Region
	if region == "" {
		region = "-"
	}
	return strconv.FormatInt(h.Written.UnixMilli(), 10) + " " + region + " " + strconv.FormatUint(h.Seq, 10)
}

// Signed is the wire form a checker writes when it holds a heartbeat key:
// "<unix ms> <region> <seq> <mac>", mac the hex of HMAC-SHA256(key, "<unix
// ms> <region> <seq>") truncated to 128 bits. Without a key it is String.
func (h Heartbeat) Signed(key []byte) string {
	if len(key) == 0 {
		return h.String()
	}
	b := h.base()
	return b + " " + mac(key, b)
}

func mac(key []byte, msg string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return hex.EncodeToString(m.Sum(nil))[:macLen]
}

// ParseHeartbeat reads a heartbeat value in any wire form, without
// verifying a signature (see VerifyHeartbeat). Its errors never quote the
// value.
func ParseHeartbeat(s string) (Heartbeat, error) {
	if len(s) > MaxHeartbeatLen {
		return Heartbeat{}, fmt.Errorf("heartbeat of %d bytes, over the %d-byte cap: not a checker's write", len(s), MaxHeartbeatLen)
	}
	f := strings.Fields(s)
	if len(f) != 1 && len(f) != 3 && len(f) != 4 {
		return Heartbeat{}, errors.New(`heartbeat: want "<unix ms> <region> <seq> [<mac>]"`)
	}
	ms, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil || ms <= 0 {
		return Heartbeat{}, errors.New("heartbeat: the write time is not unix milliseconds")
	}
	if len(f) == 4 {
		if _, err := hex.DecodeString(f[3]); err != nil || len(f[3]) != macLen {
			return Heartbeat{}, errors.New("heartbeat: the signature is not 32 hex digits")
		}
	}
	h := Heartbeat{Written: time.UnixMilli(ms)}
	if len(f) >= 3 {
		if f[1] != "-" {
			h.Region = f[1]
		}
		if h.Seq, err = strconv.ParseUint(f[2], 10, 64); err != nil {
			return Heartbeat{}, errors.New("heartbeat: the sequence is not a number")
		}
	}
	return h, nil
}

// VerifyHeartbeat reads a heartbeat value and, when key is not empty,
// refuses it unless it carries a valid signature made with key (compared
// in constant time). Without a key it is ParseHeartbeat.
func VerifyHeartbeat(s string, key []byte) (Heartbeat, error) {
	h, err := ParseHeartbeat(s)
	if err != nil || len(key) == 0 {
		return h, err
	}
	f := strings.Fields(s)
	if len(f) != 4 {
		return Heartbeat{}, ErrHeartbeatUnsigned
	}
	// The signature is over the canonical base, so a value re-spaced or
	// with a region "-" spelled otherwise does not verify either.
	if !hmac.Equal([]byte(f[3]), []byte(mac(key, h.base()))) || strings.Join(f[:3], " ") != h.base() {
		return Heartbeat{}, ErrHeartbeatForged
	}
	return h, nil
}
