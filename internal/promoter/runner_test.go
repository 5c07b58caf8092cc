package promoter_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/redis/go-redis/v9"

	"github.com/redisha/redisha/internal/check"
	"github.com/redisha/redisha/internal/metrics"
	"github.com/redisha/redisha/internal/promoter"
	"github.com/redisha/redisha/internal/promoter/latch"
	"github.com/redisha/redisha/internal/redisconn"
	"github.com/redisha/redisha/internal/sim/cwlocal"
	"github.com/redisha/redisha/internal/sim/ddblocal"
	"github.com/redisha/redisha/internal/sim/eclocal"
	"github.com/redisha/redisha/internal/sim/redisserver"
	"github.com/redisha/redisha/internal/sim/snslocal"
	"github.com/redisha/redisha/internal/testbed/gdslocal"
	"github.com/redisha/redisha/internal/testbed/redistest"
)

const (
	grg       = "ldgnf-redisha"
	alarmName = "redisha-us-east-1-writable"
	topic     = "arn:aws:sns:us-west-2:123456789012:redisha-pages"
)

// bed is two regions on loopback: redis-server A (us-east-1, primary) and
// B (us-west-2, its replica), the local ElastiCache, CloudWatch, DynamoDB
// and SNS endpoints, and a runner for us-west-2 on a clock the test moves.
type bed struct {
	t       *testing.T
	a, b    *redisserver.Server
	adminA  *redis.Client
	ec      *eclocal.Server
	cw      *cwlocal.Server
	ddb     *ddblocal.Server
	sns     *snslocal.Server
	runner  *promoter.Runner
	metrics *bytes.Buffer
	logs    *bytes.Buffer

	mu  sync.Mutex
	now time.Time
	seq uint64
}

