package cli

import (
	"context"
	"fmt"
	"github.com/redisha/redisha/internal/deployment"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"
	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"

	"github.com/redisha/redisha/internal/check"
	"github.com/redisha/redisha/internal/promoter"
	"github.com/redisha/redisha/internal/promoter/latch"
	"github.com/redisha/redisha/internal/redisconn"
)

// gdsFlags are the flags of the commands that look at or move a Global
// Datastore (status, failover, switchover): which datastore, where to ask,
// where each region's endpoint, alarm and promoter state are.
type gdsFlags struct {
	conn       *connFlags
	datastore  string
	region     string
	endpoints  map[string]string
	alarms     map[string]string
	latchTable string
	prefix     string
	timeout    time.Duration
	// model is the deployment (--deployment): its alarm names, key prefix
	// and promoter bounds; without it, the defaults a deployment named
	// redisha has.
	modelPath string
	model     *deployment.Deployment
	cmd       *cobra.Command
	// noRedis: the command talks to AWS only, so --addr is not required.
	noRedis bool
}

func addGDSFlags(cmd *cobra.Command) *gdsFlags {
	g := &gdsFlags{conn: addConnFlags(cmd), cmd: cmd}
	fs := cmd.Flags()
	fs.StringVar(&g.datastore, "datastore", "", "the Global Datastore's full `id` (required), e.g. ldgnf-redisha")
	fs.StringVar(&g.region, "region", "", "the `region` whose ElastiCache endpoint to ask first (default: AWS_REGION)")
	fs.StringToStringVar(&g.endpoints, "endpoint", nil,
		"`region=host:port` of a member's primary endpoint, repeatable (default: what ElastiCache reports)")
	fs.StringToStringVar(&g.alarms, "alarm", nil, "`region=name` of a region's writable alarm, repeatable (default: the deployment's, redisha-<region>-writable)")
	fs.StringVar(&g.latchTable, "latch-table", "", "the promoters' DynamoDB `table` (default: the deployed one, redisha-latch-<datastore>, in each region)")
	fs.StringVar(&g.modelPath, "deployment", "", "the deployment: a synthesized cloud assembly `dir` (cdk.out) or its deployment.json; gives the alarms, key prefix and promoter bounds (default: a deployment named redisha with the default settings)")
	fs.StringVar(&g.prefix, "prefix", check.DefaultPrefix, "the checkers' key `prefix` (the heartbeat is <prefix>heartbeat)")
	fs.DurationVar(&g.timeout, "timeout", 5*time.Second, "deadline of each AWS and Redis call")
	durationRange(fs, "timeout", 10*time.Millisecond, 5*time.Minute, "")
	return g
}

// member is one region of the datastore as ElastiCache reports it.
type member struct {
	Region, Group, Role, Status string
	// Endpoint is the group's primary endpoint (host:port).
	Endpoint string
}

// gds is the resolved view the commands work on: clients per region.
type gds struct {
	flags         *gdsFlags
	aws           aws.Config
	conn          redisconn.Config
	dsStatus      string
	members       []member
	primaryRegion string
}

// open validates the flags, loads the AWS configuration and describes the
// datastore. Usage problems are *UsageError; the rest are findings.
func (g *gdsFlags) open(ctx context.Context, env Env) (*gds, error) {
	var conn redisconn.Config
	if !g.noRedis {
		var err error
		if conn, err = g.conn.config(env.Getenv, g.timeout); err != nil {
			return nil, err
		}
	}
	if g.datastore == "" {
		return nil, usagef("--datastore is required: give the Global Datastore's full id, e.g. --datastore ldgnf-redisha")
	}
	if g.modelPath != "" {
		m, err := readModel(g.modelPath)
		if err != nil {
			return nil, usagef("--deployment %s: %w", g.modelPath, err)
		}
		g.model = &m
		if !g.cmd.Flags().Changed("prefix") {
			g.prefix = m.Regions[0].Promoter.KeyPrefix
		}
	}
	if g.latchTable == "" {
		g.latchTable = deployment.LatchTable(g.datastore)
	}
	if err := validPrefix(g.prefix); err != nil {
		return nil, err
	}
	if g.timeout <= 0 {
		return nil, usagef("--timeout %s: use a positive duration such as 5s", g.timeout)
	}
	for region, addr := range g.endpoints {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return nil, usagef("--endpoint %s=%s: give region=host:port", region, addr)
		}
	}
	region := g.region
	if region == "" {
		region = env.Getenv("AWS_REGION")
	}
	if region == "" {
		return nil, usagef("--region is required when AWS_REGION is not set: give a region that holds a member, e.g. --region us-west-2")
	}
	ac, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(region))
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	d := &gds{flags: g, aws: ac, conn: conn}
	return d, d.describe(ctx, region)
}

