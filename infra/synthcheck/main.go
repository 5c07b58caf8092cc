// Command synthcheck checks what `make synth` wrote to cdk.out: a primary and
// a secondary stack in two different regions plus the DNS stack in the
// primary's, each carrying the design's resources, no secret in any template,
// the checker's asset a linux/arm64 bootstrap, and no cdk-nag finding left
// non-compliant; and what the first deploy needs: no reserved concurrency, a
// secondary that passes nothing it inherits, a loop whose checks catch
// errors, alarm topics CloudWatch can publish to. It prints one line per
// stack and exits 1 listing every problem.
package main

import (
	"debug/elf"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/redisha/redisha/internal/config"
	"github.com/redisha/redisha/internal/deployment"
	"github.com/redisha/redisha/internal/promoter"
	"github.com/redisha/redisha/internal/promoter/latch"
)

func main() {
	dir := flag.String("dir", "cdk.out", "cloud assembly written by cdk synth")
	standIns := flag.Bool("stand-in-assets", false, "the Lambda assets are stand-ins (a test's synth): do not check that they are arm64 binaries")
	flag.Parse()
	problems, summary, err := check(*dir, !*standIns)
	if err != nil {
		fmt.Fprintf(os.Stderr, "synthcheck: %v\n", err)
		os.Exit(1)
	}
	for _, l := range summary {
		fmt.Println("synthcheck:", l)
	}
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintln(os.Stderr, "synthcheck: FAIL:", p)
		}
		os.Exit(1)
	}
	fmt.Println("synthcheck: ok")
}

type resource struct {
	ID             string         `json:"-"` // logical id, set by of
	Type           string         `json:"Type"`
	Properties     map[string]any `json:"Properties"`
	DeletionPolicy string         `json:"DeletionPolicy"`
}

type template struct {
	Resources map[string]resource `json:"Resources"`
	raw       string
}

// of returns the resources of one type.
func (t template) of(typ string) []resource {
	var out []resource
	for id, r := range t.Resources {
		if r.Type == typ {
			r.ID = id
			out = append(out, r)
		}
	}
	return out
}

func check(dir string, realAssets bool) (problems, summary []string, err error) {
	bad := func(format string, a ...any) { problems = append(problems, fmt.Sprintf(format, a...)) }
	stacks, err := deployment.Stacks(dir)
	if err != nil {
		return nil, nil, err
	}
	// The stacks the model names: the app's own (RedishaPrimary…), or the
	// stacks of yours that hold the cdk package's constructs.
	model, err := deployment.ReadFile(filepath.Join(dir, deployment.ModelFile))
	if err != nil {
		return nil, nil, fmt.Errorf("the deployment model: %w (infra writes it beside the templates)", err)
	}
	primaryID, secondaryID, dnsID := model.Regions[0].Stack, model.Regions[1].Stack, model.DNSStackID()
	regions := map[string]string{}
	tpls := map[string]template{}
	for _, id := range []string{primaryID, secondaryID, dnsID} {
		a, ok := stacks[id]
		if !ok {
			bad("stack %s is missing from %s", id, dir)
			continue
		}
		regions[id] = a.Region
		var t template
		path := filepath.Join(dir, a.TemplateFile)
		if err := readJSON(path, &t); err != nil {
			return nil, nil, fmt.Errorf("read %s: %w", path, err)
		}
		b, _ := os.ReadFile(path)
		t.raw = string(b)
		tpls[id] = t
		summary = append(summary, fmt.Sprintf("%-16s %-32s %3d resources", id, a.Environment, len(t.Resources)))
	}
	if len(problems) > 0 {
		return problems, summary, nil
	}
	primary, secondary := regions[primaryID], regions[secondaryID]
	if primary == "" || secondary == "" || primary == secondary {
		bad("the primary (%q) and secondary (%q) stacks must have two concrete, different regions", primary, secondary)
	}
	if regions[dnsID] != primary {
		bad("the DNS stack is in %q, want the primary region %q (the health check's alarm lives there)", regions[dnsID], primary)
	}

	checkPrimary(tpls[primaryID], secondary, model.Settings, bad)
	checkSecondary(tpls[secondaryID], primary, model.Settings, bad)
	checkDNS(tpls[dnsID], primary, secondary, model, bad)
	for id, t := range tpls {
		checkNoSecret(id, t, bad)
	}
	if realAssets {
		checkAsset(dir, bad)
	}
	checkModel(dir, bad)
	checkNag(dir, bad)
	return problems, summary, nil
}

