package drill

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"
	"github.com/redis/go-redis/v9"

	"github.com/redisha/redisha/internal/promoter"
	"github.com/redisha/redisha/internal/redisconn"
)

// How an AWS drill's fault comes.
const (
	// TriggerPromote: the drill calls FailoverGlobalReplicationGroup
	// through the target region's endpoint.
	TriggerPromote = "promote"
	// TriggerWait: the drill waits for an outage someone else causes (a
	// fault injection experiment, an operator); the fault is the first
	// failed write.
	TriggerWait = "wait"
)

// AWSMember is one member region of the datastore.
type AWSMember struct {
	Region, Group string
	// Alarm is the region's writable alarm ("" when none is watched).
	Alarm string
}

// AWSConfig shapes a drill against a real deployment: applications and a
// probe on redis.internal, the fault through the real ElastiCache API.
type AWSConfig struct {
	// Datastore is the Global Datastore's id. Required.
	Datastore string
	// From is the current primary member, To the secondary to promote.
	From, To AWSMember
	// Trigger: TriggerPromote (default) or TriggerWait.
	Trigger string
	// AWS is the SDK configuration; the region is set per call.
	AWS aws.Config
	// Conn is the applications' and the probe's connection to
	// redis.internal (Conn.Addr).
	Conn redisconn.Config
	// Dial, when set, replaces the connections' dialer (tests: a
	// resolver on a local DNS server).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Resolve returns what redis.internal's name answers, for the DNS
	// row. default: the system resolver's CNAME, else its addresses
	Resolve func(ctx context.Context, host string) (string, error)
	// Writers is the number of applications. default: 2
	Writers int
	// Interval between one application's writes. default: 100ms
	Interval time.Duration
	// WarmUp runs before the fault. default: 30s
	WarmUp time.Duration
	// Observe bounds the wait for the recovery after the fault. default: 15m
	Observe time.Duration
	// Settle is how long the drill keeps measuring once writes are back
	// and redis.internal has moved. default: 30s
	Settle time.Duration
	// Timeout bounds every AWS call and every Redis command. default: 5s
	Timeout time.Duration
	// Poll is the pause between the probe's samples. default: 1s
	Poll time.Duration
	// Status receives a line whenever what the drill sees changes.
	Status io.Writer
}

func (c AWSConfig) withDefaults() AWSConfig {
	if c.Trigger == "" {
		c.Trigger = TriggerPromote
	}
	if c.Writers == 0 {
		c.Writers = 2
	}
	def(&c.Interval, 100*time.Millisecond)
	def(&c.WarmUp, 30*time.Second)
	def(&c.Observe, 15*time.Minute)
	def(&c.Settle, 30*time.Second)
	def(&c.Timeout, 5*time.Second)
	def(&c.Poll, time.Second)
	c.Status = orDiscard(c.Status)
	return c
}

// Validate names each bad field and the fix.
func (c AWSConfig) Validate() error {
	c = c.withDefaults()
	var errs []error
	if c.Datastore == "" {
		errs = append(errs, errors.New("drill: Datastore is empty: give the Global Datastore's id (--datastore)"))
	}
	if c.To.Region == "" || c.To.Group == "" || c.From.Region == "" {
		errs = append(errs, errors.New("drill: From and To need a region and a replication group: describe the datastore first"))
	}
	if c.Trigger != TriggerPromote && c.Trigger != TriggerWait {
		errs = append(errs, fmt.Errorf("drill: Trigger %q: use %s or %s", c.Trigger, TriggerPromote, TriggerWait))
	}
	if c.Writers < 1 || c.Writers > 16 {
		errs = append(errs, fmt.Errorf("drill: Writers %d: use 1 to 16", c.Writers))
	}
	if c.Conn.Addr == "" {
		errs = append(errs, errors.New("drill: Conn.Addr is empty: give redis.internal's host:port (--addr)"))
	}
	return errors.Join(errs...)
}

