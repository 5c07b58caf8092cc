// Command bootstrap is the health-checker Lambda (provided.al2023, arm64,
// built with -tags lambda.norpc by `make build`). With CHECKER_SERVE=loop
// (the default) each invocation checks Redis once and publishes
// HealthCheckStatus, HealthCheckLatency and WritableStatus (and
// ReplicationLagSeconds on a replica); see internal/handler. With
// CHECKER_SERVE=writable-url it serves a function URL instead: each GET of
// /writable proves one write and answers 200 or 503 for Route 53's HTTPS
// health checks; see internal/writeprobe.
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
	"github.com/redisha/redisha/internal/writeprobe"
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
	// The clients live as long as the execution environment; Lambda ends
	// the process, and the server drops the connection.
	if cfg.Serve == config.ServeWritableURL {
		wp, _, err := writeprobe.Build(context.Background(), cfg, log)
		if err != nil {
			log.Error("cannot start", "error", err.Error())
			os.Exit(1)
		}
		log.Info("writable endpoint ready", append(buildinfo.Read().LogAttrs(), "serve", cfg.Serve, "path", writeprobe.Path,
			"endpoint", cfg.Redis.Redacted(), "cluster_mode", cfg.ClusterMode, "fence", cfg.Fence.DatastoreID != "",
			"check_timeout", cfg.WritableCheckTimeout().String())...)
		lambda.Start(wp.HandleFunctionURL)
		return
	}
	h, _, err := handler.Build(context.Background(), cfg, os.Stdout, log)
	if err != nil {
		log.Error("cannot start", "error", err.Error())
		os.Exit(1)
	}
	log.Info("health checker ready", append(buildinfo.Read().LogAttrs(), "serve", cfg.Serve, "endpoint", cfg.Redis.Redacted(), "role", cfg.Check.ExpectRole,
		"heartbeat", cfg.Check.Heartbeat, "heartbeat_region", cfg.Check.Region, "metrics", cfg.MetricsMode,
		"namespace", cfg.Namespace, "check_timeout", cfg.Check.Timeout.String(),
		"secret_timeout", cfg.SecretTimeout.String(), "publish_timeout", cfg.PublishTimeout.String())...)
	lambda.Start(h.Handle)
}
