package promoter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"
	ectypes "github.com/aws/aws-sdk-go-v2/service/elasticache/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/redisha/redisha/internal/metrics"
)

// ElastiCacheAPI is the part of the ElastiCache client the runner uses; it
// must be a client of the local (target) region.
type ElastiCacheAPI interface {
	DescribeGlobalReplicationGroups(ctx context.Context, in *elasticache.DescribeGlobalReplicationGroupsInput, opts ...func(*elasticache.Options)) (*elasticache.DescribeGlobalReplicationGroupsOutput, error)
	DescribeReplicationGroups(ctx context.Context, in *elasticache.DescribeReplicationGroupsInput, opts ...func(*elasticache.Options)) (*elasticache.DescribeReplicationGroupsOutput, error)
	FailoverGlobalReplicationGroup(ctx context.Context, in *elasticache.FailoverGlobalReplicationGroupInput, opts ...func(*elasticache.Options)) (*elasticache.FailoverGlobalReplicationGroupOutput, error)
}

// AlarmsAPI is the part of the CloudWatch client the runner uses; it must be
// a client of the peer (primary) region.
type AlarmsAPI interface {
	DescribeAlarms(ctx context.Context, in *cloudwatch.DescribeAlarmsInput, opts ...func(*cloudwatch.Options)) (*cloudwatch.DescribeAlarmsOutput, error)
}

// MetricDataAPI is GetMetricData of the peer (primary) region's CloudWatch:
// an AlarmsAPI that also has it lets the runner read the primary's last
// writable moment (the *cloudwatch.Client has both).
type MetricDataAPI interface {
	GetMetricData(ctx context.Context, in *cloudwatch.GetMetricDataInput, opts ...func(*cloudwatch.Options)) (*cloudwatch.GetMetricDataOutput, error)
}

// PublishAPI is the part of the SNS client the runner uses.
type PublishAPI interface {
	Publish(ctx context.Context, in *sns.PublishInput, opts ...func(*sns.Options)) (*sns.PublishOutput, error)
}

var (
	_ ElastiCacheAPI = (*elasticache.Client)(nil)
	_ AlarmsAPI      = (*cloudwatch.Client)(nil)
	_ MetricDataAPI  = (*cloudwatch.Client)(nil)
	_ PublishAPI     = (*sns.Client)(nil)
)

// Endpoint is the local replication group's Redis endpoint.
type Endpoint interface {
	// Heartbeat reads the primary's heartbeat as the local node holds it;
	// present is false when the key does not exist.
	Heartbeat(ctx context.Context) (hb Heartbeat)
	// Write makes one real write; it fails while the node is read-only.
	Write(ctx context.Context) error
}

// Defaults of the runner's timing.
const (
	DefaultCallTimeout    = 5 * time.Second
	DefaultPromoteTimeout = 5 * time.Minute
	DefaultPollInterval   = 5 * time.Second
)

