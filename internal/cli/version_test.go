package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/redisha/redisha/internal/buildinfo"
)

// Both forms print this binary's build; a test binary has no stamp, so the
// fields say what is unknown rather than being empty.
func TestVersion(t *testing.T) {
	want := buildinfo.Read()
	code, out, errOut := run(t, nil, "--version")
	if code != ExitOK || out != "redisha "+want.String()+"\n" {
		t.Errorf("--version: exit %d, printed %q (stderr %q); want %q", code, out, errOut, "redisha "+want.String())
	}
	code, out, _ = run(t, nil, "version", "--json")
	var got buildinfo.Info
	if err := json.Unmarshal([]byte(out), &got); code != ExitOK || err != nil || got != want {
		t.Errorf("version --json: exit %d, %q (%v); want %+v", code, out, err, want)
	}
	code, out, _ = run(t, nil, "version")
	if code != ExitOK || !strings.Contains(out, "version:  "+want.Version+"\n") || !strings.Contains(out, "commit:   "+want.Commit+"\n") {
		t.Errorf("version: exit %d, printed %q", code, out)
	}
	if code, _, _ = run(t, nil, "version", "extra"); code != ExitUsage {
		t.Errorf("version extra: exit %d; want %d", code, ExitUsage)
	}
}
