package cli

import (
	"fmt"
	"slices"
	"strings"

	"github.com/redisha/redisha/internal/drill"
)

// appLangs are the applications --apps can name: the drill's own Go
// applications (always run) and the example programs in --examples.
var appLangs = []string{"go", "python", "node"}

// drillPrograms resolves --apps and --examples into the Programs the drill
// runs. "auto" runs each example whose runtime is installed and says which
// were left out and why; a named one that cannot run is a usage error.
func drillPrograms(apps, dir string) ([]drill.Program, []string, error) {
	auto := apps == "auto"
	want := []string{"python", "node"}
	if !auto {
		want = nil
		for _, name := range strings.Split(apps, ",") {
			name = strings.TrimSpace(name)
			if !slices.Contains(appLangs, name) {
				return nil, nil, fmt.Errorf("--apps %q: %q is not one of auto, or a list of %s", apps, name, strings.Join(appLangs, ", "))
			}
			if name != "go" && !slices.Contains(want, name) {
				want = append(want, name)
			}
		}
	}
	var ps []drill.Program
	var skipped []string
	for _, name := range want {
		p, err := drill.ExampleProgram(name, dir)
		switch {
		case err == nil:
			ps = append(ps, p)
		case auto:
			skipped = append(skipped, fmt.Sprintf("the %s application is not run: %v", name, err))
		default:
			return nil, nil, fmt.Errorf("--apps %s: %w", name, err)
		}
	}
	return ps, skipped, nil
}