// Runner gathers the observations of one run, decides, records the decision
// and acts on it. Build it once per process; Run once per scheduled run.
type Runner struct {
	// Region is the local region, the only one this runner may promote.
	Region string
	// DatastoreID is the Global Datastore's full id.
	DatastoreID string
	// GroupID is the local member's replication group id.
	GroupID string
	// PeerRegion and PeerAlarm name the other (primary) region and its
	// writable alarm.
	PeerRegion string
	PeerAlarm  string
	// PeerMetricDimensions are the dimensions of the peer checker's
	// metrics in Namespace; with them each run reads the peer's
	// HeartbeatWritten metric (GetMetricData, Maximum) as the primary's
	// last writable moment. nil: not read, and the data-loss guard bounds
	// the loss by now.
	PeerMetricDimensions []metrics.Dimension
	// Mode and Bounds: see Decide.
	Mode   Mode
	Bounds Bounds
	// AcceptedLoss is an operator's acceptance (commands only; the Lambda
	// never sets it).
	AcceptedLoss time.Duration
	// PrimaryDownConfirmed is an operator's word that the primary region is
	// down (commands only; see Input).
	PrimaryDownConfirmed bool
	// OperatorRun marks an operator's command run from another machine
	// (commands only): its reads of the peer's CloudWatch prove nothing
	// about the promoter's own route there, so the stored time of the last
	// successful read is kept as it was.
	OperatorRun bool
	// IgnoreLatch and IgnoreDatastoreGuard are an operator's explicit
	// overrides (commands only, honoured with OperatorRun; see Input).
	IgnoreLatch          bool
	IgnoreDatastoreGuard bool

	ElastiCache ElastiCacheAPI
	Alarms      AlarmsAPI
	Redis       Endpoint
	Store       StateStore
	// SNS and TopicARN: where pages go; nil SNS sends none (logged).
	SNS      PublishAPI
	TopicARN string
	// Observer, when set, is the optional third observer.
	Observer func(ctx context.Context) *Observer
	// Metrics receives one Embedded Metric Format line per decision
	// (Lambda's stdout); nil publishes none. Namespace default: Custom/Redis
	Metrics   io.Writer
	Namespace string
	Log       *slog.Logger

	// CallTimeout bounds each observation call. default: 5 seconds
	CallTimeout time.Duration
	// PromoteTimeout bounds the promotion, call to verified write, within
	// the invocation's own deadline. default: 5 minutes
	PromoteTimeout time.Duration
	// PollInterval is the pause between checks while promoting (±20 %
	// jitter, to keep clear of ElastiCache's API rate). default: 5 seconds
	PollInterval time.Duration
	// Now is the clock. default: time.Now
	Now func() time.Time
}

// Promotion is what acting did, step by step.
type Promotion struct {
	Started time.Time `json:"started"`
	// Called is when FailoverGlobalReplicationGroup was accepted.
	Called time.Time `json:"called,omitzero"`
	// Primary is when the datastore was available with the local member
	// PRIMARY; Writable when a real write then succeeded.
	Primary  time.Time `json:"primary,omitzero"`
	Writable time.Time `json:"writable,omitzero"`
	// Err says why it stopped short; empty on success.
	Err string `json:"error,omitempty"`
}

// Outcome is the result of one run.
type Outcome struct {
	Decision     Decision     `json:"decision"`
	Observations Observations `json:"-"`
	// Command is what an operator runs to promote (in advice and pages).
	Command   string     `json:"command,omitempty"`
	Promotion *Promotion `json:"promotion,omitempty"`
	// Stale is set when another run recorded a newer decision first: this
	// one did nothing.
	Stale bool `json:"stale,omitempty"`
}

func (r *Runner) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// modeFor is the mode a run decides in: an operator's run-time override
// (kept in the state, so every run reads it) over the deployed mode. An
// operator's own command is always auto: the command is the decision.
func (r *Runner) modeFor(st State) Mode {
	if st.ModeOverride != "" && !r.OperatorRun {
		return st.ModeOverride
	}
	return r.Mode
}

func (r *Runner) callTimeout() time.Duration {
	if r.CallTimeout > 0 {
		return r.CallTimeout
	}
	return DefaultCallTimeout
}

