package test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/redisha/redisha/internal/redisconn"
)

// TestMain quiets go-redis and removes the Lambda binary the tests built.
func TestMain(m *testing.M) {
	// go-redis's own dial log would only repeat the failures the tests assert.
	redisconn.QuietGoRedisLogger()
	code := m.Run()
	if buildPath != "" && buildErr == nil {
		_ = os.RemoveAll(filepath.Dir(buildPath))
	}
	os.Exit(code)
}
