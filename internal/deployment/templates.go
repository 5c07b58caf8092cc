package deployment

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redisha/redisha/internal/config"
	"github.com/redisha/redisha/internal/metrics"
	"github.com/redisha/redisha/internal/promoter"
)

// FromTemplates reads a deployment back from a cloud assembly (cdk.out): each
// region's checker and promoter from their functions' environments (through
// the runtimes' own FromEnv), the writable alarms, the Route 53 health checks
// and failover records, and the loop's cadence from the state machine. What
// only a deploy knows (endpoints, secret ARNs, the datastore's id) is left
// as stand-ins of the right shape. Source names the template and resource of
// each part. It reads templates of any version of the app, so an older
// deployment can be rehearsed as it was.
func FromTemplates(dir string) (Deployment, error) {
	d := Deployment{Source: map[string]string{}}
	stacks, err := readStacks(dir)
	if err != nil {
		return d, err
	}
	if m, err := ReadFile(filepath.Join(dir, ModelFile)); err == nil {
		d.Settings = m.Settings
	} else if !errors.Is(err, os.ErrNotExist) {
		return d, err
	}

	var dnsStack *stackTemplate
	regions := map[string]*Region{}
	var errs []error
	for i := range stacks {
		st := &stacks[i]
		if len(st.tpl.of("AWS::Route53::RecordSet")) > 0 {
			dnsStack = st
			continue
		}
		r, err := st.readRegion(&d)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if r != nil {
			regions[r.Name] = r
		}
	}
	if dnsStack == nil || len(regions) != 2 {
		return d, errors.Join(append(errs, fmt.Errorf("%s: want two region stacks (a checker and a promoter each) and a stack of failover records; found %d and %v",
			dir, len(regions), dnsStack != nil))...)
	}
	if err := errors.Join(errs...); err != nil {
		return d, err
	}
	d.DNS.Stack = dnsStack.id
	if err := d.readDNS(dnsStack, stacks, regions); err != nil {
		return d, err
	}
	return d, nil
}

// Stack is a stack of a cloud assembly as its manifest names it.
type Stack struct {
	// ID is the stack's artifact id, e.g. RedishaPrimary.
	ID string
	// Environment is aws://ACCOUNT/REGION; Region is its region.
	Environment, Region string
	// TemplateFile is the template's file name in the assembly.
	TemplateFile string
}

// Stacks reads a cloud assembly's manifest (manifest.json): its stacks, by
// id.
func Stacks(dir string) (map[string]Stack, error) {
	var man struct {
		Artifacts map[string]struct {
			Type        string `json:"type"`
			Environment string `json:"environment"`
			Properties  struct {
				TemplateFile string `json:"templateFile"`
			} `json:"properties"`
		} `json:"artifacts"`
	}
	if err := readJSON(filepath.Join(dir, "manifest.json"), &man); err != nil {
		return nil, fmt.Errorf("%s is not a cloud assembly (run make synth): %w", dir, err)
	}
	out := map[string]Stack{}
	for id, a := range man.Artifacts {
		if a.Type == "aws:cloudformation:stack" {
			out[id] = Stack{ID: id, Environment: a.Environment, Region: a.Environment[strings.LastIndex(a.Environment, "/")+1:],
				TemplateFile: a.Properties.TemplateFile}
		}
	}
	return out, nil
}

// readStacks reads a cloud assembly's stack templates, sorted by stack id.
func readStacks(dir string) ([]stackTemplate, error) {
	all, err := Stacks(dir)
	if err != nil {
		return nil, err
	}
	var stacks []stackTemplate
	for id, a := range all {
		st := stackTemplate{id: id, file: a.TemplateFile, region: a.Region}
		if err := readJSON(filepath.Join(dir, st.file), &st.tpl); err != nil {
			return nil, err
		}
		stacks = append(stacks, st)
	}
	slices.SortFunc(stacks, func(a, b stackTemplate) int { return strings.Compare(a.id, b.id) })
	return stacks, nil
}

type stackTemplate struct {
	id, file, region string
	tpl              cfnTemplate
}

type cfnTemplate struct {
	Resources map[string]cfnResource `json:"Resources"`
	Outputs   map[string]struct {
		Value any `json:"Value"`
	} `json:"Outputs"`
}