// Run makes one decision. The error is nil unless the runner could not do
// its job (state store unreadable or unwritable, a page not sent): the
// function's Errors metric then means "the promoter is broken".
func (r *Runner) Run(ctx context.Context) (Outcome, error) {
	log := r.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	sctx, cancel := context.WithTimeout(ctx, r.callTimeout())
	rec, err := r.Store.Load(sctx)
	cancel()
	if err != nil {
		log.Error("promoter cannot read its state; deciding nothing", "error", err.Error())
		return Outcome{}, err
	}

	obs := r.Observe(ctx)
	d := Decide(Input{LocalRegion: r.Region, Obs: obs, Prev: rec.State, Mode: r.modeFor(rec.State), Bounds: r.Bounds, AcceptedLoss: r.AcceptedLoss,
		PrimaryDownConfirmed: r.PrimaryDownConfirmed && r.OperatorRun,
		IgnoreLatch:          r.IgnoreLatch && r.OperatorRun, IgnoreDatastoreGuard: r.IgnoreDatastoreGuard && r.OperatorRun})
	if r.OperatorRun {
		d.Next.PeerAlarmReadAt = rec.State.PeerAlarmReadAt
	}
	out := Outcome{Decision: d, Observations: obs, Command: r.command()}

	sctx, cancel = context.WithTimeout(ctx, r.callTimeout())
	err = r.Store.Save(sctx, rec.State.Epoch, Record{State: d.Next, LastAction: d.Action, LastRefused: strings.Join(d.Refused(), ","),
		LastAt: obs.Now, Mode: d.Mode})
	cancel()
	if errors.Is(err, ErrConflict) {
		// Another run (an at-least-once duplicate, an operator's command)
		// decided since we read: our view is stale, act on nothing.
		out.Stale = true
		log.Warn("promoter decision dropped: another run recorded a newer one", "epoch", d.Epoch, "error", err.Error())
		return out, nil
	}
	if err != nil {
		log.Error("promoter cannot record its decision; acting on nothing", "epoch", d.Epoch, "error", err.Error())
		return out, err
	}
	r.logDecision(log, obs, d)
	r.publishMetric(log, obs.Now, d)

	var errs []error
	if d.Notify {
		errs = append(errs, r.page(ctx, log, d, nil))
	}
	if d.Action == ActPromote {
		p := r.Promote(ctx)
		out.Promotion = &p
		errs = append(errs, r.recordOutcome(ctx, log, d, p))
		log.Info("promotion finished", "epoch", d.Epoch, "ok", p.Err == "", "error", p.Err,
			"called_after", sinceOr(p.Called, p.Started), "primary_after", sinceOr(p.Primary, p.Started),
			"writable_after", sinceOr(p.Writable, p.Started))
		errs = append(errs, r.page(ctx, log, d, &p))
	}
	return out, errors.Join(errs...)
}

// recordOutcome stores what the attempt of decision d came to, on top of
// that decision (compare-and-set on its epoch): a failover ElastiCache
// accepted starts the latch at the acceptance; one it never accepted clears
// the attempt, so the next run retries (and pages) instead of the region
// staying read-only for the cooldown. Should this write fail, the attempt
// stays recorded and counts as aborted after the attempt window; accepted
// failovers are then latched by the roles swapping.
func (r *Runner) recordOutcome(ctx context.Context, log *slog.Logger, d Decision, p Promotion) error {
	next := d.Next
	next.Epoch = d.Epoch + 1
	next.AttemptAt, next.AbortedAt = time.Time{}, d.Next.AttemptAt
	outcome := "aborted"
	if !p.Called.IsZero() {
		next.PromotedAt, next.AbortedAt = p.Called, time.Time{}
		outcome = "accepted"
	}
	rec := Record{State: next, LastAction: d.Action, LastRefused: strings.Join(d.Refused(), ","), LastAt: r.now(), Mode: d.Mode}
	sctx, cancel := context.WithTimeout(ctx, r.callTimeout())
	defer cancel()
	err := r.Store.Save(sctx, d.Epoch, rec)
	if err != nil {
		log.Error("promotion outcome not recorded: the attempt counts as aborted after the attempt window", "epoch", d.Epoch,
			"outcome", outcome, "error", err.Error())
		if errors.Is(err, ErrConflict) {
			return nil // another run decided since: it saw the datastore itself
		}
		return fmt.Errorf("record the promotion's outcome (%s): %w", outcome, err)
	}
	log.Info("promotion outcome recorded", "epoch", next.Epoch, "outcome", outcome)
	return nil
}

// sinceOr is t - start, or "" when t is zero.
func sinceOr(t, start time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Sub(start).Round(time.Millisecond).String()
}

