// Command redisha is the operator CLI: one-shot checks, the per-DB sweep and
// the millisecond downtime probe. Run `redisha --help`.
package main

import (
	"os"

	"github.com/redisha/redisha/internal/cli"
	"github.com/redisha/redisha/internal/redisconn"
)

func main() {
	// Every failure is in the command's own output; go-redis's dial log
	// lines would only repeat them, thousands a second during an outage.
	redisconn.QuietGoRedisLogger()
	os.Exit(cli.Main(os.Args[1:], cli.Env{Stdout: os.Stdout, Stderr: os.Stderr}))
}
