// Command redisha-local is `make run`: it runs the health-checker Lambda
// binary locally the way AWS runs it, on a compressed schedule, against a
// throwaway redis-server (and a replica of it, as the secondary region's
// checker sees it), with a local CloudWatch endpoint that decodes and prints
// every metric the function publishes. Both checkers run in the default
// role, auto; a REPLICAOF swap mid-run shows them follow the roles. Ctrl-C
// stops everything it started.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redisha/redisha/internal/check"
	"github.com/redisha/redisha/internal/config"
	"github.com/redisha/redisha/internal/metrics"
	"github.com/redisha/redisha/internal/redisconn"
	"github.com/redisha/redisha/internal/sim/cwlocal"
	"github.com/redisha/redisha/internal/sim/lambdarun"
	"github.com/redisha/redisha/internal/sim/redisserver"
)

func main() {
	os.Exit(run())
}

func run() int {
	var (
		bootstrap = flag.String("bootstrap", "build/local/bootstrap", "Lambda binary built for this machine (make run builds it)")
		minute    = flag.Duration("minute", 10*time.Second, "what one EventBridge minute lasts here; the Step Functions loop invokes again after half of it")
		rounds    = flag.Int("rounds", 0, "stop after this many schedule rounds (0: until Ctrl-C)")
		outage    = flag.Int("outage-round", 3, "pause the primary (SIGSTOP) during this round to show a failing check (0: never)")
		swap      = flag.Int("swap-round", 5, "promote the replica and demote the primary (REPLICAOF) before this round (0: never)")
		verbose   = flag.Bool("v", false, "also print the functions' own log lines")
	)
	flag.Parse()
	if *minute < 2*time.Second {
		fmt.Fprintln(os.Stderr, "redisha-local: --minute must be at least 2s")
		return 2
	}
	if _, err := os.Stat(*bootstrap); err != nil {
		fmt.Fprintf(os.Stderr, "redisha-local: %v: build it with `go build -tags lambda.norpc -o %s ./lambda` (make run does)\n", err, *bootstrap)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	redisconn.QuietGoRedisLogger()
	if err := demo(ctx, *bootstrap, *minute, *rounds, *outage, *swap, *verbose); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, "redisha-local:", err)
		return 1
	}
	fmt.Println("stopped: redis-servers, functions and the local CloudWatch endpoint are gone")
	return 0
}

// function is one checker: its Runtime API and its process.
type function struct {
	name string
	api  *lambdarun.Server
	proc *lambdarun.Process
}

func demo(ctx context.Context, bootstrap string, minute time.Duration, rounds, outage, swap int, verbose bool) error {
	// No diskless-sync delay: the replica's first sync takes milliseconds, not 5 s.
	primary, err := redisserver.Start(redisserver.Options{Config: []string{"repl-diskless-sync-delay 0"}})
	if err != nil {
		return err
	}
	defer primary.Stop()
	replica, err := redisserver.Start(redisserver.Options{Config: []string{"replicaof 127.0.0.1 " + strconv.Itoa(primary.Port)}})
	if err != nil {
		return err
	}
	defer replica.Stop()
	fmt.Printf("redis-server primary %s (pid %d), replica %s (pid %d)\n", primary.Addr, primary.PID(), replica.Addr, replica.PID())
	if err := waitReplica(ctx, replica.Addr, 15*time.Second, "sync with the primary", linkUp); err != nil {
		return err
	}

	cw := cwlocal.New()
	defer cw.Close()
	cw.Print(os.Stdout)
	fmt.Printf("local CloudWatch endpoint %s (AWS_ENDPOINT_URL_CLOUDWATCH)\n", cw.URL())

	var logs io.Writer = io.Discard
	if verbose {
		logs = os.Stderr
	}
	common := []string{
		"AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=AKIDLOCAL", "AWS_SECRET_ACCESS_KEY=local",
		"AWS_EC2_METADATA_DISABLED=true", "AWS_ENDPOINT_URL_CLOUDWATCH=" + cw.URL(),
	}
	fns := []*function{}
	for _, f := range []struct {
		name, addr, region string
		dims               []metrics.Dimension
	}{
		{"primary", primary.Addr, "local-1", []metrics.Dimension{{Name: "Region", Value: "local-1"}, {Name: "Role", Value: "primary"}}},
		{"replica", replica.Addr, "local-2", []metrics.Dimension{{Name: "Region", Value: "local-2"}, {Name: "Role", Value: "replica"}}},
	} {
		// The checker's own configuration, written by its own Env (as the
		// stacks and the drill write it): plain TCP to the loopback server, a
		// one-second check, PutMetricData to the local endpoint.
		cfg := config.Config{
			Redis:       redisconn.Config{Addr: f.addr},
			Check:       check.Options{Timeout: time.Second, Heartbeat: true, Region: f.region},
			MetricsMode: config.MetricsAPI, Dimensions: f.dims,
		}
		api, err := lambdarun.NewServer()
		if err != nil {
			return err
		}
		defer api.Close()
		env := append([]string{}, common...)
		for k, v := range cfg.Env() {
			env = append(env, k+"="+v)
		}
		proc, err := api.StartProcess(bootstrap, env, logs)
		if err != nil {
			return err
		}
		defer proc.Stop()
		fns = append(fns, &function{name: f.name, api: api, proc: proc})
	}
	fmt.Printf("checkers: every %s an EventBridge invocation, %s later the Step Functions one (30 s compressed); Ctrl-C stops\n\n", minute, minute/2)

	events := []struct{ file, label string }{
		{"events/eventbridge-scheduled.json", "schedule"},
		{"events/stepfunctions-loop.json", "stepfunctions"},
	}
	for round := 1; rounds == 0 || round <= rounds; round++ {
		if round == swap {
			fmt.Println("-- REPLICAOF swap: the replica is promoted, the primary demoted; each checker follows its node's role --")
			if err := replicaofSwap(ctx, primary, replica); err != nil {
				return err
			}
		}
		paused := round == outage
		if paused {
			fmt.Println("-- pausing the primary (SIGSTOP) for this round: a stalled server must be reported unhealthy --")
			_ = primary.Pause()
		}
		for i, ev := range events {
			payload, err := os.ReadFile(ev.file)
			if err != nil {
				return err
			}
			for _, f := range fns {
				res, err := f.api.Invoke(ctx, payload, 10*time.Second)
				if err != nil {
					return fmt.Errorf("%s: %w", f.name, err)
				}
				printResult(f.name, ev.label, res)
				if round == 1 && i == 0 && f.name == "primary" {
					// The replica was started a moment ago: let its first check
					// see the primary's first heartbeat. A replica without one
					// reports the TTL as a lower bound of the lag (the right
					// answer in AWS, a spurious 600 s spike here).
					if err := waitReplica(ctx, replica.Addr, 5*time.Second, "heartbeat", hasHeartbeat); err != nil {
						fmt.Printf("-- %v: the replica's first check will say heartbeat_missing --\n", err)
					}
				}
			}
			wait := minute / 2
			if i == len(events)-1 {
				wait = minute - minute/2
			}
			if paused && i == len(events)-1 {
				_ = primary.Resume()
				fmt.Println("-- primary resumed --")
			}
			select {
			case <-ctx.Done():
				if paused {
					_ = primary.Resume()
				}
				return ctx.Err()
			case <-time.After(wait):
			}
		}
	}
	return nil
}

