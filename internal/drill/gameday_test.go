package drill

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redisha/redisha/internal/deployment"
)

// The example game-day files (examples/game-day), each one of the guards'
// failure classes, pass on the default deployment (advise: the on-call
// decides after the page) and, where the promoter itself would act, in
// auto.
func TestGameDayExamples(t *testing.T) {
	files, err := filepath.Glob("../../examples/game-day/*.yaml")
	if err != nil || len(files) < 5 {
		t.Fatalf("example files: %v %v", files, err)
	}
	// auto: where the promoter itself would act, and the two cases auto
	// once got wrong (a stale secondary, a partition).
	auto := map[string]bool{"failed-attempt": true, "undemoted-return": true, "promoter-crash": true, "clock-ahead": true, "clock-behind": true,
		"link-then-region": true, "partition": true}
	for _, f := range files {
		sc, err := LoadScenario(f)
		if err != nil {
			t.Fatal(err)
		}
		modes := []string{"advise"}
		if auto[sc.Name] {
			modes = append(modes, "auto")
		}
		for _, mode := range modes {
			t.Run(sc.Name+"/"+mode, func(t *testing.T) {
				rep := runScenarioFile(t, sc, modelOf(t, map[string]any{"promoterMode": mode}))
				if sc.Name == "undemoted-return" && rep.OldPrimaryInDNS != 0 {
					t.Errorf("old primary in DNS for %.0fs", rep.OldPrimaryInDNS)
				}
			})
		}
	}
}

// runScenarioFile runs a loaded scenario at 60× on a deployment.
func runScenarioFile(t *testing.T, sc Scenario, dep deployment.Deployment) *Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	logs := &syncWriter{w: &bytes.Buffer{}}
	defer func() { t.Log(logs.String()) }()
	rep, err := Run(ctx, Config{Bootstrap: bootstrapPath, Deployment: dep, Speed: 60, OperatorReaction: time.Minute, Logs: logs}, sc, "")
	if err != nil {
		t.Fatal(err)
	}
	rep.WriteTable(logs)
	if !rep.Passed {
		t.Errorf("%s: %s", sc.Name, strings.Join(rep.Problems, "; "))
	}
	return rep
}
