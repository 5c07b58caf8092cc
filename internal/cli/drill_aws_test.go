package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/redisha/redisha/internal/drill"
)

// TestDrillAWSRefusesWithoutConfirmation: the plan is printed and nothing
// is called but the descriptions.
func TestDrillAWSRefusesWithoutConfirmation(t *testing.T) {
	bd := newGDSBed(t)
	env := map[string]string{"AWS_REGION": "us-west-2"}
	for _, extra := range [][]string{nil, {"--confirm", "ldgnf-other"}} {
		args := append(gdsArgs("drill", "--aws"), extra...)
		code, _, errOut := run(t, env, args...)
		if code != ExitUsage || !strings.Contains(errOut, "nothing done") ||
			!strings.Contains(errOut, "FailoverGlobalReplicationGroup through us-west-2's endpoint") {
			t.Fatalf("%v: exit %d\n%s", extra, code, errOut)
		}
	}
	for _, c := range bd.ec.Calls() {
		if c.Action == "FailoverGlobalReplicationGroup" {
			t.Fatal("the drill failed over without confirmation")
		}
	}
	if code, _, errOut := run(t, nil, "drill", "--confirm", gdsID); code != ExitUsage || !strings.Contains(errOut, "--confirm is a flag of --aws") {
		t.Fatalf("--confirm without --aws: exit %d\n%s", code, errOut)
	}
}

// TestDrillAWSPromotes runs the drill end to end against the local
// endpoints with --addr on region A's node itself (no DNS in front): the
// promotion goes through the real API and the applications then see A
// read-only, so the drill reports that redis.internal never moved.
func TestDrillAWSPromotes(t *testing.T) {
	bd := newGDSBed(t)
	env := map[string]string{"AWS_REGION": "us-west-2"}
	args := []string{"drill", "--aws", "--datastore", gdsID, "--addr", bd.a.Addr, "--timeout", "2s", "--confirm", gdsID,
		"--warm-up", "300ms", "--observe", "2s", "--settle", "100ms", "--interval", "20ms", "--probe-interval", "100ms", "--json", "--svg", "-"}
	code, out, errOut := run(t, env, args...)
	if code != ExitUnhealthy || !strings.Contains(errOut, "redis.internal never moved") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	var rep drill.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if rep.Promotion == nil || len(rep.Promotions) != 1 || rep.Promotions[0].To != "us-west-2" || rep.DNS != nil {
		t.Fatalf("report %+v", rep)
	}
	readOnly := 0
	for _, a := range rep.Apps {
		readOnly += a.Errors["readonly"]
	}
	if readOnly == 0 {
		t.Errorf("apps %+v: want READONLY answers from the demoted node", rep.Apps)
	}
	called := false
	for _, c := range bd.ec.Calls() {
		called = called || (c.Action == "FailoverGlobalReplicationGroup" && c.Region == "us-west-2")
	}
	if !called {
		t.Error("FailoverGlobalReplicationGroup was not called through us-west-2")
	}
}

// --list names the scenarios and every step a game-day file can use.
func TestDrillListNamesTheSteps(t *testing.T) {
	code, out, errOut := run(t, nil, "drill", "--list")
	if code != ExitOK || !strings.Contains(out, "region-lost") || !strings.Contains(out, "skew-clock") || !strings.Contains(out, "crash-promoter") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
}

// --apps names what it cannot run before the drill starts anything: an
// unknown language, or an example that is not where --examples says.
func TestDrillAppsRefusesWhatCannotRun(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--apps", "go,ruby"}, `"ruby" is not one of auto, or a list of go, python, node`},
		{[]string{"--apps", "go,node", "--examples", t.TempDir()}, "--apps node: stat "},
		{[]string{"--apps", "python", "--examples", t.TempDir()}, "--apps python: stat "},
	} {
		code, _, errOut := run(t, nil, append([]string{"drill"}, c.args...)...)
		if code != ExitUsage || !strings.Contains(errOut, c.want) {
			t.Errorf("drill %v: exit %d, want %d and %q in:\n%s", c.args, code, ExitUsage, c.want, errOut)
		}
	}
}