func newBed(t *testing.T) *bed {
	t.Helper()
	a := redistest.Start(t, redisserver.Options{})
	b := redistest.StartReplica(t, a, "")
	bd := &bed{t: t, a: a, b: b, adminA: redistest.Admin(t, a.Addr, "", ""), now: t0, seq: 500,
		metrics: &bytes.Buffer{}, logs: &bytes.Buffer{}}
	adminB := redistest.Admin(t, b.Addr, "", "")

	// The failover hook does what ElastiCache does to the nodes: B stops
	// replicating and takes writes.
	w := gdslocal.Start(t, gdslocal.Options{Datastore: grg,
		Secondary:     gdslocal.Region{Name: "us-west-2", Group: "redis-secondary", Endpoint: b.Addr},
		FailoverDelay: 20 * time.Millisecond,
		// What ElastiCache does to the nodes: B stops replicating and
		// takes writes.
		OnFailover: func(eclocal.Failover) error {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			return adminB.Do(ctx, "REPLICAOF", "NO", "ONE").Err()
		}})
	bd.ec, bd.cw, bd.ddb, bd.sns = w.EC, w.CW, w.DDB, w.SNS

	client, err := redisconn.New(redisconn.Config{Addr: b.Addr, DialTimeout: time.Second, IOTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	bd.runner = &promoter.Runner{
		Region: "us-west-2", DatastoreID: grg, GroupID: "redis-secondary",
		PeerRegion: "us-east-1", PeerAlarm: alarmName, PeerMetricDimensions: peerDims,
		Mode:        promoter.ModeAuto,
		Bounds:      promoter.Bounds{StallAfter: 90 * time.Second},
		ElastiCache: eclocal.NewClient(bd.ec.URL(), "us-west-2", 3),
		Alarms:      cwlocal.NewClient(bd.cw.URL(), 2),
		Redis:       promoter.RedisEndpoint{Client: client},
		Store:       latch.New(ddblocal.NewClient(bd.ddb.URL(), "us-west-2", 3), w.LatchTable, grg+"/us-west-2"),
		SNS:         snslocal.NewClient(bd.sns.URL(), "us-west-2", 2),
		TopicARN:    topic,
		Metrics:     bd.metrics,
		// As the function logs in Lambda's JSON format (the dashboard's
		// query reads it).
		Log:         slog.New(slog.NewJSONHandler(bd.logs, &slog.HandlerOptions{ReplaceAttr: lambdacontext.ReplaceAttr})),
		CallTimeout: 2 * time.Second, PollInterval: 10 * time.Millisecond, PromoteTimeout: 20 * time.Second,
		Now: bd.clock,
	}
	return bd
}

func (bd *bed) clock() time.Time {
	bd.mu.Lock()
	defer bd.mu.Unlock()
	return bd.now
}

// tick moves the clock 30 s: one scheduled run.
func (bd *bed) tick() {
	bd.mu.Lock()
	defer bd.mu.Unlock()
	bd.now = bd.now.Add(30 * time.Second)
}

// heartbeat writes the next heartbeat on A, as A's checker does, and waits
// until B has it.
func (bd *bed) heartbeat(lag time.Duration) {
	bd.t.Helper()
	bd.seq++
	hb := check.Heartbeat{Written: bd.clock().Add(-lag), Region: "us-east-1", Seq: bd.seq}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := bd.adminA.Set(ctx, check.DefaultPrefix+"heartbeat", hb.String(), 10*time.Minute).Err(); err != nil {
		bd.t.Fatalf("write heartbeat: %v", err)
	}
	if n, err := bd.adminA.Do(ctx, "WAIT", 1, 5000).Int(); err != nil || n != 1 {
		bd.t.Fatalf("heartbeat not replicated: %d, %v", n, err)
	}
	// A's checker wrote at now (B holds the heartbeat of lag ago) and
	// published the write time, as the real one does.
	bd.publishWrite(bd.clock())
}

// peerDims are A's checker's metric dimensions.
var peerDims = []metrics.Dimension{{Name: "ReplicationGroup", Value: "redis-primary"}}

// publishWrite puts A's HeartbeatWritten metric (the write time at) into
// A's CloudWatch through the real SDK.
func (bd *bed) publishWrite(at time.Time) {
	bd.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := cwlocal.NewClient(bd.cw.URL(), 2).PutMetricData(ctx, &cloudwatch.PutMetricDataInput{
		Namespace: aws.String(metrics.DefaultNamespace),
		MetricData: []cwtypes.MetricDatum{{MetricName: aws.String(metrics.HeartbeatWritten), Timestamp: aws.Time(at),
			Value: aws.Float64(float64(at.UnixMilli())), Unit: cwtypes.StandardUnitNone,
			Dimensions: []cwtypes.Dimension{{Name: aws.String("ReplicationGroup"), Value: aws.String("redis-primary")}}}},
	})
	if err != nil {
		bd.t.Fatalf("publish HeartbeatWritten: %v", err)
	}
}

func (bd *bed) run() promoter.Outcome {
	bd.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := bd.runner.Run(ctx)
	if err != nil {
		bd.t.Fatalf("run: %v", err)
	}
	return out
}

func (bd *bed) failoverCalls() []eclocal.Call {
	var out []eclocal.Call
	for _, c := range bd.ec.Calls() {
		if c.Action == "FailoverGlobalReplicationGroup" {
			out = append(out, c)
		}
	}
	return out
}

func TestRunnerPromotesWhenThePrimaryRegionIsLost(t *testing.T) {
	bd := newBed(t)
	for range 3 { // healthy
		bd.tick()
		bd.heartbeat(2 * time.Second)
		if out := bd.run(); out.Decision.Action != promoter.ActNone {
			t.Fatalf("healthy: %+v", out.Decision)
		}
	}
	// Region A is lost: its node stops, its checker falls silent and the
	// writable alarm goes to ALARM.
	if err := bd.a.Stop(); err != nil {
		t.Fatal(err)
	}
	bd.cw.SetAlarmState(alarmName, "ALARM")
	var out promoter.Outcome
	runs := 0
	for out.Decision.Action != promoter.ActPromote && runs < 6 {
		bd.tick()
		out = bd.run()
		runs++
	}
	if out.Decision.Action != promoter.ActPromote {
		t.Fatalf("no promotion in %d runs: %+v", runs, out.Decision.Guards)
	}
	if runs != 3 { // stalled 30, 60, 90 s: the third run reaches the 90 s bound
		t.Errorf("promoted on run %d of the outage, want 3", runs)
	}
	p := out.Promotion
	if p == nil || p.Err != "" || p.Called.IsZero() || p.Primary.IsZero() || p.Writable.IsZero() {
		t.Fatalf("promotion %+v", p)
	}
	calls := bd.failoverCalls()
	if len(calls) != 1 || calls[0].Region != "us-west-2" || calls[0].Params["PrimaryRegion"] != "us-west-2" ||
		calls[0].Params["PrimaryReplicationGroupId"] != "redis-secondary" {
		t.Fatalf("failover calls %+v, want one through us-west-2 naming the local member", calls)
	}
	if d, _ := bd.ec.Datastore(grg); d.Members[1].Role != eclocal.RolePrimary {
		t.Fatalf("datastore after: %+v", d)
	}
	// B really takes writes.
	if err := redistest.Admin(t, bd.b.Addr, "", "").Set(context.Background(), "app:key", "v", 0).Err(); err != nil {
		t.Fatalf("write to the promoted node: %v", err)
	}
	msgs, err := bd.sns.WaitFor(2, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	last := msgs[len(msgs)-1]
	if !strings.Contains(last.Subject, "us-west-2 promoted to primary") || !strings.Contains(last.Message, "evidence  holds") {
		t.Fatalf("last page %+v", last)
	}
	// The latch holds: the next runs do nothing (local member PRIMARY).
	bd.tick()
	if out := bd.run(); out.Decision.Action != promoter.ActNone || len(bd.failoverCalls()) != 1 {
		t.Fatalf("after the promotion: %+v", out.Decision)
	}
	// One log record and one metric line per decision, with every guard.
	if n := strings.Count(bd.logs.String(), `"message":"promoter decision"`); n != 7 {
		t.Errorf("%d decision records, want 7", n)
	}
	var rec struct {
		Epoch  uint64 `json:"epoch"`
		Guards map[string]struct {
			OK     bool   `json:"ok"`
			Reason string `json:"reason"`
		} `json:"guards"`
	}
	for line := range strings.Lines(bd.logs.String()) {
		if strings.Contains(line, `"action":"promote"`) {
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Fatal(err)
			}
		}
	}
	if rec.Epoch != 6 || len(rec.Guards) != 6 || !rec.Guards["latch"].OK || rec.Guards["data-loss"].Reason == "" {
		t.Errorf("promote record %+v", rec)
	}
	if n := strings.Count(bd.metrics.String(), `"PromoterAction":2`); n != 1 {
		t.Errorf("%d metric lines with PromoterAction 2, want 1:\n%s", n, bd.metrics)
	}
}

func TestRunnerNeverPromotesAcrossAPartition(t *testing.T) {
	bd := newBed(t)
	bd.tick()
	bd.heartbeat(time.Second)
	bd.run()
	// The observers lose the primary, but its heartbeats keep arriving.
	bd.cw.SetAlarmState(alarmName, "ALARM")
	for range 8 {
		bd.tick()
		bd.heartbeat(time.Second)
		out := bd.run()
		if out.Decision.Action != promoter.ActNone || !strings.Contains(out.Decision.Verdict(promoter.GuardEvidence).Reason, "partition") {
			t.Fatalf("partition: %+v", out.Decision)
		}
	}
	if len(bd.failoverCalls()) != 0 {
		t.Fatal("a failover was called across a partition")
	}
	if m := bd.sns.Messages(); len(m) != 1 || !strings.Contains(m[0].Message, "partition") {
		t.Fatalf("pages %+v, want one about the partition", m)
	}
}

// outageRuns makes a healthy run, then stops A's heartbeats with the alarm in
// ALARM and runs until the stall bound is reached.
func (bd *bed) outageRuns() promoter.Outcome {
	bd.tick()
	bd.heartbeat(time.Second)
	bd.run()
	if err := bd.a.Stop(); err != nil {
		bd.t.Fatal(err)
	}
	bd.cw.SetAlarmState(alarmName, "ALARM")
	var out promoter.Outcome
	for range 3 {
		bd.tick()
		out = bd.run()
	}
	return out
}

func TestRunnerAdvisesWithTheCommand(t *testing.T) {
	bd := newBed(t)
	bd.runner.Mode = promoter.ModeAdvise
	out := bd.outageRuns()
	if out.Decision.Action != promoter.ActAdvise || len(bd.failoverCalls()) != 0 {
		t.Fatalf("advise: %+v, failover calls %d", out.Decision, len(bd.failoverCalls()))
	}
	m, err := bd.sns.WaitFor(1, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	want := "redisha failover --to us-west-2 --apply"
	if !strings.Contains(m[len(m)-1].Message, want) || !strings.Contains(m[len(m)-1].Message, "--primary-replication-group-id redis-secondary") {
		t.Fatalf("advice %q does not give the command", m[len(m)-1].Message)
	}
}

func TestRunnerLeavesASilentRegionToAPerson(t *testing.T) {
	bd := newBed(t)
	bd.tick()
	bd.heartbeat(time.Second)
	bd.run()
	bd.runner.CallTimeout = 300 * time.Millisecond
	if err := bd.a.Stop(); err != nil {
		t.Fatal(err)
	}
	bd.cw.Stall(10 * time.Second) // the primary region's CloudWatch answers nothing
	var out promoter.Outcome
	for range 3 {
		bd.tick()
		out = bd.run()
	}
	// From here a silent region and a partition look alike: this region's
	// view alone is no evidence, and how much the primary took after the
	// newest heartbeat here cannot be read either (bounded by now).
	if out.Decision.Action != promoter.ActNone || out.Decision.PrimaryDown || !out.Observations.Alarm.Unreachable ||
		!slices.Equal(out.Decision.Refused(), []string{promoter.GuardEvidence, promoter.GuardDataLoss}) ||
		out.Decision.Note != promoter.NoteRegionSilent ||
		!strings.Contains(out.Decision.Verdict(promoter.GuardDataLoss).Reason, "bounded by now") {
		t.Fatalf("silent region: %+v %+v", out.Observations.Alarm, out.Decision.Guards)
	}
	// An operator who found the region down confirms it and accepts that
	// much: promoted.
	bd.runner.OperatorRun, bd.runner.PrimaryDownConfirmed = true, true
	bd.runner.AcceptedLoss = 5 * time.Minute
	bd.tick()
	if out = bd.run(); out.Decision.Action != promoter.ActPromote {
		t.Fatalf("confirmed and accepted: %+v", out.Decision.Guards)
	}
}

// TestRunnerRecordsTheLastPeerRead: the stored state keeps when the peer's
// alarm was last read, only a successful read moves it, and an operator's
// command (another machine's route) does not.
func TestRunnerRecordsTheLastPeerRead(t *testing.T) {
	bd := newBed(t)
	stored := func() time.Time {
		t.Helper()
		rec, err := bd.runner.Store.Load(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return rec.State.PeerAlarmReadAt
	}
	bd.runner.OperatorRun = true
	bd.tick()
	bd.heartbeat(time.Second)
	bd.run()
	if got := stored(); !got.IsZero() {
		t.Fatalf("an operator's run recorded a peer read at %s", got)
	}
	bd.runner.OperatorRun = false
	bd.tick()
	bd.run()
	read := bd.clock()
	if got := stored(); !got.Equal(read) {
		t.Fatalf("peer alarm read at %s, want %s", got, read)
	}
	// Denied: CloudWatch answered, but the alarm was not read (both reads,
	// alarm and metric, are denied: they run concurrently).
	denied := cwlocal.Failure{Status: 400, Code: "AccessDenied"}
	bd.cw.FailNext(denied, denied)
	bd.tick()
	bd.run()
	// Unreachable.
	bd.runner.CallTimeout = 300 * time.Millisecond
	bd.cw.Stall(10 * time.Second)
	bd.tick()
	if out := bd.run(); !out.Observations.Alarm.Unreachable {
		t.Fatalf("alarm %+v, want unreachable", out.Observations.Alarm)
	}
	if got := stored(); !got.Equal(read) {
		t.Fatalf("peer alarm read at %s after failed reads, want %s", got, read)
	}
}

// TestRunnerWithoutARouteToThePeerRefuses is a promoter in a VPC with no path
// to the other region's CloudWatch: every read fails to connect. The
// heartbeat stall alone is no evidence: it refuses, says why, and pages
// once for the missing route and once when it blocks a stall.
func TestRunnerWithoutARouteToThePeerRefuses(t *testing.T) {
	bd := newBed(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	bd.runner.Alarms = cwlocal.NewClient(closed, 1)
	for range 2 {
		bd.tick()
		bd.heartbeat(time.Second)
		bd.run()
	}
	if err := bd.a.Stop(); err != nil {
		t.Fatal(err)
	}
	var out promoter.Outcome
	for range 6 {
		bd.tick()
		out = bd.run()
		if out.Decision.Action != promoter.ActNone || out.Decision.PrimaryDown {
			t.Fatalf("no route: %+v", out.Decision)
		}
	}
	if r := out.Decision.Verdict(promoter.GuardEvidence).Reason; !strings.Contains(r, "has not advanced for 3m0s") ||
		!strings.Contains(r, "the other region's CloudWatch has never been reachable from here") || !strings.Contains(r, "docs/failover.md") {
		t.Fatalf("evidence verdict %q", r)
	}
	if len(bd.failoverCalls()) != 0 {
		t.Fatal("a failover was called without evidence")
	}
	m := bd.sns.Messages()
	if len(m) < 2 || len(m) > 3 || !strings.Contains(m[0].Message, "network path is missing") || !strings.Contains(m[len(m)-1].Message, "has not advanced") {
		t.Fatalf("pages %+v, want the missing route, then the stall it blocks (once per distinct refusal)", m)
	}
}

func TestRunnerReportsARefusedFailover(t *testing.T) {
	bd := newBed(t)
	// The describe calls are throttled once (the SDK retries), then the
	// failover call is refused: the datastore changed state in between.
	bd.ec.FailNext("DescribeGlobalReplicationGroups", eclocal.Throttled)
	bd.ec.FailNext("FailoverGlobalReplicationGroup", eclocal.InvalidState)
	out := bd.outageRuns()
	if out.Decision.Action != promoter.ActPromote || out.Promotion == nil || !strings.Contains(out.Promotion.Err, "refused the failover") {
		t.Fatalf("outcome %+v %+v", out.Decision, out.Promotion)
	}
	m := bd.sns.Messages()
	if !strings.Contains(m[len(m)-1].Subject, "FAILED") {
		t.Fatalf("last page %+v", m[len(m)-1])
	}
	// ElastiCache never accepted the call: the latch is not taken, and the
	// next run retries (the datastore is available again).
	bd.tick()
	out = bd.run()
	if out.Decision.Action != promoter.ActPromote || !out.Decision.Retry || out.Promotion == nil || out.Promotion.Err != "" {
		t.Fatalf("after a refused failover: %+v %+v", out.Decision, out.Promotion)
	}
	if m := bd.sns.Messages(); !strings.Contains(m[len(m)-2].Subject, "retrying the promotion") {
		t.Fatalf("the retry is not paged: %+v", m[len(m)-2])
	}
}

func TestRunnerRetriesAThrottledFailover(t *testing.T) {
	bd := newBed(t)
	// Every attempt the SDK makes (3) is throttled: the call fails.
	bd.ec.FailNext("FailoverGlobalReplicationGroup", eclocal.Throttled, eclocal.Throttled, eclocal.Throttled)
	out := bd.outageRuns()
	if out.Promotion == nil || out.Promotion.Err == "" || !out.Promotion.Called.IsZero() {
		t.Fatalf("throttled attempt: %+v", out.Promotion)
	}
	if m := bd.sns.Messages(); !strings.Contains(m[len(m)-1].Message, "never accepted the call") {
		t.Fatalf("last page %+v", m[len(m)-1])
	}
	bd.tick()
	out = bd.run()
	if out.Promotion == nil || out.Promotion.Err != "" {
		t.Fatalf("the next run did not retry: %+v %+v", out.Decision.Guards, out.Promotion)
	}
	// Accepted: now the latch holds (calls: 3 throttled, 1 accepted).
	bd.tick()
	if out := bd.run(); out.Decision.Action != promoter.ActNone || len(bd.failoverCalls()) != 4 {
		t.Fatalf("after the accepted retry: %+v, %d calls", out.Decision, len(bd.failoverCalls()))
	}
}

// lostReply is a StateStore whose writes land but whose replies are lost
// while lose is set: the run sees an error after the store has recorded
// its decision, as when a Lambda dies between the latch write and the call.
type lostReply struct {
	promoter.StateStore
	lose bool
}

func (s *lostReply) Save(ctx context.Context, prev uint64, r promoter.Record) error {
	if err := s.StateStore.Save(ctx, prev, r); err != nil {
		return err
	}
	if s.lose {
		return errors.New("read tcp: connection reset by peer")
	}
	return nil
}

func TestRunnerRetriesAnAttemptWhoseLatchWriteReplyWasLost(t *testing.T) {
	bd := newBed(t)
	bd.tick()
	bd.heartbeat(time.Second)
	bd.run()
	if err := bd.a.Stop(); err != nil {
		t.Fatal(err)
	}
	bd.cw.SetAlarmState(alarmName, "ALARM")
	bd.tick()
	bd.run()
	bd.tick()
	bd.run()
	store := &lostReply{StateStore: bd.runner.Store, lose: true}
	bd.runner.Store = store
	bd.tick()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := bd.runner.Run(ctx)
	if err == nil || out.Promotion != nil || len(bd.failoverCalls()) != 0 {
		t.Fatalf("a run whose decision write failed acted: %v %+v", err, out)
	}
	store.lose = false
	bd.tick() // 30 s later: inside the attempt window, the attempt may be in flight
	if out := bd.run(); out.Decision.Action != promoter.ActNone || !strings.Contains(out.Decision.Verdict(promoter.GuardLatch).Reason, "in flight") {
		t.Fatalf("inside the attempt window: %+v", out.Decision.Guards)
	}
	bd.tick() // 60 s: the attempt aborted; retried, not latched for the cooldown
	out = bd.run()
	if !out.Decision.Retry || out.Promotion == nil || out.Promotion.Err != "" || len(bd.failoverCalls()) != 1 {
		t.Fatalf("the aborted attempt was not retried: %+v %+v", out.Decision.Guards, out.Promotion)
	}
}

// racing is a StateStore through which another run records a decision
// between this run's Load and Save, as an at-least-once duplicate does.
type racing struct {
	promoter.StateStore
	once sync.Once
}

func (r *racing) Load(ctx context.Context) (promoter.Record, error) {
	rec, err := r.StateStore.Load(ctx)
	if err == nil {
		r.once.Do(func() {
			next := rec
			next.State.Epoch++
			err = r.StateStore.Save(ctx, rec.State.Epoch, next)
		})
	}
	return rec, err
}

func TestRunnerActsOnNothingWhenItsViewIsStale(t *testing.T) {
	bd := newBed(t)
	bd.tick()
	bd.heartbeat(time.Second)
	bd.run()
	bd.cw.SetAlarmState(alarmName, "ALARM")
	bd.tick()
	bd.run()
	bd.tick()
	bd.run()
	bd.tick()
	bd.runner.Store = &racing{StateStore: bd.runner.Store}
	out := bd.run()
	if !out.Stale || out.Promotion != nil || len(bd.failoverCalls()) != 0 {
		t.Fatalf("stale run acted: %+v", out)
	}
	if !strings.Contains(bd.logs.String(), "another run recorded a newer one") {
		t.Fatal("the dropped decision is not logged")
	}
}

func TestRedisEndpoint(t *testing.T) {
	a := redistest.Start(t, redisserver.Options{})
	c, err := redisconn.New(redisconn.Config{Addr: a.Addr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	e := promoter.RedisEndpoint{Client: c, Prefix: "hc:"}
	ctx := context.Background()
	if hb := e.Heartbeat(ctx); hb.Present || hb.Err != "" {
		t.Fatalf("no key: %+v", hb)
	}
	admin := redistest.Admin(t, a.Addr, "", "")
	admin.Set(ctx, "hc:heartbeat", "1764000000000 us-east-1 "+strconv.Itoa(42), 0)
	if hb := e.Heartbeat(ctx); !hb.Present || hb.Value.Seq != 42 || hb.Value.Region != "us-east-1" {
		t.Fatalf("heartbeat %+v", hb)
	}
	admin.Set(ctx, "hc:heartbeat", "garbage", 0)
	if hb := e.Heartbeat(ctx); hb.Err == "" {
		t.Fatalf("garbage heartbeat %+v", hb)
	}
	if err := e.Write(ctx); err != nil {
		t.Fatal(err)
	}
	// A replica refuses the write.
	r := redistest.StartReplica(t, a, "")
	rc, _ := redisconn.New(redisconn.Config{Addr: r.Addr})
	t.Cleanup(func() { _ = rc.Close() })
	if err := (promoter.RedisEndpoint{Client: rc}).Write(ctx); err == nil || !strings.Contains(err.Error(), "READONLY") {
		t.Fatalf("write to a replica: %v", err)
	}
}

// A 4xx from the peer region's CloudWatch (denied, throttled) says nothing
// about the region: not a down vote.
func TestRunnerDeniedAlarmIsNotEvidence(t *testing.T) {
	bd := newBed(t)
	bd.tick()
	bd.heartbeat(time.Second)
	bd.run()
	var out promoter.Outcome
	for range 3 {
		// Both reads of the peer's CloudWatch (alarm, metric) are denied.
		denied := cwlocal.Failure{Status: 400, Code: "AccessDenied"}
		bd.cw.FailNext(denied, denied)
		bd.tick()
		out = bd.run()
	}
	if out.Decision.Action != promoter.ActNone || out.Observations.Alarm.Unreachable ||
		!strings.Contains(out.Decision.Verdict(promoter.GuardEvidence).Reason, "could not be read") {
		t.Fatalf("denied alarm: %+v %+v", out.Observations.Alarm, out.Decision.Guards)
	}
}

// TestHeartbeatEvidenceCannotBeForged runs A's real checker (signing with
// the heartbeat key) and reads the heartbeat through B, a real replica, as
// the promoter does; then an application holding the Redis token writes
// the key every way it can, and none of it reads as evidence.
func TestHeartbeatEvidenceCannotBeForged(t *testing.T) {
	a := redistest.Start(t, redisserver.Options{})
	b := redistest.StartReplica(t, a, "")
	admin := redistest.Admin(t, a.Addr, "", "")
	client, err := redisconn.New(redisconn.Config{Addr: b.Addr, DialTimeout: time.Second, IOTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	key := []byte("0123456789abcdef0123456789abcdef")
	e := promoter.RedisEndpoint{Client: client, Key: func(context.Context) ([]byte, error) { return key, nil }}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	replicated := func() {
		t.Helper()
		if n, err := admin.Do(ctx, "WAIT", 1, 5000).Int(); err != nil || n != 1 {
			t.Fatalf("not replicated: %d %v", n, err)
		}
	}
	checker := func(now time.Time) {
		t.Helper()
		r := check.Check(ctx, admin, check.Options{Heartbeat: true, HeartbeatSecret: key, Region: "us-east-1",
			ExpectRole: check.Primary, Now: func() time.Time { return now }})
		if !r.Healthy {
			t.Fatalf("checker: %+v", r)
		}
		replicated()
	}
	checker(time.Now())
	if hb := e.Heartbeat(ctx); !hb.Present || hb.Err != "" || hb.Value.Region != "us-east-1" {
		t.Fatalf("the checker's signed heartbeat: %+v", hb)
	}

	signed := check.Heartbeat{Written: time.Now(), Region: "us-east-1", Seq: 7}.Signed([]byte("another key, not the checkers'"))
	big := strings.Repeat("x", 1<<20)
	for _, tc := range []struct {
		name  string
		write func() error
		want  string
	}{
		{"forged signature", func() error { return admin.Set(ctx, "healthcheck:heartbeat", signed, 0).Err() }, "does not verify"},
		{"unsigned", func() error {
			return admin.Set(ctx, "healthcheck:heartbeat", check.Heartbeat{Written: time.Now(), Region: "us-east-1", Seq: 8}.String(), 0).Err()
		}, "not signed"},
		{"oversized", func() error { return admin.Set(ctx, "healthcheck:heartbeat", big, 0).Err() }, "over the 128-byte cap"},
		{"wrong type", func() error {
			if err := admin.Del(ctx, "healthcheck:heartbeat").Err(); err != nil {
				return err
			}
			return admin.LPush(ctx, "healthcheck:heartbeat", "1764000000000 us-east-1 9").Err()
		}, "not a string"},
	} {
		if err := tc.write(); err != nil {
			t.Fatal(err)
		}
		replicated()
		hb := e.Heartbeat(ctx)
		if hb.Present || !strings.Contains(hb.Err, tc.want) {
			t.Errorf("%s: %+v, want an error containing %q", tc.name, hb, tc.want)
		}
		if strings.Contains(hb.Err, "xxxx") || strings.Contains(hb.Err, signed) {
			t.Errorf("%s: the error echoes the value: %s", tc.name, hb.Err)
		}
		// Through a decision: no evidence, and a page.
		in := outage()
		in.Obs.Heartbeat = hb
		if d := promoter.Decide(in); d.Action != promoter.ActNone || d.Note != promoter.NoteHeartbeatUnreadable || !d.Notify {
			t.Errorf("%s: decision %s note %q notify %v", tc.name, d.Action, d.Note, d.Notify)
		}
	}

	// A checker whose clock runs ten minutes ahead (or a key holder dating
	// its write ahead): signed, but refused as written in the future.
	if err := admin.Del(ctx, "healthcheck:heartbeat").Err(); err != nil {
		t.Fatal(err)
	}
	checker(time.Now().Add(10 * time.Minute))
	in := outage()
	in.Obs.Now = time.Now()
	in.Obs.Heartbeat = e.Heartbeat(ctx)
	if d := promoter.Decide(in); d.Action != promoter.ActNone || !strings.Contains(d.Verdict(promoter.GuardEvidence).Reason, "ahead of this promoter's clock") {
		t.Errorf("future-dated: %+v", d.Guards)
	}

	// Evicted: memory full under volatile-lru (ElastiCache's default
	// policy) evicts the heartbeat, the one key with a TTL here; the
	// replica sees it gone, which is absence, not an error.
	checker(time.Now())
	for _, cmd := range [][]any{{"CONFIG", "SET", "maxmemory-policy", "volatile-lru"}, {"CONFIG", "SET", "maxmemory", "8mb"}} {
		if err := admin.Do(ctx, cmd...).Err(); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; e.Heartbeat(ctx).Present && i < 200; i++ {
		// An application's write may be refused (OOM) while eviction
		// catches up: that is its problem, not the test's.
		if err := admin.Set(ctx, "app:"+strconv.Itoa(i), strings.Repeat("v", 64<<10), 0).Err(); err != nil && !strings.HasPrefix(err.Error(), "OOM") {
			t.Fatal(err)
		}
		replicated()
	}
	if hb := e.Heartbeat(ctx); hb.Present || hb.Err != "" {
		t.Fatalf("evicted: %+v", hb)
	}
}

// TestRunnerMeasuresTheLossAfterTheLinkBroke is the stale secondary of a
// replication link that breaks first: A keeps taking writes (its checker
// publishes HeartbeatWritten) that never reach B, then A is lost. The loss
// is measured from the newest heartbeat B holds to A's last write, and
// refused over MAX_DATA_LOSS.
func TestRunnerMeasuresTheLossAfterTheLinkBroke(t *testing.T) {
	bd := newBed(t)
	for range 2 {
		bd.tick()
		bd.heartbeat(time.Second)
		bd.run()
	}
	// The link breaks: A writes on for two minutes, B sees nothing new.
	for range 4 {
		bd.tick()
		bd.publishWrite(bd.clock())
		if out := bd.run(); out.Decision.Action != promoter.ActNone {
			t.Fatalf("link broken, A healthy: %+v", out.Decision.Guards)
		}
	}
	// A is lost.
	if err := bd.a.Stop(); err != nil {
		t.Fatal(err)
	}
	bd.cw.SetAlarmState(alarmName, "ALARM")
	var out promoter.Outcome
	for range 4 {
		bd.tick()
		out = bd.run()
	}
	v := out.Decision.Verdict(promoter.GuardDataLoss)
	if out.Decision.Action != promoter.ActNone || !out.Decision.PrimaryDown || v.OK || !strings.Contains(v.Reason, "up to 2m1s of writes not here, over the 5s bound") {
		t.Fatalf("after the link broke first: %+v", out.Decision.Guards)
	}
	if len(bd.failoverCalls()) != 0 {
		t.Fatal("a stale secondary was promoted")
	}
}

func TestRunnerRefusesAReplica20sBehind(t *testing.T) {
	bd := newBed(t)
	bd.tick()
	bd.heartbeat(20 * time.Second) // B holds the heartbeat A wrote 20 s before its last write
	bd.run()
	if err := bd.a.Stop(); err != nil {
		t.Fatal(err)
	}
	bd.cw.SetAlarmState(alarmName, "ALARM")
	var out promoter.Outcome
	for range 4 {
		bd.tick()
		out = bd.run()
	}
	if v := out.Decision.Verdict(promoter.GuardDataLoss); v.OK || !strings.Contains(v.Reason, "up to 20s of writes not here, over the 5s bound") {
		t.Fatalf("20 s behind: %+v", out.Decision.Guards)
	}
}

// TestRunnerNeverPromotesALivePrimaryThatRefusesWrites: A's memory is full
// under noeviction, so its checker's writes fail (OOM): the heartbeat
// stalls and the writable alarm fires, both at once, while A lives and its
// replication link to B stays up. That is no region loss.
func TestRunnerNeverPromotesALivePrimaryThatRefusesWrites(t *testing.T) {
	bd := newBed(t)
	bd.tick()
	bd.heartbeat(time.Second)
	bd.run()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, cmd := range [][]any{{"CONFIG", "SET", "maxmemory-policy", "noeviction"}, {"CONFIG", "SET", "maxmemory", "1"}} {
		if err := bd.adminA.Do(ctx, cmd...).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := bd.adminA.Set(ctx, check.DefaultPrefix+"heartbeat", "x", 0).Err(); err == nil || !strings.HasPrefix(err.Error(), "OOM") {
		t.Fatalf("A accepted a write at maxmemory: %v", err)
	}
	bd.cw.SetAlarmState(alarmName, "ALARM")
	for range 6 {
		bd.tick()
		out := bd.run()
		if out.Decision.Action != promoter.ActNone {
			t.Fatalf("a live primary refusing writes: %+v", out.Decision.Guards)
		}
	}
	out := bd.run()
	if out.Decision.Note != promoter.NotePrimaryAnswers || !strings.Contains(out.Decision.Verdict(promoter.GuardEvidence).Reason, "replication link to the primary is up") {
		t.Fatalf("after the stall bound: note %q, %+v", out.Decision.Note, out.Decision.Guards)
	}
	if len(bd.failoverCalls()) != 0 {
		t.Fatal("a live primary was failed over")
	}
	// Paged: first as what it looks like early on (a partition: the alarm
	// fires under a heartbeat within two intervals), then, past the stall
	// bound, as a primary that refuses writes; once each.
	if m := bd.sns.Messages(); len(m) != 2 || !strings.Contains(m[1].Message, "refuses writes") {
		t.Fatalf("pages %+v, want the partition, then the primary refusing writes", m)
	}
}

// An operator's run-time mode (redisha promoter mode|pause|resume) is kept
// in the state table: every later run decides in it, the record says who
// set it, a run that loaded the state before acts on nothing, and resume
// brings the deployed mode back. An operator's own command stays auto.
func TestRunTimeModeIsReadEveryRun(t *testing.T) {
	bd := newBed(t)
	bd.tick()
	bd.heartbeat(time.Second)
	if out := bd.run(); out.Decision.Mode != promoter.ModeAuto {
		t.Fatalf("deployed mode: decided in %q", out.Decision.Mode)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	before, err := bd.runner.Store.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := promoter.SetMode(ctx, bd.runner.Store, "PAUSE", "ops@example", bd.clock()); err == nil {
		t.Fatal("an unknown mode was accepted")
	}
	rec, err := promoter.SetMode(ctx, bd.runner.Store, promoter.ModeOff, "ops@example", bd.clock())
	if err != nil || rec.State.Epoch != before.State.Epoch+1 {
		t.Fatalf("set mode: epoch %d (was %d), %v", rec.State.Epoch, before.State.Epoch, err)
	}
	// A run that loaded the state before the change acts on nothing.
	if err := bd.runner.Store.Save(ctx, before.State.Epoch, before); !errors.Is(err, promoter.ErrConflict) {
		t.Fatalf("a stale run's save: %v", err)
	}
	bd.tick()
	out := bd.run()
	if out.Decision.Mode != promoter.ModeOff || out.Decision.Next.ModeSetBy != "ops@example" {
		t.Fatalf("after pause: mode %q, set by %q", out.Decision.Mode, out.Decision.Next.ModeSetBy)
	}
	stored, err := bd.runner.Store.Load(ctx)
	if err != nil || stored.Mode != promoter.ModeOff || stored.State.ModeOverride != promoter.ModeOff {
		t.Fatalf("stored %+v, %v", stored, err)
	}
	bd.runner.OperatorRun = true
	bd.tick()
	if out := bd.run(); out.Decision.Mode != promoter.ModeAuto {
		t.Fatalf("an operator's command decided in %q", out.Decision.Mode)
	}
	bd.runner.OperatorRun = false
	if _, err := promoter.SetMode(ctx, bd.runner.Store, "", "ops@example", bd.clock()); err != nil {
		t.Fatal(err)
	}
	bd.tick()
	if out := bd.run(); out.Decision.Mode != promoter.ModeAuto || out.Decision.Next.ModeOverride != "" {
		t.Fatalf("after resume: mode %q, override %q", out.Decision.Mode, out.Decision.Next.ModeOverride)
	}
}

// Each run's decision line, in Lambda's JSON log format, carries the
// message and the top-level fields the dashboard's query selects.
func TestDecisionLinesAnswerTheDashboardQuery(t *testing.T) {
	bd := newBed(t)
	bd.tick()
	bd.heartbeat(time.Second)
	bd.run()
	found := false
	for _, line := range strings.Split(strings.TrimSpace(bd.logs.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not a JSON line: %q", line)
		}
		if m["message"] != promoter.DecisionMessage {
			continue
		}
		found = true
		for _, f := range promoter.DecisionFields {
			if _, ok := m[f]; !ok {
				t.Errorf("the decision line has no %q, which the dashboard's query selects: %s", f, line)
			}
		}
	}
	if !found {
		t.Fatalf("no line with message %q:\n%s", promoter.DecisionMessage, bd.logs.String())
	}
	if q := promoter.DecisionQuery(); !strings.Contains(q, `filter message = "`+promoter.DecisionMessage+`"`) {
		t.Errorf("query %q", q)
	}
}
