package promoter_test

import (
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/redisha/redisha/internal/promoter"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func goodEnv() map[string]string {
	return map[string]string{
		"AWS_REGION": "us-west-2", "REDIS_ADDR": "master.redis-secondary.abc.usw2.cache.amazonaws.com:6379",
		"REDIS_AUTH_SECRET_ARN": "arn:aws:secretsmanager:us-west-2:1:secret:redis", "GLOBAL_DATASTORE_ID": "ldgnf-redisha",
		"REPLICATION_GROUP_ID": "redis-secondary", "PEER_REGION": "us-east-1", "PEER_WRITABLE_ALARM": "redisha-us-east-1-writable",
		"LATCH_TABLE": "redisha-promoter",
	}
}

func TestConfigDefaultsAndRoundTrip(t *testing.T) {
	c, err := promoter.ConfigFromEnv(env(goodEnv()))
	if err != nil {
		t.Fatal(err)
	}
	if c.Mode != promoter.ModeAdvise || c.Bounds.StallAfter != 3*time.Minute || c.Bounds.Cooldown != time.Hour ||
		c.Bounds.MaxDataLoss != 5*time.Second || c.KeyPrefix != "healthcheck:" || !c.Redis.TLS || c.PromoteTimeout != 5*time.Minute ||
		c.Bounds.PeerSeenWithin != 15*time.Minute || c.Environment()["PEER_SEEN_WITHIN"] != "15m0s" {
		t.Fatalf("defaults %+v", c)
	}
	e := c.Environment()
	if _, ok := e["AWS_REGION"]; ok {
		t.Error("Environment sets AWS_REGION, which Lambda reserves")
	}
	e["AWS_REGION"] = "us-west-2"
	back, err := promoter.ConfigFromEnv(env(e))
	if err != nil {
		t.Fatalf("environment %v does not load: %v", e, err)
	}
	if !maps.Equal(back.Environment(), c.Environment()) || back.Region != c.Region {
		t.Fatalf("round trip:\n%v\n%v", back.Environment(), c.Environment())
	}
}

func TestConfigErrorsNameTheVariable(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit map[string]string
		want []string
	}{
		{"required missing", map[string]string{"GLOBAL_DATASTORE_ID": "", "LATCH_TABLE": "", "PEER_WRITABLE_ALARM": ""},
			[]string{"GLOBAL_DATASTORE_ID is not set", "LATCH_TABLE is not set", "PEER_WRITABLE_ALARM is not set"}},
		{"peer is local", map[string]string{"PEER_REGION": "us-west-2"}, []string{`PEER_REGION="us-west-2" is the local region`}},
		{"mode", map[string]string{"PROMOTER_MODE": "yes"}, []string{`PROMOTER_MODE="yes": use off, advise or auto`}},
		{"duration", map[string]string{"COOLDOWN": "soon"}, []string{`COOLDOWN="soon": use a positive Go duration`}},
		{"stall under the interval", map[string]string{"STALL_AFTER": "20s"}, []string{"STALL_AFTER=20s is not over HEARTBEAT_INTERVAL=30s"}},
		{"peer window", map[string]string{"PEER_SEEN_WITHIN": "never"}, []string{`PEER_SEEN_WITHIN="never": use a positive Go duration`}},
		{"peer window under two heartbeats", map[string]string{"PEER_SEEN_WITHIN": "45s"},
			[]string{"PEER_SEEN_WITHIN=45s is under two heartbeat intervals (HEARTBEAT_INTERVAL=30s)", "use at least 1m0s"}},
		{"topic", map[string]string{"SNS_TOPIC_ARN": "pages"}, []string{"SNS_TOPIC_ARN=\"pages\": give the topic's ARN"}},
		{"checker's variables", map[string]string{"REDIS_ADDR": "", "REDIS_PASSWORD": "x"}, []string{"REDIS_ADDR is not set", "REDIS_PASSWORD is set"}},
		{"silent-region acceptance without a witness", map[string]string{"SILENT_MAX_DATA_LOSS": "45s"},
			[]string{"SILENT_MAX_DATA_LOSS=45s needs PEER_WITNESS"}},
		{"silent-region acceptance", map[string]string{"SILENT_MAX_DATA_LOSS": "-1s", "PEER_WITNESS": "w.internal"},
			[]string{`SILENT_MAX_DATA_LOSS="-1s": use a Go duration such as 45s, or 0`}},
		{"witness resolver", map[string]string{"WITNESS_RESOLVER": "10.0.0.2", "PEER_WITNESS": "w.internal"},
			[]string{`WITNESS_RESOLVER="10.0.0.2": give the DNS server as host:port`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := goodEnv()
			maps.Copy(e, tc.edit)
			_, err := promoter.ConfigFromEnv(env(e))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// CLUSTER_MODE is the checker's variable, read the same way: auto by
// default (left out of the environment), on or off given, and a bad value
// refused with the variable named.
func TestConfigClusterMode(t *testing.T) {
	e := goodEnv()
	c, err := promoter.ConfigFromEnv(env(e))
	if err != nil || c.ClusterMode != "auto" || c.Environment()["CLUSTER_MODE"] != "" {
		t.Fatalf("default: %q %v %v", c.ClusterMode, c.Environment()["CLUSTER_MODE"], err)
	}
	e["CLUSTER_MODE"] = "on"
	if c, err = promoter.ConfigFromEnv(env(e)); err != nil || c.ClusterMode != "on" || c.Environment()["CLUSTER_MODE"] != "on" {
		t.Fatalf("on: %q %v", c.ClusterMode, err)
	}
	e["CLUSTER_MODE"] = "sharded"
	if _, err = promoter.ConfigFromEnv(env(e)); err == nil || !strings.Contains(err.Error(), "CLUSTER_MODE") {
		t.Fatalf("a bad CLUSTER_MODE: %v", err)
	}
}

// The witness's variables round-trip, and a witness makes the runner ask
// it as the third observer.
func TestConfigWitness(t *testing.T) {
	e := goodEnv()
	e["PEER_WITNESS"], e["WITNESS_RESOLVER"], e["SILENT_MAX_DATA_LOSS"] = "us-east-1.witness.internal", "127.0.0.1:5353", "45s"
	c, err := promoter.ConfigFromEnv(env(e))
	if err != nil || c.PeerWitness != "us-east-1.witness.internal" || c.WitnessResolver != "127.0.0.1:5353" ||
		c.Bounds.SilentMaxDataLoss != 45*time.Second {
		t.Fatalf("%+v %v", c, err)
	}
	back := c.Environment()
	back["AWS_REGION"] = "us-west-2"
	if again, err := promoter.ConfigFromEnv(env(back)); err != nil || !maps.Equal(again.Environment(), c.Environment()) {
		t.Fatalf("round trip: %v %v", again.Environment(), err)
	}
	if r := c.Runner(promoter.Deps{}); r.Observer == nil {
		t.Fatal("a configured witness is not the runner's third observer")
	}
	if r := (promoter.Config{}).Runner(promoter.Deps{}); r.Observer != nil {
		t.Fatal("a runner without a witness has a third observer")
	}
}
