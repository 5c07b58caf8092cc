package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/spf13/cobra"

	"github.com/redisha/redisha/internal/verify"
)

func newVerifyCmd(env Env) *cobra.Command {
	var (
		primaryRegion, secondaryRegion string
		primaryGroup, secondaryGroup   string
		globalID                       string
		primaryTopic, secondaryTopic   string
		primaryHC, secondaryHC         string
		replicas                       int
		timeout                        time.Duration
		asJSON                         bool
	)
	cmd := &cobra.Command{
		Use:   "verify [flags]",
		Short: "Check a deployed Global Datastore and its monitoring with read-only AWS calls",
		Long: `verify checks, with read-only AWS calls (DescribeReplicationGroups, ListMetrics,
ListSubscriptionsByTopic), what the CDK
templates cannot show: that both members have the AUTH token, in-transit and at-rest encryption, Multi-AZ and
automatic failover (a joining secondary inherits them from the Global Datastore), that both are members of the
datastore with the expected roles, and that the metrics the alarms read exist with exactly the dimensions the
alarms use (every node's, the checker's status and writability, which the Route 53 health checks follow, and the
cross-region lag in the secondary region), and, given the
alarm topics, that each has subscribers and all of them confirmed; given both failover records' health checks
(GetHealthCheckStatus), that exactly one is healthy: DNS follows the one region that takes writes.

It prints one line per check ("ok" or "FAIL", region, check, detail), or a JSON list with --json. Credentials
and profile come from the usual AWS sources (environment, shared config, instance role). Exit codes: 0 every
check passed, 1 a check failed (or an AWS call did), 2 bad usage.`,
		Args: noArgs,
	}
	fs := cmd.Flags()
	fs.StringVar(&primaryRegion, "primary-region", "us-east-1", "`region` of the primary member (context primaryRegion)")
	fs.StringVar(&secondaryRegion, "secondary-region", "us-west-2", "`region` of the secondary member (context secondaryRegion)")
	fs.StringVar(&primaryGroup, "primary-group", "redis-primary", "replication group `id` of the primary member")
	fs.StringVar(&secondaryGroup, "secondary-group", "redis-secondary", "replication group `id` of the secondary member")
	fs.StringVar(&globalID, "global-id", "", "the Global Datastore's full `id` (output GlobalDatastoreId); empty: any datastore")
	fs.StringVar(&primaryTopic, "primary-topic-arn", "", "the primary region's alarm topic (output AlarmTopicArn): its subscriptions must be confirmed; empty: not checked")
	fs.StringVar(&secondaryTopic, "secondary-topic-arn", "", "the secondary region's alarm topic; empty: not checked")
	fs.StringVar(&primaryHC, "primary-health-check", "", "the PRIMARY record's health check `id` (output HealthCheckId of RedishaDns); with --secondary-health-check: DNS must follow exactly one writer")
	fs.StringVar(&secondaryHC, "secondary-health-check", "", "the SECONDARY record's health check `id` (output SecondaryHealthCheckId)")
	fs.IntVar(&replicas, "replicas", 1, "replicas per member (context replicas): nodes = 1 + replicas")
	fs.DurationVar(&timeout, "timeout", 10*time.Second, "deadline of each AWS call")
	fs.BoolVar(&asJSON, "json", false, "print the results as a JSON list")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		switch {
		case primaryRegion == "" || secondaryRegion == "" || primaryRegion == secondaryRegion:
			return usagef("--primary-region and --secondary-region: give two different regions, e.g. us-east-1 and us-west-2")
		case primaryGroup == "" || secondaryGroup == "":
			return usagef("--primary-group and --secondary-group: give both replication group ids")
		case replicas < 0 || replicas > 5:
			return usagef("--replicas %d: use 0 to 5", replicas)
		case timeout <= 0:
			return usagef("--timeout must be positive, e.g. --timeout 10s")
		case (primaryHC == "") != (secondaryHC == ""):
			return usagef("--primary-health-check and --secondary-health-check: give both (outputs HealthCheckId and SecondaryHealthCheckId), or neither")
		}
		ctx := cmd.Context()
		member := func(region, group, role, topic string) (verify.Member, error) {
			cfg, err := loadAWS(ctx, region, timeout)
			if err != nil {
				return verify.Member{}, err
			}
			return verify.Member{Region: region, GroupID: group, Role: role, TopicARN: topic,
				ElastiCache: elasticache.NewFromConfig(cfg), CloudWatch: cloudwatch.NewFromConfig(cfg), SNS: sns.NewFromConfig(cfg)}, nil
		}
		p, err := member(primaryRegion, primaryGroup, "PRIMARY", primaryTopic)
		if err != nil {
			return err
		}
		s, err := member(secondaryRegion, secondaryGroup, "SECONDARY", secondaryTopic)
		if err != nil {
			return err
		}
		target := verify.Target{GlobalID: globalID, Nodes: 1 + replicas, CallTimeout: timeout, Members: []verify.Member{p, s}}
		if primaryHC != "" {
			// Route 53 is global; its API answers in us-east-1.
			cfg, err := loadAWS(ctx, "us-east-1", timeout)
			if err != nil {
				return err
			}
			target.Route53 = route53.NewFromConfig(cfg)
			target.HealthChecks = []verify.HealthCheck{{Record: "PRIMARY", ID: primaryHC}, {Record: "SECONDARY", ID: secondaryHC}}
		}
		results := verify.Run(ctx, target)
		if asJSON {
			printJSON(env.Stdout, results)
		} else {
			for _, r := range results {
				fmt.Fprintln(env.Stdout, r)
			}
		}
		if n := verify.Failed(results); n > 0 {
			return findingf("%d of %d checks failed", n, len(results))
		}
		return nil
	}
	return cmd
}

// loadAWS loads the AWS configuration for region from the usual sources,
// bounded by timeout (reading an instance role's credentials is a call).
func loadAWS(ctx context.Context, region string, timeout time.Duration) (aws.Config, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(region))
	if err != nil {
		return cfg, fmt.Errorf("load the AWS configuration for %s: %w", region, err)
	}
	return cfg, nil
}
