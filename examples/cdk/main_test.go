package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"github.com/redisha/redisha/cdk"
	"github.com/redisha/redisha/internal/deployment"
)

func TestMain(m *testing.M) {
	code := m.Run()
	jsii.Close()
	os.Exit(code)
}

// The example app synthesizes: redisha's constructs in the team's own
// stacks, with their imported VPCs, their zone and their replication group.
// The templates hold no cdk-nag error, are the deployment model field by
// field (what the drill, verify and the operator commands read), lint
// clean where cfn-lint is installed, and the team's own resource is left
// as it is.
func TestExampleAppSynthesizes(t *testing.T) {
	dir := t.TempDir()
	asset := filepath.Join(dir, "asset")
	if err := os.MkdirAll(asset, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(asset, "bootstrap"), []byte("stand-in"), 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "cdk.out")
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(out)})
	d, err := build(app, asset, asset)
	if err != nil {
		t.Fatal(err)
	}
	app.Synth(nil)
	if err := d.WriteModel(out); err != nil {
		t.Fatal(err)
	}

	// No error annotation (cdk-nag's included) on any stack.
	var man struct {
		Artifacts map[string]struct {
			Type     string `json:"type"`
			Metadata map[string][]struct {
				Type string `json:"type"`
				Data any    `json:"data"`
			} `json:"metadata"`
			Properties struct {
				TemplateFile string `json:"templateFile"`
			} `json:"properties"`
		} `json:"artifacts"`
	}
	b, err := os.ReadFile(filepath.Join(out, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &man); err != nil {
		t.Fatal(err)
	}
	var templates []string
	for id, a := range man.Artifacts {
		if a.Type != "aws:cloudformation:stack" {
			continue
		}
		templates = append(templates, filepath.Join(out, a.Properties.TemplateFile))
		for path, entries := range a.Metadata {
			for _, e := range entries {
				if e.Type == "aws:cdk:error" {
					t.Errorf("%s %s: %v", id, path, e.Data)
				}
			}
		}
	}
	if len(templates) != 3 {
		t.Fatalf("%d stacks, want the team's three", len(templates))
	}

	// The templates are the model.
	want, err := deployment.ReadFile(filepath.Join(out, deployment.ModelFile))
	if err != nil {
		t.Fatal(err)
	}
	got, err := deployment.FromTemplates(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, diff := range deployment.Diff(want, got) {
		t.Error(diff)
	}
	if got.Regions[0].GroupID != "payments-east" || got.DNS.ZoneID != "Z0123456789ABCDEFGHIJ" {
		t.Errorf("read back: primary group %s, zone %s", got.Regions[0].GroupID, got.DNS.ZoneID)
	}
	east, _ := os.ReadFile(filepath.Join(out, "PaymentsEast.template.json"))
	for _, want := range []string{`"PaymentEvents`, `"AWS::ElastiCache::GlobalReplicationGroup"`, `"payments-east"`} {
		if !strings.Contains(string(east), want) {
			t.Errorf("PaymentsEast lacks %s", want)
		}
	}
	if strings.Contains(string(east), `"AWS::ElastiCache::ReplicationGroup"`) {
		t.Error("PaymentsEast creates a replication group: the team's own is the primary")
	}

	// The deployment checks make test runs on the standalone app's
	// templates, on these.
	if out, err := exec.Command("go", "run", "../../infra/synthcheck", "-stand-in-assets", "-dir", out).CombinedOutput(); err != nil {
		t.Errorf("synthcheck: %v\n%s", err, out)
	}

	if lint, err := exec.LookPath("cfn-lint"); err == nil {
		out, err := exec.Command(lint, append([]string{"-f", "parseable"}, templates...)...).CombinedOutput()
		for _, line := range strings.Split(string(out), "\n") {
			if strings.Contains(line, ":E") {
				t.Errorf("cfn-lint: %s", line)
			}
		}
		if err != nil && !strings.Contains(string(out), ":W") {
			t.Errorf("cfn-lint: %v\n%s", err, out)
		}
	} else {
		t.Log("cfn-lint is not installed: the templates were not linted here")
	}
}

// A stack in the wrong region is refused before anything is built, naming
// the fix.
func TestWrongRegionIsNamed(t *testing.T) {
	d, err := cdk.NewDeployment(cdk.Props{Account: "123456789012", CheckerAsset: t.TempDir(), PromoterAsset: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(t.TempDir())})
	for _, env := range []*awscdk.Environment{
		{Account: jsii.String("123456789012"), Region: jsii.String("us-west-2")},
		nil, // environment-agnostic
	} {
		stack := awscdk.NewStack(app, jsii.String(fmt.Sprintf("S%p", env)), &awscdk.StackProps{Env: env})
		func() {
			defer func() {
				if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "NewPrimaryRegion belongs in a stack of us-east-1") {
					t.Errorf("env %v: %v", env, r)
				}
			}()
			cdk.NewPrimaryRegion(stack, "Redis", d)
		}()
	}
}

// Props are checked as the standalone app's context is: a typed field and
// Settings may not both set a key, and each problem names its key.
func TestPropsAreChecked(t *testing.T) {
	if _, err := cdk.NewDeployment(cdk.Props{Account: "123456789012", Name: "payments", Settings: map[string]any{"name": "x"}}); err == nil ||
		!strings.Contains(err.Error(), `Settings["name"] is also set by a typed field`) {
		t.Errorf("twice: %v", err)
	}
	if _, err := cdk.NewDeployment(cdk.Props{Account: "123456789012", Name: "payments"}); err == nil ||
		!strings.Contains(err.Error(), `"secondaryReplicationGroupId" = (not set)`) {
		t.Errorf("a second deployment's names: %v", err)
	}
}
