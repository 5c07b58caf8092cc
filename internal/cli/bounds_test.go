package cli

import (
	"io"
	"math"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// notYetBounded lists numeric flags that declare no range yet: none. Every
// numeric flag of the tree must declare one.
var notYetBounded = map[string]bool{}

// The values every numeric flag is tried with: zero, negative and absurd
// (a century, a quintillion). Absurd is refused by every flag.
func trialValues(f *pflag.Flag) (zero, negative, absurd string) {
	switch f.Value.Type() {
	case "duration":
		return "0s", "-1s", "876000h"
	case "float32", "float64":
		return "0", "-1", "1e18"
	}
	return "0", "-1", "1000000000000000000"
}

// walk calls fn for every command of the tree.
func walk(c *cobra.Command, fn func(*cobra.Command)) {
	fn(c)
	for _, sub := range c.Commands() {
		walk(sub, fn)
	}
}

// Every duration, count and size flag of every command declares its range;
// its default lies in it; zero, negative and absurd values outside it are
// refused before anything runs (exit 2, the flag named, nothing on stdout).
// Nothing listens at --addr: a command that got past validation would fail
// as a finding or hang, not exit 2.
func TestEveryNumericFlagIsBounded(t *testing.T) {
	t.Parallel()
	root := newRootCmd(Env{Stdout: io.Discard, Stderr: io.Discard, Getenv: func(string) string { return "" }})
	seen := map[string]bool{}
	refused := 0
	walk(root, func(c *cobra.Command) {
		if c.RunE == nil {
			return
		}
		c.Flags().VisitAll(func(f *pflag.Flag) {
			if !isNumericFlag(f) {
				return
			}
			key := c.CommandPath() + " --" + f.Name
			seen[key] = true
			b, ok := boundOf(f)
			if !ok {
				if !notYetBounded[key] {
					t.Errorf("%s declares no range: add durationRange/intRange/floatRange beside it", key)
				}
				return
			}
			if notYetBounded[key] {
				t.Errorf("%s now declares a range: drop it from notYetBounded", key)
			}
			if def, _ := flagNumber(f); !b.accepts(def) {
				t.Errorf("%s: its default %s lies outside its range %s", key, f.DefValue, b.describe(f))
			}
			zero, negative, absurd := trialValues(f)
			for _, v := range []string{zero, negative, absurd, "NaN"} {
				if f.Value.Type() != "float64" && v == "NaN" {
					continue
				}
				probe := *f
				probe.Value = newValueLike(t, f, v)
				if n, _ := flagNumber(&probe); b.accepts(n) {
					if v == absurd {
						t.Errorf("%s accepts the absurd %s: lower its maximum", key, v)
					}
					continue
				}
				args := append(strings.Fields(c.CommandPath())[1:], "--"+f.Name+"="+v)
				args = append(args, requiredFlags(c)...)
				code, out, errOut := run(t, nil, args...)
				refused++
				want := c.CommandPath() + ": --" + f.Name + " "
				if code != ExitUsage || !strings.HasPrefix(errOut, want) || out != "" {
					t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 2 and %q", args, code, out, errOut, want)
				}
			}
		})
	})
	for key := range notYetBounded {
		if !seen[key] {
			t.Errorf("notYetBounded lists %s, which the tree no longer has", key)
		}
	}
	if refused < 30 {
		t.Errorf("only %d values tried and refused: the walk missed flags", refused)
	}
}

// newValueLike parses s with a fresh flag of f's type.
func newValueLike(t *testing.T, f *pflag.Flag, s string) pflag.Value {
	t.Helper()
	fs := pflag.NewFlagSet("trial", pflag.ContinueOnError)
	switch f.Value.Type() {
	case "duration":
		fs.Duration("v", 0, "")
	case "float64":
		fs.Float64("v", 0, "")
	case "int64":
		fs.Int64("v", 0, "")
	default:
		fs.Int("v", 0, "")
	}
	if err := fs.Set("v", s); err != nil {
		t.Fatalf("--%s=%s: %v", f.Name, s, err)
	}
	return fs.Lookup("v").Value
}

// requiredFlags gives the flags a command cannot run without, pointed at
// nothing, so that only the value on trial can stop it.
func requiredFlags(c *cobra.Command) []string {
	var args []string
	if c.Flags().Lookup(flagAddr) != nil {
		args = append(args, "--addr", "127.0.0.1:1")
	}
	for _, side := range []string{"from", "to"} {
		if c.Flags().Lookup(side) != nil {
			args = append(args, "--"+side, "127.0.0.1:1")
		}
	}
	return args
}

// The range message names the flag, what it accepts and the default.
func TestBoundMessage(t *testing.T) {
	t.Parallel()
	code, _, errOut := run(t, nil, "probe", "--addr", "127.0.0.1:1", "--key-ttl", "0")
	want := "redisha probe: --key-ttl 0s is out of range: give 1s to 24h0m0s (default 30s)\n"
	if code != ExitUsage || errOut != want {
		t.Errorf("exit %d, stderr %q; want 2 and %q", code, errOut, want)
	}
	code, _, errOut = run(t, nil, "probe", "--addr", "127.0.0.1:1", "--duration", "-5m")
	want = "redisha probe: --duration -5m0s is out of range: give 0s (until Ctrl-C) or 100ms to 744h0m0s (default 20m0s)\n"
	if code != ExitUsage || errOut != want {
		t.Errorf("exit %d, stderr %q; want 2 and %q", code, errOut, want)
	}
	if b := (flagBound{min: 1, max: 2}); b.accepts(math.NaN()) {
		t.Error("a range accepts NaN")
	}
}
