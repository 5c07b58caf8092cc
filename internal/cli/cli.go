// Package cli implements the redisha operator commands. cmd/redisha is a thin
// main over Main.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

// Exit codes shared by every command.
const (
	ExitOK        = 0 // every check healthy
	ExitUnhealthy = 1 // at least one check (or DB, or window) failed
	ExitUsage     = 2 // bad flags or arguments; nothing ran
)

// Env is what a command sees of the world.
type Env struct {
	Stdout, Stderr io.Writer
	// Getenv reads the environment. default: os.Getenv
	Getenv func(string) string
}

type command struct {
	summary string
	run     func(ctx context.Context, env Env, args []string) int
}

var commands = map[string]command{
	"check": {"run health checks against one endpoint (as the Lambda does)", runCheck},
	"probe": {"measure downtime to the millisecond during an upgrade or failover", runProbe},
	"sweep": {"PING (and optionally write/read) every DB index, one line per DB", runSweep},
}

// Main runs the command named by args[0] and returns the exit code.
// SIGINT and SIGTERM cancel the context so commands stop cleanly.
func Main(args []string, env Env) int {
	if env.Getenv == nil {
		env.Getenv = os.Getenv
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(env.Stderr)
		if len(args) == 0 {
			return ExitUsage
		}
		return ExitOK
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(env.Stderr, "redisha: unknown command %q\n\n", args[0])
		usage(env.Stderr)
		return ExitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return cmd.run(ctx, env, args[1:])
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: redisha <command> [flags]\n\nCommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-8s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'redisha <command> --help' for the flags of a command.")
	fmt.Fprintln(w, "Exit codes: 0 healthy, 1 unhealthy, 2 bad usage.")
}

// parseFlags parses args into fs and maps the outcome to an exit code:
// -1 means go on; ExitOK after --help; ExitUsage on a bad flag.
func parseFlags(fs *flag.FlagSet, env Env, args []string) int {
	fs.SetOutput(env.Stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitOK
		}
		return ExitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(env.Stderr, "redisha %s: unexpected argument %q (flags only)\n", fs.Name(), fs.Arg(0))
		return ExitUsage
	}
	return -1
}

// usageError prints a usage error naming the flag and returns ExitUsage.
func usageError(env Env, cmd string, err error) int {
	fmt.Fprintf(env.Stderr, "redisha %s: %v\n", cmd, err)
	return ExitUsage
}