// Plan says, in a few lines, what RunAWS will do.
func (c AWSConfig) Plan() string {
	c = c.withDefaults()
	var b strings.Builder
	fmt.Fprintf(&b, "drill against the real deployment: Global Datastore %s, primary %s (%s), secondary %s (%s)\n",
		c.Datastore, c.From.Region, c.From.Group, c.To.Region, c.To.Group)
	fmt.Fprintf(&b, "  1. %d applications write sequence-numbered keys (drill:app-<run>-<n>:<seq>, expiring after 1h) through %s every %s and read each back; a probe samples %s, the datastore and the writable alarms\n",
		c.Writers, c.Conn.Addr, c.Interval, c.Conn.Addr)
	switch c.Trigger {
	case TriggerPromote:
		fmt.Fprintf(&b, "  2. after %s, it calls FailoverGlobalReplicationGroup through %s's endpoint: %s becomes the PRIMARY, %s read-only\n",
			c.WarmUp, c.To.Region, c.To.Region, c.From.Region)
	default:
		fmt.Fprintf(&b, "  2. after %s, it waits (up to %s) for an outage someone else causes; the fault is the first failed write\n", c.WarmUp, c.Observe)
	}
	fmt.Fprintf(&b, "  3. it measures until writes are back and %s has moved (at most %s), then counts the acknowledged writes lost\n", c.Conn.Addr, c.Observe)
	return b.String()
}

// awsDrill is one running AWS drill.
type awsDrill struct {
	cfg  AWSConfig
	tl   *Timeline
	apps []*app

	mu        sync.Mutex
	fault     time.Time
	requested time.Time // failover call accepted
	promoted  time.Time // To seen PRIMARY and the datastore available
	detected  time.Time // From's writable alarm in ALARM
	dnsMoved  time.Time
	answer    string
	lastLine  string
}

func (a *awsDrill) client() (*redis.Client, error) {
	c, err := redisconn.New(a.cfg.Conn)
	if err != nil || a.cfg.Dial == nil {
		return c, err
	}
	// redisconn builds the options; only the dialer changes.
	opt := *c.Options()
	_ = c.Close()
	opt.Dialer = a.cfg.Dial
	return redis.NewClient(&opt), nil
}

func (a *awsDrill) ec(region string) *elasticache.Client {
	c := a.cfg.AWS.Copy()
	c.Region = region
	return elasticache.NewFromConfig(c)
}

func (a *awsDrill) cw(region string) *cloudwatch.Client {
	c := a.cfg.AWS.Copy()
	c.Region = region
	return cloudwatch.NewFromConfig(c)
}

func (a *awsDrill) resolve(ctx context.Context, host string) (string, error) {
	if a.cfg.Resolve != nil {
		return a.cfg.Resolve(ctx, host)
	}
	cname, _ := net.DefaultResolver.LookupCNAME(ctx, host)
	addrs, err := net.DefaultResolver.LookupHost(ctx, host)
	if err != nil {
		return "", err
	}
	// The CNAME is the record Route 53 chose; addresses behind it change
	// with node replacements in a region.
	if cname = strings.TrimSuffix(cname, "."); cname != "" && !strings.EqualFold(cname, host) {
		return cname, nil
	}
	slices.Sort(addrs)
	return strings.Join(addrs, ","), nil
}