func checkPrimary(t template, secondary string, s deployment.Settings, bad func(string, ...any)) {
	// The stacks own the primary group unless it is the owner's (built
	// around, or adopted with its datastore).
	owned := s.Existing == nil && s.Adopt == nil
	rgs := t.of("AWS::ElastiCache::ReplicationGroup")
	switch {
	case !owned:
		if len(rgs) != 0 {
			bad("primary: %d replication groups beside the owner's, want none", len(rgs))
		}
	case len(rgs) != 1:
		bad("primary: %d replication groups, want 1", len(rgs))
	default:
		p := rgs[0].Properties
		for _, k := range []string{"TransitEncryptionEnabled", "AtRestEncryptionEnabled", "MultiAZEnabled", "AutomaticFailoverEnabled"} {
			if p[k] != true {
				bad("primary: replication group %s = %v, want true", k, p[k])
			}
		}
		if rgs[0].DeletionPolicy != "Snapshot" {
			bad("primary: replication group DeletionPolicy %q, want Snapshot (it holds the data)", rgs[0].DeletionPolicy)
		}
	}
	grgs := t.of("AWS::ElastiCache::GlobalReplicationGroup")
	if s.Adopt != nil {
		if len(grgs) != 0 {
			bad("primary: %d Global Datastores created beside the adopted %s, want none", len(grgs), s.Adopt.GlobalID)
		}
	} else if len(grgs) != 1 {
		bad("primary: %d Global Datastores, want 1", len(grgs))
	} else if members, _ := grgs[0].Properties["Members"].([]any); len(members) != 1 ||
		members[0].(map[string]any)["Role"] != "PRIMARY" {
		bad("primary: the Global Datastore must be created with the primary as its only member, got %v", members)
	}
	// Two secrets, each replicated to the secondary region: the AUTH token
	// and the key the checkers sign the heartbeat with.
	secrets := t.of("AWS::SecretsManager::Secret")
	kinds := []string{"AUTH token", "heartbeat"}
	if !owned {
		kinds = kinds[1:] // the AUTH token is the owner's secret
	}
	for _, what := range kinds {
		n := 0
		for _, sec := range secrets {
			if strings.Contains(fmt.Sprint(sec.Properties["Description"]), what) &&
				strings.Contains(fmt.Sprint(sec.Properties["ReplicaRegions"]), secondary) {
				n++
			}
		}
		if n != 1 {
			bad("primary: want one %s secret replicated to %s, found %d", what, secondary, n)
		}
	}
	if len(secrets) != len(kinds) {
		bad("primary: %d secrets, want %d (%s)", len(secrets), len(kinds), strings.Join(kinds, ", "))
	}
	checkChecker("primary", t, "auto", s, bad)
	checkPromoter("primary", t, secondary, s.Name, bad)
	found := false
	for _, a := range t.of("AWS::CloudWatch::Alarm") {
		p := a.Properties
		if p["MetricName"] == "HealthCheckStatus" {
			found = true
			if p["Statistic"] != "Minimum" || p["Period"] != float64(60) || p["EvaluationPeriods"] != float64(2) ||
				p["Threshold"] != float64(1) || p["ComparisonOperator"] != "LessThanThreshold" || p["TreatMissingData"] != "breaching" {
				bad("primary: Route 53 alarm %v, want Minimum/60 s/2 periods/< 1/missing breaching", p)
			}
		}
	}
	if !found {
		bad("primary: no HealthCheckStatus alarm for Route 53")
	}
}

