// Command redisha is the operator CLI: one-shot checks, the per-DB sweep and
// the millisecond downtime probe. Run `redisha --help`.
package main

import (
	"os"

	"github.com/redisha/redisha/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], cli.Env{Stdout: os.Stdout, Stderr: os.Stderr}))
}
