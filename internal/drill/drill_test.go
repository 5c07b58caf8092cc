package drill

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redisha/redisha/internal/deployment"
	"github.com/redisha/redisha/internal/redisconn"
)

var bootstrapPath string

// TestMain builds the checker Lambda binary once, as `make drill` does.
func TestMain(m *testing.M) {
	// A region that is down makes go-redis log every failed dial: thousands
	// of lines that bury the test's own output.
	redisconn.QuietGoRedisLogger()
	dir, err := os.MkdirTemp("", "redisha-drill-")
	if err != nil {
		panic(err)
	}
	bootstrapPath = filepath.Join(dir, "bootstrap")
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", bootstrapPath, "../../lambda")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		panic("build the checker: " + err.Error() + "\n" + string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// modelOf is the deployment a CDK context describes (deployment.New: the
// same model the stacks render), the fixture of these tests; the tests in
// infra/ rehearse the synthesized templates themselves.
func modelOf(t *testing.T, ctx map[string]any) deployment.Deployment {
	t.Helper()
	s, err := deployment.Load(func(k string) any { return ctx[k] }, "123456789012")
	if err != nil {
		t.Fatal(err)
	}
	return deployment.New(s)
}

// runScenario runs a scenario at a high speed on the default deployment
// (advise mode, no NAT: the promoter pages, the on-call fails over a minute
// later) and fails on any broken expectation.
func runScenario(t *testing.T, name string, speed float64) *Report {
	t.Helper()
	return runScenarioOn(t, name, speed, modelOf(t, nil))
}

// runScenarioOn runs a scenario on a deployment.
func runScenarioOn(t *testing.T, name string, speed float64, dep deployment.Deployment, programs ...Program) *Report {
	t.Helper()
	sc, ok := Scenarios[name]
	if !ok {
		t.Fatalf("no scenario %s", name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	logs := &syncWriter{w: &bytes.Buffer{}}
	defer func() { t.Log(logs.String()) }()
	rep, err := Run(ctx, Config{Bootstrap: bootstrapPath, Deployment: dep, Speed: speed, OperatorReaction: time.Minute, Logs: logs,
		Programs: programs}, sc,
		filepath.Join(t.TempDir(), "timeline.svg"))
	if err != nil {
		t.Fatal(err)
	}
	rep.WriteTable(logs)
	if !rep.Passed {
		t.Errorf("%s: %v", name, rep.Problems)
	}
	return rep
}

type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.String()
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// Region A lost, with the Python (redis-py) and Node (ioredis) example
// programs writing beside the Go applications: every one of them is in the
// report, loses nothing acknowledged and writes again (runScenario checks
// the scenario's expectations for every application).
func TestScenarioRegionLost(t *testing.T) {
	var programs []Program
	for _, name := range []string{"python", "node"} {
		p, err := ExampleProgram(name, filepath.Join("..", "..", "examples"))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		programs = append(programs, p)
	}
	rep := runScenarioOn(t, "region-lost", 60, modelOf(t, nil), programs...)
	if rep.Promotion == nil || rep.DNS == nil {
		t.Fatalf("no promotion or DNS change: %+v", rep)
	}
	seen := map[string]bool{}
	for _, a := range rep.Apps {
		seen[a.Name()] = true
		if a.Acked == 0 || a.Lost != 0 || !a.WritingAtEnd {
			t.Errorf("app %s: %d acknowledged, %d lost, writing at the end: %v", a.Name(), a.Acked, a.Lost, a.WritingAtEnd)
		}
	}
	for _, want := range []string{"a", "b", "b python", "b node"} {
		if !seen[want] {
			t.Errorf("the report lists no application %q: %+v", want, rep.Apps)
		}
	}
}

// In auto mode (with the NAT it needs) the promoter finds region A down,
// but A's CloudWatch is silent too, so A's last write cannot be read and the
// possible loss is unbounded: it refuses and pages, and the on-call, whose
// replica was current before the outage, accepts the plan's amount.
func TestScenarioRegionLostAuto(t *testing.T) {
	rep := runScenarioOn(t, "region-lost", 60, modelOf(t, map[string]any{"promoterMode": "auto"}))
	if rep.Promotion == nil || !strings.HasPrefix(rep.Mode, "auto") {
		t.Fatalf("mode %q, promotion %v", rep.Mode, rep.Promotion)
	}
}

func TestScenarioRegionStalled(t *testing.T) { runScenario(t, "region-stalled", 60) }

func TestScenarioPrimaryCrash(t *testing.T) { runScenario(t, "primary-crash", 60) }

func TestScenarioObserversPartition(t *testing.T) { runScenario(t, "observers-partition", 60) }

func TestScenarioLinkBroken(t *testing.T) { runScenario(t, "link-broken", 60) }

func TestScenarioStaleSecondary(t *testing.T) { runScenario(t, "stale-secondary", 60) }

func TestScenarioCooldown(t *testing.T) { runScenario(t, "cooldown", 60) }

// A planned switchover has a read-only window: the old primary is demoted
// before its writable alarm moves DNS. The measure that holds every game-day
// file to "DNS never on a read-only endpoint" must see it.
func TestScenarioSwitchover(t *testing.T) {
	rep := runScenario(t, "switchover", 60)
	if rep.ReadOnlyInDNS <= 0 {
		t.Errorf("read-only endpoint in DNS for %.0fs: the switchover's window went unmeasured", rep.ReadOnlyInDNS)
	}
}