func checkSecondary(t template, primary string, s deployment.Settings, bad func(string, ...any)) {
	rgs := t.of("AWS::ElastiCache::ReplicationGroup")
	if s.Adopt != nil {
		if len(rgs) != 0 {
			bad("secondary: %d replication groups beside the adopted member, want none", len(rgs))
		}
	} else if len(rgs) != 1 {
		bad("secondary: %d replication groups, want 1", len(rgs))
	} else {
		// The id flows from the primary stack: a reference, never a literal.
		if _, ok := rgs[0].Properties["GlobalReplicationGroupId"].(map[string]any); !ok {
			bad("secondary: GlobalReplicationGroupId %v is not a reference to the primary stack's Global Datastore", rgs[0].Properties["GlobalReplicationGroupId"])
		}
		// AWS: do not pass these when joining a Global Datastore.
		for _, k := range []string{"CacheNodeType", "Engine", "EngineVersion", "TransitEncryptionEnabled", "AtRestEncryptionEnabled", "AutomaticFailoverEnabled"} {
			if _, ok := rgs[0].Properties[k]; ok {
				bad("secondary: the joining group sets %s, which it inherits from the Global Datastore", k)
			}
		}
	}
	checkChecker("secondary", t, "auto", s, bad)
	checkPromoter("secondary", t, primary, s.Name, bad)
}

func checkChecker(stack string, t template, role string, s deployment.Settings, bad func(string, ...any)) {
	ok, endpoints := false, 0
	for _, f := range t.of("AWS::Lambda::Function") {
		env, _ := f.Properties["Environment"].(map[string]any)
		vars, _ := env["Variables"].(map[string]any)
		if vars["EXPECT_ROLE"] == nil {
			continue // the cross-region reference handlers
		}
		if vars[config.EnvServe] == string(config.ServeWritableURL) {
			endpoints++
			if vars[config.EnvHeartbeat] == "true" {
				bad("%s: the writable endpoint writes the heartbeat: only the loop's checker may", stack)
			}
			continue
		}
		ok = true
		if _, ok := f.Properties["ReservedConcurrentExecutions"]; ok {
			bad("%s: the checker reserves concurrency, which fails in accounts with a small quota (opt-in only)", stack)
		}
		if vars["EXPECT_ROLE"] != role || f.Properties["Runtime"] != "provided.al2023" ||
			fmt.Sprint(f.Properties["Architectures"]) != "[arm64]" || f.Properties["VpcConfig"] == nil {
			bad("%s: checker %v, want role %s on provided.al2023 arm64 in the VPC", stack, f.Properties, role)
		}
	}
	if !ok {
		bad("%s: no checker function", stack)
	}
	if want := map[bool]int{true: 1, false: 0}[s.EndpointChecks()]; endpoints != want {
		bad("%s: %d writable endpoint functions, want %d", stack, endpoints, want)
	}
	if want := map[bool]int{true: 1, false: 0}[s.EndpointChecks()]; len(t.of("AWS::Lambda::Url")) != want {
		bad("%s: %d function URLs, want %d (the writable endpoint's)", stack, len(t.of("AWS::Lambda::Url")), want)
	}
	interval := int(s.CheckInterval.Seconds())
	if interval == 0 {
		interval = int(deployment.LoopInterval.Seconds())
	}
	n := 60 / interval // checks a minute, each followed by a promoter start
	machines := t.of("AWS::StepFunctions::StateMachine")
	if len(machines) != 1 || machines[0].Properties["StateMachineType"] != "EXPRESS" ||
		!strings.Contains(fmt.Sprint(machines[0].Properties["DefinitionString"]), fmt.Sprintf(`"Seconds":%d`, interval)) {
		bad("%s: want one Express state machine with a %d s Wait", stack, interval)
	} else if def := fmt.Sprint(machines[0].Properties["DefinitionString"]); strings.Count(def, `"Catch"`) != 2*n {
		bad("%s: every check and every promoter start of the loop must catch errors, so a failure does not cancel what follows", stack)
	} else if strings.Count(def, `"InvocationType":"Event"`) != n {
		bad("%s: the loop must start the promoter asynchronously after each check", stack)
	}
	for _, topic := range t.of("AWS::SNS::Topic") {
		if strings.Contains(fmt.Sprint(topic.Properties["KmsMasterKeyId"]), "alias/aws/sns") {
			bad("%s: an alarm topic under alias/aws/sns: CloudWatch cannot publish to it", stack)
		}
	}
	rules := t.of("AWS::Events::Rule")
	if len(rules) != 1 || rules[0].Properties["ScheduleExpression"] != "rate(1 minute)" {
		bad("%s: want one rule at rate(1 minute)", stack)
	}
}