func (d *gds) regionConfig(region string) aws.Config {
	c := d.aws.Copy()
	c.Region = region
	return c
}

func (d *gds) ec(region string) *elasticache.Client {
	return elasticache.NewFromConfig(d.regionConfig(region))
}

// describe reads the datastore and each member's primary endpoint through
// the given region's endpoint (a member's group is described in its own
// region).
func (d *gds) describe(ctx context.Context, region string) error {
	c, cancel := context.WithTimeout(ctx, d.flags.timeout)
	defer cancel()
	out, err := d.ec(region).DescribeGlobalReplicationGroups(c, &elasticache.DescribeGlobalReplicationGroupsInput{
		GlobalReplicationGroupId: aws.String(d.flags.datastore), ShowMemberInfo: aws.Bool(true)})
	if err != nil {
		return fmt.Errorf("describe %s through %s: %w", d.flags.datastore, region, err)
	}
	if len(out.GlobalReplicationGroups) != 1 {
		return fmt.Errorf("describe %s: %d datastores in the answer", d.flags.datastore, len(out.GlobalReplicationGroups))
	}
	g := out.GlobalReplicationGroups[0]
	d.dsStatus, d.members = aws.ToString(g.Status), nil
	for _, m := range g.Members {
		mb := member{Region: aws.ToString(m.ReplicationGroupRegion), Group: aws.ToString(m.ReplicationGroupId),
			Role: aws.ToString(m.Role), Status: aws.ToString(m.Status)}
		if strings.EqualFold(mb.Role, promoter.RolePrimary) {
			d.primaryRegion = mb.Region
		}
		mb.Endpoint = d.flags.endpoints[mb.Region]
		if mb.Endpoint == "" {
			c, cancel := context.WithTimeout(ctx, d.flags.timeout)
			rg, err := d.ec(mb.Region).DescribeReplicationGroups(c, &elasticache.DescribeReplicationGroupsInput{ReplicationGroupId: aws.String(mb.Group)})
			cancel()
			if err == nil && len(rg.ReplicationGroups) == 1 && len(rg.ReplicationGroups[0].NodeGroups) > 0 {
				if ep := rg.ReplicationGroups[0].NodeGroups[0].PrimaryEndpoint; ep != nil {
					mb.Endpoint = net.JoinHostPort(aws.ToString(ep.Address), strconv.Itoa(int(aws.ToInt32(ep.Port))))
				}
			}
		}
		d.members = append(d.members, mb)
	}
	slices.SortFunc(d.members, func(a, b member) int { return strings.Compare(a.Region, b.Region) })
	return nil
}

func (d *gds) member(region string) (member, bool) {
	for _, m := range d.members {
		if m.Region == region {
			return m, true
		}
	}
	return member{}, false
}

func (d *gds) alarm(region string) string {
	if a := d.flags.alarms[region]; a != "" {
		return a
	}
	if m := d.flags.model; m != nil {
		if r, ok := m.Region(region); ok {
			return r.Writable.Name
		}
	}
	return deployment.WritableAlarmName(deployment.DefaultName, region)
}

// bounds are the promoter's bounds in region, as deployed.
func (d *gds) bounds(region string) promoter.Bounds {
	if m := d.flags.model; m != nil {
		if r, ok := m.Region(region); ok {
			return r.Promoter.Bounds
		}
	}
	return promoter.Bounds{}.WithDefaults()
}

// readModel reads a deployment from a cloud assembly (its templates) or a
// model file.
func readModel(path string) (deployment.Deployment, error) {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return deployment.FromTemplates(path)
	}
	return deployment.ReadFile(path)
}

// redis returns a client of a member's endpoint: the connection flags'
// settings, verifying the endpoint's own name. Close it.
func (d *gds) redis(m member) (*redis.Client, error) {
	if m.Endpoint == "" {
		return nil, fmt.Errorf("%s has no known endpoint: give --endpoint %s=host:port", m.Region, m.Region)
	}
	c := d.conn
	c.Addr, c.TLSServerName = m.Endpoint, ""
	return redisconn.New(c)
}

