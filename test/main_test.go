package test

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/redisha/redisha/internal/redisconn"
)

// TestMain quiets go-redis and removes the Lambda binary the tests built.
// Under -short (make test-short) the package is skipped, saying so: its
// tests build binaries and run end to end; make test runs them.
func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		fmt.Println("skipped under -short: the end-to-end tests build the binaries and run them (make test runs them)")
		os.Exit(0)
	}
	// go-redis's own dial log would only repeat the failures the tests assert.
	redisconn.QuietGoRedisLogger()
	code := m.Run()
	if buildPath != "" && buildErr == nil {
		_ = os.RemoveAll(filepath.Dir(buildPath))
	}
	os.Exit(code)
}