// RunAWS runs the drill against a real deployment and returns the same
// report as Run. svgPath, when not empty, receives the timeline picture.
func RunAWS(ctx context.Context, cfg AWSConfig, svgPath string) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	a := &awsDrill{cfg: cfg}
	a.tl = newTimeline("datastore", "alarm "+cfg.From.Region, "alarm "+cfg.To.Region, "redis.internal", "probe")
	run := make([]byte, 4)
	_, _ = rand.Read(run)
	runID := hex.EncodeToString(run)
	for i := range cfg.Writers {
		name := fmt.Sprintf("%d", i+1)
		ap := &app{region: name, keys: runID + "-" + name, ttl: time.Hour, timeout: cfg.Timeout, now: time.Now, tl: a.tl,
			dial: func() redis.UniversalClient { c, _ := a.client(); return c }}
		a.apps = append(a.apps, ap)
	}
	// Fail early on a bad connection configuration, before any fault.
	probe, err := a.client()
	if err != nil {
		return nil, fmt.Errorf("redis.internal: %w", err)
	}
	_ = probe.Close()

	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, ap := range a.apps {
		wg.Go(func() { ap.run(runCtx, cfg.Interval) })
	}
	wg.Go(func() { a.sample(runCtx) })
	finish := func() { stop(); wg.Wait() }

	a.mu.Lock()
	a.fault = time.Now().Add(cfg.WarmUp)
	a.mu.Unlock()
	if err := sleepUntil(ctx, a.fault); err != nil {
		finish()
		return nil, err
	}
	switch cfg.Trigger {
	case TriggerPromote:
		err = a.promote(ctx)
	default:
		err = a.waitOutage(ctx)
	}
	if err != nil {
		finish()
		return nil, err
	}
	a.tl.Mark("fault: "+cfg.Trigger, a.t0())
	deadline := a.t0().Add(cfg.Observe)
	for !a.recovered() && time.Now().Before(deadline) {
		if err := sleepUntil(ctx, time.Now().Add(cfg.Poll)); err != nil {
			finish()
			return nil, err
		}
	}
	if a.recovered() {
		_ = sleepUntil(ctx, time.Now().Add(cfg.Settle))
	}
	end := time.Now()
	finish()
	rep := a.report(ctx, end)
	if svgPath != "" {
		if err := a.picture(rep, svgPath, end); err != nil {
			return rep, err
		}
		rep.Picture = svgPath
	}
	return rep, nil
}

func sleepUntil(ctx context.Context, t time.Time) error {
	tm := time.NewTimer(time.Until(t))
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-tm.C:
		return nil
	}
}

func (a *awsDrill) t0() time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.fault
}

// promote calls FailoverGlobalReplicationGroup through To's endpoint, as
// the promoter and `redisha switchover` do.
func (a *awsDrill) promote(ctx context.Context) error {
	at := time.Now()
	a.mu.Lock()
	a.fault = at
	a.mu.Unlock()
	c, cancel := context.WithTimeout(ctx, a.cfg.Timeout)
	defer cancel()
	_, err := a.ec(a.cfg.To.Region).FailoverGlobalReplicationGroup(c, &elasticache.FailoverGlobalReplicationGroupInput{
		GlobalReplicationGroupId: aws.String(a.cfg.Datastore), PrimaryRegion: aws.String(a.cfg.To.Region),
		PrimaryReplicationGroupId: aws.String(a.cfg.To.Group)})
	if err != nil {
		return fmt.Errorf("FailoverGlobalReplicationGroup %s to %s through %s: %w", a.cfg.Datastore, a.cfg.To.Group, a.cfg.To.Region, err)
	}
	a.mu.Lock()
	a.requested = time.Now()
	a.mu.Unlock()
	fmt.Fprintf(a.cfg.Status, "FailoverGlobalReplicationGroup accepted after %s: %s is being promoted\n", time.Since(at).Round(time.Millisecond), a.cfg.To.Region)
	return nil
}

// waitOutage waits for the first failed write after the warm-up.
func (a *awsDrill) waitOutage(ctx context.Context) error {
	fmt.Fprintf(a.cfg.Status, "waiting up to %s for an outage (the first failed write)\n", a.cfg.Observe)
	from := time.Now()
	deadline := from.Add(a.cfg.Observe)
	for time.Now().Before(deadline) {
		var first time.Time
		for _, ap := range a.apps {
			ops, _ := ap.snapshot()
			for _, o := range ops {
				if !o.ok && !o.at.Before(from) && (first.IsZero() || o.at.Before(first)) {
					first = o.at
					break
				}
			}
		}
		if !first.IsZero() {
			a.mu.Lock()
			a.fault = first
			a.mu.Unlock()
			return nil
		}
		if err := sleepUntil(ctx, time.Now().Add(a.cfg.Interval)); err != nil {
			return err
		}
	}
	return fmt.Errorf("no write failed within %s: nothing to measure", a.cfg.Observe)
}

// recovered: the secondary is the primary, redis.internal has moved and
// every application has written again since.
func (a *awsDrill) recovered() bool {
	a.mu.Lock()
	promoted, moved, t0 := a.promoted, a.dnsMoved, a.fault
	a.mu.Unlock()
	if promoted.IsZero() || moved.IsZero() {
		return false
	}
	for _, ap := range a.apps {
		ops, _ := ap.snapshot()
		if len(ops) == 0 || !ops[len(ops)-1].ok || ops[len(ops)-1].at.Before(moved) || ops[len(ops)-1].at.Before(t0) {
			return false
		}
	}
	return true
}

