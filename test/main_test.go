package test

import (
	"os"
	"path/filepath"
	"testing"
)

// TestMain removes the Lambda binary the tests built.
func TestMain(m *testing.M) {
	code := m.Run()
	if buildPath != "" && buildErr == nil {
		_ = os.RemoveAll(filepath.Dir(buildPath))
	}
	os.Exit(code)
}