// checkPromoter checks one region's promoter: one function whose
// environment names its Global Datastore, the other region and its
// writable alarm, with a timeout above PROMOTE_TIMEOUT, in the VPC; and its
// latch table, kept when the stack goes.
func checkPromoter(stack string, t template, peer, name string, bad func(string, ...any)) {
	n := 0
	for _, f := range t.of("AWS::Lambda::Function") {
		env, _ := f.Properties["Environment"].(map[string]any)
		vars, _ := env["Variables"].(map[string]any)
		if vars[promoter.EnvLatchTable] == nil {
			continue
		}
		n++
		promote, err := time.ParseDuration(fmt.Sprint(vars[promoter.EnvPromoteTimeout]))
		timeout, _ := f.Properties["Timeout"].(float64)
		if err != nil || time.Duration(timeout)*time.Second <= promote || f.Properties["VpcConfig"] == nil ||
			vars[promoter.EnvPeerRegion] != peer || vars[promoter.EnvPeerAlarm] != deployment.WritableAlarmName(name, peer) ||
			vars[promoter.EnvMode] == nil || vars[promoter.EnvRegion] != nil {
			bad("%s: promoter %v, want peer %s and its writable alarm, a mode, a timeout above PROMOTE_TIMEOUT, in the VPC, no AWS_REGION", stack, f.Properties, peer)
		}
	}
	if n != 1 {
		bad("%s: %d promoter functions, want 1", stack, n)
	}
	tables := t.of("AWS::DynamoDB::Table")
	if len(tables) != 1 || tables[0].DeletionPolicy != "Retain" ||
		fmt.Sprint(tables[0].Properties["KeySchema"]) != "[map[AttributeName:"+latch.KeyAttribute+" KeyType:HASH]]" {
		bad("%s: want one latch table keyed on %s, retained", stack, latch.KeyAttribute)
	}
}

