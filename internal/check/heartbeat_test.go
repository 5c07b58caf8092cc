package check

import (
	"errors"
	"strings"
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

func TestSignedHeartbeat(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	h := Heartbeat{Written: time.UnixMilli(1_790_000_000_123), Region: "eu-west-1", Seq: 42}
	s := h.Signed(key)
	if len(s) > MaxHeartbeatLen {
		t.Fatalf("signed heartbeat of %d bytes", len(s))
	}
	got, err := VerifyHeartbeat(s, key)
	if err != nil || !got.Written.Equal(h.Written) || got.Seq != 42 || got.Region != "eu-west-1" {
		t.Fatalf("verify %q: %+v %v", s, got, err)
	}
	// Readers without a key still read it.
	if got, err := ParseHeartbeat(s); err != nil || got.Seq != 42 {
		t.Fatalf("parse %q: %+v %v", s, got, err)
	}
	for name, tc := range map[string]struct {
		value string
		want  error
	}{
		"unsigned":         {h.String(), ErrHeartbeatUnsigned},
		"other key":        {h.Signed([]byte("another key of thirty-two bytes!")), ErrHeartbeatForged},
		"seq changed":      {Heartbeat{Written: h.Written, Region: h.Region, Seq: 43}.base() + s[len(h.base()):], ErrHeartbeatForged},
		"time moved ahead": {Heartbeat{Written: h.Written.Add(time.Hour), Region: h.Region, Seq: 42}.base() + s[len(h.base()):], ErrHeartbeatForged},
	} {
		if _, err := VerifyHeartbeat(tc.value, key); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
	if _, err := VerifyHeartbeat(strings.Repeat("1", 200), key); err == nil || strings.Contains(err.Error(), "111") {
		t.Errorf("oversized: %v (must be refused without echoing the value)", err)
	}
}
