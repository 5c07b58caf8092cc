package check

import (
	"testing"
	"time"
)

func TestHeartbeatRoundTrip(t *testing.T) {
	at := time.UnixMilli(1_790_000_000_123)
	for _, h := range []Heartbeat{
		{Written: at},
		{Written: at, Region: "eu-west-1", Seq: 42},
		{Written: at, Seq: 7},
	} {
		got, err := ParseHeartbeat(h.String())
		if err != nil {
			t.Fatalf("%q: %v", h.String(), err)
		}
		if !got.Written.Equal(h.Written) || got.Region != h.Region || got.Seq != h.Seq {
			t.Errorf("%q read back as %+v, want %+v", h.String(), got, h)
		}
	}
}

func TestParseHeartbeatRejects(t *testing.T) {
	for _, s := range []string{"", "abc", "0", "123 eu-west-1", "123 eu-west-1 x", "1 2 3 4"} {
		if _, err := ParseHeartbeat(s); err == nil {
			t.Errorf("ParseHeartbeat(%q) accepted it", s)
		}
	}
}