// Observe gathers this run's observations concurrently, each call within
// CallTimeout of ctx.
func (r *Runner) Observe(ctx context.Context) Observations {
	obs := Observations{Now: r.now()}
	var wg sync.WaitGroup
	wg.Go(func() { obs.Datastore = r.describe(ctx) })
	wg.Go(func() {
		c, cancel := context.WithTimeout(ctx, r.callTimeout())
		defer cancel()
		obs.Heartbeat = r.Redis.Heartbeat(c)
	})
	wg.Go(func() { obs.Alarm = r.ReadAlarm(ctx) })
	wg.Go(func() { obs.LastWrite = r.ReadLastWrite(ctx, obs.Now) })
	if r.Observer != nil {
		wg.Go(func() {
			c, cancel := context.WithTimeout(ctx, r.callTimeout())
			defer cancel()
			obs.Observer = r.Observer(c)
		})
	}
	wg.Wait()
	return obs
}

// describe reads the datastore and the local group through the local
// region's endpoint.
func (r *Runner) describe(ctx context.Context) Datastore {
	c, cancel := context.WithTimeout(ctx, r.callTimeout())
	defer cancel()
	out, err := r.ElastiCache.DescribeGlobalReplicationGroups(c, &elasticache.DescribeGlobalReplicationGroupsInput{
		GlobalReplicationGroupId: aws.String(r.DatastoreID), ShowMemberInfo: aws.Bool(true)})
	if err != nil {
		return Datastore{Err: "describe " + r.DatastoreID + ": " + err.Error()}
	}
	if len(out.GlobalReplicationGroups) != 1 {
		return Datastore{Err: fmt.Sprintf("describe %s: %d datastores in the answer", r.DatastoreID, len(out.GlobalReplicationGroups))}
	}
	g := out.GlobalReplicationGroups[0]
	ds := Datastore{Status: aws.ToString(g.Status)}
	for _, m := range g.Members {
		region, role := aws.ToString(m.ReplicationGroupRegion), aws.ToString(m.Role)
		if strings.EqualFold(role, RolePrimary) {
			ds.PrimaryRegion = region
		}
		if region == r.Region && aws.ToString(m.ReplicationGroupId) == r.GroupID {
			ds.LocalRole, ds.LocalStatus = role, aws.ToString(m.Status)
		}
	}
	rg, err := r.ElastiCache.DescribeReplicationGroups(c, &elasticache.DescribeReplicationGroupsInput{ReplicationGroupId: aws.String(r.GroupID)})
	if err != nil {
		return Datastore{Err: "describe replication group " + r.GroupID + ": " + err.Error()}
	}
	if len(rg.ReplicationGroups) != 1 {
		return Datastore{Err: fmt.Sprintf("describe replication group %s: %d groups in the answer", r.GroupID, len(rg.ReplicationGroups))}
	}
	ds.GroupStatus = aws.ToString(rg.ReplicationGroups[0].Status)
	ds.GroupPending = pending(rg.ReplicationGroups[0].PendingModifiedValues)
	return ds
}

// pending names the pending modifications that matter to a failover.
func pending(p *ectypes.ReplicationGroupPendingModifiedValues) []string {
	if p == nil {
		return nil
	}
	var out []string
	add := func(set bool, name string) {
		if set {
			out = append(out, name)
		}
	}
	add(p.PrimaryClusterId != nil, "PrimaryClusterId")
	add(p.AutomaticFailoverStatus != "", "AutomaticFailoverStatus")
	add(p.Resharding != nil, "Resharding")
	add(p.AuthTokenStatus != "", "AuthTokenStatus")
	add(p.UserGroups != nil, "UserGroups")
	add(p.TransitEncryptionEnabled != nil || p.TransitEncryptionMode != "", "TransitEncryption")
	add(p.ClusterMode != "", "ClusterMode")
	return out
}