type cfnResource struct {
	Type       string         `json:"Type"`
	Properties map[string]any `json:"Properties"`
}

// of lists a template's resources of one type, by logical id.
func (t cfnTemplate) of(typ string) []string {
	var ids []string
	for id, r := range t.Resources {
		if r.Type == typ {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

func (st *stackTemplate) source(id string) string { return st.file + " " + id }

// region reads one region stack, or nil for a stack that holds no checker.
func (st *stackTemplate) readRegion(d *Deployment) (*Region, error) {
	r := &Region{Name: st.region, Stack: st.id}
	var checkerEnv, promoterEnv, endpointEnv map[string]string
	for _, id := range st.tpl.of("AWS::Lambda::Function") {
		env := st.tpl.environment(st.tpl.Resources[id].Properties)
		switch {
		case env[promoter.EnvLatchTable] != "":
			promoterEnv = env
			d.Source[r.Name+" promoter"] = st.source(id)
		case env[config.EnvServe] == string(config.ServeWritableURL):
			endpointEnv = env
			d.Source[r.Name+" writable endpoint"] = st.source(id)
		case env[config.EnvAddr] != "":
			checkerEnv = env
			d.Source[r.Name+" checker"] = st.source(id)
			if t, ok := st.tpl.Resources[id].Properties["Timeout"].(float64); ok {
				d.Loop.CheckerTimeout = time.Duration(t) * time.Second
			}
		}
	}
	if checkerEnv == nil {
		return nil, nil
	}
	checkerEnv[config.EnvAWSRegion] = r.Name // Lambda sets it
	c, err := config.FromEnv(func(k string) string { return checkerEnv[k] })
	if err != nil {
		return nil, fmt.Errorf("%s: the checker's environment: %w", d.Source[r.Name+" checker"], err)
	}
	r.Checker = c
	r.SignedHeartbeats = checkerEnv[config.EnvHeartbeatKeySecretARN] != ""
	for _, dim := range c.Dimensions {
		if dim.Name == "ReplicationGroup" {
			r.GroupID = dim.Value
		}
	}
	if endpointEnv != nil {
		endpointEnv[config.EnvAWSRegion] = r.Name
		e, err := config.FromEnv(func(k string) string { return endpointEnv[k] })
		if err != nil {
			return nil, fmt.Errorf("%s: the writable endpoint's environment: %w", d.Source[r.Name+" writable endpoint"], err)
		}
		r.WritableEndpoint = &e
	}
	if promoterEnv != nil {
		promoterEnv[promoter.EnvRegion] = r.Name // Lambda sets it
		p, err := promoter.ConfigFromEnv(func(k string) string { return promoterEnv[k] })
		if err != nil {
			return nil, fmt.Errorf("%s: the promoter's environment: %w", d.Source[r.Name+" promoter"], err)
		}
		r.Promoter = p
	}
	for _, id := range st.tpl.of("AWS::StepFunctions::StateMachine") {
		def := flatten(st.tpl.Resources[id].Properties["DefinitionString"])
		if m := waitRE.FindStringSubmatch(def); m != nil {
			n, _ := strconv.Atoi(m[1])
			d.Loop.Interval = time.Duration(n) * time.Second
			d.Source["loop"] = st.source(id)
		}
	}
	return r, nil
}

// ZoneNameOutput is the DNS stack's output naming the private zone.
const ZoneNameOutput = "ZoneName"

// cdkHash is the 8-character hash CDK appends to an id under a construct.
var cdkHash = regexp.MustCompile(`[0-9A-F]{8}$`)

// IsOutput says whether a template's output id is the output key: the key
// itself, or the key under a construct (a prefix, the key, CDK's hash), as
// the cdk package's constructs name their outputs in stacks of yours.
func IsOutput(id, key string) bool {
	return id == key || (cdkHash.MatchString(id) && strings.HasSuffix(id[:len(id)-8], key))
}

var waitRE = regexp.MustCompile(`"Type":"Wait","Seconds":(\d+)`)

// readDNS reads the failover records, their health checks and the alarms
// they follow, and orders the regions as the records do.
func (d *Deployment) readDNS(st *stackTemplate, stacks []stackTemplate, regions map[string]*Region) error {
	if zones := st.tpl.of("AWS::Route53::HostedZone"); len(zones) == 1 {
		d.DNS.Zone, _ = st.tpl.Resources[zones[0]].Properties["Name"].(string)
	} else {
		// An existing zone: the stack names it in an output (its id gains
		// a hash when the failover name is a construct in a stack of yours).
		for id, o := range st.tpl.Outputs {
			if IsOutput(id, ZoneNameOutput) {
				d.DNS.Zone, _ = o.Value.(string)
			}
		}
	}
	var witnesses []Witness
	for _, id := range st.tpl.of("AWS::Route53::RecordSet") {
		p := st.tpl.Resources[id].Properties
		if str(p["Type"]) == "TXT" {
			// A witness pair: its PRIMARY record carries the check.
			if str(p["Failover"]) != FailoverPrimary {
				continue
			}
			w, err := st.readWitness(id, stacks, d)
			if err != nil {
				return err
			}
			witnesses = append(witnesses, w)
			continue
		}
		rec := Record{Failover: str(p["Failover"]), SetIdentifier: str(p["SetIdentifier"]), Name: str(p["Name"])}
		if id, ok := p["HostedZoneId"].(string); ok {
			// An existing zone's id, written in; a zone the app creates is
			// a reference.
			d.DNS.ZoneID = id
		}
		ttl, _ := strconv.Atoi(str(p["TTL"]))
		rec.TTL = time.Duration(ttl) * time.Second
		d.Source["record "+rec.Failover] = st.source(id)
		hcID, _ := p["HealthCheckId"].(map[string]any)["Ref"].(string)
		hc, ok := st.tpl.Resources[hcID]
		if !ok {
			return fmt.Errorf("%s: the %s record has no health check", st.source(id), rec.Failover)
		}
		d.Source["health check "+rec.Failover] = st.source(hcID)
		cfg, _ := hc.Properties["HealthCheckConfig"].(map[string]any)
		// The record names the endpoint of the stack its value comes from.
		target := flatten(p["ResourceRecords"])
		if str(cfg["Type"]) == "CLOUDWATCH_METRIC" || cfg["AlarmIdentifier"] != nil {
			rec.HealthCheck.InsufficientDataHealthStatus = str(cfg["InsufficientDataHealthStatus"])
			rec.HealthCheck.Inverted, _ = cfg["Inverted"].(bool)
			ai, _ := cfg["AlarmIdentifier"].(map[string]any)
			alarmName, alarmRegion := str(ai["Name"]), str(ai["Region"])
			a, src, err := findAlarm(stacks, alarmName, alarmRegion)
			if err != nil {
				return fmt.Errorf("%s: %w", st.source(hcID), err)
			}
			rec.HealthCheck.Alarm = a
			d.Source["alarm "+alarmName] = src
			rec.Region = alarmRegion
			if r := regions[rec.Region]; r != nil && a.Region == r.Name {
				r.Writable = a
			}
		} else {
			e, err := readEndpointCheck(st, hcID, cfg, stacks)
			if err != nil {
				return err
			}
			rec.HealthCheck.Endpoint = &e
			rec.Region = e.Region
		}
		for _, s := range stacks {
			if regions[s.region] != nil && strings.Contains(target, s.id) {
				rec.Region = s.region
			}
		}
		switch rec.Failover {
		case FailoverPrimary:
			d.DNS.Records[0] = rec
		case FailoverSecondary:
			d.DNS.Records[1] = rec
		}
	}
	for i, rec := range d.DNS.Records {
		r := regions[rec.Region]
		if r == nil {
			return fmt.Errorf("%s: no %s record naming a region stack's endpoint", st.file, []string{FailoverPrimary, FailoverSecondary}[i])
		}
		r.Label = strings.ToLower(rec.SetIdentifier)
		if r.Writable.Name == "" {
			// Records on endpoint checks: the writable alarm is the one
			// the other region's promoter reads.
			peer := regions[d.DNS.Records[1-i].Region]
			if peer != nil && peer.Promoter.PeerAlarm != "" {
				a, src, err := findAlarm(stacks, peer.Promoter.PeerAlarm, r.Name)
				if err != nil {
					return fmt.Errorf("%s: %w", d.Source[peer.Name+" promoter"], err)
				}
				r.Writable = a
				d.Source["alarm "+a.Name] = src
			}
		}
		d.Regions[i] = *r
	}
	for _, w := range witnesses {
		for i := range d.Regions {
			if d.Regions[i].Name == w.Region {
				d.DNS.Witnesses[i] = w
			}
		}
	}
	return nil
}

// readEndpointCheck reads an HTTPS health check on a region's writable
// endpoint: the region is the stack its host comes from (a cross-region
// reference names the producing stack).
func readEndpointCheck(st *stackTemplate, hcID string, cfg map[string]any, stacks []stackTemplate) (EndpointCheck, error) {
	e := EndpointCheck{Path: str(cfg["ResourcePath"])}
	if t := str(cfg["Type"]); t != "HTTPS" {
		return e, fmt.Errorf("%s: a health check of type %q, want CLOUDWATCH_METRIC or HTTPS on a writable endpoint", st.source(hcID), t)
	}
	interval, _ := cfg["RequestInterval"].(float64)
	threshold, _ := cfg["FailureThreshold"].(float64)
	e.RequestInterval, e.FailureThreshold = time.Duration(interval)*time.Second, int(threshold)
	host := flatten(cfg["FullyQualifiedDomainName"])
	for _, s := range stacks {
		if s.id != st.id && strings.Contains(host, s.id) {
			e.Region = s.region
		}
	}
	if e.Region == "" {
		// Not named (a template written by hand, or a literal host): the
		// DNS stack's own region, as the PRIMARY record's.
		e.Region = st.region
	}
	return e, nil
}

// readWitness reads a region's witness from its PRIMARY TXT record.
func (st *stackTemplate) readWitness(id string, stacks []stackTemplate, d *Deployment) (Witness, error) {
	p := st.tpl.Resources[id].Properties
	ttl, _ := strconv.Atoi(str(p["TTL"]))
	w := Witness{Name: str(p["Name"]), TTL: time.Duration(ttl) * time.Second}
	hcID, _ := p["HealthCheckId"].(map[string]any)["Ref"].(string)
	hc, ok := st.tpl.Resources[hcID]
	if !ok {
		return w, fmt.Errorf("%s: the witness %s has no health check", st.source(id), w.Name)
	}
	cfg, _ := hc.Properties["HealthCheckConfig"].(map[string]any)
	e, err := readEndpointCheck(st, hcID, cfg, stacks)
	if err != nil {
		return w, err
	}
	w.Region, w.HealthCheck = e.Region, HealthCheck{Endpoint: &e}
	d.Source["witness "+w.Region] = st.source(id)
	return w, nil
}

// findAlarm reads the alarm of that name in that region's stack.
func findAlarm(stacks []stackTemplate, name, region string) (AlarmSpec, string, error) {
	for _, st := range stacks {
		if st.region != region {
			continue
		}
		for _, id := range st.tpl.of("AWS::CloudWatch::Alarm") {
			p := st.tpl.Resources[id].Properties
			if str(p["AlarmName"]) != name {
				continue
			}
			a := AlarmSpec{Name: name, Region: region, Namespace: str(p["Namespace"]), Metric: str(p["MetricName"]),
				Statistic: str(p["Statistic"]), Threshold: num(p["Threshold"]), Comparison: str(p["ComparisonOperator"]),
				TreatMissingData: str(p["TreatMissingData"]), EvaluationPeriods: int(num(p["EvaluationPeriods"])),
				DatapointsToAlarm: int(num(p["DatapointsToAlarm"])), Period: time.Duration(num(p["Period"])) * time.Second}
			dims, _ := p["Dimensions"].([]any)
			for _, x := range dims {
				m, _ := x.(map[string]any)
				a.Dimensions = append(a.Dimensions, metrics.Dimension{Name: str(m["Name"]), Value: str(m["Value"])})
			}
			actions, _ := p["AlarmActions"].([]any)
			a.Pages = len(actions) > 0
			return a, st.source(id), nil
		}
	}
	return AlarmSpec{}, "", fmt.Errorf("no alarm %s in a stack of %s", name, region)
}

// environment is a function's environment, with every CloudFormation
// token turned into a stand-in of the right shape.
func (t cfnTemplate) environment(props map[string]any) map[string]string {
	env, _ := props["Environment"].(map[string]any)
	vars, _ := env["Variables"].(map[string]any)
	out := map[string]string{}
	for k, v := range vars {
		out[k] = t.standIn(v)
	}
	return out
}

// refStandIns are what a Ref to a resource of each type becomes at deploy,
// in shape: an ARN where CloudFormation returns one.
var refStandIns = map[string]string{
	"AWS::SecretsManager::Secret": "arn:aws:secretsmanager:us-east-1:123456789012:secret:standin",
	"AWS::SNS::Topic":             "arn:aws:sns:us-east-1:123456789012:standin",
}

// standIn is a template value as the string it becomes at deploy, with a
// stand-in of the right shape for what only a deploy knows: a port number
// for an endpoint's port, an ARN for a secret, a name for anything else.
func (t cfnTemplate) standIn(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case []any:
		parts := make([]string, len(x))
		for i, p := range x {
			parts[i] = t.standIn(p)
		}
		return strings.Join(parts, ",")
	case map[string]any:
		if ref, ok := x["Ref"].(string); ok {
			if s, ok := refStandIns[t.Resources[ref].Type]; ok {
				return s
			}
			return "standin-" + strings.ToLower(ref)
		}
		if ga, ok := x["Fn::GetAtt"].([]any); ok && len(ga) == 2 {
			attr := t.standIn(ga[1])
			if strings.HasSuffix(attr, "Port") {
				return "6379"
			}
			return "standin-" + strings.ToLower(t.standIn(ga[0])) + ".example"
		}
		if j, ok := x["Fn::Join"].([]any); ok && len(j) == 2 {
			parts, _ := j[1].([]any)
			s := make([]string, len(parts))
			for i, p := range parts {
				s[i] = t.standIn(p)
			}
			return strings.Join(s, t.standIn(j[0]))
		}
	}
	return "standin"
}

// flatten is every string a value holds, joined: enough to find a literal
// inside a Fn::Join.
func flatten(v any) string {
	var b strings.Builder
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case string:
			b.WriteString(x)
		case []any:
			for _, y := range x {
				walk(y)
			}
		case map[string]any:
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			for _, k := range keys {
				walk(x[k])
			}
		}
	}
	walk(v)
	return b.String()
}