// sample is the probe: the datastore as ElastiCache reports it, the
// writable alarms, what redis.internal answers and what the node behind
// it says, on the timeline.
func (a *awsDrill) sample(ctx context.Context) {
	host, _, _ := net.SplitHostPort(a.cfg.Conn.Addr)
	for {
		now := time.Now()
		var wg sync.WaitGroup
		var ds, role, answer string
		alarms := map[string]string{}
		var amu sync.Mutex
		wg.Go(func() { ds = a.describe(ctx) })
		wg.Go(func() {
			c, cancel := context.WithTimeout(ctx, a.cfg.Timeout)
			defer cancel()
			// A new connection each time: it resolves the name again, as
			// a new application would, instead of keeping the old node.
			probe, err := a.client()
			if err != nil {
				role = "error"
				return
			}
			defer probe.Close()
			info, err := probe.Info(c, "replication").Result()
			switch {
			case err != nil && isTimeout(err):
				role = "timeout"
			case err != nil:
				role = "down"
			default:
				role = map[string]string{"master": "primary", "slave": "replica"}[infoField(info, "role")]
			}
		})
		wg.Go(func() {
			c, cancel := context.WithTimeout(ctx, a.cfg.Timeout)
			defer cancel()
			ans, err := a.resolve(c, host)
			if err != nil {
				ans = "no answer"
			}
			answer = ans
		})
		for _, m := range []AWSMember{a.cfg.From, a.cfg.To} {
			if m.Alarm == "" {
				continue
			}
			wg.Go(func() {
				st := a.alarm(ctx, m)
				amu.Lock()
				alarms[m.Region] = st
				amu.Unlock()
			})
		}
		wg.Wait()
		if ctx.Err() != nil {
			return
		}
		a.tl.Set("datastore", ds, now)
		a.tl.Set("probe", role, now)
		a.tl.Set("redis.internal", answer, now)
		for r, st := range alarms {
			a.tl.Set("alarm "+r, st, now)
		}
		a.mu.Lock()
		t0 := a.fault
		after := !now.Before(t0) && (!a.requested.IsZero() || a.cfg.Trigger == TriggerWait)
		if after && a.promoted.IsZero() && ds == "primary "+a.cfg.To.Region {
			a.promoted = now
		}
		if after && a.detected.IsZero() && alarms[a.cfg.From.Region] == "ALARM" {
			a.detected = now
		}
		if a.answer != "" && answer != a.answer && answer != "no answer" && after && a.dnsMoved.IsZero() {
			a.dnsMoved = now
		}
		if answer != "no answer" && (a.answer == "" || !after || a.dnsMoved.Equal(now)) {
			a.answer = answer
		}
		line := fmt.Sprintf("datastore:%s alarm %s:%s %s:%s redis.internal→%s probe:%s", ds, a.cfg.From.Region, orDash(alarms[a.cfg.From.Region]),
			a.cfg.To.Region, orDash(alarms[a.cfg.To.Region]), answer, role)
		for _, ap := range a.apps {
			ap.mu.Lock()
			line += fmt.Sprintf(" app %s:%s", ap.region, ap.state)
			ap.mu.Unlock()
		}
		changed := line != a.lastLine
		a.lastLine = line
		a.mu.Unlock()
		if changed {
			fmt.Fprintf(a.cfg.Status, "t%+-8s %s\n", now.Sub(t0).Round(time.Second), line)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(a.cfg.Poll):
		}
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// describe returns "primary <region>" when the datastore is available,
// else its status.
func (a *awsDrill) describe(ctx context.Context) string {
	c, cancel := context.WithTimeout(ctx, a.cfg.Timeout)
	defer cancel()
	out, err := a.ec(a.cfg.To.Region).DescribeGlobalReplicationGroups(c, &elasticache.DescribeGlobalReplicationGroupsInput{
		GlobalReplicationGroupId: aws.String(a.cfg.Datastore), ShowMemberInfo: aws.Bool(true)})
	if err != nil || len(out.GlobalReplicationGroups) != 1 {
		return "unknown"
	}
	g := out.GlobalReplicationGroups[0]
	if st := aws.ToString(g.Status); !strings.EqualFold(st, promoter.StatusAvailable) {
		return strings.ToLower(st)
	}
	for _, m := range g.Members {
		if strings.EqualFold(aws.ToString(m.Role), promoter.RolePrimary) {
			return "primary " + aws.ToString(m.ReplicationGroupRegion)
		}
	}
	return "no primary"
}

// alarm reads a member's writable alarm in its own region.
func (a *awsDrill) alarm(ctx context.Context, m AWSMember) string {
	c, cancel := context.WithTimeout(ctx, a.cfg.Timeout)
	defer cancel()
	r := &promoter.Runner{PeerAlarm: m.Alarm, Alarms: a.cw(m.Region), CallTimeout: a.cfg.Timeout}
	st := r.ReadAlarm(c)
	switch {
	case st.Err != "":
		return "unreadable"
	case !st.Found:
		return "no alarm"
	}
	return st.State
}

func (a *awsDrill) report(ctx context.Context, end time.Time) *Report {
	a.mu.Lock()
	t0 := a.fault
	since := func(t time.Time) *float64 {
		if t.IsZero() {
			return nil
		}
		return secs(t.Sub(t0))
	}
	name := "aws-" + a.cfg.Trigger
	rep := &Report{Scenario: name, Title: fmt.Sprintf("Global Datastore %s: %s promoted (%s)", a.cfg.Datastore, a.cfg.To.Region, a.cfg.Trigger),
		Speed: 1, Expect: "one promotion of " + a.cfg.To.Region + ", writes back through redis.internal, no acknowledged write lost",
		Detection: since(a.detected), Promotion: since(a.promoted), DNS: since(a.dnsMoved), LastRefusal: map[string][]string{}}
	if !a.requested.IsZero() {
		rep.Decision = secs(0)
	}
	if !a.promoted.IsZero() {
		req := 0.0
		if !a.requested.IsZero() {
			req = a.requested.Sub(t0).Seconds()
		}
		rep.Promotions = []PromotionReport{{To: a.cfg.To.Region, Planned: a.cfg.Trigger == TriggerPromote, Requested: req, Completed: *rep.Promotion}}
	}
	a.mu.Unlock()
	_, _, rep.Marks = a.tl.close(t0, end)
	final, err := a.client()
	for _, ap := range a.apps {
		ops, acked := ap.snapshot()
		r := appReportOps(ap.region, ops, acked, t0)
		r.App = "go"
		r.Lost = -1
		if err == nil {
			r.Lost = countMissing(ctx, final, ap.keys, acked)
		}
		rep.Apps = append(rep.Apps, r)
	}
	if err == nil {
		_ = final.Close()
	}
	if rep.Promotion == nil {
		rep.Problems = append(rep.Problems, a.cfg.To.Region+" never became the primary")
	}
	if rep.DNS == nil {
		rep.Problems = append(rep.Problems, "redis.internal never moved")
	}
	for _, r := range rep.Apps {
		if r.Lost != 0 {
			rep.Problems = append(rep.Problems, fmt.Sprintf("app %s: %d acknowledged writes lost", r.Region, r.Lost))
		}
	}
	if !a.recovered() {
		rep.Problems = append(rep.Problems, "the applications did not all write again through redis.internal")
	}
	rep.Passed = len(rep.Problems) == 0
	return rep
}

func (a *awsDrill) picture(rep *Report, path string, end time.Time) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	t0 := a.t0()
	for _, m := range []struct {
		label string
		at    *float64
	}{{"detected", rep.Detection}, {a.cfg.To.Region + " primary", rep.Promotion}, {"DNS moved", rep.DNS}} {
		if m.at != nil {
			a.tl.Mark(m.label, t0.Add(time.Duration(*m.at*float64(time.Second))))
		}
	}
	rows, spans, marks := a.tl.close(t0, end)
	title := fmt.Sprintf("redisha drill --aws — %s (times since the fault)", rep.Title)
	return writeSVG(f, title, nil, rows, spans, marks, -a.cfg.WarmUp.Seconds()/2, end.Sub(t0).Seconds())
}
