package config

import (
	"testing"
	"time"

	"github.com/redisha/redisha/internal/redisconn"
)

// envFor names the variable behind each field redisconn validates, from the
// typed error, not its message.
func TestEnvForField(t *testing.T) {
	cases := []struct {
		cfg  redisconn.Config
		want string
	}{
		{redisconn.Config{Addr: "nohostport"}, EnvAddr},
		{redisconn.Config{Addr: "h:1", DB: -1}, EnvDB},
		{redisconn.Config{Addr: "h:1", TLSServerName: "x"}, EnvTLSServerName},
		{redisconn.Config{Addr: "h:1", TLSCAFile: "x"}, EnvTLSCAFile},
		{redisconn.Config{Addr: "h:1", IOTimeout: -time.Second}, EnvCheckTimeout},
	}
	for _, tc := range cases {
		err := tc.cfg.Validate()
		if err == nil {
			t.Fatalf("%+v: valid", tc.cfg)
		}
		if got := envFor(err); got != tc.want {
			t.Errorf("%v: envFor = %s, want %s", err, got, tc.want)
		}
	}
}