// ReadAlarm reads the peer region's writable alarm. A transport failure, a
// timeout or a 5xx after the SDK's retries means the region's CloudWatch is
// unreachable; a 4xx (denied, throttled, invalid) is an error that is not
// evidence of anything.
func (r *Runner) ReadAlarm(ctx context.Context) Alarm {
	c, cancel := context.WithTimeout(ctx, r.callTimeout())
	defer cancel()
	out, err := r.Alarms.DescribeAlarms(c, &cloudwatch.DescribeAlarmsInput{
		AlarmNames: []string{r.PeerAlarm},
		AlarmTypes: []cwtypes.AlarmType{cwtypes.AlarmTypeMetricAlarm, cwtypes.AlarmTypeCompositeAlarm},
	})
	if err != nil {
		var resp *awshttp.ResponseError
		// A timeout also arrives as a ResponseError, with status 0.
		if errors.As(err, &resp) && resp.HTTPStatusCode() >= 400 && resp.HTTPStatusCode() < 500 {
			return Alarm{Err: err.Error()}
		}
		return Alarm{Unreachable: true, Err: err.Error()}
	}
	for _, a := range out.MetricAlarms {
		return Alarm{Found: true, State: string(a.StateValue)}
	}
	for _, a := range out.CompositeAlarms {
		return Alarm{Found: true, State: string(a.StateValue)}
	}
	return Alarm{}
}

// LastWriteWindow is how far back ReadLastWrite looks for the peer's
// HeartbeatWritten metric.
const LastWriteWindow = 15 * time.Minute

// ReadLastWrite reads the primary's last writable moment: the Maximum of
// the peer checker's HeartbeatWritten metric (the write time, in unix
// milliseconds by the primary's clock, of each heartbeat it wrote) over
// the last LastWriteWindow, from the peer region's CloudWatch.
func (r *Runner) ReadLastWrite(ctx context.Context, now time.Time) LastWrite {
	api, ok := r.Alarms.(MetricDataAPI)
	switch {
	case len(r.PeerMetricDimensions) == 0:
		return LastWrite{Err: "the peer checker's metric dimensions are not configured (" + EnvPeerMetricDimensions + ")"}
	case !ok:
		return LastWrite{Err: "the peer CloudWatch client cannot read metric data"}
	}
	ns := r.Namespace
	if ns == "" {
		ns = metrics.DefaultNamespace
	}
	dims := make([]cwtypes.Dimension, len(r.PeerMetricDimensions))
	for i, d := range r.PeerMetricDimensions {
		dims[i] = cwtypes.Dimension{Name: aws.String(d.Name), Value: aws.String(d.Value)}
	}
	c, cancel := context.WithTimeout(ctx, r.callTimeout())
	defer cancel()
	out, err := api.GetMetricData(c, &cloudwatch.GetMetricDataInput{
		// A minute of slack at the end: the primary's clock may run ahead.
		StartTime: aws.Time(now.Add(-LastWriteWindow)), EndTime: aws.Time(now.Add(time.Minute)),
		MetricDataQueries: []cwtypes.MetricDataQuery{{Id: aws.String("written"), MetricStat: &cwtypes.MetricStat{
			Metric: &cwtypes.Metric{Namespace: aws.String(ns), MetricName: aws.String(metrics.HeartbeatWritten), Dimensions: dims},
			Period: aws.Int32(60), Stat: aws.String("Maximum")}}},
	})
	if err != nil {
		return LastWrite{Err: "read " + metrics.HeartbeatWritten + " in " + r.PeerRegion + ": " + err.Error()}
	}
	var newest float64
	for _, res := range out.MetricDataResults {
		for _, v := range res.Values {
			newest = max(newest, v)
		}
	}
	if newest <= 0 {
		return LastWrite{Err: fmt.Sprintf("no %s datapoint in %s within %s", metrics.HeartbeatWritten, r.PeerRegion, LastWriteWindow)}
	}
	return LastWrite{Written: time.UnixMilli(int64(newest))}
}

// command is what an operator runs to promote the local member.
func (r *Runner) command() string {
	return fmt.Sprintf("redisha failover --to %s --apply   (or: aws elasticache failover-global-replication-group --region %s "+
		"--global-replication-group-id %s --primary-region %s --primary-replication-group-id %s)",
		r.Region, r.Region, r.DatastoreID, r.Region, r.GroupID)
}

// DecisionMessage is the message of the line each run logs its decision
// with; DecisionFields are its top-level fields an on-call reads first.
const DecisionMessage = "promoter decision"

// DecisionFields are the decision line's fields the dashboard shows.
var DecisionFields = []string{"action", "mode", "note", "primary_down", "overrides"}