// endpoint is the promoter's view of a member through client: shard by
// shard when the group runs in cluster mode (INFO cluster says), each node
// reached with the connection flags' settings. Close it.
func (d *gds) endpoint(m member, client *redis.Client) *promoter.ClusterEndpoint {
	return &promoter.ClusterEndpoint{Seed: promoter.RedisEndpoint{Client: client, Prefix: d.flags.prefix},
		SeedAddr: m.Endpoint, TLS: d.conn.TLS, Mode: check.ClusterAuto,
		Node: func(addr string) (*redis.Client, error) {
			c := d.conn
			c.Addr, c.TLSServerName = addr, ""
			return redisconn.New(c)
		}}
}

func (d *gds) store(region string) *latch.Store {
	return latch.New(dynamodb.NewFromConfig(d.regionConfig(region)), d.flags.latchTable, deployment.LatchKey(d.flags.datastore, region))
}

// runner is a promoter for region with this command's clients; peer is the
// current primary region.
func (d *gds) runner(m member, ep promoter.Endpoint, log io.Writer) *promoter.Runner {
	peer := d.primaryRegion
	return &promoter.Runner{
		Region: m.Region, DatastoreID: d.flags.datastore, GroupID: m.Group,
		PeerRegion: peer, PeerAlarm: d.alarm(peer),
		ElastiCache: d.ec(m.Region), Alarms: cloudwatch.NewFromConfig(d.regionConfig(peer)),
		Redis: ep,
		Store: d.store(m.Region), CallTimeout: d.flags.timeout, Bounds: d.bounds(m.Region),
		Log: slogText(log),
	}
}

// regionStatus is one region's line of `redisha status`.
type regionStatus struct {
	Region       string `json:"region"`
	Group        string `json:"replication_group"`
	Role         string `json:"role"`
	MemberStatus string `json:"member_status"`
	Endpoint     string `json:"endpoint"`
	// NodeRole is what the endpoint's node says (INFO replication);
	// Writable is true when it is a master.
	NodeRole  string `json:"node_role,omitempty"`
	Writable  bool   `json:"writable"`
	NodeError string `json:"node_error,omitempty"`
	// Heartbeat as this region's node holds it.
	HeartbeatSeq    uint64  `json:"heartbeat_seq,omitempty"`
	HeartbeatRegion string  `json:"heartbeat_region,omitempty"`
	HeartbeatAgeS   float64 `json:"heartbeat_age_s,omitempty"`
	HeartbeatError  string  `json:"heartbeat_error,omitempty"`
	Alarm           string  `json:"alarm"`
	AlarmState      string  `json:"alarm_state"`
	// The region's promoter, from its latch store.
	PromoterEpoch uint64 `json:"promoter_epoch"`
	PromoterMode  string `json:"promoter_mode,omitempty"`
	// ModeSetBy is who set the promoter's mode at run time (redisha
	// promoter mode|pause), in force until resumed.
	ModeSetBy      string    `json:"promoter_mode_set_by,omitempty"`
	ModeSetAt      time.Time `json:"promoter_mode_set_at,omitzero"`
	LastDecision   string    `json:"last_decision,omitempty"`
	LastRefused    string    `json:"last_refused,omitempty"`
	LastDecisionAt time.Time `json:"last_decision_at,omitzero"`
	LatchUntil     time.Time `json:"latch_until,omitzero"`
	PromoterError  string    `json:"promoter_error,omitempty"`
}

type statusReport struct {
	Datastore string         `json:"datastore"`
	Status    string         `json:"status"`
	Primary   string         `json:"primary_region"`
	Regions   []regionStatus `json:"regions"`
	// Addr is --addr; Resolves what its name resolves to from here.
	Addr        string   `json:"addr"`
	CNAME       string   `json:"cname,omitempty"`
	Resolves    []string `json:"resolves,omitempty"`
	ResolveErr  string   `json:"resolve_error,omitempty"`
	ResolvedVia string   `json:"resolved_region,omitempty"`
}

