package cli

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/redisha/redisha/internal/testbed/redistest"
)

// helperArgs, when set in the environment, makes the test binary run the
// CLI with these arguments (a JSON list) instead of the tests: a test that
// must kill a run outright (SIGKILL) starts it as a process of its own.
const helperArgs = "REDISHA_CLI_TEST_ARGS"

func TestMain(m *testing.M) {
	if a := os.Getenv(helperArgs); a != "" {
		var args []string
		if err := json.Unmarshal([]byte(a), &args); err != nil {
			panic(err)
		}
		os.Exit(Main(args, Env{Stdout: os.Stdout, Stderr: os.Stderr}))
	}
	redistest.Main(m)
}