// DecisionQuery is the CloudWatch Logs Insights query of the last ten
// decisions, for the function's JSON log lines (Lambda's format: the
// message under "message").
func DecisionQuery() string {
	return `filter message = "` + DecisionMessage + `"
| fields @timestamp, ` + strings.Join(DecisionFields, ", ") + `
| sort @timestamp desc
| limit 10`
}

func (r *Runner) logDecision(log *slog.Logger, obs Observations, d Decision) {
	guards := make([]any, 0, len(d.Guards))
	for _, v := range d.Guards {
		guards = append(guards, slog.Group(v.Guard, "ok", v.OK, "reason", v.Reason))
	}
	hb := []any{"present", obs.Heartbeat.Present, "seq", obs.Heartbeat.Value.Seq}
	if l := obs.Heartbeat.Link; l.Known {
		hb = append(hb, "link_up", l.Up, "link_last_io", l.LastIO.String())
	}
	if obs.Heartbeat.Err != "" {
		hb = append(hb, "error", obs.Heartbeat.Err)
	}
	log.Info(DecisionMessage,
		"epoch", d.Epoch, "action", string(d.Action), "mode", string(d.Mode), "mode_set_by", d.Next.ModeSetBy, "region", r.Region,
		"ready", d.Ready, "primary_down", d.PrimaryDown, "notify", d.Notify, "note", d.Note,
		"overrides", strings.Join(d.Overrides, ","), "retry", d.Retry,
		slog.Group("guards", guards...),
		slog.Group("heartbeat", hb...),
		slog.Group("alarm", "state", obs.Alarm.State, "unreachable", obs.Alarm.Unreachable, "error", obs.Alarm.Err),
		slog.Group("last_write", "at", obs.LastWrite.Written, "error", obs.LastWrite.Err),
		slog.Group("datastore", "status", obs.Datastore.Status, "primary_region", obs.Datastore.PrimaryRegion,
			"local_role", obs.Datastore.LocalRole, "error", obs.Datastore.Err))
}

