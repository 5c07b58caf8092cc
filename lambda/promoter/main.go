// Command bootstrap is the promoter Lambda (provided.al2023, arm64; build it
// with -tags lambda.norpc as the checker is built):
//
//	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 go build -tags lambda.norpc -trimpath -ldflags='-s -w' \
//	  -o build/promoter/bootstrap ./lambda/promoter
//
// It runs in each region on the checker's 30-second loop; each invocation
// makes one decision about promoting its own region's member of the Global
// Datastore (see internal/promoter and docs/failover.md). The configuration
// is promoter.Config, read from the environment.
package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/redisha/redisha/internal/buildinfo"
	"github.com/redisha/redisha/internal/promoter"
	"github.com/redisha/redisha/internal/promoter/wiring"
)

func main() {
	log := lambdacontext.NewLogger()
	slog.SetDefault(log)
	cfg, err := promoter.ConfigFromEnv(os.Getenv)
	if err != nil {
		// Exiting at init makes Lambda report Runtime.ExitError with this
		// message: the configuration is wrong, nothing can run.
		log.Error("invalid configuration", "error", err.Error())
		os.Exit(1)
	}
	r, _, err := wiring.Build(context.Background(), cfg, os.Stdout, log)
	if err != nil {
		log.Error("cannot start", "error", err.Error())
		os.Exit(1)
	}
	log.Info("promoter ready", append(buildinfo.Read().LogAttrs(), "region", cfg.Region, "datastore", cfg.DatastoreID, "group", cfg.GroupID,
		"peer", cfg.PeerRegion, "mode", cfg.Mode, "endpoint", cfg.Redis.Redacted())...)
	// The event (schedule or Step Functions loop) carries nothing the
	// decision needs.
	lambda.Start(func(ctx context.Context, _ json.RawMessage) (promoter.Outcome, error) {
		return r.Run(ctx)
	})
}
