package drill

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/redisha/redisha/internal/deployment"
	"github.com/redisha/redisha/internal/promoter"
	"github.com/redisha/redisha/internal/sim/dnslocal"
	"github.com/redisha/redisha/internal/sim/lambdarun"
	"github.com/redisha/redisha/internal/sim/lambdaurl"
)

// healthCheckers is how many of Route 53's health checkers probe each
// writable endpoint in the drill. AWS does not publish the number; its
// default regions are eight (GUESS: one checker a region). More checkers
// make the healthy direction faster ("more than 18%" must pass), not the
// unhealthy one.
const healthCheckers = 8

// minProbeTimeout is the least wall time a Route 53 checker's timeouts are
// given at high speeds: a loaded two-core machine must not fail a healthy
// endpoint (a stalled one still fails: its check is bounded by CHECK_TIMEOUT,
// scaled with the same floor).
const minProbeTimeout = 150 * time.Millisecond

// writableEndpoint is one region's writable endpoint as deployed: the real
// checker binary in writable-url mode under a local Runtime API, its
// function URL (lambdaurl), and the region's network path to it, which a
// lost region takes down.
type writableEndpoint struct {
	api  *lambdarun.Server
	proc *lambdarun.Process
	url  *lambdaurl.Server
	path *link
	// check is Route 53's HTTPS health check on it.
	check *dnslocal.EndpointCheck
}

// startWritableEndpoint starts region label's writable endpoint and the
// Route 53 health check the model gives it; nil without one.
func (d *Drill) startWritableEndpoint(label string, hc *deployment.EndpointCheck, logs io.Writer) (*writableEndpoint, error) {
	r := d.region(label)
	if r.WritableEndpoint == nil || hc == nil {
		return nil, nil
	}
	e := &writableEndpoint{}
	ok := false
	defer func() {
		if !ok {
			e.close()
		}
	}()
	var err error
	if e.api, err = lambdarun.NewServer(); err != nil {
		return nil, fmt.Errorf("writable endpoint %s: runtime API: %w", label, err)
	}
	e.api.FunctionARN = "arn:aws:lambda:" + r.Name + ":123456789012:function:redisha-writable-" + label
	if e.proc, err = e.api.StartProcess(d.cfg.Bootstrap, d.writableEndpointEnv(label), logs); err != nil {
		return nil, fmt.Errorf("writable endpoint %s: %w", label, err)
	}
	if e.url, err = lambdaurl.Start(e.api, lambdaurl.Options{Timeout: max(d.clock.Wall(deployment.WritableEndpointTimeout), time.Second),
		Region: r.Name, Log: slog.New(slog.NewTextHandler(logs, nil))}); err != nil {
		return nil, fmt.Errorf("writable endpoint %s: %w", label, err)
	}
	// The path from Route 53's checkers to the function URL: a lost region
	// refuses it.
	if e.path, err = newLink("writable-endpoint-"+label, e.url.Addr()); err != nil {
		return nil, err
	}
	e.check = &dnslocal.EndpointCheck{Name: label + " writable endpoint", URL: "http://" + e.path.Addr + hc.Path,
		RequestInterval: hc.RequestInterval, FailureThreshold: hc.FailureThreshold, Checkers: healthCheckers, Clock: d.clock,
		MinTimeout: minProbeTimeout}
	if err = e.check.Start(); err != nil {
		return nil, fmt.Errorf("writable endpoint %s: %w", label, err)
	}
	ok = true
	return e, nil
}

// writableEndpointEnv is the writable endpoint function's environment as
// deployed, with the drill's addresses and its scaled check budget.
func (d *Drill) writableEndpointEnv(label string) []string {
	r := d.region(label)
	c := r.WritableEndpointFor(deployment.Target{Addr: d.topo.Region(label).Observed.Addr, DatastoreID: d.datastoreID()})
	c.Redis.TLS, c.PasswordFile = false, ""
	c.Check.Timeout = max(d.clock.Wall(c.Check.Timeout), 100*time.Millisecond)
	c.FunctionTimeout = 0 // the scaled budget is the drill's, not the template's
	env := []string{"AWS_REGION=" + r.Name, "AWS_ACCESS_KEY_ID=AKIDLOCAL", "AWS_SECRET_ACCESS_KEY=local",
		"AWS_EC2_METADATA_DISABLED=true", "AWS_ENDPOINT_URL_ELASTICACHE=" + d.ds.ec.URL()}
	for k, v := range c.Env() {
		env = append(env, k+"="+v)
	}
	return env
}

func (e *writableEndpoint) close() {
	if e == nil {
		return
	}
	if e.check != nil {
		e.check.Close()
	}
	if e.path != nil {
		e.path.Close()
	}
	if e.url != nil {
		_ = e.url.Close()
	}
	if e.proc != nil {
		e.proc.Stop()
	}
	if e.api != nil {
		_ = e.api.Close()
	}
}

// witnessGroups serves each region's witness: PRIMARY "writable" on the
// region's endpoint check, SECONDARY "not-writable" without one.
func (d *Drill) witnessGroups() error {
	for i, w := range d.cfg.Deployment.DNS.Witnesses {
		if w.Name == "" {
			continue
		}
		e := d.endpoints[d.labelOf(w.Region)]
		if e == nil {
			return fmt.Errorf("the witness %s follows %s's writable endpoint, which the deployment does not have", w.Name, w.Region)
		}
		if err := d.dns.AddTXTGroup(w.Name, dnslocal.TXTRecord{Text: promoter.WitnessWritable, HealthCheck: e.check},
			dnslocal.TXTRecord{Text: promoter.WitnessNotWritable}); err != nil {
			return fmt.Errorf("witness %d: %w", i, err)
		}
	}
	return nil
}

// endpointSummary is a record's or witness's health check, for the report.
func endpointSummary(e *deployment.EndpointCheck) string {
	return strings.Replace(e.Summary(), "HTTPS GET", "Route 53 HTTPS check (GET", 1) + ")"
}