// Promote fails the Global Datastore over to the local member through the
// local region's endpoint, then polls until the datastore is available with
// the local member PRIMARY and a real write succeeds. It touches neither
// Route 53, nor IAM, nor CloudFormation.
func (r *Runner) Promote(ctx context.Context) Promotion {
	p := Promotion{Started: r.now()}
	timeout := r.PromoteTimeout
	if timeout <= 0 {
		timeout = DefaultPromoteTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	c, cancelCall := context.WithTimeout(ctx, r.callTimeout())
	_, err := r.ElastiCache.FailoverGlobalReplicationGroup(c, &elasticache.FailoverGlobalReplicationGroupInput{
		GlobalReplicationGroupId:  aws.String(r.DatastoreID),
		PrimaryRegion:             aws.String(r.Region),
		PrimaryReplicationGroupId: aws.String(r.GroupID),
	})
	cancelCall()
	if err != nil {
		var state *ectypes.InvalidGlobalReplicationGroupStateFault
		if errors.As(err, &state) {
			p.Err = "the datastore refused the failover (not available or primary-only): " + err.Error() + "; the next run re-checks"
		} else {
			p.Err = "failover call: " + err.Error()
		}
		return p
	}
	p.Called = r.now()

	interval := r.PollInterval
	if interval <= 0 {
		interval = DefaultPollInterval
	}
	var last string
	for {
		// Roles swap only when the failover is done, so "available with
		// the local member PRIMARY" cannot be the stale available of the
		// moment before the datastore went to modifying.
		if p.Primary.IsZero() {
			ds := r.describe(ctx)
			switch {
			case ds.Err != "":
				last = ds.Err
			case strings.EqualFold(ds.Status, StatusAvailable) && strings.EqualFold(ds.LocalRole, RolePrimary):
				p.Primary = r.now()
			default:
				last = fmt.Sprintf("datastore %s, local member %s", ds.Status, ds.LocalRole)
			}
		}
		if !p.Primary.IsZero() {
			c, cancelCall := context.WithTimeout(ctx, r.callTimeout())
			err := r.Redis.Write(c)
			cancelCall()
			if err == nil {
				p.Writable = r.now()
				return p
			}
			last = "write to the local endpoint: " + err.Error()
		}
		jitter := time.Duration(float64(interval) * (0.8 + 0.4*rand.Float64()))
		t := time.NewTimer(jitter)
		select {
		case <-ctx.Done():
			t.Stop()
			p.Err = fmt.Sprintf("not verified within %s: %s", timeout, last)
			return p
		case <-t.C:
		}
	}
}

// page publishes one SNS message about a decision (and its promotion).
func (r *Runner) page(ctx context.Context, log *slog.Logger, d Decision, p *Promotion) error {
	subject, body := r.message(d, p)
	if r.SNS == nil || r.TopicARN == "" {
		log.Warn("no SNS topic configured: page not sent", "subject", subject)
		return nil
	}
	c, cancel := context.WithTimeout(ctx, r.callTimeout())
	defer cancel()
	_, err := r.SNS.Publish(c, &sns.PublishInput{TopicArn: aws.String(r.TopicARN), Subject: aws.String(subject), Message: aws.String(body)})
	if err != nil {
		log.Error("page not sent", "subject", subject, "error", err.Error())
		return fmt.Errorf("publish to %s: %w", r.TopicARN, err)
	}
	return nil
}

// message is a page's subject (at most 100 characters, SNS's limit) and
// body.
func (r *Runner) message(d Decision, p *Promotion) (subject, body string) {
	var b strings.Builder
	switch {
	case p != nil && p.Err == "":
		subject = fmt.Sprintf("redisha: %s promoted to primary", r.Region)
		fmt.Fprintf(&b, "The Global Datastore %s failed over to %s (%s): call accepted after %s, PRIMARY after %s, writable after %s.\n",
			r.DatastoreID, r.GroupID, r.Region, sinceOr(p.Called, p.Started), sinceOr(p.Primary, p.Started), sinceOr(p.Writable, p.Started))
	case p != nil:
		subject = fmt.Sprintf("redisha: promotion of %s FAILED", r.Region)
		fmt.Fprintf(&b, "The promotion of %s (%s) stopped: %s\n", r.GroupID, r.Region, p.Err)
	case d.Action == ActPromote && d.Retry:
		subject = fmt.Sprintf("redisha: retrying the promotion of %s (the last attempt aborted)", r.Region)
	case d.Action == ActPromote:
		subject = fmt.Sprintf("redisha: promoting %s (primary %s is down)", r.Region, r.PeerRegion)
	case d.Action == ActAdvise:
		subject = fmt.Sprintf("redisha: %s is down; promote %s? (advise mode)", r.PeerRegion, r.Region)
		fmt.Fprintf(&b, "Every guard holds. To promote:\n  %s\n", r.command())
	default:
		subject = fmt.Sprintf("redisha: promotion of %s refused (%s)", r.Region, strings.Join(d.Refused(), ", "))
	}
	if p != nil && p.Err != "" {
		if p.Called.IsZero() {
			b.WriteString("ElastiCache never accepted the call: the latch is not taken and the next run retries.\n")
		} else {
			b.WriteString("ElastiCache accepted the call: the latch holds from then.\n")
		}
	}
	if len(d.Overrides) > 0 {
		fmt.Fprintf(&b, "\nOperator overrides: %s\n", strings.Join(d.Overrides, ", "))
	}
	fmt.Fprintf(&b, "\nDecision epoch %d, action %s, mode %s:\n", d.Epoch, d.Action, d.Mode)
	if o := d.Next.ModeOverride; o != "" {
		fmt.Fprintf(&b, "(mode %s set at run time by %s at %s; the deployed mode is %s)\n", o, d.Next.ModeSetBy,
			d.Next.ModeSetAt.UTC().Format(time.RFC3339), r.Mode)
	}
	for _, v := range d.Guards {
		mark := "REFUSES"
		if v.OK {
			mark = "holds"
		}
		fmt.Fprintf(&b, "  %-9s %-7s %s\n", v.Guard, mark, v.Reason)
	}
	if len(subject) > 100 {
		subject = subject[:100]
	}
	return subject, b.String()
}