func checkDNS(t template, primary, secondary string, model deployment.Deployment, bad func(string, ...any)) {
	existingZone := model.DNS.ZoneID
	zones := t.of("AWS::Route53::HostedZone")
	switch {
	case existingZone != "":
		// The owner's zone: the app creates none and writes the records
		// into it.
		if len(zones) != 0 {
			bad("dns: %d hosted zones created beside the existing zone %s, want none", len(zones), existingZone)
		}
		for _, r := range t.of("AWS::Route53::RecordSet") {
			if r.Properties["HostedZoneId"] != existingZone {
				bad("dns: a failover record is in zone %v, want the existing zone %s", r.Properties["HostedZoneId"], existingZone)
			}
		}
	case len(zones) != 1 || !strings.Contains(fmt.Sprint(zones[0].Properties["VPCs"]), primary) ||
		!strings.Contains(fmt.Sprint(zones[0].Properties["VPCs"]), secondary):
		bad("dns: want one private zone associated with VPCs in %s and %s", primary, secondary)
	}
	// One health check per region: on its writable endpoint (HTTPS), or on
	// its writable alarm.
	hcs := t.of("AWS::Route53::HealthCheck")
	if len(hcs) != 2 {
		bad("dns: %d health checks, want 2 (one per region)", len(hcs))
	}
	endpoint := model.Settings.EndpointChecks()
	checkRegion := map[string]string{} // health check logical id → the region it follows
	for _, hc := range hcs {
		c, _ := hc.Properties["HealthCheckConfig"].(map[string]any)
		if endpoint {
			host := fmt.Sprint(c["FullyQualifiedDomainName"])
			if c["Type"] != "HTTPS" || c["ResourcePath"] != deployment.WritableEndpointPath ||
				c["RequestInterval"] != float64(model.Settings.HealthCheckInterval) ||
				c["FailureThreshold"] != float64(model.Settings.HealthCheckFailureThreshold) || !strings.Contains(host, "WritableEndpoint") {
				bad("dns: health check %v, want HTTPS GET %s on a region's writable endpoint every %d s, threshold %d", c,
					deployment.WritableEndpointPath, model.Settings.HealthCheckInterval, model.Settings.HealthCheckFailureThreshold)
				continue
			}
			checkRegion[hc.ID] = primary
			if strings.Contains(host, model.Regions[1].Stack) {
				checkRegion[hc.ID] = secondary
			}
			continue
		}
		id, _ := c["AlarmIdentifier"].(map[string]any)
		if c["Type"] != "CLOUDWATCH_METRIC" || id == nil || c["InsufficientDataHealthStatus"] != "Unhealthy" ||
			!strings.HasSuffix(fmt.Sprint(id["Name"]), "-writable") {
			bad("dns: health check %v, want CLOUDWATCH_METRIC on a region's writable alarm, insufficient data Unhealthy", c)
			continue
		}
		checkRegion[hc.ID] = fmt.Sprint(id["Region"])
	}
	wantRegion := map[string]string{"PRIMARY": primary, "SECONDARY": secondary}
	roles := map[string]bool{}
	witnesses := map[string]int{}
	for _, r := range t.of("AWS::Route53::RecordSet") {
		ref, _ := r.Properties["HealthCheckId"].(map[string]any)
		role := fmt.Sprint(r.Properties["Failover"])
		if r.Properties["Type"] == "TXT" {
			// A witness pair: "writable" on its region's check, "not-writable" without one.
			name := fmt.Sprint(r.Properties["Name"])
			witnesses[name]++
			text := fmt.Sprint(r.Properties["ResourceRecords"])
			switch {
			case role == "PRIMARY" && (ref == nil || !strings.Contains(text, `"`+promoter.WitnessWritable+`"`) ||
				!strings.HasPrefix(name, checkRegion[fmt.Sprint(ref["Ref"])]+".witness.")):
				bad("dns: witness %s's PRIMARY record %v, want TXT %q on its own region's check", name, r.Properties, promoter.WitnessWritable)
			case role == "SECONDARY" && (ref != nil || !strings.Contains(text, `"`+promoter.WitnessNotWritable+`"`)):
				bad("dns: witness %s's SECONDARY record %v, want TXT %q without a check", name, r.Properties, promoter.WitnessNotWritable)
			}
			continue
		}
		if got := checkRegion[fmt.Sprint(ref["Ref"])]; got != wantRegion[role] {
			bad("dns: the %s record's health check follows %q, want %s's", role, got, wantRegion[role])
		}
		roles[role] = true
		if r.Properties["Type"] != "CNAME" {
			bad("dns: record type %v, want CNAME", r.Properties["Type"])
		}
	}
	if !roles["PRIMARY"] || !roles["SECONDARY"] || len(roles) != 2 {
		bad("dns: want a PRIMARY and a SECONDARY failover record, got %v", roles)
	}
	if want := map[bool]int{true: 2, false: 0}[endpoint]; len(witnesses) != want {
		bad("dns: %d witness names, want %d", len(witnesses), want)
	}
	for name, n := range witnesses {
		if n != 2 {
			bad("dns: witness %s has %d records, want a PRIMARY and a SECONDARY", name, n)
		}
	}
}

