package buildinfo

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestRead(t *testing.T) {
	stamped := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.0.0-20261207040040-bb115cb3c05a"},
		Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "bb115cb3c05a12f95c18fdaf6756487bffc03140"},
			{Key: "vcs.time", Value: "2026-12-07T04:00:40Z"},
			{Key: "vcs.modified", Value: "true"},
		}}
	for _, tc := range []struct {
		name                string
		bi                  *debug.BuildInfo
		ldV, ldC, ldD       string
		version, commit, at string
		modified            bool
	}{
		{name: "no stamp (go run, test binary)", version: "(devel)", commit: Unknown, at: Unknown},
		{name: "git checkout", bi: stamped, version: "v0.0.0-20261207040040-bb115cb3c05a",
			commit: "bb115cb3c05a12f95c18fdaf6756487bffc03140", at: "2026-12-07T04:00:40Z", modified: true},
		{name: "release flags win", bi: stamped, ldV: "v0.1.0", ldC: "0123456789abcdef0123456789abcdef01234567",
			ldD: "2026-12-01T10:00:00Z", version: "v0.1.0", commit: "0123456789abcdef0123456789abcdef01234567",
			at: "2026-12-01T10:00:00Z"},
		{name: "dirty release", ldV: "v0.1.0-dirty", version: "v0.1.0-dirty", commit: Unknown, at: Unknown, modified: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			i := read(tc.bi, tc.ldV, tc.ldC, tc.ldD)
			if i.Version != tc.version || i.Commit != tc.commit || i.Date != tc.at || i.Modified != tc.modified {
				t.Errorf("read = %+v; want version %q commit %q date %q modified %t", i, tc.version, tc.commit, tc.at, tc.modified)
			}
			if i.Platform != runtime.GOOS+"/"+runtime.GOARCH || i.GoVersion == "" {
				t.Errorf("read = %+v: platform or Go version missing", i)
			}
		})
	}
}

func TestString(t *testing.T) {
	i := Info{Version: "v0.1.0", Commit: "0123456789abcdef0123", Date: "2026-12-01T10:00:00Z", Modified: true,
		GoVersion: "go1.26.8", Platform: "linux/arm64"}
	if got, want := i.String(), "v0.1.0 (commit 0123456789ab, modified, 2026-12-01T10:00:00Z, go1.26.8 linux/arm64)"; got != want {
		t.Errorf("String() = %q; want %q", got, want)
	}
}

// The release build's pieces, as CI can afford them: the Makefile's
// release-cli builds this platform's CLI with the version linked in, and the
// binary says that version in both forms; a dry run of `make release` names
// every artefact a tag publishes. The build drops -trimpath and
// CGO_ENABLED=0, so that it reuses what the rest of the suite compiled
// (`go vet`, test/'s builds); with them, a cold build of the CLI's
// dependencies costs minutes. The full release, six cross builds, is run
// before a tag is pushed.
func TestReleaseBuild(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Fatalf("make is needed to run the release build: %v (apt-get install make)", err)
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	dist := t.TempDir()
	vars := []string{"DIST=" + dist, "VERSION=v9.8.7-test", "COMMIT=0123456789abcdef0123456789abcdef01234567",
		"DATE=2026-12-01T10:00:00Z", "RELEASE_BUILDFLAGS=-buildvcs=false", "RELEASE_CGO="}
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("make", append(append([]string{"-s", "--no-print-directory", "-C", root}, args...), vars...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("make %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	run("release-cli", "OS="+runtime.GOOS, "ARCH="+runtime.GOARCH)
	bin := filepath.Join(dist, "redisha_v9.8.7-test_"+runtime.GOOS+"_"+runtime.GOARCH)
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("release-cli built no %s: %v", filepath.Base(bin), err)
	}
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		t.Fatalf("%s --version: %v", bin, err)
	}
	if want := "redisha v9.8.7-test (commit 0123456789ab, 2026-12-01T10:00:00Z, "; !strings.HasPrefix(string(out), want) {
		t.Errorf("--version printed %q; want it to start %q", out, want)
	}
	out, err = exec.Command(bin, "version", "--json").Output()
	if err != nil {
		t.Fatalf("%s version --json: %v", bin, err)
	}
	var i Info
	if err := json.Unmarshal(out, &i); err != nil {
		t.Fatalf("version --json printed %q: %v", out, err)
	}
	if i.Version != "v9.8.7-test" || i.Commit != "0123456789abcdef0123456789abcdef01234567" ||
		i.Date != "2026-12-01T10:00:00Z" || i.Platform != runtime.GOOS+"/"+runtime.GOARCH {
		t.Errorf("version --json = %+v; want the linked version, commit and date", i)
	}

	plan := run("-n", "release")
	for _, p := range []string{"linux_amd64", "linux_arm64", "darwin_amd64", "darwin_arm64"} {
		if !strings.Contains(plan, "redisha_v9.8.7-test_"+p) {
			t.Errorf("make release builds no CLI for %s:\n%s", p, plan)
		}
	}
	for _, z := range []string{"redisha-checker_v9.8.7-test_linux_arm64.zip", "redisha-promoter_v9.8.7-test_linux_arm64.zip", "SHA256SUMS"} {
		if !strings.Contains(plan, z) {
			t.Errorf("make release makes no %s:\n%s", z, plan)
		}
	}
}