func newStatusCmd(env Env) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status --datastore ID --addr HOST:PORT [flags]",
		Short: "Show both regions of a Global Datastore: roles, writability, heartbeat, alarms, DNS and promoters",
		Long: `status shows, on one screen, each member region of the Global Datastore: its role and member
status (ElastiCache), what its endpoint's node says (master = writable), the heartbeat age and sequence
its node holds, its writable alarm's state, and its promoter's last decision and latch (from the
promoter's DynamoDB table in that region); then what --addr's name (redis.internal) resolves to from
here and which region that is.

AWS credentials and endpoints come from the usual AWS configuration (AWS_REGION, AWS_PROFILE,
AWS_ENDPOINT_URL_<SERVICE>, ...). Exit codes: 0 a region is writable, 1 none is (or the datastore
could not be described), 2 bad usage.`,
		Args: noArgs,
	}
	g := addGDSFlags(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the status as one JSON object")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		d, err := g.open(cmd.Context(), env)
		if err != nil {
			return err
		}
		rep := d.status(cmd.Context())
		if asJSON {
			printJSON(env.Stdout, rep)
		} else {
			printStatus(env.Stdout, rep)
		}
		for _, r := range rep.Regions {
			if r.Writable {
				return nil
			}
		}
		return findingf("no region's endpoint is writable")
	}
	return cmd
}

// status gathers every region's line concurrently.
func (d *gds) status(ctx context.Context) statusReport {
	rep := statusReport{Datastore: d.flags.datastore, Status: d.dsStatus, Primary: d.primaryRegion, Addr: d.conn.Addr}
	rep.Regions = make([]regionStatus, len(d.members))
	var wg sync.WaitGroup
	for i, m := range d.members {
		wg.Go(func() { rep.Regions[i] = d.regionStatus(ctx, m) })
	}
	wg.Go(func() { d.resolve(ctx, &rep) })
	wg.Wait()
	for _, r := range rep.Regions {
		host, _, _ := net.SplitHostPort(r.Endpoint)
		if host != "" && (strings.EqualFold(strings.TrimSuffix(rep.CNAME, "."), host) || slices.Contains(rep.Resolves, host)) {
			rep.ResolvedVia = r.Region
		}
	}
	return rep
}

func (d *gds) regionStatus(ctx context.Context, m member) regionStatus {
	rs := regionStatus{Region: m.Region, Group: m.Group, Role: m.Role, MemberStatus: m.Status, Endpoint: m.Endpoint, Alarm: d.alarm(m.Region)}
	var wg sync.WaitGroup
	wg.Go(func() {
		client, err := d.redis(m)
		if err != nil {
			rs.NodeError = err.Error()
			return
		}
		defer client.Close()
		c, cancel := context.WithTimeout(ctx, d.flags.timeout)
		defer cancel()
		info, err := client.Info(c, "replication").Result()
		if err != nil {
			rs.NodeError = err.Error()
		}
		for line := range strings.Lines(info) {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "role:"); ok {
				rs.NodeRole, rs.Writable = v, v == "master"
			}
		}
		ep := d.endpoint(m, client)
		defer ep.Close()
		hb := ep.Heartbeat(c)
		switch {
		case hb.Err != "":
			rs.HeartbeatError = hb.Err
		case !hb.Present:
			rs.HeartbeatError = "no heartbeat key"
		default:
			rs.HeartbeatSeq, rs.HeartbeatRegion = hb.Value.Seq, hb.Value.Region
			rs.HeartbeatAgeS = time.Since(hb.Value.Written).Seconds()
		}
	})
	wg.Go(func() {
		c, cancel := context.WithTimeout(ctx, d.flags.timeout)
		defer cancel()
		r := &promoter.Runner{PeerAlarm: rs.Alarm, Alarms: cloudwatch.NewFromConfig(d.regionConfig(m.Region)), CallTimeout: d.flags.timeout}
		a := r.ReadAlarm(c)
		switch {
		case a.Err != "":
			rs.AlarmState = "unreadable: " + a.Err
		case !a.Found:
			rs.AlarmState = "no such alarm"
		default:
			rs.AlarmState = a.State
		}
	})
	wg.Go(func() {
		c, cancel := context.WithTimeout(ctx, d.flags.timeout)
		defer cancel()
		rec, err := d.store(m.Region).Load(c)
		if err != nil {
			rs.PromoterError = err.Error()
			return
		}
		rs.PromoterEpoch, rs.LastDecision, rs.LastRefused, rs.LastDecisionAt = rec.State.Epoch, string(rec.LastAction), rec.LastRefused, rec.LastAt
		rs.PromoterMode = string(rec.Mode)
		if o := rec.State.ModeOverride; o != "" {
			rs.PromoterMode, rs.ModeSetBy, rs.ModeSetAt = string(o), rec.State.ModeSetBy, rec.State.ModeSetAt
		}
		if !rec.State.PromotedAt.IsZero() {
			rs.LatchUntil = rec.State.PromotedAt.Add(d.bounds(m.Region).Cooldown)
		}
	})
	wg.Wait()
	return rs
}

