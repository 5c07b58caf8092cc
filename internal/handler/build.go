package handler

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/redisha/redisha/internal/check"
	"github.com/redisha/redisha/internal/config"
	"github.com/redisha/redisha/internal/fence"
	"github.com/redisha/redisha/internal/metrics"
	"github.com/redisha/redisha/internal/redisconn"
	"github.com/redisha/redisha/internal/secret"
)

// Build wires a Handler from the configuration, once per cold start: the
// AWS configuration (only when metrics go through the API or the token is in
// Secrets Manager; it honours AWS_ENDPOINT_URL and
// AWS_ENDPOINT_URL_CLOUDWATCH), the token source, the Redis client factory
// and the publisher. Nothing here touches the network: the first
// invocation dials, within its own deadline. close releases the client.
func Build(ctx context.Context, cfg config.Config, stdout io.Writer, log *slog.Logger) (h *Handler, close func() error, err error) {
	loadAWS := sync.OnceValues(func() (aws.Config, error) {
		ac, err := awsconfig.LoadDefaultConfig(ctx)
		if err != nil {
			return ac, fmt.Errorf("load AWS configuration: %w", err)
		}
		return ac, nil
	})

	var tokens *secret.Source
	switch {
	case cfg.AuthSecretARN != "":
		ac, err := loadAWS()
		if err != nil {
			return nil, nil, err
		}
		tokens = secret.FromSecretsManager(secretsmanager.NewFromConfig(ac), cfg.AuthSecretARN, secret.DefaultMaxAge)
	case cfg.PasswordFile != "":
		tokens = secret.FromFile(cfg.PasswordFile)
	}

	switch {
	case cfg.HeartbeatKeySecretARN != "":
		ac, err := loadAWS()
		if err != nil {
			return nil, nil, err
		}
		cfg.Check.HeartbeatKeySource = secret.KeyFromSecretsManager(secretsmanager.NewFromConfig(ac), cfg.HeartbeatKeySecretARN, secret.DefaultMaxAge).Bytes
	case cfg.HeartbeatKeyFile != "":
		cfg.Check.HeartbeatKeySource = secret.KeyFromFile(cfg.HeartbeatKeyFile).Bytes
	}

	rc := cfg.Redis
	if tokens != nil {
		user := rc.Username
		rc.Credentials = func(ctx context.Context) (string, string, error) {
			tok, err := tokens.Token(ctx)
			return user, tok, err
		}
	}
	// Fail at init, not per invocation. CLUSTER_MODE=off is the one-node
	// checker as it always was; auto and on may check every shard.
	var checker interface {
		Checker
		Close() error
	}
	if cfg.ClusterMode == check.ClusterOff {
		conn, err := redisconn.NewClient(rc)
		if err != nil {
			return nil, nil, err
		}
		checker = check.New(conn, cfg.Check)
	} else {
		cc, err := check.NewCluster(rc, cfg.Check, cfg.ClusterMode)
		if err != nil {
			return nil, nil, err
		}
		checker = cc
	}

	var pub metrics.Publisher
	opts := metrics.Options{Namespace: cfg.Namespace, Dimensions: cfg.Dimensions, HighResolution: cfg.HighResolution}
	switch cfg.MetricsMode {
	case config.MetricsEMF:
		pub = metrics.NewEMF(stdout, opts)
	default:
		ac, err := loadAWS()
		if err != nil {
			return nil, nil, err
		}
		pub = metrics.NewCloudWatch(cloudwatch.NewFromConfig(ac), opts)
	}

	var t Tokens
	if tokens != nil {
		t = tokens
	}
	h = New(checker, pub, t, log).WithBudgets(Budgets{Token: cfg.SecretTimeout, Publish: cfg.PublishTimeout, Margin: config.InvocationMargin})
	if cfg.Fence.DatastoreID != "" {
		// The local region's ElastiCache API (AWS_ENDPOINT_URL_ELASTICACHE
		// honoured), through the VPC's endpoint or NAT.
		ac, err := loadAWS()
		if err != nil {
			return nil, nil, err
		}
		h.WithFence(fence.New(elasticache.NewFromConfig(ac), cfg.Fence))
	}
	return h, checker.Close, nil
}