// checkNoSecret fails on a literal AUTH token, a secret value in a Secret
// resource, or a password handed to a function.
func checkNoSecret(id string, t template, bad func(string, ...any)) {
	for _, r := range t.Resources {
		if tok, ok := r.Properties["AuthToken"]; ok {
			b, _ := json.Marshal(tok)
			if !strings.Contains(string(b), "{{resolve:secretsmanager:") {
				bad("%s: AuthToken is not a Secrets Manager dynamic reference", id)
			}
		}
		if _, ok := r.Properties["SecretString"]; ok && r.Type == "AWS::SecretsManager::Secret" {
			bad("%s: a secret's value is in the template", id)
		}
	}
	if strings.Contains(t.raw, "REDIS_PASSWORD") {
		bad("%s: a function is given REDIS_PASSWORD; use REDIS_AUTH_SECRET_ARN", id)
	}
}

// checkAsset finds the functions' assets (directories holding bootstrap:
// the checker's and the promoter's) and checks each is a linux/arm64
// executable, as provided.al2023 on arm64 runs it.
func checkAsset(dir string, bad func(string, ...any)) {
	found, _ := filepath.Glob(filepath.Join(dir, "asset.*", "bootstrap"))
	if len(found) < 2 {
		bad("%d assets hold a bootstrap, want the checker's and the promoter's: run make build before make synth", len(found))
		return
	}
	for _, f := range found {
		e, err := elf.Open(f)
		if err != nil {
			bad("%s: not an ELF executable: %v", f, err)
			continue
		}
		if e.Machine != elf.EM_AARCH64 {
			bad("%s: built for %v, want arm64 (GOARCH=arm64)", f, e.Machine)
		}
		_ = e.Close()
	}
}

// checkNag reads cdk-nag's reports: every finding is compliant or
// suppressed with a reason.
func checkNag(dir string, bad func(string, ...any)) {
	reports, _ := filepath.Glob(filepath.Join(dir, "AwsSolutions-*-NagReport.csv"))
	if len(reports) != 3 {
		bad("%d cdk-nag reports, want 3: AwsSolutionsChecks must run on every stack", len(reports))
	}
	for _, path := range reports {
		f, err := os.Open(path)
		if err != nil {
			bad("%v", err)
			continue
		}
		r := csv.NewReader(f)
		for {
			rec, err := r.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				bad("%s: %v", path, err)
				break
			}
			// Rule ID, Resource ID, Compliance, Exception Reason, Rule Level, Rule Info
			if len(rec) >= 4 && rec[2] == "Non-Compliant" {
				bad("cdk-nag %s on %s: %s", rec[0], rec[1], rec[len(rec)-1])
			}
			if len(rec) >= 4 && rec[2] == "Suppressed" && strings.TrimSpace(rec[3]) == "" {
				bad("cdk-nag %s on %s is suppressed without a reason", rec[0], rec[1])
			}
		}
		_ = f.Close()
	}
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// checkModel holds the templates to the model they were rendered from
// (deployment.json beside them): what the drill rehearses is what deploys.
func checkModel(dir string, bad func(string, ...any)) {
	model, err := deployment.ReadFile(filepath.Join(dir, deployment.ModelFile))
	if err != nil {
		bad("the deployment model: %v (infra writes it beside the templates)", err)
		return
	}
	got, err := deployment.FromTemplates(dir)
	if err != nil {
		bad("the templates as the drill reads them: %v", err)
		return
	}
	for _, d := range deployment.Diff(model, got) {
		bad("templates against the model: %s", d)
	}
}
