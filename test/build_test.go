package test

import (
	"os/exec"
	"path/filepath"
	"testing"
)

// buildCommand builds ../cmd/<name> for this machine into the test's
// temporary directory and returns the binary's path.
func buildCommand(t testing.TB, name string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), name)
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/"+name).CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", name, err, out)
	}
	return bin
}
