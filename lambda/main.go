// Command bootstrap is the health-checker Lambda (provided.al2023, arm64,
// built with -tags lambda.norpc by `make build`). Each invocation checks
// Redis once and publishes HealthCheckStatus, HealthCheckLatency and
// WritableStatus (and ReplicationLagSeconds on a replica); see
// internal/handler.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/redisha/redisha/internal/buildinfo"
	"github.com/redisha/redisha/internal/config"
	"github.com/redisha/redisha/internal/handler"
	"github.com/redisha/redisha/internal/redisconn"
)

func main() {
	log := lambdacontext.NewLogger()
	slog.SetDefault(log)
	// The runtime library logs a function error once, with its errorType,
	// through the standard logger: at ERROR, the level it deserves. The
	// handler does not log it again.
	slog.SetLogLoggerLevel(slog.LevelError)
	redisconn.QuietGoRedisLogger()
	cfg, err := config.FromEnv(os.Getenv)
	if err != nil {
		// Exiting at init makes Lambda report Runtime.ExitError with this
		// message in the log: the configuration is wrong, nothing can run.
		log.Error("invalid configuration", "error", err.Error())
		os.Exit(1)
	}
	h, _, err := handler.Build(context.Background(), cfg, os.Stdout, log)
	if err != nil {
		log.Error("cannot start", "error", err.Error())
		os.Exit(1)
	}
	log.Info("health checker ready", append(buildinfo.Read().LogAttrs(), "endpoint", cfg.Redis.Redacted(), "role", cfg.Check.ExpectRole,
		"heartbeat", cfg.Check.Heartbeat, "heartbeat_region", cfg.Check.Region, "metrics", cfg.MetricsMode,
		"namespace", cfg.Namespace, "check_timeout", cfg.Check.Timeout.String(),
		"secret_timeout", cfg.SecretTimeout.String(), "publish_timeout", cfg.PublishTimeout.String())...)
	// The client lives as long as the execution environment; Lambda ends the
	// process, and the server drops the connection.
	lambda.Start(h.Handle)
}