func str(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	return ""
}

func num(v any) float64 {
	switch x := v.(type) {
	case float64:
		return x
	case string:
		f, _ := strconv.ParseFloat(x, 64)
		return f
	}
	return 0
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// Diff lists where a deployment read from templates (got) differs from
// the model it was rendered from (want), setting by setting: the checkers'
// and promoters' environments (with the same stand-ins for what only a
// deploy knows), the writable alarms, the records and their health checks,
// and the loop. Empty when the templates are the model.
func Diff(want, got Deployment) []string {
	const addr, host, arn = "master.x.cache.amazonaws.com:6379", "master.x.cache.amazonaws.com", "arn:aws:secretsmanager:us-east-1:123456789012:secret:x"
	var out []string
	differ := func(what string, w, g any) {
		if !reflect.DeepEqual(w, g) {
			out = append(out, fmt.Sprintf("%s: the templates have %+v, the model %+v", what, g, w))
		}
	}
	for i := range want.Regions {
		w, g := want.Regions[i], got.Regions[i]
		differ(fmt.Sprintf("region %d", i), [3]string{w.Name, w.GroupID, w.Stack}, [3]string{g.Name, g.GroupID, g.Stack})
		pt := Target{Addr: addr, ServerName: host, SecretARN: arn, HeartbeatKeyARN: arn + "-key", DatastoreID: "ldgnf-x", TopicARN: "arn:aws:sns:x"}
		differ(w.Name+" signed heartbeats", w.SignedHeartbeats, g.SignedHeartbeats)
		differ(w.Name+" checker environment", w.CheckerFor(pt).Env(), g.CheckerFor(pt).Env())
		differ(w.Name+" promoter environment", w.PromoterFor(pt).Environment(), g.PromoterFor(pt).Environment())
		differ(w.Name+" writable alarm", w.Writable, g.Writable)
	}
	differ("failover records", want.DNS, got.DNS)
	differ("loop", want.Loop, got.Loop)
	return out
}
