// Command vulngate reads govulncheck's JSON stream (-format json) on stdin
// and fails when the code calls a vulnerable symbol that is not accepted.
//
// Accepted findings are listed in a file, one per line: the OSV id, then the
// reason (why it cannot be fixed here and what fixes it). Blank lines and
// lines starting with # are ignored. Only the standard library's findings,
// whose fix is a newer Go than the one that builds the code, and a module's
// finding that no release fixes yet can be accepted: a module with a fix is
// upgraded. An accepted id that is no longer found is reported so
// the list can shrink, but does not fail the gate.
//
//	govulncheck -format json ./... | go run ./internal/tools/vulngate -accepted .ci/vuln-accepted
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// message is one object of govulncheck's stream (protocol v1.0.0); only the
// parts the gate reads.
type message struct {
	Config *struct {
		ScannerVersion string `json:"scanner_version"`
		GoVersion      string `json:"go_version"`
		DB             string `json:"db"`
	} `json:"config"`
	OSV *struct {
		ID      string `json:"id"`
		Summary string `json:"summary"`
	} `json:"osv"`
	Finding *struct {
		OSV          string `json:"osv"`
		FixedVersion string `json:"fixed_version"`
		Trace        []struct {
			Module   string `json:"module"`
			Version  string `json:"version"`
			Package  string `json:"package"`
			Function string `json:"function"`
			Receiver string `json:"receiver"`
		} `json:"trace"`
	} `json:"finding"`
}

// called is one vulnerability the code reaches: govulncheck reports a
// finding at symbol level (its trace starts with a function) only when a
// call path from the code to the vulnerable symbol exists.
type called struct {
	id, module, version, fixed, symbol, summary string
}

func main() {
	accepted := flag.String("accepted", "", "file of accepted OSV ids, one per line with its reason")
	flag.Parse()
	ok, err := run(os.Stdin, os.Stdout, *accepted)
	if err != nil {
		fmt.Fprintln(os.Stderr, "vulngate:", err)
		os.Exit(2)
	}
	if !ok {
		os.Exit(1)
	}
}

func run(in io.Reader, out io.Writer, acceptedPath string) (bool, error) {
	accepted := map[string]string{}
	if acceptedPath != "" {
		var err error
		if accepted, err = readAccepted(acceptedPath); err != nil {
			return false, err
		}
	}
	found, header, err := read(in)
	if err != nil {
		return false, err
	}
	fmt.Fprintln(out, header)
	ok := true
	seen := map[string]bool{}
	for _, c := range found {
		seen[c.id] = true
		fix := "no fix yet"
		if c.fixed != "" {
			fix = "fixed in " + c.fixed
		}
		line := fmt.Sprintf("%s %s@%s (%s), called: %s\n    %s", c.id, c.module, c.version, fix, c.symbol, c.summary)
		if reason, yes := accepted[c.id]; yes && (c.module == "stdlib" || c.fixed == "") {
			fmt.Fprintf(out, "accepted  %s\n    accepted because: %s\n", line, reason)
			continue
		} else if yes {
			// A module with a fix is upgraded, whatever the list says.
			ok = false
			fmt.Fprintf(out, "FAIL      %s\n    listed in %s, but a module with a fix is upgraded, not accepted: %s\n", line, acceptedPath, remedy(c))
			continue
		}
		ok = false
		fmt.Fprintf(out, "FAIL      %s\n    %s, or list %s in %s with the reason it cannot be\n", line, remedy(c), c.id, orDefault(acceptedPath))
	}
	var stale []string
	for id := range accepted {
		if !seen[id] {
			stale = append(stale, id)
		}
	}
	sort.Strings(stale)
	for _, id := range stale {
		fmt.Fprintf(out, "note      %s is accepted but no longer found: remove it from %s\n", id, acceptedPath)
	}
	switch {
	case len(found) == 0:
		fmt.Fprintln(out, "no called vulnerability")
	case ok:
		fmt.Fprintf(out, "%d called vulnerabilities, all accepted\n", len(found))
	default:
		fmt.Fprintf(out, "called vulnerabilities not accepted: the gate fails\n")
	}
	return ok, nil
}

// remedy says what fixes a finding: a newer Go for the standard library, a
// newer module otherwise.
func remedy(c called) string {
	if c.module == "stdlib" {
		if c.fixed == "" {
			return "no Go release fixes it yet"
		}
		return "build with go" + strings.TrimPrefix(c.fixed, "v") + " or later"
	}
	if c.fixed == "" {
		return "no release of " + c.module + " fixes it yet: drop the call"
	}
	return "go get " + c.module + "@" + c.fixed
}

func orDefault(path string) string {
	if path == "" {
		return "an -accepted file"
	}
	return path
}

// read collects the called findings, one per OSV id, in id order.
func read(in io.Reader) ([]called, string, error) {
	dec := json.NewDecoder(in)
	summaries := map[string]string{}
	byID := map[string]*called{}
	header := ""
	sawConfig := false
	for {
		var m message
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, "", fmt.Errorf("reading govulncheck's JSON (run it with -format json): %w", err)
		}
		switch {
		case m.Config != nil:
			sawConfig = true
			header = fmt.Sprintf("govulncheck %s, %s, database %s", m.Config.ScannerVersion, m.Config.GoVersion, m.Config.DB)
		case m.OSV != nil:
			summaries[m.OSV.ID] = m.OSV.Summary
		case m.Finding != nil:
			f := m.Finding
			if len(f.Trace) == 0 || f.Trace[0].Function == "" {
				continue // imported or required only, not called
			}
			t := f.Trace[0]
			sym := t.Function
			if t.Receiver != "" {
				sym = strings.TrimPrefix(t.Receiver, "*") + "." + sym
			}
			sym = t.Package + "." + sym
			// One line per id; of its symbols, the first in order, so
			// that two runs print the same.
			if c := byID[f.OSV]; c == nil || sym < c.symbol {
				byID[f.OSV] = &called{id: f.OSV, module: t.Module, version: t.Version, fixed: f.FixedVersion, symbol: sym}
			}
		}
	}
	if !sawConfig {
		return nil, "", errors.New("no govulncheck config message on stdin: run govulncheck with -format json")
	}
	ids := make([]string, 0, len(byID))
	for id := range byID {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	out := make([]called, 0, len(ids))
	for _, id := range ids {
		c := *byID[id]
		c.summary = summaries[id]
		out = append(out, c)
	}
	return out, header, nil
}

func readAccepted(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	accepted := map[string]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		id, reason, _ := strings.Cut(line, " ")
		reason = strings.TrimSpace(reason)
		if !strings.HasPrefix(id, "GO-") {
			return nil, fmt.Errorf("%s:%d: %q is not an OSV id of the Go database (GO-YYYY-NNNN)", path, n, id)
		}
		if reason == "" {
			return nil, fmt.Errorf("%s:%d: %s has no reason: say why it cannot be fixed here and what fixes it", path, n, id)
		}
		accepted[id] = reason
	}
	return accepted, sc.Err()
}
