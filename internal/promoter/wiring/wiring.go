// Package wiring builds the promoter Lambda's Runner from its Config, once
// per cold start: the AWS clients (ElastiCache, DynamoDB and SNS of the
// local region, CloudWatch of the peer region; each honours
// AWS_ENDPOINT_URL_<SERVICE>), the Redis client of the local endpoint and
// the token source. Nothing here touches the network.
package wiring

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/redis/go-redis/v9"

	"github.com/redisha/redisha/internal/check"
	"github.com/redisha/redisha/internal/deployment"
	"github.com/redisha/redisha/internal/promoter"
	"github.com/redisha/redisha/internal/promoter/latch"
	"github.com/redisha/redisha/internal/redisconn"
	"github.com/redisha/redisha/internal/secret"
)

// LatchKey is the latch store item of a promoter: one per datastore and
// region (deployment.LatchKey, the one rule the stacks and the commands use).
func LatchKey(datastoreID, region string) string { return deployment.LatchKey(datastoreID, region) }

// Build returns the Runner for cfg, writing metrics to stdout and logging to
// log; close releases the Redis client.
func Build(ctx context.Context, cfg promoter.Config, stdout io.Writer, log *slog.Logger) (r *promoter.Runner, close func() error, err error) {
	ac, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(cfg.Region))
	if err != nil {
		return nil, nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	// The peer region's CloudWatch: its alarm lives there. Every other
	// call goes to the local region, the one that must work when the
	// other is lost.
	peer := ac.Copy()
	peer.Region = cfg.PeerRegion

	rc := cfg.Redis
	rc.DialTimeout, rc.IOTimeout = cfg.CallTimeout, cfg.CallTimeout
	var tokens *secret.Source
	switch {
	case cfg.AuthSecretARN != "":
		tokens = secret.FromSecretsManager(secretsmanager.NewFromConfig(ac), cfg.AuthSecretARN, secret.DefaultMaxAge)
	case cfg.PasswordFile != "":
		tokens = secret.FromFile(cfg.PasswordFile)
	}
	if tokens != nil {
		user := rc.Username
		rc.Credentials = func(ctx context.Context) (string, string, error) {
			tok, err := tokens.Token(ctx)
			return user, tok, err
		}
	}
	client, err := redisconn.New(rc)
	if err != nil {
		return nil, nil, err
	}
	seed := promoter.RedisEndpoint{Client: client, Prefix: cfg.KeyPrefix}
	switch {
	case cfg.HeartbeatKeySecretARN != "":
		seed.Key = secret.KeyFromSecretsManager(secretsmanager.NewFromConfig(ac), cfg.HeartbeatKeySecretARN, secret.DefaultMaxAge).Bytes
	case cfg.HeartbeatKeyFile != "":
		seed.Key = secret.KeyFromFile(cfg.HeartbeatKeyFile).Bytes
	}
	// A cluster-mode group is read shard by shard, each node at the
	// address the cluster names, with the seed's settings (as the checker
	// reaches them).
	ep := &promoter.ClusterEndpoint{Seed: seed, SeedAddr: rc.Addr, TLS: rc.TLS, Mode: cfg.ClusterMode,
		Node: func(addr string) (*redis.Client, error) { return redisconn.New(check.NodeConfig(rc, addr)) }}
	deps := promoter.Deps{
		ElastiCache: elasticache.NewFromConfig(ac),
		Alarms:      cloudwatch.NewFromConfig(peer),
		Redis:       ep,
		Store:       latch.New(dynamodb.NewFromConfig(ac), cfg.LatchTable, LatchKey(cfg.DatastoreID, cfg.Region)),
		Metrics:     stdout, Log: log,
	}
	if cfg.TopicARN != "" {
		deps.SNS = sns.NewFromConfig(ac)
	}
	r = cfg.Runner(deps)
	return r, func() error { return errors.Join(ep.Close(), client.Close()) }, nil
}
