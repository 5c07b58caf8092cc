package drill

import (
	"strings"
	"testing"
	"time"
)

// Every built-in scenario is a file that parses, and says what it must show.
func TestBuiltinScenarioFiles(t *testing.T) {
	for _, name := range []string{"region-lost", "region-stalled", "primary-crash", "observers-partition", "link-broken",
		"stale-secondary", "cooldown", "switchover"} {
		sc, ok := Scenarios[name]
		if !ok || sc.Inject == nil || sc.Expect() == "" {
			t.Errorf("built-in scenario %s: %+v", name, sc)
		}
	}
	if sc := Scenarios["switchover"]; sc.ExpectPlanned != 2 || !sc.NoLoss || !sc.WritesAgain || sc.Observe != 30*time.Minute {
		t.Errorf("switchover read as %+v", sc)
	}
}

// A platform team's own file: every field read, and every mistake named
// with its file and line.
func TestScenarioFileErrorsNameTheLine(t *testing.T) {
	good := `name: link-then-region
title: replication link broken, then region A lost
observe: 15m
expect:
  promotions: 0
  refusal: data-loss
  max_lost: 10
  max_write_outage: 2m30s
steps:
  - {at: 0s, do: break-link}
  - {at: 2m, do: lose-region, region: a}
  - {at: 3m, do: fail-api, service: elasticache, count: 3}
  - {at: 3m, do: fail-api, service: elasticache, count: 1, error: invalid-state}
  - {at: 4m, do: partition, between: [promoter-b, cloudwatch-a]}
  - {at: 5m, do: partition, between: [redis-a, app-b]}
`
	sc, err := parseScenario("game-day.yaml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if sc.Observe != 15*time.Minute || sc.ExpectPromotion || sc.ExpectRefusal != "data-loss" || *sc.MaxLost != 10 ||
		sc.MaxWriteOutage != 150*time.Second {
		t.Errorf("read as %+v", sc)
	}
	for _, c := range []struct{ file, want string }{
		{"name: x\nsteps:\n  - {at: 0s, do: lose-regoin, region: a}\n", `game-day.yaml:3: step 1: do "lose-regoin" is unknown: use one of`},
		{"name: x\nsteps:\n  - {do: break-link}\n  - {at: soon, do: lose-region, region: c}\n", `game-day.yaml:4: at "soon"`},
		{"name: x\nsteps:\n  - {do: break-link}\n  - {at: 1m, do: lose-region, region: c}\n", `game-day.yaml:4: step 2: region "c"`},
		{"name: x\nsteps:\n  - {do: partition, between: [apps, moon]}\n", `game-day.yaml:3: step 1: between [apps moon]`},
		{"name: x\nsteps:\n  - {do: slow-link}\n", "game-day.yaml:3: step 1: slow-link needs delay"},
		{"name: x\nexpect:\n  promotions: 2\nsteps:\n  - {do: break-link}\n", "expect.promotions 2"},
		{"name: x\nsurprise: 1\nsteps:\n  - {do: break-link}\n", "game-day.yaml: yaml: unmarshal errors:\n  line 2: field surprise not found"},
		{"name: x\nsteps:\n  - {do: fail-api, service: sqs, count: 1}\n", `game-day.yaml:3: step 1: service "sqs"`},
		{"name: x\nsteps:\n  - {do: partition, between: [app-c, redis-a]}\n", `game-day.yaml:3: step 1: between [app-c redis-a]`},
		{"name: x\nexpect:\n  max_read_only_dns: -1s\nsteps:\n  - {do: break-link}\n", `expect.max_read_only_dns "-1s"`},
		{"name: x\nsteps:\n  - {do: skew-clock, region: b}\n", `game-day.yaml:3: step 1: skew-clock`},
		{"name: x\nsteps:\n  - {do: crash-promoter, region: b, when: sometime}\n", `game-day.yaml:3: step 1: crash-promoter`},
		{"name: x\nsteps:\n  - {do: fail-api, service: elasticache, count: 1, reply: lost}\n", `game-day.yaml:3: step 1: reply`},
		{"name: x\nsteps:\n  - {do: fail-api, service: dynamodb, count: 1, error: invalid-state}\n", `game-day.yaml:3: step 1: error "invalid-state"`},
	} {
		_, err := parseScenario("game-day.yaml", []byte(c.file))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want %q", c.file, err, c.want)
		}
	}
}
