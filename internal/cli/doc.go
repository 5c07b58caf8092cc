// Package cli implements the redisha operator commands as a cobra command
// tree (cobra: the library behind kubectl, helm and gh; GNU-style flags via
// pflag and shell completion come with it). cmd/redisha is a thin main over
// Main; tests call Main in-process with captured output.
//
// # How to add a command
//
// Each command lives in its own file, internal/cli/<name>.go, with one
// constructor that builds it:
//
//	func newStatusCmd(env Env) *cobra.Command {
//		var asJSON bool
//		cmd := &cobra.Command{
//			Use:   "status --addr HOST:PORT [flags]",
//			Short: "one line, the same as the README's command table",
//			Long:  "what it does, how to read its output, its exit codes",
//			Args:  noArgs,
//		}
//		conn := addConnFlags(cmd) // only if it talks to Redis
//		cmd.Flags().BoolVar(&asJSON, "json", false, "print ... as JSON")
//		cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Second, "deadline of each call")
//		durationRange(cmd.Flags(), "timeout", time.Millisecond, 10*time.Minute, "")
//		cmd.RunE = func(cmd *cobra.Command, _ []string) error {
//			cfg, err := conn.config(env.Getenv, timeout) // a *UsageError naming the flag
//			if err != nil {
//				return err
//			}
//			... // use cmd.Context(): SIGINT, SIGTERM and SIGHUP cancel it
//			if failed > 0 {
//				return findingf("%d of %d ... failed", failed, n) // exit 1
//			}
//			return nil // exit 0
//		}
//		return cmd
//	}
//
// and one line in commands() in root.go. A command with subcommands (migrate
// copy|compare|follow) is a constructor that returns a parent with no RunE and
// AddCommand(newMigrateCopyCmd(env), ...); each subcommand follows the same
// rules in its own file (migrate_copy.go).
//
// The rules:
//   - Flags are GNU style (--long), defined on cmd.Flags(); a short form only
//     where it is obvious. The backquoted word in a flag's usage names its
//     value in --help (`file`, `host:port`).
//   - Every duration, count and size flag declares the range it accepts
//     right after its definition (durationRange, intRange, intRangeOr,
//     floatRange in bounds.go), with what 0 means when 0 is special ("until
//     Ctrl-C"). finish checks every range before RunE starts: a value out of
//     range is exit 2 naming the flag, never a run that hangs. A test walks
//     the tree and fails on a numeric flag without one.
//   - A command that talks to Redis calls addConnFlags once and conn.config in
//     RunE: that gives it --addr, --tls (on by default), --tls-server-name,
//     --tls-ca-file, --user, --password-file, --auth-secret-arn,
//     --allow-plaintext-auth and --db, their REDISHA_* fallbacks, the trimmed
//     AUTH token (from a file only its owner may read, or Secrets Manager),
//     the refusal to send it without TLS, and the CA-file check. Never define a connection flag by hand.
//   - --prefix is checked with validPrefix, which applies check.ValidatePrefix:
//     the one rule for every command and the Lambda.
//   - RunE returns errors and prints nothing about them: Main prints each once,
//     as "redisha <command>: <message>", and maps it to the exit code.
//     Bad flags, arguments or variables: return usagef("--flag ...: fix") (a
//     *UsageError, exit 2), before anything runs. A check, DB or window that
//     failed: print the report, then return findingf(...) (a *FindingError,
//     exit 1). Any other error a RunE returns counts as a finding too: the
//     command ran and something failed.
//   - Results go to env.Stdout, progress and hints to env.Stderr, so tests can
//     run the command in-process with Main and captured output.
//   - Every command and flag is documented in the README's "Operator CLI"
//     section, in the words of its help.
package cli
