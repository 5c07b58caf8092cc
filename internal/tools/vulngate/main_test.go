package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// stream is govulncheck's JSON output, cut to what the gate reads: a config,
// two OSV entries, a called standard-library finding, a called module
// finding, and a finding in an imported package that is never called.
const stream = `{"config":{"protocol_version":"v1.0.0","scanner_name":"govulncheck","scanner_version":"v1.9.0","db":"file:///db","go_version":"go1.26.8","scan_level":"symbol","scan_mode":"source"}}
{"progress":{"message":"Scanning your code"}}
{"osv":{"id":"GO-2026-6809","summary":"Distrust compromised intermediate certificates in crypto/x509"}}
{"osv":{"id":"GO-2026-6865","summary":"Panic on two-block frames in github.com/klauspost/compress"}}
{"osv":{"id":"GO-2026-0001","summary":"imported, never called"}}
{"finding":{"osv":"GO-2026-6809","fixed_version":"v1.26.10","trace":[{"module":"stdlib","version":"v1.26.8","package":"crypto/x509","receiver":"*Certificate","function":"Verify"},{"module":"github.com/redisha/redisha","package":"github.com/redisha/redisha/client","function":"Dial"}]}}
{"finding":{"osv":"GO-2026-6809","fixed_version":"v1.26.10","trace":[{"module":"stdlib","version":"v1.26.8","package":"crypto/x509","receiver":"*Certificate","function":"Verify"}]}}
{"finding":{"osv":"GO-2026-6865","fixed_version":"v1.20.2","trace":[{"module":"github.com/klauspost/compress","version":"v1.17.11","package":"github.com/klauspost/compress/zstd","receiver":"*Decoder","function":"DecodeAll"}]}}
{"finding":{"osv":"GO-2026-0001","fixed_version":"v1.0.1","trace":[{"module":"example.com/m","version":"v1.0.0","package":"example.com/m/p"}]}}
`

func accepted(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "accepted")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestGateFailsOnACalledFindingNotAccepted(t *testing.T) {
	var out strings.Builder
	ok, err := run(strings.NewReader(stream), &out, accepted(t, "# stdlib\nGO-2026-6809 fixed in go1.26.10; the build machines have go1.26.8\n"))
	if err != nil {
		t.Fatal(err)
	}
	if ok {
		t.Fatalf("gate passed with a called module finding not accepted:\n%s", out.String())
	}
	for _, want := range []string{
		"accepted  GO-2026-6809 stdlib@v1.26.8 (fixed in v1.26.10), called: crypto/x509.Certificate.Verify",
		"FAIL      GO-2026-6865 github.com/klauspost/compress@v1.17.11",
		"go get github.com/klauspost/compress@v1.20.2",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "GO-2026-0001") {
		t.Errorf("a finding never called was reported:\n%s", out.String())
	}
}

func TestGatePassesWhenEveryCalledFindingIsAccepted(t *testing.T) {
	var out strings.Builder
	only := strings.ReplaceAll(stream, `{"finding":{"osv":"GO-2026-6865"`, `{"ignored":{"osv":"GO-2026-6865"`)
	ok, err := run(strings.NewReader(only), &out, accepted(t, "GO-2026-6809 fixed in go1.26.10\nGO-2020-0001 an old entry\n"))
	if err != nil || !ok {
		t.Fatalf("ok=%v err=%v\n%s", ok, err, out.String())
	}
	if !strings.Contains(out.String(), "GO-2020-0001 is accepted but no longer found") {
		t.Errorf("a stale entry is not reported:\n%s", out.String())
	}
}

// A module's finding that a release fixes is upgraded, not accepted, even
// when the list names it.
func TestGateRefusesToAcceptAModuleWithAFix(t *testing.T) {
	var out strings.Builder
	ok, err := run(strings.NewReader(stream), &out, accepted(t, "GO-2026-6809 fixed in go1.26.10\nGO-2026-6865 later\n"))
	if err != nil || ok || !strings.Contains(out.String(), "a module with a fix is upgraded, not accepted: go get github.com/klauspost/compress@v1.20.2") {
		t.Fatalf("ok=%v err=%v\n%s", ok, err, out.String())
	}
}

func TestGateStdlibRemedyNamesTheGoRelease(t *testing.T) {
	var out strings.Builder
	if ok, _ := run(strings.NewReader(stream), &out, ""); ok {
		t.Fatal("gate passed with nothing accepted")
	}
	if !strings.Contains(out.String(), "build with go1.26.10 or later") {
		t.Errorf("the standard library's remedy does not name the Go release:\n%s", out.String())
	}
}

func TestGateRefusesBadInput(t *testing.T) {
	for name, c := range map[string]struct{ in, accepted, want string }{
		"text output":   {in: "Scanning your code...\n", want: "-format json"},
		"no config":     {in: `{"progress":{"message":"x"}}`, want: "no govulncheck config"},
		"no reason":     {in: stream, accepted: "GO-2026-6809\n", want: "has no reason"},
		"not an OSV id": {in: stream, accepted: "CVE-2026-1 reason\n", want: "not an OSV id"},
	} {
		t.Run(name, func(t *testing.T) {
			path := ""
			if c.accepted != "" {
				path = accepted(t, c.accepted)
			}
			var out strings.Builder
			_, err := run(strings.NewReader(c.in), &out, path)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to say %q", err, c.want)
			}
		})
	}
}