func printResult(name, trigger string, res lambdarun.Result) {
	if res.Error != nil {
		fmt.Printf("%-8s %-13s FUNCTION ERROR %s: %s\n", name, trigger, res.Error.Type, res.Error.Message)
		return
	}
	var r struct {
		Healthy   bool     `json:"healthy"`
		Role      string   `json:"role"`
		Writable  bool     `json:"writable"`
		Redialed  bool     `json:"redialed"`
		Missing   bool     `json:"heartbeat_missing"`
		LatencyMS float64  `json:"latency_ms"`
		Step      string   `json:"failed_step"`
		Reason    string   `json:"reason"`
		Lag       *float64 `json:"heartbeat_age_seconds"`
	}
	_ = json.Unmarshal(res.Body, &r)
	state := "healthy  "
	if !r.Healthy {
		state = "UNHEALTHY"
	}
	line := fmt.Sprintf("%-8s %-13s %s role=%s writable=%v latency=%.2fms", name, trigger, state, r.Role, r.Writable, r.LatencyMS)
	if r.Redialed {
		line += " redialed"
	}
	if r.Missing {
		line += " heartbeat_missing"
	}
	if !r.Healthy {
		line += fmt.Sprintf(" step=%s reason=%s", r.Step, r.Reason)
	}
	if r.Lag != nil {
		line += fmt.Sprintf(" lag=%.3fs", *r.Lag)
	}
	fmt.Printf("%s  (invocation %s)\n  response: %s\n", line, res.Duration.Round(time.Millisecond), res.Body)
}

// waitReplica waits, at most d, until ready holds on the replica at addr.
func waitReplica(ctx context.Context, addr string, d time.Duration, what string, ready func(context.Context, *redis.Client) bool) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	c := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2, DisableIdentity: true})
	defer c.Close()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !ready(ctx, c) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("the replica %s: no %s within %s", addr, what, d)
		case <-tick.C:
		}
	}
	return nil
}

// linkUp is true once the replica has synced with its primary.
func linkUp(ctx context.Context, c *redis.Client) bool {
	info, err := c.Info(ctx, "replication").Result()
	return err == nil && strings.Contains(info, "master_link_status:up")
}

// hasHeartbeat is true once the primary's heartbeat has replicated.
func hasHeartbeat(ctx context.Context, c *redis.Client) bool {
	n, err := c.Exists(ctx, check.Options{}.HeartbeatKey()).Result()
	return err == nil && n == 1
}

// replicaofSwap promotes replica and makes primary its replica, as a
// failover does.
func replicaofSwap(ctx context.Context, primary, replica *redisserver.Server) error {
	for _, step := range []struct {
		srv  *redisserver.Server
		args []any
	}{
		{replica, []any{"REPLICAOF", "NO", "ONE"}},
		{primary, []any{"REPLICAOF", "127.0.0.1", strconv.Itoa(replica.Port)}},
	} {
		c := redis.NewClient(&redis.Options{Addr: step.srv.Addr, Protocol: 2, DisableIdentity: true})
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := c.Do(cctx, step.args...).Err()
		cancel()
		_ = c.Close()
		if err != nil {
			return fmt.Errorf("%v on %s: %w", step.args, step.srv.Addr, err)
		}
	}
	return nil
}
