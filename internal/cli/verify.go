package cli

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/spf13/cobra"

	"github.com/redisha/redisha/internal/deployment"
	"github.com/redisha/redisha/internal/verify"
)

func newVerifyCmd(env Env) *cobra.Command {
	var (
		primaryRegion, secondaryRegion string
		primaryGroup, secondaryGroup   string
		globalID                       string
		primaryTopic, secondaryTopic   string
		primaryHC, secondaryHC         string
		primaryKey, secondaryKey       string
		resolveName, dnsServer         string
		promoterRoles, promoterTables  []string
		replicas, shards               int
		timeout                        time.Duration
		asJSON, stackOutputs           bool
		modelPath, name                string
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
(GetHealthCheckStatus), that exactly one is healthy: DNS follows the one region that takes writes;
given the topics' keys (GetKeyPolicy), that CloudWatch may use them to publish; given --resolve (run inside the
VPC), that the name's CNAME chain ends at the endpoint of the member that is PRIMARY now; given the promoter
roles (SimulatePrincipalPolicy, a dry run: nothing is called), that each may fail over the datastore, use its
latch table, publish to its topic and read the peer's writable alarm.

With --stack-outputs it takes the datastore's id, the topics and their keys, the health checks and the
promoters' roles and latch tables from the deployed stacks' outputs (DescribeStacks), so that
"redisha verify --deployment cdk.out --stack-outputs" runs every check; a flag given wins over an output.

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
	fs.StringVar(&primaryKey, "primary-topic-key", "", "the primary alarm topic's KMS key (`ARN or id`): its policy must let CloudWatch use it; empty: not checked")
	fs.StringVar(&secondaryKey, "secondary-topic-key", "", "the secondary alarm topic's KMS key (`ARN or id`); empty: not checked")
	fs.StringVar(&resolveName, "resolve", "", "the `name` the applications use (e.g. redis.internal; run inside the VPC): it must resolve to the PRIMARY's endpoint; empty: not checked")
	fs.StringVar(&dnsServer, "dns-server", "", "ask this DNS `host:port` for --resolve (e.g. the VPC resolver 169.254.169.253:53); empty: the system's")
	fs.StringArrayVar(&promoterRoles, "promoter-role", nil, "`REGION=ARN` of a region's promoter role, repeatable: its permissions are simulated (needs --global-id, the region's topic and --promoter-table)")
	fs.StringArrayVar(&promoterTables, "promoter-table", nil, "`REGION=NAME` of a region's promoter latch table, repeatable (default: the deployed redisha-latch-<global id>)")
	fs.IntVar(&replicas, "replicas", 1, "replicas of each shard's primary, per member (context replicasPerShard): nodes a shard = 1 + replicas")
	fs.IntVar(&shards, "shards", 0, "shards of each member in cluster mode (context shards; 0: cluster mode disabled): its nodes are <group>-0001-001 …")
	fs.StringVar(&modelPath, "deployment", "", "the deployment to verify against: a synthesized cloud assembly `dir` (cdk.out) or its deployment.json; gives the regions, groups and replicas the flags above default to")
	fs.BoolVar(&stackOutputs, "stack-outputs", false, "take what the flags above default to from the deployed stacks' outputs (cloudformation:DescribeStacks): "+
		"the datastore's id, the alarm topics and their keys, the health checks, the promoters' roles and latch tables; the stacks are those --deployment names, or the --name deployment's")
	fs.StringVar(&name, "name", deployment.DefaultName, "the deployment's `name` (context name), for --stack-outputs without --deployment: its stacks are <Name>Primary, <Name>Secondary, <Name>Dns")
	fs.DurationVar(&timeout, "timeout", 10*time.Second, "deadline of each AWS call")
	intRange(fs, "replicas", 0, 5, "")
	intRange(fs, "shards", 0, 500, "")
	durationRange(fs, "timeout", 10*time.Millisecond, 5*time.Minute, "")
	fs.BoolVar(&asJSON, "json", false, "print the results as a JSON list")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		stackNames := [3]string{deployment.StackID(name, "primary"), deployment.StackID(name, "secondary"), deployment.StackID(name, "dns")}
		if modelPath != "" {
			m, err := readModel(modelPath)
			if err != nil {
				return usagef("--deployment %s: %w", modelPath, err)
			}
			stackNames = [3]string{m.Regions[0].Stack, m.Regions[1].Stack, m.DNSStackID()}
			// The model's values, unless a flag says otherwise.
			for flag, v := range map[string]*string{"primary-region": &primaryRegion, "secondary-region": &secondaryRegion,
				"primary-group": &primaryGroup, "secondary-group": &secondaryGroup} {
				if !fs.Changed(flag) {
					*v = map[string]string{"primary-region": m.Regions[0].Name, "secondary-region": m.Regions[1].Name,
						"primary-group": m.Regions[0].GroupID, "secondary-group": m.Regions[1].GroupID}[flag]
				}
			}
			if !fs.Changed("replicas") && m.Settings.Replicas > 0 {
				replicas = m.Settings.Replicas
			}
			if c := m.Settings.Members(); !fs.Changed("shards") && c.ClusterMode {
				shards = m.Settings.DeployedShards()
			}
		}
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
		roles, err := regionMap("--promoter-role", promoterRoles, primaryRegion, secondaryRegion)
		if err != nil {
			return err
		}
		tables, err := regionMap("--promoter-table", promoterTables, primaryRegion, secondaryRegion)
		if err != nil {
			return err
		}
		if stackOutputs {
			var primaryRole, secondaryRole, primaryTable, secondaryTable string
			flagOf := map[*string]string{&globalID: "global-id", &primaryTopic: "primary-topic-arn", &secondaryTopic: "secondary-topic-arn",
				&primaryKey: "primary-topic-key", &secondaryKey: "secondary-topic-key", &primaryHC: "primary-health-check",
				&secondaryHC: "secondary-health-check"} // roles and tables: merged per region below
			err := readStackOutputs(cmd.Context(), []deployedStack{
				{stackNames[0], primaryRegion, map[string]*string{"GlobalDatastoreId": &globalID, "AlarmTopicArn": &primaryTopic,
					"AlarmTopicKeyArn": &primaryKey, "PromoterRoleArn": &primaryRole, "PromoterLatchTable": &primaryTable}},
				{stackNames[1], secondaryRegion, map[string]*string{"AlarmTopicArn": &secondaryTopic, "AlarmTopicKeyArn": &secondaryKey,
					"PromoterRoleArn": &secondaryRole, "PromoterLatchTable": &secondaryTable}},
				{stackNames[2], primaryRegion, map[string]*string{"HealthCheckId": &primaryHC, "SecondaryHealthCheckId": &secondaryHC}},
			}, timeout, func(v *string) bool { return fs.Changed(flagOf[v]) })
			if err != nil {
				return err
			}
			for _, x := range []struct{ region, role, table string }{{primaryRegion, primaryRole, primaryTable}, {secondaryRegion, secondaryRole, secondaryTable}} {
				if roles[x.region] == "" && x.role != "" {
					roles[x.region] = x.role
				}
				if tables[x.region] == "" && x.table != "" {
					tables[x.region] = x.table
				}
			}
		}
		// The deployed latch table is named after the datastore, in each region.
		for _, r := range []string{primaryRegion, secondaryRegion} {
			if tables[r] == "" && globalID != "" {
				tables[r] = deployment.LatchTable(globalID)
			}
		}
		ctx := cmd.Context()
		var iamClient verify.IAMAPI
		if len(roles) > 0 {
			if globalID == "" {
				return usagef("--promoter-role: give --global-id too (output GlobalDatastoreId): the failover permission is simulated on it")
			}
			// IAM is global; its API answers in us-east-1.
			cfg, err := loadAWS(ctx, "us-east-1", timeout)
			if err != nil {
				return err
			}
			iamClient = iam.NewFromConfig(cfg)
		}
		member := func(region, peer, group, role, topic, key string) (verify.Member, error) {
			m := verify.Member{Region: region, GroupID: group, Role: role, TopicARN: topic, TopicKey: key}
			if arn := roles[region]; arn != "" {
				if topic == "" || tables[region] == "" {
					return m, usagef("--promoter-role %s=…: give the region's alarm topic (--%s-topic-arn) and --promoter-table %s=NAME too",
						region, strings.ToLower(role), region)
				}
				perms, err := verify.PromoterPermissions(arn, region, peer, globalID, tables[region], topic, key)
				if err != nil {
					return m, usagef("--promoter-role %s=…: %v", region, err)
				}
				m.PromoterRole, m.Permissions, m.IAM = arn, perms, iamClient
			}
			cfg, err := loadAWS(ctx, region, timeout)
			if err != nil {
				return m, err
			}
			m.ElastiCache, m.CloudWatch, m.SNS, m.KMS = elasticache.NewFromConfig(cfg), cloudwatch.NewFromConfig(cfg), sns.NewFromConfig(cfg), kms.NewFromConfig(cfg)
			return m, nil
		}
		p, err := member(primaryRegion, secondaryRegion, primaryGroup, "PRIMARY", primaryTopic, primaryKey)
		if err != nil {
			return err
		}
		s, err := member(secondaryRegion, primaryRegion, secondaryGroup, "SECONDARY", secondaryTopic, secondaryKey)
		if err != nil {
			return err
		}
		target := verify.Target{GlobalID: globalID, Nodes: 1 + replicas, Cluster: shards > 0, Shards: shards, CallTimeout: timeout, Members: []verify.Member{p, s},
			Resolve: resolveName}
		if dnsServer != "" {
			target.Resolver = &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, network, dnsServer)
			}}
		}
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

// regionMap parses repeated REGION=VALUE flags; each region must be one of
// the two members'.
func regionMap(flag string, values []string, regions ...string) (map[string]string, error) {
	out := map[string]string{}
	for _, v := range values {
		region, value, ok := strings.Cut(v, "=")
		if !ok || value == "" || !slices.Contains(regions, region) {
			return nil, usagef("%s %q: give REGION=VALUE, REGION one of %s", flag, v, strings.Join(regions, ", "))
		}
		out[region] = value
	}
	return out, nil
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
