package cli

import (
	"os"
	"testing"

	"github.com/redisha/redisha/internal/redisconn"
)

// TestMain silences go-redis's own log: the tests assert every failure
// from the results, and the library's dial lines would only repeat them.
func TestMain(m *testing.M) {
	redisconn.QuietGoRedisLogger()
	os.Exit(m.Run())
}
