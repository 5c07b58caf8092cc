package drill

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"

	"github.com/redisha/redisha/internal/redisconn"
	"github.com/redisha/redisha/internal/sim/alarmeval"
	"github.com/redisha/redisha/internal/sim/dnslocal"
	"github.com/redisha/redisha/internal/sim/eclocal"
	"github.com/redisha/redisha/internal/testbed/gdslocal"
)

// awsWorld is a deployment on loopback for RunAWS: the two regions' real
// redis-servers, the AWS side (gdslocal: ElastiCache, CloudWatch, …)
// reached by the real SDK clients through AWS_ENDPOINT_URL_*, and a DNS
// server answering redis.internal with failover routing on the writable
// alarms.
type awsWorld struct {
	topo     *Topology
	world    *gdslocal.World
	dns      *dnslocal.Server
	resolver *dnslocal.Resolver
	cfg      AWSConfig
	// fired holds the regions whose writable alarm the failover set off,
	// as the alarms DNS reads.
	fired sync.Map
}

func startAWSWorld(t *testing.T) *awsWorld {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	topo, err := StartTopology(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(topo.Close)
	w := &awsWorld{topo: topo}
	port := strconv.Itoa(topo.Port)
	// The failover as the test's ElastiCache performs it: writes on the old
	// primary pause until the target has caught up, then the roles swap and
	// the old primary's checker reports it read-only (its alarm fires).
	w.world = gdslocal.Start(t, gdslocal.Options{
		Primary:       gdslocal.Region{Name: awsRegion["a"], Group: groupID("a"), Endpoint: EndpointName("a") + ":" + port},
		Secondary:     gdslocal.Region{Name: awsRegion["b"], Group: groupID("b"), Endpoint: EndpointName("b") + ":" + port},
		FailoverDelay: 300 * time.Millisecond,
		OnFailover: func(f eclocal.Failover) error {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			from, to := regionNamed(f.From.Region), regionNamed(f.To.Region)
			old := adminClient(topo.Primary(from).Addr)
			defer old.Close()
			if err := old.Do(ctx, "CLIENT", "PAUSE", 5000, "WRITE").Err(); err != nil {
				return err
			}
			defer old.Do(ctx, "CLIENT", "UNPAUSE")
			if err := waitCaughtUp(ctx, topo.Primary(from).Addr, topo.Primary(to).Addr, 5*time.Second); err != nil {
				return err
			}
			if err := topo.FailoverGlobal(ctx, to); err != nil {
				return err
			}
			w.fired.Store(f.From.Region, true)
			w.world.CW.SetAlarmState(gdslocal.AlarmName(f.From.Region), "ALARM")
			return nil
		},
	})
	w.world.Setenv(t)
	hc := func(region string) *dnslocal.HealthCheck {
		return &dnslocal.HealthCheck{Name: region, Alarm: func() alarmeval.State {
			if _, ok := w.fired.Load(region); ok {
				return alarmeval.StateAlarm
			}
			return alarmeval.StateOK
		}}
	}
	w.dns, err = dnslocal.Start(dnslocal.Options{TTL: time.Second},
		dnslocal.Record{Target: EndpointName("a"), HealthCheck: hc(awsRegion["a"])},
		dnslocal.Record{Target: EndpointName("b"), HealthCheck: hc(awsRegion["b"])})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.dns.Close)
	for _, r := range []string{"a", "b"} {
		if err := w.dns.SetHost(EndpointName(r), topo.Primary(r).IP); err != nil {
			t.Fatal(err)
		}
	}
	w.resolver = dnslocal.NewResolver(w.dns.Addr(), nil)
	ac, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	host := strings.TrimSuffix(w.dns.Name(), ".")
	w.cfg = AWSConfig{
		Datastore: gdslocal.DefaultDatastore,
		From:      AWSMember{Region: awsRegion["a"], Group: groupID("a"), Alarm: gdslocal.AlarmName(awsRegion["a"])},
		To:        AWSMember{Region: awsRegion["b"], Group: groupID("b"), Alarm: gdslocal.AlarmName(awsRegion["b"])},
		AWS:       ac,
		Conn:      redisconn.Config{Addr: net.JoinHostPort(host, port), DialTimeout: time.Second, IOTimeout: time.Second},
		Dial:      w.resolver.DialContext,
		Resolve: func(ctx context.Context, host string) (string, error) {
			ips, cnames, err := w.resolver.Resolve(ctx, host)
			if err != nil {
				return "", err
			}
			if len(cnames) > 0 {
				return strings.Join(cnames, " "), nil
			}
			if len(ips) == 0 {
				return "", errors.New("no address")
			}
			return ips[0].String(), nil
		},
		Interval: 20 * time.Millisecond, WarmUp: time.Second, Observe: 30 * time.Second, Settle: time.Second,
		Timeout: 2 * time.Second, Poll: 100 * time.Millisecond,
	}
	return w
}

// TestRunAWSPromote: the promotion goes through the real ElastiCache API
// (the SDK client, FailoverGlobalReplicationGroup through the secondary's
// region), and the applications measure it through redis.internal.
func TestRunAWSPromote(t *testing.T) {
	w := startAWSWorld(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep, err := RunAWS(ctx, w.cfg, t.TempDir()+"/aws.svg")
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	rep.WriteTable(&out)
	t.Log(out.String())
	if !rep.Passed {
		t.Fatalf("problems: %v", rep.Problems)
	}
	if rep.Promotion == nil || rep.DNS == nil || rep.Detection == nil || *rep.DNS < *rep.Promotion {
		t.Errorf("promotion %v, DNS %v, detection %v: want all, DNS after the promotion", rep.Promotion, rep.DNS, rep.Detection)
	}
	fo := w.world.EC.Failovers()
	if len(fo) != 1 || fo[0].Region != awsRegion["b"] || fo[0].To.Region != awsRegion["b"] {
		t.Errorf("failovers %+v: want one, called through %s", fo, awsRegion["b"])
	}
	if role, err := Role(ctx, w.topo.Primary("b").Addr); err != nil || role != "master" {
		t.Errorf("b's primary is %q (%v) after the drill, want master", role, err)
	}
	for _, a := range rep.Apps {
		if a.Acked == 0 || a.Lost != 0 || a.WriteUnavailable <= 0 {
			t.Errorf("app %s: %+v: want acknowledged writes, none lost, a measured outage", a.Region, a)
		}
	}
	if rep.Picture == "" {
		t.Error("no picture")
	}
}

// TestRunAWSWait: with nothing injected, the drill waits for an outage and
// says so when none comes.
func TestRunAWSWait(t *testing.T) {
	w := startAWSWorld(t)
	cfg := w.cfg
	cfg.Trigger, cfg.Observe = TriggerWait, 500*time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := RunAWS(ctx, cfg, "")
	if err == nil || !strings.Contains(err.Error(), "no write failed") {
		t.Fatalf("err %v: want no write failed", err)
	}
}

func TestAWSConfigValidate(t *testing.T) {
	err := AWSConfig{Trigger: "boom"}.Validate()
	for _, want := range []string{"Datastore", "From and To", "Trigger", "Conn.Addr"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v: want it to name %s", err, want)
		}
	}
}

// The AWS drill's test world: two regions of the local endpoints.
var awsRegion = map[string]string{"a": "us-east-1", "b": "us-west-2"}

func groupID(region string) string { return "redisha-" + region }

// regionNamed is the label of an AWS region of the test world.
func regionNamed(aws string) string {
	for r, a := range awsRegion {
		if a == aws {
			return r
		}
	}
	return aws
}
