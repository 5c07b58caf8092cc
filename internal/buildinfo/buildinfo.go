// Package buildinfo says which build of redisha is running: the module
// version, the commit and the build date, for `redisha version` and the
// Lambdas' ready lines.
//
// A release build (make release) sets all three with -ldflags -X, so they
// name the tag and the commit it was cut from. Any other build falls back to
// what the Go toolchain stamps into the binary (runtime/debug.ReadBuildInfo):
// `go build` in a git checkout records the commit, its time and whether the
// tree had changes; `go install module@version` records the version.
package buildinfo

import (
	"runtime"
	"runtime/debug"
	"strings"
)

// Set at link time by a release build, e.g.
//
//	-ldflags "-X github.com/redisha/redisha/internal/buildinfo.version=v0.1.0"
//
// Empty in any other build.
var (
	version string
	commit  string
	date    string
)

// Unknown stands for a field that neither the linker flags nor the
// toolchain's stamp provide (a `go run`, a test binary, a build outside git).
const Unknown = "unknown"

// Info describes one build.
type Info struct {
	// Version is the module version: a release tag (v0.1.0), the
	// toolchain's pseudo-version of a checkout (v0.0.0-20261207…-abcdef…),
	// or "(devel)".
	Version string `json:"version"`
	// Commit is the full git commit hash, or Unknown.
	Commit string `json:"commit"`
	// Date is when the build's commit was made (RFC 3339, UTC), or Unknown.
	// A release uses the commit's time rather than the wall clock so that the
	// same tag always builds the same bytes.
	Date string `json:"date"`
	// Modified is true when the build's tree had uncommitted changes.
	Modified bool `json:"modified"`
	// GoVersion is the toolchain that built the binary.
	GoVersion string `json:"go"`
	// Platform is GOOS/GOARCH of the binary.
	Platform string `json:"platform"`
}

// Read returns the running binary's build information: the linker's values
// where set, the toolchain's stamp otherwise.
func Read() Info {
	bi, _ := debug.ReadBuildInfo()
	return read(bi, version, commit, date)
}

// read merges the toolchain's stamp bi (nil when absent) with the linker's
// values, which win.
func read(bi *debug.BuildInfo, ldVersion, ldCommit, ldDate string) Info {
	i := Info{Version: "(devel)", Commit: Unknown, Date: Unknown, GoVersion: runtime.Version(),
		Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi != nil {
		if v := bi.Main.Version; v != "" {
			i.Version = v
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				i.Commit = s.Value
			case "vcs.time":
				i.Date = s.Value
			case "vcs.modified":
				i.Modified = s.Value == "true"
			}
		}
		if bi.GoVersion != "" {
			i.GoVersion = bi.GoVersion
		}
	}
	if ldVersion != "" {
		i.Version = ldVersion
		// A release's version says itself whether its tree was dirty
		// (git describe --dirty); the toolchain's flag would repeat it.
		i.Modified = strings.HasSuffix(ldVersion, "-dirty")
	}
	if ldCommit != "" {
		i.Commit = ldCommit
	}
	if ldDate != "" {
		i.Date = ldDate
	}
	return i
}

// String is the one-line form `redisha --version` prints:
// "v0.1.0 (commit 0123abcd…, 2026-12-07T04:00:00Z, go1.26.8 linux/amd64)".
func (i Info) String() string {
	c := i.Commit
	if len(c) > 12 {
		c = c[:12]
	}
	if i.Modified && !strings.HasSuffix(i.Version, "-dirty") {
		c += ", modified"
	}
	return i.Version + " (commit " + c + ", " + i.Date + ", " + i.GoVersion + " " + i.Platform + ")"
}

// LogAttrs are the key/value pairs a ready line carries, for slog:
// log.Info("ready", append(buildinfo.Read().LogAttrs(), ...)...).
func (i Info) LogAttrs() []any {
	return []any{"version", i.Version, "commit", i.Commit, "build_date", i.Date}
}
