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

// Parts are what a program checking the configured endpoint holds across
// invocations: the checker (with its Redis client), the AUTH token source
// and the fence. Build wires the health checker from them, and
// writeprobe the writable endpoint, so both reach Redis and the datastore
// alike.
type Parts struct {
	// Checker checks the endpoint: one node (CLUSTER_MODE=off) or, in auto
	// and on, every shard of a cluster.
	Checker Checker
	// Tokens reads the AUTH token; nil when Redis needs none.
	Tokens *secret.Source
	// Fence judges a master against the Global Datastore's primary; nil
	// without GLOBAL_DATASTORE_ID.
	Fence *fence.Fence

	close   func() error
	loadAWS func() (aws.Config, error)
}

// Close releases the checker's clients.
func (p Parts) Close() error { return p.close() }

// NewParts builds the Parts from the configuration, once per cold start:
// the AWS configuration (only when the token or the heartbeat key is in
// Secrets Manager, or a fence is set; it honours AWS_ENDPOINT_URL and the
// per-service variables), the token source, the Redis client factory and
// the fence. Nothing here touches the network: the first check dials,
// within its own deadline.
func NewParts(ctx context.Context, cfg config.Config) (Parts, error) {
	p := Parts{loadAWS: sync.OnceValues(func() (aws.Config, error) {
		ac, err := awsconfig.LoadDefaultConfig(ctx)
		if err != nil {
			return ac, fmt.Errorf("load AWS configuration: %w", err)
		}
		return ac, nil
	})}

	switch {
	case cfg.AuthSecretARN != "":
		ac, err := p.loadAWS()
		if err != nil {
			return Parts{}, err
		}
		p.Tokens = secret.FromSecretsManager(secretsmanager.NewFromConfig(ac), cfg.AuthSecretARN, secret.DefaultMaxAge)
	case cfg.PasswordFile != "":
		p.Tokens = secret.FromFile(cfg.PasswordFile)
	}

	switch {
	case cfg.HeartbeatKeySecretARN != "":
		ac, err := p.loadAWS()
		if err != nil {
			return Parts{}, err
		}
		cfg.Check.HeartbeatKeySource = secret.KeyFromSecretsManager(secretsmanager.NewFromConfig(ac), cfg.HeartbeatKeySecretARN, secret.DefaultMaxAge).Bytes
	case cfg.HeartbeatKeyFile != "":
		cfg.Check.HeartbeatKeySource = secret.KeyFromFile(cfg.HeartbeatKeyFile).Bytes
	}

	if cfg.Fence.DatastoreID != "" {
		// The local region's ElastiCache API (AWS_ENDPOINT_URL_ELASTICACHE
		// honoured), through the VPC's endpoint or NAT.
		ac, err := p.loadAWS()
		if err != nil {
			return Parts{}, err
		}
		p.Fence = fence.New(elasticache.NewFromConfig(ac), cfg.Fence)
	}

	rc := cfg.Redis
	if p.Tokens != nil {
		user, tokens := rc.Username, p.Tokens
		rc.Credentials = func(ctx context.Context) (string, string, error) {
			tok, err := tokens.Token(ctx)
			return user, tok, err
		}
	}
	// Fail at init, not per invocation. CLUSTER_MODE=off is the one-node
	// checker as it always was; auto and on may check every shard.
	if cfg.ClusterMode == check.ClusterOff {
		conn, err := redisconn.NewClient(rc)
		if err != nil {
			return Parts{}, err
		}
		k := check.New(conn, cfg.Check)
		p.Checker, p.close = k, k.Close
	} else {
		k, err := check.NewCluster(rc, cfg.Check, cfg.ClusterMode)
		if err != nil {
			return Parts{}, err
		}
		p.Checker, p.close = k, k.Close
	}
	return p, nil
}

// Build wires a Handler from the configuration, once per cold start: the
// Parts, and the publisher (the AWS configuration too when metrics go
// through the API; it honours AWS_ENDPOINT_URL_CLOUDWATCH). Nothing here
// touches the network: the first invocation dials, within its own deadline.
// close releases the client.
func Build(ctx context.Context, cfg config.Config, stdout io.Writer, log *slog.Logger) (h *Handler, close func() error, err error) {
	p, err := NewParts(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}

	var pub metrics.Publisher
	opts := metrics.Options{Namespace: cfg.Namespace, Dimensions: cfg.Dimensions, HighResolution: cfg.HighResolution}
	switch cfg.MetricsMode {
	case config.MetricsEMF:
		pub = metrics.NewEMF(stdout, opts)
	default:
		ac, err := p.loadAWS()
		if err != nil {
			_ = p.Close()
			return nil, nil, err
		}
		pub = metrics.NewCloudWatch(cloudwatch.NewFromConfig(ac), opts)
	}

	// Typed nils would read as set.
	var t Tokens
	if p.Tokens != nil {
		t = p.Tokens
	}
	h = New(p.Checker, pub, t, log).WithBudgets(Budgets{Token: cfg.SecretTimeout, Publish: cfg.PublishTimeout, Margin: config.InvocationMargin})
	if p.Fence != nil {
		h.WithFence(p.Fence)
	}
	return h, p.Close, nil
}