// resolve looks --addr's host up as clients here would.
func (d *gds) resolve(ctx context.Context, rep *statusReport) {
	host, _, err := net.SplitHostPort(rep.Addr)
	if err != nil {
		rep.ResolveErr = err.Error()
		return
	}
	c, cancel := context.WithTimeout(ctx, d.flags.timeout)
	defer cancel()
	if cname, err := net.DefaultResolver.LookupCNAME(c, host); err == nil && !strings.EqualFold(strings.TrimSuffix(cname, "."), host) {
		rep.CNAME = strings.TrimSuffix(cname, ".")
	}
	addrs, err := net.DefaultResolver.LookupHost(c, host)
	if err != nil {
		rep.ResolveErr = err.Error()
		return
	}
	rep.Resolves = addrs
}

func printStatus(w io.Writer, rep statusReport) {
	fmt.Fprintf(w, "Global Datastore %s: %s, primary %s\n\n", rep.Datastore, rep.Status, orDash(rep.Primary))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "REGION\tGROUP\tROLE\tMEMBER\tNODE\tWRITABLE\tHEARTBEAT\tALARM\tPROMOTER")
	for _, r := range rep.Regions {
		node := orDash(r.NodeRole)
		if r.NodeError != "" {
			node = "error: " + r.NodeError
		}
		hb := "-"
		switch {
		case r.HeartbeatError != "":
			hb = r.HeartbeatError
		case r.HeartbeatSeq != 0 || r.HeartbeatRegion != "":
			hb = fmt.Sprintf("%.1fs old (seq %d from %s)", r.HeartbeatAgeS, r.HeartbeatSeq, orDash(r.HeartbeatRegion))
		}
		prom := "no state"
		switch {
		case r.PromoterError != "":
			prom = "unreadable"
		case r.PromoterEpoch > 0:
			prom = fmt.Sprintf("%s, epoch %d: %s", orDash(r.PromoterMode), r.PromoterEpoch, r.LastDecision)
			if r.ModeSetBy != "" {
				prom = fmt.Sprintf("%s (set by %s %s ago; resume: redisha promoter resume), epoch %d: %s", r.PromoterMode, r.ModeSetBy,
					time.Since(r.ModeSetAt).Round(time.Second), r.PromoterEpoch, r.LastDecision)
			}
			if r.LastRefused != "" {
				prom += " (refused: " + r.LastRefused + ")"
			}
			if r.LatchUntil.After(time.Now()) {
				prom += ", latched until " + r.LatchUntil.UTC().Format("15:04:05Z")
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%v\t%s\t%s %s\t%s\n", r.Region, r.Group, r.Role, r.MemberStatus, node, r.Writable,
			hb, r.Alarm, r.AlarmState, prom)
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "\n%s resolves here to ", rep.Addr)
	switch {
	case rep.ResolveErr != "":
		fmt.Fprintf(w, "nothing (%s)\n", rep.ResolveErr)
	default:
		if rep.CNAME != "" {
			fmt.Fprintf(w, "%s -> ", rep.CNAME)
		}
		fmt.Fprintf(w, "%s", strings.Join(rep.Resolves, ", "))
		if rep.ResolvedVia != "" {
			fmt.Fprintf(w, " (%s)", rep.ResolvedVia)
		}
		fmt.Fprintln(w)
	}
}

// openTarget opens the datastore asking the target region's endpoint first
// (it must work when the other region is lost) and returns to's member.
func (g *gdsFlags) openTarget(ctx context.Context, env Env, to string) (*gds, member, error) {
	if g.region == "" {
		g.region = to
	}
	d, err := g.open(ctx, env)
	if err != nil {
		return nil, member{}, err
	}
	m, ok := d.member(to)
	if !ok {
		return nil, member{}, usagef("--to %s: the Global Datastore %s has no member there", to, g.datastore)
	}
	return d, m, nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
