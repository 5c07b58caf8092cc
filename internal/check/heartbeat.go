package check

import (
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

// String is the wire form: "<unix ms> <region> <seq>", or the bare unix
// milliseconds when Region is empty and Seq is 0 (the form older checkers
// wrote, which ParseHeartbeat still reads).
func (h Heartbeat) String() string {
	ms := strconv.FormatInt(h.Written.UnixMilli(), 10)
	if h.Region == "" && h.Seq == 0 {
		return ms
	}
	region := h.Region
	if region == "" {
		region = "-"
	}
	return ms + " " + region + " " + strconv.FormatUint(h.Seq, 10)
}

// ParseHeartbeat reads a heartbeat value in either wire form.
func ParseHeartbeat(s string) (Heartbeat, error) {
	f := strings.Fields(s)
	if len(f) != 1 && len(f) != 3 {
		return Heartbeat{}, fmt.Errorf("heartbeat %q: want \"<unix ms> <region> <seq>\"", s)
	}
	ms, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil || ms <= 0 {
		return Heartbeat{}, fmt.Errorf("heartbeat %q: write time is not unix milliseconds", s)
	}
	h := Heartbeat{Written: time.UnixMilli(ms)}
	if len(f) == 3 {
		if f[1] != "-" {
			h.Region = f[1]
		}
		if h.Seq, err = strconv.ParseUint(f[2], 10, 64); err != nil {
			return Heartbeat{}, fmt.Errorf("heartbeat %q: sequence is not a number", s)
		}
	}
	return h, nil
}
