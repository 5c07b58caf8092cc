package cli

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/redisha/redisha/internal/buildinfo"
)

func newVersionCmd(env Env) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version [--json]",
		Short: "print the module version, commit and build date of this binary",
		Long: `version prints which build of redisha this is: the module version (a release tag, or the Go
toolchain's pseudo-version of the checkout it was built from), the git commit, the commit's date, whether the
tree had uncommitted changes, the Go version and the platform. The Lambdas print the same version, commit and
date in their "ready" log lines, so a deployed function can be matched to a CLI.

'redisha --version' prints the same in one line. Exit code 0.`,
		Args: noArgs,
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the fields as one JSON object")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		i := buildinfo.Read()
		if asJSON {
			return json.NewEncoder(env.Stdout).Encode(i)
		}
		_, err := fmt.Fprintf(env.Stdout, "version:  %s\ncommit:   %s\ndate:     %s\nmodified: %t\ngo:       %s\nplatform: %s\n",
			i.Version, i.Commit, i.Date, i.Modified, i.GoVersion, i.Platform)
		return err
	}
	return cmd
}
