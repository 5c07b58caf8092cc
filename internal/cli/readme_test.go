package cli

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// readmeCLI is the README's "Operator CLI" section: its command table (one
// row per command path; `a b\|c` stands for `a b` and `a c`) and its
// connection-flag table (flag → variable).
type readmeCLI struct {
	text     string
	rows     map[string]readmeRow
	connEnvs map[string]string
}

type readmeRow struct {
	paths     []string
	what      string
	flags     map[string]bool
	connFlags bool // "connection flags": the connection table documents them
}

var backquoted = regexp.MustCompile("`([^`]*)`")

func readREADME(t *testing.T) readmeCLI {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, "\n## Operator CLI\n")
	if i < 0 {
		t.Fatal(`README has no "## Operator CLI" section`)
	}
	s = s[i+1:]
	if j := strings.Index(s[3:], "\n## "); j >= 0 {
		s = s[:j+3]
	}
	r := readmeCLI{text: s, rows: map[string]readmeRow{}, connEnvs: map[string]string{}}
	for _, line := range strings.Split(s, "\n") {
		cells := tableCells(line)
		if len(cells) < 3 {
			continue
		}
		first := backquoted.FindStringSubmatch(cells[0])
		switch {
		case first == nil:
		case strings.HasPrefix(first[1], "redisha"):
			row := readmeRow{what: cells[1], flags: map[string]bool{}, connFlags: strings.Contains(cells[2], "connection flags")}
			words := strings.Fields(strings.ReplaceAll(first[1], `\|`, "|"))
			for _, last := range strings.Split(words[len(words)-1], "|") {
				row.paths = append(row.paths, strings.Join(append(words[:len(words)-1:len(words)-1], last), " "))
			}
			for _, m := range backquoted.FindAllStringSubmatch(cells[2], -1) {
				if f := strings.Fields(m[1]); len(f) > 0 && strings.HasPrefix(f[0], "--") {
					row.flags[strings.TrimPrefix(f[0], "--")] = true
				}
			}
			for _, p := range row.paths {
				if _, dup := r.rows[p]; dup {
					t.Errorf("README lists %q twice", p)
				}
				r.rows[p] = row
			}
		case strings.HasPrefix(first[1], "--"):
			env := backquoted.FindStringSubmatch(cells[1])
			if env == nil {
				t.Errorf("README connection flag %s has no variable", first[1])
				continue
			}
			r.connEnvs[strings.TrimPrefix(strings.Fields(first[1])[0], "--")] = env[1]
		}
	}
	return r
}

// tableCells splits a Markdown table row on the bars that are not escaped.
func tableCells(line string) []string {
	line = strings.TrimSpace(line)
	if !strings.HasPrefix(line, "|") || strings.HasPrefix(line, "|---") {
		return nil
	}
	var cells []string
	var cur strings.Builder
	for i := 1; i < len(line); i++ {
		switch {
		case line[i] == '\\' && i+1 < len(line) && line[i+1] == '|':
			cur.WriteString(`\|`)
			i++
		case line[i] == '|':
			cells = append(cells, strings.TrimSpace(cur.String()))
			cur.Reset()
		default:
			cur.WriteByte(line[i])
		}
	}
	return cells
}

// The README's CLI section documents exactly the commands of the tree, each
// with its help's one-line summary and every one of its flags; connection
// flags with the variable they fall back to. It names no command that does
// not exist.
func TestHelpMatchesREADME(t *testing.T) {
	doc := readREADME(t)
	root := newRootCmd(Env{})
	root.InitDefaultCompletionCmd()
	tree := map[string]*cobra.Command{}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			if sub.Hidden || sub.Name() == "help" {
				continue
			}
			tree[sub.CommandPath()] = sub
			walk(sub)
		}
	}
	walk(root)

	for path, c := range tree {
		row, ok := doc.rows[path]
		if !ok {
			t.Errorf("README's CLI section does not list `%s`", path)
			continue
		}
		if len(row.paths) == 1 && row.what != c.Short {
			t.Errorf("README says `%s` does %q; its help says %q", path, row.what, c.Short)
		}
		c.Flags().VisitAll(func(f *pflag.Flag) {
			if f.Name == "help" {
				return
			}
			if env := f.Annotations[envAnnotation]; len(env) > 0 {
				if !row.connFlags {
					t.Errorf("README's row for `%s` does not say it takes the connection flags (--%s)", path, f.Name)
				}
				if doc.connEnvs[f.Name] != env[0] {
					t.Errorf("README documents connection flag --%s with variable %q; the flag falls back to %s", f.Name, doc.connEnvs[f.Name], env[0])
				}
				return
			}
			if !row.flags[f.Name] {
				t.Errorf("README does not document `%s --%s`", path, f.Name)
			}
		})
		for name := range row.flags {
			if c.Flags().Lookup(name) == nil {
				t.Errorf("README documents `%s --%s`, which does not exist", path, name)
			}
		}
	}
	for path := range doc.rows {
		if tree[path] == nil {
			t.Errorf("README lists `%s`, which is not a command", path)
		}
	}
	for name, env := range doc.connEnvs {
		if connEnv[name] != env {
			t.Errorf("README documents connection flag --%s (%s), which is not one", name, env)
		}
	}
	for _, m := range regexp.MustCompile(`\bredisha ([a-z][a-z-]*)`).FindAllStringSubmatch(doc.text, -1) {
		if tree["redisha "+m[1]] == nil {
			t.Errorf("README's CLI section mentions `redisha %s`, which is not a command", m[1])
		}
	}
}
