package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Exit codes shared by every command. Main is the one place that maps a
// command's error to them.
const (
	ExitOK        = 0 // the command ran and found nothing wrong
	ExitUnhealthy = 1 // a finding: a check, DB or window failed (or the run itself did)
	ExitUsage     = 2 // bad flags or arguments; nothing ran
)

// Env is what a command sees of the world.
type Env struct {
	Stdout, Stderr io.Writer
	// Getenv reads the environment. default: os.Getenv
	Getenv func(string) string
}

// FindingError is what a command returns when it ran and found a failure
// (a check unhealthy, a DB not answering, an outage window). Exit code 1.
type FindingError struct {
	// Msg sums up the finding, e.g. "2 of 10 checks were unhealthy".
	Msg string
}

func (e *FindingError) Error() string { return e.Msg }

// UsageError is a bad flag, argument or environment variable, found before
// anything ran. Its message names the flag and the fix. Exit code 2.
type UsageError struct {
	Err error
}

func (e *UsageError) Error() string { return e.Err.Error() }

// Unwrap returns Err.
func (e *UsageError) Unwrap() error { return e.Err }

// findingf returns a *FindingError.
func findingf(format string, args ...any) error {
	return &FindingError{Msg: fmt.Sprintf(format, args...)}
}

// usagef returns a *UsageError; %w in format keeps the cause.
func usagef(format string, args ...any) error {
	return &UsageError{Err: fmt.Errorf(format, args...)}
}

// Main runs the command line args (without the program name) and returns
// the exit code. SIGINT, SIGTERM and SIGHUP (an SSH session that drops)
// cancel the command's context, so every command cleans up the same way.
func Main(args []string, env Env) int {
	if env.Getenv == nil {
		env.Getenv = os.Getenv
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	root := newRootCmd(env)
	if args == nil {
		args = []string{} // cobra reads os.Args when given nil
	}
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return ExitOK
	}
	if cmd == nil {
		cmd = root
	}
	fmt.Fprintf(env.Stderr, "%s: %v\n", cmd.CommandPath(), err)
	return exitCode(err)
}

// exitCode maps an error to an exit code. Errors a command's RunE returns
// arrive as *FindingError or *UsageError (see root.go); anything else was
// raised by the command tree itself (unknown command, bad arguments) before
// the command ran, which is a usage error.
func exitCode(err error) int {
	var (
		u *UsageError
		f *FindingError
	)
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &u):
		return ExitUsage
	case errors.As(err, &f):
		return ExitUnhealthy
	default:
		return ExitUsage
	}
}

// printJSON writes v as indented JSON, the --json form of a report.
func printJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
