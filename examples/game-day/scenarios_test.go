// Package gameday_test holds the example game-day files to the drill's
// format: each one parses (the drill names the line of any mistake).
package gameday_test

import (
	"path/filepath"
	"testing"

	"github.com/redisha/redisha/internal/drill"
)

func TestExamplesParse(t *testing.T) {
	files, err := filepath.Glob("*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no example files: %v", err)
	}
	for _, f := range files {
		if _, err := drill.LoadScenario(f); err != nil {
			t.Error(err)
		}
	}
}
