package cli

import (
	"errors"

	"github.com/spf13/cobra"

	"github.com/redisha/redisha/internal/buildinfo"
)

// commands builds every command under the root, in the order help lists
// them. A new command is one more line here (see doc.go).
func commands(env Env) []*cobra.Command {
	return []*cobra.Command{
		newCheckCmd(env),
		newProbeCmd(env),
		newSweepCmd(env),
		newStatusCmd(env),
		newFailoverCmd(env),
		newSwitchoverCmd(env),
		newMigrateCmd(env),
		newDrillCmd(env),
		newVerifyCmd(env),
		newPromoterCmd(env),
		newVersionCmd(env),
	}
}

func newRootCmd(env Env) *cobra.Command {
	root := &cobra.Command{
		Use:   "redisha",
		Short: "Operator CLI of redisha: health checks, per-DB sweeps and the millisecond downtime probe",
		Long: `redisha checks a Redis (Amazon ElastiCache) endpoint the way the health-checker Lambda does,
sweeps every DB index, and measures downtime to the millisecond during an upgrade or failover.

Every command that talks to Redis takes the same connection flags (--addr, --tls, --tls-server-name,
--tls-ca-file, --user, --password-file, --auth-secret-arn, --allow-plaintext-auth, --db), each with an
environment fallback (REDISHA_ADDR, ...); a flag on the command line wins. TLS is on unless --tls=false.
The AUTH token is read from --password-file (chmod 600) or Secrets Manager (--auth-secret-arn), never
from the command line, and is not sent without TLS unless --allow-plaintext-auth.

Exit codes: 0 nothing wrong, 1 a finding (a check, DB or window failed), 2 bad usage (nothing ran).`,
		// Main prints each error once, as "redisha <command>: <message>".
		SilenceErrors: true,
		SilenceUsage:  true,
		// --version: the version command's fields in one line.
		Version: buildinfo.Read().String(),
	}
	root.SetVersionTemplate("redisha {{.Version}}\n")
	root.SetOut(env.Stdout)
	root.SetErr(env.Stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usagef("%w (see '%s --help')", err, c.CommandPath())
	})
	for _, c := range commands(env) {
		root.AddCommand(c)
	}
	finish(root)
	return root
}

// finish applies the tree's rules to c and every command under it: flags
// are listed in the order they are defined (connection flags first), every
// numeric flag's declared range is checked before RunE starts (bounds.go),
// and every error a RunE returns is typed: a *UsageError stays one, anything
// else is a finding (the command ran and something failed). Errors the
// tree raises before RunE stay untyped and exit with ExitUsage.
func finish(c *cobra.Command) {
	c.Flags().SortFlags = false
	if run := c.RunE; run != nil {
		c.RunE = func(cmd *cobra.Command, args []string) error {
			if err := checkBounds(cmd); err != nil {
				return err
			}
			err := run(cmd, args)
			var u *UsageError
			if err == nil || errors.As(err, &u) {
				return err
			}
			var f *FindingError
			if errors.As(err, &f) {
				return err
			}
			return &FindingError{Msg: err.Error()}
		}
	}
	for _, sub := range c.Commands() {
		finish(sub)
	}
}
